"""The citizen's cases as they read them: status in words, what happens next, the timeline,
the decision letter with its reasons, the messages sent, the conversation with the
caseworker, where a change was told, and (once completed) the satisfaction question.

Every case is found through `cases.selectors` (`case_list` narrows to the citizen's own,
`case_get` authorises and audits the read); the rest of a case (its event log, work items,
decisions, messages) is read only after that, for that case.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db.models import Case as CaseWhen
from django.db.models import Exists, IntegerField, OuterRef, Subquery, Value, When
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from cases import selectors as case_selectors
from cases.choices import CaseStatus, WorkItemStatus
from cases.compiled import compiled
from cases.explain import RuleFired, rules_fired, value_text
from cases.models import Case, CaseDecision, CaseEvent, CaseMessage, Notification, WorkItem
from cases.services import messages as case_messages
from exchange.events.selectors import event_history_for_person
from exchange.models.events import Delivery, DeliveryStatus, Event, EventType
from identity import policy
from identity.models import User
from portal.models import SatisfactionResponse
from registry.services.citizens import citizen_person

OPEN_ITEMS = (WorkItemStatus.OPEN, WorkItemStatus.CLAIMED)


# --- status in words -----------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    label: str | Promise
    colour: str  # a govuk-tag modifier; the label always says it in words too
    next_step: str | Promise


def case_status(
    case: Case, *, open_task: str | None = None, open_task_due: datetime | None = None
) -> Status:
    """What the citizen is told about where their case is and what happens next."""
    if case.status == CaseStatus.COMPLETED:
        return Status(_("Completed"), "green", _("Nothing: your case is finished."))
    if case.status == CaseStatus.NEEDS_ATTENTION:
        return Status(
            _("Delayed"),
            "orange",
            _(
                "A problem on our side stopped your case. Our staff have been told; "
                "you do not need to do anything."
            ),
        )
    if open_task:
        due = date_format(localtime(open_task_due), "DATE_FORMAT") if open_task_due else ""
        text = (
            _("A caseworker at %(agency)s: “%(task)s”, due by %(due)s.")
            if due
            else _("A caseworker at %(agency)s: “%(task)s”.")
        )
        return Status(
            _("With a caseworker"),
            "blue",
            text % {"agency": case.agency.name, "task": open_task, "due": due},
        )
    if case.status == CaseStatus.WAITING:
        return Status(
            _("Waiting"), "grey", _("Your case continues by itself after a waiting period.")
        )
    return Status(_("In progress"), "light-blue", _("We are working on it automatically."))


# --- the dashboard -------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSummary:
    case: Case
    status: Status
    latest_step: str
    latest_at: datetime | None
    new_message: bool = False


def dashboard_cases(*, viewer: User) -> list[CaseSummary]:
    """Every case of the viewer at every agency: unfinished ones first, newest first."""
    events = CaseEvent.objects.filter(case=OuterRef("pk")).order_by("-ended_at", "-id")
    items = WorkItem.objects.filter(case=OuterRef("pk"), status__in=OPEN_ITEMS).order_by(
        "due_at", "id"
    )
    unread = CaseMessage.objects.filter(
        case=OuterRef("pk"), from_citizen=False, read_at__isnull=True
    )
    cases = (
        case_selectors.case_list(viewer=viewer)
        .annotate(
            latest_step=Subquery(events.values("activity")[:1]),
            latest_at=Subquery(events.values("ended_at")[:1]),
            open_task=Subquery(items.values("name")[:1]),
            open_task_due=Subquery(items.values("due_at")[:1]),
            new_message=Exists(unread),
            finished=CaseWhen(
                When(status=CaseStatus.COMPLETED, then=Value(1)),
                default=Value(0),
                output_field=IntegerField(),
            ),
        )
        .order_by("finished", "-submitted_at", "-id")
    )
    return [
        CaseSummary(
            case=case,
            status=case_status(
                case,
                open_task=case.open_task,
                open_task_due=case.open_task_due,
            ),
            latest_step=case.latest_step or "",
            latest_at=case.latest_at,
            new_message=case.new_message,
        )
        for case in cases
    ]


# --- one case ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    at: datetime
    title: str | Promise
    detail: str = ""


@dataclass(frozen=True)
class OverrideView:
    outcome: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class DecisionLetter:
    decision: CaseDecision
    automated_outcome: str
    outcome: str  # the outcome in force: the last override's, else the automated one
    rules: list[RuleFired]
    overrides: list[OverrideView]


@dataclass(frozen=True)
class DeliveryView:
    agency: str
    status: DeliveryStatus
    status_label: str
    at: datetime | None


@dataclass(frozen=True)
class AddressEvent:
    event: Event
    data: dict[str, Any]
    deliveries: list[DeliveryView]

    @property
    def reached(self) -> list[DeliveryView]:
        return [d for d in self.deliveries if d.status == DeliveryStatus.DELIVERED]


@dataclass(frozen=True)
class HumanDecision:
    """What a caseworker decided on a task of the case (its answers, labelled)."""

    task: str
    answers: list[tuple[str, str]]
    at: datetime | None


@dataclass
class CasePage:
    case: Case
    status: Status
    application: list[tuple[str, str]]
    timeline: list[Step]
    decisions: list[DecisionLetter]
    notifications: list[Notification]
    address_events: list[AddressEvent] = field(default_factory=list)
    human_decisions: list[HumanDecision] = field(default_factory=list)
    messages: list[CaseMessage] = field(default_factory=list)
    can_message: bool = False
    satisfaction: SatisfactionResponse | None = None

    @property
    def ask_satisfaction(self) -> bool:
        """Asked once, after the case is completed."""
        return self.case.status == CaseStatus.COMPLETED and self.satisfaction is None


def _application_rows(case: Case) -> list[tuple[str, str]]:
    """The application as submitted, each answer under its question's title (choices by
    their labels)."""
    return _labelled(case.service_version.form_schema, case.data)


def _labelled(schema: dict[str, Any] | None, data: dict[str, Any]) -> list[tuple[str, str]]:
    """Answers under their questions' titles, choices by their labels."""
    properties = (schema or {}).get("properties", {})
    rows = []
    for name, value in (data or {}).items():
        spec = properties.get(name) or {}
        labels = spec.get("x-labels") or {}
        shown = labels.get(value, value) if isinstance(value, str) else value
        rows.append(
            (str(spec.get("title") or name.replace("_", " ").capitalize()), value_text(shown))
        )
    return rows


