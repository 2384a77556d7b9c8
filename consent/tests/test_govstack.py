"""The GovStack Consent API at /api/govstack/consent/ (issue 5, point 3)."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from consent import services
from consent.govstack import api as consent_api
from consent.models import ConsentRecord, ConsentRevision, ConsentWebhook, DataAgreementVersion
from consent.tests.factories import agreement, linked_citizen, purpose
from core.models import AuditEntry
from identity import services as identity_services
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff

pytestmark = pytest.mark.django_db

BASE = "/api/govstack/consent"
IM = "eGovStack/GOV/90000002/benefits-system"
HEADER = "HTTP_X_CONSENTBB_INDIVIDUALID"
SCOPES = ("consent:write", "audit:read", "persons:read", "exchange:write", "profile:read")

# The component schemas' required keys, as consent-openapi.yaml (Consent BB 1.1.0) states them.
REQUIRED = {
    "Individual": {"id"},
    "DataAgreement": {"id", "version", "purpose", "lawfulBasis", "dpia"},
    "DataAgreementAttribute": {"id", "name", "sensitivity", "category"},
    "Policy": {"id", "name", "version", "url"},
    "ConsentRecord": {"id", "dataAgreementRevisionHash", "state"},
    "Revision": {
        "id",
        "schemaName",
        "objectId",
        "serializedSnapshot",
        "serializedHash",
        "timestamp",
    },
    "Controller": {"id", "name", "url"},
    "Signature": {
        "id",
        "payload",
        "signature",
        "verificationMethod",
        "verificationPayload",
        "verificationPayloadHash",
        "verificationSignedBy",
        "timestamp",
    },
    "Webhook": {"id", "payloadUrl", "contentType", "disabled", "secretKey"},
}
# Nested objects the checks follow (property -> component).
NESTED = {
    "ConsentRecord": {
        "dataAgreement": "DataAgreement",
        "dataAgreementRevision": "Revision",
        "individual": "Individual",
        "signature": "Signature",
    },
    "DataAgreement": {"controller": "Controller", "policy": "Policy", "signature": "Signature"},
}


def conforms(obj, component):
    """Assert the object has the component's required keys, following nested objects."""
    assert isinstance(obj, dict), f"{component} is not an object: {obj!r}"
    missing = REQUIRED[component] - set(obj)
    assert not missing, f"{component} lacks {sorted(missing)}"
    for key in ("id", "version", "name", "url"):
        if key in REQUIRED[component]:
            assert isinstance(obj[key], str), f"{component}.{key} must be a string"
    for name, inner in NESTED.get(component, {}).items():
        if name in obj:
            conforms(obj[name], inner)
    for attribute in obj.get("dataAttributes", []):
        conforms(attribute, "DataAgreementAttribute")


def _client(user, *, im=None, scopes=SCOPES):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = identity_services.api_token_create(actor=user, name="t", scopes=list(scopes))
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    if im is not None:
        headers["HTTP_INFORMATION_MEDIATOR_CLIENT"] = im
    return Client(**headers)


def _citizen_client(user):
    client = Client()
    client.force_login(user)
    return client


def _send(client, method, url, body=None, **extra):
    data = json.dumps(body) if body is not None else ""
    return getattr(client, method)(url, data, content_type="application/json", **extra)


@pytest.fixture
def world():
    """Revenue provides income data to Social Services under a consent agreement."""
    revenue = AgencyFactory(code="revenue", name="Revenue")
    social = AgencyFactory(code="social-services", name="Social Services")
    version = agreement(provider=revenue, consumer=social)
    citizen, person = linked_citizen()
    caseworker = staff(Role.CASEWORKER, social, username="cas")
    admin = staff(Role.AGENCY_ADMIN, social, username="sam")
    admin.civic_system = True
    identity_services.system_client_register(
        actor=admin, agency=social, identifier=IM, name="Benefits system"
    )
    return {
        "revenue": revenue,
        "social": social,
        "agreement": version.agreement,
        "version": version,
        "citizen": citizen,
        "person": person,
        "caseworker": caseworker,
        "admin": admin,
        "system": _client(caseworker, im=IM),
    }


