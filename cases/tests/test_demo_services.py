"""The demo services `make demo` deploys: each deploys, and a case runs through it."""

import datetime as dt
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from cases import tasks
from cases.choices import CaseStatus, WorkItemStatus
from cases.management.commands.deploy_demo_services import DEMO_SERVICES
from cases.models import CaseDecision, Notification, ServiceVersion, WorkItem
from cases.services import definitions, engine, work_items
from consent import services as consent_services
from consent.models import DataAgreement
from core.models import AuditEntry
from demo.services import demo_government_seed
from exchange.models import Delivery, Event, Message
from identity.choices import Role, UserKind
from identity.models import Agency, User
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, CitizenFactory, staff, verified
from registry.models import SourceRecord, SourceRecordVersion
from registry.services import linkage
from registry.services.citizens import citizen_person

pytestmark = pytest.mark.django_db

AGENCIES = ("revenue", "health", "social-services", "transport")


@pytest.fixture
def agencies():
    return {code: AgencyFactory(code=code, name=code.title()) for code in AGENCIES}


@pytest.fixture
def government():
    """A small synthetic government, linked into the master person index."""
    demo_government_seed(actor=system_actor(), people=300, seed=11)
    linkage.link_run(actor=system_actor())
    return {a.code: a for a in Agency.objects.filter(code__in=AGENCIES)}


def _deploy(code):
    return definitions.service_deploy(actor=system_actor(), directory=DEMO_SERVICES / code)


def _linked_citizen(*, with_agencies=()):
    """A demo citizen whose person has a record in each of `with_agencies`."""
    for user in User.objects.filter(kind=UserKind.CITIZEN, is_demo=True).order_by("pk"):
        person = citizen_person(user=user)
        if person is None:
            continue
        held = set(
            SourceRecord.objects.filter(person=person).values_list("agency__code", flat=True)
        )
        if set(with_agencies) <= held:
            return user, person
    raise AssertionError(f"no demo citizen with records in {with_agencies}")


def test_every_demo_service_deploys_once_and_again_only_when_changed(agencies):
    # when the command runs twice
    first, second = StringIO(), StringIO()
    call_command("deploy_demo_services", stdout=first)
    call_command("deploy_demo_services", stdout=second)
    # then each service was deployed once, and the second run changed nothing
    codes = {"business-permit", "change-of-address", "child-benefit"}
    assert {v.service.code for v in ServiceVersion.objects.select_related("service")} == codes
    assert ServiceVersion.objects.count() == 3
    assert first.getvalue().count("(deployed)") == 3
    assert second.getvalue().count("(unchanged)") == 3
    # and every process carries a diagram, so Camunda Modeler draws it
    for version in ServiceVersion.objects.all():
        assert "<bpmndi:BPMNDiagram" in version.bpmn_xml
        assert version.bpmn_xml.count("<bpmndi:BPMNShape") >= 4


def test_the_business_permit_escalates_to_supervisors_when_its_sla_passes(agencies):
    # given the permit service, a citizen and Revenue's staff
    service = _deploy("business-permit").service
    citizen = CitizenFactory(username="trader")
    caseworker = verified(staff(Role.CASEWORKER, agencies["revenue"], username="rev-cas"))
    supervisor = verified(staff(Role.SUPERVISOR, agencies["revenue"], username="rev-sup"))
    case = engine.case_submit(
        service=service,
        data={
            "business_name": "Corner Bakery",
            "activity": "food",
            "premises_address": "1 High Street",
            "opening_date": "2030-05-01",
        },
        applicant=citizen,
        actor=citizen,
    )
    # when a caseworker finds it complete
    check = WorkItem.objects.select_related("case", "agency").get(case=case)
    assert (check.queue, check.role) == ("permit-check", "caseworker")
    work_items.work_item_complete(
        item=check, data={"check": "complete", "notes": "All documents in."}, actor=caseworker
    )
    decide = WorkItem.objects.select_related("case", "agency").get(
        case=case, status=WorkItemStatus.OPEN
    )
    assert decide.queue == "permit-decision"
    # and nobody decides within the five-day SLA
    with time_machine.travel(timezone.now() + dt.timedelta(days=6)):
        tasks.cases_fire_timers.enqueue()
    # then the decision moved to the supervisors' queue, first in line
    decide.refresh_from_db()
    assert decide.status == WorkItemStatus.CANCELLED
    escalated = WorkItem.objects.select_related("case", "agency").get(
        case=case, status=WorkItemStatus.OPEN
    )
    assert (escalated.queue, escalated.role, escalated.priority) == (
        "permit-escalations",
        "supervisor",
        90,
    )
    # and a supervisor's decision reaches the applicant
    case = work_items.work_item_complete(
        item=escalated,
        data={"decision": "granted", "reason": "premises inspected"},
        actor=supervisor,
    )
    assert case.status == CaseStatus.COMPLETED, case.error
    assert Notification.objects.get(case=case).body == "The decision: granted: premises inspected."


def test_an_incomplete_permit_application_is_returned(agencies):
    service = _deploy("business-permit").service
    citizen = CitizenFactory(username="trader")
    caseworker = verified(staff(Role.CASEWORKER, agencies["revenue"], username="rev-cas"))
    case = engine.case_submit(
        service=service,
        data={
            "business_name": "Corner Bakery",
            "activity": "food",
            "premises_address": "1 High Street",
            "opening_date": "2030-05-01",
        },
        applicant=citizen,
        actor=citizen,
    )
    check = WorkItem.objects.select_related("case", "agency").get(case=case)
    case = work_items.work_item_complete(
        item=check,
        data={"check": "incomplete", "notes": "the lease of the premises"},
        actor=caseworker,
    )
    assert case.status == CaseStatus.COMPLETED, case.error
    assert Notification.objects.get(case=case).body == (
        "Please apply again with: the lease of the premises."
    )


