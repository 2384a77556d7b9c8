from core.errors import ApplicationError, NotFound


class ServiceNotFound(NotFound):
    code = "data_service_not_found"
    title = "No such data service"


class ExchangeDenied(ApplicationError):
    """A request the exchange refused; `reason_code` says which check refused it."""

    code = "exchange_denied"
    status = 403
    title = "The exchange refused this request"


class ConsentRequired(ExchangeDenied):
    code = "consent_required"
    title = "The person has not consented to this exchange"


class ProviderUnavailable(ApplicationError):
    code = "provider_unavailable"
    status = 502
    title = "The providing agency's system could not answer"


class MessageNotFound(NotFound):
    code = "message_not_found"
    title = "No such message"
