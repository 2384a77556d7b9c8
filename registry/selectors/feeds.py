"""Reads of agency feeds: batches and their progress, rejected rows, the active mapping.

Batches hold counts, not personal data: data stewards, caseworkers and supervisors of the
agency see them (source_record.view). Rejected rows hold the row as sent, so only the
agency's data stewards read them (source_record.manage), and each read is audited.
"""

from typing import Any
from uuid import UUID

from django.db.models import QuerySet

from core import audit
from core.errors import NotFound
from identity import policy
from identity.models import Agency, User
from registry.mapping import FeedSpec
from registry.models import FeedMapping, IngestBatch, RejectedRow
from registry.services import feeds


def _batch_not_found(batch_id: Any) -> NotFound:
    return NotFound(f"No ingest batch {batch_id}.")


def ingest_batch_list(*, viewer: User, agency: Agency) -> QuerySet[IngestBatch]:
    policy.authorize(viewer, "source_record.view", agency)
    return IngestBatch.objects.filter(agency=agency).select_related("agency", "mapping")


def ingest_batch_get(*, viewer: User, batch_id: UUID | str) -> IngestBatch:
    """A batch of an agency the viewer may see; another agency's answers like a missing one."""
    try:
        key = UUID(str(batch_id))
    except ValueError:
        raise _batch_not_found(batch_id) from None
    batch = (
        IngestBatch.objects.select_related("agency", "mapping", "created_by").filter(pk=key).first()
    )
    if batch is None or not policy.can(viewer, "source_record.view", batch):
        policy.authorize(viewer, "source_record.view", policy.ANY_OBJECT)
        raise _batch_not_found(batch_id)
    return batch


def rejected_row_list(
    *, viewer: User, batch: IngestBatch, status: str | None = None
) -> QuerySet[RejectedRow]:
    """A batch's rejected rows (unread: call `rejected_rows_read` with the page shown)."""
    policy.authorize(viewer, "source_record.manage", batch.agency)
    qs = RejectedRow.objects.filter(batch=batch).select_related("agency")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("row_number")


def rejected_row_list_for_agency(
    *, viewer: User, agency: Agency, status: str | None = "open"
) -> QuerySet[RejectedRow]:
    policy.authorize(viewer, "source_record.manage", agency)
    qs = RejectedRow.objects.filter(agency=agency).select_related("agency", "batch")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "row_number")


def rejected_rows_read(*, viewer: User, batch: IngestBatch, rows: list[RejectedRow]) -> None:
    """Record that the viewer saw these rejected rows (one entry per page, not per row)."""
    if rows:
        audit.record(
            actor=viewer,
            action="registry.rejected_rows.read",
            target=batch,
            agency=batch.agency.code,
            data={"rows": [r.row_number for r in rows]},
        )


def rejected_row_get(*, viewer: User, row_id: int) -> RejectedRow:
    row = RejectedRow.objects.select_related("agency", "batch").filter(pk=row_id).first()
    if row is None or not policy.can(viewer, "source_record.manage", row):
        policy.authorize(viewer, "source_record.manage", policy.ANY_OBJECT)
        raise NotFound(f"No rejected row {row_id}.")
    return row


def _may_see_mapping(viewer: User, agency: Agency) -> None:
    if policy.can(viewer, "feed_mapping.manage", agency):
        return
    policy.authorize(viewer, "source_record.view", agency)


def feed_mapping_effective(
    *, viewer: User, agency: Agency
) -> tuple[FeedMapping | None, FeedSpec, str]:
    """The mapping loads of the agency use, with its text: saved, shipped, or the default."""
    _may_see_mapping(viewer, agency)
    mapping, spec = feeds.feed_spec_for(agency=agency)
    if mapping is not None:
        return mapping, spec, mapping.source_text
    builtin = feeds.feed_mapping_builtin_text(agency=agency)
    from registry.mapping import spec_text

    return None, spec, builtin or spec_text(spec)


def feed_mapping_versions(*, viewer: User, agency: Agency) -> QuerySet[FeedMapping]:
    _may_see_mapping(viewer, agency)
    return FeedMapping.objects.filter(agency=agency).select_related("created_by")
