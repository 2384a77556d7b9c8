"""A case's conversation between its applicant and the agency's staff, and the
notifications that tell the applicant: in the portal inbox, by e-mail, by SMS."""

import logging

import pytest
from django.utils import translation

from cases.connectors import ConnectorContext, notify
from cases.errors import ConnectorFailed
from cases.models import CaseMessage, Notification
from cases.services import engine, messages, notifications
from core.errors import PermissionDenied
from core.models import AuditEntry
from core.sms import SmsUnavailable
from identity.choices import Role
from identity.services import system_actor
from identity.tests.factories import AgencyFactory, CitizenFactory, staff, verified
from portal.tests.factories import linked_citizen
from registry.services.citizens import citizen_person

pytestmark = pytest.mark.django_db


def _submit(service, applicant):
    return engine.case_submit(
        service=service, data={"age": 30, "income": 25_000}, applicant=applicant, actor=applicant
    )


@pytest.fixture
def case(service, citizen):
    return _submit(service, citizen)


def test_the_applicant_writes_and_it_is_audited_under_their_person(service, caseworker):
    # given an applicant linked to a person in the registry
    applicant = linked_citizen(username="ana")
    case = _submit(service, applicant)
    # when they write to the caseworker
    message = messages.case_message_send(actor=applicant, case=case, body="  Is my form OK?\r\n ")
    # then the message is kept, trimmed, as from the applicant and unread
    assert (message.body, message.from_citizen, message.read_at) == ("Is my form OK?", True, None)
    # and it is recorded under the applicant's person, so they can see it in their trail
    entry = AuditEntry.objects.get(action="case.message_send")
    assert entry.subject_person == citizen_person(user=applicant).pk
    # and no notification goes to the applicant about their own message
    assert not Notification.objects.filter(case=case).exists()


def test_a_caseworker_reply_is_mailed_to_the_applicant_without_its_text(
    case, caseworker, mailoutbox, django_capture_on_commit_callbacks
):
    # when a caseworker of the agency replies
    with django_capture_on_commit_callbacks(execute=True):
        reply = messages.case_message_send(
            actor=caseworker, case=case, body="Please send your payslip for March."
        )
    # then the reply is from staff
    assert reply.from_citizen is False
    # and the applicant has a notification in their inbox, sent by e-mail
    note = Notification.objects.get(case=case, template="case-message")
    assert (note.channel, note.recipient_id, note.not_sent_reason) == (
        "email",
        case.applicant_id,
        "",
    )
    assert note.sent_at is not None
    (mail,) = mailoutbox
    assert mail.to == ["cit@example.org"]
    assert case.reference in mail.subject
    # and the e-mail says where to read it, not what it says
    assert "payslip" not in mail.body and "Sign in" in mail.body


def test_the_notification_is_in_the_applicants_language(
    case, caseworker, citizen, django_capture_on_commit_callbacks
):
    # given an applicant who reads Spanish
    citizen.preferred_language = "es"
    citizen.save()
    # when a caseworker replies
    messages.case_message_send(actor=caseworker, case=case, body="Hola")
    # then the notification is written in Spanish
    note = Notification.objects.get(case=case, template="case-message")
    assert note.subject.startswith("Nuevo mensaje")


@pytest.mark.parametrize("who", ["other_citizen", "other_agency_caseworker", "analyst"])
def test_only_the_applicant_and_the_agencys_case_staff_may_write(case, who, analyst):
    # given someone who is neither the applicant nor a caseworker/supervisor of the agency
    actor = {
        "other_citizen": lambda: CitizenFactory(username="eve"),
        "other_agency_caseworker": lambda: verified(
            staff(Role.CASEWORKER, AgencyFactory(code="revenue"), username="rev")
        ),
        "analyst": lambda: analyst,
    }[who]()
    # when they try to write, then they are refused and nothing is kept
    with pytest.raises(PermissionDenied):
        messages.case_message_send(actor=actor, case=case, body="Hello")
    with pytest.raises(PermissionDenied):
        messages.case_messages(viewer=actor, case=case)
    assert not CaseMessage.objects.exists()


def test_a_supervisor_of_the_agency_may_write(case, supervisor):
    message = messages.case_message_send(actor=supervisor, case=case, body="Noted.")
    assert message.from_citizen is False