def _record_url(world):
    return f"{BASE}/service/individual/record/data-agreement/{world['agreement'].pk}/"


def _verify(world, **params):
    return world["system"].get(
        f"{BASE}/service/verification/consent-records/",
        {"individualId": world["person"].pk, "dataAgreementId": str(world["agreement"].pk)}
        | params,
    )


# --- the calling system ------------------------------------------------------------------


def test_an_unknown_calling_system_is_refused_with_403(world):
    # given a token of Social Services naming a system nobody registered
    client = _client(world["caseworker"], im="eGovStack/GOV/90000002/unknown-system")
    # when it reads the agreements
    response = client.get(f"{BASE}/service/verification/data-agreements/")
    # then it is refused, as problem+json with the reason
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "unknown_system_client"


def test_a_malformed_calling_system_header_is_refused_with_400(world):
    client = _client(world["caseworker"], im="not an x-road id")
    response = client.get(f"{BASE}/service/verification/data-agreements/")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_system_client"


def test_without_a_token_or_session_nothing_is_answered(world):
    response = Client().get(f"{BASE}/config/data-agreements/")
    assert response.status_code == 401


# --- malformed and unknown ids -----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/config/data-agreement/not-a-uuid/",
        "/service/data-agreement/12345/",
        "/audit/data-agreement/revenue-income-for-benefits/",
        "/service/verification/consent-record/xyz/",
        "/audit/consent-record/1/",
        "/config/individual/12/",
        "/service/individual/p-lower-case/",
        "/config/policy/abc/",
        "/config/webhook/abc/",
    ],
)
def test_malformed_ids_are_400_not_404(world, url):
    # when an id is not of the shape the operation takes (a code is not an id either)
    admin = staff(Role.PLATFORM_ADMIN, username="root")
    response = _client(admin).get(BASE + url)
    # then the answer is 400 with the field named
    assert response.status_code == 400, (url, response.content)
    assert response.json()["code"] == "malformed_id"


def test_unknown_ids_are_404(world):
    admin = _client(staff(Role.PLATFORM_ADMIN, username="root"))
    nobody = "P" + "0" * 12
    assert (
        admin.get(f"{BASE}/config/data-agreement/{'0' * 8}-0000-4000-8000-{'0' * 12}/").status_code
        == 404
    )
    assert admin.get(f"{BASE}/config/individual/{nobody}/").status_code == 404
    assert (
        admin.get(f"{BASE}/audit/consent-record/{'1' * 8}-1111-4111-8111-{'1' * 12}/").status_code
        == 404
    )


def test_a_malformed_individual_id_in_the_header_is_400(world):
    response = world["system"].get(
        f"{BASE}/service/individual/record/consent-record/", **{HEADER: "42"}
    )
    assert response.status_code == 400 and response.json()["code"] == "malformed_id"


# --- giving, verifying, withdrawing ------------------------------------------------------


def test_individual_id_by_query_parameter_or_by_header(world):
    # given a citizen who consented
    services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["agreement"]
    )
    url = f"{BASE}/service/individual/record/consent-record/"
    # when the consuming system asks by query parameter and by header
    by_query = world["system"].get(url, {"individualId": world["person"].pk})
    by_header = world["system"].get(url, **{HEADER: world["person"].pk})
    # then both find the one record
    for response in (by_query, by_header):
        assert response.status_code == 200, response.content
        records = response.json()["consentRecords"]
        assert [r["individual"]["id"] for r in records] == [world["person"].pk]
    # and naming two different individuals at once is refused
    other = world["system"].get(
        url, {"individualId": world["person"].pk}, **{HEADER: "P" + "1" * 12}
    )
    assert other.status_code == 400
    # and naming nobody is refused with the way to name one
    missing = world["system"].get(url)
    assert missing.status_code == 400 and missing.json()["code"] == "individual_required"


