"""The errors of events and webhooks, each with a stable code (problem+json in the API)."""

from core.errors import ApplicationError, Conflict, NotFound, ValidationFailed


class EventTypeUnknown(ValidationFailed):
    code = "event_type_unknown"
    title = "The event type is not one CivicStack knows"


class EventPayloadInvalid(ValidationFailed):
    code = "event_payload_invalid"
    title = "The event's data is not valid for its type"


class EventPayloadTooLarge(ApplicationError):
    code = "payload_too_large"
    status = 413
    title = "The event is too large"


class EventKeyReused(Conflict):
    code = "idempotency_key_reused"
    title = "This idempotency key was used for a different event"


class EventNotFound(NotFound):
    code = "event_not_found"
    title = "No such event"


class SubscriptionInvalid(ValidationFailed):
    code = "subscription_invalid"
    title = "The subscription cannot be made as asked"


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"
    title = "No such subscription"


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"
    title = "No such delivery"


class DeliveryNotReplayable(Conflict):
    code = "delivery_not_replayable"
    title = "Only dead or withheld deliveries can be replayed"


class SenderInvalid(ValidationFailed):
    code = "event_sender_invalid"
    title = "The event sender cannot be registered as asked"


# --- inbound webhooks: each refusal says why, and is logged --------------------------------


class WebhookRefused(ApplicationError):
    code = "webhook_refused"
    status = 401
    title = "The webhook request was refused"


class WebhookSignatureMissing(WebhookRefused):
    code = "webhook_signature_missing"
    title = "The request is not signed"


class WebhookSenderUnknown(WebhookRefused):
    code = "webhook_sender_unknown"
    title = "The sender is not registered or not active"


class WebhookSignatureInvalid(WebhookRefused):
    code = "webhook_signature_invalid"
    title = "The signature does not match the request"


class WebhookTimestampInvalid(WebhookRefused):
    code = "webhook_timestamp_invalid"
    title = "The request's timestamp is too old, in the future or not a number"


class WebhookReplayed(WebhookRefused):
    code = "webhook_replayed"
    status = 409
    title = "This idempotency key was already used: the request is a replay"


class WebhookTooLarge(WebhookRefused):
    code = "payload_too_large"
    status = 413
    title = "The request body is too large"


class WebhookBodyInvalid(WebhookRefused):
    code = "webhook_body_invalid"
    status = 400
    title = "The request body is not a valid event"