def _expected_child_benefit(person, *, consented=True):
    records = {r.agency.code: r for r in SourceRecord.objects.filter(person=person)}
    if "health" not in records or not consented:
        return "review"
    band = (records["revenue"].extra or {}).get("income_band") if "revenue" in records else None
    return {"A": "approve", "B": "approve", "C": "review", "D": "reject", "E": "reject"}.get(
        band, "review"
    )


def _apply_for_child_benefit(service, citizen):
    return engine.case_submit(
        service=service,
        data={
            "child_given_name": "Ada",
            "child_family_name": "Lovelace",
            "child_date_of_birth": (timezone.now().date() - dt.timedelta(days=400)).isoformat(),
            "relationship": "parent",
        },
        applicant=citizen,
        actor=citizen,
    )


def _check_outcome(case, expected):
    decision = CaseDecision.objects.get(case=case)
    assert decision.outputs == expected
    if expected == "review":
        assert case.status == CaseStatus.WAITING
        assert WorkItem.objects.get(case=case).queue == "child-benefit-review"
    else:
        assert case.status == CaseStatus.COMPLETED, case.error
        assert Notification.objects.get(case=case).body == f"The decision: {expected}."


def test_child_benefit_takes_the_income_from_revenue_under_the_citizens_consent(government):
    # given the child benefit service, the demo's agreements, and a demo citizen who
    # consented to Social Services asking Revenue for their income
    call_command("seed_demo_sharing")
    service = _deploy("child-benefit").service
    citizen, person = _linked_citizen(with_agencies=("revenue",))
    consent_services.consent_give(
        actor=citizen,
        person=person,
        agreement=DataAgreement.objects.get(code="revenue-income-for-child-benefit"),
    )
    expected = _expected_child_benefit(person)
    # when they apply for a young child
    case = _apply_for_child_benefit(service, citizen)
    # then the income came through the exchange: only the agreed attributes, logged
    income = case.result.get("income") or _saved_facts(case, "income")
    band = SourceRecord.objects.get(person=person, agency__code="revenue").extra["income_band"]
    assert income["found"] is True and income["income_band"] == band
    assert "tax_reference" not in income
    logged = Message.objects.filter(case_ref=case.reference).values_list("kind", flat=True)
    assert sorted(logged) == ["request", "response"]
    # and the health facts were pre-filled from the registry, read as the platform
    facts = case.result.get("facts") or _saved_facts(case, "facts")
    assert facts["found"] is True and facts["person"] == person.pk
    reads = AuditEntry.objects.filter(action="person.read", subject_person=person.pk)
    assert reads.filter(actor="system", purpose__contains=case.reference).count() == 1
    # and the decision table decided as the band says (a person takes the review band)
    _check_outcome(case, expected)


def test_without_consent_child_benefit_goes_to_a_person_and_the_refusal_is_logged(government):
    call_command("seed_demo_sharing")
    service = _deploy("child-benefit").service
    citizen, person = _linked_citizen(with_agencies=("revenue",))
    case = _apply_for_child_benefit(service, citizen)
    income = case.result.get("income") or _saved_facts(case, "income")
    assert income == {
        "found": False,
        "refused": "consent_required",
        "reason": income["reason"],
    }
    denied = Message.objects.get(case_ref=case.reference)
    assert denied.kind == "denied" and denied.person == person.pk
    _check_outcome(case, "review")


def _saved_facts(case, name):
    """A variable in the saved state of a case still waiting."""
    run = engine._open(case, actor=system_actor())
    for task in run.workflow.get_tasks():
        if name in task.data:
            return task.data[name]
    raise AssertionError(f"no {name} in the workflow")


def test_a_change_of_address_is_told_once_and_reaches_every_agency(
    government, django_capture_on_commit_callbacks
):
    # given the change of address service, the agencies' subscriptions to address events,
    # and a demo citizen with records in two agencies
    call_command("seed_demo_sharing")
    service = _deploy("change-of-address").service
    citizen, person = _linked_citizen(with_agencies=("revenue", "health"))
    held = set(SourceRecord.objects.filter(person=person).values_list("agency__code", flat=True))
    versions_before = SourceRecordVersion.objects.count()
    # when they tell their new address (and the outbox delivers after commit)
    with django_capture_on_commit_callbacks(execute=True):
        case = engine.case_submit(
            service=service,
            data={
                "address_line": "7 Quay Street",
                "locality": "Harbourtown",
                "postcode": "HT1 2AB",
            },
            applicant=citizen,
            actor=citizen,
        )
    # then one event announced it to every subscribing agency, each under its agreement
    assert case.status == CaseStatus.COMPLETED, case.error
    event = Event.objects.get(person=person)
    assert event.type == "address"
    deliveries = Delivery.objects.filter(event=event).select_related("subscription__agency")
    assert {d.subscription.agency.code for d in deliveries} == set(AGENCIES)
    assert {d.status for d in deliveries} == {"delivered"}
    # and every agency holding their record has it now
    for record in SourceRecord.objects.filter(person=person, agency__code__in=AGENCIES):
        assert (record.address_line, record.postcode) == ("7 Quay Street", "HT1 2AB"), record
    assert SourceRecordVersion.objects.count() > versions_before
    told = Notification.objects.get(case=case).body
    assert all(code in told for code in held & set(AGENCIES))
    # and each delivery is in the signed message log
    logged = Message.objects.filter(person=person, service="event:address")
    assert logged.count() == len(AGENCIES)
