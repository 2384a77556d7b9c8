"""The exchange pages: the catalogue of data services (staff; published by the provider's
admins and data stewards) and the signed message log (auditors)."""

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import get_resolver
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from consent import services as consent_services
from core.access import declared_permission
from core.errors import ApplicationError
from core.models import AuditEntry
from exchange import services
from exchange.messages import message_append
from exchange.models import DataService, Message
from identity.choices import Role
from identity.tests.factories import AgencyFactory, staff

pytestmark = pytest.mark.django_db


def _text(response):
    return re.sub(r"\s+", " ", response.content.decode())


def _signed_in(user):
    """A client signed in as `user`; staff with a TOTP-verified session."""
    client = Client()
    client.force_login(user)
    if user.needs_mfa:
        device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
        session = client.session
        session["otp_device_id"] = device.persistent_id
        session.save()
    return client


def _ask(world, **overrides):
    args = {
        "actor": world["caseworker"],
        "consumer": world["social"],
        "provider_code": "revenue",
        "service_code": "income-for-tax-year",
        "person_id": world["person"].pk,
        "purpose": "child-benefit-eligibility",
        "case_ref": "CB-2026-000001",
        "params": {"tax_year": 2025},
    }
    args.update(overrides)
    return services.exchange_request(**args)


def _consent(world):
    consent_services.consent_give(
        actor=world["citizen"], person=world["person"], agreement=world["version"].agreement
    )


def _other_agencies_exchange():
    """An exchange between Health and Transport, which Revenue's admin must not see."""
    AgencyFactory(code="health", name="Health")
    AgencyFactory(code="transport", name="Transport")
    return message_append(
        kind="request",
        exchange_id=uuid.uuid4(),
        consumer="health",
        provider="transport",
        service="licence-status",
        actor="nurse",
        status="sent",
        person="POTHERPERSON1",
        purpose="fitness-to-drive",
        body={"params": {}},
    )


def _log_rows(text):
    """The entry numbers listed on a page of the log, in order."""
    return [
        int(n) for n in re.findall(r'<span class="govuk-visually-hidden">Entry </span>#(\d+)', text)
    ]


@pytest.fixture
def platform_admin(world):
    return staff(Role.PLATFORM_ADMIN, world["revenue"], username="root")


@pytest.fixture
def revenue_admin(world):
    return staff(Role.AGENCY_ADMIN, world["revenue"], username="rev-admin")


@pytest.fixture
def exchanged(world):
    """One answered exchange (request + response) and one refused (denied)."""
    _consent(world)
    answer = _ask(world)
    with pytest.raises(ApplicationError):
        _ask(world, purpose="no-such-purpose", case_ref="CB-2026-000002")
    return answer


# --- who may open which page -------------------------------------------------------------


def _who(request, world, who):
    if who in ("caseworker", "citizen"):
        return world[who]
    if who.startswith("role:"):
        role, agency = who[5:].split("@")
        return staff(Role(role), AgencyFactory(code=agency), username=f"{role}-{agency}")
    return request.getfixturevalue(who)


@pytest.mark.parametrize(
    ("who", "method", "url", "expected"),
    [
        ("caseworker", "get", "/exchange/services/", 200),
        ("caseworker", "get", "/exchange/services/revenue/income-for-tax-year/", 200),
        ("citizen", "get", "/exchange/services/", 403),
        ("caseworker", "get", "/exchange/services/new/", 403),
        ("role:data_steward@revenue", "get", "/exchange/services/new/", 200),
        ("revenue_admin", "get", "/exchange/services/revenue/income-for-tax-year/edit/", 200),
        (
            "role:agency_admin@health",
            "get",
            "/exchange/services/revenue/income-for-tax-year/edit/",
            403,
        ),
        ("caseworker", "get", "/exchange/messages/", 403),
        ("citizen", "get", "/exchange/messages/", 403),
        ("revenue_admin", "get", "/exchange/messages/", 200),
        ("platform_admin", "get", "/exchange/messages/", 200),
        ("revenue_admin", "post", "/exchange/messages/verify/", 403),
        ("platform_admin", "post", "/exchange/messages/verify/", 200),
        ("platform_admin", "get", "/exchange/messages/verify/", 405),
        ("caseworker", "post", "/exchange/services/revenue/income-for-tax-year/retire/", 403),
        ("platform_admin", "get", "/exchange/services/revenue/no-such-service/", 404),
    ],
)
def test_pages_answer_the_right_people(request, world, who, method, url, expected):
    client = _signed_in(_who(request, world, who))
    assert getattr(client, method)(url).status_code == expected