def test_give_then_verify_then_withdraw_and_verification_says_no_at_once(world):
    # when the citizen gives consent through the GovStack API in their own session
    citizen = _citizen_client(world["citizen"])
    given = citizen.post(_record_url(world))
    assert given.status_code == 200, given.content
    body = given.json()
    conforms(body["consentRecord"], "ConsentRecord")
    conforms(body["revision"], "Revision")
    assert body["consentRecord"]["optIn"] is True
    assert body["consentRecord"]["state"] == "signed"
    assert body["consentRecord"]["signature"]["verificationMethod"] == "Ed25519"
    # then the consuming system verifies: consent exists and is valid
    verified = _verify(world)
    assert verified.status_code == 200, verified.content
    [record] = verified.json()["consentRecords"]
    conforms(record, "ConsentRecord")
    assert record["optIn"] is True and record["valid"] is True
    # when the citizen withdraws (optIn false on the record)
    record_url = f"{BASE}/service/individual/record/consent-record/{record['id']}/"
    withdrawn = _send(citizen, "put", record_url, {"consentRecord": {"optIn": False}})
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["consentRecord"]["consentState"] == "withdrawn"
    # then the very next verification says no
    [after] = _verify(world).json()["consentRecords"]
    assert after["optIn"] is False and after["valid"] is False
    assert after["validReason"] == "consent withdrawn"
    assert _verify(world, optIn="true").json()["consentRecords"] == []
    # and the checks by the agency are in the citizen's "who accessed my data"
    checks = AuditEntry.objects.filter(action="consent.verify", subject_person=world["person"].pk)
    assert checks.count() >= 2 and {e.actor for e in checks} == {"cas"}


def test_a_consuming_system_records_consent_for_an_individual(world):
    # when the caseworker's system records the citizen's consent, naming them by header
    response = world["system"].post(_record_url(world), **{HEADER: world["person"].pk})
    # then the record is given through the GovStack channel, by the caseworker
    assert response.status_code == 200, response.content
    revision = ConsentRevision.objects.get()
    assert revision.channel == "govstack" and revision.actor_label == "cas"
    assert response.json()["revision"]["authorizedByOther"] == "cas"
    # and reading it back for the agreement gives the same record
    read = world["system"].get(_record_url(world), {"individualId": world["person"].pk})
    assert read.json()["consentRecord"]["id"] == response.json()["consentRecord"]["id"]
    # and giving it twice is refused with the reason, without a new revision
    again = world["system"].post(_record_url(world) + f"?individualId={world['person'].pk}")
    assert again.status_code == 409 and again.json()["code"] == "consent_unchanged"
    assert ConsentRevision.objects.count() == 1


def test_another_agency_cannot_record_or_read_consent(world):
    # given a caseworker of Health, which is not party to the agreement
    outsider = _client(staff(Role.CASEWORKER, AgencyFactory(code="health"), username="hal"))
    # when they try to record and to verify the citizen's consent
    recorded = outsider.post(_record_url(world) + f"?individualId={world['person'].pk}")
    services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["agreement"]
    )
    verified = outsider.get(
        f"{BASE}/service/verification/consent-records/", {"individualId": world["person"].pk}
    )
    # then recording is refused and the verification finds nothing
    assert recorded.status_code == 403
    assert verified.status_code == 200 and verified.json()["consentRecords"] == []


def test_a_citizen_cannot_act_for_someone_else(world):
    _, other = linked_citizen(username="other")
    citizen = _citizen_client(world["citizen"])
    response = citizen.post(_record_url(world) + f"?individualId={other.pk}")
    assert response.status_code == 403
    assert not ConsentRecord.objects.exists()


