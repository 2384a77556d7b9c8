"""The events API: publish, history per person, subscriptions, dead letters and replay, and
the signed inbound webhook (forged, replayed and oversized requests refused and logged).

The router is mounted here on an API of the test's own, as config/api.py mounts it.
"""

import json
import logging
import time

import pytest
from django.test import Client
from django.urls import path
from ninja import NinjaAPI

from core.api_errors import install_problem_handlers
from core.models import AuditEntry
from exchange.events import services
from exchange.events.api import router
from exchange.events.testing import NEW_ADDRESS, events_world
from exchange.events.webhooks import SENDER_HEADER, sign_headers
from exchange.models import Delivery, Event, InboundReceipt
from exchange.models.events import DeliveryStatus
from identity import services as identity_services
from identity.api_auth import SessionAuth, TokenAuth
from identity.services import system_actor

api = NinjaAPI(urls_namespace="events-test", auth=[TokenAuth(), SessionAuth()])
install_problem_handlers(api)
api.add_router("/exchange/events", router)
urlpatterns = [path("api/v1/", api.urls)]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

BASE = "/api/v1/exchange/events"
SECRET = "inbound-shared-secret-0123456789abcdef"


def _client(user, scopes=("exchange:read", "exchange:write")):
    user.civic_system = True  # stands in for the MFA session that mints the token
    _, raw = identity_services.api_token_create(actor=user, name="t", scopes=list(scopes))
    user.civic_system = False
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def _post(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def world():
    return events_world()


@pytest.fixture
def sender(world):
    # Transport's own system may tell us of address changes, signed with a shared secret
    return services.sender_register(
        actor=system_actor(),
        agency=world["transport"],
        key_id="transport-dvla",
        event_types=["address"],
        secret=SECRET,
    )


def _inbound(body, *, key="req-1", secret=SECRET, sender="transport-dvla", now=None):
    raw = json.dumps(body).encode()
    headers = sign_headers(secret=secret, idempotency_key=key, body=raw, now=now)
    headers[SENDER_HEADER] = sender
    return Client().post(f"{BASE}/inbound", raw, content_type="application/json", headers=headers)


INBOUND = {"type": "address", "record": "T1", "payload": NEW_ADDRESS}


def _subscribe_health(world):
    return services.subscription_create(
        actor=system_actor(),
        agency=world["health"],
        event_type="address",
        agreement=world["to_health"].agreement,
        handler="registry.address",
    )


def test_a_citizen_tells_us_once_and_sees_where_it_went(world):
    # given Health subscribed to address changes
    _subscribe_health(world)
    client = _client(world["citizen"])
    # when the citizen posts their new address
    answer = _post(client, BASE, {"type": "address", "payload": NEW_ADDRESS})
    # then the event is recorded for their own person, with one delivery
    assert answer.status_code == 201, answer.content
    assert answer.json()["person"] == world["person"].pk
    assert answer.json()["deliveries"] == 1
    # and their history shows it and where it is going
    history = client.get(f"{BASE}/mine").json()
    assert history[0]["data"] == NEW_ADDRESS
    assert [(d["subscriber"], d["status"]) for d in history[0]["deliveries"]] == [
        ("health", "pending")
    ]
    assert AuditEntry.objects.filter(
        action="event.history", subject_person=world["person"].pk
    ).exists()


def test_an_invalid_event_is_problem_json_by_field(world):
    answer = _post(
        _client(world["citizen"]), BASE, {"type": "address", "payload": {"postcode": "X"}}
    )
    assert answer.status_code == 400
    assert answer["Content-Type"].startswith("application/problem+json")
    assert answer.json()["code"] == "event_payload_invalid"
    assert "payload.address_line" in answer.json()["errors"]
    assert not Event.objects.exists()


def test_a_person_history_is_the_persons_and_the_operators_only(world):
    # given an event of the person, delivered to Health
    _subscribe_health(world)
    services.event_publish(
        actor=world["citizen"], person=world["person"], type="address", payload=NEW_ADDRESS
    )
    url = f"{BASE}/persons/{world['person'].pk}"
    # then another citizen may not read it
    from consent.tests.factories import linked_citizen

    other, _ = linked_citizen(username="other")
    assert _client(other).get(url).status_code == 403
    # Health's admin sees it with Health's delivery; Transport's admin sees no event
    health = _client(world["health_admin"]).get(url).json()
    assert [d["subscriber"] for d in health[0]["deliveries"]] == ["health"]
    assert _client(world["transport_admin"]).get(url).json() == []


def test_subscriptions_are_made_listed_paused_and_ended_by_the_agency(world):
    admin = _client(world["transport_admin"])
    # when Transport's admin subscribes its system to address changes
    made = _post(
        admin,
        f"{BASE}/agencies/transport/subscriptions",
        {
            "event_type": "address",
            "agreement": "address-to-transport",
            "url": "https://transport.example/hooks",
        },
    )
    # then the subscription is made, and its new secret is shown this once
    assert made.status_code == 201, made.content
    secret = made.json()["secret"]
    assert len(secret) >= 32
    subscription_id = made.json()["id"]
    listed = admin.get(f"{BASE}/subscriptions").json()["items"]
    assert [s["id"] for s in listed] == [subscription_id]
    assert "secret" not in listed[0]
    # it cannot subscribe Health, nor under an agreement it is not the consumer of
    refused = _post(
        admin,
        f"{BASE}/agencies/health/subscriptions",
        {"event_type": "address", "agreement": "address-to-health", "handler": "registry.address"},
    )
    assert refused.status_code == 403
    wrong = _post(
        admin,
        f"{BASE}/agencies/transport/subscriptions",
        {"event_type": "address", "agreement": "address-to-health", "url": "https://t.example/h"},
    )
    assert wrong.json()["code"] == "subscription_invalid"
    # Health's admin does not see it
    other = _client(world["health_admin"]).get(f"{BASE}/subscriptions/{subscription_id}")
    assert other.status_code == 404
    # paused, then ended
    paused = admin.patch(
        f"{BASE}/subscriptions/{subscription_id}",
        json.dumps({"active": False}),
        content_type="application/json",
    )
    assert paused.json()["active"] is False
    assert paused.json()["secret"] == ""
    assert admin.delete(f"{BASE}/subscriptions/{subscription_id}").status_code == 204


def test_dead_letters_are_listed_and_replayed(world):
    # given a dead delivery to Transport
    made = services.subscription_create(
        actor=system_actor(),
        agency=world["transport"],
        event_type="address",
        agreement=world["to_transport"].agreement,
        url="http://127.0.0.1:9/hook",
    )
    services.event_publish(
        actor=world["citizen"], person=world["person"], type="address", payload=NEW_ADDRESS
    )
    Delivery.objects.update(status=DeliveryStatus.DEAD, reason="HTTP 500 five times")
    admin = _client(world["transport_admin"])
    # when the admin lists the dead-letter list
    dead = admin.get(f"{BASE}/dead-letter").json()["items"]
    assert [(d["subscriber"], d["reason"]) for d in dead] == [("transport", "HTTP 500 five times")]
    # and Health's admin sees none of it, nor may replay it
    assert _client(world["health_admin"]).get(f"{BASE}/dead-letter").json()["items"] == []
    health = _post(_client(world["health_admin"]), f"{BASE}/deliveries/{dead[0]['id']}/replay", {})
    assert health.status_code == 404
    # then replaying puts it back in the outbox
    replayed = _post(admin, f"{BASE}/deliveries/{dead[0]['id']}/replay", {})
    assert replayed.status_code == 200
    assert replayed.json()["status"] == "pending"
    again = _post(admin, f"{BASE}/deliveries/{dead[0]['id']}/replay", {})
    assert again.status_code == 409
    assert made.pk


# --- inbound --------------------------------------------------------------------------------


def test_a_signed_inbound_event_is_accepted_and_fanned_out(world, sender):
    # given Health subscribed to address changes
    _subscribe_health(world)
    # when Transport's system posts a signed change for its record T1
    answer = _inbound(INBOUND)
    # then it is an event of the person, from Transport, delivered to Health
    assert answer.status_code == 202, answer.content
    event = Event.objects.get()
    assert (event.person_id, event.source) == (world["person"].pk, "transport")
    assert answer.json()["deliveries"] == 1
    assert InboundReceipt.objects.get().event == event


def test_a_forged_signature_is_refused_logged_and_leaves_nothing(world, sender, caplog):
    caplog.set_level(logging.WARNING, logger="civicstack.exchange.events")
    # when a request signed with another secret arrives
    answer = _inbound(INBOUND, secret="an-attackers-guess-0123456789abcdef")
    # then it is refused with the reason, as problem+json
    assert answer.status_code == 401
    assert answer["Content-Type"].startswith("application/problem+json")
    assert answer.json()["code"] == "webhook_signature_invalid"
    # and logged and audited, with nothing written
    assert any(r.code == "webhook_signature_invalid" for r in caplog.records)
    assert AuditEntry.objects.filter(action="event.inbound_refused").count() == 1
    assert not Event.objects.exists()
    assert not InboundReceipt.objects.exists()


def test_an_unsigned_or_unknown_sender_is_refused(world, sender):
    raw = json.dumps(INBOUND).encode()
    unsigned = Client().post(
        f"{BASE}/inbound",
        raw,
        content_type="application/json",
        headers={SENDER_HEADER: "transport-dvla"},
    )
    assert unsigned.json()["code"] == "webhook_signature_missing"
    assert _inbound(INBOUND, sender="nobody").json()["code"] == "webhook_sender_unknown"


def test_an_old_request_is_refused_as_a_possible_replay(world, sender):
    # when a correctly signed request captured ten minutes ago is posted
    answer = _inbound(INBOUND, now=time.time() - 600)
    # then its timestamp is refused
    assert answer.status_code == 401
    assert answer.json()["code"] == "webhook_timestamp_invalid"
    assert not Event.objects.exists()


def test_the_same_idempotency_key_again_is_refused_as_a_replay(world, sender):
    # given an accepted request
    assert _inbound(INBOUND, key="once").status_code == 202
    # when the same request is posted again
    again = _inbound(INBOUND, key="once")
    # then it is refused as a replay, and the event exists once
    assert again.status_code == 409
    assert again.json()["code"] == "webhook_replayed"
    assert Event.objects.count() == 1


def test_an_oversized_inbound_body_is_refused_with_413(world, sender):
    big = {**INBOUND, "payload": {**NEW_ADDRESS, "address_line": "x" * 40_000}}
    answer = _inbound(big)
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"
    assert not Event.objects.exists()


def test_an_invalid_inbound_event_leaves_its_key_unused(world, sender):
    # when a signed request names a person Transport does not hold
    answer = _inbound({**INBOUND, "record": "T-unknown"}, key="k2")
    # then it is refused with the reason, and the key may be used for the corrected request
    assert answer.status_code == 400
    assert answer.json()["code"] == "webhook_body_invalid"
    assert _inbound(INBOUND, key="k2").status_code == 202
    # and a sender may post only its event types
    assert _inbound({**INBOUND, "type": "death"}, key="k3").status_code == 400


def test_every_events_route_declares_its_permission_and_the_openapi_document_builds():
    from core.access import declared_permission
    from identity.policy import PERMISSIONS

    # given the events router's operations
    operations = [
        (method, route, operation)
        for route, view in router.path_operations.items()
        for operation in view.operations
        for method in operation.methods
    ]
    assert len(operations) >= 14
    for method, route, operation in operations:
        kind, value = declared_permission(operation.view_func)
        # then each names a known permission, or says why it is public (the inbound webhook)
        assert (kind == "permission" and value in PERMISSIONS) or (
            kind == "public" and route == "/inbound"
        ), f"{method} {route}"
    # and the API document describes them
    paths = api.get_openapi_schema()["paths"]
    assert f"{BASE}/inbound" in paths
    assert f"{BASE}/deliveries/{{delivery_id}}/replay" in paths
