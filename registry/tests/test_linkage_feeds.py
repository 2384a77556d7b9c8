"""Records loaded by a feed are matched against the index at once (issue 3, point 3)."""

import io

import pytest
from django.core.management import call_command

from identity.models import Agency
from identity.services import system_actor
from registry.models import LinkRun, MembershipEvent, Person, SourceRecord
from registry.services import feeds, linkage
from registry.tests.feeds_helpers import csv_bytes, revenue_row
from registry.tests.test_linkage_run import population  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def _row_for(record: SourceRecord, ref: str) -> dict[str, str]:
    return revenue_row(
        ref,
        FORENAME=record.given_name,
        SURNAME=record.family_name,
        DOB=record.date_of_birth.strftime("%d/%m/%Y"),
        GENDER=record.sex or "U",
        ADDR_LINE_1=record.address_line,
        POST_TOWN=record.locality,
        POSTCODE=record.postcode,
        TEL_NO="",
        EMAIL_ADDR="",
        NINO=record.national_id,
    )


def test_a_loaded_record_of_a_known_person_joins_them_and_a_stranger_is_new(
    population,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    # given a linked index
    actor = system_actor()
    linkage.link_run(actor=actor)
    known = (
        SourceRecord.objects.exclude(agency__code="revenue")
        .exclude(date_of_birth=None)
        .exclude(national_id_index=None)
        .order_by("pk")
        .first()
    )
    persons_before = Person.objects.count()
    # when Revenue's feed brings that person's record and a stranger's
    stranger = revenue_row(
        "RV-NEW-2",
        FORENAME="Zebedee",
        SURNAME="Quartermaine",
        DOB="02/02/1931",
        ADDR_LINE_1="1 Nowhere Lane",
        POSTCODE="ZZ9 9ZZ",
        NINO="",
        TEL_NO="",
        EMAIL_ADDR="",
    )
    data = csv_bytes([_row_for(known, "RV-NEW-1"), stranger])
    with django_capture_on_commit_callbacks(execute=True):
        result = feeds.ingest_file(
            agency=Agency.objects.get(code="revenue"), data=data, actor=actor
        )
    # then (the match task runs on commit) the first joined the known person, the second
    # is a new person, each with a membership event
    assert result.batch.rejected_count == 0
    joined = SourceRecord.objects.get(agency_record_id="RV-NEW-1")
    new = SourceRecord.objects.get(agency_record_id="RV-NEW-2")
    assert joined.person_id == known.person_id
    assert new.person_id is not None and new.person_id != known.person_id
    assert Person.objects.count() == persons_before + 1
    assert MembershipEvent.objects.filter(record__in=[joined, new]).count() == 2


def test_before_any_link_run_loaded_records_wait_for_the_first_one(
    population,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    actor = system_actor()
    data = csv_bytes([revenue_row("RV-NEW-9", NINO="")])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        feeds.ingest_file(agency=Agency.objects.get(code="revenue"), data=data, actor=actor)
    assert callbacks  # the match task was queued, and found no model to match with
    assert SourceRecord.objects.get(agency_record_id="RV-NEW-9").person_id is None


def test_link_if_unlinked_does_nothing_when_everyone_has_a_person(population):  # noqa: F811
    # given a linked index (make demo runs `link --if-unlinked` after every start)
    linkage.link_run(actor=system_actor())
    out = io.StringIO()
    # when the demo starts again
    call_command("link", "--if-unlinked", stdout=out)
    # then no second run is made
    assert "nothing to link" in out.getvalue()
    assert LinkRun.objects.count() == 1


def test_link_if_unlinked_retrains_a_model_of_older_comparisons(population):  # noqa: F811
    # given a linked index whose model was trained on an older version's comparisons
    linkage.link_run(actor=system_actor())
    model = linkage.linkage_model_active()
    old = dict(model.splink_model)
    old["civicstack"] = {**old.get("civicstack", {}), "spec_version": 1}
    type(model).objects.filter(pk=model.pk).update(splink_model=old)
    out = io.StringIO()
    # when the demo starts again after an upgrade
    call_command("link", "--if-unlinked", stdout=out)
    # then the model is retrained and the index linked with it
    assert "must be retrained" in out.getvalue()
    assert LinkRun.objects.count() == 2
    assert linkage.linkage_model_active().pk != model.pk
