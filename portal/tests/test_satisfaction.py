"""The satisfaction question after a completed case: once per case, only its applicant,
audited, asked on the case page."""

import re

import pytest
from django.test import Client
from django.utils import translation

from core.errors import PermissionDenied
from core.models import AuditEntry
from identity.choices import Role
from identity.tests.factories import CitizenFactory, staff, verified
from portal import services
from portal.models import SatisfactionResponse
from registry.tests.factories_review import signed_in

pytestmark = pytest.mark.django_db

QUESTION = "How satisfied were you with this service?"


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


# --- the service --------------------------------------------------------------------------


def test_the_applicant_answers_once_and_it_is_audited(completed, citizen):
    # when the applicant of a completed case answers
    response = services.satisfaction_give(
        actor=citizen, case=completed, rating=4, comment=" Quick and clear. "
    )
    # then the answer is kept with the comment trimmed, and recorded
    assert (response.rating, response.comment) == (4, "Quick and clear.")
    entry = AuditEntry.objects.get(action="satisfaction.give")
    assert entry.data["rating"] == 4 and entry.data["reference"] == completed.reference
    # when they answer again
    with translation.override("en"), pytest.raises(services.SatisfactionAlreadyGiven) as refused:
        services.satisfaction_give(actor=citizen, case=completed, rating=1)
    # then the second answer is refused, saying so, and the first stays
    assert "already told us" in refused.value.detail
    assert list(SatisfactionResponse.objects.values_list("rating", flat=True)) == [4]


def test_a_case_not_completed_yet_is_not_asked(running, citizen):
    with pytest.raises(services.SatisfactionNotYet):
        services.satisfaction_give(actor=citizen, case=running, rating=5)
    assert not SatisfactionResponse.objects.exists()


@pytest.mark.parametrize("who", ["other_citizen", "caseworker"])
def test_only_the_applicant_answers(completed, health, who):
    actor = (
        CitizenFactory(username="eve")
        if who == "other_citizen"
        else verified(staff(Role.CASEWORKER, health, username="cas"))
    )
    with pytest.raises(PermissionDenied):
        services.satisfaction_give(actor=actor, case=completed, rating=5)
    assert not SatisfactionResponse.objects.exists()


@pytest.mark.parametrize(
    ("rating", "comment", "field"),
    [(0, "", "rating"), (6, "", "rating"), (3, "x" * 1_201, "comment")],
)
def test_a_rating_off_the_scale_or_a_long_comment_is_refused(
    completed, citizen, rating, comment, field
):
    with pytest.raises(services.SatisfactionInvalid) as refused:
        services.satisfaction_give(actor=citizen, case=completed, rating=rating, comment=comment)
    assert field in refused.value.errors
    assert not SatisfactionResponse.objects.exists()


# --- the case page ------------------------------------------------------------------------


def test_the_completed_case_page_asks_and_a_running_one_does_not(completed, running, citizen):
    client = signed_in(Client(), citizen)
    page = _text(client.get(f"/portal/cases/{completed.reference}/"))
    assert QUESTION in page
    for label in (
        "Very satisfied",
        "Satisfied",
        "Neither satisfied nor dissatisfied",
        "Dissatisfied",
        "Very dissatisfied",
    ):
        assert f"> {label}</label>" in page or f">{label}</label>" in page
    assert page.count('type="radio" name="rating"') == 5
    assert QUESTION not in _text(client.get(f"/portal/cases/{running.reference}/"))


def test_answering_on_the_page_thanks_the_citizen_and_asks_no_more(completed, citizen):
    client = signed_in(Client(), citizen)
    url = f"/portal/cases/{completed.reference}/satisfaction/"
    # when the citizen answers
    response = client.post(url, {"rating": "5", "comment": "Very easy."})
    # then they are back on the case, thanked, and the question is gone
    assert response.status_code == 302
    assert response["Location"] == f"/portal/cases/{completed.reference}/#satisfaction"
    page = _text(client.get(response["Location"]))
    assert "Thank you for telling us how satisfied you were." in page
    assert "You told us you were: very satisfied. Thank you." in page
    assert QUESTION not in page
    # and a second answer sent anyway is refused with a clear message
    response = client.post(url, {"rating": "1"})
    assert response.status_code == 409
    assert "You have already told us how satisfied you were" in _text(response)
    assert SatisfactionResponse.objects.get().rating == 5


def test_no_choice_is_refused_beside_the_question_and_the_comment_is_kept(completed, citizen):
    client = signed_in(Client(), citizen)
    response = client.post(
        f"/portal/cases/{completed.reference}/satisfaction/", {"comment": "Slow letters."}
    )
    assert response.status_code == 400
    text = _text(response)
    assert re.search(r'id="id_rating_error">.*?Choose how satisfied you were\.', text)
    assert ">\nSlow letters.</textarea>" in response.content.decode()
    assert not SatisfactionResponse.objects.exists()


def test_a_long_comment_is_refused_beside_it_and_the_choice_is_kept(completed, citizen):
    client = signed_in(Client(), citizen)
    response = client.post(
        f"/portal/cases/{completed.reference}/satisfaction/",
        {"rating": "2", "comment": "y" * 1_201},
    )
    assert response.status_code == 400
    text = _text(response)
    assert re.search(r'id="id_comment_error">.*?at most 1,200 characters', text)
    assert re.search(r'value="2" id="[^"]+" checked', text)
    assert not SatisfactionResponse.objects.exists()
