"""The service navigation under the page header: what the signed-in person may open.

A context processor, so every page shows the same menu. Each entry names the permission its
page is guarded by, and the policy decides whether it is shown: nobody is offered a link that
answers 403.
"""

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from identity import policy


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    action: str


CITIZEN_NAVIGATION = (
    NavItem(_("Your services"), "portal:dashboard", "case.view"),
    NavItem(_("Apply"), "portal:catalogue", "case.submit"),
    NavItem(_("Your data"), "portal:my_data", "person.view_own"),
    NavItem(_("Tell us once"), "portal:tell_us_once", "person.view_own"),
    NavItem(_("Consents"), "consent:my_consents", "consent.manage_own"),
    NavItem(_("Who accessed your data"), "consent:my_access_log", "access_log.view_own"),
)

STAFF_NAVIGATION = (
    NavItem(_("Work"), "cases:work_queue", "work_item.work"),
    NavItem(_("Supervision"), "workspace:supervision", "work_item.assign"),
    NavItem(_("Services"), "cases:service_list", "service.view"),
    NavItem(_("People"), "registry:person_search", "person.view"),
    NavItem(_("Match review"), "registry:review_queue", "person.review"),
    NavItem(_("Registries"), "registries:list", "registry_definition.view"),
    NavItem(_("Data agreements"), "consent:agreement_list", "agreement.view"),
    NavItem(_("Data services"), "exchange:service_list", "data_service.view"),
    NavItem(_("Message log"), "exchange:message_list", "message_log.view"),
    NavItem(_("Access log"), "consent:access_log", "audit.view"),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"navigation": []}
    entries = CITIZEN_NAVIGATION if user.is_citizen else STAFF_NAVIGATION
    shown = [
        (item.label, reverse(item.url_name))
        for item in entries
        if policy.can(user, item.action, policy.ANY_OBJECT)
    ]
    # The entry whose address is the longest prefix of this page is the current one.
    current = max(
        (url for _label, url in shown if request.path.startswith(url)), key=len, default=None
    )
    return {
        "navigation": [
            {"label": label, "url": url, "current": url == current} for label, url in shown
        ]
    }