def test_anonymous_visitors_are_sent_to_sign_in():
    answer = Client().get("/exchange/messages/")
    assert answer.status_code == 302 and "/accounts/login/" in answer["Location"]


def test_every_exchange_page_declares_its_permission():
    resolver = next(
        r for r in get_resolver().url_patterns if getattr(r, "namespace", None) == "exchange"
    )
    undeclared = [
        str(p.pattern) for p in resolver.url_patterns if not declared_permission(p.callback)
    ]
    assert len(resolver.url_patterns) >= 7 and not undeclared


# --- the catalogue -----------------------------------------------------------------------


def test_the_catalogue_lists_each_service_with_provider_attributes_and_kind(world):
    text = _text(_signed_in(world["caseworker"]).get("/exchange/services/"))
    row = re.search(r"Income for a tax year</a></th>(.*?)</tr>", text).group(1)
    assert "Revenue" in row and "income-for-tax-year" in row
    assert "employment_status, income_band, tax_reference, tax_year" in row
    assert "Data held in CivicStack" in row
    # a caseworker may read the catalogue but not publish in it
    assert "Publish a data service" not in text


def test_a_service_page_shows_its_input_fields_and_the_agreements_that_use_it(world):
    # given a second agreement that shares nothing this service releases
    from consent.tests.factories import agreement

    agreement(
        code="revenue-addresses",
        provider=world["revenue"],
        consumer=AgencyFactory(code="transport", name="Transport"),
        attributes=("address",),
    )
    client = _signed_in(world["caseworker"])
    # when a caseworker opens the service
    text = _text(client.get("/exchange/services/revenue/income-for-tax-year/"))
    # then its input schema is a table: name, type, required, rules
    row = re.search(r"<code>tax_year</code></th>(.*?)</tr>", text).group(1)
    assert '<td class="govuk-table__cell">integer</td>' in row
    assert '<td class="govuk-table__cell">Yes</td>' in row
    assert "at least 2000; at most 2100" in row
    # and the agreement in force is listed with what it may get from this service
    uses = re.search(r"revenue-income-for-benefits</a>(.*?)</tr>", text).group(1)
    assert "Social Services" in uses and "income_band, tax_year" in uses and "Consent" in uses
    assert "revenue-addresses" not in text


def test_publishing_shows_errors_beside_fields_and_keeps_what_was_typed(world, revenue_admin):
    client = _signed_in(revenue_admin)
    form = {
        "provider": "revenue",
        "code": "benefits-paid",
        "name": "Benefits paid",
        "attributes": "benefit_total\nbenefit_count",
        "kind": "internal",
        "resolver": "source_record",
        "input_schema": '{"type": "object", "properties": {',
        "output_schema": "",
        "timeout_seconds": "5",
        "max_retries": "2",
    }
    # when the input schema is not JSON
    answer = client.post("/exchange/services/new/", form)
    # then the form comes back with the error beside it, linked from the summary
    assert answer.status_code == 400
    text = _text(answer)
    assert 'href="#id_input_schema"' in text and 'id="id_input_schema_error"' in text
    assert "This is not valid JSON" in text
    # and what was typed is kept
    assert "{&quot;type&quot;: &quot;object&quot;, &quot;properties&quot;: {" in text
    assert "benefit_total" in text
    # when it is JSON but not a JSON Schema, the service's refusal is beside the field
    answer = client.post("/exchange/services/new/", {**form, "input_schema": '{"type": "odd"}'})
    error = re.search(
        r'<p class="govuk-error-message" id="id_input_schema_error">(.*?)</p>', _text(answer)
    )
    assert answer.status_code == 400 and "not a valid JSON Schema" in error.group(1)
    # when the agency's own system has no address, the refusal is beside the address
    answer = client.post(
        "/exchange/services/new/", {**form, "input_schema": "", "kind": "http", "resolver": ""}
    )
    assert answer.status_code == 400 and 'id="id_endpoint_url_error"' in _text(answer)
    assert not DataService.objects.filter(code="benefits-paid").exists()
    # when all is right, it is published and its page shown with a message
    good_schema = '{"type": "object", "properties": {"year": {"type": "integer"}}}'
    answer = client.post("/exchange/services/new/", {**form, "input_schema": good_schema})
    assert answer.status_code == 302
    assert answer["Location"] == "/exchange/services/revenue/benefits-paid/"
    service = DataService.objects.get(provider=world["revenue"], code="benefits-paid")
    assert service.attributes == ["benefit_count", "benefit_total"]
    assert service.input_schema["properties"]["year"] == {"type": "integer"}
    assert "is published" in _text(client.get(answer["Location"]))
    # and the same code again is refused beside the code
    again = client.post("/exchange/services/new/", {**form, "input_schema": ""})
    assert again.status_code == 400 and 'id="id_code_error"' in _text(again)


