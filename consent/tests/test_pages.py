"""The consent pages: agreements and purposes (staff), "Your consents" and "Who accessed my
data" (citizens), the access log of a person and disclosure delays (auditors)."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import get_resolver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from consent import selectors, services
from consent.choices import LawfulBasis
from consent.models import DataAgreement, DataAgreementVersion, DisclosureDelay, Purpose
from consent.tests.factories import agreement, linked_citizen, purpose
from core import audit
from core.access import declared_permission
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, CitizenFactory, staff

pytestmark = pytest.mark.django_db


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def _signed_in(user):
    """A client signed in as `user`; staff with a TOTP-verified session."""
    client = Client()
    client.force_login(user)
    if user.needs_mfa:
        device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


@pytest.fixture
def revenue():
    return AgencyFactory(code="revenue", name="Revenue")


@pytest.fixture
def social():
    return AgencyFactory(code="social-services", name="Social Services")


@pytest.fixture
def revenue_admin(revenue):
    return staff(Role.AGENCY_ADMIN, revenue, username="rev-admin")


@pytest.fixture
def platform_admin(revenue):
    return staff(Role.PLATFORM_ADMIN, revenue, username="root")


@pytest.fixture
def citizen_and_person():
    return linked_citizen()


def _who(request, who):
    if who == "citizen":
        return request.getfixturevalue("citizen_and_person")[0]
    if who.startswith("role:"):
        role, agency = who[5:].split("@")
        return staff(Role(role), AgencyFactory(code=agency), username=f"{role}-{agency}")
    return request.getfixturevalue(who)


# --- who may open which page -------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "url", "expected"),
    [
        ("revenue_admin", "/consent/agreements/", 200),
        ("revenue_admin", "/consent/agreements/new/", 200),
        ("role:caseworker@revenue", "/consent/agreements/new/", 403),
        ("citizen", "/consent/agreements/new/", 403),
        ("platform_admin", "/consent/purposes/new/", 200),
        ("revenue_admin", "/consent/purposes/new/", 403),
        ("revenue_admin", "/consent/purposes/", 200),
        ("citizen", "/consent/mine/", 200),
        ("revenue_admin", "/consent/mine/", 403),
        ("citizen", "/consent/mine/access/", 200),
        ("revenue_admin", "/consent/mine/access/", 403),
        ("revenue_admin", "/consent/audit/access/", 200),
        ("platform_admin", "/consent/audit/access/", 200),
        ("role:caseworker@health", "/consent/audit/access/", 403),
        ("citizen", "/consent/audit/access/", 403),
    ],
)
def test_pages_answer_the_right_people(request, who, url, expected):
    assert _signed_in(_who(request, who)).get(url).status_code == expected


def test_anonymous_visitors_are_sent_to_sign_in():
    answer = Client().get("/consent/mine/")
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


def test_staff_without_a_second_factor_are_refused(revenue_admin):
    client = Client()
    client.force_login(revenue_admin)
    assert client.get("/consent/agreements/new/").status_code == 403


def test_every_consent_page_declares_its_permission():
    resolver = next(
        r for r in get_resolver().url_patterns if getattr(r, "namespace", None) == "consent"
    )
    undeclared = [
        str(p.pattern) for p in resolver.url_patterns if not declared_permission(p.callback)
    ]
    assert len(resolver.url_patterns) >= 12 and not undeclared


# --- agreements (staff) ------------------------------------------------------------------


def test_the_list_shows_each_agreement_with_its_terms_and_whether_it_is_in_force(
    revenue_admin, revenue, social
):
    # given one agreement in force and one that has expired
    agreement(provider=revenue, consumer=social)
    agreement(
        code="old-transport-data",
        provider=revenue,
        consumer=AgencyFactory(code="transport", name="Transport"),
        purpose_code="vehicle-tax",
        lawful_basis=LawfulBasis.PUBLIC_TASK,
        valid_from=timezone.now() - timedelta(days=60),
        valid_until=timezone.now() - timedelta(days=1),
    )
    # when an agency admin lists the agreements
    text = _text(_signed_in(revenue_admin).get("/consent/agreements/"))
    # then each shows provider, consumer, purpose, basis, version and status
    row = re.search(r"revenue-income-for-benefits</a></th>(.*?)</tr>", text).group(1)
    assert "Revenue" in row and "Social Services" in row and "Child benefit eligibility" in row
    assert "Consent" in row and '<td class="govuk-table__cell">1</td>' in row and "In force" in row
    old = re.search(r"old-transport-data</a></th>(.*?)</tr>", text).group(1)
    assert "Public task" in old and "Expired" in old
    # and filtering by an agency keeps only its agreements
    filtered = _text(_signed_in(revenue_admin).get("/consent/agreements/", {"agency": "transport"}))
    assert "old-transport-data" in filtered and "revenue-income-for-benefits" not in filtered


def test_an_agreement_page_shows_each_version_what_changed_and_its_seal(revenue_admin):
    # given an agreement revised to share one more attribute
    v1 = agreement()
    v2 = services.agreement_revise(
        actor=system_actor(),
        agreement=v1.agreement,
        attributes=["income_band", "employment_status", "household_size"],
    )
    # when the admin opens it
    text = _text(_signed_in(revenue_admin).get("/consent/agreements/revenue-income-for-benefits/"))
    # then both versions are listed, with what changed, the hash and the signing key
    assert "First version." in text
    assert "Attributes added: household_size." in text
    assert "People who consented to an earlier version are asked again." in text
    assert v1.snapshot_hash in text and v2.snapshot_hash in text and v2.key_id in text
    assert "Revise this agreement" in text


def test_creating_an_agreement_shows_errors_beside_fields_and_keeps_what_was_typed(
    revenue_admin, revenue, social
):
    purpose("child-benefit-eligibility")
    client = _signed_in(revenue_admin)
    form = {
        "code": "revenue-income",
        "provider": "revenue",
        "consumer": "social-services",
        "purpose": "child-benefit-eligibility",
        "purpose_text": "To work out your child benefit.",
        "attributes": "income_band\nemployment_status",
        "lawful_basis": "consent",
        "retention_days": "0",
    }
    # when the retention is not a positive number of days
    answer = client.post("/consent/agreements/new/", form)
    # then the form comes back with the error beside the field, linked from the summary
    assert answer.status_code == 400
    text = _text(answer)
    assert 'href="#id_retention_days"' in text and 'id="id_retention_days_error"' in text
    # and what was typed is kept
    assert "To work out your child benefit." in text and "income_band" in text
    assert not DataAgreement.objects.exists()
    # when the form is right, the agreement is made and its page shown with a message
    answer = client.post("/consent/agreements/new/", {**form, "retention_days": "365"})
    assert answer.status_code == 302
    assert answer["Location"] == "/consent/agreements/revenue-income/"
    version = DataAgreementVersion.objects.get(agreement__code="revenue-income")
    assert version.attributes == ["employment_status", "income_band"]
    assert "is made (version 1)" in _text(client.get(answer["Location"]))


def test_a_domain_refusal_is_put_beside_its_field(revenue_admin, revenue, social):
    # given an agreement whose code is taken, and bad attribute names
    agreement(provider=revenue, consumer=social, code="taken")
    client = _signed_in(revenue_admin)
    form = {
        "code": "taken",
        "provider": "revenue",
        "consumer": "social-services",
        "purpose": "child-benefit-eligibility",
        "purpose_text": "Why.",
        "attributes": "income_band",
        "lawful_basis": "consent",
        "retention_days": "30",
    }
    # when the admin reuses the code
    text = _text(client.post("/consent/agreements/new/", form))
    # then the service's refusal is shown beside the code
    code_error = re.search(r'<p class="govuk-error-message" id="id_code_error">(.*?)</p>', text)
    assert code_error and "revise it instead" in code_error.group(1)
    # when the attributes are not names, the refusal is beside the attributes
    answer = client.post(
        "/consent/agreements/new/", {**form, "code": "fresh", "attributes": "income band!"}
    )
    assert answer.status_code == 400
    assert 'id="id_attributes_error"' in _text(answer)
    assert DataAgreement.objects.count() == 1


def test_an_admin_offers_only_their_own_agency_as_provider(revenue_admin, social):
    text = _text(_signed_in(revenue_admin).get("/consent/agreements/new/"))
    provider = re.search(r'<select name="provider".*?</select>', text).group(0)
    assert "Revenue" in provider and "Social Services" not in provider


def test_revising_makes_a_new_version_with_only_the_changes(revenue_admin):
    v1 = agreement()
    client = _signed_in(revenue_admin)
    url = "/consent/agreements/revenue-income-for-benefits/revise/"
    # the form starts from the latest terms
    page = _text(client.get(url))
    assert "To decide child benefit from your household income." in page
    # when nothing is changed, no version is made
    unchanged = {
        "purpose": "child-benefit-eligibility",
        "purpose_text": v1.purpose_text,
        "attributes": "employment_status\nincome_band",
        "lawful_basis": "consent",
        "retention_days": "365",
    }
    answer = client.post(url, unchanged)
    assert answer.status_code == 400 and "Nothing is changed" in _text(answer)
    # when the retention is shortened, version 2 keeps everything else
    answer = client.post(url, {**unchanged, "retention_days": "90"})
    assert answer.status_code == 302
    v2 = DataAgreementVersion.objects.get(agreement=v1.agreement, version=2)
    assert v2.retention_days == 90 and v2.attributes == v1.attributes
    assert "Retention: 365 → 90 days." in _text(client.get(answer["Location"]))


def test_another_agencys_admin_cannot_revise(social):
    agreement()
    other = staff(Role.AGENCY_ADMIN, social, username="soc-admin")
    client = _signed_in(other)
    url = "/consent/agreements/revenue-income-for-benefits/revise/"
    assert client.get(url).status_code == 403
    assert client.post(url, {"retention_days": "1"}).status_code == 403
    assert DataAgreementVersion.objects.count() == 1
    assert client.get("/consent/agreements/no-such-agreement/").status_code == 404


def test_a_platform_admin_registers_a_purpose(platform_admin):
    client = _signed_in(platform_admin)
    answer = client.post(
        "/consent/purposes/new/", {"code": "fraud-inquiry", "name": "Fraud inquiry"}
    )
    assert answer.status_code == 302 and Purpose.objects.filter(code="fraud-inquiry").exists()
    assert "fraud-inquiry" in _text(client.get("/consent/purposes/"))
    # the same code again is refused beside the code field
    again = client.post("/consent/purposes/new/", {"code": "fraud-inquiry", "name": "Again"})
    assert again.status_code == 400 and 'id="id_code_error"' in _text(again)


# --- your consents (citizens) ------------------------------------------------------------


def test_a_citizen_not_yet_linked_is_asked_to_verify_their_identity():
    client = _signed_in(CitizenFactory(username="new"))
    for url in ("/consent/mine/", "/consent/mine/access/"):
        answer = client.get(url)
        assert answer.status_code == 200 and "Verify your identity first" in _text(answer)


def test_your_consents_lists_agreements_resting_on_consent_in_plain_words(citizen_and_person):
    # given one agreement resting on consent and one on a public task
    agreement()
    agreement(code="public-task-share", lawful_basis=LawfulBasis.PUBLIC_TASK)
    user, _ = citizen_and_person
    # when the citizen opens their consents
    text = _text(_signed_in(user).get("/consent/mine/"))
    # then only the consent one is there, with who, why, what and how long
    assert "Social Services asks for data from Revenue" in text
    assert "To decide child benefit from your household income." in text
    assert "<li>Income band</li>" in text and "<li>Employment status</li>" in text
    assert "365 days" in text and "You have not answered yet" in text
    assert "public-task-share" not in text
    assert 'value="give"' in text and 'value="refuse"' in text and 'value="withdraw"' not in text


def test_a_citizen_gives_then_withdraws_consent_and_is_told_it_is_immediate(citizen_and_person):
    version = agreement()
    user, person = citizen_and_person
    client = _signed_in(user)
    url = "/consent/mine/agreements/revenue-income-for-benefits/answer/"
    # when they give their consent
    answer = client.post(url, {"answer": "give"})
    # then it counts and they are told so
    assert answer.status_code == 302
    assert selectors.consent_covers(person_id=person.pk, version=version)
    text = _text(client.get(answer["Location"]))
    assert "You have given your consent: Social Services may get this data from Revenue." in text
    assert 'value="withdraw"' in text and "Withdrawing takes effect immediately" in text
    # when they withdraw it
    client.post(url, {"answer": "withdraw"})
    # then it stops counting at once, and the message says so
    assert not selectors.consent_covers(person_id=person.pk, version=version)
    text = _text(client.get("/consent/mine/"))
    assert "You have withdrawn your consent. This takes effect immediately" in text
    assert "You withdrew your consent on" in text


def test_a_pointless_answer_is_explained_not_crashed(citizen_and_person):
    agreement()
    client = _signed_in(citizen_and_person[0])
    url = "/consent/mine/agreements/revenue-income-for-benefits/answer/"
    answer = client.post(url, {"answer": "withdraw"}, follow=True)
    assert answer.status_code == 200 and "There is no consent to withdraw." in _text(answer)
    assert client.post(url, {"answer": "maybe"}).status_code == 400


def test_answers_need_the_csrf_token(citizen_and_person):
    agreement()
    user, person = citizen_and_person
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    answer = client.post(
        "/consent/mine/agreements/revenue-income-for-benefits/answer/", {"answer": "give"}
    )
    assert answer.status_code == 403
    assert not person.consents.exists()


def test_a_citizen_downloads_a_receipt_and_reads_the_history(citizen_and_person):
    version = agreement()
    user, person = citizen_and_person
    services.consent_give(actor=user, person=person, agreement=version.agreement)
    record = services.consent_withdraw(actor=user, person=person, agreement=version.agreement)
    client = _signed_in(user)
    # the receipt is a JSON attachment with the signed history
    answer = client.get(f"/consent/mine/records/{record.pk}/receipt.json")
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/json")
    assert answer["Content-Disposition"].startswith("attachment;")
    receipt = json.loads(answer.content)
    assert receipt["consent_status"] == "withdrawn" and len(receipt["events"]) == 2
    # the history lists each change with time, channel and state, and is verified
    text = _text(client.get(f"/consent/mine/records/{record.pk}/"))
    assert text.count("Citizen portal") == 2
    assert '<td class="govuk-table__cell">Given</td>' in text
    assert '<td class="govuk-table__cell">Withdrawn</td>' in text
    assert "This history is intact" in text
    # and another citizen gets neither
    stranger = _signed_in(linked_citizen("stranger")[0])
    assert stranger.get(f"/consent/mine/records/{record.pk}/receipt.json").status_code == 403
    assert stranger.get(f"/consent/mine/records/{record.pk}/").status_code == 403


# --- who accessed my data ----------------------------------------------------------------


def _read(person, agency, role, purpose_text, username):
    reader = staff(role, agency, username=username)
    audit.record(
        actor=reader,
        action="person.read",
        subject_person=person.pk,
        purpose=purpose_text,
        agency=agency.code,
    )
    return reader


def test_who_accessed_my_data_shows_reads_newest_first_without_delayed_ones(citizen_and_person):
    # given a citizen whose record Health read 30 times, and the police once, delayed
    user, person = citizen_and_person
    health = AgencyFactory(code="health", name="Health")
    police = AgencyFactory(code="investigations", name="Investigations")
    for n in range(30):
        _read(person, health, Role.CASEWORKER, f"check number {n}", f"nurse{n}")
    investigator = _read(person, police, Role.SUPERVISOR, "fraud inquiry", "inv")
    services.disclosure_delay_set(
        actor=_verified(investigator),
        person=person,
        agency=police,
        until=timezone.now() + timedelta(days=90),
        reason="open inquiry",
    )
    client = _signed_in(user)
    # when the citizen looks
    text = _text(client.get("/consent/mine/access/"))
    # then the newest reads come first, with agency, role, why and what
    assert "Health" in text and "Caseworker" in text and "Read your record" in text
    assert text.index("check number 29") < text.index("check number 28")
    assert "check number 4" not in text  # on the second page
    assert "Page 1 of 2" in text
    # and the delayed read is not shown, though the page explains that some may come later
    assert "fraud inquiry" not in text and "Investigations" not in text
    assert "shown to you later" in text
    second = _text(client.get("/consent/mine/access/", {"page": 2}))
    assert "check number 0" in second and "fraud inquiry" not in second


def _verified(user):
    from identity.tests.factories import verified

    return verified(user)


# --- auditors ----------------------------------------------------------------------------


def test_an_auditor_sees_delayed_reads_marked(citizen_and_person, platform_admin):
    _, person = citizen_and_person
    health = AgencyFactory(code="health", name="Health")
    police = AgencyFactory(code="investigations", name="Investigations")
    _read(person, health, Role.CASEWORKER, "birth check", "nurse")
    investigator = _read(person, police, Role.SUPERVISOR, "fraud inquiry", "inv")
    until = timezone.now() + timedelta(days=30)
    services.disclosure_delay_set(
        actor=_verified(investigator), person=person, agency=police, until=until, reason="x"
    )
    client = _signed_in(platform_admin)
    text = _text(client.get("/consent/audit/access/", {"person": person.pk}))
    assert "birth check" in text and "fraud inquiry" in text
    assert f"Delayed: hidden until {until:%Y-%m-%d}" in text
    # an unknown person is an error beside the field
    missing = client.get("/consent/audit/access/", {"person": "PNOSUCHPERSON"})
    assert missing.status_code == 400 and 'id="id_person_error"' in _text(missing)


def test_a_supervisor_delays_disclosure_of_their_agencys_reads(citizen_and_person):
    user, person = citizen_and_person
    police = AgencyFactory(code="investigations", name="Investigations")
    supervisor = _read(person, police, Role.SUPERVISOR, "fraud inquiry", "inv")
    client = _signed_in(supervisor)
    url = f"/consent/audit/people/{person.pk}/delay/"
    # a date in the past is refused beside its field, keeping the reason typed
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    answer = client.post(url, {"agency": "investigations", "until": yesterday, "reason": "case 17"})
    assert answer.status_code == 400
    text = _text(answer)
    assert 'id="id_until_error"' in text and "case 17" in text
    # a date to come hides the agency's reads from the person
    later = (timezone.localdate() + timedelta(days=60)).isoformat()
    answer = client.post(url, {"agency": "investigations", "until": later, "reason": "case 17"})
    assert answer.status_code == 302
    assert DisclosureDelay.objects.get(person=person).reason == "case 17"
    assert "fraud inquiry" not in _text(_signed_in(user).get("/consent/mine/access/"))
    # a caseworker may not set delays
    caseworker = staff(Role.CASEWORKER, police, username="cw")
    assert _signed_in(caseworker).get(url).status_code == 403
