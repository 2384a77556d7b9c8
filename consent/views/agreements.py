"""Staff pages: data agreements (list, one agreement and its versions, create, revise) and
the registered purposes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from consent import selectors, services
from consent.choices import LawfulBasis
from consent.forms import (
    AgreementCreateForm,
    PurposeForm,
    TermsForm,
    revise_changes,
    revise_initial,
)
from consent.models import DataAgreement, DataAgreementVersion
from consent.views.common import form_status, put_error, user_of
from core.errors import ApplicationError, PermissionDenied
from identity import policy
from identity import selectors as identity_selectors
from identity.models import Agency, User
from identity.views import page

IN_FORCE = "in_force"
EXPIRED = "expired"
SCHEDULED = "scheduled"


@dataclass(frozen=True)
class AgreementRow:
    agreement: DataAgreement
    version: DataAgreementVersion  # the one in force, the last that was, or the first to come
    status: str


def _status(
    versions: list[DataAgreementVersion], now: datetime
) -> tuple[DataAgreementVersion, str]:
    """Which version counts now and whether it is in force (versions: newest first)."""
    started = [v for v in versions if v.valid_from <= now]
    if not started:
        return versions[-1], SCHEDULED
    current = started[0]
    if current.valid_until is not None and current.valid_until <= now:
        return current, EXPIRED
    return current, IN_FORCE


def agreement_rows(agreements: Any) -> list[AgreementRow]:
    now = timezone.now()
    newest_first = DataAgreementVersion.objects.select_related("purpose").order_by("-version")
    rows = []
    for agreement in agreements.prefetch_related(Prefetch("versions", queryset=newest_first)):
        versions = list(agreement.versions.all())
        if versions:
            version, status = _status(versions, now)
            rows.append(AgreementRow(agreement, version, status))
    return rows


@page("agreement.view")
@require_GET
def agreement_list(request: HttpRequest) -> HttpResponse:
    viewer = user_of(request)
    agencies = list(identity_selectors.agency_list(viewer=viewer))
    code = request.GET.get("agency", "")
    agency = next((a for a in agencies if a.code == code), None)
    rows = agreement_rows(selectors.agreement_list(viewer=viewer, agency=agency))
    context = {
        "rows": rows,
        "agencies": agencies,
        "agency": agency,
        "can_create": bool(_providers(viewer)),
        "can_manage_purposes": policy.can(viewer, "purpose.manage", policy.ANY_OBJECT),
    }
    return render(request, "consent/agreement_list.html", context)


def _day(moment: datetime | None) -> str:
    return "-" if moment is None else date_format(timezone.localtime(moment), "Y-m-d H:i")


def version_changes(
    version: DataAgreementVersion, previous: DataAgreementVersion | None
) -> list[str]:
    """What a version changed from the one before, in words for staff."""
    if previous is None:
        return [_("First version.")]
    changes = []
    if version.purpose_id != previous.purpose_id:
        changes.append(
            _("Purpose: %(old)s → %(new)s.")
            % {"old": previous.purpose.code, "new": version.purpose.code}
        )
    added = sorted(set(version.attributes) - set(previous.attributes))
    removed = sorted(set(previous.attributes) - set(version.attributes))
    if added:
        changes.append(_("Attributes added: %(names)s.") % {"names": ", ".join(added)})
    if removed:
        changes.append(_("Attributes removed: %(names)s.") % {"names": ", ".join(removed)})
    if version.lawful_basis != previous.lawful_basis:
        changes.append(
            _("Lawful basis: %(old)s → %(new)s.")
            % {
                "old": LawfulBasis(previous.lawful_basis).label,
                "new": LawfulBasis(version.lawful_basis).label,
            }
        )
    if version.retention_days != previous.retention_days:
        changes.append(
            _("Retention: %(old)s → %(new)s days.")
            % {"old": previous.retention_days, "new": version.retention_days}
        )
    if version.valid_until != previous.valid_until:
        changes.append(
            _("End: %(old)s → %(new)s.")
            % {"old": _day(previous.valid_until), "new": _day(version.valid_until)}
        )
    for name, label in (
        ("purpose_text", _("The purpose as shown to people was reworded.")),
        ("policy_url", _("The privacy policy address changed.")),
        ("dpia", _("The impact assessment changed.")),
        ("forgettable", _("Whether a withdrawn consent may be deleted changed.")),
    ):
        if getattr(version, name) != getattr(previous, name):
            changes.append(str(label))
    if version.needs_consent and (added or version.purpose_id != previous.purpose_id):
        changes.append(_("People who consented to an earlier version are asked again."))
    return changes or [_("No terms changed; a new start of validity.")]


@page("agreement.view")
@require_GET
def agreement_detail(request: HttpRequest, code: str) -> HttpResponse:
    viewer = user_of(request)
    agreement = selectors.agreement_get(viewer=viewer, agreement_id=code)
    versions = list(selectors.agreement_versions(agreement=agreement))
    current, status = _status(versions, timezone.now())
    rows = [
        {
            "version": version,
            "changes": version_changes(version, versions[i + 1] if i + 1 < len(versions) else None),
            "current": version.pk == current.pk,
        }
        for i, version in enumerate(versions)
    ]
    context = {
        "agreement": agreement,
        "current": current,
        "status": status,
        "rows": rows,
        "can_revise": policy.can(viewer, "agreement.manage", agreement),
    }
    return render(request, "consent/agreement_detail.html", context)


def _providers(viewer: User) -> list[Agency]:
    """The agencies the viewer may make agreements for (as the providing agency)."""
    return [
        a
        for a in identity_selectors.agency_list(viewer=viewer)
        if policy.can(viewer, "agreement.manage", a)
    ]


@page("agreement.manage")
@require_http_methods(["GET", "POST"])
def agreement_create(request: HttpRequest) -> HttpResponse:
    viewer = user_of(request)
    providers = _providers(viewer)
    consumers = list(identity_selectors.agency_list(viewer=viewer))
    form = AgreementCreateForm(
        request.POST or None,
        purposes=list(selectors.purpose_list()),
        providers=providers,
        consumers=consumers,
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            by_code = {a.code: a for a in consumers}
            try:
                version = services.agreement_create(
                    actor=viewer,
                    code=form.cleaned_data["code"],
                    provider=by_code[form.cleaned_data["provider"]],
                    consumer=by_code[form.cleaned_data["consumer"]],
                    **form.terms(),
                )
            except ApplicationError as error:
                put_error(form, error)
                status = error.status if error.status >= 400 else 400
            else:
                messages.success(
                    request,
                    _("The data agreement “%(code)s” is made (version 1).")
                    % {"code": version.agreement.code},
                )
                return redirect("consent:agreement_detail", code=version.agreement.code)
    return render(request, "consent/agreement_form.html", {"form": form}, status=status)


@page("agreement.manage")
@require_http_methods(["GET", "POST"])
def agreement_revise(request: HttpRequest, code: str) -> HttpResponse:
    viewer = user_of(request)
    agreement = selectors.agreement_get(viewer=viewer, agreement_id=code)
    if not policy.can(viewer, "agreement.manage", agreement):
        raise PermissionDenied(_("Only the providing agency's admins revise this agreement."))
    latest = selectors.agreement_versions(agreement=agreement).first()
    assert latest is not None  # every agreement is created with a version
    purposes = list(selectors.purpose_list())
    form = TermsForm(request.POST or None, purposes=purposes, initial=revise_initial(latest))
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            changes = revise_changes(form, latest)
            if not changes:
                form.add_error(None, _("Nothing is changed: change a term to make a new version."))
            else:
                try:
                    version = services.agreement_revise(
                        actor=viewer, agreement=agreement, **changes
                    )
                except ApplicationError as error:
                    put_error(form, error)
                    status = error.status if error.status >= 400 else 400
                else:
                    messages.success(
                        request,
                        _("Version %(n)s of “%(code)s” is made.")
                        % {"n": version.version, "code": agreement.code},
                    )
                    return redirect("consent:agreement_detail", code=agreement.code)
    context = {"form": form, "agreement": agreement, "latest": latest}
    return render(request, "consent/agreement_revise.html", context, status=status)


# --- purposes ----------------------------------------------------------------------------


@page("agreement.view")
@require_GET
def purpose_list(request: HttpRequest) -> HttpResponse:
    viewer = user_of(request)
    context = {
        "purposes": list(selectors.purpose_list()),
        "can_create": policy.can(viewer, "purpose.manage", policy.ANY_OBJECT),
    }
    return render(request, "consent/purpose_list.html", context)


@page("purpose.manage")
@require_http_methods(["GET", "POST"])
def purpose_create(request: HttpRequest) -> HttpResponse:
    form = PurposeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            purpose = services.purpose_create(actor=user_of(request), **form.cleaned_data)
        except ApplicationError as error:
            put_error(form, error)
        else:
            messages.success(
                request, _("The purpose “%(code)s” is registered.") % {"code": purpose.code}
            )
            return redirect("consent:purpose_list")
    return render(request, "consent/purpose_form.html", {"form": form}, status=form_status(form))


urlpatterns: list[URLPattern] = [
    path("agreements/", agreement_list, name="agreement_list"),
    path("agreements/new/", agreement_create, name="agreement_create"),
    path("agreements/<slug:code>/", agreement_detail, name="agreement_detail"),
    path("agreements/<slug:code>/revise/", agreement_revise, name="agreement_revise"),
    path("purposes/", purpose_list, name="purpose_list"),
    path("purposes/new/", purpose_create, name="purpose_create"),
]