def test_an_admin_publishes_only_for_their_own_agency(world, revenue_admin):
    text = _text(_signed_in(revenue_admin).get("/exchange/services/new/"))
    provider = re.search(r'<select name="provider".*?</select>', text).group(0)
    assert "Revenue" in provider and "Social Services" not in provider
    # a forged provider is refused, and nothing is published for it
    answer = _signed_in(revenue_admin).post(
        "/exchange/services/new/",
        {"provider": "social-services", "code": "x", "name": "X", "attributes": "a"},
    )
    assert answer.status_code == 400 and 'id="id_provider_error"' in _text(answer)
    assert not DataService.objects.filter(provider=world["social"]).exists()


def test_editing_starts_from_the_published_service_and_updates_it(world, revenue_admin):
    client = _signed_in(revenue_admin)
    url = "/exchange/services/revenue/income-for-tax-year/edit/"
    # the form starts from what is published, the schema as readable JSON
    page = _text(client.get(url))
    assert "Income for a tax year" in page and "&quot;minimum&quot;: 2000" in page
    service = DataService.objects.get(code="income-for-tax-year")
    form = {
        "name": "Income for one tax year",
        "attributes": "income_band\ntax_year",
        "kind": "internal",
        "resolver": "source_record",
        "input_schema": '{"type": "object"}',
        "timeout_seconds": "99",
        "max_retries": "2",
    }
    # a time limit out of range is refused beside its field, nothing changes
    answer = client.post(url, form)
    assert answer.status_code == 400 and 'id="id_timeout_seconds_error"' in _text(answer)
    service.refresh_from_db()
    assert service.name == "Income for a tax year"
    # a good edit updates the service in place
    answer = client.post(url, {**form, "timeout_seconds": "3"})
    assert answer.status_code == 302
    service.refresh_from_db()
    assert service.name == "Income for one tax year" and service.attributes == [
        "income_band",
        "tax_year",
    ]
    assert service.timeout_seconds == 3.0
    assert "is updated" in _text(client.get(answer["Location"]))


def test_retiring_a_service_takes_it_out_of_the_catalogue_and_refuses_requests(
    world, revenue_admin
):
    client = _signed_in(revenue_admin)
    url = "/exchange/services/revenue/income-for-tax-year/"
    # another agency's admin may not retire it
    other = _signed_in(staff(Role.AGENCY_ADMIN, world["social"], username="soc-admin"))
    assert other.post(f"{url}retire/").status_code == 403
    assert DataService.objects.get(code="income-for-tax-year").active
    # when the provider's admin retires it
    answer = client.post(f"{url}retire/")
    # then its page says so, the catalogue no longer lists it, and requests are refused
    assert answer.status_code == 302
    assert "is retired" in _text(client.get(answer["Location"]))
    assert "Income for a tax year" not in _text(client.get("/exchange/services/"))
    _consent(world)
    with pytest.raises(ApplicationError, match="publishes no service"):
        _ask(world)


# --- the message log ---------------------------------------------------------------------