def test_an_expired_agreement_refuses_consent_and_verification_says_why(world):
    # given consent given while the agreement was in force
    services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["agreement"]
    )
    # when the agreement's version is ended (its validity is in the past)
    DataAgreementVersion.objects.filter(pk=world["version"].pk).update(
        valid_until=timezone.now() - timedelta(minutes=1)
    )
    # then verification says the consent no longer lets data move, and why
    [record] = _verify(world).json()["consentRecords"]
    assert record["valid"] is False and "expired" in record["validReason"]
    assert record["dataAgreement"]["active"] is False
    # and a new answer is refused with the reason
    refused = _send(
        _citizen_client(world["citizen"]),
        "put",
        f"{BASE}/service/individual/record/consent-record/{record['id']}/",
        {"consentRecord": {"optIn": False}},
    )
    assert refused.status_code == 409 and refused.json()["code"] == "agreement_not_in_force"


def test_draft_then_store_and_a_stale_draft_is_refused(world):
    citizen = _citizen_client(world["citizen"])
    # when the citizen asks for a draft
    draft = citizen.post(
        f"{BASE}/service/individual/record/consent-record/draft/",
        QUERY_STRING=f"dataAgreementId={world['agreement'].pk}",
    )
    assert draft.status_code == 200, draft.content
    body = draft.json()
    conforms(body["signature"], "Signature")
    assert "id" not in body["consentRecord"] and not ConsentRecord.objects.exists()
    sent = {
        "consentRecord": {
            "dataAgreement": {"id": str(world["agreement"].pk)},
            "dataAgreementRevisionHash": body["consentRecord"]["dataAgreementRevisionHash"],
            "optIn": True,
        },
        "signature": {"verificationMethod": "Ed25519", "signature": "c2lnbmVk"},
    }
    # and the agreement is revised before the citizen stores it
    services.agreement_revise(
        actor=identity_services.system_actor(),
        agreement=world["agreement"],
        attributes=["income_band", "employment_status", "household_size"],
    )
    stale = _send(citizen, "post", f"{BASE}/service/individual/record/consent-record/", sent)
    # then the stale draft is refused and nothing is written
    assert stale.status_code == 409 and stale.json()["code"] == "stale_revision"
    assert not ConsentRecord.objects.exists()
    # and with the new hash it is stored, signed by the platform
    sent["consentRecord"]["dataAgreementRevisionHash"] = stale.json()["dataAgreementRevisionHash"]
    stored = _send(citizen, "post", f"{BASE}/service/individual/record/consent-record/", sent)
    assert stored.status_code == 200, stored.content
    assert stored.json()["consentRecord"]["dataAgreement"]["version"] == "2"
    conforms(stored.json()["signature"], "Signature")


def test_a_signature_update_is_501_with_the_reason(world):
    record = services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["agreement"]
    )
    response = _send(
        _citizen_client(world["citizen"]),
        "put",
        f"{BASE}/service/individual/record/consent-record/{record.pk}/signature/",
        {"signature": {"signature": "x"}},
    )
    assert response.status_code == 501
    assert "signs every consent revision" in response.json()["detail"]


def test_right_to_be_forgotten_deletes_only_forgettable_answers_that_are_not_given(world):
    # given a withdrawn consent to a forgettable agreement and a given one to another
    forgettable = agreement(
        code="health-records-for-benefits",
        provider=AgencyFactory(code="health"),
        consumer=world["social"],
        forgettable=True,
    ).agreement
    who = {"actor": world["citizen"], "person": world["person"]}
    services.consent_give(agreement=forgettable, **who)
    services.consent_withdraw(agreement=forgettable, **who)
    services.consent_give(agreement=world["agreement"], **who)
    # when the citizen asks to be forgotten
    response = _citizen_client(world["citizen"]).delete(f"{BASE}/service/individual/record/")
    # then only the withdrawn forgettable record is gone, and the trail says so
    assert response.status_code == 200, response.content
    assert len(response.json()["deletedConsentRecords"]) == 1
    assert list(ConsentRecord.objects.values_list("agreement", flat=True)) == [
        world["agreement"].pk
    ]
    assert AuditEntry.objects.filter(action="consent.forget").count() == 1


# --- agreements, policies, individuals, webhooks ----------------------------------------


