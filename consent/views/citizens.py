"""Citizen pages: "Your consents" (give, refuse, withdraw, receipts, history) and
"Who accessed my data".

A citizen acts for the person their account is linked to (`citizen_person`); an account
not linked yet gets a page asking them to verify their identity first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from consent import selectors, services
from consent.choices import ConsentChannel, ConsentState
from consent.errors import PersonNotLinked
from consent.models import ConsentRecord, DataAgreement, DataAgreementVersion
from consent.views.agreements import IN_FORCE, agreement_rows
from consent.views.common import PAGE_SIZE, error_page, user_of
from core.errors import ApplicationError, ValidationFailed
from identity import selectors as identity_selectors
from identity.choices import Role
from identity.models import User
from identity.views import page
from registry.models import Person
from registry.services.citizens import citizen_person

# What the person's answer is now, as the page shows it.
UNANSWERED = "unanswered"
ASKED_AGAIN = "asked_again"  # given to earlier terms that no longer cover what is shared

ANSWERS = {
    "give": ConsentState.GIVEN,
    "refuse": ConsentState.REFUSED,
    "withdraw": ConsentState.WITHDRAWN,
}

# Audit actions, as a person reading their access log understands them.
ACTION_LABELS = {
    "person.read": gettext_lazy("Read your record"),
    "person.view": gettext_lazy("Read your record"),
    "person.search": gettext_lazy("Found you in a search"),
    "person.overview": gettext_lazy("Looked at your situation across agencies (360° view)"),
    "person.history_read": gettext_lazy("Read the history of your record"),
    "person.merge": gettext_lazy("Joined records that are about you"),
    "person.split": gettext_lazy("Separated records that are not about you"),
    "source_record.read": gettext_lazy("Read a record an agency holds about you"),
    "registry_record.read": gettext_lazy("Read a registry entry about you"),
    "exchange.request": gettext_lazy("Received your data from another agency"),
    "consent.receipt": gettext_lazy("Read a receipt of your consent"),
    "consent.given": gettext_lazy("Recorded your consent"),
    "consent.refused": gettext_lazy("Recorded your refusal"),
    "consent.withdrawn": gettext_lazy("Recorded your withdrawal"),
    "case.view": gettext_lazy("Opened your case"),
    "linkage.realtime_match": gettext_lazy("Linked your records"),
    "linkage.export_links": gettext_lazy("Included your record in an export of links"),
    "access_log.read": gettext_lazy("Looked at who accessed your data (an audit)"),
    "message_log.read": gettext_lazy("Read a logged exchange of your data"),
    "event.deliver": gettext_lazy("Received a change you told us once"),
}


def action_label(action: str) -> str:
    label = ACTION_LABELS.get(action)
    return str(label) if label else _("Other use (%(code)s)") % {"code": action}


def attribute_label(name: str) -> str:
    """An attribute name in plain words: income_band → Income band."""
    return name.replace("_", " ").replace(".", " ").strip().capitalize()


def _verify_first(request: HttpRequest) -> HttpResponse:
    return render(request, "consent/verify_identity.html")


@dataclass(frozen=True)
class ConsentItem:
    agreement: DataAgreement
    version: DataAgreementVersion
    record: ConsentRecord | None
    answer: str
    actions: list[str]
    attributes: list[str]


def _answer(record: ConsentRecord | None, person: Person, version: DataAgreementVersion) -> str:
    if record is None:
        return UNANSWERED
    if record.state == ConsentState.GIVEN and not selectors.consent_covers(
        person_id=person.pk, version=version
    ):
        return ASKED_AGAIN
    return str(record.state)


ACTIONS_FOR = {
    UNANSWERED: ["give", "refuse"],
    ASKED_AGAIN: ["give", "withdraw"],
    ConsentState.GIVEN: ["withdraw"],
    ConsentState.REFUSED: ["give"],
    ConsentState.WITHDRAWN: ["give"],
}


def _items(viewer: User, person: Person) -> tuple[list[ConsentItem], list[ConsentRecord]]:
    """Agreements in force that rest on consent, with the person's answer; and the
    person's answers to agreements that no longer ask (expired or changed basis)."""
    records = {
        r.agreement_id: r for r in selectors.consent_list_for_person(viewer=viewer, person=person)
    }
    items = []
    for row in agreement_rows(selectors.agreement_list(viewer=viewer)):
        if row.status != IN_FORCE or not row.version.needs_consent:
            continue
        record = records.pop(row.agreement.pk, None)
        answer = _answer(record, person, row.version)
        items.append(
            ConsentItem(
                agreement=row.agreement,
                version=row.version,
                record=record,
                answer=answer,
                actions=ACTIONS_FOR[answer],
                attributes=[attribute_label(a) for a in row.version.attributes],
            )
        )
    past = sorted(records.values(), key=lambda r: r.updated_at, reverse=True)
    return items, past


