"""The event log exported as CSV and XES, by command and API; the analytics API."""

import csv
import io
import xml.etree.ElementTree as ET
from datetime import datetime

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from cases.analytics import selectors as analytics
from cases.models import Case, CaseEvent, WorkItem
from cases.services import engine, work_items
from core.errors import PermissionDenied
from core.models import AuditEntry
from identity import services
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff, verified

pytestmark = pytest.mark.django_db

BASE = "/api/v1/cases"
NS = "{http://www.xes-standard.org/}"


@pytest.fixture
def cases(service, citizen, caseworker):
    """One case decided automatically, one reviewed by the caseworker."""
    auto = engine.case_submit(
        service=service, data={"age": 40, "income": 5}, applicant=citizen, actor=citizen
    )
    engine.case_submit(
        service=service, data={"age": 40, "income": 25000}, applicant=citizen, actor=citizen
    )
    item = WorkItem.objects.get()
    work_items.work_item_claim(item=item, actor=caseworker)
    work_items.work_item_complete(item=item, data={"decision": "approve"}, actor=caseworker)
    return [auto, Case.objects.get(pk=item.case_id)]


def _client(user, scopes=("cases:read",)):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = services.api_token_create(actor=user, name="t", scopes=list(scopes))
    user.civic_system = False
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _body(response):
    return b"".join(response.streaming_content).decode()


def test_csv_export_has_the_columns_and_one_row_per_event(service, cases, analyst):
    # when the analyst exports the log as CSV
    export = analytics.event_log_export(viewer=analyst, service=service, fmt="csv")
    rows = list(csv.DictReader(io.StringIO("".join(export.chunks))))
    # then each event is a row with the columns process-mining tools map
    assert list(rows[0]) == [
        "case_id",
        "activity",
        "start",
        "end",
        "resource",
        "service",
        "version",
    ]
    assert len(rows) == CaseEvent.objects.count() == export.events
    assert {r["case_id"] for r in rows} == {c.reference for c in cases}
    review = next(r for r in rows if r["activity"] == "Review the application")
    assert review["resource"] == "cas"
    assert review["service"] == "test-benefit" and review["version"] == "1"
    # and the times carry their offset
    assert datetime.fromisoformat(review["start"]).utcoffset() is not None
    assert review["start"] <= review["end"]


def _xes(service, viewer):
    export = analytics.event_log_export(viewer=viewer, service=service, fmt="xes")
    return ET.fromstring("".join(export.chunks).encode())


def test_xes_export_follows_the_ieee_1849_structure(service, cases, analyst):
    # when the log is exported as XES
    log = _xes(service, analyst)
    # then it is an XES 1849-2016 log declaring the four extensions it uses
    assert log.tag == f"{NS}log"
    assert log.get("xes.version") == "1849-2016"
    extensions = {e.get("prefix"): e.get("uri") for e in log.findall(f"{NS}extension")}
    assert extensions == {
        "concept": "http://www.xes-standard.org/concept.xesext",
        "time": "http://www.xes-standard.org/time.xesext",
        "lifecycle": "http://www.xes-standard.org/lifecycle.xesext",
        "org": "http://www.xes-standard.org/org.xesext",
    }
    # and the children come in the order the schema requires
    order = ["extension", "global", "classifier", "string", "trace"]
    kinds = [child.tag.removeprefix(NS) for child in log]
    assert [order.index(k) for k in kinds] == sorted(order.index(k) for k in kinds)
    # and there is a trace per case, named by its reference
    traces = log.findall(f"{NS}trace")
    names = [t.find(f"{NS}string[@key='concept:name']").get("value") for t in traces]
    assert sorted(names) == sorted(c.reference for c in cases)


def test_xes_events_are_start_and_complete_with_all_attributes_in_time_order(
    service, cases, analyst
):
    log = _xes(service, analyst)
    events = log.findall(f"{NS}trace/{NS}event")
    # a start and a complete event for every activity of the log
    assert len(events) == 2 * CaseEvent.objects.count()
    for trace in log.findall(f"{NS}trace"):
        moments = []
        for event in trace.findall(f"{NS}event"):
            keys = {a.get("key"): (a.tag.removeprefix(NS), a.get("value")) for a in event}
            assert set(keys) == {
                "concept:name",
                "time:timestamp",
                "lifecycle:transition",
                "org:resource",
            }
            assert keys["time:timestamp"][0] == "date"
            assert keys["lifecycle:transition"][1] in {"start", "complete"}
            moment = datetime.fromisoformat(keys["time:timestamp"][1])
            assert moment.utcoffset() is not None
            moments.append(moment)
        assert moments == sorted(moments)
    transitions = [e.find(f"{NS}string[@key='lifecycle:transition']").get("value") for e in events]
    assert transitions.count("start") == transitions.count("complete")
    reviewers = {
        e.find(f"{NS}string[@key='org:resource']").get("value")
        for e in events
        if e.find(f"{NS}string[@key='concept:name']").get("value") == "Review the application"
    }
    assert reviewers == {"cas"}


def test_xes_escapes_markup_in_names(service, cases, analyst):
    # given an activity whose name holds markup
    CaseEvent.objects.filter(activity="Tell the applicant").update(activity='<b>"Tell" & go</b>')
    # then the XES still parses and keeps the name as text
    log = _xes(service, analyst)
    names = {a.get("value") for a in log.iter(f"{NS}string") if a.get("key") == "concept:name"}
    assert '<b>"Tell" & go</b>' in names


