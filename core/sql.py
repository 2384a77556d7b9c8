"""Hot writes and reads, as SQL built once per model and database (the case engine, the exchange).

Building an ORM query costs far more than running it on SQLite (hundreds of microseconds
against tens), and a case writes a handful of rows of the same shapes again and again. So
the statements the engine runs for every case are built here once, from the models' own
metadata (table, columns, quoting and value adaptation of the connection in use), and run
through Django's cursor: same rows, same transaction, any database Django supports.
Everything else uses the ORM.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model

_lock = threading.Lock()
_inserts: dict[tuple[str, type[Model]], tuple[str, list[Field[Any, Any]], bool]] = {}
_updates: dict[tuple[str, type[Model], tuple[str, ...], tuple[str, ...]], str] = {}


def _alias(model: type[Model]) -> str:
    return router.db_for_write(model) or "default"


def _insert_sql(alias: str, model: type[Model]) -> tuple[str, list[Field[Any, Any]], bool]:
    key = (alias, model)
    found = _inserts.get(key)
    if found is not None:
        return found
    connection = connections[alias]
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key or not f.auto_created]
    fields = [f for f in fields if f is not meta.pk or not getattr(f, "db_returning", False)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in fields)
    values = ", ".join(["%s"] * len(fields))
    returning = bool(connection.features.can_return_columns_from_insert)
    # identifiers from the model metadata, quoted; values are parameters
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({values})"  # noqa: S608
    if returning:
        sql += f" RETURNING {quote(str(meta.pk.column))}"
    built = (sql, fields, returning)
    with _lock:
        _inserts[key] = built
    return built


MAX_ROWS = 100  # rows per multi-row INSERT


def insert(objs: Iterable[Model]) -> None:
    """Insert new model instances (all of one model), setting their primary keys.

    Field defaults are those the instances were created with; `pre_save` runs as in
    `Model.save` (auto_now and the like). Several rows go in one statement; their keys are
    set where the database returns them from a multi-row insert (SQLite, PostgreSQL).
    """
    rows = list(objs)
    if not rows:
        return
    model = type(rows[0])
    alias = _alias(model)
    sql, fields, returning = _insert_sql(alias, model)
    connection = connections[alias]
    pk = model._meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        if len(rows) == 1:
            obj = rows[0]
            cursor.execute(
                sql, [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
            )
            if returning:
                obj.pk = cursor.fetchone()[0]
            else:
                obj.pk = connection.ops.last_insert_id(cursor, model._meta.db_table, str(pk.column))
        else:
            many = bool(connection.features.can_return_rows_from_bulk_insert) and returning
            head, _, tail = sql.partition(" VALUES ")
            one = tail.split(" RETURNING ")[0]
            suffix = (" RETURNING " + tail.split(" RETURNING ")[1]) if many else ""
            for start in range(0, len(rows), MAX_ROWS):
                chunk = rows[start : start + MAX_ROWS]
                statement = f"{head} VALUES {', '.join([one] * len(chunk))}{suffix}"
                params = [
                    f.get_db_prep_save(f.pre_save(obj, True), connection)
                    for obj in chunk
                    for f in fields
                ]
                cursor.execute(statement, params)
                if many:
                    for obj, row in zip(chunk, cursor.fetchall(), strict=True):
                        obj.pk = row[0]
    for obj in rows:
        obj._state.adding = False
        obj._state.db = alias


def update(model: type[Model], *, where: dict[str, Any], values: dict[str, Any]) -> int:
    """`model.objects.filter(**where).update(**values)` for plain field names; the count."""
    alias = _alias(model)
    connection = connections[alias]
    meta = model._meta
    key = (alias, model, tuple(values), tuple(where))
    sql = _updates.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        sets = ", ".join(f"{quote(_field(meta, n).column)} = %s" for n in values)
        conds = " AND ".join(f"{quote(_field(meta, n).column)} = %s" for n in where)
        sql = f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {conds}"  # noqa: S608
        with _lock:
            _updates[key] = sql
    params = [_field(meta, n).get_db_prep_save(v, connection) for n, v in values.items()]
    params += [_field(meta, n).get_db_prep_value(v, connection) for n, v in where.items()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)


def _field(meta: Any, name: str) -> Any:
    return meta.pk if name == "pk" else meta.get_field(name)


def select_one(model: type[Model], sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """Run a read of one row (`sql` with `{table}` and `%s` placeholders); raw DB values."""
    connection = connections[router.db_for_read(model) or "default"]
    with connection.cursor() as cursor:
        cursor.execute(sql.format(table=connection.ops.quote_name(model._meta.db_table)), params)
        row = cursor.fetchone()
    return tuple(row) if row is not None else None


def datetime_param(model: type[Model], value: Any) -> Any:
    """A datetime as the database takes it in a hand-written query."""
    connection = connections[router.db_for_read(model) or "default"]
    return connection.ops.adapt_datetimefield_value(value)
