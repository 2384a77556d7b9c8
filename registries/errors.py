"""The registries' domain errors (problem+json in the API, messages on the pages)."""

from core.errors import ApplicationError, Conflict, NotFound, ValidationFailed


class RegistryNotFound(NotFound):
    code = "registry_not_found"
    title = "No such registry or version"


class RecordNotFound(NotFound):
    code = "record_not_found"
    title = "no record found"


class SchemaInvalid(ValidationFailed):
    code = "schema_invalid"
    title = "The registry schema is not valid"


class RecordInvalid(ValidationFailed):
    code = "record_invalid"
    title = "The record does not match the registry schema"


class FilterInvalid(ValidationFailed):
    code = "filter_invalid"
    title = "The search or filter is not valid"


class QueryNeedsIndex(ValidationFailed):
    code = "query_needs_index"
    title = "The query must use a searchable field"


class AmbiguousQuery(Conflict):
    code = "ambiguous_query"
    title = "The query matches more than one record"


class RecordTooLarge(ApplicationError):
    code = "payload_too_large"
    status = 413
    title = "The record is too large"


class RegistryNameTaken(Conflict):
    code = "registry_name_taken"
    title = "Another agency already has a registry with this name"


class NotYourData(ApplicationError):
    code = "not_your_data"
    status = 403
    title = "You may only see the use of your own personal data"
