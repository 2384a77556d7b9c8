"""Webhook signatures: HMAC-SHA256 over timestamp, idempotency key and body.

Outbound deliveries and inbound events use the same scheme, so one receiver snippet
serves both sides::

    CivicStack-Timestamp: 1767225600              (Unix seconds when it was signed)
    Idempotency-Key: 0b6f…                         (the same on every retry and replay)
    CivicStack-Signature: v1=<hex>[,v1=<hex>]      (one per active secret, while rotating)

    v1 = hex(HMAC-SHA256(secret, f"{timestamp}.{idempotency_key}." + body))

A receiver checks the signature in constant time, refuses a timestamp outside the
tolerance (so a captured request cannot be posted again later), and remembers the keys it
has processed (so one posted again within the tolerance is not processed twice):
`inbound_key_remember` is that table for CivicStack's own inbound endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

from django.db import IntegrityError, transaction

from exchange.events.errors import (
    WebhookReplayed,
    WebhookSignatureInvalid,
    WebhookSignatureMissing,
    WebhookTimestampInvalid,
)
from exchange.models import Event, EventSender, InboundReceipt

SIGNATURE_HEADER = "CivicStack-Signature"
TIMESTAMP_HEADER = "CivicStack-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SENDER_HEADER = "CivicStack-Sender"
EVENT_HEADER = "CivicStack-Event"
SCHEME = "v1"
#: How far a signed timestamp may be from the receiver's clock (either way), in seconds.
TOLERANCE_SECONDS = 300
MAX_KEY_CHARS = 100


def new_secret() -> str:
    """A fresh shared secret (256 bits, URL-safe text)."""
    return secrets.token_urlsafe(32)


def signature(*, secret: str, timestamp: int | str, idempotency_key: str, body: bytes) -> str:
    """The hex HMAC-SHA256 of one request (without the ``v1=`` prefix)."""
    signed = f"{timestamp}.{idempotency_key}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_headers(
    *, secret: str, idempotency_key: str, body: bytes, now: float | None = None
) -> dict[str, str]:
    """The headers that sign ``body`` with ``secret`` (add them to the request)."""
    timestamp = int(now if now is not None else time.time())
    value = signature(
        secret=secret, timestamp=timestamp, idempotency_key=idempotency_key, body=body
    )
    return {
        TIMESTAMP_HEADER: str(timestamp),
        IDEMPOTENCY_HEADER: idempotency_key,
        SIGNATURE_HEADER: f"{SCHEME}={value}",
    }


def _header(headers: Mapping[str, Any], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    return str(value).strip() if value is not None else ""


def verify(
    *,
    secret: str,
    headers: Mapping[str, Any],
    body: bytes,
    tolerance: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> str:
    """Check a signed request; return its idempotency key, or raise a WebhookRefused.

    Refused: no signature, timestamp or key; a timestamp outside the tolerance; no
    ``v1=`` value that matches (compared in constant time).
    """
    given = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    key = _header(headers, IDEMPOTENCY_HEADER)
    if not given or not stamp or not key:
        missing = [
            n
            for n, v in (
                (SIGNATURE_HEADER, given),
                (TIMESTAMP_HEADER, stamp),
                (IDEMPOTENCY_HEADER, key),
            )
            if not v
        ]
        raise WebhookSignatureMissing(f"Missing header(s): {', '.join(missing)}.")
    if len(key) > MAX_KEY_CHARS:
        raise WebhookSignatureInvalid(f"The idempotency key is longer than {MAX_KEY_CHARS}.")
    if not stamp.isdigit() or len(stamp) > 12:
        raise WebhookTimestampInvalid(f"{TIMESTAMP_HEADER} must be Unix seconds.")
    moment = now if now is not None else time.time()
    skew = int(moment) - int(stamp)
    if abs(skew) > tolerance:
        raise WebhookTimestampInvalid(
            f"The request was signed {abs(skew)} s {'ago' if skew > 0 else 'ahead'}; "
            f"at most {tolerance} s is accepted, so a captured request cannot be replayed.",
            skew_seconds=skew,
        )
    expected = signature(secret=secret, timestamp=stamp, idempotency_key=key, body=body)
    offered = [
        part.strip().split("=", 1)[1]
        for part in given.split(",")
        if part.strip().startswith(f"{SCHEME}=")
    ]
    if not any(hmac.compare_digest(expected, value) for value in offered):
        raise WebhookSignatureInvalid(
            "No v1 signature matches the body, timestamp and idempotency key with the "
            "sender's secret."
        )
    return key


def inbound_key_seen(*, sender: EventSender, idempotency_key: str) -> bool:
    return InboundReceipt.objects.filter(sender=sender, idempotency_key=idempotency_key).exists()


def inbound_key_remember(
    *, sender: EventSender, idempotency_key: str, event: Event | None = None
) -> InboundReceipt:
    """Record a processed key inside the caller's transaction; a key seen before raises
    WebhookReplayed (the unique constraint decides a race between two copies)."""
    try:
        with transaction.atomic():
            return InboundReceipt.objects.create(
                sender=sender, idempotency_key=idempotency_key, event=event
            )
    except IntegrityError as error:
        raise WebhookReplayed(
            f"The idempotency key {idempotency_key!r} was already used by {sender.key_id}.",
            idempotency_key=idempotency_key,
        ) from error
