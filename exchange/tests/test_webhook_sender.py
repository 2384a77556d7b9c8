"""The webhook sender's way out: direct, or through the proxy the environment names."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from exchange.events.delivery import WebhookSender


class _Recorder(BaseHTTPRequestHandler):
    """Answers 204 to any POST and remembers the request line (a proxy sees the full URL)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.lines.append(self.requestline)  # type: ignore[attr-defined]
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.lines = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _send(url):
    sender = WebhookSender(concurrency=1, timeout_seconds=2)
    try:
        return sender.send([(url, {"X-Test": "1"}, b"{}")])
    finally:
        sender.close()


def test_a_webhook_goes_through_the_proxy_the_environment_names(server, monkeypatch):
    # given an outbound proxy for plain HTTP, and no exception for the receiver
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    # when a webhook is posted to an agency's receiver
    (result,) = _send("http://receiver.agency.example/hooks/civicstack?v=1")
    # then it went to the proxy, naming the receiver's full address
    assert (result.status_code, result.error) == (204, "")
    assert server.lines == ["POST http://receiver.agency.example/hooks/civicstack?v=1 HTTP/1.1"]


def test_a_receiver_listed_in_no_proxy_is_reached_directly(server, monkeypatch):
    # given a proxy that cannot be reached, and the receiver's host exempted from it
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    # when a webhook is posted
    (result,) = _send(f"http://127.0.0.1:{server.server_port}/hook")
    # then it reached the receiver itself, with the path alone in the request line
    assert (result.status_code, result.error) == (204, "")
    assert server.lines == ["POST /hook HTTP/1.1"]
