"""Writes of the exchange: publishing data services, and mediated requests.

`exchange_request` is the one way data about a person moves from one agency to another.
In order it checks the consumer's right to ask, the service, the parameters, the person,
the data agreement for the stated purpose (in force), and — where the agreement rests on
consent — the person's consent, read afresh on every request. Then it logs the request,
asks the provider, keeps only the attributes both the service and the agreement allow,
and logs the response. A refusal or a failure is logged with its reason before the error
is raised. Every message is signed and chained (`exchange.messages`), and every release
of data is in the audit trail under the person, for "who accessed my data".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.db import transaction
from django.utils import timezone
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from consent import selectors as consent_selectors
from consent.choices import LawfulBasis
from core import audit
from core.errors import ApplicationError, NotFound, PermissionDenied, ValidationFailed
from exchange import lookups
from exchange.choices import MessageKind, ProviderKind
from exchange.errors import (
    ConsentRequired,
    ExchangeDenied,
    ProviderUnavailable,
    ServiceNotFound,
)
from exchange.messages import (
    PreparedMessages,
    message_append,
    messages_prepare,
    messages_write,
)
from exchange.models import DataService
from exchange.providers import RESOLVERS, ProviderCall, ProviderFailed, provider_for
from identity import policy
from identity.models import Agency, User
from registry.models import Person

MAX_PARAMS_CHARS = 10_000


# --- the catalogue -----------------------------------------------------------------------


def _check_schema(schema: Any, field: str, errors: dict[str, list[str]]) -> None:
    if not isinstance(schema, dict):
        errors[field] = ["must be a JSON Schema object"]
        return
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        errors[field] = [f"not a valid JSON Schema: {exc.message}"]


@transaction.atomic
def data_service_publish(
    *,
    actor: User,
    provider: Agency,
    code: str,
    name: str,
    attributes: Iterable[str],
    description: str = "",
    input_schema: dict[str, Any] | None = None,
    output_schema: dict[str, Any] | None = None,
    kind: str = ProviderKind.INTERNAL,
    resolver: str = "",
    endpoint_url: str = "",
    timeout_seconds: float = 5.0,
    max_retries: int = 2,
) -> DataService:
    """Publish (or update) one of the provider agency's data services."""
    policy.authorize(actor, "data_service.manage", provider)
    errors: dict[str, list[str]] = {}
    names = sorted({str(a).strip() for a in attributes if str(a).strip()})
    if not names:
        errors["attributes"] = ["name at least one attribute"]
    _check_schema(input_schema or {}, "input_schema", errors)
    _check_schema(output_schema or {}, "output_schema", errors)
    if kind == ProviderKind.INTERNAL and resolver not in RESOLVERS:
        errors["resolver"] = [f"one of {sorted(RESOLVERS)}"]
    if kind == ProviderKind.HTTP and not endpoint_url.startswith(("https://", "http://")):
        errors["endpoint_url"] = ["an http(s) URL is required"]
    if kind not in ProviderKind.values:
        errors["kind"] = [f"one of {sorted(ProviderKind.values)}"]
    if not 0 < timeout_seconds <= 60:
        errors["timeout_seconds"] = ["between 0 and 60 seconds"]
    if not 0 <= max_retries <= 5:
        errors["max_retries"] = ["between 0 and 5"]
    if errors:
        raise ValidationFailed(errors=errors)
    service, created = DataService.objects.update_or_create(
        provider=provider,
        code=code,
        defaults={
            "name": name,
            "description": description,
            "attributes": names,
            "input_schema": input_schema or {},
            "output_schema": output_schema or {},
            "kind": kind,
            "resolver": resolver if kind == ProviderKind.INTERNAL else "",
            "endpoint_url": endpoint_url if kind == ProviderKind.HTTP else "",
            "timeout_seconds": timeout_seconds,
            "max_retries": max_retries,
            "active": True,
        },
    )
    audit.record(
        actor=actor,
        action="data_service.publish" if created else "data_service.update",
        target=service,
        agency=provider.code,
        data={"code": code, "attributes": names, "kind": kind},
    )
    return service


@transaction.atomic
def data_service_retire(*, actor: User, service: DataService) -> DataService:
    policy.authorize(actor, "data_service.manage", service.provider)
    service.active = False
    service.save(update_fields=["active", "updated_at"])
    audit.record(actor=actor, action="data_service.retire", target=service)
    return service


# --- mediated requests -------------------------------------------------------------------


@dataclass(frozen=True)
class ExchangeAnswer:
    exchange_id: uuid.UUID
    provider: str
    service: str
    person: str
    data: dict[str, Any]
    released: list[str]
    withheld: list[str]
    agreement: str
    agreement_version: int
    lawful_basis: str


