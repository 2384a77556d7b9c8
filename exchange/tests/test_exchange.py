"""Mediated exchange (issue 5, points 4 and 5): checks, release, and the signed message log."""

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from consent import services as consent_services
from consent.choices import LawfulBasis
from consent.errors import AgreementNotFound, AgreementNotInForce, UnknownPurpose
from consent.tests.factories import agreement, purpose
from core import audit
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.models import AuditEntry
from exchange import services
from exchange.errors import ConsentRequired, ProviderUnavailable, ServiceNotFound
from exchange.messages import message_log_verify
from exchange.models import Message
from exchange.tests.conftest import INCOME_SCHEMA
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, staff, verified

pytestmark = pytest.mark.django_db


def _ask(world, **overrides):
    args = {
        "actor": world["caseworker"],
        "consumer": world["social"],
        "provider_code": "revenue",
        "service_code": "income-for-tax-year",
        "person_id": world["person"].pk,
        "purpose": "child-benefit-eligibility",
        "case_ref": "CB-2026-000001",
        "params": {"tax_year": 2025},
    }
    args.update(overrides)
    return services.exchange_request(**args)


def _consent(world):
    consent_services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["version"].agreement
    )


def test_with_consent_only_the_agreed_attributes_are_released_and_logged(world):
    # given the citizen's consent
    _consent(world)
    # when the caseworker asks for income
    answer = _ask(world)
    # then only what both the service and the agreement allow comes back
    assert answer.data == {"found": True, "income_band": "B", "tax_year": 2025}
    assert "employment_status" in answer.withheld and "tax_reference" in answer.withheld
    # and a request and a response are in the signed log, under the exchange's id
    kinds = list(
        Message.objects.filter(exchange_id=answer.exchange_id).values_list("kind", flat=True)
    )
    assert kinds == ["request", "response"]
    response = Message.objects.get(exchange_id=answer.exchange_id, kind="response")
    assert json.loads(response.body)["data"]["income_band"] == "B"
    assert message_log_verify().ok
    # and the person can see who read what, and why
    entry = AuditEntry.objects.get(action="exchange.request", subject_person=world["person"].pk)
    assert entry.agency == "social-services" and entry.purpose == "child-benefit-eligibility"
    assert entry.data["attributes"] == ["income_band", "tax_year"]


def test_each_release_is_audited_under_the_caseworker_in_an_unbroken_trail(world):
    # given the citizen's consent
    _consent(world)
    # when the caseworker asks twice, with another audited read in between
    first = _ask(world)
    audit.record(actor=None, action="person.view", subject_person=world["person"].pk)
    second = _ask(world)
    # then each release has its own entry, naming the caseworker and the exchange
    entries = AuditEntry.objects.filter(action="exchange.request").order_by("seq")
    assert [e.target for e in entries] == [
        f"exchange:{first.exchange_id}",
        f"exchange:{second.exchange_id}",
    ]
    assert {e.actor_id for e in entries} == {world["caseworker"].pk}
    # and the audit trail and the message log both still verify
    assert audit.verify().ok
    assert message_log_verify().ok


def test_a_republished_service_applies_from_the_very_next_request(world):
    # given a consented request answered with the service as first published
    _consent(world)
    assert _ask(world).released == ["income_band", "tax_year"]
    # when Revenue republishes it: it no longer releases the income band, and wants a month
    services.data_service_publish(
        actor=system_actor(),
        provider=world["revenue"],
        code="income-for-tax-year",
        name="Income for a tax year",
        attributes=["employment_status", "tax_year", "tax_reference"],
        input_schema={
            **INCOME_SCHEMA,
            "properties": {**INCOME_SCHEMA["properties"], "month": {"type": "integer"}},
            "required": ["tax_year", "month"],
        },
        resolver="source_record",
    )
    # then the next request is checked against the new schema ...
    with pytest.raises(ValidationFailed):
        _ask(world)
    # ... and the band is withheld from the one after
    answer = _ask(world, params={"tax_year": 2025, "month": 3})
    assert answer.released == ["tax_year"]
    assert "income_band" in answer.withheld