def _agreement_body(**overrides):
    return {
        "dataAgreement": {
            "code": "transport-licence-for-benefits",
            "consumer": {"id": "social-services"},
            "purpose": "To check whether you hold a driving licence.",
            "purposeCode": "child-benefit-eligibility",
            "lawfulBasis": "consent",
            "dpia": "DPIA-2026-07",
            "dataAttributes": [{"name": "licence_class"}],
            "policy": {"url": "https://gov.example/policy", "dataRetentionPeriodDays": 90},
            **overrides,
        }
    }


def test_an_agency_admin_creates_and_revises_an_agreement(world):
    transport = AgencyFactory(code="transport")
    admin = _client(staff(Role.AGENCY_ADMIN, transport, username="tom"))
    # when the admin creates an agreement of their agency through config
    created = _send(admin, "post", f"{BASE}/config/data-agreement/", _agreement_body())
    # then it is the agency's, sealed, version 1
    assert created.status_code == 200, created.content
    shape = created.json()["dataAgreement"]
    conforms(shape, "DataAgreement")
    conforms(created.json()["revision"], "Revision")
    assert shape["controller"]["id"] == "transport" and shape["version"] == "1"
    assert shape["active"] is True and shape["policy"]["dataRetentionPeriodDays"] == 90
    # when the policy is updated, a new sealed version carries it
    url = f"{BASE}/config/policy/{shape['id']}/"
    updated = _send(admin, "put", url, {"policy": {"dataRetentionPeriodDays": 30}})
    assert updated.status_code == 200, updated.content
    assert updated.json()["policy"]["version"] == "2"
    assert (
        updated.json()["revision"]["predecessorHash"]
        == created.json()["revision"]["serializedHash"]
    )
    # and the consumer cannot be changed by an update
    moved = _send(
        admin,
        "put",
        f"{BASE}/config/data-agreement/{shape['id']}/",
        {"dataAgreement": {"consumer": {"id": "health"}, "dpia": "x"}},
    )
    assert moved.status_code == 400 and "consumer" in moved.json()["errors"]


def test_an_unknown_purpose_is_refused_and_nothing_is_written(world, caplog):
    admin = _client(staff(Role.AGENCY_ADMIN, AgencyFactory(code="transport"), username="tom"))
    before = DataAgreementVersion.objects.count()
    with caplog.at_level("WARNING", logger="civicstack.consent.govstack"):
        response = _send(
            admin,
            "post",
            f"{BASE}/config/data-agreement/",
            _agreement_body(purposeCode="selling-data"),
        )
    assert response.status_code == 400 and response.json()["code"] == "unknown_purpose"
    assert DataAgreementVersion.objects.count() == before
    # and the refusal is logged with its reason
    assert any(r.code == "unknown_purpose" for r in caplog.records)


def test_another_agencys_admin_cannot_revise_the_agreement(world):
    admin = _client(staff(Role.AGENCY_ADMIN, AgencyFactory(code="transport"), username="tom"))
    response = _send(
        admin,
        "put",
        f"{BASE}/config/data-agreement/{world['agreement'].pk}/",
        {"dataAgreement": {"dpia": "changed"}},
    )
    assert response.status_code == 403
    assert world["agreement"].versions.count() == 1


def test_deleting_an_agreement_or_a_policy_is_501_with_the_reason(world):
    admin = _client(world["admin"])
    for url in (
        f"{BASE}/config/data-agreement/{world['agreement'].pk}/",
        f"{BASE}/config/policy/{world['agreement'].pk}/",
    ):
        response = admin.delete(url)
        assert response.status_code == 501 and response.json()["code"] == "not_supported"
    assert world["agreement"].versions.count() == 1


