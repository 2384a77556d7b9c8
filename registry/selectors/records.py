"""Reads of agency source records. Each read of a person's data is authorised and audited."""

from django.db.models import QuerySet

from core import audit
from core.errors import NotFound
from core.fields import lookup_value
from identity import policy
from identity.models import Agency, User
from registry.models import SourceRecord


def source_record_subject(record: SourceRecord) -> str:
    """The audit trail's reference to the person a record describes.

    The master person id once the index has linked the record; until then the record
    itself stands for the person.
    """
    if record.person_id:
        return str(record.person_id)
    return f"source:{record.agency_id}:{record.agency_record_id}"


def _audit_reads(*, viewer: User, records: list[SourceRecord], purpose: str) -> None:
    for record in records:
        audit.record(
            actor=viewer,
            action="source_record.read",
            subject_person=source_record_subject(record),
            target=record,
            purpose=purpose,
        )


def source_record_search(
    *,
    viewer: User,
    agency: Agency,
    purpose: str,
    family_name: str | None = None,
    postcode: str | None = None,
    national_id: str | None = None,
) -> QuerySet[SourceRecord]:
    """An agency's records matching the filters; reading a page of it is audited per record."""
    policy.authorize(viewer, "source_record.view", agency)
    qs = SourceRecord.objects.filter(agency=agency).select_related("agency")
    if family_name:
        qs = qs.filter(family_name__iexact=family_name.strip())
    if postcode:
        qs = qs.filter(postcode__iexact=postcode.strip())
    if national_id:
        qs = qs.filter(national_id_index=lookup_value(SourceRecord, "national_id", national_id))
    return qs.order_by("agency_record_id")


def source_records_read(
    *, viewer: User, records: list[SourceRecord], purpose: str
) -> list[SourceRecord]:
    """Mark a page of records as read by the viewer (call once the page is chosen)."""
    _audit_reads(viewer=viewer, records=records, purpose=purpose)
    return records


def source_record_get(*, viewer: User, record_id: int, purpose: str) -> SourceRecord:
    record = SourceRecord.objects.select_related("agency").filter(pk=record_id).first()
    if record is None:
        raise NotFound(f"No source record {record_id}.")
    if not policy.can(viewer, "source_record.view", record):
        policy.authorize(viewer, "source_record.view", policy.ANY_OBJECT)
        # Another agency's record answers like a missing one, so ids cannot be probed.
        raise NotFound(f"No source record {record_id}.")
    _audit_reads(viewer=viewer, records=[record], purpose=purpose)
    return record
