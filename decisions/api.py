"""The decisions API at /api/v1/decisions: models, versions, activation, evaluation, simulation.

Uploads are JSON (`{"dmn_xml": "<definitions ...>", "notes": "..."}`) so that every route
speaks one content type; the XML travels as a string field. FEEL values in inputs and results
use the tagged JSON encoding described in `decisions.values`.
"""

from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Path, Query, Router, Status
from ninja.pagination import paginate

from core.pagination import Paging
from decisions import selectors, services, values
from decisions.errors import DecisionInputsInvalid
from decisions.models import DecisionModel, DecisionModelVersion
from decisions.schemas import (
    DecisionModelIn,
    DecisionModelOut,
    EvaluateIn,
    EvaluationOut,
    EvaluationPage,
    EvaluationQuery,
    ScheduleIn,
    SimulateIn,
    SimulationOut,
    VersionDetailOut,
    VersionOut,
    VersionUploadIn,
)
from identity import policy
from identity import selectors as identity_selectors
from identity.models import User

router = Router(tags=["decisions"])

AgencyCode = Annotated[str, Path(..., min_length=1, max_length=40, pattern=r"^[a-z0-9-]+$")]
ModelKey = Annotated[str, Path(..., min_length=1, max_length=80, pattern=r"^[-a-zA-Z0-9_]+$")]
VersionNumber = Annotated[int, Path(..., ge=1, le=2**31 - 1)]

MODEL = "/agencies/{code}/models/{key}"
VERSION = MODEL + "/versions/{version}"


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _model(request: HttpRequest, code: str, key: str) -> DecisionModel:
    agency = identity_selectors.agency_get(code=code)
    return selectors.decision_model_get(viewer=_user(request), agency=agency, key=key)


def _version(request: HttpRequest, code: str, key: str, version: int) -> DecisionModelVersion:
    model = _model(request, code, key)
    return selectors.decision_model_version_get(viewer=_user(request), model=model, version=version)


@router.get(
    "/agencies/{code}/models",
    response=list[DecisionModelOut],
    operation_id="decision_model_list",
    summary="An agency's decision models",
)
@policy.requires("decision_model.view")
@paginate(Paging)
def decision_model_list(request: HttpRequest, code: AgencyCode) -> Any:
    agency = identity_selectors.agency_get(code=code)
    return selectors.decision_model_list(viewer=_user(request), agency=agency)


@router.post(
    "/agencies/{code}/models",
    response={201: DecisionModelOut},
    operation_id="decision_model_create",
    summary="Create a decision model (versions are uploaded to it)",
)
@policy.requires("decision_model.manage")
def decision_model_create(
    request: HttpRequest, code: AgencyCode, payload: DecisionModelIn
) -> Status[DecisionModel]:
    agency = identity_selectors.agency_get(code=code)
    model = services.decision_model_create(
        actor=_user(request),
        agency=agency,
        key=payload.key,
        name=payload.name,
        description=payload.description,
    )
    return Status(201, model)


@router.get(MODEL, response=DecisionModelOut, operation_id="decision_model_get")
@policy.requires("decision_model.view")
def decision_model_get(request: HttpRequest, code: AgencyCode, key: ModelKey) -> DecisionModel:
    return _model(request, code, key)


@router.get(
    MODEL + "/versions",
    response=list[VersionOut],
    operation_id="decision_model_version_list",
    summary="Every version of a model, newest first, with its state",
)
@policy.requires("decision_model.view")
@paginate(Paging)
def decision_model_version_list(request: HttpRequest, code: AgencyCode, key: ModelKey) -> Any:
    model = _model(request, code, key)
    return selectors.decision_model_version_list(viewer=_user(request), model=model)


@router.post(
    MODEL + "/versions",
    response={201: VersionOut},
    operation_id="decision_model_version_upload",
    summary="Upload a new version (a draft until scheduled); refused unless the DMN loads",
    description=(
        "The body is JSON with the DMN XML as the `dmn_xml` string. A model the engine "
        "refuses answers 400 `dmn_model_invalid` or `dmn_unsupported` with `element_id`, "
        "`line` and `column`; more than 2 MB answers 413 `payload_too_large`. Nothing is "
        "stored on failure."
    ),
)
@policy.requires("decision_model.manage")
def decision_model_version_upload(
    request: HttpRequest, code: AgencyCode, key: ModelKey, payload: VersionUploadIn
) -> Status[DecisionModelVersion]:
    model = _model(request, code, key)
    version = services.decision_model_version_upload(
        actor=_user(request), model=model, dmn_xml=payload.dmn_xml, notes=payload.notes
    )
    return Status(201, version)


