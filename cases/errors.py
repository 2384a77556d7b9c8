"""Errors of the cases app; the API turns each into problem+json with its `code`."""

from typing import Any

from core.errors import ApplicationError, Conflict, NotFound, ValidationFailed


class ServiceDefinitionInvalid(ValidationFailed):
    """A service directory that cannot be deployed. `errors` maps each file to its problems;
    each message names the BPMN/DMN element id (and line) where there is one."""

    code = "service_definition_invalid"
    title = "The service definition is not valid"


class ServiceNotFound(NotFound):
    code = "service_not_found"
    title = "No such service"


class ServiceNotActive(Conflict):
    code = "service_not_active"
    title = "No version of the service is active now"


class CaseDataInvalid(ValidationFailed):
    """Form data that fails the service's JSON Schema; `errors` is keyed by field path."""

    code = "case_data_invalid"
    status = 422
    title = "The application data is not valid"


class CaseNotFound(NotFound):
    code = "case_not_found"
    title = "No such case"


class CaseStateConflict(Conflict):
    code = "case_state_conflict"
    title = "The case changed meanwhile or is not in a state that allows this"


class WorkItemNotFound(NotFound):
    code = "work_item_not_found"
    title = "No such work item"


class WorkItemConflict(Conflict):
    """Completed twice, claimed by someone else, or no longer open."""

    code = "work_item_conflict"
    title = "The work item is not in a state that allows this"


class CaseDecisionNotFound(NotFound):
    code = "case_decision_not_found"
    title = "No such decision on the case"


class ConnectorFailed(ApplicationError):
    """A platform connector called by a service task failed; the case needs attention."""

    code = "connector_failed"
    status = 502
    title = "A connector of the process failed"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail, **extra)
