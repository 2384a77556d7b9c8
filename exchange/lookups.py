"""The reads of every mediated request, as SQL built once per database.

A request reads the service, the person, the agreement in force and the consent, each a
single indexed row; building those queries with the ORM costs several times more than
running them (see core.sql), and the exchange answers thousands a second. No row is
cached: each call reads the current rows, so a withdrawn consent, a retired service or an
expired agreement counts from the very next request. Only what is built from a row (the
service's model, an attribute list) is kept, keyed by the row's whole content, so a changed
row is built anew. Only the happy path is here; when a
lookup finds nothing, the caller asks the ORM selectors for the precise reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.db import connections, router
from django.db.models import Model
from django.db.models.base import DEFERRED

from consent.models import ConsentRecord, DataAgreement, DataAgreementVersion, Purpose
from core import sql as core_sql
from exchange.models import DataService
from identity.models import Agency
from registry.models import Person, SourceRecord

_built: dict[tuple[str, str], str] = {}


def _sql(name: str, model: type[Model], template: str, **tables: type[Model]) -> tuple[Any, str]:
    alias = router.db_for_read(model) or "default"
    connection = connections[alias]
    key = (alias, name)
    sql = _built.get(key)
    if sql is None:
        quote = connection.ops.quote_name
        names = {k: quote(m._meta.db_table) for k, m in tables.items()}
        sql = template.format(**names)
        _built[key] = sql
    return connection, sql


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


# The attribute lists of agreement versions, parsed once per text: a handful of versions
# are in force and every request reads one or two of them. Shared: nothing may change them.
_attribute_lists: dict[Any, list[str]] = {}


def _attributes(value: Any) -> list[str]:
    if not isinstance(value, str):
        return list(_json(value) or [])
    found = _attribute_lists.get(value)
    if found is None:
        found = list(json.loads(value) or [])
        if len(_attribute_lists) >= 1024:
            _attribute_lists.clear()
        _attribute_lists[value] = found
    return found


def _moment(connection: Any, now: datetime) -> Any:
    """`now` as the database compares it with a datetime column (core.sql's adaptation)."""
    return core_sql.value_adapter(DataAgreementVersion, "valid_from", connection.alias)(now)


def _one(name: str, model: type[Model], template: str, params: list[Any], **tables: Any) -> Any:
    connection, sql = _sql(name, model, template, **tables)
    with core_sql.cursor(connection) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


_SERVICE = """
SELECT s.id, s.provider_id, s.code, s.attributes, s.input_schema, s.kind, s.resolver,
       s.endpoint_url, s.timeout_seconds, s.max_retries, s.updated_at
FROM {service} s JOIN {agency} a ON a.id = s.provider_id
WHERE a.code = %s AND s.code = %s AND s.active
"""


_SERVICE_COLUMNS = (
    "id",
    "provider_id",
    "code",
    "attributes",
    "input_schema",
    "kind",
    "resolver",
    "endpoint_url",
    "timeout_seconds",
    "max_retries",
    "updated_at",
)


def service_find(provider_code: str, code: str) -> DataService | None:
    row = _one(
        "service",
        DataService,
        _SERVICE,
        [provider_code, code],
        service=DataService,
        agency=Agency,
    )
    if row is None:
        return None
    return _service_of(row)


# The service as last read, by its row: every request reads the row afresh, but building
# the model from it (two JSON documents, a time, the instance) is done once per version of
# the row. The instances are shared between requests: nothing may change them.
_services: dict[tuple[Any, ...], DataService] = {}


def _service_of(row: Any) -> DataService:
    key = tuple(row)
    try:
        service = _services.get(key)
    except TypeError:  # JSON columns read as lists and dicts (PostgreSQL): no key
        return _service_built(key)
    if service is None:
        service = _service_built(key)
        if len(_services) >= 256:
            _services.clear()
        _services[key] = service
    return service


def _service_built(row: tuple[Any, ...]) -> DataService:
    found = dict(zip(_SERVICE_COLUMNS, row, strict=True))
    found["attributes"] = _json(found["attributes"])
    found["input_schema"] = _json(found["input_schema"])
    found["updated_at"] = _aware(found["updated_at"])
    found["active"] = True
    fields = DataService._meta.concrete_fields
    # positional, as the ORM builds the rows it reads (keyword __init__ costs several times
    # more); the columns not read are deferred
    return DataService.from_db(
        router.db_for_read(DataService),
        [f.attname for f in fields],
        [found.get(f.attname, DEFERRED) for f in fields],
    )


def _aware(value: Any) -> Any:
    """A datetime read by hand: SQLite gives UTC text (or a naive datetime) without a zone."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


_PERSON = "SELECT id, merged_into_id FROM {person} WHERE id = %s"


def person_live(person_id: str) -> str | None:
    """The person's id, or the id of the person they were merged into; None if unknown."""
    seen: set[str] = set()
    current = person_id
    while current not in seen:
        seen.add(current)
        row = _one("person", Person, _PERSON, [current], person=Person)
        if row is None:
            return None
        if not row[1]:
            return str(row[0])
        current = str(row[1])
    return current


@dataclass(frozen=True)
class Terms:
    """The agreement version in force for a request."""

    version_id: Any
    agreement_id: Any
    agreement_code: str
    version: int
    purpose_id: int
    attributes: list[str]
    lawful_basis: str
    # the person's consent record for the agreement, if any (read in the same query)
    consent_state: str | None = None
    consent_version_id: Any = None
    consent_purpose_id: int | None = None
    consent_attributes: list[str] | None = None

    def consent_covers(self) -> bool:
        """The rule of `consent.selectors.consent_covers`, on the same rows."""
        if self.consent_state != "given":
            return False
        if self.consent_version_id == self.version_id:
            return True
        return self.consent_purpose_id == self.purpose_id and set(self.attributes) <= set(
            self.consent_attributes or ()
        )


_TERMS = """
SELECT v.id, v.agreement_id, g.code, v.version, v.purpose_id, v.attributes, v.lawful_basis,
       v.valid_until, c.state, c.agreement_version_id, cv.purpose_id, cv.attributes
FROM {version} v
JOIN {agreement} g ON g.id = v.agreement_id
JOIN {purpose} p ON p.id = v.purpose_id
LEFT JOIN {consent} c ON c.agreement_id = g.id AND c.person_id = %s
LEFT JOIN {version} cv ON cv.id = c.agreement_version_id
WHERE g.provider_id = %s AND g.consumer_id = %s AND v.valid_from <= %s
  AND v.version = (SELECT MAX(w.version) FROM {version} w
                   WHERE w.agreement_id = v.agreement_id AND w.valid_from <= %s)
  AND p.code = %s
ORDER BY g.code
"""


def terms_in_force(
    *, provider_id: int, consumer_id: int, purpose: str, person_id: str, now: datetime
) -> Terms | None:
    """The latest begun version of an agreement between the two for `purpose`, if in
    force, with the person's consent to it."""
    connection, sql = _sql(
        "terms",
        DataAgreementVersion,
        _TERMS,
        version=DataAgreementVersion,
        agreement=DataAgreement,
        purpose=Purpose,
        consent=ConsentRecord,
    )
    moment = _moment(connection, now)
    with core_sql.cursor(connection) as cursor:
        cursor.execute(sql, [person_id, provider_id, consumer_id, moment, moment, purpose])
        rows = cursor.fetchall()
    return _terms_of(rows, now)


def _terms_of(rows: list[Any], now: datetime) -> Terms | None:
    """The first row (by agreement code) whose version has not ended, as `Terms`."""
    for row in rows:
        if row[0] is None:
            continue  # an agreement between the two with no begun version for the purpose
        until = _aware(row[7])
        if until is None or now < until:
            return Terms(
                row[0],
                row[1],
                row[2],
                row[3],
                row[4],
                _attributes(row[5]),
                row[6],
                consent_state=row[8],
                consent_version_id=row[9],
                consent_purpose_id=row[10],
                consent_attributes=_attributes(row[11]) if row[11] is not None else None,
            )
    return None


_CONTEXT = """
SELECT s.id, s.provider_id, s.code, s.attributes, s.input_schema, s.kind, s.resolver,
       s.endpoint_url, s.timeout_seconds, s.max_retries, s.updated_at,
       p.id, p.merged_into_id,
       v.id, v.agreement_id, g.code, v.version, v.purpose_id, v.attributes, v.lawful_basis,
       v.valid_until, c.state, c.agreement_version_id, cv.purpose_id, cv.attributes
FROM {service} s
JOIN {agency} a ON a.id = s.provider_id
LEFT JOIN {person} p ON p.id = %s
LEFT JOIN {agreement} g ON g.provider_id = s.provider_id AND g.consumer_id = %s
LEFT JOIN {version} v ON v.agreement_id = g.id AND v.valid_from <= %s
  AND v.version = (SELECT MAX(w.version) FROM {version} w
                   WHERE w.agreement_id = g.id AND w.valid_from <= %s)
  AND v.purpose_id = (SELECT q.id FROM {purpose} q WHERE q.code = %s)
LEFT JOIN {consent} c ON c.agreement_id = g.id AND c.person_id = p.id
LEFT JOIN {version} cv ON cv.id = c.agreement_version_id
WHERE a.code = %s AND s.code = %s AND s.active
ORDER BY g.code
"""


@dataclass(frozen=True)
class Context:
    """What a request needs to know, read in one statement (`request_context`)."""

    service: DataService
    person: str | None  # the person's id if they are in the index and not merged
    merged: bool  # merged into another: resolve with `person_live`, then `terms_in_force`
    terms: Terms | None  # for `person` (None when the person is unknown or merged)


def request_context(
    *,
    provider_code: str,
    service_code: str,
    person_id: str,
    consumer_id: int,
    purpose: str,
    now: datetime,
) -> Context | None:
    """The service, the person and the terms in force with the person's consent: the
    reads of `service_find`, `person_live` and `terms_in_force` in one statement (the
    common case; a merged person is resolved by the caller). None: no such service."""
    connection, sql = _sql(
        "context",
        DataService,
        _CONTEXT,
        service=DataService,
        agency=Agency,
        person=Person,
        agreement=DataAgreement,
        version=DataAgreementVersion,
        purpose=Purpose,
        consent=ConsentRecord,
    )
    moment = _moment(connection, now)
    with core_sql.cursor(connection) as cursor:
        cursor.execute(
            sql, [person_id, consumer_id, moment, moment, purpose, provider_code, service_code]
        )
        rows = cursor.fetchall()
    if not rows:
        return None
    first = rows[0]
    service = _service_of(first[:11])
    if first[11] is None:
        return Context(service, None, False, None)
    if first[12]:
        return Context(service, None, True, None)
    return Context(service, str(first[11]), False, _terms_of([r[13:] for r in rows], now))


_RECORD = """
SELECT given_name, middle_name, family_name, date_of_birth, sex, address_line, locality,
       postcode, phone, email, extra
FROM {record}
WHERE person_id = %s AND agency_id = %s
ORDER BY source_updated_at DESC, updated_at DESC
LIMIT 1
"""

RECORD_COLUMNS = (
    "given_name",
    "middle_name",
    "family_name",
    "date_of_birth",
    "sex",
    "address_line",
    "locality",
    "postcode",
    "phone",
    "email",
)


def latest_record_values(*, person_id: str, agency_id: int) -> dict[str, Any] | None:
    """The agency's latest record of the person: common fields and its extra attributes."""
    row = _one("record", SourceRecord, _RECORD, [person_id, agency_id], record=SourceRecord)
    if row is None:
        return None
    values: dict[str, Any] = {}
    for name, value in zip(RECORD_COLUMNS, row[:-1], strict=True):
        values[name] = value.isoformat() if isinstance(value, date) else value
    for key, value in (_json(row[-1]) or {}).items():
        values.setdefault(key, value)
    return values
