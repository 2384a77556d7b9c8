"""Hot writes and reads, as SQL built once per model and database (the case engine, the exchange).

Building an ORM query costs far more than running it on SQLite (hundreds of microseconds
against tens), and a case writes a handful of rows of the same shapes again and again. So
the statements the engine runs for every case are built here once, from the models' own
metadata (table, columns, quoting and value adaptation of the connection in use), and run
through `cursor`: same rows, same transaction, any database Django supports. Everything
else uses the ORM.

`cursor` is Django's cursor, except on SQLite when nothing watches the statements (no query
log, no execute wrappers): there Django's wrappers (the query's conversion to SQLite's `?`
by a regular expression, at every call, and three layers of checks) cost more than
running one of these statements, so the statement is converted once and run on the
driver's own cursor, with the same transaction check and the same translation of the
driver's errors into Django's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connections, models, router
from django.db.models import Field, Model

_lock = threading.Lock()
_inserts: dict[tuple[str, type[Model]], tuple[str, list[Field[Any, Any]], bool]] = {}
_writers: dict[tuple[str, type[Model]], list[Callable[[Model], Any]]] = {}

# Field classes whose value goes to the database as it is when it has the plain Python type
# (the ORM's own preparation only checks and converts it); exact classes, never subclasses,
# which may encrypt or encode (core.crypto's fields are TextField subclasses).
_TEXT = (models.CharField, models.TextField, models.SlugField, models.EmailField)
_INTEGER = (
    models.AutoField,
    models.BigAutoField,
    models.IntegerField,
    models.BigIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
    models.SmallIntegerField,
)


def _value_writer(field: Field[Any, Any], alias: str) -> Callable[[Any], Any]:
    """How a value of `field` goes to the database on `alias`: what `get_db_prep_save` does,
    without its layers of checks for the values the engine writes thousands of times a second
    (a text, an id, an aware datetime); anything else goes the ORM's way."""
    connection = connections[alias]  # this thread's; only its vendor and settings are read

    def orm(value: Any) -> Any:
        return field.get_db_prep_save(value, connections[alias])

    kind = type(field)
    target = field.target_field if isinstance(field, models.ForeignKey) else None
    if target is not None and type(target) in _INTEGER:
        kind = type(target)
    if kind in _TEXT:
        return lambda value: value if value is None or type(value) is str else orm(value)
    if kind in _INTEGER:
        return lambda value: value if value is None or type(value) is int else orm(value)
    utc = settings.USE_TZ and connection.settings_dict.get("TIME_ZONE") is None
    if kind is models.DateTimeField and connection.vendor == "sqlite" and utc:
        # Django's SQLite adaptation of an aware datetime: naive in UTC, then str()
        def sqlite_datetime(value: Any) -> Any:
            if type(value) is datetime and value.tzinfo is UTC:
                return value.replace(tzinfo=None).isoformat(" ")
            return orm(value)

        return sqlite_datetime
    return orm


def _row_writer(field: Field[Any, Any], alias: str) -> Callable[[Model], Any]:
    """The database value of `field` for a new row: `pre_save` then the value's adaptation."""
    adapt = _value_writer(field, alias)
    plain_pre_save = type(field).pre_save is Field.pre_save or (
        isinstance(field, models.DateField)
        and type(field).pre_save in (models.DateField.pre_save, models.DateTimeField.pre_save)
        and not (field.auto_now or field.auto_now_add)
    )
    if plain_pre_save:
        attname = field.attname
        return lambda obj: adapt(getattr(obj, attname))
    return lambda obj: adapt(field.pre_save(obj, True))


_qmark: dict[str, str] = {}


def _to_qmark(query: str) -> str:
    """Django's SQLite conversion of a "format" style query (`%s`, `%%`), done once."""
    converted = _qmark.get(query)
    if converted is None:
        from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX

        converted = FORMAT_QMARK_REGEX.sub("?", query).replace("%%", "%")
        with _lock:
            if len(_qmark) > 2048:  # statements are few; a runaway caller cannot grow it
                _qmark.clear()
            _qmark[query] = converted
    return converted


