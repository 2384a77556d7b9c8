"""Applying, at the service layer: drafts, pre-fill with sources, submitting, documents."""

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from cases.errors import CaseDataInvalid
from cases.models import Case
from core.models import AuditEntry
from identity.tests.factories import CitizenFactory
from portal import selectors, services
from portal.models import ApplicationDraft
from portal.services import DraftAlreadySubmitted
from portal.tests import factories
from portal.tests.factories import SMALL_PNG
from registry.services.citizens import citizen_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def maria():
    return factories.linked_citizen(address_line="4 Mill Lane", postcode="NT9 9ZZ")


@pytest.fixture
def long_service():
    return factories.deploy(form=factories.LONG_FORM).service


@pytest.fixture
def short_service():
    return factories.deploy(code="short-benefit", name="Short benefit").service


def _start(user, service):
    _, version = selectors.service_to_apply(viewer=user, code=service.code)
    return services.draft_start(service=service, version=version, applicant=user, actor=user)


def test_a_new_application_is_prefilled_from_the_golden_record_with_each_source(
    maria,
    long_service,
):
    # given a citizen whose Health record holds their address
    # when they start an application whose form asks for it (x-prefill)
    draft = _start(maria, long_service)
    # then the address is filled in, and its source is the Health record, as of 3 May 2025
    assert draft.data == {"address_line": "4 Mill Lane", "postcode": "NT9 9ZZ"}
    fact = draft.prefill["address_line"]
    assert fact["agency_name"] == "Health Service"
    assert fact["updated_at"].startswith("2025-05-03")
    # and the citizen's read of their own record is in the audit trail, with its purpose
    person = citizen_person(user=maria)
    entry = AuditEntry.objects.get(action="portal.prefill")
    assert entry.actor_id == maria.pk and entry.subject_person == person.pk
    read = AuditEntry.objects.get(action="person.read", subject_person=person.pk)
    assert read.actor_id == maria.pk and "test-benefit" in read.purpose


def test_a_citizen_not_linked_to_a_person_starts_with_an_empty_form(long_service):
    user = CitizenFactory()
    draft = _start(user, long_service)
    assert draft.data == {} and draft.prefill == {}


def test_a_page_is_saved_as_typed_even_when_not_valid(maria, long_service):
    draft = _start(maria, long_service)
    # when the citizen's answer to their age is not a number
    services.draft_save(draft=draft, answers={"age": "forty"}, step="age", actor=maria)
    # then the draft keeps it as typed, and where they were
    draft = selectors.draft_get(viewer=maria, draft_id=draft.pk)
    assert draft.data["age"] == "forty" and draft.current_step == "age"


def test_a_citizen_cannot_open_another_citizens_draft(maria, long_service):
    draft = _start(maria, long_service)
    stranger = CitizenFactory(username="stranger")
    with pytest.raises(selectors.DraftNotFound):
        selectors.draft_get(viewer=stranger, draft_id=draft.pk)
    assert list(selectors.draft_list(viewer=stranger)) == []


def test_submitting_creates_the_case_with_the_submitted_data(maria, short_service):
    draft = _start(maria, short_service)
    data = {"age": 40, "income": 12000, "email": "maria@example.org"}
    # when the citizen sends the application
    case = services.draft_submit(draft=draft, data=data, actor=maria)
    # then a case of the service is made for them with exactly that data
    case = Case.objects.get(reference=case.reference)
    assert case.service == short_service and case.applicant == maria and case.data == data
    draft.refresh_from_db()
    assert draft.case_reference == case.reference and draft.submitted_at is not None
    # and the draft is no longer offered, nor can it be sent twice
    assert list(selectors.draft_list(viewer=maria)) == []
    with pytest.raises(DraftAlreadySubmitted):
        services.draft_submit(draft=draft, data=data, actor=maria)
    assert Case.objects.count() == 1


def test_data_the_case_engine_refuses_stores_no_case_and_keeps_the_draft(
    maria,
    short_service,
):
    draft = _start(maria, short_service)
    with pytest.raises(CaseDataInvalid):
        services.draft_submit(draft=draft, data={"age": 40}, actor=maria)
    assert Case.objects.count() == 0
    assert ApplicationDraft.objects.get(pk=draft.pk).submitted_at is None


def test_a_service_without_an_active_version_is_not_offered(maria):
    # given a service whose only version activates next week
    later = timezone.now() + datetime.timedelta(days=7)
    factories.deploy(code="future-benefit", name="Future benefit", activate_at=later)
    factories.deploy(code="current-benefit", name="Current benefit")
    # then the catalogue does not offer it and nobody can start an application for it
    codes = [e.code for e in selectors.service_catalogue(viewer=maria)]
    assert codes == ["current-benefit"]
    with pytest.raises(selectors.ServiceNotOffered):
        selectors.service_to_apply(viewer=maria, code="future-benefit")


def test_an_attached_document_replaces_the_one_before(maria, long_service):
    draft = _start(maria, long_service)
    first = services.document_attach(
        draft=draft,
        field="evidence",
        upload=SimpleUploadedFile("a.png", SMALL_PNG),
        content_type="image/png",
        actor=maria,
    )
    second = services.document_attach(
        draft=draft,
        field="evidence",
        upload=SimpleUploadedFile("b.png", SMALL_PNG),
        content_type="image/png",
        actor=maria,
    )
    documents = selectors.draft_documents(viewer=maria, draft=draft)
    assert list(documents) == ["evidence"] and documents["evidence"].name == "b.png"
    assert draft.data["evidence"] == str(second.pk) != str(first.pk)
    assert documents["evidence"].file.read() == SMALL_PNG
