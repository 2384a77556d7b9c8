import pytest

from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff
from registry.models import CandidateStatus, MatchCandidate, SourceRecord
from registry.tests.factories_review import (
    MatchCandidateFactory,
    api_client,
    person_with_records,
    records_of,
)

pytestmark = pytest.mark.django_db

API = "/api/v1/registry"


@pytest.fixture
def health():
    return AgencyFactory(code="health", name="Health")


@pytest.fixture
def client(health):
    return api_client(staff(Role.DATA_STEWARD, health, username="stew"))


def _pair(probability=0.7, **kwargs):
    mine, theirs = person_with_records(1), person_with_records(1)
    return MatchCandidateFactory(
        record=records_of(mine)[0],
        other=records_of(theirs)[0],
        match_probability=probability,
        **kwargs,
    )


def test_queue_lists_open_pairs_least_certain_first_without_reading_anyone(client):
    # given open pairs at 0.9, 0.55 and 0.3 and one rejected pair
    sure, unsure, unlikely = _pair(0.9), _pair(0.55), _pair(0.3)
    _pair(0.5, status=CandidateStatus.REJECTED)
    # when the steward lists the queue
    response = client.get(f"{API}/review/candidates")
    # then the open pairs come closest-to-even first, with no personal data and no reads
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 3
    assert [i["id"] for i in body["items"]] == [unsure.pk, unlikely.pk, sure.pk]
    assert set(body["items"][0]["record"]) == {"id", "agency", "agency_record_id", "person_id"}
    assert not AuditEntry.objects.filter(action="source_record.read").exists()
    # and by probability when asked
    by_probability = client.get(f"{API}/review/candidates", {"ordering": "probability"}).json()
    assert [i["id"] for i in by_probability["items"]] == [sure.pk, unsure.pk, unlikely.pk]