class _SqliteCursor:
    """The driver's cursor behind Django's interface for `execute`, `executemany` and the
    fetches: what Django's cursor does for a "format" style query, minus the wrappers."""

    __slots__ = ("_db", "_raw")

    def __init__(self, db: Any, raw: Any) -> None:
        self._db = db
        self._raw = raw

    def execute(self, query: str, params: Sequence[Any] | None = None) -> Any:
        self._db.validate_no_broken_transaction()
        with self._db.wrap_database_errors:
            if params is None:
                return self._raw.execute(query)
            if isinstance(params, Mapping):  # "pyformat" to "named", as Django does
                return self._raw.execute(query % {name: f":{name}" for name in params}, params)
            return self._raw.execute(_to_qmark(query), params)

    def executemany(self, query: str, param_list: Sequence[Sequence[Any]]) -> Any:
        self._db.validate_no_broken_transaction()
        with self._db.wrap_database_errors:
            return self._raw.executemany(_to_qmark(query), param_list)

    def fetchone(self) -> Any:
        with self._db.wrap_database_errors:
            return self._raw.fetchone()

    def fetchall(self) -> list[Any]:
        with self._db.wrap_database_errors:
            return self._raw.fetchall()

    def __getattr__(self, name: str) -> Any:  # rowcount, lastrowid, description
        return getattr(self._raw, name)


@contextmanager
def cursor(connection: Any) -> Iterator[Any]:
    """A cursor for "format" style statements (`%s`) on `connection` (see the module's
    docstring): Django's own unless the fast path on SQLite applies."""
    if connection.vendor != "sqlite" or connection.queries_logged or connection.execute_wrappers:
        with connection.cursor() as django_cursor:
            yield django_cursor
        return
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = connection.connection.cursor()
    try:
        yield _SqliteCursor(connection, raw)
    finally:
        raw.close()


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
    writers = [_row_writer(f, alias) for f in fields]
    with _lock:
        _inserts[key] = built
        _writers[key] = writers
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
    sql, _, returning = _insert_sql(alias, model)
    writers = _writers[(alias, model)]
    connection = connections[alias]
    pk = model._meta.pk
    assert pk is not None
    with cursor(connection) as cur:
        if len(rows) == 1:
            obj = rows[0]
            cur.execute(sql, [write(obj) for write in writers])
            if returning:
                obj.pk = cur.fetchone()[0]
            else:
                obj.pk = connection.ops.last_insert_id(cur, model._meta.db_table, str(pk.column))
        else:
            many = bool(connection.features.can_return_rows_from_bulk_insert) and returning
            head, _, tail = sql.partition(" VALUES ")
            one = tail.split(" RETURNING ")[0]
            suffix = (" RETURNING " + tail.split(" RETURNING ")[1]) if many else ""
            for start in range(0, len(rows), MAX_ROWS):
                chunk = rows[start : start + MAX_ROWS]
                statement = f"{head} VALUES {', '.join([one] * len(chunk))}{suffix}"
                params = [write(obj) for obj in chunk for write in writers]
                cur.execute(statement, params)
                if many:
                    for obj, row in zip(chunk, cur.fetchall(), strict=True):
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
    params = [_writer(alias, model, n)(v) for n, v in values.items()]
    params += [_field(meta, n).get_db_prep_value(v, connection) for n, v in where.items()]
    with cursor(connection) as cur:
        cur.execute(sql, params)
        return int(cur.rowcount)


_value_writers: dict[tuple[str, type[Model], str], Callable[[Any], Any]] = {}


def value_adapter(model: type[Model], name: str, alias: str | None = None) -> Callable[[Any], Any]:
    """How a value of the field `name` goes to the database (as `get_db_prep_save`, built
    once): for code that writes rows of its own statements (core.audit)."""
    return _writer(alias or _alias(model), model, name)


def _writer(alias: str, model: type[Model], name: str) -> Callable[[Any], Any]:
    found = _value_writers.get((alias, model, name))
    if found is None:
        found = _value_writer(_field(model._meta, name), alias)
        with _lock:
            _value_writers[(alias, model, name)] = found
    return found


def _field(meta: Any, name: str) -> Any:
    return meta.pk if name == "pk" else meta.get_field(name)


def select_one(model: type[Model], sql: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
    """Run a read of one row (`sql` with `{table}` and `%s` placeholders); raw DB values."""
    connection = connections[router.db_for_read(model) or "default"]
    with cursor(connection) as cur:
        cur.execute(sql.format(table=connection.ops.quote_name(model._meta.db_table)), params)
        row = cur.fetchone()
    return tuple(row) if row is not None else None


def datetime_param(model: type[Model], value: Any) -> Any:
    """A datetime as the database takes it in a hand-written query."""
    connection = connections[router.db_for_read(model) or "default"]
    return connection.ops.adapt_datetimefield_value(value)
