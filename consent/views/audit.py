"""Staff pages for auditors: the access log of a person (delayed reads marked), and
setting a disclosure delay during an investigation."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from consent import selectors, services
from consent.forms import DisclosureDelayForm, PersonLookupForm, day_start
from consent.views.citizens import access_rows
from consent.views.common import PAGE_SIZE, form_status, put_error, user_of
from core.errors import ApplicationError, NotFound
from identity import policy
from identity.choices import Role
from identity.models import Agency
from identity.views import page
from registry.models import Person


def _person(person_id: str) -> Person | None:
    return Person.objects.filter(pk=person_id.strip().upper()).first()


@page("audit.view")
@require_GET
def access_log(request: HttpRequest) -> HttpResponse:
    viewer = user_of(request)
    form = PersonLookupForm(request.GET or None)
    person = None
    page_obj = None
    rows: list[dict[str, object]] = []
    if form.is_bound and form.is_valid():
        person = _person(form.cleaned_data["person"])
        if person is None:
            form.add_error("person", _("No person has this ID."))
        else:
            try:
                entries = selectors.access_log_for_person(viewer=viewer, person=person)
            except ApplicationError as error:
                put_error(form, error)
                person = None
            else:
                page_obj = Paginator(entries, PAGE_SIZE).get_page(request.GET.get("page"))
                rows = access_rows(list(page_obj.object_list), viewer)
    context = {
        "form": form,
        "person": person,
        "page_obj": page_obj,
        "rows": rows,
        "query": urlencode({"person": person.pk}) if person else "",
        "can_delay": policy.can(viewer, "disclosure.delay", policy.ANY_OBJECT),
    }
    return render(request, "consent/access_log.html", context, status=form_status(form))


@page("disclosure.delay")
@require_http_methods(["GET", "POST"])
def disclosure_delay(request: HttpRequest, person_id: str) -> HttpResponse:
    viewer = user_of(request)
    person = _person(person_id)
    if person is None:
        raise NotFound(_("No person has this ID."))
    agencies = list(
        Agency.objects.filter(
            pk__in=policy.agencies_where(viewer, Role.AGENCY_ADMIN, Role.SUPERVISOR)
        ).order_by("name")
    )
    form = DisclosureDelayForm(request.POST or None, agencies=agencies)
    if request.method == "POST" and form.is_valid():
        agency = next(a for a in agencies if a.code == form.cleaned_data["agency"])
        until = day_start(form.cleaned_data["until"])
        assert until is not None  # the field is required
        try:
            services.disclosure_delay_set(
                actor=viewer,
                person=person,
                agency=agency,
                until=until,
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as error:
            put_error(form, error)
        else:
            messages.success(
                request,
                _("%(agency)s's reads of person %(person)s are hidden from them until %(day)s.")
                % {
                    "agency": agency.name,
                    "person": person.pk,
                    "day": date_format(timezone.localtime(until), "Y-m-d"),
                },
            )
            if policy.can(viewer, "audit.view", policy.ANY_OBJECT):
                return redirect(
                    f"{reverse('consent:access_log')}?{urlencode({'person': person.pk})}"
                )
            return redirect("consent:disclosure_delay", person_id=person.pk)
    context = {"form": form, "person": person}
    return render(request, "consent/disclosure_delay.html", context, status=form_status(form))


urlpatterns: list[URLPattern] = [
    path("audit/access/", access_log, name="access_log"),
    path("audit/people/<str:person_id>/delay/", disclosure_delay, name="disclosure_delay"),
]