def test_queue_rejects_an_unknown_status(client):
    response = client.get(f"{API}/review/candidates", {"status": "maybe"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


def test_pair_detail_compares_fields_and_explains_and_audits_both_reads(client):
    # given a pair whose records differ only in postcode
    candidate = _pair()
    SourceRecord.objects.filter(pk=candidate.other_id).update(postcode="ZZ9 9ZZ")
    # when the steward opens it
    response = client.get(f"{API}/review/candidates/{candidate.pk}")
    # then the fields are compared one by one, the national ID masked
    assert response.status_code == 200, response.content
    body = response.json()
    agreement = {row["field"]: row["agreement"] for row in body["fields"]}
    assert agreement["postcode"] == "different"
    assert agreement["family_name"] == "same"
    assert agreement["national_id"] == "different"
    national = next(row for row in body["fields"] if row["field"] == "national_id")
    assert national["record"].startswith("\u2022") and national["record"][-3:].isdigit()
    # and the explanation comes with the prior that makes up the rest of the weight
    weights = [item["weight"] for item in body["explanation"]]
    assert weights == [4.5, 3.25, 6.0, -4.75]
    assert body["prior_weight"] == pytest.approx(candidate.match_weight - sum(weights))
    # and both records' reads are audited for clerical review
    reads = AuditEntry.objects.filter(action="source_record.read")
    assert reads.count() == 2
    assert {r.purpose for r in reads} == {"clerical review"}
    assert {r.subject_person for r in reads} == {
        candidate.record.person_id,
        candidate.other.person_id,
    }


def test_accept_then_accept_again_is_a_conflict(client):
    # given an open pair
    candidate = _pair()
    # when accepted, then the same pair accepted again
    first = client.post(
        f"{API}/review/candidates/{candidate.pk}/accept",
        {"note": "same person"},
        content_type="application/json",
    )
    second = client.post(
        f"{API}/review/candidates/{candidate.pk}/accept", {}, content_type="application/json"
    )
    # then the first merges the persons, the second is a 409 problem
    assert first.status_code == 200, first.content
    assert first.json()["survivor"] == candidate.other.person_id
    assert first.json()["candidate_status"] == "accepted"
    assert second.status_code == 409
    assert second["Content-Type"] == "application/problem+json"
    assert second.json()["code"] == "match_candidate_decided"


def test_reject_is_recorded(client):
    candidate = _pair()
    response = client.post(
        f"{API}/review/candidates/{candidate.pk}/reject",
        {"note": "twins"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["action"] is None
    assert MatchCandidate.objects.get(pk=candidate.pk).status == CandidateStatus.REJECTED


def test_unknown_pair_is_not_found(client):
    response = client.get(f"{API}/review/candidates/999999")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_merge_then_history_then_undo(client):
    # given two persons
    survivor, merged = person_with_records(1), person_with_records(2)
    # when the second is merged into the first
    response = client.post(
        f"{API}/persons/{survivor.pk}/merge",
        {"other": merged.pk, "note": "duplicate"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    action = response.json()["action"]
    # then the survivor's history shows the merge, undoable
    history = client.get(f"{API}/persons/{survivor.pk}/history").json()
    assert history[0]["action"] == action
    assert history[0]["reason"] == "merge" and history[0]["can_undo"] is True
    assert len(history[0]["events"]) == 2
    # when it is undone
    undo = client.post(
        f"{API}/persons/actions/{action}/undo", {"note": ""}, content_type="application/json"
    )
    # then the records are back and a second undo is a conflict
    assert undo.status_code == 200, undo.content
    assert SourceRecord.objects.filter(person=merged).count() == 2
    again = client.post(f"{API}/persons/actions/{action}/undo", {}, content_type="application/json")
    assert again.status_code == 409
    assert "already been undone" in again.json()["detail"]


def test_merge_with_an_unknown_person_is_not_found(client):
    survivor = person_with_records(1)
    response = client.post(
        f"{API}/persons/{survivor.pk}/merge",
        {"other": "P0000000000000"},
        content_type="application/json",
    )
    assert response.status_code == 404


def test_split_taking_every_record_is_unprocessable(client):
    # given a person with two records
    person = person_with_records(2)
    ids = [r.pk for r in records_of(person)]
    # when a split names both
    response = client.post(
        f"{API}/persons/{person.pk}/split", {"record_ids": ids}, content_type="application/json"
    )
    # then 422 says why, on the field
    assert response.status_code == 422
    assert response.json()["code"] == "split_invalid"
    assert "record_ids" in response.json()["errors"]
    # and a split of one of them works
    response = client.post(
        f"{API}/persons/{person.pk}/split",
        {"record_ids": ids[:1], "note": "different DOB"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["new_person"]


def test_undo_after_a_later_change_is_a_conflict(client):
    survivor, merged = person_with_records(1), person_with_records(2)
    action = client.post(
        f"{API}/persons/{survivor.pk}/merge", {"other": merged.pk}, content_type="application/json"
    ).json()["action"]
    moved = records_of(survivor)[-1]
    client.post(
        f"{API}/persons/{survivor.pk}/split",
        {"record_ids": [moved.pk]},
        content_type="application/json",
    )
    response = client.post(
        f"{API}/persons/actions/{action}/undo", {}, content_type="application/json"
    )
    assert response.status_code == 409
    assert "Undo the later change first" in response.json()["detail"]


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.SUPERVISOR, Role.POLICY_ANALYST])
def test_staff_who_are_not_stewards_are_refused(health, role):
    # given a pair and two persons
    candidate = _pair()
    a, b = person_with_records(1), person_with_records(1)
    client = api_client(staff(role, health))
    # when they try the review routes, then every one is refused
    attempts = [
        client.get(f"{API}/review/candidates"),
        client.get(f"{API}/review/candidates/{candidate.pk}"),
        client.post(
            f"{API}/review/candidates/{candidate.pk}/accept", {}, content_type="application/json"
        ),
        client.post(
            f"{API}/persons/{a.pk}/merge", {"other": b.pk}, content_type="application/json"
        ),
        client.get(f"{API}/persons/{a.pk}/history"),
    ]
    assert [r.status_code for r in attempts] == [403] * 5
    assert MatchCandidate.objects.get(pk=candidate.pk).status == CandidateStatus.OPEN
    assert not AuditEntry.objects.filter(action="source_record.read").exists()


def test_a_token_without_the_persons_write_scope_is_refused(health):
    client = api_client(staff(Role.DATA_STEWARD, health), scopes=("persons:read",))
    response = client.get(f"{API}/review/candidates")
    assert response.status_code == 403
    assert "scope" in response.json()["detail"]


def test_signed_out_is_unauthenticated():
    from django.test import Client

    response = Client().get(f"{API}/review/candidates")
    assert response.status_code == 401
