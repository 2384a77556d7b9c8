"""Text messages (SMS) behind one function, the provider chosen by configuration.

`send_sms(to=..., body=...)` checks the number is E.164 ("+447700900123") and hands the
message to the backend named by the setting ``CIVICSTACK_SMS_BACKEND``:

- ``core.sms.LoggingSmsBackend`` (the default): writes one log line with the number masked
  but for its last three digits and the message's length, and keeps nothing else (the
  text may hold personal data, so it is not logged);
- ``core.sms.HttpSmsBackend``: a JSON POST to the provider at ``CIVICSTACK_SMS_URL`` with
  the bearer token ``CIVICSTACK_SMS_TOKEN``, a timeout, and retries on network errors, 429
  and 5xx (the same idempotency key on every try, so the provider can drop repeats).

A provider that refuses the message (4xx) raises `SmsRejected`; one that cannot take it
after the retries raises `SmsUnavailable`, which is worth trying again later.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import phonenumbers
import requests
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from core.errors import ApplicationError, ValidationFailed

logger = logging.getLogger("civicstack.sms")

DEFAULT_BACKEND = "core.sms.LoggingSmsBackend"
MAX_BODY = 1_600  # ten concatenated segments: providers refuse longer


class InvalidPhoneNumber(ValidationFailed):
    code = "phone_number_invalid"
    title = "The phone number is not a valid international (E.164) number"


class SmsRejected(ApplicationError):
    """The provider refused the message: sending it again will not help."""

    code = "sms_rejected"
    status = 502
    title = "The SMS provider refused the message"


class SmsUnavailable(ApplicationError):
    """The provider could not be reached or failed (5xx, 429) after the retries."""

    code = "sms_unavailable"
    status = 503
    title = "The SMS provider could not take the message"


@dataclass(frozen=True)
class SmsResult:
    backend: str
    to: str  # masked: only the last three digits
    message_id: str = ""


class SmsBackend(Protocol):
    def send(self, *, to: str, body: str) -> SmsResult: ...


def mask(number: str) -> str:
    """The number with every digit but the last three hidden ("*********123")."""
    return "*" * max(len(number) - 3, 0) + number[-3:]


def e164(number: str) -> str:
    """`number` unchanged if it is a valid E.164 number, else `InvalidPhoneNumber`."""
    text = (number or "").strip()
    problem = InvalidPhoneNumber(
        f"{mask(text)} is not a phone number in international form, like +441632960961.",
        errors={"to": ["not an E.164 phone number"]},
    )
    if not text.startswith("+") or not text[1:].isdigit() or not 8 <= len(text) <= 16:
        raise problem
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise problem from None
    if not phonenumbers.is_possible_number(parsed):
        raise problem
    if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != text:
        raise problem
    return text


def backend() -> SmsBackend:
    path = getattr(settings, "CIVICSTACK_SMS_BACKEND", "") or DEFAULT_BACKEND
    return import_string(path)()


def send_sms(*, to: str, body: str) -> SmsResult:
    """Send `body` to the E.164 number `to` through the configured backend."""
    number = e164(to)
    if not body.strip():
        raise ValidationFailed("An SMS needs some text.", errors={"body": ["empty"]})
    if len(body) > MAX_BODY:
        raise ValidationFailed(
            f"An SMS holds at most {MAX_BODY} characters.", errors={"body": ["too long"]}
        )
    return backend().send(to=number, body=body)


class LoggingSmsBackend:
    """Development and the default: nothing leaves the machine, nothing is kept."""

    def send(self, *, to: str, body: str) -> SmsResult:
        message_id = uuid.uuid4().hex
        logger.info(
            "sms logged, not sent",
            extra={"to": mask(to), "characters": len(body), "message_id": message_id},
        )
        return SmsResult(backend="logging", to=mask(to), message_id=message_id)


RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class HttpSmsBackend:
    """A provider's HTTP API: POST {"to", "body"} as JSON; any 2xx is accepted, and its
    JSON `id` (if any) is the provider's message id."""

    def __init__(
        self,
        *,
        url: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float | None = None,
    ) -> None:
        self.url = url or str(getattr(settings, "CIVICSTACK_SMS_URL", "") or "")
        self.token = token or str(getattr(settings, "CIVICSTACK_SMS_TOKEN", "") or "")
        self.timeout = float(
            timeout if timeout is not None else getattr(settings, "CIVICSTACK_SMS_TIMEOUT", 5.0)
        )
        self.retries = int(
            retries if retries is not None else getattr(settings, "CIVICSTACK_SMS_RETRIES", 2)
        )
        self.backoff = float(
            backoff if backoff is not None else getattr(settings, "CIVICSTACK_SMS_BACKOFF", 0.5)
        )
        if not self.url:
            raise ImproperlyConfigured(
                "CIVICSTACK_SMS_URL is not set: the SMS provider is unknown."
            )
        if not self.token:
            raise ImproperlyConfigured("CIVICSTACK_SMS_TOKEN is not set: the provider needs one.")

    def send(self, *, to: str, body: str) -> SmsResult:
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Idempotency-Key": uuid.uuid4().hex,
            "Accept": "application/json",
        }
        payload = {"to": to, "body": body}
        problem = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = requests.post(
                    self.url, json=payload, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                problem = f"{type(exc).__name__}"
                continue
            if 200 <= response.status_code < 300:
                return SmsResult(backend="http", to=mask(to), message_id=_message_id(response))
            detail = _detail(response)
            if response.status_code not in RETRYABLE:
                raise SmsRejected(
                    f"The SMS provider refused the message to {mask(to)}: "
                    f"HTTP {response.status_code}{detail}.",
                    http_status=response.status_code,
                )
            problem = f"HTTP {response.status_code}{detail}"
        raise SmsUnavailable(
            f"The SMS provider did not take the message to {mask(to)} after "
            f"{self.retries + 1} tries: {problem}."
        )


def _message_id(response: requests.Response) -> str:
    try:
        data: Any = response.json()
    except ValueError:
        return ""
    return str(data.get("id", ""))[:100] if isinstance(data, dict) else ""


def _detail(response: requests.Response) -> str:
    """The provider's own words, briefly (its error body may be JSON or text)."""
    try:
        data: Any = response.json()
    except ValueError:
        text = response.text.strip()
    else:
        text = str(data.get("detail") or data.get("error") or "") if isinstance(data, dict) else ""
    return f" ({text[:200]})" if text else ""
