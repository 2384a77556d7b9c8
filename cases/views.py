"""Staff pages of the cases app: process analytics, the work queue, a work item, supervision.

Each page is guarded by `identity.views.page(action)` and calls the same selectors and
services as the API; the object-level decision (this service, this item, this agency) is
taken again inside them. A refused or conflicting action is shown on the page, beside the
field it concerns where there is one, and nothing is changed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cases import selectors
from cases.analytics import charts
from cases.analytics import selectors as analytics
from cases.analytics.compute import AGE_BANDS
from cases.analytics.http import event_log_response
from cases.choices import QueueRole, SlaStatus, WorkItemStatus
from cases.explain import decision_rows
from cases.models import Case, CaseDecision, WorkItem
from cases.schema_forms import form_data, schema_form_class
from cases.services import messages as case_messages
from cases.services import overrides, work_items
from core.errors import ApplicationError, ValidationFailed
from identity import policy
from identity import selectors as identity_selectors
from identity.choices import Role
from identity.models import Agency, User
from identity.views import page

PAGE_SIZE = 25
LOAD_ITEMS = 50


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _error_page(request: HttpRequest, error: ApplicationError) -> HttpResponse:
    return render(request, "cases/error.html", {"error": error}, status=error.status)


def _put_error(form: forms.Form, error: ApplicationError) -> None:
    """The service's refusal beside the fields it names, else at the top of the form."""
    placed = False
    for name, problems in error.errors.items():
        if name in form.fields:
            for problem in problems:
                form.add_error(name, problem)
            placed = True
    if not placed:
        form.add_error(None, error.detail)


# --- analytics ---------------------------------------------------------------------------


@page("service.view")
@require_GET
def service_list(request: HttpRequest) -> HttpResponse:
    services = list(selectors.service_list(viewer=_user(request)))
    return render(request, "cases/services.html", {"services": services})