@lru_cache(maxsize=256)
def _validator(service_id: uuid.UUID, stamp: datetime, schema_text: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_text))


# The validator of each service, by (id, last change): building one (or even the cache key
# from its schema) costs more than validating a request's few parameters.
_validators: dict[tuple[Any, datetime], Draft202012Validator] = {}


def _param_errors(service: DataService, params: dict[str, Any]) -> dict[str, list[str]]:
    if not service.input_schema:
        return {}
    key = (service.pk, service.updated_at)
    validator = _validators.get(key)
    if validator is None:
        if len(_validators) > 256:
            _validators.clear()
        validator = _validators[key] = _validator(
            service.pk, service.updated_at, json.dumps(service.input_schema, sort_keys=True)
        )
    errors: dict[str, list[str]] = {}
    for error in validator.iter_errors(params):
        path = ".".join(str(p) for p in error.absolute_path) or "params"
        errors.setdefault(path, []).append(error.message)
    return errors


def _national_id(person_id: str) -> str:
    full = Person.objects.filter(pk=person_id).only("golden").first()
    try:
        golden = json.loads(full.golden) if full and full.golden else {}
    except ValueError:
        return ""
    entry = golden.get("national_id")
    return str(entry.get("value") or "") if isinstance(entry, dict) else ""


@dataclass
class _Request:
    exchange_id: uuid.UUID
    actor: User
    consumer: str
    provider: str
    service: str
    person: str
    purpose: str
    case_ref: str
    client: str
    params: dict[str, Any]

    def log(self, kind: str, *, status: str, reason: str = "", body: Any = None) -> None:
        message_append(
            kind=kind,
            exchange_id=self.exchange_id,
            consumer=self.consumer,
            provider=self.provider,
            service=self.service,
            person=self.person,
            purpose=self.purpose,
            case_ref=self.case_ref,
            client=self.client,
            actor=self.actor_label,
            status=status,
            reason=reason,
            body=body,
        )

    def prepare_many(self, entries: list[tuple[str, str, Any]]) -> PreparedMessages:
        """Several messages of this exchange, built before the write lock is taken."""
        return messages_prepare(
            [
                {
                    "kind": kind,
                    "exchange_id": self.exchange_id,
                    "consumer": self.consumer,
                    "provider": self.provider,
                    "service": self.service,
                    "person": self.person,
                    "purpose": self.purpose,
                    "case_ref": self.case_ref,
                    "client": self.client,
                    "actor": self.actor_label,
                    "status": status,
                    "body": body,
                }
                for kind, status, body in entries
            ]
        )

    @property
    def actor_label(self) -> str:
        return "system" if getattr(self.actor, "civic_system", False) else str(self.actor)

    def refuse(self, error: ApplicationError) -> ApplicationError:
        """Log the refusal (committed even though the caller gets an error) and return it."""
        with transaction.atomic():
            self.log(
                MessageKind.DENIED,
                status="denied",
                reason=f"{error.code}: {error.detail}",
                body={"params": self.params},
            )
        return error


def _refusal_for_terms(*, provider_id: int, consumer_id: int, purpose: str) -> ApplicationError:
    """Why no agreement is in force (the ORM selector names the reason)."""
    try:
        consent_selectors.agreement_for_request(
            provider_id=provider_id, consumer_id=consumer_id, purpose=purpose
        )
    except ApplicationError as exc:
        return exc
    # found meanwhile (a version became valid between the two reads): ask again
    return ExchangeDenied("The agreement changed during the request; send it again.")


