import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from identity.choices import Role
from identity.tests.factories import PASSWORD, CitizenFactory, staff, totp_device

pytestmark = pytest.mark.django_db


def _code(device, offset=0):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0 - offset * device.step):06d}"


def _password_step(client, user, password=PASSWORD):
    return client.post("/accounts/login/", {"username": user.username, "password": password})


def test_citizen_signs_in_with_password(client):
    citizen = CitizenFactory()
    response = _password_step(client, citizen)
    assert response.status_code == 302
    assert client.get("/api/v1/me").json()["username"] == citizen.username


def test_wrong_password_shows_message_on_the_form(client):
    citizen = CitizenFactory()
    response = _password_step(client, citizen, password="nope-nope-nope")
    assert response.status_code == 400
    assert "username or password is not right" in response.content.decode()
    assert client.get("/api/v1/me").status_code == 401


def test_staff_needs_a_totp_code_after_the_password(client):
    # given a caseworker with an authenticator
    worker = staff(Role.CASEWORKER)
    device = totp_device(worker)
    # when the password is right, the next step asks for a code and nothing is signed in yet
    response = _password_step(client, worker)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/verify/"
    assert client.get("/").status_code == 302  # home still sends to sign-in
    # when the code is right
    response = client.post("/accounts/login/verify/", {"token": _code(device)})
    assert response.status_code == 302
    # then the staff member is signed in with MFA and the API accepts them
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["mfa_verified"] is True


def test_wrong_totp_code_is_reported_beside_the_field(client):
    worker = staff(Role.CASEWORKER)
    device = totp_device(worker)
    _password_step(client, worker)
    wrong = f"{(int(_code(device)) + 1) % 1_000_000:06d}"
    response = client.post("/accounts/login/verify/", {"token": wrong})
    assert response.status_code == 400
    assert "That code is not right" in response.content.decode()
    assert client.get("/api/v1/me").status_code == 401


def test_repeated_wrong_codes_lock_out_like_wrong_passwords(client):
    # given a caseworker past the password step
    worker = staff(Role.CASEWORKER)
    device = totp_device(worker)
    _password_step(client, worker)
    # when wrong codes are sent as often as the lockout limit (3 in tests)
    for _ in range(3):
        response = client.post("/accounts/login/verify/", {"token": "000000"})
    # then the account is locked: even the right password and a right code do not sign in
    assert response.status_code == 429
    assert _password_step(client, worker).status_code == 429
    client.post("/accounts/login/verify/", {"token": _code(device)})
    assert client.get("/api/v1/me").status_code == 401


def test_verify_page_without_password_step_goes_back_to_sign_in(client):
    response = client.get("/accounts/login/verify/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"


def test_staff_without_device_enrols_one_first(client):
    worker = staff(Role.SUPERVISOR)
    response = _password_step(client, worker)
    assert response["Location"] == "/accounts/mfa/setup/"
    page = client.get("/accounts/mfa/setup/")
    assert page.status_code == 200
    assert "<svg" in page.content.decode()
    device = TOTPDevice.objects.get(user=worker, confirmed=False)
    response = client.post("/accounts/mfa/setup/", {"token": _code(device)})
    assert response.status_code == 302
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/api/v1/me").json()["mfa_verified"] is True


def test_lockout_after_repeated_password_failures(client):
    # given a citizen whose password is guessed wrong as often as the limit allows (3 in tests)
    citizen = CitizenFactory()
    for _ in range(3):
        _password_step(client, citizen, password="wrong-password-x")
    # then even the right password is refused for now
    response = _password_step(client, citizen)
    assert response.status_code in (403, 429)
    assert "Too many failed attempts" in response.content.decode()
    assert client.get("/api/v1/me").status_code == 401


def test_next_parameter_cannot_redirect_off_site(client):
    citizen = CitizenFactory()
    response = client.post(
        "/accounts/login/?next=https://evil.example/",
        {"username": citizen.username, "password": PASSWORD},
    )
    assert response["Location"] == "/"


def test_sign_out_needs_post_and_ends_session(client):
    citizen = CitizenFactory()
    client.force_login(citizen)
    assert client.get("/accounts/logout/").status_code == 405
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/api/v1/me").status_code == 401


@override_settings(DEBUG=True)
def test_totp_code_prints_a_working_code_for_demo_accounts(client, capsys):
    worker = staff(Role.CASEWORKER, is_demo=True)
    totp_device(worker)
    call_command("totp_code", worker.username)
    code = capsys.readouterr().out.strip()
    assert len(code) == 6 and code.isdigit()
    _password_step(client, worker)
    assert client.post("/accounts/login/verify/", {"token": code}).status_code == 302
    assert client.get("/api/v1/me").status_code == 200


def test_totp_code_refuses_when_debug_is_off():
    worker = staff(Role.CASEWORKER, is_demo=True)
    totp_device(worker)
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("totp_code", worker.username)


@override_settings(DEBUG=True)
def test_totp_code_refuses_real_accounts():
    worker = staff(Role.CASEWORKER, is_demo=False)
    totp_device(worker)
    with pytest.raises(CommandError, match="not a demo account"):
        call_command("totp_code", worker.username)


def test_partner_developers_also_need_a_second_factor(client):
    from identity import services
    from identity.choices import AgencyKind
    from identity.tests.factories import AgencyFactory

    admin = staff(Role.PLATFORM_ADMIN)
    admin.civic_system = True
    labs = AgencyFactory(code="labs", kind=AgencyKind.PARTNER)
    developer = services.partner_developer_create(
        actor=admin, organisation=labs, username="dev", password=PASSWORD
    )
    assert developer.role_assignments.get().role == Role.PARTNER_DEVELOPER
    response = _password_step(client, developer)
    assert response["Location"] == "/accounts/mfa/setup/"
    assert client.get("/api/v1/me").status_code == 401


def test_citizen_registration_keeps_the_national_id_encrypted_and_findable():
    from core.fields import lookup_value
    from identity import services
    from identity.models import User

    services.citizen_register(
        username="ana", password=PASSWORD, email="ana@example.org", national_id="12 345 678"
    )
    found = User.objects.get(national_id_index=lookup_value(User, "national_id", "12345678"))
    assert found.username == "ana"
