"""The cases API at /api/v1/cases: services, deploys, cases, work items, overrides.

Errors are problem+json: 400/422 with an `errors` map (deploy problems by file, form data
by field path), 403 when the policy refuses, 404 for what the caller may not see, 409 for
a work item completed twice or a case that moved on.
"""

from typing import Annotated, Any

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Path, Query, Router, Status
from ninja.pagination import paginate

from cases import selectors
from cases.analytics import selectors as analytics
from cases.analytics.http import event_log_response
from cases.models import Case, CaseDecisionOverride, CaseMessage, ServiceVersion, WorkItem
from cases.schemas import (
    AnalyticsQuery,
    BacklogOut,
    CaseDetailOut,
    CaseMessageIn,
    CaseMessageOut,
    CaseOut,
    CaseSubmitIn,
    CaseSummaryOut,
    CompleteIn,
    DeployIn,
    DfgOut,
    EventLogQuery,
    OverrideIn,
    OverrideOut,
    OverrideRateOut,
    QueueLoadOut,
    ReassignIn,
    ReevaluationOut,
    ServiceFormOut,
    ServiceOut,
    ServiceVersionOut,
    SimulateIn,
    SlaOut,
    ThroughputOut,
    WorkItemOut,
    WorkItemQuery,
)
from cases.services import definitions, engine, overrides, simulation, work_items
from cases.services import messages as case_messages
from core.errors import ValidationFailed
from core.pagination import Paging, PathId
from core.timezones import in_utc
from decisions import selectors as decision_selectors
from identity import policy
from identity import selectors as identity_selectors
from identity.choices import UserKind
from identity.models import User

router = Router(tags=["cases"])