def test_the_log_lists_entries_newest_first_with_their_routing_and_seal(
    world, exchanged, platform_admin
):
    # when a platform admin opens the log
    text = _text(_signed_in(platform_admin).get("/exchange/messages/"))
    # then the three entries are listed, newest first
    assert _log_rows(text) == [3, 2, 1]
    response = Message.objects.get(kind="response")
    row = re.search(rf"#{response.seq}</a></th>(.*?)</tr>", text).group(1)
    assert "Response" in row and "social-services → revenue / income-for-tax-year" in row
    assert world["person"].pk in row and "child-benefit-eligibility" in row
    assert "CB-2026-000001" in row and "ok" in row
    assert f"<code>{response.hash[:12]}…</code>" in row
    assert f"<code>{response.signature[:12]}…</code>" in row
    denied = re.search(r"#3</a></th>(.*?)</tr>", text).group(1)
    assert "Denied" in denied and "unknown_purpose" in denied
    # and the platform admin may verify it
    assert "Verify the log" in text


def test_an_agency_admin_sees_only_their_agencys_exchanges(world, exchanged, revenue_admin):
    # given an exchange between two other agencies
    other = _other_agencies_exchange()
    client = _signed_in(revenue_admin)
    # when Revenue's admin opens the log
    text = _text(client.get("/exchange/messages/"))
    # then only Revenue's exchanges are there
    assert _log_rows(text) == [3, 2, 1] and "fitness-to-drive" not in text
    # and the other agencies' entry cannot be opened
    assert client.get(f"/exchange/messages/{other.seq}/").status_code == 404
    # while a platform admin sees everything
    admin = _signed_in(staff(Role.PLATFORM_ADMIN, world["social"], username="root"))
    assert _log_rows(_text(admin.get("/exchange/messages/"))) == [other.seq, 3, 2, 1]
    # and an agency admin may not verify the whole log
    assert "Verify the log" not in text


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"kind": "denied"}, [3]),
        ({"kind": "response"}, [2]),
        ({"person": "POTHERPERSON1"}, [4]),
        ({"agency": "health"}, [4]),
        ({"agency": "revenue", "kind": "request"}, [1]),
        ({"since": "TOMORROW"}, []),
        ({"until": "YESTERDAY"}, []),
        ({"since": "TODAY", "until": "TODAY"}, [4, 3, 2, 1]),
    ],
)
def test_the_log_filters(world, exchanged, platform_admin, filters, expected):
    # given three Revenue entries and one between other agencies
    _other_agencies_exchange()
    today = timezone.localdate()
    days = {
        "TODAY": today,
        "TOMORROW": today + timedelta(days=1),
        "YESTERDAY": today - timedelta(days=1),
    }
    query = {k: days[v].isoformat() if v in days else v for k, v in filters.items()}
    # when the auditor filters
    text = _text(_signed_in(platform_admin).get("/exchange/messages/", query))
    # then only the matching entries are listed
    assert _log_rows(text) == expected
    if not expected:
        assert "No entries match these filters." in text


def test_the_log_filters_by_exchange_and_refuses_bad_filters_beside_the_field(
    exchanged, platform_admin
):
    client = _signed_in(platform_admin)
    text = _text(client.get("/exchange/messages/", {"exchange_id": str(exchanged.exchange_id)}))
    assert _log_rows(text) == [2, 1]
    answer = client.get("/exchange/messages/", {"exchange_id": "not-an-id"})
    assert answer.status_code == 400 and 'id="id_exchange_id_error"' in _text(answer)
    backwards = client.get("/exchange/messages/", {"since": "2026-02-01", "until": "2026-01-01"})
    assert backwards.status_code == 400 and 'id="id_until_error"' in _text(backwards)


def test_the_log_is_paginated_and_keeps_the_filters(world, platform_admin):
    # given 30 answered exchanges (60 entries)
    _consent(world)
    for _ in range(30):
        _ask(world)
    client = _signed_in(platform_admin)
    # when the auditor lists the responses
    first = _text(client.get("/exchange/messages/", {"kind": "response"}))
    # then 25 come on the first page, newest first, and the next page keeps the filter
    rows = _log_rows(first)
    assert len(rows) == 25 and rows == sorted(rows, reverse=True) and rows[0] == 60
    assert "Page 1 of 2" in first and "?kind=response&amp;page=2" in first
    second = _text(client.get("/exchange/messages/", {"kind": "response", "page": 2}))
    assert _log_rows(second) == [10, 8, 6, 4, 2]


