"""Staff pages of the registries: define one, import files, browse, search, edit records."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from core.errors import ApplicationError, PermissionDenied
from identity import policy
from identity.choices import Role
from identity.models import Agency, User
from identity.views import page
from registries import selectors
from registries.forms import DefinitionForm, ImportForm, RecordForm
from registries.models import RegistryDefinition
from registries.services import definitions as definition_services
from registries.services import imports as import_services
from registries.services import records as record_services
from registries.values import properties

PAGE_SIZE = 20
PURPOSE = "staff registry pages"


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _manageable_agencies(user: User) -> Any:
    if policy.is_platform_admin(user):
        return Agency.objects.order_by("name")
    ids = policy.agencies_where(user, Role.AGENCY_ADMIN, Role.DATA_STEWARD)
    return Agency.objects.filter(pk__in=ids).order_by("name")


@page("registry_definition.view")
@require_http_methods(["GET"])
def registry_list(request: HttpRequest) -> HttpResponse:
    viewer = _user(request)
    definitions = list(selectors.registry_definition_list(viewer=viewer))
    return render(
        request,
        "registries/list.html",
        {
            "definitions": definitions,
            "may_define": _manageable_agencies(viewer).exists(),
        },
    )


@page("registry_definition.manage")
@require_http_methods(["GET", "POST"])
def registry_define(request: HttpRequest) -> HttpResponse:
    viewer = _user(request)
    agencies = _manageable_agencies(viewer)
    form = DefinitionForm(request.POST or None, agencies=agencies)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                definition, created = definition_services.registry_definition_save(
                    actor=viewer,
                    agency=data["agency"],
                    name=data["name"],
                    title=data["title"],
                    description=data["description"],
                    schema=data["schema"],
                    **form.declarations(),
                )
            except PermissionDenied:
                raise
            except ApplicationError as exc:
                for field, errors in exc.errors.items():
                    target = field if field in form.fields else "schema"
                    for message in errors:
                        form.add_error(target, message)
                if not exc.errors:
                    form.add_error(None, exc.detail)
            else:
                if created:
                    messages.success(
                        request,
                        _("Registry %(name)s version %(v)s is defined and served.")
                        % {"name": definition.name, "v": definition.version},
                    )
                else:
                    messages.info(request, _("Nothing changed: the latest version is the same."))
                return redirect(
                    "registries:detail", name=definition.name, version=definition.version
                )
        status = 400
    return render(request, "registries/define.html", {"form": form}, status=status)


def _definition(request: HttpRequest, name: str, version: int, action: str) -> RegistryDefinition:
    return selectors.registry_definition_get(
        viewer=_user(request), name=name, version=version, action=action
    )


@page("registry_record.view")
@require_http_methods(["GET"])
def registry_detail(request: HttpRequest, name: str, version: int) -> HttpResponse:
    """Browse and search a registry version's records; import a file into it."""
    viewer = _user(request)
    definition = _definition(request, name, version, "registry_record.view")
    field = request.GET.get("field", "")
    value = request.GET.get("value", "").strip()
    text = request.GET.get("q", "").strip()
    number = request.GET.get("page", "1")
    page_number = int(number) if number.isdigit() and int(number) > 0 else 1
    errors: dict[str, list[str]] = {}
    result = None
    try:
        result = selectors.record_search(
            viewer=viewer,
            definition=definition,
            filters={field: value} if field and value else {},
            search=text,
            page=page_number,
            page_size=PAGE_SIZE,
            purpose=PURPOSE,
        )
    except ApplicationError as exc:
        if isinstance(exc, PermissionDenied):
            raise
        errors = exc.errors or {"search": [exc.detail]}
    columns = list(properties(definition.schema))[:6]
    may_manage = policy.can(viewer, "registry_record.manage", definition)
    paginator = Paginator(range(result.count if result else 0), PAGE_SIZE)
    return render(
        request,
        "registries/detail.html",
        {
            "definition": definition,
            "columns": columns,
            "rows": [
                (c["uuid"], [c.get(col, "") for col in columns])
                for c in (result.contents if result else [])
            ],
            "count": result.count if result else 0,
            "page_obj": paginator.get_page(page_number),
            "field": field,
            "value": value,
            "q": text,
            "search_errors": [m for msgs in errors.values() for m in msgs],
            "may_manage": may_manage,
            "import_form": ImportForm() if may_manage else None,
            "imports": (
                list(selectors.import_batch_list(viewer=viewer, definition=definition)[:10])
                if may_manage
                else []
            ),
        },
        status=400 if errors else 200,
    )


@page("registry_record.manage")
@require_http_methods(["POST"])
def registry_import(request: HttpRequest, name: str, version: int) -> HttpResponse:
    viewer = _user(request)
    definition = _definition(request, name, version, "registry_record.manage")
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            batch = import_services.registry_import(
                actor=viewer,
                definition=definition,
                data=upload.read(),
                fmt=form.cleaned_data["format"],
                filename=upload.name or "",
            )
        except PermissionDenied:
            raise
        except ApplicationError as exc:
            form.add_error("file", exc.detail)
        else:
            return redirect("registries:import", batch_id=batch.pk)
    return render(
        request,
        "registries/import_error.html",
        {"definition": definition, "import_form": form},
        status=400,
    )


@page("registry_record.manage")
@require_http_methods(["GET"])
def import_batch(request: HttpRequest, batch_id: int) -> HttpResponse:
    viewer = _user(request)
    batch = selectors.import_batch_get(viewer=viewer, batch_id=batch_id)
    rows = selectors.import_rejected_rows(viewer=viewer, batch=batch)
    return render(
        request,
        "registries/import.html",
        {
            "batch": batch,
            "rows": [(row, import_services.rejected_row_values(row)) for row in rows],
        },
    )


@page("registry_record.view")
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, name: str, version: int, reference: str) -> HttpResponse:
    """A record's fields; with the right to manage, a form that checks them on save."""
    viewer = _user(request)
    definition = _definition(request, name, version, "registry_record.view")
    may_manage = policy.can(viewer, "registry_record.manage", definition)
    record, content = selectors.record_get(
        viewer=viewer, definition=definition, reference=reference, purpose=PURPOSE
    )
    form = RecordForm(request.POST or None, schema=definition.schema, content=content)
    status = 200
    if request.method == "POST":
        if not may_manage:
            raise PermissionDenied(action="registry_record.manage")
        if form.is_valid():
            try:
                record_services.record_save(
                    actor=viewer, record=record, content=form.content(), purpose=PURPOSE
                )
            except PermissionDenied:
                raise
            except ApplicationError as exc:
                form.add_record_errors(exc.errors or {"": [exc.detail]})
            else:
                messages.success(request, _("Record saved."))
                return redirect(
                    "registries:record",
                    name=definition.name,
                    version=definition.version,
                    reference=str(record.uuid),
                )
        status = 400
    return render(
        request,
        "registries/record.html",
        {
            "definition": definition,
            "record": record,
            "form": form,
            "may_manage": may_manage,
        },
        status=status,
    )
