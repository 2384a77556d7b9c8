import re

import pytest
from django.test import Client

from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import AgencyFactory, CitizenFactory, staff
from registry.models import (
    CandidateStatus,
    MatchCandidate,
    MembershipEvent,
    Person,
    SourceRecord,
)
from registry.tests.factories_review import (
    MatchCandidateFactory,
    person_with_records,
    records_of,
    signed_in,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def health():
    return AgencyFactory(code="health", name="Health")


@pytest.fixture
def steward_client(health):
    return signed_in(Client(), staff(Role.DATA_STEWARD, health, username="stew"))


def _pair(probability=0.7, **kwargs):
    mine, theirs = person_with_records(1), person_with_records(1)
    return MatchCandidateFactory(
        record=records_of(mine)[0], other=records_of(theirs)[0], match_probability=probability
    )


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def test_queue_shows_open_pairs_and_filters(steward_client):
    # given an open and a rejected pair
    open_pair = _pair(0.6)
    rejected = _pair(0.4)
    MatchCandidate.objects.filter(pk=rejected.pk).update(status=CandidateStatus.REJECTED)
    # when the steward opens the queue
    response = steward_client.get("/registry/review/")
    # then the open pair is listed with a link, the rejected one is not
    assert response.status_code == 200
    assert f'href="/registry/review/{open_pair.pk}/"' in _text(response)
    assert f'href="/registry/review/{rejected.pk}/"' not in _text(response)
    # when filtering on rejected pairs, then only that one shows
    response = steward_client.get("/registry/review/", {"status": "rejected"})
    assert f'href="/registry/review/{rejected.pk}/"' in _text(response)
    assert f'href="/registry/review/{open_pair.pk}/"' not in _text(response)


def test_queue_pages_through_many_pairs(steward_client):
    for _ in range(30):
        _pair()
    first = _text(steward_client.get("/registry/review/"))
    second = _text(steward_client.get("/registry/review/", {"page": 2}))
    assert "Page 1 of 2" in first and 'rel="next"' in first
    assert "Page 2 of 2" in second
    assert first.count('<tr class="govuk-table__row">') == 26
    assert second.count('<tr class="govuk-table__row">') == 6


def test_candidate_page_shows_both_records_the_differences_and_the_chart(steward_client):
    # given a pair whose records differ in postcode
    candidate = _pair()
    SourceRecord.objects.filter(pk=candidate.other_id).update(postcode="ZZ9 9ZZ")
    # when the steward opens it
    response = steward_client.get(f"/registry/review/{candidate.pk}/")
    text = _text(response)
    # then the differing row says so in words, not only by colour
    assert response.status_code == 200
    postcode_row = re.search(
        r'<tr class="govuk-table__row agreement-different">.*?</tr>', text
    ).group(0)
    assert "Postcode" in postcode_row and "ZZ9 9ZZ" in postcode_row and "Differs" in postcode_row
    # and the chart has each comparison's weight as text, for and against
    assert "+4.50" in text and "-4.75" in text
    assert "weight-item weight-against" in text and "w-100" in text  # date of birth, largest
    # and the decision form posts with CSRF
    assert 'name="csrfmiddlewaretoken"' in text
    assert 'value="accept"' in text and 'value="reject"' in text
    # and reading the two records is in the audit trail
    assert (
        AuditEntry.objects.filter(action="source_record.read", purpose="clerical review").count()
        == 2
    )


def test_accepting_on_the_page_returns_to_the_queue_with_a_message(steward_client):
    candidate = _pair()
    response = steward_client.post(
        f"/registry/review/{candidate.pk}/", {"decision": "accept", "note": "same"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/registry/review/"
    assert "recorded as the same person" in _text(response)
    assert MatchCandidate.objects.get(pk=candidate.pk).status == CandidateStatus.ACCEPTED


def test_deciding_a_decided_pair_shows_the_conflict(steward_client):
    candidate = _pair()
    steward_client.post(f"/registry/review/{candidate.pk}/", {"decision": "reject"})
    response = steward_client.post(f"/registry/review/{candidate.pk}/", {"decision": "accept"})
    assert response.status_code == 409
    assert "already decided" in _text(response)
    assert MatchCandidate.objects.get(pk=candidate.pk).status == CandidateStatus.REJECTED


def test_a_note_too_long_is_shown_beside_the_field(steward_client):
    candidate = _pair()
    response = steward_client.post(
        f"/registry/review/{candidate.pk}/", {"decision": "accept", "note": "x" * 501}
    )
    assert response.status_code == 400
    assert 'id="id_note_error"' in _text(response)
    assert MatchCandidate.objects.get(pk=candidate.pk).status == CandidateStatus.OPEN


def test_person_page_merges_splits_and_undoes(steward_client):
    # given two persons
    survivor, merged = person_with_records(2), person_with_records(1)
    # when the steward merges the second into the first on the page
    response = steward_client.post(
        f"/registry/persons/{survivor.pk}/merge/",
        {"merge-other": merged.pk, "merge-note": "same"},
        follow=True,
    )
    # then the person page shows three records, the message and an undo button for the merge
    text = _text(response)
    assert response.status_code == 200
    assert f"{merged.pk} merged into {survivor.pk}" in text
    assert SourceRecord.objects.filter(person=survivor).count() == 3
    assert text.count('name="split-records"') == 3
    undo_action = re.search(r'action="/registry/persons/actions/([0-9a-f-]+)/undo/"', text).group(1)
    # when the merge is undone from the history
    response = steward_client.post(
        f"/registry/persons/actions/{undo_action}/undo/", {"person": survivor.pk}, follow=True
    )
    # then the records are back, and the history shows the merge as undone
    assert "Change undone" in _text(response)
    assert SourceRecord.objects.filter(person=merged).count() == 1
    assert "undone" in _text(response)


def test_split_of_every_record_is_refused_beside_the_checkboxes(steward_client):
    person = person_with_records(2)
    ids = [r.pk for r in records_of(person)]
    response = steward_client.post(f"/registry/persons/{person.pk}/split/", {"split-records": ids})
    assert response.status_code == 422
    assert 'id="id_split-records_error"' in _text(response)
    assert "Leave at least one record" in _text(response)
    assert Person.objects.count() == 1


def test_split_on_the_page_makes_a_new_person(steward_client):
    person = person_with_records(3)
    chosen = records_of(person)[0]
    response = steward_client.post(
        f"/registry/persons/{person.pk}/split/", {"split-records": [chosen.pk]}
    )
    assert response.status_code == 302
    assert SourceRecord.objects.get(pk=chosen.pk).person_id != person.pk


def test_undo_refused_on_the_page_says_what_to_do(steward_client):
    survivor, merged = person_with_records(1), person_with_records(2)
    # given a merge, then a split that took one of the merged records away
    moved = records_of(merged)[0]
    steward_client.post(f"/registry/persons/{survivor.pk}/merge/", {"merge-other": merged.pk})
    merge_action = MembershipEvent.objects.get(record=moved, reason="merge").action
    steward_client.post(f"/registry/persons/{survivor.pk}/split/", {"split-records": [moved.pk]})
    # when the merge is undone on the page
    response = steward_client.post(
        f"/registry/persons/actions/{merge_action}/undo/", {"person": survivor.pk}
    )
    # then the page says why not and what to do
    assert response.status_code == 409
    assert "Undo the later change first" in _text(response)


def test_posts_need_the_csrf_token(steward_client):
    # given a browser that checks CSRF like a real one
    steward_client.handler.enforce_csrf_checks = True
    candidate = _pair()
    # when a decision is posted without the page's token, then it is refused
    response = steward_client.post(f"/registry/review/{candidate.pk}/", {"decision": "accept"})
    assert response.status_code == 403
    assert MatchCandidate.objects.get(pk=candidate.pk).status == CandidateStatus.OPEN
    # when it is posted with the token of the page, then it is taken
    page = _text(steward_client.get(f"/registry/review/{candidate.pk}/"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = steward_client.post(
        f"/registry/review/{candidate.pk}/",
        {"decision": "reject", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert MatchCandidate.objects.get(pk=candidate.pk).status == CandidateStatus.REJECTED


def _caseworker(health):
    return staff(Role.CASEWORKER, health)


def _citizen(health):
    return CitizenFactory()


@pytest.mark.parametrize("make_user", [_caseworker, _citizen], ids=["caseworker", "citizen"])
def test_pages_are_refused_to_anyone_but_stewards(health, make_user):
    # given a pair and a person
    candidate = _pair()
    person = person_with_records(2)
    client = signed_in(Client(), make_user(health))
    # when they open or post to the review pages, then each is refused and nothing changes
    responses = [
        client.get("/registry/review/"),
        client.get(f"/registry/review/{candidate.pk}/"),
        client.post(f"/registry/review/{candidate.pk}/", {"decision": "accept"}),
        client.get(f"/registry/persons/{person.pk}/review/"),
        client.post(
            f"/registry/persons/{person.pk}/split/", {"split-records": [records_of(person)[0].pk]}
        ),
    ]
    assert [r.status_code for r in responses] == [403] * 5
    assert MatchCandidate.objects.get(pk=candidate.pk).status == CandidateStatus.OPEN
    assert Person.objects.count() == 3
    assert not AuditEntry.objects.filter(action="source_record.read").exists()


def test_signed_out_visitors_are_sent_to_sign_in():
    response = Client().get("/registry/review/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_unknown_pair_and_person_answer_not_found(steward_client):
    assert steward_client.get("/registry/review/999999/").status_code == 404
    response = steward_client.get("/registry/persons/P0000000000000/review/")
    assert response.status_code == 404
    assert "No person P0000000000000" in _text(response)


def test_an_unknown_filter_value_is_shown_beside_the_filter(steward_client):
    response = steward_client.get("/registry/review/", {"status": "maybe"})
    assert response.status_code == 400
    assert 'id="id_status_error"' in _text(response)