def _human_decisions(case: Case) -> list[HumanDecision]:
    forms = case.service_version.task_forms or {}
    items = WorkItem.objects.filter(case=case, status=WorkItemStatus.COMPLETED).order_by(
        "completed_at", "id"
    )
    return [
        HumanDecision(item.name, _labelled(forms.get(item.form_key), item.data), item.completed_at)
        for item in items
        if item.data
    ]


def _outcome_text(value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')}: {value_text(v)}" for k, v in value.items())
    return value_text(value)


def _letters(viewer: User, case: Case) -> list[DecisionLetter]:
    letters = []
    decisions = case_selectors.case_decisions(viewer=viewer, case=case).select_related("evaluation")
    for decision in decisions:
        overrides = [
            OverrideView(outcome=_outcome_text(o.outcome), reason=o.reason, at=o.created_at)
            for o in decision.overrides.all()
        ]
        automated = _outcome_text(decision.outputs)
        letters.append(
            DecisionLetter(
                decision=decision,
                automated_outcome=automated,
                outcome=overrides[-1].outcome if overrides else automated,
                rules=rules_fired(decision.evaluation.trace or {}),
                overrides=overrides,
            )
        )
    return letters


_STEP_TITLES: dict[str, Promise] = {
    "StartEvent": _("Application received"),
    "EndEvent": _("Finished"),
    "BusinessRuleTask": _("Decided automatically"),
    "UserTask": _("Done by a caseworker"),
    "IntermediateCatchEvent": _("Waiting period over"),
    "BoundaryEvent": _("Deadline reached"),
}
_HIDDEN_KINDS = frozenset({"ScriptTask"})  # internal bookkeeping, nothing a person did
# service tasks by the connector they call; None: the step shows as what it produced
_CONNECTOR_TITLES: dict[str, Promise | None] = {
    "notify": None,  # the message itself is on the timeline
    "publish_event": _("Your change was sent to the agencies that use it"),
    "fetch": _("Information asked of another agency"),
    "prefill": _("Information looked up in government records"),
}


def _timeline(
    case: Case, letters: list[DecisionLetter], notifications: list[Notification]
) -> list[Step]:
    steps = [Step(case.submitted_at, _("You applied"), case.service.name)]
    outcome = {letter.decision.element_id: letter.automated_outcome for letter in letters}
    connectors = compiled(case.service_version).process.model.connectors
    for event in CaseEvent.objects.filter(case=case).order_by("ended_at", "id"):
        if event.kind in _HIDDEN_KINDS or event.kind == "StartEvent":
            continue
        title: Promise | None = _STEP_TITLES.get(event.kind, _("Automatic step"))
        call = connectors.get(event.element_id)
        if call is not None:
            title = _CONNECTOR_TITLES.get(call.connector, title)
            if title is None:
                continue
        detail = event.activity
        if event.element_id in outcome:
            detail = f"{event.activity}: {outcome[event.element_id]}"
        steps.append(Step(event.ended_at, title or "", detail))
    for letter in letters:
        for override in letter.overrides:
            steps.append(Step(override.at, _("A caseworker changed the decision"), override.reason))
    for note in notifications:
        steps.append(Step(note.created_at, _("Message sent to you"), note.subject))
    steps.sort(key=lambda s: s.at)
    for item in WorkItem.objects.filter(case=case, status__in=OPEN_ITEMS).order_by("created_at"):
        steps.append(Step(item.created_at, _("Waiting for a caseworker"), item.name))
    return steps


def _address_events(viewer: User, case: Case) -> list[AddressEvent]:
    """The changes this case told once (the `publish_event` connector keys them by case)."""
    person = citizen_person(user=viewer)
    if person is None:
        return []
    prefix = f"case:{case.reference}:"
    return [
        _address_event(entry.event, entry.data, entry.deliveries)
        for entry in event_history_for_person(viewer=viewer, person=person)
        if entry.event.idempotency_key.startswith(prefix)
    ]


def _address_event(event: Event, data: dict[str, Any], deliveries: list[Delivery]) -> AddressEvent:
    return AddressEvent(
        event=event,
        data=data,
        deliveries=[
            DeliveryView(
                agency=d.subscription.agency.name,
                status=DeliveryStatus(d.status),
                status_label=str(DeliveryStatus(d.status).label),
                at=d.delivered_at,
            )
            for d in deliveries
        ],
    )


def case_page(*, viewer: User, reference: str) -> CasePage:
    """One of the viewer's cases, read through `case_get` (authorised, audited)."""
    case = case_selectors.case_get(viewer=viewer, reference=reference, purpose="citizen portal")
    policy.authorize(viewer, "case.view", case)
    letters = _letters(viewer, case)
    notifications = list(Notification.objects.filter(case=case).order_by("created_at", "id"))
    item = (
        WorkItem.objects.filter(case=case, status__in=OPEN_ITEMS).order_by("due_at", "id").first()
    )
    # the history read is audited: only made when this case told a change
    told = Event.objects.filter(idempotency_key__startswith=f"case:{case.reference}:").exists()
    can_message = policy.can(viewer, "case.message", case)
    return CasePage(
        case=case,
        status=case_status(
            case,
            open_task=item.name if item else None,
            open_task_due=item.due_at if item else None,
        ),
        application=_application_rows(case),
        timeline=_timeline(case, letters, notifications),
        decisions=letters,
        notifications=notifications,
        address_events=_address_events(viewer, case) if told else [],
        human_decisions=_human_decisions(case),
        messages=list(case_messages.case_messages(viewer=viewer, case=case)) if can_message else [],
        can_message=can_message,
        satisfaction=SatisfactionResponse.objects.filter(case=case).first(),
    )


# --- tell us once --------------------------------------------------------------------------


def address_history(*, viewer: User) -> list[AddressEvent]:
    """The viewer's own address changes, newest first, with the agencies each reached
    (audited by the events selector)."""
    person = citizen_person(user=viewer)
    if person is None:
        return []
    return [
        _address_event(entry.event, entry.data, entry.deliveries)
        for entry in event_history_for_person(viewer=viewer, person=person)
        if entry.event.type == EventType.ADDRESS
    ]