def exchange_request(
    *,
    actor: User,
    consumer: Agency,
    provider_code: str,
    service_code: str,
    person_id: str,
    purpose: str,
    case_ref: str = "",
    params: dict[str, Any] | None = None,
    client: str = "",
) -> ExchangeAnswer:
    """Ask `provider_code`'s service `service_code` about a person, for `purpose`."""
    request = _Request(
        exchange_id=uuid.uuid4(),
        actor=actor,
        consumer=consumer.code,
        provider=provider_code,
        service=service_code,
        person=person_id,
        purpose=purpose,
        case_ref=case_ref,
        client=client,
        params=params or {},
    )
    decision = policy.decide(actor, "exchange.request", consumer)
    if not decision:
        raise request.refuse(PermissionDenied(decision.reason, action="exchange.request"))
    if len(json.dumps(request.params, default=str)) > MAX_PARAMS_CHARS:
        raise request.refuse(
            ValidationFailed(errors={"params": [f"at most {MAX_PARAMS_CHARS} characters"]})
        )
    now = timezone.now()
    # service, person, agreement and consent: one read, afresh for every request
    context = lookups.request_context(
        provider_code=provider_code,
        service_code=service_code,
        person_id=person_id,
        consumer_id=consumer.pk,
        purpose=purpose,
        now=now,
    )
    if context is None:
        raise request.refuse(
            ServiceNotFound(f"{provider_code} publishes no service {service_code!r}.")
        )
    service = context.service
    errors = _param_errors(service, request.params)
    if errors:
        raise request.refuse(ValidationFailed(errors=errors))
    live = lookups.person_live(person_id) if context.merged else context.person
    if live is None:
        raise request.refuse(NotFound(f"No person {person_id!r} in the index."))
    request.person = live
    terms = context.terms
    if context.merged:
        terms = lookups.terms_in_force(
            provider_id=service.provider_id,
            consumer_id=consumer.pk,
            purpose=purpose,
            person_id=live,
            now=now,
        )
    if terms is None:
        raise request.refuse(
            _refusal_for_terms(
                provider_id=service.provider_id, consumer_id=consumer.pk, purpose=purpose
            )
        )
    if terms.lawful_basis == LawfulBasis.CONSENT and not terms.consent_covers():
        raise request.refuse(
            ConsentRequired(
                f"{live} has not given consent to {terms.agreement_code} (or has withdrawn it).",
                agreement=terms.agreement_code,
            )
        )
    permitted = set(service.attributes) & set(terms.attributes)
    request_body = {
        "params": request.params,
        "agreement": terms.agreement_code,
        "agreement_version": terms.version,
        "attributes": sorted(permitted),
    }
    call = ProviderCall(
        service=service,
        person_id=live,
        national_id=_national_id(live) if service.kind == ProviderKind.HTTP else "",
        params=request.params,
        purpose=purpose,
        exchange_id=str(request.exchange_id),
    )
    if service.kind == ProviderKind.INTERNAL:
        # Data held in CivicStack: read, then log request and response in one commit.
        answer = _fetch(request, service, call, request_body, log_first=False)
        return _release(request, terms, permitted, answer, request_body)
    # An agency's system: the request is on record before the call leaves.
    with transaction.atomic():
        request.log(MessageKind.REQUEST, status="sent", body=request_body)
    answer = _fetch(request, service, call, request_body, log_first=True)
    return _release(request, terms, permitted, answer, None)


def _fetch(
    request: _Request,
    service: DataService,
    call: ProviderCall,
    request_body: dict[str, Any],
    *,
    log_first: bool,
) -> dict[str, Any]:
    try:
        return provider_for(service).fetch(call)
    except ProviderFailed as exc:
        with transaction.atomic():
            if not log_first:
                request.log(MessageKind.REQUEST, status="sent", body=request_body)
            request.log(MessageKind.FAILED, status="failed", reason=str(exc))
        raise ProviderUnavailable(str(exc), provider=request.provider) from exc


def _release(
    request: _Request,
    terms: lookups.Terms,
    permitted: set[str],
    answer: dict[str, Any],
    request_body: dict[str, Any] | None,
) -> ExchangeAnswer:
    """Keep the permitted attributes, log (request and) response, audit under the person."""
    data = {key: value for key, value in answer.items() if key in permitted or key == "found"}
    withheld = sorted(set(answer) - set(data))
    released = sorted(set(data) - {"found"})
    entries: list[tuple[str, str, Any]] = []
    if request_body is not None:
        entries.append((MessageKind.REQUEST, "sent", request_body))
    entries.append((MessageKind.RESPONSE, "ok", {"data": data, "withheld": withheld}))
    prepared = request.prepare_many(entries)
    audited = _audit_release(request, terms, released)
    with transaction.atomic():  # the write lock is taken here, with everything prepared
        messages_write(prepared)
        audit.record_prepared(audited)
    return ExchangeAnswer(
        exchange_id=request.exchange_id,
        provider=request.provider,
        service=request.service,
        person=request.person,
        data=data,
        released=released,
        withheld=withheld,
        agreement=terms.agreement_code,
        agreement_version=terms.version,
        lawful_basis=terms.lawful_basis,
    )


def _audit_release(
    request: _Request, terms: lookups.Terms, released: list[str]
) -> audit.PreparedEntries:
    """The release's audit entry, built before the write lock is taken."""
    return audit.prepare(
        [
            {
                "actor": request.actor,
                "action": "exchange.request",
                "subject_person": request.person,
                "target": f"exchange:{request.exchange_id}",
                "agency": request.consumer,
                "purpose": request.purpose,
                "data": {
                    "provider": request.provider,
                    "service": request.service,
                    "attributes": released,
                    "agreement": terms.agreement_code,
                    "case": request.case_ref,
                },
            }
        ]
    )
