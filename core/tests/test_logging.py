"""Logs are one JSON object per line, each carrying the request id; one access line a request."""

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from core.logging import JsonFormatter
from identity.tests.factories import CitizenFactory

REPO = Path(django_settings.BASE_DIR)


@pytest.fixture
def json_log():
    """Capture what the root logger prints, formatted as production formats it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def lines():
        return [json.loads(line) for line in stream.getvalue().splitlines()]

    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.mark.django_db
def test_a_well_formed_request_id_from_the_proxy_is_kept(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.9_B")
    assert response["X-Request-ID"] == "lb-7f3a.9_B"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "incoming",
    ["", "has space", "x" * 65, 'a"b', "evil\r\nSet-Cookie: x=1", "id\n", "ünïcode"],
)
def test_a_missing_or_malformed_request_id_is_replaced(client, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    issued = response["X-Request-ID"]
    assert issued != incoming
    assert len(issued) == 32
    assert int(issued, 16) >= 0  # a fresh uuid4 in hex


@pytest.mark.django_db
def test_every_request_gets_its_own_id(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert first != second


@pytest.mark.django_db
def test_lines_logged_during_a_request_carry_its_id(client, json_log):
    # given a request that makes Django log a warning (a page that does not exist)
    client.get("/no-such-page", HTTP_X_REQUEST_ID="req-123")

    # then every line of that request is JSON with its id
    lines = json_log()
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert not_found
    assert all(line["request_id"] == "req-123" for line in lines), lines
    assert {"time", "level", "logger", "message"} <= set(not_found[0])


@pytest.mark.django_db
def test_one_access_line_per_request_without_the_query_string(client, json_log):
    # given a signed-in citizen
    citizen = CitizenFactory()
    client.force_login(citizen)

    # when they make one request with personal data in the query string
    client.get("/healthz?national_id=1234567890", HTTP_X_REQUEST_ID="req-9")

    # then exactly one access line records it, without the query string
    access = [line for line in json_log() if line["logger"] == "civicstack.access"]
    assert len(access) == 1
    line = access[0]
    assert line["method"] == "GET"
    assert line["path"] == "/healthz"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["user_id"] == citizen.pk
    assert line["request_id"] == "req-9"
    assert "1234567890" not in json.dumps(access)


@pytest.mark.django_db
def test_the_access_line_of_an_anonymous_request_has_no_user(client, json_log):
    client.post("/healthz")
    (line,) = [line for line in json_log() if line["logger"] == "civicstack.access"]
    assert line["user_id"] is None
    assert line["status"] == 405


def test_the_request_object_django_attaches_is_not_logged(rf):
    # given a record with the request attached, as Django's request logger does
    request = rf.get("/search?name=Ana+Lopez")
    record = logging.LogRecord("django.request", logging.WARNING, "", 0, "Bad", (), None)
    record.request = request

    # when formatted, then the request's text (with its query string) is absent
    line = json.loads(JsonFormatter().format(record))
    assert "request" not in line
    assert "Ana" not in json.dumps(line)


def test_exceptions_stay_on_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("civicstack", logging.ERROR, "", 0, "failed", (), sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "ValueError: boom" in json.loads(text)["exc_info"]


def test_with_the_real_settings_each_line_is_printed_once_as_json(tmp_path):
    # given the settings `make demo` runs with (DEBUG on, where Django adds its own handlers)
    probe = textwrap.dedent(
        """
        import logging
        import django
        django.setup()
        for name in ["django", "django.request", "django.server", "django.security.csrf",
                     "django.tasks", "django_tasks_db", "civicstack.probe", ""]:
            logging.getLogger(name).error("probe from %s", name or "root")
        """
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.dev",
        "CIVICSTACK_VAR_DIR": str(tmp_path),
        "LOG_LEVEL": "INFO",
    }

    # when each logger writes one line
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    # then there are exactly eight lines, each one JSON object
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 8, lines
    parsed = [json.loads(line) for line in lines]
    assert sorted(p["message"] for p in parsed) == sorted(
        f"probe from {name}"
        for name in [
            "django",
            "django.request",
            "django.server",
            "django.security.csrf",
            "django.tasks",
            "django_tasks_db",
            "civicstack.probe",
            "root",
        ]
    )
