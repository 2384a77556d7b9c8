"""Fixtures for clerical review: persons with records, uncertain pairs, signed-in stewards.

Built here rather than from the linkage code, so review is tested on its own.
"""

from __future__ import annotations

import factory
from django.test import Client
from django_otp.oath import totp

from identity import services as identity_services
from identity.models import Agency, User
from identity.tests.factories import PASSWORD, totp_device
from registry.models import CandidateStatus, MatchCandidate, MembershipReason, Person, SourceRecord
from registry.tests.factories import SourceRecordFactory


class PersonFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Person


# A typical explanation: name and date of birth agree, the postcode does not.
EXPLANATION = [
    {"comparison": "given_name", "level": "exact match", "weight": 4.5},
    {"comparison": "family_name", "level": "Jaro-Winkler >= 0.92", "weight": 3.25},
    {"comparison": "date_of_birth", "level": "exact match", "weight": 6.0},
    {"comparison": "postcode", "level": "all other comparisons", "weight": -4.75},
]
PRIOR = -9.0


class MatchCandidateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MatchCandidate

    record = factory.SubFactory(SourceRecordFactory)
    other = factory.SubFactory(SourceRecordFactory)
    match_probability = 0.7
    explanation = factory.LazyFunction(lambda: [dict(item) for item in EXPLANATION])
    match_weight = factory.LazyAttribute(
        lambda o: round(PRIOR + sum(item["weight"] for item in o.explanation), 4)
    )
    origin = MembershipReason.LINK_RUN
    status = CandidateStatus.OPEN


def person_with_records(count: int, agency: Agency | None = None, **fields: object) -> Person:
    """A person holding `count` fresh source records (of one agency if given)."""
    person = PersonFactory()
    extra = {"agency": agency} if agency is not None else {}
    SourceRecordFactory.create_batch(count, person=person, **extra, **fields)
    return person


def records_of(person: Person) -> list[SourceRecord]:
    return list(SourceRecord.objects.filter(person=person).order_by("pk"))


def person_ids_of(*records: SourceRecord) -> list[str | None]:
    """The current person of each record, read from the database."""
    return [SourceRecord.objects.get(pk=r.pk).person_id for r in records]


def api_client(user: User, scopes: tuple[str, ...] = ("persons:write",)) -> Client:
    """A client calling the API with a bearer token limited to `scopes`."""
    user.civic_system = True  # type: ignore[attr-defined]  # stands in for the MFA session
    _, raw = identity_services.api_token_create(actor=user, name="review", scopes=list(scopes))
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def signed_in(client: Client, user: User) -> Client:
    """Sign `user` in through the real pages: password, then a TOTP code for staff."""
    device = totp_device(user) if user.needs_mfa else None
    response = client.post("/accounts/login/", {"username": user.username, "password": PASSWORD})
    assert response.status_code == 302, response.content
    if device is not None:
        code = f"{totp(device.bin_key, step=device.step, t0=device.t0):06d}"
        response = client.post("/accounts/login/verify/", {"token": code})
        assert response.status_code == 302, response.content
    return client
