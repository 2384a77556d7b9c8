"""Staff pages for auditors: the signed message log (filters, newest first), one entry
with its exchange and — on request, recorded under the person — its body, and verifying
the whole chain."""

from __future__ import annotations

import json
from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from core.crypto import DecryptionError
from exchange import selectors
from exchange.errors import MessageNotFound
from exchange.forms import LogVerifyForm, MessageFilterForm, day_start
from exchange.messages import body_hash, message_body_intact, message_log_verify
from exchange.models import Message
from exchange.views.common import PAGE_SIZE, form_status, user_of
from identity import policy
from identity import selectors as identity_selectors
from identity.views import page

# The hash of an empty body: the entry has no body (a failure, say).
EMPTY_BODY_HASH = body_hash("")

# Every field of an entry's header, in the order the hash covers them, then the seal.
HEADER_LABELS: tuple[tuple[str, Any], ...] = (
    ("seq", _("Sequence number")),
    ("id", _("Entry ID")),
    ("exchange_id", _("Exchange ID")),
    ("kind", _("Kind")),
    ("created_at", _("Time")),
    ("consumer", _("Consumer")),
    ("provider", _("Provider")),
    ("service", _("Service")),
    ("person", _("Person")),
    ("purpose", _("Purpose")),
    ("case_ref", _("Case reference")),
    ("actor", _("Actor")),
    ("client", _("Calling system")),
    ("status", _("Status")),
    ("reason", _("Reason")),
    ("body_hash", _("Body hash (SHA-256)")),
    ("prev_hash", _("Previous entry's hash")),
    ("hash", _("Hash (SHA-256)")),
    ("key_id", _("Signing key")),
    ("signature", _("Signature (Ed25519)")),
)


@page("message_log.view")
@require_GET
def message_list(request: HttpRequest) -> HttpResponse:
    viewer = user_of(request)
    agencies = list(identity_selectors.agency_list(viewer=viewer))
    form = MessageFilterForm(request.GET or None, agencies=agencies)
    page_obj = None
    if not form.is_bound or form.is_valid():
        filters = form.filters() if form.is_bound else {}
        entries = selectors.message_list(viewer=viewer, **filters)
        page_obj = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page_obj": page_obj,
        "query": query.urlencode(),
        "can_verify": policy.can(viewer, "audit.verify", policy.ANY_OBJECT),
        "verify_form": LogVerifyForm(),
    }
    return render(request, "exchange/message_list.html", context, status=form_status(form))


def _header(message: Message) -> list[tuple[Any, Any, str]]:
    """(label, value, kind of value) for each header field."""
    rows: list[tuple[Any, Any, str]] = []
    for name, label in HEADER_LABELS:
        if name == "kind":
            rows.append((label, message.get_kind_display(), "text"))
        elif name == "created_at":
            rows.append((label, message.created_at, "time"))
        elif name in {"body_hash", "prev_hash", "hash", "signature", "id", "exchange_id"}:
            rows.append((label, str(getattr(message, name)), "code"))
        else:
            rows.append((label, getattr(message, name), "text"))
    return rows


@page("message_log.view")
@require_GET
def message_detail(request: HttpRequest, seq: int) -> HttpResponse:
    viewer = user_of(request)
    # The header first, through the viewer's own view of the log: another agency's entry
    # is not found, and nothing personal is read yet.
    message = selectors.message_list(viewer=viewer).filter(seq=seq).first()
    if message is None:
        raise MessageNotFound()
    has_body = message.body_hash != EMPTY_BODY_HASH
    body_state = _body_state(message, has_body)
    body_text = ""
    if body_state in {"intact", "changed"} and request.GET.get("body") == "1":
        # Reading the body is recorded in the person's access log (message_get).
        opened = selectors.message_get(viewer=viewer, seq=seq)
        body_text = _pretty(opened.body)
    exchange = selectors.message_list(viewer=viewer, exchange_id=message.exchange_id).order_by(
        "seq"
    )
    context = {
        "message": message,
        "header": _header(message),
        "has_body": has_body,
        "body_text": body_text,
        "body_state": body_state,
        "exchange": list(exchange),
        "can_verify": policy.can(viewer, "audit.verify", policy.ANY_OBJECT),
        "verify_form": LogVerifyForm(),
    }
    return render(request, "exchange/message_detail.html", context)


def _body_state(message: Message, has_body: bool) -> str:
    """Whether the stored body still matches its hash. The body is decrypted for the
    comparison only; nobody sees it, so this is not a read of the person's data."""
    if not has_body:
        return "none"
    try:
        if message_body_intact(message):
            return "intact"
    except DecryptionError:
        return "unreadable"  # altered in storage, or sealed with a key no longer held
    return "erased" if not message.body else "changed"


def _pretty(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, sort_keys=True, ensure_ascii=False)
    except ValueError:
        return body


@page("audit.verify")
@require_POST
def message_verify(request: HttpRequest) -> HttpResponse:
    form = LogVerifyForm(request.POST)
    if not form.is_valid():
        refused: dict[str, Any] = {"verify_form": form, "result": None}
        return render(request, "exchange/message_verify.html", refused, status=400)
    since = day_start(form.cleaned_data.get("since"))
    result = message_log_verify(since=since)
    broken_visible = result.first_broken_seq is not None and (
        selectors.message_list(viewer=user_of(request)).filter(seq=result.first_broken_seq).exists()
    )
    context: dict[str, Any] = {
        "result": result,
        "since": since,
        "broken_visible": broken_visible,
        "verify_form": LogVerifyForm(),
    }
    return render(request, "exchange/message_verify.html", context)


urlpatterns: list[URLPattern] = [
    path("messages/", message_list, name="message_list"),
    path("messages/verify/", message_verify, name="message_verify"),
    path("messages/<int:seq>/", message_detail, name="message_detail"),
]