def test_an_entry_shows_its_header_and_exchange_and_opening_the_body_is_recorded(
    world, exchanged, platform_admin
):
    client = _signed_in(platform_admin)
    response = Message.objects.get(kind="response")
    url = f"/exchange/messages/{response.seq}/"
    # when the auditor opens the entry
    text = _text(client.get(url))
    # then every header field is shown in full, and the whole exchange
    for value in (
        str(response.id),
        str(response.exchange_id),
        response.consumer,
        response.service,
        response.person,
        response.purpose,
        response.case_ref,
        response.actor,
        response.body_hash,
        response.prev_hash,
        response.hash,
        response.key_id,
        response.signature,
    ):
        assert value in text
    assert "The stored body matches its hash." in text
    exchange = re.search(r"The whole exchange(.*?)</table>", text).group(1)
    assert "Request" in exchange and "Response" in exchange and "(this entry)" in exchange
    # and the body is not shown yet: the page says that opening it is recorded
    assert "&quot;income_band&quot;" not in text
    assert "Opening it is recorded in that person's access log" in text
    reads = AuditEntry.objects.filter(action="message_log.read")
    assert not reads.exists()
    # when the auditor opens the body
    opened = _text(client.get(url, {"body": "1"}))
    # then the decrypted body is shown, and the read is in the person's access log
    assert "&quot;income_band&quot;: &quot;B&quot;" in opened
    assert "your reading is recorded in the access log of person" in opened
    read = reads.get()
    assert read.subject_person == world["person"].pk and read.actor == "root"
    assert read.target == f"message:{response.seq}"


def test_an_entry_whose_body_was_changed_says_so(exchanged, platform_admin):
    # given a response whose stored body was replaced behind the log's back
    response = Message.objects.get(kind="response")
    Message.objects.filter(seq=response.seq).update(body='{"data": {"income_band": "A"}}')
    # when the auditor opens it
    text = _text(_signed_in(platform_admin).get(f"/exchange/messages/{response.seq}/"))
    # then the page warns that the body no longer matches its hash
    assert "the stored body does not match its hash" in text


def test_an_entry_whose_stored_body_cannot_be_decrypted_says_so(exchanged, platform_admin):
    # given a response whose encrypted body was altered in the database
    response = Message.objects.get(kind="response")
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM exchange_message WHERE seq = %s", [response.seq])
        token = cursor.fetchone()[0]
        altered = token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")
        cursor.execute(
            "UPDATE exchange_message SET body = %s WHERE seq = %s", [altered, response.seq]
        )
    client = _signed_in(platform_admin)
    # when the auditor opens it, even asking for the body
    answer = client.get(f"/exchange/messages/{response.seq}/", {"body": "1"})
    # then the page still answers, and says the body cannot be decrypted
    assert answer.status_code == 200
    assert "the stored body cannot be decrypted" in _text(answer)
    assert not AuditEntry.objects.filter(action="message_log.read").exists()


def test_verifying_the_log_reports_the_first_broken_entry(exchanged, platform_admin):
    client = _signed_in(platform_admin)
    # when the log is untouched
    text = _text(client.post("/exchange/messages/verify/"))
    # then it is intact and every entry was checked
    assert "The log is intact." in text and "3 entries checked" in text
    # when someone edits the second entry's purpose
    Message.objects.filter(seq=2).update(purpose="something-else")
    text = _text(client.post("/exchange/messages/verify/"))
    # then verification names that entry and why, after checking the one before it
    assert "The log is broken" in text
    assert re.search(
        r'First broken entry</dt>\s*<dd class="govuk-summary-list__value">'
        r'<a href="/exchange/messages/2/">#2</a>',
        text,
    )
    assert "the entry was changed after it was written" in text
    assert re.search(
        r'Entries checked before it</dt>\s*<dd class="govuk-summary-list__value">1</dd>', text
    )
    # and checking only from today on finds it too
    today = timezone.localdate().isoformat()
    text = _text(client.post("/exchange/messages/verify/", {"since": today}))
    assert "The log is broken" in text and f"Entries from {today} on were checked" in text
    # a day that is not a date is refused beside the field
    answer = client.post("/exchange/messages/verify/", {"since": "soon"})
    assert answer.status_code == 400 and 'id="verify_since_error"' in _text(answer)


def test_verifying_needs_the_csrf_token(exchanged, platform_admin):
    client = _signed_in(platform_admin)
    client.handler.enforce_csrf_checks = True
    assert client.post("/exchange/messages/verify/").status_code == 403
