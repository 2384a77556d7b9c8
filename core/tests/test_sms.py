"""SMS behind one function: E.164 numbers, the logging default and the HTTP adapter, tried
against a real HTTP server on a thread."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from core import sms

NUMBER = "+447700900123"


class _Provider(BaseHTTPRequestHandler):
    answers: list[tuple[int, dict]] = []
    seen: list[dict] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append(
            {
                "body": body,
                "authorization": self.headers.get("Authorization"),
                "key": self.headers.get("Idempotency-Key"),
            }
        )
        status, answer = type(self).answers.pop(0) if type(self).answers else (202, {"id": "m-1"})
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def provider(settings):
    _Provider.answers, _Provider.seen = [], []
    server = HTTPServer(("127.0.0.1", 0), _Provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.CIVICSTACK_SMS_BACKEND = "core.sms.HttpSmsBackend"
    settings.CIVICSTACK_SMS_URL = f"http://127.0.0.1:{server.server_port}/messages"
    settings.CIVICSTACK_SMS_TOKEN = "t0ken"
    settings.CIVICSTACK_SMS_TIMEOUT = 2
    settings.CIVICSTACK_SMS_RETRIES = 2
    settings.CIVICSTACK_SMS_BACKOFF = 0
    yield _Provider
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "number",
    ["07700900123", "+44 7700 900123", "447700900123", "+0447700900123", ""],
)
def test_a_number_not_in_e164_form_is_refused(number):
    # when a message is sent to a number that is not E.164
    with pytest.raises(sms.InvalidPhoneNumber) as refused:
        sms.send_sms(to=number, body="Hello")
    # then it is refused, and the refusal shows at most the last three digits
    assert refused.value.code == "phone_number_invalid"
    digits = "".join(c for c in number if c.isdigit())
    assert not digits or digits[:-3] not in refused.value.detail


def test_the_default_backend_logs_a_masked_number_and_not_the_text(caplog, settings):
    # given no SMS backend configured
    settings.CIVICSTACK_SMS_BACKEND = None
    caplog.set_level(logging.INFO, logger="civicstack.sms")
    # when a message is sent
    result = sms.send_sms(to=NUMBER, body="Your case HB-1 has a new message.")
    # then one line is logged with the number masked but for its last three digits
    (line,) = caplog.records
    assert line.to == "**********123" and result.to == "**********123"
    assert line.characters == len("Your case HB-1 has a new message.")
    # and neither the whole number nor the text is in the log
    assert NUMBER not in caplog.text and "HB-1" not in caplog.text
    assert result.backend == "logging"


def test_the_http_backend_posts_json_with_the_bearer_token(provider):
    # when a message goes through the HTTP adapter
    result = sms.send_sms(to=NUMBER, body="Hello from the council")
    # then the provider got the number and the text as JSON, with the token
    (call,) = provider.seen
    assert call["body"] == {"to": NUMBER, "body": "Hello from the council"}
    assert call["authorization"] == "Bearer t0ken"
    # and its message id comes back
    assert (result.backend, result.message_id) == ("http", "m-1")


def test_the_http_backend_retries_a_5xx_with_the_same_idempotency_key(provider):
    # given a provider that fails twice, then takes the message
    provider.answers = [(503, {"detail": "busy"}), (500, {}), (200, {"id": "m-3"})]
    # when a message is sent
    result = sms.send_sms(to=NUMBER, body="Hello")
    # then it was tried three times, as one message (one idempotency key)
    assert len(provider.seen) == 3
    assert len({c["key"] for c in provider.seen}) == 1
    assert result.message_id == "m-3"


def test_the_http_backend_gives_up_after_its_retries_with_a_clear_error(provider):
    # given a provider that keeps failing
    provider.answers = [(503, {"detail": "down for maintenance"})] * 3
    # when a message is sent, then the error says what happened, without the number
    with pytest.raises(sms.SmsUnavailable) as failed:
        sms.send_sms(to=NUMBER, body="Hello")
    assert "3 tries" in failed.value.detail and "HTTP 503" in failed.value.detail
    assert "down for maintenance" in failed.value.detail
    assert NUMBER not in failed.value.detail


def test_a_4xx_is_refused_at_once_and_not_retried(provider):
    # given a provider that refuses the number
    provider.answers = [(400, {"error": "unknown destination"})]
    # when a message is sent, then it fails once with the provider's reason
    with pytest.raises(sms.SmsRejected) as refused:
        sms.send_sms(to=NUMBER, body="Hello")
    assert len(provider.seen) == 1
    assert "HTTP 400 (unknown destination)" in refused.value.detail


def test_an_unreachable_provider_is_unavailable(provider, settings):
    # given a provider address nobody answers on
    settings.CIVICSTACK_SMS_URL = "http://127.0.0.1:9/messages"
    settings.CIVICSTACK_SMS_RETRIES = 1
    # when a message is sent, then it is unavailable (worth trying later)
    with pytest.raises(sms.SmsUnavailable) as failed:
        sms.send_sms(to=NUMBER, body="Hello")
    assert "ConnectionError" in failed.value.detail


def test_an_empty_or_overlong_message_is_refused():
    with pytest.raises(sms.ValidationFailed):
        sms.send_sms(to=NUMBER, body="  ")
    with pytest.raises(sms.ValidationFailed):
        sms.send_sms(to=NUMBER, body="x" * (sms.MAX_BODY + 1))
