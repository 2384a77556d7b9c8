from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from core.errors import NotFound, ValidationFailed
from core.pagination import Paging, PathId
from identity import policy, selectors, services
from identity.api_auth import SessionAuth
from identity.choices import Role
from identity.models import ApiToken, User
from identity.schemas import (
    AgencyIn,
    AgencyOut,
    AuditEntryOut,
    AuditVerifyOut,
    MeOut,
    RoleIn,
    RoleOut,
    StaffIn,
    StaffOut,
    TokenCreatedOut,
    TokenIn,
    TokenOut,
)

router = Router(tags=["identity"])


def _user(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def _roles_out(user: User) -> list[RoleOut]:
    return [RoleOut(role=r, agency=a) for r, a in selectors.user_roles(user=user)]


@router.get("/me", response=MeOut, operation_id="me_get", summary="The signed-in account")
@policy.requires("profile.view_own")
def me_get(request: HttpRequest) -> MeOut:
    user = _user(request)
    return MeOut(
        username=user.username,
        kind=user.kind,
        first_name=user.first_name,
        last_name=user.last_name,
        email=user.email,
        agency=user.agency.code if user.agency else None,
        roles=_roles_out(user),
        mfa_verified=policy.mfa_satisfied(user) and user.needs_mfa,
    )


@router.get("/agencies", response=list[AgencyOut], operation_id="agency_list")
@policy.requires("agency.list")
def agency_list(request: HttpRequest) -> list[AgencyOut]:
    return [AgencyOut.from_orm(a) for a in selectors.agency_list(viewer=_user(request))]


@router.post("/agencies", response={201: AgencyOut}, operation_id="agency_create")
@policy.requires("agency.create")
def agency_create(request: HttpRequest, payload: AgencyIn) -> Status[AgencyOut]:
    agency = services.agency_create(
        actor=_user(request), code=payload.code, name=payload.name, kind=payload.kind
    )
    return Status(201, AgencyOut.from_orm(agency))


@router.get("/agencies/{code}/staff", response=list[StaffOut], operation_id="agency_staff_list")
@policy.requires("staff.list")
def agency_staff_list(request: HttpRequest, code: str) -> list[StaffOut]:
    viewer = _user(request)
    agency = selectors.agency_get(code=code)
    return [
        StaffOut(
            username=u.username,
            first_name=u.first_name,
            last_name=u.last_name,
            email=u.email,
            is_active=u.is_active,
            roles=_roles_out(u),
        )
        for u in selectors.staff_list(viewer=viewer, agency=agency)
    ]


def _role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError as exc:
        raise ValidationFailed(
            errors={"role": [f"unknown role; one of {', '.join(Role.values)}"]}
        ) from exc


@router.post("/agencies/{code}/staff", response={201: StaffOut}, operation_id="agency_staff_create")
@policy.requires("staff.manage")
def agency_staff_create(request: HttpRequest, code: str, payload: StaffIn) -> Status[StaffOut]:
    actor = _user(request)
    agency = selectors.agency_get(code=code)
    roles = tuple(_role(r) for r in payload.roles)
    user = services.staff_create(
        actor=actor,
        agency=agency,
        username=payload.username,
        password=payload.password,
        email=payload.email,
        first_name=payload.first_name,
        last_name=payload.last_name,
        roles=roles,
    )
    return Status(
        201,
        StaffOut(
            username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
            email=user.email,
            is_active=user.is_active,
            roles=_roles_out(user),
        ),
    )


def _staff_member(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise NotFound(f"No user {username!r}.")
    return user


@router.post("/agencies/{code}/roles", response={201: RoleOut}, operation_id="role_grant")
@policy.requires("staff.manage")
def role_grant(request: HttpRequest, code: str, payload: RoleIn) -> Status[RoleOut]:
    actor = _user(request)
    agency = selectors.agency_get(code=code)
    role = _role(payload.role)
    services.role_grant(actor=actor, user=_staff_member(payload.username), role=role, agency=agency)
    return Status(
        201, RoleOut(role=role.value, agency=None if role == Role.PLATFORM_ADMIN else code)
    )


@router.delete("/agencies/{code}/roles", response={204: None}, operation_id="role_revoke")
@policy.requires("staff.manage")
def role_revoke(request: HttpRequest, code: str, payload: RoleIn) -> Status[None]:
    actor = _user(request)
    agency = selectors.agency_get(code=code)
    services.role_revoke(
        actor=actor, user=_staff_member(payload.username), role=_role(payload.role), agency=agency
    )
    return Status(204, None)


def _token_out(token: ApiToken) -> TokenOut:
    return TokenOut.from_orm(token)


@router.get("/tokens", response=list[TokenOut], operation_id="token_list")
@policy.requires("token.manage_own")
def token_list(request: HttpRequest) -> list[TokenOut]:
    return [_token_out(t) for t in selectors.api_token_list(viewer=_user(request))]


@router.post(
    "/tokens",
    response={201: TokenCreatedOut},
    operation_id="token_create",
    auth=SessionAuth(),
    summary="Create an API token (from a signed-in session only)",
)
@policy.requires("token.manage_own")
def token_create(request: HttpRequest, payload: TokenIn) -> Status[TokenCreatedOut]:
    token, raw = services.api_token_create(
        actor=_user(request), name=payload.name, scopes=payload.scopes, days=payload.days
    )
    return Status(201, TokenCreatedOut(**_token_out(token).dict(), token=raw))


@router.delete("/tokens/{token_id}", response={204: None}, operation_id="token_revoke")
@policy.requires("token.manage_own")
def token_revoke(request: HttpRequest, token_id: PathId) -> Status[None]:
    services.api_token_revoke(actor=_user(request), token_id=token_id)
    return Status(204, None)


@router.get("/scopes", response=list[str], operation_id="scope_list", auth=None)
@policy.public("the list of token scopes is documentation, not data")
def scope_list(request: HttpRequest) -> list[str]:
    return sorted(services.api_scopes())


class AuditFilter(Schema):
    agency: str | None = Field(None, max_length=40)
    subject_person: str | None = Field(None, max_length=100)
    action: str | None = Field(None, max_length=100)
    since: datetime | None = None


@router.get("/audit", response=list[AuditEntryOut], operation_id="audit_list", tags=["audit"])
@policy.requires("audit.view")
@paginate(Paging)
def audit_list(request: HttpRequest, filters: Query[AuditFilter]) -> Any:
    return selectors.audit_entry_list(viewer=_user(request), **filters.dict())


@router.post("/audit/verify", response=AuditVerifyOut, operation_id="audit_verify", tags=["audit"])
@policy.requires("audit.verify")
def audit_verify(request: HttpRequest, expect_head: str | None = None) -> AuditVerifyOut:
    result = selectors.audit_verify(viewer=_user(request), expect_head=expect_head)
    return AuditVerifyOut(**result.__dict__)