class AnalyticsFilterForm(forms.Form):
    version = forms.TypedChoiceField(
        label=gettext_lazy("Version"), required=False, coerce=int, empty_value=None
    )
    date_from = forms.DateField(
        label=gettext_lazy("Submitted from"),
        required=False,
        help_text=gettext_lazy("For example 2025-01-31"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        label=gettext_lazy("Submitted until"),
        required=False,
        help_text=gettext_lazy("Inclusive"),
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, versions: list[int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["version"]
        assert isinstance(field, forms.TypedChoiceField)
        field.choices = [("", _("All versions"))] + [
            (v, _("Version %(n)s") % {"n": v}) for v in versions
        ]


@dataclass(frozen=True)
class SlaView:
    queue: str
    completed: int
    compliance: str
    segments: list[tuple[str, str, int, float, float]]  # (class, label, count, x, width)
    open_on_time: int
    open_at_risk: int
    open_breached: int


def _sla_views(rows: list[Any]) -> list[SlaView]:
    views = []
    for row in rows:
        total = row.completed or 1
        x = 0.0
        segments = []
        for css, label, count in (
            ("on-time", _("On time"), row.on_time),
            ("at-risk", _("At risk"), row.at_risk),
            ("breached", _("Breached"), row.breached),
        ):
            width = 100 * count / total
            segments.append((css, label, count, round(x, 2), round(width, 2)))
            x += width
        views.append(
            SlaView(
                queue=row.queue,
                completed=row.completed,
                compliance="-" if row.compliance is None else f"{100 * row.compliance:.0f}%",
                segments=segments,
                open_on_time=row.open_on_time,
                open_at_risk=row.open_at_risk,
                open_breached=row.open_breached,
            )
        )
    return views


def _throughput_views(rows: list[Any]) -> list[dict[str, Any]]:
    top = max((r.p95 for r in rows), default=0.0)
    views = []
    for row in rows:
        bars = [
            charts.Bar(
                label=label,
                value=charts.duration_text(seconds),
                percent=round(100 * seconds / top, 1) if top else 0.0,
            )
            for label, seconds in (("p50", row.p50), ("p90", row.p90), ("p95", row.p95))
        ]
        views.append({"row": row, "bars": bars, "mean": charts.duration_text(row.mean)})
    return views


AGE_BAND_LABELS = [
    gettext_lazy("under 1 day"),
    gettext_lazy("1 to 3 days"),
    gettext_lazy("3 to 7 days"),
    gettext_lazy("1 to 2 weeks"),
    gettext_lazy("2 to 4 weeks"),
    gettext_lazy("30 days or more"),
]
assert len(AGE_BAND_LABELS) == len(AGE_BANDS)


def _backlog_views(rows: list[Any]) -> list[dict[str, Any]]:
    top = max((max(r.bands) for r in rows), default=0)
    return [
        {
            "row": row,
            "oldest": charts.duration_text(row.oldest),
            "bars": [
                charts.Bar(
                    label=str(label),
                    value=str(count),
                    percent=round(100 * count / top, 1) if top else 0,
                )
                for label, count in zip(AGE_BAND_LABELS, row.bands, strict=True)
            ],
        }
        for row in rows
    ]


@page("service.view")
@require_GET
def service_analytics(request: HttpRequest, code: str) -> HttpResponse:
    viewer = _user(request)
    try:
        service = selectors.service_get(viewer=viewer, code=code)
        versions = [
            v.version for v in selectors.service_version_list(viewer=viewer, service=service)
        ]
    except ApplicationError as error:
        return _error_page(request, error)
    form = AnalyticsFilterForm(request.GET or None, versions=versions)
    window = analytics.Window()
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                window = analytics.Window(
                    version=form.cleaned_data["version"],
                    date_from=form.cleaned_data["date_from"],
                    date_to=form.cleaned_data["date_to"],
                )
            except ValidationFailed as error:
                _put_error(form, error)
                status = 400
        else:
            status = 400
    figures = analytics.service_analytics(viewer=viewer, service=service, window=window)
    query = {k: v for k, v in window.as_dict().items() if v is not None}
    context = {
        "service": service,
        "form": form,
        "figures": figures,
        "drawing": charts.dfg_drawing(figures.dfg),
        "edges": [
            {
                "edge": e,
                "mean": charts.duration_text(e.mean_wait),
                "median": charts.duration_text(e.median_wait),
            }
            for e in figures.dfg.edges
        ],
        "nodes": [
            {"node": n, "duration": charts.duration_text(n.mean_duration)}
            for n in figures.dfg.nodes
        ],
        "throughput": _throughput_views(figures.throughput),
        "sla": _sla_views(figures.sla),
        "backlog": _backlog_views(figures.backlog),
        "download_query": "&".join(f"{k}={v}" for k, v in query.items()),
    }
    return render(request, "cases/analytics.html", context, status=status)


@page("service.view")
@require_GET
def event_log_download(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    viewer = _user(request)
    try:
        service = selectors.service_get(viewer=viewer, code=code)
        version = request.GET.get("version") or None
        window = analytics.Window(
            version=int(version) if version and version.isdigit() else None,
            date_from=_day(request.GET.get("date_from")),
            date_to=_day(request.GET.get("date_to")),
        )
        export = analytics.event_log_export(viewer=viewer, service=service, fmt=fmt, window=window)
    except ApplicationError as error:
        return _error_page(request, error)
    # the page guard is typed for HttpResponse; a streamed answer is one in all but name
    return cast(HttpResponse, event_log_response(export))


def _day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationFailed(
            _("%(text)s is not a date like 2025-01-31.") % {"text": text},
            errors={"date": ["not a date"]},
        ) from None


# --- the work queue ----------------------------------------------------------------------


SLA_CHOICES = [("", gettext_lazy("Any")), *SlaStatus.choices]


class WorkFilterForm(forms.Form):
    queue = forms.ChoiceField(label=gettext_lazy("Queue"), required=False)
    sla_status = forms.ChoiceField(
        label=gettext_lazy("SLA status"), choices=SLA_CHOICES, required=False
    )
    min_priority = forms.IntegerField(
        label=gettext_lazy("Minimum priority"),
        required=False,
        min_value=0,
        max_value=100,
        help_text=gettext_lazy("0 to 100; higher is more urgent"),
    )
    mine = forms.BooleanField(label=gettext_lazy("Only items I have claimed"), required=False)

    def __init__(self, *args: Any, queues: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["queue"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("All queues"))] + [(q, q) for q in queues]


@page("work_item.work")
@require_GET
def work_queue(request: HttpRequest) -> HttpResponse:
    viewer = _user(request)
    form = WorkFilterForm(request.GET or None, queues=selectors.work_item_queues(viewer=viewer))
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "queue": data["queue"] or None,
            "sla_status": data["sla_status"] or None,
            "min_priority": data["min_priority"],
            "assignee": viewer if data["mine"] else None,
        }
    items = selectors.work_item_list(viewer=viewer, **filters)
    page_obj = Paginator(items, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page_obj": page_obj,
        "items": list(page_obj.object_list),
        "query": query.urlencode(),
        "back": request.get_full_path(),
    }
    return render(request, "cases/work_queue.html", context, status=400 if form.errors else 200)


def _back(request: HttpRequest, item_id: int) -> str:
    """Where a claim or release returns: the queue page it came from, else the item."""
    target = request.POST.get("next", "")
    queue = reverse("cases:work_queue")
    if target.startswith(queue) and "//" not in target:
        return target
    return reverse("cases:work_item", kwargs={"item_id": item_id})


@page("work_item.work")
@require_POST
def work_item_claim(request: HttpRequest, item_id: int) -> HttpResponse:
    viewer = _user(request)
    try:
        item = selectors.work_item_get(viewer=viewer, item_id=item_id)
        work_items.work_item_claim(item=item, actor=viewer)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("You have claimed “%(name)s”.") % {"name": item.name})
    return redirect(_back(request, item_id))


@page("work_item.work")
@require_POST
def work_item_release(request: HttpRequest, item_id: int) -> HttpResponse:
    viewer = _user(request)
    try:
        item = selectors.work_item_get(viewer=viewer, item_id=item_id)
        work_items.work_item_release(item=item, actor=viewer)
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _("“%(name)s” is back in its queue.") % {"name": item.name})
    return redirect(_back(request, item_id))


# --- a work item: the case, its decisions, the completion form --------------------------


@dataclass(frozen=True)
class DecisionView:
    decision: CaseDecision
    outcome: str
    rows: list[dict[str, Any]]
    override_form: forms.Form | None = None


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _application_rows(case: Case) -> list[tuple[str, str]]:
    properties = (case.service_version.form_schema or {}).get("properties", {})
    return [
        ((properties.get(name) or {}).get("title") or name, _text(value))
        for name, value in (case.data or {}).items()
    ]


def _may_complete(viewer: User, item: WorkItem) -> bool:
    if item.status not in (WorkItemStatus.OPEN, WorkItemStatus.CLAIMED):
        return False
    if item.assignee_id is not None and item.assignee_id != viewer.pk:
        return False
    return item.role != QueueRole.SUPERVISOR or policy.has_role(
        viewer, Role.SUPERVISOR, item.agency_id
    )


@page("work_item.work")
@require_http_methods(["GET", "POST"])
def work_item_page(request: HttpRequest, item_id: int) -> HttpResponse:
    viewer = _user(request)
    try:
        item = selectors.work_item_get(viewer=viewer, item_id=item_id)
        case = selectors.case_get(viewer=viewer, reference=item.case.reference, purpose="work item")
    except ApplicationError as error:
        return _error_page(request, error)
    schema = _task_schema(case, item)
    form = schema_form_class(schema)(request.POST or None)
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        else:
            try:
                work_items.work_item_complete(
                    item=item, data=form_data(schema, form.cleaned_data), actor=viewer
                )
            except ApplicationError as error:
                _put_error(form, error)
                status = error.status
            else:
                messages.success(
                    request,
                    _("“%(name)s” on case %(ref)s is done.")
                    % {"name": item.name, "ref": case.reference},
                )
                return redirect("cases:work_queue")
        item = selectors.work_item_get(viewer=viewer, item_id=item_id)
    return _work_item_render(request, item, case, form=form, status=status)


def _task_schema(case: Case, item: WorkItem) -> dict[str, Any] | None:
    """The JSON Schema of the item's task form, as the case's service version defines it."""
    if not item.form_key:
        return None
    schema: dict[str, Any] | None = (case.service_version.task_forms or {}).get(item.form_key)
    return schema


def _work_item_render(
    request: HttpRequest,
    item: WorkItem,
    case: Case,
    *,
    form: forms.Form | None = None,
    status: int = 200,
    message_form: CaseMessageForm | None = None,
    override_form: tuple[int, forms.Form] | None = None,
) -> HttpResponse:
    """The work item page; a form not given is shown empty."""
    viewer = _user(request)
    schema = _task_schema(case, item)
    if form is None:
        form = schema_form_class(schema)()
    may_override = policy.can(viewer, "case.override", case)
    decisions = [
        DecisionView(
            decision=d,
            outcome=_text(d.outputs),
            rows=decision_rows(d.evaluation.trace or {}),
            override_form=(
                override_form[1]
                if override_form and override_form[0] == d.pk
                else OverrideForm(prefix=f"override{d.pk}")
            )
            if may_override
            else None,
        )
        for d in selectors.case_decisions(viewer=viewer, case=case).select_related("evaluation")
    ]
    can_message = policy.can(viewer, "case.message", case)
    conversation = (
        list(case_messages.case_messages(viewer=viewer, case=case)) if can_message else []
    )
    if any(m.from_citizen and m.read_at is None for m in conversation):
        case_messages.case_messages_mark_read(actor=viewer, case=case)
    context = {
        "item": item,
        "case": case,
        "application": _application_rows(case),
        "decisions": decisions,
        "form": form,
        "form_title": (schema or {}).get("title") or item.name,
        "can_complete": _may_complete(viewer, item),
        "is_mine": item.assignee_id == viewer.pk,
        "can_assign": policy.can(viewer, "work_item.assign", item),
        "applicant_person": _applicant_person_id(viewer, case),
        "documents": _documents(case),
        "events": list(selectors.case_events(viewer=viewer, case=case)),
        "can_message": can_message,
        "conversation": conversation,
        "message_form": message_form or CaseMessageForm(prefix="message"),
    }
    return render(request, "cases/work_item.html", context, status=status)


class OverrideForm(forms.Form):
    outcome = forms.CharField(
        label=gettext_lazy("Your outcome"),
        max_length=200,
        help_text=gettext_lazy("The outcome you decide instead, for example approve or reject."),
    )
    reason = forms.CharField(
        label=gettext_lazy("Why you override the automated decision"),
        required=False,  # the service says a reason is needed, beside the field
        max_length=2000,
        help_text=gettext_lazy("Recorded with the decision; the applicant sees it."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@page("case.override")
@require_POST
def decision_override(request: HttpRequest, item_id: int, decision_id: int) -> HttpResponse:
    """Override one automated decision of the work item's case, with a reason."""
    viewer = _user(request)
    try:
        item = selectors.work_item_get(viewer=viewer, item_id=item_id)
        case = selectors.case_get(viewer=viewer, reference=item.case.reference, purpose="work item")
        decision = selectors.case_decision_get(viewer=viewer, case=case, decision_id=decision_id)
    except ApplicationError as error:
        return _error_page(request, error)
    form = OverrideForm(request.POST, prefix=f"override{decision.pk}")
    status = 400
    if form.is_valid():
        try:
            overrides.case_decision_override(
                decision=decision,
                outcome=form.cleaned_data["outcome"].strip(),
                reason=form.cleaned_data["reason"],
                actor=viewer,
            )
        except ApplicationError as error:
            _put_error(form, error)
            status = error.status
        else:
            messages.success(
                request,
                _("The decision “%(name)s” on case %(ref)s is overridden.")
                % {"name": decision.decision, "ref": case.reference},
            )
            return redirect(reverse("cases:work_item", kwargs={"item_id": item_id}))
    return _work_item_render(request, item, case, status=status, override_form=(decision.pk, form))


class CaseMessageForm(forms.Form):
    body = forms.CharField(
        label=gettext_lazy("Your reply to the applicant"),
        help_text=gettext_lazy(
            "Up to 5,000 characters. The applicant reads it on their case page and is told "
            "there is a new message."
        ),
        required=False,  # the service says what is wrong, beside the field
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


@page("work_item.work")
@require_POST
def work_item_message(request: HttpRequest, item_id: int) -> HttpResponse:
    """Write to the applicant from a work item of their case."""
    viewer = _user(request)
    try:
        item = selectors.work_item_get(viewer=viewer, item_id=item_id)
        case = selectors.case_get(viewer=viewer, reference=item.case.reference, purpose="work item")
    except ApplicationError as error:
        return _error_page(request, error)
    message_form = CaseMessageForm(request.POST, prefix="message")
    message_form.is_valid()
    try:
        case_messages.case_message_send(
            actor=viewer, case=case, body=message_form.cleaned_data["body"]
        )
    except ApplicationError as error:
        if error.status in (403, 404):
            return _error_page(request, error)
        _put_error(message_form, error)
        return _work_item_render(
            request, item, case, status=error.status, message_form=message_form
        )
    messages.success(
        request, _("Your message on case %(ref)s has been sent.") % {"ref": case.reference}
    )
    return redirect(f"{reverse('cases:work_item', kwargs={'item_id': item_id})}#messages")


def _documents(case: Case) -> list[tuple[str, str]]:
    """(label, link) of the documents the applicant attached, read in the staff workspace."""
    properties = (case.service_version.form_schema or {}).get("properties", {})
    found = []
    for name, spec in properties.items():
        value = (case.data or {}).get(name)
        if value and ((spec or {}).get("format") == "binary" or "x-upload" in (spec or {})):
            link = reverse("workspace:case_document", args=[case.reference, str(value)])
            found.append((str((spec or {}).get("title") or name), link))
    return found


def _applicant_person_id(viewer: User, case: Case) -> str | None:
    """The applicant's master person, for the link to the 360° view (if the viewer may)."""
    from registry.services.citizens import citizen_person

    if not policy.can(viewer, "person.view", policy.ANY_OBJECT):
        return None
    person = citizen_person(user=case.applicant)
    return person.pk if person else None


# --- supervision: load and reassignment --------------------------------------------------


class ReassignForm(forms.Form):
    assignee = forms.ChoiceField(label=gettext_lazy("Give to"))

    def __init__(self, *args: Any, people: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["assignee"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Choose a person")), *people]


def _supervised_agency(request: HttpRequest, viewer: User) -> Agency:
    ids = policy.agencies_where(viewer, Role.SUPERVISOR)
    agencies = {a.code: a for a in Agency.objects.filter(pk__in=ids).order_by("code")}
    code = request.GET.get("agency") or request.POST.get("agency") or ""
    if code and code not in agencies:
        # another agency (or none such): let the selector refuse it with the policy's reason
        return identity_selectors.agency_get(code=code)
    if not agencies:
        raise ValidationFailed(_("You supervise no agency."))
    return agencies.get(code) or next(iter(agencies.values()))


def _load_page(
    request: HttpRequest,
    *,
    agency: Agency | None = None,
    failed: tuple[int, ReassignForm] | None = None,
    status: int = 200,
) -> HttpResponse:
    viewer = _user(request)
    try:
        agency = agency or _supervised_agency(request, viewer)
        load = selectors.queue_load(viewer=viewer, agency=agency)
        people_load = selectors.assignee_load(viewer=viewer, agency=agency)
        people = [
            (u.username, f"{u.get_full_name() or u.username} ({u.username})")
            for u in selectors.work_item_assignees(viewer=viewer, agency=agency)
        ]
        items = list(selectors.work_item_list(viewer=viewer, agency=agency)[:LOAD_ITEMS])
    except ApplicationError as error:
        return _error_page(request, error)
    rows = []
    for item in items:
        form = failed[1] if failed and failed[0] == item.pk else None
        rows.append(
            {"item": item, "form": form or ReassignForm(people=people, prefix=f"item{item.pk}")}
        )
    supervised = Agency.objects.filter(
        pk__in=policy.agencies_where(viewer, Role.SUPERVISOR)
    ).order_by("code")
    context = {
        "agency": agency,
        "agencies": list(supervised),
        "load": load,
        "people_load": people_load,
        "rows": rows,
        "limit": LOAD_ITEMS,
    }
    return render(request, "cases/load.html", context, status=status)


@page("work_item.assign")
@require_GET
def queue_load(request: HttpRequest) -> HttpResponse:
    return _load_page(request)


@page("work_item.assign")
@require_POST
def work_item_reassign(request: HttpRequest, item_id: int) -> HttpResponse:
    viewer = _user(request)
    try:
        item = selectors.work_item_get(viewer=viewer, item_id=item_id)
        people = [
            (u.username, u.username)
            for u in selectors.work_item_assignees(viewer=viewer, agency=item.agency)
        ]
    except ApplicationError as error:
        return _error_page(request, error)
    form = ReassignForm(request.POST, people=people, prefix=f"item{item.pk}")
    if form.is_valid():
        assignee = User.objects.get(username=form.cleaned_data["assignee"])
        try:
            work_items.work_item_reassign(item=item, assignee=assignee, actor=viewer)
        except ApplicationError as error:
            _put_error(form, error)
        else:
            messages.success(
                request,
                _("“%(name)s” on case %(ref)s is now with %(who)s.")
                % {"name": item.name, "ref": item.case.reference, "who": assignee.username},
            )
            return redirect(f"{reverse('cases:queue_load')}?agency={item.agency.code}")
    return _load_page(request, agency=item.agency, failed=(item.pk, form), status=400)


urlpatterns: list[URLPattern] = [
    path("services/", service_list, name="service_list"),
    path("services/<slug:code>/analytics/", service_analytics, name="service_analytics"),
    path(
        "services/<slug:code>/event-log.<str:fmt>",
        event_log_download,
        name="event_log_download",
    ),
    path("work/", work_queue, name="work_queue"),
    path("work/<int:item_id>/", work_item_page, name="work_item"),
    path("work/<int:item_id>/claim/", work_item_claim, name="work_item_claim"),
    path("work/<int:item_id>/release/", work_item_release, name="work_item_release"),
    path("work/<int:item_id>/messages/", work_item_message, name="work_item_message"),
    path(
        "work/<int:item_id>/decisions/<int:decision_id>/override/",
        decision_override,
        name="decision_override",
    ),
    path("supervision/", queue_load, name="queue_load"),
    path("supervision/<int:item_id>/reassign/", work_item_reassign, name="work_item_reassign"),
]