def test_agreement_lists_follow_the_specification(world):
    client = world["system"]
    config = client.get(f"{BASE}/config/data-agreements/").json()
    verification = client.get(f"{BASE}/service/verification/data-agreements/").json()
    # the specification names the config list `dataAgreement` and the others `dataAgreements`
    for shape in config["dataAgreement"] + verification["dataAgreements"]:
        conforms(shape, "DataAgreement")
    assert config["pagination"]["totalItems"] == 1
    policies = client.get(f"{BASE}/config/policies/").json()["policies"]
    for shape in policies:
        conforms(shape, "Policy")
    read = client.get(f"{BASE}/service/policy/{world['agreement'].pk}/")
    assert read.status_code == 200 and read.json()["policy"]["id"] == str(world["agreement"].pk)


def test_pages_are_bounded(world):
    response = world["system"].get(f"{BASE}/config/data-agreements/", {"limit": 0})
    assert response.status_code == 400
    response = world["system"].get(f"{BASE}/config/data-agreements/", {"offset": "x"})
    assert response.status_code == 400


def test_an_individual_is_found_by_national_id_and_never_invented(world):
    from registry.tests.factories import SourceRecordFactory

    SourceRecordFactory(agency=world["revenue"], national_id="AB123456", person=world["person"])
    body = {"individual": {"externalId": "AB123456", "externalIdType": "national_id"}}
    found = _send(world["system"], "post", f"{BASE}/service/individual/", body)
    assert found.status_code == 200, found.content
    assert found.json()["individual"]["id"] == world["person"].pk
    body["individual"]["externalId"] = "ZZ999999"
    missing = _send(world["system"], "post", f"{BASE}/config/individual/", body)
    assert missing.status_code == 404 and "not created here" in missing.json()["detail"]
    # a read answers the id only, never the national ID
    read = world["system"].get(f"{BASE}/config/individual/{world['person'].pk}/")
    assert read.json() == {"individual": {"id": world["person"].pk}}


def test_webhooks_keep_their_secret_encrypted_and_show_it_once(world):
    admin = _client(world["admin"])
    body = {
        "webhook": {"payloadUrl": "https://benefits.example/hooks", "events": ["consent.withdrawn"]}
    }
    created = _send(admin, "post", f"{BASE}/config/webhook/", body)
    assert created.status_code == 200, created.content
    hook = created.json()["webhook"]
    conforms(hook, "Webhook")
    assert len(hook["secretKey"]) > 20
    read = admin.get(f"{BASE}/config/webhook/{hook['id']}/").json()["webhook"]
    assert read["secretKey"] == "********"
    stored = ConsentWebhook.objects.get()
    assert stored.secret == hook["secretKey"]
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM consent_consentwebhook")
        assert hook["secretKey"] not in cursor.fetchone()[0]
    # an http URL is refused
    body["webhook"]["payloadUrl"] = "http://benefits.example/hooks"
    refused = _send(admin, "put", f"{BASE}/config/webhook/{hook['id']}/", body)
    assert refused.status_code == 400 and "payloadUrl" in refused.json()["errors"]
    # another agency does not see it
    other = _client(staff(Role.AGENCY_ADMIN, AgencyFactory(code="health"), username="hed"))
    assert other.get(f"{BASE}/config/webhook/{hook['id']}/").status_code == 404
    assert admin.delete(f"{BASE}/config/webhook/{hook['id']}/").status_code == 200
    assert not ConsentWebhook.objects.exists()


# --- audit -------------------------------------------------------------------------------


def test_audit_listing_shows_the_history_and_its_chain_check(world):
    # given a consent given, withdrawn and given again
    who = {"actor": world["citizen"], "person": world["person"], "agreement": world["agreement"]}
    services.consent_give(**who)
    services.consent_withdraw(**who)
    record = services.consent_give(**who)
    auditor = _client(world["admin"])
    # when an auditor of the consuming agency lists consent records
    response = auditor.get(f"{BASE}/audit/consent-records/")
    # then each comes with every revision and a passing chain check
    assert response.status_code == 200, response.content
    [shown] = response.json()["consentRecords"]
    conforms(shown, "ConsentRecord")
    assert [r["consentState"] for r in shown["revisions"]] == ["given", "withdrawn", "given"]
    assert shown["revisions"][1]["predecessorHash"] == shown["revisions"][0]["serializedHash"]
    assert shown["chainCheck"] == {"ok": True, "checked": 3, "reason": ""}
    # when a revision is edited in the database
    ConsentRevision.objects.filter(record=record, revision=2).update(
        snapshot=ConsentRevision.objects.get(record=record, revision=2).snapshot.replace(
            "withdrawn", "given"
        )
    )
    # then the check fails and names the revision
    [tampered] = auditor.get(f"{BASE}/audit/consent-records/").json()["consentRecords"]
    assert tampered["chainCheck"]["ok"] is False
    assert tampered["chainCheck"]["reason"].startswith("revision 2")
    one = auditor.get(f"{BASE}/audit/consent-record/{record.pk}/").json()["consentRecord"]
    assert one["chainCheck"]["ok"] is False