AgencyCode = Annotated[str, Path(..., min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]
ServiceCode = Annotated[str, Path(..., min_length=1, max_length=80, pattern=r"^[a-z0-9-]+$")]
Reference = Annotated[str, Path(..., min_length=1, max_length=32, pattern=r"^[0-9A-Z-]+$")]


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


# --- services -----------------------------------------------------------------------------


@router.get(
    "/services", response=list[ServiceOut], operation_id="cases_service_list", summary="Services"
)
@policy.requires("service.view")
@paginate(Paging)
def service_list(request: HttpRequest) -> Any:
    return selectors.service_list(viewer=_user(request))


@router.post(
    "/agencies/{code}/services",
    response={201: ServiceVersionOut},
    operation_id="cases_service_deploy",
    summary="Deploy a service version (BPMN + DMN + form + service.yaml)",
    description=(
        "Everything is checked first; on any problem nothing is deployed and the answer is "
        "400 `service_definition_invalid` with `errors` by file, each naming the element id."
    ),
)
@policy.requires("service.deploy")
def service_deploy(
    request: HttpRequest, code: AgencyCode, payload: DeployIn
) -> Status[ServiceVersion]:
    agency = identity_selectors.agency_get(code=code)
    version = definitions.service_deploy(
        actor=_user(request), files=payload.files, agency=agency, activate_at=payload.activate_at
    )
    return Status(201, version)


@router.get(
    "/services/{code}/versions",
    response=list[ServiceVersionOut],
    operation_id="cases_service_version_list",
)
@policy.requires("service.view")
@paginate(Paging)
def service_version_list(request: HttpRequest, code: ServiceCode) -> Any:
    service = selectors.service_get(viewer=_user(request), code=code)
    return selectors.service_version_list(viewer=_user(request), service=service)


@router.get(
    "/services/{code}/form",
    response=ServiceFormOut,
    operation_id="cases_service_form",
    summary="The application form of the active version",
)
@policy.requires("case.submit")
def service_form(request: HttpRequest, code: ServiceCode) -> dict[str, Any]:
    service = selectors.service_for_applicant(viewer=_user(request), code=code)
    version = selectors.service_version_active_at(service=service)
    return {"service": service.code, "version": version.version, "form": version.form_schema}


# --- cases --------------------------------------------------------------------------------


@router.post(
    "/services/{code}/cases",
    response={201: CaseOut},
    operation_id="cases_case_submit",
    summary="Apply: the case runs until it waits (automated decisions included)",
    description="Form data failing the schema answers 422 `case_data_invalid` by field path.",
)
@policy.requires("case.submit")
def case_submit(request: HttpRequest, code: ServiceCode, payload: CaseSubmitIn) -> Status[Case]:
    actor = _user(request)
    service = selectors.service_for_applicant(viewer=actor, code=code)
    applicant = actor
    if payload.applicant_id is not None and payload.applicant_id != actor.pk:
        found = User.objects.filter(pk=payload.applicant_id, kind=UserKind.CITIZEN).first()
        if found is None:
            raise ValidationFailed(errors={"applicant_id": ["no such citizen account"]})
        applicant = found
    case = engine.case_submit(service=service, data=payload.data, applicant=applicant, actor=actor)
    return Status(201, case)


@router.get("/cases", response=list[CaseSummaryOut], operation_id="cases_case_list")
@policy.requires("case.view")
@paginate(Paging)
def case_list(request: HttpRequest, status: str | None = None, service: str | None = None) -> Any:
    return selectors.case_list(viewer=_user(request), status=status, service=service)


@router.get("/cases/{reference}", response=CaseDetailOut, operation_id="cases_case_get")
@policy.requires("case.view")
def case_get(request: HttpRequest, reference: Reference) -> Case:
    case = selectors.case_get(viewer=_user(request), reference=reference)
    case.decisions_list = list(selectors.case_decisions(viewer=_user(request), case=case))  # type: ignore[attr-defined]
    return case


@router.get(
    "/cases/{reference}/messages",
    response=list[CaseMessageOut],
    operation_id="cases_message_list",
    summary="The conversation between the applicant and the agency on a case",
)
@policy.decided_in_service("case.message")
def case_message_list(request: HttpRequest, reference: Reference) -> Any:
    viewer = _user(request)
    case = selectors.case_get(viewer=viewer, reference=reference, purpose="messages")
    return list(case_messages.case_messages(viewer=viewer, case=case).select_related("author"))


@router.post(
    "/cases/{reference}/messages",
    response={201: CaseMessageOut},
    operation_id="cases_message_send",
    summary="Write on a case: the applicant to the agency, or the agency's staff to the applicant",
)
@policy.decided_in_service("case.message")
def case_message_send(
    request: HttpRequest, reference: Reference, payload: CaseMessageIn
) -> Status[CaseMessage]:
    viewer = _user(request)
    case = selectors.case_get(viewer=viewer, reference=reference, purpose="messages")
    message = case_messages.case_message_send(actor=viewer, case=case, body=payload.body)
    return Status(201, message)


@router.post("/cases/{reference}/retry", response=CaseOut, operation_id="cases_case_retry")
@policy.requires("work_item.work")
def case_retry(request: HttpRequest, reference: Reference) -> Case:
    case = selectors.case_get(viewer=_user(request), reference=reference, purpose="retry")
    return engine.case_retry(case=case, actor=_user(request))


@router.post(
    "/cases/{reference}/decisions/{decision_id}/override",
    response={201: OverrideOut},
    operation_id="cases_decision_override",
    summary="Override an automated decision (a reason is mandatory)",
)
@policy.requires("case.override")
def decision_override(
    request: HttpRequest, reference: Reference, decision_id: PathId, payload: OverrideIn
) -> Status[CaseDecisionOverride]:
    viewer = _user(request)
    case = selectors.case_get(viewer=viewer, reference=reference, purpose="override")
    decision = selectors.case_decision_get(viewer=viewer, case=case, decision_id=decision_id)
    override = overrides.case_decision_override(
        decision=decision, outcome=payload.outcome, reason=payload.reason, actor=viewer
    )
    return Status(201, override)


# --- work items ---------------------------------------------------------------------------


@router.get("/work-items", response=list[WorkItemOut], operation_id="cases_work_item_list")
@policy.requires("work_item.work")
@paginate(Paging)
def work_item_list(request: HttpRequest, filters: Query[WorkItemQuery]) -> Any:
    viewer = _user(request)
    agency = identity_selectors.agency_get(code=filters.agency) if filters.agency else None
    return selectors.work_item_list(
        viewer=viewer,
        agency=agency,
        queue=filters.queue,
        role=filters.role,
        status=filters.status,
        sla_status=filters.sla_status,
        min_priority=filters.min_priority,
        due_before=filters.due_before,
        assignee=viewer if filters.mine else None,
    )


@router.get("/work-items/{item_id}", response=WorkItemOut, operation_id="cases_work_item_get")
@policy.requires("work_item.work")
def work_item_get(request: HttpRequest, item_id: PathId) -> WorkItem:
    return selectors.work_item_get(viewer=_user(request), item_id=item_id)


@router.post(
    "/work-items/{item_id}/claim", response=WorkItemOut, operation_id="cases_work_item_claim"
)
@policy.requires("work_item.work")
def work_item_claim(request: HttpRequest, item_id: PathId) -> WorkItem:
    item = selectors.work_item_get(viewer=_user(request), item_id=item_id)
    return work_items.work_item_claim(item=item, actor=_user(request))


@router.post(
    "/work-items/{item_id}/release", response=WorkItemOut, operation_id="cases_work_item_release"
)
@policy.requires("work_item.work")
def work_item_release(request: HttpRequest, item_id: PathId) -> WorkItem:
    item = selectors.work_item_get(viewer=_user(request), item_id=item_id)
    return work_items.work_item_release(item=item, actor=_user(request))


@router.post(
    "/work-items/{item_id}/reassign",
    response=WorkItemOut,
    operation_id="cases_work_item_reassign",
)
@policy.requires("work_item.assign")
def work_item_reassign(request: HttpRequest, item_id: PathId, payload: ReassignIn) -> WorkItem:
    item = selectors.work_item_get(viewer=_user(request), item_id=item_id)
    assignee = User.objects.filter(username=payload.assignee).first()
    if assignee is None:
        raise ValidationFailed(errors={"assignee": ["no such user"]})
    return work_items.work_item_reassign(item=item, assignee=assignee, actor=_user(request))


@router.post(
    "/work-items/{item_id}/complete",
    response=CaseOut,
    operation_id="cases_work_item_complete",
    summary="Complete with the task's form data; the case runs on",
    description="A second completion answers 409 `work_item_conflict`.",
)
@policy.requires("work_item.work")
def work_item_complete(request: HttpRequest, item_id: PathId, payload: CompleteIn) -> Case:
    item = selectors.work_item_get(viewer=_user(request), item_id=item_id)
    return work_items.work_item_complete(item=item, data=payload.data, actor=_user(request))


# --- supervision --------------------------------------------------------------------------


@router.get("/agencies/{code}/queues", response=list[QueueLoadOut], operation_id="cases_queue_load")
@policy.requires("work_item.assign")
def queue_load(request: HttpRequest, code: AgencyCode) -> Any:
    agency = identity_selectors.agency_get(code=code)
    return selectors.queue_load(viewer=_user(request), agency=agency)


@router.get(
    "/agencies/{code}/override-rates",
    response=list[OverrideRateOut],
    operation_id="cases_override_rates",
    summary="Override rates of automated decisions per decision model version",
)
@policy.requires("decision.simulate")
def override_rates(request: HttpRequest, code: AgencyCode) -> Any:
    agency = identity_selectors.agency_get(code=code)
    return selectors.decision_override_rates(viewer=_user(request), agency=agency)


@router.post(
    "/services/{code}/simulate",
    response=ReevaluationOut,
    operation_id="cases_simulate",
    summary="What a candidate rule version would have decided for the service's past cases",
)
@policy.decided_in_service("decision.simulate")
def simulate(request: HttpRequest, code: ServiceCode, payload: SimulateIn) -> Any:
    viewer = _user(request)
    service = selectors.service_get(viewer=viewer, code=code)
    model = decision_selectors.decision_model_get(
        viewer=viewer, agency=service.agency, key=payload.model
    )
    candidate = decision_selectors.decision_model_version_get(
        viewer=viewer, model=model, version=payload.version
    )
    return simulation.case_decisions_reevaluate(
        service=service,
        candidate_version=candidate,
        actor=viewer,
        since=in_utc(payload.since) if payload.since else None,
    )


# --- process analytics --------------------------------------------------------------------


def _window(filters: AnalyticsQuery) -> analytics.Window:
    return analytics.Window(
        version=filters.version, date_from=filters.date_from, date_to=filters.date_to
    )


@router.get(
    "/services/{code}/event-log",
    response={200: None},
    operation_id="cases_event_log_export",
    summary="The service's case event log, as CSV or XES (IEEE 1849-2016), streamed",
    description=(
        "CSV columns: case_id, activity, start, end, resource, service, version (times in "
        "ISO 8601 with offset). XES: one trace per case, a start and a complete event per "
        "activity. Recorded in the audit trail as an export."
    ),
    openapi_extra={
        "responses": {
            200: {
                "description": "The event log",
                "content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/xml": {"schema": {"type": "string"}},
                },
            }
        }
    },
)
@policy.requires("service.view")
def event_log_export(
    request: HttpRequest, code: ServiceCode, filters: Query[EventLogQuery]
) -> StreamingHttpResponse:
    viewer = _user(request)
    service = selectors.service_get(viewer=viewer, code=code)
    export = analytics.event_log_export(
        viewer=viewer, service=service, fmt=filters.format, window=_window(filters)
    )
    return event_log_response(export)