@pytest.mark.parametrize(
    ("body", "problem"),
    [("", "Write your message."), (" \n\t", "Write your message."), ("x" * 5_001, "at most")],
)
def test_an_empty_or_too_long_message_is_refused_on_the_field(case, citizen, body, problem):
    # when the applicant sends nothing, or too much (reading English)
    with translation.override("en"), pytest.raises(messages.MessageInvalid) as refused:
        messages.case_message_send(actor=citizen, case=case, body=body)
    # then the refusal names the field and says why, and nothing is kept
    assert problem in refused.value.errors["body"][0]
    assert not CaseMessage.objects.exists()


def test_a_message_of_exactly_5000_characters_is_kept(case, citizen):
    message = messages.case_message_send(actor=citizen, case=case, body="x" * 5_000)
    assert len(message.body) == 5_000


def test_reading_marks_only_the_other_sides_messages_read(case, citizen, caseworker):
    # given a message each way
    asked = messages.case_message_send(actor=citizen, case=case, body="Question")
    answered = messages.case_message_send(actor=caseworker, case=case, body="Answer")
    # when the applicant reads the conversation
    assert messages.case_messages_mark_read(actor=citizen, case=case) == 1
    # then the caseworker's answer is read, their own question is still unread by staff
    asked.refresh_from_db()
    answered.refresh_from_db()
    assert answered.read_at is not None and asked.read_at is None
    # and the conversation lists both, oldest first
    assert list(messages.case_messages(viewer=caseworker, case=case)) == [asked, answered]
    # and a second read marks nothing more
    assert messages.case_messages_mark_read(actor=citizen, case=case) == 0


# --- SMS ------------------------------------------------------------------------------------


def test_an_applicant_without_e_mail_is_texted_at_their_golden_records_number(
    service, caseworker, caplog, django_capture_on_commit_callbacks
):
    # given an applicant with no e-mail address whose golden record has a mobile number
    applicant = linked_citizen(username="tom", phone="07700 900123")
    applicant.email = ""
    applicant.save()
    case = _submit(service, applicant)
    caplog.set_level(logging.INFO, logger="civicstack.sms")
    # when a caseworker replies
    with django_capture_on_commit_callbacks(execute=True):
        messages.case_message_send(actor=caseworker, case=case, body="We need a document.")
    # then a text message went to that number (logged masked by the default backend)
    note = Notification.objects.get(case=case, template="case-message")
    assert (note.channel, note.not_sent_reason) == ("sms", "")
    assert note.sent_at is not None
    (line,) = [r for r in caplog.records if r.name == "civicstack.sms"]
    assert line.to.endswith("123") and "7700900" not in line.to
    # and the number was read from the registry as the platform, for that purpose (audited)
    assert AuditEntry.objects.filter(
        action="person.read", purpose=f"send a text message about case {case.reference}"
    ).exists()


def test_without_a_phone_number_the_sms_is_skipped_and_the_reason_kept(
    service, caseworker, django_capture_on_commit_callbacks
):
    # given an applicant with neither an e-mail address nor a phone number
    applicant = linked_citizen(username="una")
    applicant.email = ""
    applicant.save()
    case = _submit(service, applicant)
    # when a caseworker replies
    with django_capture_on_commit_callbacks(execute=True):
        messages.case_message_send(actor=caseworker, case=case, body="We need a document.")
    # then the notification stays in the inbox, unsent, with the reason
    note = Notification.objects.get(case=case, template="case-message")
    assert note.sent_at is None
    assert note.not_sent_reason == "The applicant's golden record has no phone number."


def _ctx(case):
    return ConnectorContext(case=case, element_id="tell", actor=system_actor())


def test_the_notify_connector_texts_on_channel_sms(service, django_capture_on_commit_callbacks):
    # given an applicant whose golden record has an international number
    applicant = linked_citizen(username="ivy", phone="+44 7700 900456")
    case = _submit(service, applicant)
    # when a process notifies them by SMS
    with django_capture_on_commit_callbacks(execute=True):
        answer = notify(_ctx(case), {"channel": "sms", "subject": "Approved", "body": "Well done"})
    # then the notification is written and sent
    note = Notification.objects.get(pk=answer["notification"])
    assert note.channel == "sms" and note.sent_at is not None


def test_the_notify_connector_keeps_an_sms_it_cannot_send_in_the_inbox(
    case, django_capture_on_commit_callbacks
):
    # given an applicant whose account is linked to no person (so no phone number)
    with django_capture_on_commit_callbacks(execute=True):
        answer = notify(_ctx(case), {"channel": "sms", "subject": "Approved"})
    note = Notification.objects.get(pk=answer["notification"])
    # then it is in the inbox, not sent, and says why
    assert note.sent_at is None
    assert "not linked to a person" in note.not_sent_reason