def test_audit_of_agreements_checks_every_sealed_version(world):
    services.agreement_revise(
        actor=identity_services.system_actor(), agreement=world["agreement"], retention_days=30
    )
    auditor = _client(world["admin"])
    [shown] = auditor.get(f"{BASE}/audit/data-agreements/").json()["dataAgreements"]
    conforms(shown, "DataAgreement")
    assert [r["version"] for r in shown["revisions"]] == ["1", "2"]
    assert all(r["sealCheck"]["ok"] for r in shown["revisions"])
    DataAgreementVersion.objects.filter(agreement=world["agreement"], version=1).update(dpia="x")
    DataAgreementVersion.objects.filter(agreement=world["agreement"], version=1).update(
        snapshot='{"forged":true}'
    )
    one = auditor.get(f"{BASE}/audit/data-agreement/{world['agreement'].pk}/").json()
    assert one["dataAgreement"]["revisions"][0]["sealCheck"]["ok"] is False


def test_audit_operations_need_audit_rights(world):
    response = world["system"].get(f"{BASE}/audit/consent-records/")
    assert response.status_code == 403


# --- the contract ------------------------------------------------------------------------

SPEC = Path(settings.BASE_DIR).parent / "shared" / "govstack" / "consent-openapi.yaml"


def test_every_operation_of_the_specification_is_served_at_its_path():
    if not SPEC.exists():
        pytest.skip("the GovStack specification is not next to the repository")
    import yaml

    spec = yaml.safe_load(SPEC.read_text())
    ours = consent_api.get_openapi_schema()["paths"]
    served = {
        (method, path.removeprefix("/api/govstack/consent"), op["operationId"])
        for path, ops in ours.items()
        for method, op in ops.items()
    }
    wanted = {
        (method, path, op["operationId"])
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
        if isinstance(op, dict) and "operationId" in op
    }
    assert wanted <= served, sorted(wanted - served)
    for name, schema in spec["components"]["schemas"].items():
        if name in REQUIRED:
            assert set(schema.get("required", [])) == REQUIRED[name], name


def test_purpose_registered_for_the_fixture(world):
    # the fixture's agreement rests on a registered purpose: listing shows it by code
    purpose("child-benefit-eligibility")
    [shape] = world["system"].get(f"{BASE}/config/data-agreements/").json()["dataAgreement"]
    assert shape["purposeCode"] == "child-benefit-eligibility"


def test_a_malformed_body_is_400_and_logged(world, caplog):
    admin = _client(world["admin"])
    with caplog.at_level("WARNING", logger="civicstack.consent.govstack"):
        response = _send(admin, "post", f"{BASE}/config/data-agreement/", {"dataAgreement": "x"})
    assert response.status_code == 400 and response.json()["code"] == "validation_failed"
    assert any(r.code == "validation_failed" and r.im_client is None for r in caplog.records)


def test_a_citizen_without_a_person_is_told_to_verify_first(world):
    from identity.tests.factories import CitizenFactory

    response = _citizen_client(CitizenFactory(username="newcomer")).get(
        f"{BASE}/service/individual/record/consent-record/"
    )
    assert response.status_code == 409 and response.json()["code"] == "person_not_linked"