@router.get(
    "/services/{code}/analytics/dfg",
    response=DfgOut,
    operation_id="cases_analytics_dfg",
    summary="Directly-follows graph: activity pairs with frequencies and waiting times",
)
@policy.requires("service.view")
def analytics_dfg(request: HttpRequest, code: ServiceCode, filters: Query[AnalyticsQuery]) -> Any:
    viewer = _user(request)
    service = selectors.service_get(viewer=viewer, code=code)
    return analytics.service_dfg(viewer=viewer, service=service, window=_window(filters))


@router.get(
    "/services/{code}/analytics/throughput",
    response=list[ThroughputOut],
    operation_id="cases_analytics_throughput",
    summary="Throughput time percentiles (p50, p90, p95) of completed cases per version",
)
@policy.requires("service.view")
def analytics_throughput(
    request: HttpRequest, code: ServiceCode, filters: Query[AnalyticsQuery]
) -> Any:
    viewer = _user(request)
    service = selectors.service_get(viewer=viewer, code=code)
    return analytics.service_throughput(viewer=viewer, service=service, window=_window(filters))


@router.get(
    "/services/{code}/analytics/sla",
    response=list[SlaOut],
    operation_id="cases_analytics_sla",
    summary="SLA compliance per queue: completed on time, at risk or breached; open items",
)
@policy.requires("service.view")
def analytics_sla(request: HttpRequest, code: ServiceCode, filters: Query[AnalyticsQuery]) -> Any:
    viewer = _user(request)
    service = selectors.service_get(viewer=viewer, code=code)
    return analytics.service_sla(viewer=viewer, service=service, window=_window(filters))


@router.get(
    "/services/{code}/analytics/backlog",
    response=list[BacklogOut],
    operation_id="cases_analytics_backlog",
    summary="Open work items per queue by age band (the backlog now)",
)
@policy.requires("service.view")
def analytics_backlog(request: HttpRequest, code: ServiceCode, version: int | None = None) -> Any:
    viewer = _user(request)
    service = selectors.service_get(viewer=viewer, code=code)
    return analytics.service_backlog(viewer=viewer, service=service, version=version)
