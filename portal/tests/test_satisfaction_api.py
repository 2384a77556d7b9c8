"""The satisfaction question through the API: what the case page asks, for apps."""

import pytest

from cases.tests.test_api import _client, _post
from core.models import AuditEntry
from identity.tests.factories import CitizenFactory
from portal.models import SatisfactionResponse

pytestmark = pytest.mark.django_db


def _url(case):
    return f"/api/v1/portal/cases/{case.reference}/satisfaction"


def test_the_applicant_answers_once_and_reads_their_answer(completed, citizen):
    client = _client(citizen)
    # given no answer yet, reading it is "not found" as problem+json
    missing = client.get(_url(completed))
    assert missing.status_code == 404
    assert missing["Content-Type"].startswith("application/problem+json")
    assert missing.json()["code"] == "satisfaction_not_given"
    # when the applicant answers their completed case
    answer = _post(client, _url(completed), {"rating": 4, "comment": "  Quick and clear. "})
    # then it is kept, trimmed, and returned with its label
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["case"], body["rating"], body["rating_label"], body["comment"]) == (
        completed.reference,
        4,
        "Satisfied",
        "Quick and clear.",
    )
    assert client.get(_url(completed)).json()["rating"] == 4
    assert AuditEntry.objects.filter(action="satisfaction.give").count() == 1
    # and a second answer is refused as a conflict, the first one kept
    again = _post(client, _url(completed), {"rating": 1})
    assert again.status_code == 409
    assert again.json()["code"] == "satisfaction_already_given"
    assert SatisfactionResponse.objects.get().rating == 4


def test_a_case_not_completed_or_a_rating_out_of_range_is_refused(running, completed, citizen):
    client = _client(citizen)
    # a running case is not asked yet
    early = _post(client, _url(running), {"rating": 5})
    assert (early.status_code, early.json()["code"]) == (409, "satisfaction_not_yet")
    # a rating outside 1-5 is refused beside the field
    wrong = _post(client, _url(completed), {"rating": 9})
    assert wrong.status_code == 400
    assert "rating" in wrong.json()["errors"]
    assert not SatisfactionResponse.objects.exists()


def test_nobody_else_answers_or_reads_the_applicants_case(completed, citizen):
    # given the applicant answered
    _post(_client(citizen), _url(completed), {"rating": 2})
    # another citizen neither reads it nor answers: the case does not exist for them
    stranger = _client(CitizenFactory(username="stranger"))
    assert stranger.get(_url(completed)).status_code == 404
    assert _post(stranger, _url(completed), {"rating": 5}).status_code == 404
    assert SatisfactionResponse.objects.get().rating == 2