@router.get(VERSION, response=VersionDetailOut, operation_id="decision_model_version_get")
@policy.requires("decision_model.view")
def decision_model_version_get(
    request: HttpRequest, code: AgencyCode, key: ModelKey, version: VersionNumber
) -> DecisionModelVersion:
    return _version(request, code, key, version)


@router.put(
    VERSION + "/activation",
    response=VersionOut,
    operation_id="decision_model_version_schedule",
    summary="Schedule when a version starts deciding (or make it a draft again)",
)
@policy.requires("decision_model.manage")
def decision_model_version_schedule(
    request: HttpRequest,
    code: AgencyCode,
    key: ModelKey,
    version: VersionNumber,
    payload: ScheduleIn,
) -> DecisionModelVersion:
    found = _version(request, code, key, version)
    services.decision_model_version_schedule(
        actor=_user(request), version=found, activates_at=payload.activates_at
    )
    return selectors.decision_model_version_get(
        viewer=_user(request), model=found.model, version=version
    )


@router.post(
    MODEL + "/evaluate",
    response=EvaluationOut,
    operation_id="decision_evaluate",
    summary="Evaluate a decision with the active version; the evaluation is recorded",
)
@policy.requires("decision.evaluate")
def decision_evaluate(
    request: HttpRequest, code: AgencyCode, key: ModelKey, payload: EvaluateIn
) -> EvaluationOut:
    model = _model(request, code, key)
    try:
        inputs = values.decode_inputs(payload.inputs)
    except values.ValueEncodingError as exc:
        field = f"inputs.{exc.path}" if exc.path else "inputs"
        raise DecisionInputsInvalid(exc.message, errors={field: [exc.message]}) from None
    outcome = services.decision_evaluate(
        actor=_user(request),
        model=model,
        decision=payload.decision,
        inputs=inputs,
        purpose=payload.purpose,
        subject_person=payload.subject_person,
        case_ref=payload.case_ref,
        at=payload.at,
    )
    return EvaluationOut(
        evaluation_id=outcome.evaluation.pk,
        model=model.key,
        version=outcome.version.version,
        decision=outcome.decision,
        result=outcome.evaluation.outputs,
        explanation=outcome.explanation,
        explanation_rows=outcome.rows,  # type: ignore[arg-type]  # validated from dicts
        messages=outcome.messages,
        trace=outcome.trace,
    )


@router.get(
    MODEL + "/evaluations",
    response=EvaluationPage,
    operation_id="decision_evaluation_list",
    summary="Recorded evaluations, newest first (reads about a person are audited)",
)
@policy.requires("decision_model.view")
def decision_evaluation_list(
    request: HttpRequest, code: AgencyCode, key: ModelKey, query: Query[EvaluationQuery]
) -> dict[str, Any]:
    viewer = _user(request)
    model = _model(request, code, key)
    qs = selectors.decision_evaluation_list(
        viewer=viewer,
        model=model,
        subject_person=query.subject_person,
        case_ref=query.case_ref,
        since=query.since,
    )
    page = list(qs[query.offset : query.offset + query.limit])
    selectors.decision_evaluations_read(viewer=viewer, evaluations=page, purpose=query.purpose)
    return {"count": qs.count(), "items": page}


@router.post(
    VERSION + "/simulate",
    response=SimulationOut,
    operation_id="decision_simulate",
    summary="Replay recorded evaluations on this version and report the outcomes that change",
)
@policy.requires("decision.simulate")
def decision_simulate(
    request: HttpRequest,
    code: AgencyCode,
    key: ModelKey,
    version: VersionNumber,
    payload: SimulateIn,
) -> SimulationOut:
    candidate = _version(request, code, key, version)
    report = services.decision_simulate(
        actor=_user(request), candidate_version=candidate, since=payload.since, limit=payload.limit
    )
    return SimulationOut(
        model=candidate.model.key,
        candidate_version=report.candidate_version,
        total=report.total,
        changed=report.changed,
        unchanged=report.unchanged,
        errors=report.errors,
        changes=[change.__dict__ for change in report.changes],  # type: ignore[misc]
        failures=[failure.__dict__ for failure in report.failures],  # type: ignore[misc]
        truncated=report.truncated,
    )
