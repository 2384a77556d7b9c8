"""Errors of the decisions app; the API turns each into problem+json with its `code`."""

from typing import Any

from core.errors import ApplicationError, Conflict, NotFound, ValidationFailed


class DecisionModelInvalid(ValidationFailed):
    """An upload the DMN engine refuses. The problem names the element id, line and column."""

    code = "dmn_model_invalid"
    title = "The decision model is not valid"

    def __init__(
        self,
        detail: str,
        *,
        element_id: str | None = None,
        line: int | None = None,
        column: int | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(
            detail,
            errors={"dmn_xml": [detail]},
            element_id=element_id,
            line=line,
            column=column,
            **extra,
        )
        self.element_id = element_id
        self.line = line
        self.column = column


class DecisionModelUnsupported(DecisionModelInvalid):
    code = "dmn_unsupported"
    title = "The decision model uses a construct this engine does not support"


class DecisionModelTooLarge(ApplicationError):
    code = "payload_too_large"
    status = 413
    title = "The decision model is too large"


class DecisionModelKeyTaken(Conflict):
    code = "decision_model_exists"
    title = "The agency already has a decision model with this key"


class DecisionModelNotFound(NotFound):
    code = "decision_model_not_found"
    title = "No such decision model"


class DecisionVersionNotFound(NotFound):
    code = "decision_version_not_found"
    title = "No such decision model version"


class NoActiveVersion(Conflict):
    code = "decision_model_not_active"
    title = "No version of the decision model is active at that time"


class ActivationInPast(ValidationFailed):
    code = "activation_in_past"
    title = "A version cannot be scheduled to activate in the past"


class VersionAlreadyActive(Conflict):
    code = "decision_version_already_active"
    title = "The version has been active; its activation date is history"


class DecisionUnknown(ValidationFailed):
    code = "decision_unknown"
    title = "The decision model has no such decision"


class DecisionInputsInvalid(ValidationFailed):
    code = "decision_inputs_invalid"
    title = "The inputs are not valid FEEL values"


class DecisionEvaluationFailed(ApplicationError):
    """Evaluation stopped (time, depth or size limits): never a silent null."""

    code = "dmn_evaluation_failed"
    status = 422
    title = "The decision could not be evaluated"