@page("consent.manage_own")
@require_GET
def my_consents(request: HttpRequest) -> HttpResponse:
    viewer = user_of(request)
    person = citizen_person(user=viewer)
    if person is None:
        return _verify_first(request)
    items, past = _items(viewer, person)
    return render(request, "consent/my_consents.html", {"items": items, "past": past})


def _done_message(state: str, agreement: DataAgreement) -> str:
    names = {"provider": agreement.provider.name, "consumer": agreement.consumer.name}
    if state == ConsentState.GIVEN:
        return (
            _("You have given your consent: %(consumer)s may get this data from %(provider)s.")
            % names
        )
    if state == ConsentState.REFUSED:
        return _("You have refused: %(consumer)s will not get this data from %(provider)s.") % names
    return (
        _(
            "You have withdrawn your consent. This takes effect immediately: from now on "
            "%(consumer)s cannot get this data from %(provider)s."
        )
        % names
    )


@page("consent.manage_own")
@require_POST
def consent_answer(request: HttpRequest, code: str) -> HttpResponse:
    viewer = user_of(request)
    person = citizen_person(user=viewer)
    if person is None:
        return _verify_first(request)
    state = ANSWERS.get(request.POST.get("answer", ""))
    if state is None:
        return error_page(request, ValidationFailed(_("Choose to give, refuse or withdraw.")))
    agreement = selectors.agreement_get(viewer=viewer, agreement_id=code)
    try:
        services.consent_set(
            actor=viewer,
            person=person,
            agreement=agreement,
            state=state,
            channel=ConsentChannel.PORTAL,
        )
    except ApplicationError as error:
        messages.error(request, error.detail)
    else:
        messages.success(request, _done_message(state, agreement))
    return redirect(f"{reverse('consent:my_consents')}#agreement-{agreement.code}")


def _own_record(request: HttpRequest, record_id: UUID) -> ConsentRecord | None:
    try:
        return selectors.consent_get(viewer=user_of(request), record_id=record_id)
    except PersonNotLinked:
        return None


@page("consent.manage_own")
@require_GET
def consent_history(request: HttpRequest, record_id: UUID) -> HttpResponse:
    record = _own_record(request, record_id)
    if record is None:
        return _verify_first(request)
    context = {
        "record": record,
        "revisions": list(selectors.consent_revisions(record=record)),
        "check": selectors.consent_chain_verify(record=record),
        "attributes": [attribute_label(a) for a in record.agreement_version.attributes],
    }
    return render(request, "consent/consent_history.html", context)


@page("consent.manage_own")
@require_GET
def consent_receipt(request: HttpRequest, record_id: UUID) -> HttpResponse:
    record = _own_record(request, record_id)
    if record is None:
        return _verify_first(request)
    receipt = selectors.consent_receipt(viewer=user_of(request), record=record)
    body = json.dumps(receipt, ensure_ascii=False, indent=2)
    answer = HttpResponse(body, content_type="application/json; charset=utf-8")
    name = f"consent-receipt-{record.agreement.code}-{receipt['receipt_id'].split('#')[-1]}.json"
    answer["Content-Disposition"] = f'attachment; filename="{name}"'
    return answer


# --- who accessed my data ------------------------------------------------------------------


def access_rows(entries: list[selectors.AccessEntry], viewer: User) -> list[dict[str, Any]]:
    """Entries with agency names, role labels and actions in words."""
    codes = {e.agency for e in entries if e.agency}
    names = {
        a.code: a.name for a in identity_selectors.agency_list(viewer=viewer).filter(code__in=codes)
    }
    roles = dict(Role.choices)
    return [
        {
            "entry": e,
            "agency": names.get(e.agency, e.agency),
            "roles": [str(roles.get(r, r)) for r in e.roles],
            "action": action_label(e.action),
        }
        for e in entries
    ]


@page("access_log.view_own")
@require_GET
def my_access_log(request: HttpRequest) -> HttpResponse:
    viewer = user_of(request)
    person = citizen_person(user=viewer)
    if person is None:
        return _verify_first(request)
    entries = selectors.access_log_for_person(viewer=viewer, person=person)
    page_obj = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page_obj": page_obj, "rows": access_rows(list(page_obj.object_list), viewer)}
    return render(request, "consent/my_access_log.html", context)


urlpatterns: list[URLPattern] = [
    path("mine/", my_consents, name="my_consents"),
    path("mine/agreements/<slug:code>/answer/", consent_answer, name="consent_answer"),
    path("mine/records/<uuid:record_id>/", consent_history, name="consent_history"),
    path("mine/records/<uuid:record_id>/receipt.json", consent_receipt, name="consent_receipt"),
    path("mine/access/", my_access_log, name="my_access_log"),
]
