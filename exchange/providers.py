"""Where a data service's answer comes from: data held in CivicStack, or the agency's system.

`Provider` is the boundary. Internal services name a resolver registered here; each reads
the provider agency's own records through the registry (never another agency's). HTTP
services call the agency's system with `HttpProvider`: a JSON POST with a timeout, retries
with back-off on connection errors, 5xx and 429, and no retry on other 4xx answers. A
provider returns every attribute it has; the mediator keeps only the permitted ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol

import requests

from exchange.lookups import latest_record_values
from exchange.models import DataService
from registry.models import SourceRecord


class ProviderFailed(Exception):
    """The provider could not answer (down, timed out, answered nonsense)."""


@dataclass(frozen=True)
class ProviderCall:
    service: DataService
    person_id: str
    national_id: str  # for agency systems that know people by national ID ("" if unknown)
    params: dict[str, Any]
    purpose: str
    exchange_id: str


class Provider(Protocol):
    def fetch(self, call: ProviderCall) -> dict[str, Any]: ...


Resolver = Callable[[ProviderCall], dict[str, Any]]
RESOLVERS: dict[str, Resolver] = {}


def resolver(name: str) -> Callable[[Resolver], Resolver]:
    def register(function: Resolver) -> Resolver:
        RESOLVERS[name] = function
        return function

    return register


def _latest_record(call: ProviderCall) -> SourceRecord | None:
    return (
        SourceRecord.objects.filter(person_id=call.person_id, agency_id=call.service.provider_id)
        .order_by("-source_updated_at", "-updated_at")
        .first()
    )


@resolver("source_record")
def source_record(call: ProviderCall) -> dict[str, Any]:
    """The provider's own record of the person: common fields and its extra attributes."""
    values = latest_record_values(person_id=call.person_id, agency_id=call.service.provider_id)
    if values is None:
        return {"found": False}
    answer: dict[str, Any] = {"found": True, **values}
    if call.params.get("tax_year") is not None:
        answer["tax_year"] = call.params["tax_year"]
    return answer


@resolver("births")
def births(call: ProviderCall) -> dict[str, Any]:
    """Children born to the person's household: the provider's records of people under 18
    registered at the person's address (the same standardised address and postcode)."""
    record = _latest_record(call)
    if record is None or not record.std_address or not record.std_postcode:
        return {"found": record is not None, "births": [], "births_count": 0}
    today = date.today()
    since = call.params.get("since")
    earliest = (
        date.fromisoformat(since) if isinstance(since, str) else today - timedelta(days=18 * 365)
    )
    children = (
        SourceRecord.objects.filter(
            agency_id=call.service.provider_id,
            std_address=record.std_address,
            std_postcode=record.std_postcode,
            date_of_birth__gte=earliest,
        )
        .exclude(pk=record.pk)
        .exclude(person_id=call.person_id)
        .order_by("date_of_birth")
    )
    adult_from = (record.date_of_birth or date.min) + timedelta(days=14 * 365)
    found = [
        {"given_name": c.given_name, "date_of_birth": c.date_of_birth.isoformat()}
        for c in children[:20]
        if c.date_of_birth is not None and c.date_of_birth >= adult_from
    ]
    return {"found": True, "births": found, "births_count": len(found)}


class InternalProvider:
    def fetch(self, call: ProviderCall) -> dict[str, Any]:
        function = RESOLVERS.get(call.service.resolver)
        if function is None:
            raise ProviderFailed(f"no resolver {call.service.resolver!r} in this platform")
        return function(call)


class HttpProvider:
    """The agency's own system: POST {person, national_id, params, purpose} as JSON."""

    RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

    def __init__(self, session: requests.Session | None = None, backoff: float = 0.2) -> None:
        self.session = session or requests.Session()
        self.backoff = backoff

    def fetch(self, call: ProviderCall) -> dict[str, Any]:
        service = call.service
        body: dict[str, Any] = {
            "person": call.person_id,
            "national_id": call.national_id,
            "params": call.params,
            "purpose": call.purpose,
            "exchange_id": call.exchange_id,
        }
        last_error = ""
        for attempt in range(service.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                response = self.session.post(
                    service.endpoint_url,
                    json=body,
                    timeout=service.timeout_seconds,
                    headers={"X-CivicStack-Exchange": call.exchange_id},
                )
            except requests.Timeout:
                last_error = f"timed out after {service.timeout_seconds:g} s"
                continue
            except requests.RequestException as exc:
                last_error = f"could not connect ({type(exc).__name__})"
                continue
            if response.status_code in self.RETRY_STATUSES:
                last_error = f"answered {response.status_code}"
                continue
            if response.status_code >= 400:
                raise ProviderFailed(f"the agency system refused: HTTP {response.status_code}")
            try:
                data = response.json()
            except ValueError as exc:
                raise ProviderFailed(
                    "the agency system answered something other than JSON"
                ) from exc
            if not isinstance(data, dict):
                raise ProviderFailed("the agency system's answer is not a JSON object")
            return data
        raise ProviderFailed(f"the agency system {last_error} ({service.max_retries + 1} tries)")


_http = HttpProvider()
_internal = InternalProvider()


def provider_for(service: DataService) -> Provider:
    return _internal if service.kind == "internal" else _http
