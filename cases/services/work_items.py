"""Work items: claim, release, reassign (supervisors) and complete with a form.

A caseworker works the items of their agency's queues; an item of a supervisor queue needs
a supervisor. Completing puts the form data into the workflow and the case goes on; an item
completed already (or by someone else meanwhile) is a conflict, never done twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from cases import forms
from cases.choices import QueueRole, WorkItemStatus
from cases.compiled import compiled
from cases.errors import CaseDataInvalid, WorkItemConflict
from cases.models import Case, WorkItem
from cases.services import engine
from core import audit
from core.errors import PermissionDenied, ValidationFailed
from identity import policy
from identity.choices import Role
from identity.models import User

ACTIVE = (WorkItemStatus.OPEN, WorkItemStatus.CLAIMED)


def _may_work(user: User, item: WorkItem) -> bool:
    if not policy.can(user, "work_item.work", item):
        return False
    if item.role == QueueRole.SUPERVISOR:
        return policy.has_role(user, Role.SUPERVISOR, item.agency_id)
    return True


def _may_be_given(user: User, item: WorkItem) -> bool:
    """Whether the item may be given to `user`: their roles, not their session (a person
    being given work is not signed in at the time; they pass MFA when they work it)."""
    if item.role == QueueRole.SUPERVISOR:
        return policy.has_role(user, Role.SUPERVISOR, item.agency_id)
    return any(policy.has_role(user, r, item.agency_id) for r in (Role.CASEWORKER, Role.SUPERVISOR))


def _authorize(actor: User, item: WorkItem) -> None:
    policy.authorize(actor, "work_item.work", item)
    if not _may_work(actor, item):
        raise PermissionDenied(
            f"Items of the {item.queue!r} queue need the {item.role} role.",
            action="work_item.work",
        )


def _audit(actor: User, action: str, item: WorkItem, **data: Any) -> None:
    audit.record(
        actor=actor,
        action=action,
        target=item,
        agency=item.agency.code,
        data={"case": item.case.reference, "queue": item.queue, **data},
    )


def _conflict(item: WorkItem) -> WorkItemConflict:
    item.refresh_from_db()
    if item.status == WorkItemStatus.COMPLETED:
        return WorkItemConflict("The work item has been completed already.")
    if item.status == WorkItemStatus.CANCELLED:
        return WorkItemConflict("The work item was cancelled (the process moved on).")
    return WorkItemConflict("Someone else has claimed the work item.")


def work_item_claim(*, item: WorkItem, actor: User) -> WorkItem:
    _authorize(actor, item)
    now = timezone.now()
    with transaction.atomic():
        claimed = WorkItem.objects.filter(
            pk=item.pk, status=WorkItemStatus.OPEN, assignee__isnull=True
        ).update(status=WorkItemStatus.CLAIMED, assignee=actor, claimed_at=now)
        if not claimed:
            raise _conflict(item)
        item.status, item.assignee, item.claimed_at = WorkItemStatus.CLAIMED, actor, now
        _audit(actor, "work_item.claim", item)
    return item


def work_item_release(*, item: WorkItem, actor: User) -> WorkItem:
    """Give an item back to its queue: its assignee, or a supervisor."""
    _authorize(actor, item)
    if item.assignee_id != actor.pk and not policy.can(actor, "work_item.assign", item):
        raise PermissionDenied("Only the assignee or a supervisor releases an item.")
    with transaction.atomic():
        released = WorkItem.objects.filter(
            pk=item.pk, status=WorkItemStatus.CLAIMED, assignee_id=item.assignee_id
        ).update(status=WorkItemStatus.OPEN, assignee=None, claimed_at=None)
        if not released:
            raise _conflict(item)
        item.status, item.assignee, item.claimed_at = WorkItemStatus.OPEN, None, None
        _audit(actor, "work_item.release", item)
    return item


def work_item_reassign(*, item: WorkItem, assignee: User, actor: User) -> WorkItem:
    """A supervisor gives an item to someone who may work it."""
    policy.authorize(actor, "work_item.assign", item)
    if not _may_be_given(assignee, item):
        raise ValidationFailed(
            f"{assignee.username} may not work items of the {item.queue!r} queue.",
            errors={"assignee": [f"needs the {item.role} role in this agency"]},
        )
    now = timezone.now()
    with transaction.atomic():
        moved = WorkItem.objects.filter(pk=item.pk, status__in=ACTIVE).update(
            status=WorkItemStatus.CLAIMED, assignee=assignee, claimed_at=now
        )
        if not moved:
            raise _conflict(item)
        previous = item.assignee.username if item.assignee else None
        item.status, item.assignee, item.claimed_at = WorkItemStatus.CLAIMED, assignee, now
        _audit(actor, "work_item.reassign", item, to=assignee.username, previous=previous)
    return item


def work_item_complete(*, item: WorkItem, data: Mapping[str, Any], actor: User) -> Case:
    """Complete the user task with `data` (checked against its form) and run the case on."""
    _authorize(actor, item)
    if item.status not in ACTIVE:
        raise _conflict(item)
    if item.assignee_id is not None and item.assignee_id != actor.pk:
        raise WorkItemConflict("Someone else has claimed the work item.")
    case = Case.objects.select_related("service_version", "agency").get(pk=item.case_id)
    comp = compiled(case.service_version)
    if not isinstance(data, Mapping):
        raise CaseDataInvalid(errors={"(form)": ["The form data must be a JSON object."]})
    check = comp.task_forms.get(item.form_key) if item.form_key else None
    errors = forms.data_errors(check, dict(data)) if check is not None else {}
    if errors:
        raise CaseDataInvalid(f"{len(errors)} field(s) of the form are not valid.", errors=errors)
    now = timezone.now()

    def mark_completed() -> None:
        done = WorkItem.objects.filter(pk=item.pk, status__in=ACTIVE).update(
            status=WorkItemStatus.COMPLETED,
            assignee=actor,
            completed_at=now,
            completed_by=actor,
            data=dict(data),
        )
        if not done:
            raise _conflict(item)
        _audit(actor, "work_item.complete", item, element=item.element_id)

    result = engine.case_user_task_complete(
        case=case,
        task_id=item.task_id,
        data=data,
        actor=actor,
        waiting_since=item.created_at,
        on_complete=mark_completed,
    )
    item.refresh_from_db()
    return result
