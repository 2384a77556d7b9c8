"""Shared pieces of the feed tests: an agency with a steward, rows in the agency's shape."""

import csv
import io
from typing import Any

from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff, verified

REVENUE_HEADER = [
    "TAXPAYER_REF",
    "FORENAME",
    "MIDDLE_NAMES",
    "SURNAME",
    "PREVIOUS_SURNAME",
    "DOB",
    "GENDER",
    "ADDR_LINE_1",
    "POST_TOWN",
    "POSTCODE",
    "TEL_NO",
    "EMAIL_ADDR",
    "NINO",
    "LAST_UPDATED",
    "UTR",
    "INCOME_BAND",
    "EMP_STATUS",
]


def revenue_row(ref: str = "RV00000001", **overrides: str) -> dict[str, str]:
    row = {
        "TAXPAYER_REF": ref,
        "FORENAME": "Maria",
        "MIDDLE_NAMES": "",
        "SURNAME": "Garcia",
        "PREVIOUS_SURNAME": "",
        "DOB": "14/03/1985",
        "GENDER": "F",
        "ADDR_LINE_1": "12 High St",
        "POST_TOWN": "Northtown",
        "POSTCODE": "NT1 2AB",
        "TEL_NO": "07700 900123",
        "EMAIL_ADDR": "Maria.Garcia@Example.org",
        "NINO": "AB123456C",
        "LAST_UPDATED": "01/02/2024 10:30",
        "UTR": "1234567890",
        "INCOME_BAND": "B",
        "EMP_STATUS": "employed",
    }
    row.update(overrides)
    return row


def csv_bytes(
    rows: list[dict[str, Any]],
    header: list[str] = REVENUE_HEADER,
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, delimiter=delimiter, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def revenue_agency():
    return AgencyFactory(code="revenue", name="Revenue Agency")


def steward_of(agency, **kwargs):
    return verified(staff(Role.DATA_STEWARD, agency, **kwargs))


def signed_in(client, user):
    """Sign `user` in through the real pages: password, then a TOTP code for staff."""
    from django_otp.oath import totp

    from identity.tests.factories import PASSWORD, totp_device

    device = totp_device(user) if user.needs_mfa else None
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    if device is not None:
        code = f"{totp(device.bin_key, step=device.step, t0=device.t0):06d}"
        response = client.post("/accounts/login/verify/", {"token": code})
        assert response.status_code == 302, response.content
    return client


def token_client(user, scopes=("registry:read", "registry:write")):
    from django.test import Client

    from identity import services

    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = services.api_token_create(actor=user, name="t", scopes=list(scopes))
    del user.civic_system
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
