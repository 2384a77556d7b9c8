"""The outbox worker: claim due deliveries, check agreement and consent, send, record.

At least once, exactly one effect:

1. **Claim** (one short transaction): due pending deliveries get a lease (`claimed_until`)
   and one more attempt. PostgreSQL skips rows other workers hold (`SKIP LOCKED`); SQLite
   serialises the claim (BEGIN IMMEDIATE). A worker killed after claiming leaves its rows
   leased: they are due again when the lease ends, and nothing is lost.
2. **Check** each delivery now, not when it was published: the subscription still active,
   its data agreement in force, and, where the agreement rests on consent, the person's
   consent covering it. Otherwise the delivery is *withheld* with the reason (not retried).
   Only the payload fields the agreement lists leave.
3. **Send**: internal subscribers run their handler inside the transaction that records the
   delivery, so the change and "delivered" commit together. Webhooks are posted in parallel
   (a thread pool), signed with HMAC-SHA256 over timestamp, idempotency key (the delivery's
   id, the same on every attempt) and body.
4. **Record** (one transaction per batch): delivered; or retried later with exponential
   back-off and jitter; or *dead* after the subscription's last attempt, or at once when
   the receiver refuses it for good (a 4xx other than 408/425/429). Every delivered,
   withheld and dead delivery is a signed entry of the message log, and every delivered
   one an audit entry about the person.

A crash between send and record means the receiver may see the same idempotency key
again: that is the duplicate the key exists to catch.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import math
import os
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from consent.models import DataAgreementVersion
from consent.selectors import agreement_versions_in_force, consents_covering
from core import audit
from exchange.choices import MessageKind
from exchange.events.handlers import HANDLERS, HandlerContext, HandlerRefused
from exchange.events.webhooks import EVENT_HEADER, sign_headers
from exchange.messages import messages_prepare, messages_write
from exchange.models import Delivery, Event, Subscription
from exchange.models.events import CONSENT_EVENT_TYPE, DeliveryStatus, TargetKind
from identity.models import User

logger = logging.getLogger("civicstack.exchange.events")

#: Receiver answers that mean "try again later"; any other 4xx is a refusal for good.
RETRYABLE_4XX = frozenset({408, 425, 429})
USER_AGENT = "CivicStack-Events/1"
MAX_REASON_CHARS = 500


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


@dataclass(frozen=True)
class DeliveryConfig:
    batch: int = 50
    lease_seconds: float = 60.0
    timeout_seconds: float = 5.0
    concurrency: int = 10
    backoff_seconds: float = 10.0
    backoff_cap_seconds: float = 3600.0

    def __post_init__(self) -> None:
        if self.batch < 1 or self.concurrency < 1 or self.timeout_seconds <= 0:
            raise ValueError("batch, concurrency and timeout must be positive")
        # A batch must be sent and recorded within its lease, else another worker may
        # claim (and send) it again while this one still holds it.
        # The worker sends one batch while it records the one before (see deliver_loop),
        # so a claim must outlast two batches' sending.
        needed = 2 * math.ceil(self.batch / self.concurrency) * self.timeout_seconds + 5
        if self.lease_seconds < needed:
            raise ValueError(
                f"a lease of {self.lease_seconds:g} s is too short for batches of "
                f"{self.batch} sent {self.concurrency} at a time with a "
                f"{self.timeout_seconds:g} s timeout: use at least {needed:g} s"
            )

    @classmethod
    def from_settings(cls, **overrides: Any) -> DeliveryConfig:
        values: dict[str, Any] = {
            "batch": int(_setting("CIVICSTACK_EVENT_BATCH", cls.batch)),
            "lease_seconds": _setting("CIVICSTACK_EVENT_LEASE_SECONDS", cls.lease_seconds),
            "timeout_seconds": _setting("CIVICSTACK_EVENT_TIMEOUT_SECONDS", cls.timeout_seconds),
            "concurrency": int(_setting("CIVICSTACK_EVENT_CONCURRENCY", cls.concurrency)),
            "backoff_seconds": _setting("CIVICSTACK_EVENT_BACKOFF_SECONDS", cls.backoff_seconds),
            "backoff_cap_seconds": _setting(
                "CIVICSTACK_EVENT_BACKOFF_CAP_SECONDS", cls.backoff_cap_seconds
            ),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def backoff_delay(
    *, attempt: int, base_seconds: float, cap_seconds: float, rng: random.Random | None = None
) -> float:
    """Seconds before the attempt after ``attempt``: exponential, capped, with jitter (half
    fixed, half random) so receivers that fail together are not retried together."""
    ceiling = min(cap_seconds, base_seconds * 2 ** max(attempt - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


# --- 1. claim ------------------------------------------------------------------------------


def deliveries_claim(
    *,
    worker: str,
    limit: int,
    lease_seconds: float,
    event_id: Any = None,
    now: datetime | None = None,
) -> list[uuid.UUID]:
    """Lease up to ``limit`` due deliveries to ``worker``; their ids, oldest due first."""
    moment = now or timezone.now()
    with transaction.atomic():
        due = Delivery.objects.filter(
            Q(claimed_until__isnull=True) | Q(claimed_until__lte=moment),
            status=DeliveryStatus.PENDING,
            next_attempt_at__lte=moment,
        )
        if event_id is not None:
            due = due.filter(event_id=event_id)
        due = due.order_by("next_attempt_at")
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("pk", flat=True)[:limit])
        if ids:
            Delivery.objects.filter(pk__in=ids).update(
                claimed_until=moment + timedelta(seconds=lease_seconds),
                claimed_by=worker,
                attempts=F("attempts") + 1,
                updated_at=moment,
            )
    return ids


# --- 2. check ------------------------------------------------------------------------------


@dataclass
class _Plan:
    delivery: Delivery
    version: DataAgreementVersion | None = None
    data: dict[str, Any] = field(default_factory=dict)
    withheld: str = ""


def _plan(deliveries: Sequence[Delivery], payloads: dict[Any, dict[str, Any]]) -> list[_Plan]:
    """Agreement and consent, checked now for each delivery: the versions in force of the
    batch's agreements in one read, the consents of its people in another (both read
    afresh for every batch, never kept between batches)."""
    live = [d for d in deliveries if d.subscription.active]
    versions = agreement_versions_in_force(
        agreement_ids={d.subscription.agreement_id for d in live}
    )
    asked = []
    for delivery in live:
        version = versions.get(delivery.subscription.agreement_id)
        if isinstance(version, DataAgreementVersion) and version.needs_consent:
            asked.append((delivery.event.person_id, version))
    covered = consents_covering(pairs=asked)
    plans: list[_Plan] = []
    for delivery in deliveries:
        plan = _Plan(delivery)
        plans.append(plan)
        subscription = delivery.subscription
        if not subscription.active:
            plan.withheld = "The subscription was ended before the event was delivered."
            continue
        if delivery.event.type == CONSENT_EVENT_TYPE:
            _plan_consent_notice(plan, versions, payloads.get(delivery.event_id, {}))
            continue
        agreement = subscription.agreement
        version = versions[agreement.pk]
        if not isinstance(version, DataAgreementVersion):
            plan.withheld = f"No agreement in force: {version.detail}"
            continue
        plan.version = version
        event = delivery.event
        if version.needs_consent and (event.person_id, agreement.pk) not in covered:
            plan.withheld = (
                f"The data agreement {agreement.code} rests on consent, and the person's "
                "consent does not cover it (never given, refused or withdrawn)."
            )
            continue
        payload = payloads.get(event.pk, {})
        allowed = set(version.attributes)
        plan.data = {k: v for k, v in payload.items() if k in allowed}
        if not plan.data:
            plan.withheld = (
                f"The data agreement {agreement.code} shares none of this event's fields."
            )
    return plans


def _plan_consent_notice(
    plan: _Plan,
    versions: Mapping[Any, object],
    notice: dict[str, Any],
) -> None:
    """A consent webhook's notice: sent while its webhook exists, is enabled and still asks
    for the event. It is itself about consent, so neither the person's consent nor the
    agreement being in force is asked (a withdrawal must reach the party even then)."""
    hook = plan.delivery.subscription.consent_webhook
    event = str(notice.get("event", ""))
    if hook is None:
        plan.withheld = "The consent webhook was deleted before the notice was delivered."
    elif hook.disabled:
        plan.withheld = "The consent webhook is disabled."
    elif event not in (hook.events or []):
        plan.withheld = f"The consent webhook no longer asks for {event or 'this event'}."
    else:
        version = versions.get(plan.delivery.subscription.agreement_id)
        plan.version = version if isinstance(version, DataAgreementVersion) else None
        plan.data = dict(notice)


# --- 3. send -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    error: str = ""


#: The most of a receiver's answer read (the status is what counts; a longer answer is cut
#: and its connection not reused).
MAX_ANSWER_BYTES = 64 * 1024


class WebhookSender:
    """Posts signed webhooks in parallel: a thread pool, and in each thread one keep-alive
    connection per receiver (`http.client`: a fraction of the CPU of a general HTTP client,
    which matters when one process sends hundreds a second). Redirects are not followed;
    TLS certificates are verified. The usual proxy variables (`HTTPS_PROXY`, `HTTP_PROXY`,
    `NO_PROXY`) are honoured: HTTPS goes through the proxy's CONNECT tunnel."""

    def __init__(self, *, concurrency: int, timeout_seconds: float) -> None:
        self.timeout = timeout_seconds
        self._local = threading.local()
        self._tls: ssl.SSLContext | None = None
        self._proxies = {k: v for k, v in getproxies().items() if k in ("http", "https")}
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="webhook")
        self._dispatch = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-batch")

    def _connections(self) -> dict[tuple[str, str], tuple[http.client.HTTPConnection, bool]]:
        connections: dict[tuple[str, str], tuple[http.client.HTTPConnection, bool]] | None = (
            getattr(self._local, "connections", None)
        )
        if connections is None:
            connections = self._local.connections = {}
        return connections

    def _proxy(self, scheme: str, netloc: str) -> str | None:
        """The proxy's host:port for this receiver, or None to go direct."""
        proxy = self._proxies.get(scheme)
        if not proxy or proxy_bypass(urlsplit(f"//{netloc}").hostname or netloc):
            return None
        return urlsplit(proxy if "//" in proxy else f"//{proxy}").netloc or None

    def _connect(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        """A new connection to the receiver, and whether requests name the absolute URL
        (plain HTTP through a proxy)."""
        proxy = self._proxy(scheme, netloc)
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            if proxy is None:
                return (
                    http.client.HTTPSConnection(netloc, timeout=self.timeout, context=self._tls),
                    False,
                )
            tunnel = http.client.HTTPSConnection(proxy, timeout=self.timeout, context=self._tls)
            tunnel.set_tunnel(netloc)  # CONNECT through the proxy, then TLS with the receiver
            return tunnel, False
        if proxy is None:
            return http.client.HTTPConnection(netloc, timeout=self.timeout), False
        return http.client.HTTPConnection(proxy, timeout=self.timeout), True

    def _post(self, item: tuple[str, dict[str, str], bytes]) -> SendResult:
        url, headers, body = item
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return SendResult(None, f"InvalidURL: {url[:200]}")
        target = parts.path or "/"
        if parts.query:
            target += f"?{parts.query}"
        headers = {
            **headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Connection": "keep-alive",
        }
        key = (parts.scheme, parts.netloc)
        connections = self._connections()
        for fresh in (False, True):
            found = connections.get(key)
            reused = found is not None
            if found is None:
                found = connections[key] = self._connect(parts.scheme, parts.netloc)
            connection, absolute = found
            try:
                connection.request("POST", url if absolute else target, body=body, headers=headers)
                response = connection.getresponse()
                response.read(MAX_ANSWER_BYTES)
                if not response.isclosed() or response.will_close:
                    # an answer longer than we read, or the receiver closes: start afresh
                    connection.close()
                    connections.pop(key, None)
                return SendResult(response.status)
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                connections.pop(key, None)
                stale = isinstance(
                    error, http.client.RemoteDisconnected | ConnectionResetError | BrokenPipeError
                )
                if reused and stale and not fresh:
                    # The receiver closed an idle keep-alive connection: send again on a new
                    # one (a copy that did arrive carries the same idempotency key).
                    continue
                return SendResult(None, f"{type(error).__name__}: {str(error)[:200]}")
        return SendResult(None, "no connection")  # not reached: the second try returns

    def send(self, items: Sequence[tuple[str, dict[str, str], bytes]]) -> list[SendResult]:
        return list(self._pool.map(self._post, items))

    def send_async(
        self, items: Sequence[tuple[str, dict[str, str], bytes]]
    ) -> Future[list[SendResult]]:
        """Send in the background; the caller records the batch before while it flies."""
        return self._dispatch.submit(self.send, items)

    def close(self) -> None:
        self._dispatch.shutdown(wait=True)
        self._pool.shutdown(wait=True)


def _records_of(plans: Iterable[_Plan]) -> dict[tuple[int, str], list[str]]:
    """The subscriber's own record ids of each person (to find the person at their end)."""
    from registry.models import SourceRecord

    wanted = [(p.delivery.subscription.agency_id, p.delivery.event.person_id) for p in plans]
    if not wanted:
        return {}
    rows = (
        SourceRecord.objects.filter(
            agency_id__in={a for a, _ in wanted}, person_id__in={p for _, p in wanted}
        )
        .order_by("agency_record_id")
        .values_list("agency_id", "person_id", "agency_record_id")
    )
    found: dict[tuple[int, str], list[str]] = {}
    for agency_id, person_id, record_id in rows:
        found.setdefault((agency_id, person_id), []).append(record_id)
    return found


def _told_as(plan: _Plan) -> tuple[str, str, int | None]:
    """The event type the receiver is told, the agreement's code and version."""
    event = plan.delivery.event
    if event.type == CONSENT_EVENT_TYPE:
        version = plan.data.get("agreement_version")
        return (
            str(plan.data.get("event", event.type)),
            str(plan.data.get("agreement", "")),
            int(version) if isinstance(version, int) else None,
        )
    assert plan.version is not None
    return event.type, plan.version.agreement.code, plan.version.version


def webhook_body(plan: _Plan, records: list[str]) -> bytes:
    delivery, event = plan.delivery, plan.delivery.event
    told, agreement, agreement_version = _told_as(plan)
    body = {
        "id": str(delivery.id),
        "event": str(event.id),
        "type": told,
        "occurred_at": event.occurred_at.isoformat(),
        "recorded_at": event.recorded_at.isoformat(),
        "source": event.source,
        "person": event.person_id,
        "records": records,
        "agreement": agreement,
        "agreement_version": agreement_version,
        "data": plan.data,
        "attempt": delivery.attempts,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


# --- 4. record -----------------------------------------------------------------------------


@dataclass
class _Outcome:
    plan: _Plan
    status: str  # delivered | withheld | dead | retry
    reason: str = ""
    status_code: int | None = None
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunCounts:
    claimed: int = 0
    delivered: int = 0
    withheld: int = 0
    retried: int = 0
    dead: int = 0

    def add(self, other: RunCounts) -> None:
        for name in ("claimed", "delivered", "withheld", "retried", "dead"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _classify(plan: _Plan, result: SendResult) -> _Outcome:
    code = result.status_code
    if code is not None and 200 <= code < 300:
        return _Outcome(plan, "delivered", status_code=code)
    if code is not None and 300 <= code < 500 and code not in RETRYABLE_4XX:
        return _Outcome(
            plan, "dead", f"The receiver refused it for good (HTTP {code}).", status_code=code
        )
    reason = result.error or f"The receiver answered HTTP {code}."
    return _Outcome(plan, "retry", reason, status_code=code)


def _purpose(plan: _Plan) -> str:
    if plan.version is not None:
        return plan.version.purpose.code
    return str(plan.data.get("purpose", ""))


def _message_fields(outcome: _Outcome, actor: User) -> dict[str, Any]:
    """The message-log entry of a final outcome (delivered, withheld or dead)."""
    plan = outcome.plan
    delivery, event, subscription = plan.delivery, plan.delivery.event, plan.delivery.subscription
    kind = {
        "delivered": MessageKind.RESPONSE,
        "withheld": MessageKind.DENIED,
        "dead": MessageKind.FAILED,
    }[outcome.status]
    body: dict[str, Any] = {
        "delivery": str(delivery.id),
        "idempotency_key": delivery.idempotency_key,
        "attempts": delivery.attempts,
        "attributes": sorted(plan.data),
    }
    if outcome.status_code is not None:
        body["status_code"] = outcome.status_code
    if outcome.status == "delivered":
        body["data"] = plan.data
        if outcome.result:
            body["result"] = outcome.result
    return {
        "kind": kind,
        "exchange_id": event.id,
        "consumer": subscription.agency.code,
        "provider": event.source,
        "service": f"event:{event.type}",
        "actor": actor.username,
        "status": outcome.status,
        "person": event.person_id,
        "purpose": _purpose(plan),
        "client": subscription.url or f"internal:{subscription.handler}",
        "reason": outcome.reason[:MAX_REASON_CHARS],
        "body": body,
    }


def _audit_delivered(outcome: _Outcome, actor: User) -> dict[str, Any]:
    """Personal data left for an agency: an audit entry about the person (its arguments,
    written with the batch's others by `audit.record_many`)."""
    plan = outcome.plan
    delivery, event, subscription = plan.delivery, plan.delivery.event, plan.delivery.subscription
    return {
        "actor": actor,
        "action": "event.deliver",
        "subject_person": event.person_id,
        "target": f"exchange.delivery:{delivery.id}",
        "agency": subscription.agency.code,
        "purpose": _purpose(plan),
        "data": {
            "type": _told_as(plan)[0],
            "attributes": sorted(plan.data),
            "agreement": subscription.agreement.code,
        },
    }


def _final_status(outcome: _Outcome) -> str:
    delivery = outcome.plan.delivery
    if outcome.status == "retry" and delivery.attempts >= delivery.subscription.max_attempts:
        outcome.status = "dead"
        outcome.reason = f"Failed {delivery.attempts} times; last: {outcome.reason}"
    outcome.reason = outcome.reason[:MAX_REASON_CHARS]
    return outcome.status


def _record(
    outcomes: Sequence[_Outcome], *, worker: str, actor: User, config: DeliveryConfig
) -> RunCounts:
    """Write a batch's outcomes in the caller's transaction (or one of its own): one read
    of which are still pending, one UPDATE per kind of outcome, one append to the message
    log, an audit entry per delivered one. An outcome another worker recorded first (its
    lease ran out and the delivery was sent again) is left as that worker wrote it."""
    counts = RunCounts()
    if not outcomes:
        return counts
    now = timezone.now()
    retry_at: dict[Any, datetime] = {}
    with transaction.atomic():
        rows = Delivery.objects.filter(
            pk__in=[o.plan.delivery.pk for o in outcomes], status=DeliveryStatus.PENDING
        )
        if connection.features.has_select_for_update:
            rows = rows.select_for_update()
        holder = dict(rows.values_list("pk", "claimed_by"))
        groups: dict[tuple[str, int | None, str], list[Any]] = {}
        final: list[_Outcome] = []
        for outcome in outcomes:
            delivery = outcome.plan.delivery
            status = _final_status(outcome)
            if delivery.pk not in holder:
                continue
            if status == "retry":
                if holder[delivery.pk] != worker:
                    continue  # another worker holds it now: its attempt decides
                delay = backoff_delay(
                    attempt=delivery.attempts,
                    base_seconds=config.backoff_seconds,
                    cap_seconds=config.backoff_cap_seconds,
                )
                due = now + timedelta(seconds=delay)
                Delivery.objects.filter(pk=delivery.pk).update(
                    next_attempt_at=due,
                    claimed_until=None,
                    claimed_by="",
                    last_status_code=outcome.status_code,
                    reason=outcome.reason,
                    updated_at=now,
                )
                retry_at[delivery.event_id] = min(due, retry_at.get(delivery.event_id, due))
                counts.retried += 1
                continue
            groups.setdefault((status, outcome.status_code, outcome.reason), []).append(delivery.pk)
            final.append(outcome)
        for (status, code, reason), pks in groups.items():
            Delivery.objects.filter(pk__in=pks).update(
                status=status,
                delivered_at=now if status == DeliveryStatus.DELIVERED else None,
                claimed_until=None,
                claimed_by="",
                last_status_code=code,
                reason=reason,
                updated_at=now,
            )
        if final:
            messages_write(messages_prepare([_message_fields(o, actor) for o in final]))
        for outcome in final:
            setattr(counts, outcome.status, getattr(counts, outcome.status) + 1)
        audit.record_many([_audit_delivered(o, actor) for o in final if o.status == "delivered"])
        for event_id, at in retry_at.items():
            transaction.on_commit(functools.partial(_schedule, event_id, at))
    return counts


def _schedule(event_id: Any, at: datetime) -> None:
    """Wake a task worker when the retry is due (the sweep finds it anyway)."""
    from exchange.events.tasks import event_deliver

    if event_deliver.get_backend().supports_defer:
        event_deliver.using(run_after=at).enqueue(event_id=str(event_id))


class _RecordedElsewhere(Exception):
    """Another worker recorded this delivery while the handler ran."""


def _deliver_internal(
    plan: _Plan, *, worker: str, actor: User, config: DeliveryConfig
) -> RunCounts:
    """Run an internal handler and record it in one transaction; a failure rolls the
    handler's writes back and is recorded (retry or dead) in a transaction of its own."""
    subscription = plan.delivery.subscription
    handler = HANDLERS.get(subscription.handler)
    try:
        with transaction.atomic():
            if handler is None:
                raise HandlerRefused(f"No internal handler {subscription.handler!r}.")
            result = handler.run(
                HandlerContext(plan.delivery.event, subscription, plan.data, actor)
            )
            outcome = _Outcome(plan, "delivered", result=result)
            counts = _record([outcome], worker=worker, actor=actor, config=config)
            if not counts.delivered:
                raise _RecordedElsewhere  # roll the handler's writes back: applied once
            return counts
    except _RecordedElsewhere:
        return RunCounts()
    except HandlerRefused as error:
        failed = _Outcome(plan, "dead", f"The handler refused it: {error.detail}")
    except Exception as error:
        logger.exception(
            "internal event handler failed",
            extra={"delivery": str(plan.delivery.id), "handler": subscription.handler},
        )
        failed = _Outcome(plan, "retry", f"The handler failed: {type(error).__name__}")
    return _record([failed], worker=worker, actor=actor, config=config)


# --- the loop ------------------------------------------------------------------------------


def _system_actor() -> User:
    from identity.services import system_actor

    return system_actor()


def _secret(subscription: Subscription) -> str:
    """A consent webhook's carrier signs with the webhook's own secret, read now."""
    hook = subscription.consent_webhook
    return hook.secret if hook is not None else subscription.secret


def _url(subscription: Subscription) -> str:
    hook = subscription.consent_webhook
    return hook.payload_url if hook is not None else subscription.url


@dataclass
class _Batch:
    """A claimed batch, checked, its internal deliveries done, its webhooks signed."""

    ids: list[Any]
    counts: RunCounts
    outcomes: list[_Outcome]
    webhooks: list[_Plan]
    items: list[tuple[str, dict[str, str], bytes]]


def _batch_prepare(
    *, worker: str, config: DeliveryConfig, actor: User, event_id: Any = None
) -> _Batch | None:
    """Claim a batch; check agreement and consent; run internal handlers; sign webhooks."""
    ids = deliveries_claim(
        worker=worker, limit=config.batch, lease_seconds=config.lease_seconds, event_id=event_id
    )
    if not ids:
        return None
    counts = RunCounts(claimed=len(ids))
    deliveries = list(
        Delivery.objects.filter(pk__in=ids, claimed_by=worker)
        .order_by("next_attempt_at")
        # what sending and recording use (each timestamp read costs a parse per row)
        .only("id", "event", "subscription", "status", "attempts", "claimed_by")
    )
    # Each event and subscription read (and its payload or secret decrypted) once per
    # batch, however many of its deliveries the batch holds.
    events = {e.pk: e for e in Event.objects.filter(pk__in={d.event_id for d in deliveries})}
    subscriptions = {
        s.pk: s
        for s in Subscription.objects.filter(
            pk__in={d.subscription_id for d in deliveries}
        ).select_related("agency", "agreement", "consent_webhook")
    }
    for delivery in deliveries:
        delivery.event = events[delivery.event_id]
        delivery.subscription = subscriptions[delivery.subscription_id]
    payloads = {pk: json.loads(event.payload or "{}") for pk, event in events.items()}
    keys = {pk: _secret(subscription) for pk, subscription in subscriptions.items()}
    outcomes: list[_Outcome] = []
    webhooks: list[_Plan] = []
    for plan in _plan(deliveries, payloads):
        if plan.withheld:
            outcomes.append(_Outcome(plan, "withheld", plan.withheld))
        elif plan.delivery.subscription.target == TargetKind.INTERNAL:
            counts.add(_deliver_internal(plan, worker=worker, actor=actor, config=config))
        else:
            webhooks.append(plan)
    items = []
    records = _records_of(webhooks)
    for plan in webhooks:
        delivery = plan.delivery
        subscription = delivery.subscription
        body = webhook_body(
            plan, records.get((subscription.agency_id, delivery.event.person_id), [])
        )
        headers = sign_headers(
            secret=keys[subscription.pk], idempotency_key=delivery.idempotency_key, body=body
        )
        headers[EVENT_HEADER] = _told_as(plan)[0]
        items.append((_url(subscription), headers, body))
    return _Batch(ids, counts, outcomes, webhooks, items)


def _batch_finish(
    batch: _Batch,
    results: Sequence[SendResult],
    *,
    worker: str,
    config: DeliveryConfig,
    actor: User,
) -> RunCounts:
    """Record what the receivers answered (and the withheld ones) in one transaction."""
    outcomes = batch.outcomes + [
        _classify(plan, result) for plan, result in zip(batch.webhooks, results, strict=True)
    ]
    counts = batch.counts
    counts.add(_record(outcomes, worker=worker, actor=actor, config=config))
    for outcome in outcomes:
        if outcome.status in ("retry", "dead"):
            logger.warning(
                "event delivery failed",
                extra={
                    "delivery": str(outcome.plan.delivery.id),
                    "subscriber": outcome.plan.delivery.subscription.agency.code,
                    "attempt": outcome.plan.delivery.attempts,
                    "outcome": outcome.status,
                    "reason": outcome.reason,
                },
            )
    return counts


def deliver_batch(
    *,
    worker: str,
    config: DeliveryConfig,
    sender: WebhookSender,
    actor: User | None = None,
    event_id: Any = None,
) -> RunCounts:
    """Claim one batch, and check, send and record it."""
    actor = actor or _system_actor()
    batch = _batch_prepare(worker=worker, config=config, actor=actor, event_id=event_id)
    if batch is None:
        return RunCounts()
    results = sender.send(batch.items) if batch.items else []
    return _batch_finish(batch, results, worker=worker, config=config, actor=actor)


def deliver_due(
    *,
    worker: str | None = None,
    config: DeliveryConfig | None = None,
    sender: WebhookSender | None = None,
    event_id: Any = None,
    max_batches: int | None = None,
) -> RunCounts:
    """Deliver everything due now (of one event, if given), batch by batch."""
    config = config or DeliveryConfig.from_settings()
    worker = worker or new_worker_id()
    own_sender = sender is None
    sender = sender or WebhookSender(
        concurrency=config.concurrency, timeout_seconds=config.timeout_seconds
    )
    total = RunCounts()
    actor = _system_actor()
    try:
        batches = 0
        while max_batches is None or batches < max_batches:
            counts = deliver_batch(
                worker=worker, config=config, sender=sender, actor=actor, event_id=event_id
            )
            total.add(counts)
            batches += 1
            if counts.claimed < config.batch:
                break
    finally:
        if own_sender:
            sender.close()
    return total


def pending_count() -> int:
    return Delivery.objects.filter(status=DeliveryStatus.PENDING).count()


def next_due_in(now: datetime | None = None) -> float | None:
    """Seconds until the next pending delivery can be claimed (None: none pending)."""
    moment = now or timezone.now()
    row = (
        Delivery.objects.filter(status=DeliveryStatus.PENDING)
        .values_list("next_attempt_at", "claimed_until")
        .order_by("next_attempt_at")
    )
    soonest: datetime | None = None
    for due, claimed in row[:1000]:
        at = max(due, claimed) if claimed is not None else due
        soonest = at if soonest is None else min(soonest, at)
    if soonest is None:
        return None
    return max(0.0, (soonest - moment).total_seconds())


def deliver_loop(
    *,
    config: DeliveryConfig | None = None,
    once: bool = False,
    until_done: bool = False,
    poll_seconds: float = 1.0,
    max_seconds: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    on_batch: Callable[[RunCounts], None] | None = None,
) -> RunCounts:
    """The worker: deliver what is due, then wait for more.

    Pipelined: while one batch's webhooks are in flight, the batch before is recorded and
    the next is claimed, so the database work and the receivers overlap.
    ``once``: stop when nothing is due now. ``until_done``: stop when nothing is pending at
    all (waiting out leases and back-offs). ``max_seconds`` bounds the run."""
    config = config or DeliveryConfig.from_settings()
    worker = new_worker_id()
    sender = WebhookSender(concurrency=config.concurrency, timeout_seconds=config.timeout_seconds)
    actor = _system_actor()
    started = time.monotonic()
    total = RunCounts()
    inflight: tuple[_Batch, Future[list[SendResult]] | None] | None = None

    def finish() -> None:
        nonlocal inflight
        if inflight is None:
            return
        batch, future = inflight
        inflight = None
        results = future.result() if future is not None else []
        counts = _batch_finish(batch, results, worker=worker, config=config, actor=actor)
        total.add(counts)
        if on_batch is not None:
            on_batch(counts)

    try:
        while not should_stop():
            if max_seconds is not None and time.monotonic() - started > max_seconds:
                break
            batch = _batch_prepare(worker=worker, config=config, actor=actor)
            if batch is not None:
                future = sender.send_async(batch.items) if batch.items else None
                finish()
                inflight = (batch, future)
                continue
            finish()
            if once:
                break
            wait = next_due_in()
            if wait is None and until_done:
                break
            time.sleep(max(0.01, min(poll_seconds, wait if wait is not None else poll_seconds)))
        finish()
    finally:
        sender.close()
    return total
