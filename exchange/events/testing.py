"""A webhook receiver that honours idempotency keys, for tests and the fan-out benchmark.

It listens on 127.0.0.1 (a port of its own), checks each request's signature with the
subscription's secret, processes each idempotency key once (a repeat is answered 200 and
counted as a duplicate caught), and counts an event processed under two different keys
as a duplicate *not* caught, the failure that keys exist to prevent. Tests can script
its answers (``statuses``: e.g. 500, 500, then 200).
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from exchange.events.errors import WebhookRefused
from exchange.events.webhooks import verify


@dataclass
class ReceiverStats:
    requests: int = 0
    processed: int = 0  # distinct keys whose event was processed
    duplicates_caught: int = 0  # a key seen before: answered, not processed again
    duplicates_not_caught: int = 0  # an event processed again under another key
    refused: int = 0  # bad signature or timestamp
    keys: dict[str, str] = field(default_factory=dict)  # key -> event id
    events: dict[str, str] = field(default_factory=dict)  # event id -> first key
    bodies: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "processed": self.processed,
            "duplicates_caught": self.duplicates_caught,
            "duplicates_not_caught": self.duplicates_not_caught,
            "refused": self.refused,
            "events": sorted(self.events),
        }


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A sender killed mid-request resets its connections: expected here, not news."""
        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            super().handle_error(request, client_address)


class Receiver:
    """``with Receiver(secret) as r:`` ... ``r.url`` ... ``r.stats``."""

    def __init__(
        self,
        secret: str,
        *,
        statuses: Iterable[int] = (),
        keep_bodies: bool = True,
        port: int = 0,
    ) -> None:
        self.secret = secret
        self.statuses = list(statuses)
        self.keep_bodies = keep_bodies
        self.stats = ReceiverStats()
        self.lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", port), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> Receiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _receive(self, headers: Any, body: bytes) -> tuple[int, bytes]:
        stats = self.stats
        with self.lock:
            stats.requests += 1
            if self.statuses:
                scripted = self.statuses.pop(0)
                if scripted >= 300:
                    return scripted, b'{"error":"scripted"}'
        try:
            key = verify(secret=self.secret, headers=headers, body=body)
        except WebhookRefused as error:
            with self.lock:
                stats.refused += 1
            return 401, json.dumps({"error": error.code}).encode()
        event = json.loads(body).get("event", "")
        with self.lock:
            if key in stats.keys:
                stats.duplicates_caught += 1
                return 200, b'{"duplicate":true}'
            stats.keys[key] = event
            if event in stats.events:
                stats.duplicates_not_caught += 1
            else:
                stats.events[event] = key
            stats.processed += 1
            if self.keep_bodies:
                stats.bodies.append(json.loads(body))
                stats.headers.append(dict(headers.items()))
        return 200, b'{"ok":true}'

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive: one connection per sender thread

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = receiver._receive(self.headers, body)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def do_GET(self) -> None:
                with receiver.lock:
                    answer = json.dumps(receiver.stats.summary()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                return  # quiet: the stats say what happened

        return Handler


def events_world() -> dict[str, Any]:
    """A person who tells us a change once, and two agencies that want it: Health (inside
    CivicStack, public task) and Transport (a webhook, under the person's consent)."""
    from consent.choices import LawfulBasis
    from consent.tests.factories import agreement, linked_citizen
    from identity.choices import Role
    from identity.models import Agency
    from identity.tests.factories import AgencyFactory, staff, verified
    from registry.models import SourceRecord
    from registry.services.citizens import PORTAL_AGENCY_CODE

    citizen, person = linked_citizen()
    portal = Agency.objects.get(code=PORTAL_AGENCY_CODE)
    health: Agency = AgencyFactory(code="health", name="Health")  # type: ignore[assignment]
    transport: Agency = AgencyFactory(code="transport", name="Transport")  # type: ignore[assignment]
    for agency, record_id in ((health, "H1"), (transport, "T1")):
        SourceRecord.objects.create(
            agency=agency,
            agency_record_id=record_id,
            person=person,
            given_name="Maria",
            family_name="Lopez",
            address_line="1 Old Road",
            locality="Oldtown",
            postcode="OT1 1AA",
        )
    to_health = agreement(
        provider=portal,
        consumer=health,
        code="address-to-health",
        purpose_code="keep-address-current",
        attributes=("address_line", "locality", "postcode"),
        lawful_basis=LawfulBasis.PUBLIC_TASK,
    )
    to_transport = agreement(
        provider=portal,
        consumer=transport,
        code="address-to-transport",
        purpose_code="keep-address-current",
        attributes=("address_line", "postcode"),
        lawful_basis=LawfulBasis.CONSENT,
    )
    return {
        "citizen": citizen,
        "person": person,
        "portal": portal,
        "health": health,
        "transport": transport,
        "to_health": to_health,
        "to_transport": to_transport,
        "health_admin": verified(staff(Role.AGENCY_ADMIN, health, username="health-admin")),
        "transport_admin": verified(
            staff(Role.AGENCY_ADMIN, transport, username="transport-admin")
        ),
    }


NEW_ADDRESS = {"address_line": "2 New Street", "locality": "Newtown", "postcode": "NT2 2BB"}
