"""Sign-up and identity verification: the account is linked to its person, guessing is limited."""

import datetime as dt

import pytest
from django.test import Client

from core.models import AuditEntry
from identity.models import User
from identity.tests.factories import AgencyFactory, CitizenFactory
from portal import verification
from registry.models import MembershipEvent, Person, SourceRecord
from registry.services.citizens import citizen_person

pytestmark = pytest.mark.django_db

BORN = dt.date(1984, 6, 2)


@pytest.fixture
def maria():
    """Maria's Health record carries her national ID and date of birth."""
    person = Person.objects.create(given_name="Maria", family_name="Lopez")
    SourceRecord.objects.create(
        agency=AgencyFactory(code="health", name="Health Service"),
        agency_record_id="HS1",
        person=person,
        given_name="Maria",
        family_name="Lopez",
        date_of_birth=BORN,
        national_id="1234567897",
    )
    return person


def _signed_up(client, **overrides):
    data = {
        "first_name": "Maria",
        "last_name": "Lopez",
        "email": "maria@example.org",
        "username": "maria",
        "password": "a long enough pass phrase",
        "password_again": "a long enough pass phrase",
        **overrides,
    }
    return client.post("/portal/sign-up/", data)


def test_signing_up_creates_a_citizen_signed_in_and_asks_them_to_prove_who_they_are(client):
    response = _signed_up(client)
    assert response.status_code == 302
    assert response["Location"] == "/portal/verify/"
    user = User.objects.get(username="maria")
    assert user.is_citizen and user.email == "maria@example.org"
    # signed in: the verification page opens
    page = client.get("/portal/verify/")
    assert page.status_code == 200 and "Prove who you are" in page.text


def test_sign_up_errors_are_beside_their_fields_and_keep_what_was_typed(client):
    CitizenFactory(username="maria")
    response = _signed_up(client, password_again="something else entirely", email="maria@")
    assert response.status_code == 400
    assert 'id="id_password_again_error"' in response.text
    assert 'id="id_email_error"' in response.text
    assert 'value="Lopez"' in response.text  # what was typed is kept
    assert "a long enough pass phrase" not in response.text  # passwords are not sent back
    # a taken username and a weak password are the service's refusals, beside the fields
    response = _signed_up(client, username="maria2", password="password", password_again="password")
    assert response.status_code == 400
    assert 'id="id_password_error"' in response.text
    response = _signed_up(client)
    assert 'id="id_username_error"' in response.text and "taken" in response.text
    assert User.objects.filter(username="maria").count() == 1


def test_matching_details_link_the_account_to_the_person(maria):
    user = CitizenFactory(first_name="Maria", last_name="Lopez")
    client = Client()
    client.force_login(user)
    response = client.post(
        "/portal/verify/", {"national_id": "123 456 7897", "date_of_birth": "1984-06-02"}
    )
    assert response.status_code == 302 and response["Location"] == "/portal/your-data/"
    user.refresh_from_db()
    assert citizen_person(user=user) == maria
    assert user.national_id == "1234567897"  # kept, encrypted at rest
    event = MembershipEvent.objects.get(to_person=maria)
    assert "identity verified" in event.note
    assert AuditEntry.objects.filter(
        action="citizen.identity_verified", subject_person=maria.pk
    ).exists()


def test_wrong_details_are_refused_with_the_tries_left_and_lock_after_five(maria):
    user = CitizenFactory()
    client = Client()
    client.force_login(user)
    wrong = {"national_id": "1234567897", "date_of_birth": "1984-06-03"}
    for left in (4, 3, 2, 1):
        response = client.post("/portal/verify/", wrong)
        assert response.status_code == 400
        assert f"you have {left} tries left today" in response.text
    response = client.post("/portal/verify/", wrong)
    assert "You have no tries left today" in response.text
    # now even the right details are refused until the window passes
    right = {"national_id": "1234567897", "date_of_birth": "1984-06-02"}
    response = client.post("/portal/verify/", right)
    assert response.status_code == 429
    assert citizen_person(user=user) is None
    assert "Too many tries" in client.get("/portal/verify/").text
    # a day later the citizen may try again
    later = verification.identity_check_state(
        user=user, now=dt.datetime.now(dt.UTC) + verification.WINDOW + dt.timedelta(minutes=1)
    )
    assert later.locked_until is None and later.tries_left == verification.MAX_FAILURES


def test_a_national_id_in_the_wrong_shape_is_refused_without_counting_a_try(maria):
    user = CitizenFactory()
    client = Client()
    client.force_login(user)
    response = client.post("/portal/verify/", {"national_id": "12", "date_of_birth": "1984-06-02"})
    assert response.status_code == 400
    assert 'id="id_national_id_error"' in response.text
    assert verification.identity_check_state(user=user).failures == 0


def test_a_record_the_citizen_typed_in_themself_does_not_verify_them():
    # given only the citizen's own portal record holds the national ID and birth date
    portal = AgencyFactory(code="citizen-portal", name="Citizen portal")
    someone = Person.objects.create(given_name="X")
    SourceRecord.objects.create(
        agency=portal,
        agency_record_id="user-999",
        person=someone,
        date_of_birth=BORN,
        national_id="1234567897",
    )
    user = CitizenFactory()
    client = Client()
    client.force_login(user)
    response = client.post(
        "/portal/verify/", {"national_id": "1234567897", "date_of_birth": "1984-06-02"}
    )
    assert response.status_code == 400
    assert citizen_person(user=user) is None


def test_staff_cannot_use_the_citizens_check(maria):
    from identity.choices import Role
    from identity.tests.factories import staff, verified

    worker = verified(staff(Role.CASEWORKER))
    client = Client()
    client.force_login(worker)
    assert client.get("/portal/verify/").status_code == 403
