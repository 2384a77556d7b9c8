"""Staff read an applicant's documents through the case, audited under the applicant."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from cases.models import Case, WorkItem
from core.models import AuditEntry
from identity.choices import Role
from identity.models import Agency
from identity.tests.factories import AgencyFactory, staff
from portal.models import ApplicationDocument
from portal.tests import factories
from portal.tests.factories import SMALL_PNG
from portal.tests.test_apply_pages import _answer, _start, _step
from registry.tests.factories_review import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def case_with_document():
    """Maria applied with a payslip attached (the portal's long test form)."""
    service = factories.deploy(form=factories.LONG_FORM).service
    maria = factories.linked_citizen(address_line="4 Mill Lane", postcode="NT9 9ZZ")
    client = Client()
    client.force_login(maria)
    first = _start(client, service.code)
    for step, value in (
        ("address_line", "4 Mill Lane"),
        ("postcode", "NT1 1AA"),
        ("age", "41"),
        ("income", "25000"),
        ("has_partner", "false"),
        ("housing", "rent"),
        ("moved_in", "2024-02-29"),
    ):
        _answer(client, first, step, value)
    upload = SimpleUploadedFile("payslip.png", SMALL_PNG, content_type="image/png")
    done = client.post(_step(first, "evidence"), {"evidence": upload, "action": "continue"})
    client.post(done["Location"])
    return Case.objects.get(applicant=maria)


def _url(case, document_id):
    return f"/workspace/cases/{case.reference}/documents/{document_id}/"


def test_a_caseworker_of_the_agency_downloads_the_document_and_the_read_is_recorded(
    case_with_document,
):
    case = case_with_document
    worker = staff(Role.CASEWORKER, Agency.objects.get(code="health"))
    client = signed_in(Client(), worker)
    # the work item page links the document
    item = WorkItem.objects.get(case=case)
    page = client.get(f"/cases/work/{item.pk}/").content.decode()
    url = _url(case, case.data["evidence"])
    assert f'href="{url}"' in page
    # and following it downloads exactly what was uploaded, never shown inline
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert b"".join(response.streaming_content) == SMALL_PNG
    entry = AuditEntry.objects.get(action="case.document_read")
    assert entry.subject_person and entry.data["name"] == "payslip.png"


def test_staff_of_another_agency_and_unknown_documents_find_nothing(case_with_document):
    case = case_with_document
    outsider = staff(Role.CASEWORKER, AgencyFactory(code="revenue", name="Revenue"))
    assert signed_in(Client(), outsider).get(_url(case, case.data["evidence"])).status_code == 404
    worker = staff(Role.CASEWORKER, Agency.objects.get(code="health"))
    client = signed_in(Client(), worker)
    assert client.get(_url(case, "not-a-uuid")).status_code == 404
    other = ApplicationDocument.objects.exclude(pk=case.data["evidence"]).first()
    assert other is None  # one document exists; a random id is not found either
    assert client.get(_url(case, "00000000-0000-0000-0000-000000000000")).status_code == 404
    assert not AuditEntry.objects.filter(action="case.document_read").exists()
