"""A citizen signing up is matched against the index at once (issue 3, point 3)."""

import pytest

from identity import services as identity_services
from identity.services import system_actor
from registry.models import Person, SourceRecord
from registry.services import linkage
from registry.services.citizens import citizen_person, citizen_record_register
from registry.tests.test_linkage_run import population  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _sign_up(username, **details):
    return identity_services.citizen_register(
        username=username,
        password="a-long-passphrase-1",
        email=f"{username}@example.org",
        **details,
    )


def test_a_citizen_with_a_known_national_id_joins_their_person(population):  # noqa: F811
    # given a linked index holding a person with a national ID
    linkage.link_run(actor=system_actor())
    known = (
        SourceRecord.objects.exclude(national_id_index=None)
        .exclude(date_of_birth=None)
        .order_by("pk")
        .first()
    )
    # when that person signs up with their name, national ID and date of birth
    user = _sign_up(
        "newcitizen",
        first_name=known.given_name,
        last_name=known.family_name,
        national_id=known.national_id,
    )
    record, match = citizen_record_register(user=user, date_of_birth=known.date_of_birth)
    # then the account is linked to the known person at once
    assert match is not None and match.decision == "joined"
    assert citizen_person(user=user) == known.person
    assert record.agency.code == "citizen-portal"


def test_a_stranger_becomes_a_new_person_and_before_any_model_waits(population):  # noqa: F811
    # before any link run: the record waits for the first one
    early = _sign_up("early", first_name="Zebedee", last_name="Quartermaine")
    _, match = citizen_record_register(user=early)
    assert match is None and citizen_person(user=early) is None
    # after it, a stranger gets a person of their own
    linkage.link_run(actor=system_actor())
    stranger = _sign_up("stranger", first_name="Xanthippe", last_name="Okonkwo-Lindqvist")
    _, match = citizen_record_register(user=stranger)
    assert match is not None and match.decision == "new"
    assert citizen_person(user=stranger) is not None


def test_citizen_person_follows_a_merge(population):  # noqa: F811
    linkage.link_run(actor=system_actor())
    user = _sign_up("merged", first_name="Ada", last_name="Zed")
    record, _ = citizen_record_register(user=user)
    old = Person.objects.get(pk=record.person_id)
    survivor = Person.objects.create()
    old.merged_into = survivor
    old.save()
    assert citizen_person(user=user) == survivor