def test_withdrawn_consent_refuses_the_very_next_request_and_logs_why(world):
    _consent(world)
    _ask(world)
    consent_services.consent_withdraw(
        actor=world["citizen"], person=world["person"], agreement=world["version"].agreement
    )
    with pytest.raises(ConsentRequired):
        _ask(world)
    denied = Message.objects.filter(kind="denied").get()
    assert denied.reason.startswith("consent_required")
    assert denied.person == world["person"].pk


@pytest.mark.parametrize(
    ("overrides", "error", "reason"),
    [
        ({"purpose": "marketing"}, UnknownPurpose, "unknown_purpose"),
        ({"service_code": "no-such-service"}, ServiceNotFound, "data_service_not_found"),
        ({"params": {"tax_year": "last year"}}, ValidationFailed, "validation_failed"),
        ({"params": {}}, ValidationFailed, "validation_failed"),
        ({"person_id": "PNOSUCHPERSON"}, NotFound, "not_found"),
    ],
)
def test_bad_requests_are_refused_with_a_reason_that_is_logged(world, overrides, error, reason):
    _consent(world)
    with pytest.raises(error):
        _ask(world, **overrides)
    denied = Message.objects.get(kind="denied")
    assert denied.reason.startswith(reason)
    assert not Message.objects.filter(kind__in=["request", "response"]).exists()


def test_no_agreement_for_the_purpose_and_an_expired_agreement_are_refused(world):
    _consent(world)
    purpose("fraud-investigation")
    with pytest.raises(AgreementNotFound):
        _ask(world, purpose="fraud-investigation")
    consent_services.agreement_revise(
        actor=system_actor(),
        agreement=world["version"].agreement,
        valid_from=timezone.now() - timedelta(seconds=5),
        valid_until=timezone.now() - timedelta(seconds=1),
    )
    with pytest.raises(AgreementNotInForce):
        _ask(world)
    assert Message.objects.filter(kind="denied").count() == 2


def test_only_staff_of_the_consuming_agency_may_ask(world):
    _consent(world)
    outsider = verified(staff(Role.CASEWORKER, AgencyFactory(code="transport")))
    with pytest.raises(PermissionDenied):
        _ask(world, actor=outsider)
    assert Message.objects.get(kind="denied").actor == outsider.username


def test_a_public_task_agreement_needs_no_consent(world):
    agreement(
        code="revenue-for-audits",
        provider=world["revenue"],
        consumer=world["social"],
        purpose_code="benefit-audit",
        attributes=("employment_status",),
        lawful_basis=LawfulBasis.PUBLIC_TASK,
    )
    answer = _ask(world, purpose="benefit-audit")
    assert answer.data == {"found": True, "employment_status": "employed"}


