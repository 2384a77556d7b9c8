"""Decision models, versions, activation, evaluation and simulation against the database."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from core.errors import PermissionDenied
from core.models import AuditEntry
from decisions import selectors, services
from decisions.errors import (
    ActivationInPast,
    DecisionInputsInvalid,
    DecisionModelInvalid,
    DecisionModelKeyTaken,
    DecisionModelTooLarge,
    DecisionModelUnsupported,
    DecisionUnknown,
    NoActiveVersion,
    VersionAlreadyActive,
)
from decisions.models import DecisionEvaluation, DecisionModelVersion
from decisions.tests.factories import DMN15, DecisionModelFactory, benefit_xml
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff, verified

pytestmark = pytest.mark.django_db

JAN = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.UTC)
MAR = dt.datetime(2030, 3, 1, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def health():
    return AgencyFactory(code="health", name="Health")


@pytest.fixture
def analyst(health):
    return verified(staff(Role.POLICY_ANALYST, health, username="ana"))


@pytest.fixture
def caseworker(health):
    return verified(staff(Role.CASEWORKER, health, username="cas"))


@pytest.fixture
def model(health):
    return DecisionModelFactory(agency=health, key="benefit")


def _active(*, actor, model, xml, at=None):
    """Upload a version and activate it now (or at `at`, with the clock there)."""
    version = services.decision_model_version_upload(actor=actor, model=model, dmn_xml=xml)
    moment = at or timezone.now()
    with time_machine.travel(moment, tick=False):
        services.decision_model_version_schedule(actor=actor, version=version, activates_at=moment)
    return version


def _evaluate(actor, model, age, income=10_000, **kwargs):
    return services.decision_evaluate(
        actor=actor,
        model=model,
        decision="Benefit eligibility",
        inputs={"Age": age, "Income": income},
        purpose="benefit claim",
        **kwargs,
    )


# --- models and versions ------------------------------------------------------------------


def test_analyst_creates_a_model_and_the_key_is_unique_per_agency(health, analyst):
    # given an analyst who created "benefit" at Health
    model = services.decision_model_create(
        actor=analyst, agency=health, key="benefit", name="Benefit eligibility"
    )
    # then it is audited, and a second "benefit" at Health is refused
    entry = AuditEntry.objects.get(action="decision_model.create")
    assert (entry.actor, entry.agency, entry.target) == (
        "ana",
        "health",
        f"decisions.decisionmodel:{model.pk}",
    )
    with pytest.raises(DecisionModelKeyTaken):
        services.decision_model_create(actor=analyst, agency=health, key="benefit", name="Again")
    # while another agency may use the same key
    revenue = AgencyFactory(code="revenue")
    other = verified(staff(Role.POLICY_ANALYST, revenue))
    assert services.decision_model_create(actor=other, agency=revenue, key="benefit", name="B")


def test_versions_are_numbered_in_upload_order_and_keep_their_xml(model, analyst):
    # when an analyst uploads twice
    first = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml(), notes="initial rules"
    )
    second = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml(threshold=21)
    )
    # then the versions are 1 and 2, drafts, with the XML and its hash as uploaded
    assert (first.version, second.version) == (1, 2)
    assert first.activates_at is None and first.uploaded_by == analyst
    assert first.dmn_xml == benefit_xml() and first.notes == "initial rules"
    assert len(first.sha256) == 64 and first.sha256 != second.sha256
    uploads = AuditEntry.objects.filter(action="decision_model.version_upload").order_by("seq")
    assert [e.data["version"] for e in uploads] == [1, 2]
    assert uploads[0].data["decisions"] == ["Benefit eligibility", "Monthly payment"]


def _with(old, new):
    xml = benefit_xml()
    assert old in xml
    return xml.replace(old, new, 1)


BAD_UPLOADS = [
    pytest.param(
        _with("</decision>", "</decisio>"), DecisionModelInvalid, None, 25, id="malformed-xml"
    ),
    pytest.param(
        _with(DMN15, "http://example.com/not-dmn"),
        DecisionModelInvalid,
        None,
        2,
        id="unknown-namespace",
    ),
    pytest.param(
        _with("then 120.50 else", "then 120.50 +* else"),
        DecisionModelInvalid,
        "le_payment",
        30,
        id="feel-syntax-error",
    ),
    pytest.param(
        _with("<literalExpression id=", '<literalExpression expressionLanguage="python" id='),
        DecisionModelUnsupported,
        "le_payment",
        30,
        id="unsupported-expression-language",
    ),
    pytest.param(_with("#in_income", "#in_salary"), DecisionModelInvalid, None, None, id="href"),
]


@pytest.mark.parametrize(("xml", "error", "element_id", "line"), BAD_UPLOADS)
def test_bad_uploads_are_refused_naming_the_place_and_nothing_is_stored(
    model, analyst, xml, error, element_id, line
):
    # when an analyst uploads a model the engine refuses
    with pytest.raises(error) as info:
        services.decision_model_version_upload(actor=analyst, model=model, dmn_xml=xml)
    # then the problem says where, and no version or audit entry exists
    problem = info.value.as_problem()
    assert problem["status"] == 400
    assert problem["code"] == error.code
    if element_id:
        assert problem["element_id"] == element_id
    if line:
        assert problem["line"] == line
    assert problem["errors"]["dmn_xml"] == [problem["detail"]]
    assert not DecisionModelVersion.objects.exists()
    assert not AuditEntry.objects.filter(action="decision_model.version_upload").exists()


def test_a_model_without_decisions_is_refused(model, analyst):
    xml = f'<definitions xmlns="{DMN15}" id="d" name="empty" namespace="urn:x"/>'
    with pytest.raises(DecisionModelInvalid, match="no decision"):
        services.decision_model_version_upload(actor=analyst, model=model, dmn_xml=xml)


def test_an_oversized_upload_is_refused_with_413(model, analyst):
    padding = "<!--" + "x" * services.MAX_DMN_BYTES + "-->"
    with pytest.raises(DecisionModelTooLarge) as info:
        services.decision_model_version_upload(
            actor=analyst, model=model, dmn_xml=benefit_xml() + padding
        )
    assert info.value.status == 413
    assert not DecisionModelVersion.objects.exists()


def test_a_caseworker_cannot_upload_or_create(model, caseworker, health):
    with pytest.raises(PermissionDenied):
        services.decision_model_version_upload(actor=caseworker, model=model, dmn_xml=benefit_xml())
    with pytest.raises(PermissionDenied):
        services.decision_model_create(actor=caseworker, agency=health, key="x", name="X")
    assert not DecisionModelVersion.objects.exists()


def test_another_agencys_analyst_can_neither_see_nor_change_the_model(model, analyst):
    # given an analyst of Revenue
    outsider = verified(staff(Role.POLICY_ANALYST, AgencyFactory(code="revenue")))
    version = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml()
    )
    # then every read and write on Health's model is refused
    with pytest.raises(PermissionDenied):
        selectors.decision_model_list(viewer=outsider, agency=model.agency)
    with pytest.raises(PermissionDenied):
        selectors.decision_model_version_list(viewer=outsider, model=model)
    with pytest.raises(PermissionDenied):
        services.decision_model_version_upload(actor=outsider, model=model, dmn_xml=benefit_xml())
    with pytest.raises(PermissionDenied):
        services.decision_simulate(actor=outsider, candidate_version=version)
    with pytest.raises(PermissionDenied):
        _evaluate(outsider, model, 30)


# --- activation ---------------------------------------------------------------------------


def test_activation_picks_the_version_in_force_at_each_moment(model, analyst):
    # given v1 activating in January and v2 in March, both scheduled well ahead
    with time_machine.travel(JAN - dt.timedelta(days=30), tick=False):
        v1 = services.decision_model_version_upload(
            actor=analyst, model=model, dmn_xml=benefit_xml()
        )
        v2 = services.decision_model_version_upload(
            actor=analyst, model=model, dmn_xml=benefit_xml(threshold=21)
        )
        services.decision_model_version_schedule(actor=analyst, version=v1, activates_at=JAN)
        services.decision_model_version_schedule(actor=analyst, version=v2, activates_at=MAR)
    # then before January nothing decides, in February v1 and from March v2
    active = selectors.decision_model_version_active_at
    assert active(model=model, at=JAN - dt.timedelta(seconds=1)) is None
    assert active(model=model, at=JAN) == v1
    assert active(model=model, at=MAR - dt.timedelta(seconds=1)) == v1
    assert active(model=model, at=MAR + dt.timedelta(days=365)) == v2
    # and the version list, seen in February, says so
    with time_machine.travel(JAN + dt.timedelta(days=31), tick=False):
        states = {
            v.version: selectors.version_state(v)
            for v in selectors.decision_model_version_list(viewer=analyst, model=model)
        }
    assert states == {1: "active", 2: "scheduled"}
    with time_machine.travel(MAR + dt.timedelta(days=1), tick=False):
        states = {
            v.version: selectors.version_state(v)
            for v in selectors.decision_model_version_list(viewer=analyst, model=model)
        }
    assert states == {1: "superseded", 2: "active"}


def test_scheduling_in_the_past_is_refused_but_a_late_now_is_accepted(model, analyst):
    version = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml()
    )
    with pytest.raises(ActivationInPast):
        services.decision_model_version_schedule(
            actor=analyst, version=version, activates_at=timezone.now() - dt.timedelta(minutes=5)
        )
    version.refresh_from_db()
    assert version.activates_at is None
    # a client clock a few seconds behind still means "now"
    services.decision_model_version_schedule(
        actor=analyst, version=version, activates_at=timezone.now() - dt.timedelta(seconds=20)
    )
    assert selectors.decision_model_version_active_at(model=model) == version


def test_a_version_that_has_been_active_keeps_its_date(model, analyst):
    # given v1 active since now
    v1 = _active(actor=analyst, model=model, xml=benefit_xml())
    # when the analyst tries to move it or make it a draft again, then both are refused
    later = timezone.now() + dt.timedelta(days=3)
    with pytest.raises(VersionAlreadyActive):
        services.decision_model_version_schedule(actor=analyst, version=v1, activates_at=later)
    with pytest.raises(VersionAlreadyActive):
        services.decision_model_version_schedule(actor=analyst, version=v1, activates_at=None)
    v1.refresh_from_db()
    assert v1.activates_at is not None and v1.activates_at <= timezone.now()


def test_a_scheduled_version_can_be_moved_or_withdrawn_before_it_activates(model, analyst):
    version = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml()
    )
    services.decision_model_version_schedule(actor=analyst, version=version, activates_at=MAR)
    services.decision_model_version_schedule(actor=analyst, version=version, activates_at=None)
    version.refresh_from_db()
    assert version.activates_at is None
    entries = AuditEntry.objects.filter(action="decision_model.version_schedule").order_by("seq")
    assert [e.data["activates_at"] for e in entries] == [
        MAR.isoformat().replace("+00:00", "Z"),
        None,
    ]


def test_a_caseworker_cannot_schedule(model, analyst, caseworker):
    version = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml()
    )
    with pytest.raises(PermissionDenied):
        services.decision_model_version_schedule(
            actor=caseworker, version=version, activates_at=MAR
        )


# --- evaluation ---------------------------------------------------------------------------


def test_evaluation_uses_the_active_version_and_records_it(model, analyst, caseworker):
    # given v1 (18) active since January and v2 (21) since March
    with time_machine.travel(JAN - dt.timedelta(days=1), tick=False):
        v1 = services.decision_model_version_upload(
            actor=analyst, model=model, dmn_xml=benefit_xml()
        )
        v2 = services.decision_model_version_upload(
            actor=analyst, model=model, dmn_xml=benefit_xml(threshold=21)
        )
        services.decision_model_version_schedule(actor=analyst, version=v1, activates_at=JAN)
        services.decision_model_version_schedule(actor=analyst, version=v2, activates_at=MAR)
    # when a caseworker decides for a 19-year-old in February and again in April
    with time_machine.travel(JAN + dt.timedelta(days=40), tick=False):
        february = _evaluate(caseworker, model, 19, subject_person="P-1", case_ref="C-7")
    with time_machine.travel(MAR + dt.timedelta(days=40), tick=False):
        april = _evaluate(caseworker, model, 19)
    # then February used v1 (eligible) and April v2 (not eligible), each recorded as such
    assert (february.version, february.result) == (v1, "eligible")
    assert (april.version, april.result) == (v2, "not eligible")
    record = DecisionEvaluation.objects.get(pk=february.evaluation.pk)
    assert record.version == v1
    assert record.inputs == {"Age": 19, "Income": 10000}
    assert record.outputs == "eligible"
    assert (record.subject_person, record.case_ref, record.actor_label) == ("P-1", "C-7", "cas")
    assert "Age is 19, which matches at least 18" in record.explanation
    assert record.trace["nodes"][0]["name"] == "Benefit eligibility"
    # and an explicit moment picks the version of that moment
    assert _evaluate(caseworker, model, 19, at=JAN + dt.timedelta(days=1)).version == v1


def test_evaluation_returns_explanations_and_audits_the_subject(model, analyst, caseworker):
    _active(actor=analyst, model=model, xml=benefit_xml())
    # when the monthly payment is decided for person P-9
    outcome = services.decision_evaluate(
        actor=caseworker,
        model=model,
        decision="Monthly payment",
        inputs={"Age": 40, "Income": 900},
        purpose="benefit claim",
        subject_person="P-9",
    )
    # then the exact amount, a paragraph and rows explain it, and P-9's trail shows it
    assert outcome.result == Decimal("120.50")
    assert outcome.evaluation.outputs == {"@type": "decimal", "value": "120.50"}
    assert 'Benefit eligibility is "eligible"' in outcome.explanation
    assert [r["rule"] for r in outcome.rows if r["selected"]] == [2]
    entry = AuditEntry.objects.get(action="decision.evaluate")
    assert (entry.subject_person, entry.purpose, entry.agency) == ("P-9", "benefit claim", "health")
    assert entry.data["version"] == 1 and entry.data["decision"] == "Monthly payment"


def test_evaluation_without_an_active_version_is_refused(model, analyst, caseworker):
    services.decision_model_version_upload(actor=analyst, model=model, dmn_xml=benefit_xml())
    with pytest.raises(NoActiveVersion):
        _evaluate(caseworker, model, 30)
    assert not DecisionEvaluation.objects.exists()


def test_unknown_decision_and_unencodable_inputs_are_refused(model, analyst, caseworker):
    _active(actor=analyst, model=model, xml=benefit_xml())
    with pytest.raises(DecisionUnknown, match="Benefit eligibility"):
        services.decision_evaluate(
            actor=caseworker, model=model, decision="Pension", inputs={}, purpose="claim"
        )
    with pytest.raises(DecisionInputsInvalid):
        services.decision_evaluate(
            actor=caseworker,
            model=model,
            decision="Benefit eligibility",
            inputs={"Age": object()},
            purpose="claim",
        )
    assert not DecisionEvaluation.objects.exists()


def test_a_decision_may_be_named_by_its_id(model, analyst, caseworker):
    _active(actor=analyst, model=model, xml=benefit_xml())
    outcome = services.decision_evaluate(
        actor=caseworker,
        model=model,
        decision="d_eligibility",
        inputs={"Age": 30, "Income": 1},
        purpose="claim",
    )
    assert outcome.decision == "Benefit eligibility" == outcome.evaluation.decision


# --- simulation ---------------------------------------------------------------------------


def test_simulation_finds_exactly_the_outcomes_a_new_threshold_changes(model, analyst, caseworker):
    # given v1 (eligible from 18) active and ten recorded decisions for ages 15 to 24
    _active(actor=analyst, model=model, xml=benefit_xml(threshold=18))
    recorded = {age: _evaluate(caseworker, model, age).evaluation for age in range(15, 25)}
    # when v2 (eligible from 21) is uploaded and simulated
    v2 = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml(threshold=21)
    )
    evaluations_before = DecisionEvaluation.objects.count()
    report = services.decision_simulate(actor=analyst, candidate_version=v2)
    # then exactly the decisions for ages 18, 19 and 20 change, from eligible to not
    assert (report.total, report.changed, report.unchanged, report.errors) == (10, 3, 7, 0)
    assert {c.evaluation_id for c in report.changes} == {recorded[a].pk for a in (18, 19, 20)}
    assert {(c.recorded, c.candidate, c.version) for c in report.changes} == {
        ("eligible", "not eligible", 1)
    }
    assert not report.truncated
    # and nothing was written but one audit entry with the counts
    assert DecisionEvaluation.objects.count() == evaluations_before
    entry = AuditEntry.objects.get(action="decision.simulate")
    assert (entry.data["total"], entry.data["changed"]) == (10, 3)
    assert v2.activates_at is None


def test_simulation_reads_in_batches_and_honours_limit_and_since(
    model, analyst, caseworker, monkeypatch
):
    # given 7 decisions in January and 5 in February, all for 19-year-olds
    _active(actor=analyst, model=model, xml=benefit_xml(), at=JAN)
    for moment, count in ((JAN, 7), (JAN + dt.timedelta(days=31), 5)):
        with time_machine.travel(moment, tick=False):
            for _ in range(count):
                _evaluate(caseworker, model, 19)
    v2 = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml(threshold=21)
    )
    monkeypatch.setattr(services, "SIMULATION_BATCH", 2)
    # then every record is replayed across many small batches
    assert services.decision_simulate(actor=analyst, candidate_version=v2).changed == 12
    # and limit and since narrow the replay
    assert services.decision_simulate(actor=analyst, candidate_version=v2, limit=5).total == 5
    since = JAN + dt.timedelta(days=20)
    assert services.decision_simulate(actor=analyst, candidate_version=v2, since=since).total == 5


def test_simulation_compares_numbers_as_feel_does(model, analyst, caseworker):
    # given payments of 120.50 recorded
    _active(actor=analyst, model=model, xml=benefit_xml(payment="120.50"))
    services.decision_evaluate(
        actor=caseworker,
        model=model,
        decision="Monthly payment",
        inputs={"Age": 30, "Income": 10},
        purpose="claim",
    )
    same = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml(payment="120.5")
    )
    raised = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml(payment="130")
    )
    # then 120.5 is no change, 130 is one with both amounts exact
    assert services.decision_simulate(actor=analyst, candidate_version=same).unchanged == 1
    change = services.decision_simulate(actor=analyst, candidate_version=raised).changes[0]
    assert (change.recorded, change.candidate) == ({"@type": "decimal", "value": "120.50"}, 130)


def test_simulation_counts_decisions_the_candidate_lacks_as_errors(model, analyst, caseworker):
    _active(actor=analyst, model=model, xml=benefit_xml())
    _evaluate(caseworker, model, 30)
    renamed = benefit_xml().replace('name="Benefit eligibility"', 'name="Eligibility"')
    renamed = renamed.replace("Benefit eligibility =", "Eligibility =")
    candidate = services.decision_model_version_upload(actor=analyst, model=model, dmn_xml=renamed)
    report = services.decision_simulate(actor=analyst, candidate_version=candidate)
    assert (report.total, report.errors, report.changed) == (1, 1, 0)
    assert "no decision" in report.failures[0].error


def test_a_caseworker_cannot_simulate(model, analyst, caseworker):
    version = services.decision_model_version_upload(
        actor=analyst, model=model, dmn_xml=benefit_xml()
    )
    with pytest.raises(PermissionDenied):
        services.decision_simulate(actor=caseworker, candidate_version=version)
    assert not AuditEntry.objects.filter(action="decision.simulate").exists()


def test_evaluation_history_is_authorised_and_reads_about_people_are_audited(
    model, analyst, caseworker
):
    _active(actor=analyst, model=model, xml=benefit_xml())
    _evaluate(caseworker, model, 30, subject_person="P-1")
    _evaluate(caseworker, model, 31)
    page = list(selectors.decision_evaluation_list(viewer=analyst, model=model))
    selectors.decision_evaluations_read(viewer=analyst, evaluations=page, purpose="review")
    assert len(page) == 2
    reads = AuditEntry.objects.filter(action="decision_evaluation.read")
    assert [(r.subject_person, r.actor, r.purpose) for r in reads] == [("P-1", "ana", "review")]
    outsider = verified(staff(Role.SUPERVISOR, AgencyFactory(code="revenue")))
    with pytest.raises(PermissionDenied):
        selectors.decision_evaluation_list(viewer=outsider, model=model)