def test_export_is_audited_and_refused_to_other_agencies(service, cases, analyst):
    # when the analyst exports
    export = analytics.event_log_export(viewer=analyst, service=service, fmt="xes")
    "".join(export.chunks)
    # then the export is in the audit trail
    entry = AuditEntry.objects.filter(action="case_event_log.export").get()
    assert entry.actor == "ana" and entry.data["format"] == "xes"
    assert entry.data["events"] == CaseEvent.objects.count()
    # and staff of another agency are refused
    outsider = verified(staff(Role.POLICY_ANALYST, AgencyFactory(code="revenue"), username="rev"))
    with pytest.raises(PermissionDenied):
        analytics.event_log_export(viewer=outsider, service=service, fmt="csv")


def test_command_writes_csv_and_xes_files(service, cases, tmp_path):
    # when the command writes both formats
    call_command("export_event_log", str(tmp_path / "log.csv"), service="test-benefit")
    call_command(
        "export_event_log", str(tmp_path / "log.xes"), service="test-benefit", format="xes"
    )
    # then the CSV has a header and a row per event, the XES a trace per case
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0] == "case_id,activity,start,end,resource,service,version"
    assert len(lines) == 1 + CaseEvent.objects.count()
    log = ET.parse(tmp_path / "log.xes").getroot()
    assert len(log.findall(f"{NS}trace")) == len(cases)
    # and no partial file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv", "log.xes"]


def test_command_reports_an_unknown_service_and_a_bad_date(service, tmp_path):
    with pytest.raises(CommandError, match="no service 'nope'"):
        call_command("export_event_log", str(tmp_path / "x.csv"), service="nope")
    with pytest.raises(CommandError, match="not a date"):
        call_command(
            "export_event_log", str(tmp_path / "x.csv"), service="test-benefit", date_from="May"
        )
    assert not list(tmp_path.iterdir())


def test_api_streams_the_log_to_agency_staff(service, cases, analyst):
    client = _client(analyst)
    # when the analyst downloads the XES and the CSV
    xes = client.get(f"{BASE}/services/test-benefit/event-log", {"format": "xes"})
    csv_answer = client.get(f"{BASE}/services/test-benefit/event-log")
    # then both stream with the right type and a file name
    assert xes.status_code == 200 and xes.streaming
    assert xes["Content-Type"].startswith("application/xml")
    assert 'filename="test-benefit-event-log.xes"' in xes["Content-Disposition"]
    assert len(ET.fromstring(_body(xes).encode()).findall(f"{NS}trace")) == 2
    assert csv_answer["Content-Type"].startswith("text/csv")
    assert _body(csv_answer).startswith("case_id,activity,start,end,resource,service,version")


@pytest.mark.parametrize(
    "path",
    [
        "event-log",
        "analytics/dfg",
        "analytics/throughput",
        "analytics/sla",
        "analytics/backlog",
    ],
)
def test_api_refuses_a_citizen_and_another_agencys_staff(service, citizen, path):
    outsider = verified(staff(Role.SUPERVISOR, AgencyFactory(code="revenue"), username="rev"))
    url = f"{BASE}/services/test-benefit/{path}"
    assert _client(citizen).get(url).status_code == 403
    answer = _client(outsider).get(url)
    assert answer.status_code == 403
    assert answer["Content-Type"].startswith("application/problem+json")
    assert Client().get(url).status_code == 401


def test_api_bad_format_and_period_are_problem_json(service, analyst):
    client = _client(analyst)
    bad_format = client.get(f"{BASE}/services/test-benefit/event-log", {"format": "pdf"})
    assert bad_format.status_code in (400, 422)
    period = client.get(
        f"{BASE}/services/test-benefit/analytics/dfg",
        {"date_from": "2025-02-01", "date_to": "2025-01-01"},
    )
    assert period.status_code == 400
    assert period.json()["errors"] == {"date_to": ["must be on or after the start date"]}


def test_api_analytics_figures(service, cases, supervisor):
    client = _client(supervisor)
    dfg = client.get(f"{BASE}/services/test-benefit/analytics/dfg").json()
    assert dfg["cases"] == 2
    edges = {(e["source"], e["target"]): e["count"] for e in dfg["edges"]}
    assert edges["Application submitted", "Decide eligibility"] == 2
    assert edges["Decide eligibility", "Review the application"] == 1
    throughput = client.get(f"{BASE}/services/test-benefit/analytics/throughput").json()
    assert [(t["version"], t["completed"]) for t in throughput] == [(1, 2)]
    sla = client.get(f"{BASE}/services/test-benefit/analytics/sla").json()
    assert sla == [
        {
            "queue": "benefit-review",
            "completed": 1,
            "on_time": 1,
            "at_risk": 0,
            "breached": 0,
            "compliance": 1.0,
            "open": 0,
            "open_on_time": 0,
            "open_at_risk": 0,
            "open_breached": 0,
        }
    ]
    assert client.get(f"{BASE}/services/test-benefit/analytics/backlog").json() == []
    # a version with no cases has no figures
    empty = client.get(f"{BASE}/services/test-benefit/analytics/dfg", {"version": 2}).json()
    assert empty["cases"] == 0 and empty["edges"] == []