class _AgencySystem(BaseHTTPRequestHandler):
    answers: list[int] = []
    seen: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(body)
        status = type(self).answers.pop(0) if type(self).answers else 200
        payload = json.dumps({"income_band": "C", "secret_flag": True}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def agency_system():
    _AgencySystem.answers, _AgencySystem.seen = [], []
    server = HTTPServer(("127.0.0.1", 0), _AgencySystem)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/income"
    server.shutdown()


def test_an_http_provider_is_retried_on_5xx_and_filtered_like_any_other(world, agency_system):
    _consent(world)
    services.data_service_publish(
        actor=system_actor(),
        provider=world["revenue"],
        code="income-for-tax-year",
        name="Income (Revenue's own system)",
        attributes=["income_band", "tax_year"],
        input_schema=INCOME_SCHEMA,
        kind="http",
        endpoint_url=agency_system,
        timeout_seconds=2,
        max_retries=2,
    )
    _AgencySystem.answers = [503]
    answer = _ask(world)
    assert answer.data == {"income_band": "C"}  # secret_flag never leaves
    assert len(_AgencySystem.seen) == 2 and _AgencySystem.seen[1]["purpose"] == (
        "child-benefit-eligibility"
    )


def test_an_unavailable_provider_is_a_logged_failure(world, agency_system):
    _consent(world)
    services.data_service_publish(
        actor=system_actor(),
        provider=world["revenue"],
        code="income-for-tax-year",
        name="Income",
        attributes=["income_band"],
        kind="http",
        endpoint_url=agency_system,
        max_retries=1,
    )
    _AgencySystem.answers = [500, 502]
    with pytest.raises(ProviderUnavailable):
        _ask(world)
    failed = Message.objects.get(kind="failed")
    assert "502" in failed.reason
    assert Message.objects.filter(kind="request").count() == 1


def test_verify_message_log_finds_an_edited_entry_and_trusts_an_offline_key_file(world, tmp_path):
    _consent(world)
    _ask(world)
    _ask(world)
    call_command("verify_message_log")
    # offline: with an exported public key file
    keys = tmp_path / "public.json"
    call_command("rotate_signing_key", export_public=str(keys))
    call_command("verify_message_log", public_keys=str(keys), since="2000-01-01")
    # an edited purpose breaks the chain at that entry
    second = Message.objects.order_by("seq")[1]
    Message.objects.filter(seq=second.seq).update(purpose="something-else")
    with pytest.raises(CommandError, match=f"entry {second.seq}"):
        call_command("verify_message_log")


def test_publishing_a_service_checks_its_schemas_and_resolver(world):
    with pytest.raises(ValidationFailed) as bad:
        services.data_service_publish(
            actor=system_actor(),
            provider=world["revenue"],
            code="broken",
            name="Broken",
            attributes=[],
            input_schema={"type": "no-such-type"},
            resolver="nothing",
        )
    assert set(bad.value.errors) == {"attributes", "input_schema", "resolver"}


def test_a_request_about_a_merged_person_is_answered_for_the_person_they_became(world):
    from registry.models import Person

    # given the citizen's consent, and an older duplicate record merged into their person
    _consent(world)
    duplicate = Person.objects.create(
        given_name="Maria", family_name="Lopez", merged_into=world["person"]
    )
    # when the caseworker asks about the duplicate's id
    answer = _ask(world, person_id=duplicate.pk)
    # then the answer is about the surviving person, under their consent, and logged so
    assert answer.person == world["person"].pk
    assert answer.data["income_band"] == "B"
    logged = Message.objects.filter(exchange_id=answer.exchange_id).values_list("person", flat=True)
    assert set(logged) == {world["person"].pk}


def test_a_merged_persons_request_needs_the_surviving_persons_consent(world):
    from registry.models import Person

    # given a duplicate merged into the citizen's person, and no consent from the citizen
    duplicate = Person.objects.create(
        given_name="Maria", family_name="Lopez", merged_into=world["person"]
    )
    # when the caseworker asks about the duplicate, it is refused for want of consent
    with pytest.raises(ConsentRequired):
        _ask(world, person_id=duplicate.pk)


def test_log_entries_with_awkward_text_still_verify(world):
    import uuid

    from exchange.messages import message_append

    # given entries whose text needs escaping in canonical JSON (quotes, non-ASCII, braces)
    for reason in ['refused: "quoted" {braces}, commas', "año über naïve — ✓", ""]:
        message_append(
            kind="denied",
            exchange_id=uuid.uuid4(),
            consumer="social-services",
            provider="revenue",
            service='svc "x"',
            actor="ana",
            status="denied",
            case_ref="CB,1:2",
            reason=reason,
            body={"params": {"q": "é"}},
        )
    # when the log is verified from the stored rows, every hash and signature holds
    check = message_log_verify()
    assert check.ok and check.checked == 3