def test_the_notify_connector_refuses_an_unknown_channel(case):
    with pytest.raises(ConnectorFailed):
        notify(_ctx(case), {"channel": "pigeon", "subject": "Hello"})


def test_a_provider_that_is_down_leaves_the_reason_and_the_task_retries(service, settings):
    # given the HTTP provider cannot be reached
    settings.CIVICSTACK_SMS_BACKEND = "core.sms.HttpSmsBackend"
    settings.CIVICSTACK_SMS_URL = "http://127.0.0.1:9/sms"
    settings.CIVICSTACK_SMS_TOKEN = "t"
    settings.CIVICSTACK_SMS_RETRIES = 0
    applicant = linked_citizen(username="kim", phone="07700 900789")
    case = _submit(service, applicant)
    note = Notification.objects.create(
        case=case, recipient=applicant, channel="sms", subject="Approved", body=""
    )
    # when it is delivered, then it raises (so the task is retried later)
    with pytest.raises(SmsUnavailable):
        notifications.notification_send(notification_id=note.pk)
    # and the notification, still unsent, says why
    note.refresh_from_db()
    assert note.sent_at is None and "did not take the message" in note.not_sent_reason


def test_the_api_carries_the_conversation_both_ways(service, citizen, other_citizen, caseworker):
    from cases.tests.test_api import BASE, _client, _post

    case = engine.case_submit(
        service=service, data={"age": 40, "income": 25000}, applicant=citizen, actor=citizen
    )
    url = f"{BASE}/cases/{case.reference}/messages"
    # the applicant writes, the caseworker reads and answers
    sent = _post(_client(citizen), url, {"body": "  I sent my payslips by post.  "})
    assert sent.status_code == 201
    assert sent.json()["body"] == "I sent my payslips by post."
    assert sent.json()["from_applicant"] is True
    listed = _client(caseworker).get(url)
    assert listed.status_code == 200
    assert [m["body"] for m in listed.json()] == ["I sent my payslips by post."]
    assert _post(_client(caseworker), url, {"body": "Received, thank you."}).status_code == 201
    assert [m["from_applicant"] for m in _client(citizen).get(url).json()] == [True, False]
    # an empty message is refused with the reason on the field; nothing is stored
    empty = _post(_client(citizen), url, {"body": "   "})
    assert empty.status_code == 400
    assert empty["Content-Type"].startswith("application/problem+json")
    assert "body" in empty.json()["errors"]
    # another citizen finds no such case
    assert _client(other_citizen).get(url).status_code == 404
    assert _post(_client(other_citizen), url, {"body": "hello"}).status_code == 404


# --- links to the case page -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("site", "link"),
    [
        ("https://services.gov.example/", "https://services.gov.example/portal/cases/{ref}/"),
        ("", None),  # no address configured: a relative link would be useless in a mail
    ],
)
def test_the_e_mail_ends_with_the_case_pages_address_when_the_site_has_one(
    site, link, case, caseworker, mailoutbox, settings, django_capture_on_commit_callbacks
):
    # given the deployment's public address (or none)
    settings.CIVICSTACK_SITE_URL = site
    # when a caseworker replies
    with django_capture_on_commit_callbacks(execute=True):
        messages.case_message_send(actor=caseworker, case=case, body="Please call us.")
    # then the e-mail ends with the address of the applicant's case page, or has no link
    (mail,) = mailoutbox
    if link:
        assert mail.body.rstrip().endswith(link.format(ref=case.reference))
    else:
        assert "/portal/cases/" not in mail.body


def test_a_long_text_message_is_cut_but_keeps_the_whole_link(
    service, settings, monkeypatch, django_capture_on_commit_callbacks
):
    # given the deployment's public address and an applicant texted at their golden number
    settings.CIVICSTACK_SITE_URL = "https://services.gov.example"
    sent = []
    monkeypatch.setattr(notifications, "send_sms", lambda *, to, body: sent.append((to, body)))
    applicant = linked_citizen(username="lea", phone="07700 900321")
    case = _submit(service, applicant)
    # when a process texts a body far longer than a text message may be
    with django_capture_on_commit_callbacks(execute=True):
        notify(_ctx(case), {"channel": "sms", "subject": "Approved", "body": "x" * 2000})
    # then one message went, within the limit, ending with the whole link to the case
    ((to, body),) = sent
    assert to == "+447700900321"
    assert len(body) <= notifications.SMS_LENGTH
    assert body.endswith(f"\nhttps://services.gov.example/portal/cases/{case.reference}/")
    assert "…" in body
