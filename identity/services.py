"""Writes of identity data. Every function takes the acting user and is audited."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import audit
from core.errors import ValidationFailed
from identity import policy
from identity.choices import AgencyKind, Role, UserKind
from identity.errors import (
    AgencyExists,
    InvalidScopes,
    RoleAlreadyGranted,
    RoleNeedsAgency,
    RoleNotHeld,
    TokenNotFound,
    UsernameTaken,
)
from identity.govstack import IM_CLIENT_PATTERN
from identity.models import Agency, ApiToken, RoleAssignment, SystemClient, User
from identity.selectors import TOKEN_PREFIX, token_digest


def api_scopes() -> frozenset[str]:
    """Every scope a token may carry (one per permission family)."""
    return frozenset(p.scope for p in policy.PERMISSIONS.values())


def _check_password(password: str, user: User | None = None) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationFailed(errors={"password": list(exc.messages)}) from exc


@transaction.atomic
def agency_create(
    *, actor: User, code: str, name: str, kind: str = AgencyKind.GOVERNMENT
) -> Agency:
    policy.authorize(actor, "agency.create")
    if Agency.objects.filter(code=code).exists():
        raise AgencyExists(f"An agency with code {code!r} already exists.")
    if kind not in AgencyKind.values:
        raise ValidationFailed(errors={"kind": [f"must be one of {sorted(AgencyKind.values)}"]})
    agency = Agency.objects.create(code=code, name=name, kind=kind)
    audit.record(actor=actor, action="agency.create", target=agency, data={"code": code})
    return agency


def _new_user(
    *,
    username: str,
    password: str,
    kind: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    agency: Agency | None = None,
    is_demo: bool = False,
    national_id: str = "",
) -> User:
    if User.objects.filter(username__iexact=username).exists():
        raise UsernameTaken(f"The username {username!r} is taken.")
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        kind=kind,
        agency=agency,
        is_demo=is_demo,
        national_id=national_id.strip(),
    )
    _check_password(password, user)
    user.set_password(password)
    user.save()
    return user


def _member_create(
    *,
    actor: User,
    agency: Agency,
    kind: UserKind,
    action: str,
    roles: tuple[Role, ...],
    username: str,
    password: str,
    email: str,
    first_name: str,
    last_name: str,
    is_demo: bool,
) -> User:
    """A member of an organisation (staff or partner developer) with their roles there."""
    policy.authorize(actor, "staff.manage", agency)
    user = _new_user(
        username=username,
        password=password,
        kind=kind,
        email=email,
        first_name=first_name,
        last_name=last_name,
        agency=agency,
        is_demo=is_demo,
    )
    audit.record(
        actor=actor, action=action, target=user, agency=agency.code, data={"username": username}
    )
    for role in roles:
        role_grant(
            actor=actor,
            user=user,
            role=role,
            agency=None if role == Role.PLATFORM_ADMIN else agency,
        )
    return user


@transaction.atomic
def staff_create(
    *,
    actor: User,
    agency: Agency,
    username: str,
    password: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    roles: tuple[Role, ...] = (),
    is_demo: bool = False,
) -> User:
    return _member_create(
        actor=actor,
        agency=agency,
        kind=UserKind.STAFF,
        action="staff.create",
        roles=roles,
        username=username,
        password=password,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_demo=is_demo,
    )


@transaction.atomic
def citizen_register(
    *,
    username: str,
    password: str,
    email: str,
    first_name: str = "",
    last_name: str = "",
    national_id: str = "",
    is_demo: bool = False,
) -> User:
    """Self-service sign-up: the new citizen is the actor of their own registration.

    The national ID, when given, is kept encrypted; it is what later links the account to
    the person's records in the agencies.
    """
    user = _new_user(
        username=username,
        password=password,
        kind=UserKind.CITIZEN,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_demo=is_demo,
        national_id=national_id,
    )
    audit.record(
        actor=user,
        action="citizen.register",
        target=user,
        data={"national_id_given": bool(national_id)},
    )
    return user


@transaction.atomic
def partner_developer_create(
    *,
    actor: User,
    organisation: Agency,
    username: str,
    password: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    is_demo: bool = False,
) -> User:
    """A developer at a partner organisation, who gets API credentials but no case data."""
    if organisation.kind != AgencyKind.PARTNER:
        raise ValidationFailed(errors={"organisation": ["must be a partner organisation"]})
    return _member_create(
        actor=actor,
        agency=organisation,
        kind=UserKind.PARTNER,
        action="partner_developer.create",
        roles=(Role.PARTNER_DEVELOPER,),
        username=username,
        password=password,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_demo=is_demo,
    )


@transaction.atomic
def role_grant(
    *, actor: User, user: User, role: Role | str, agency: Agency | None
) -> RoleAssignment:
    role = Role(role)
    if role != Role.PLATFORM_ADMIN and agency is None:
        raise RoleNeedsAgency(f"The role {role.value!r} must be granted within an agency.")
    if role == Role.PLATFORM_ADMIN:
        agency = None
    probe = RoleAssignment(user=user, role=role, agency=agency)
    if role == Role.PLATFORM_ADMIN:
        policy.authorize(actor, "staff.manage", probe)
        if not policy.is_platform_admin(actor):
            raise policy.PermissionDenied("Only platform admins grant platform admin.")
    else:
        policy.authorize(actor, "staff.manage", probe)
    if RoleAssignment.objects.filter(user=user, role=role, agency=agency).exists():
        raise RoleAlreadyGranted()
    assignment = RoleAssignment.objects.create(
        user=user, role=role, agency=agency, granted_by=actor
    )
    policy.forget_roles(user)
    audit.record(
        actor=actor,
        action="role.grant",
        target=user,
        agency=agency.code if agency else None,
        data={"role": role.value},
    )
    return assignment


@transaction.atomic
def role_revoke(*, actor: User, user: User, role: Role | str, agency: Agency | None) -> None:
    role = Role(role)
    assignment = RoleAssignment.objects.filter(
        user=user, role=role, agency=None if role == Role.PLATFORM_ADMIN else agency
    ).first()
    if assignment is None:
        raise RoleNotHeld()
    policy.authorize(actor, "staff.manage", assignment)
    assignment.delete()
    policy.forget_roles(user)
    audit.record(
        actor=actor,
        action="role.revoke",
        target=user,
        agency=agency.code if agency else None,
        data={"role": role.value},
    )


@transaction.atomic
def api_token_create(
    *, actor: User, name: str, scopes: list[str], days: int | None = None
) -> tuple[ApiToken, str]:
    """Mint a token for the actor. The secret is returned once and only its digest kept."""
    policy.authorize(actor, "token.manage_own")
    unknown = sorted(set(scopes) - api_scopes())
    if unknown or not scopes:
        raise InvalidScopes(
            errors={"scopes": [f"unknown: {', '.join(unknown)}" if unknown else "at least one"]},
            allowed=sorted(api_scopes()),
        )
    days = days or settings.API_TOKEN_DEFAULT_DAYS
    if not 1 <= days <= 366:
        raise ValidationFailed(errors={"days": ["must be between 1 and 366"]})
    prefix = secrets.token_hex(4)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken.objects.create(
        user=actor,
        name=name.strip()[:100] or "token",
        prefix=prefix,
        digest=token_digest(raw),
        scopes=sorted(set(scopes)),
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit.record(actor=actor, action="token.create", target=token, data={"scopes": token.scopes})
    return token, raw


@transaction.atomic
def api_token_revoke(*, actor: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user=actor).first()
    if token is None:
        raise TokenNotFound()
    policy.authorize(actor, "token.manage_own", token)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit.record(actor=actor, action="token.revoke", target=token)
    return token


@transaction.atomic
def totp_device_create(*, actor: User, user: User, confirmed: bool = False) -> TOTPDevice:
    """Give a staff member a TOTP device (unconfirmed until they enter a first code)."""
    if actor.pk != user.pk:
        policy.authorize(actor, "staff.manage", user)
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=confirmed)
    audit.record(actor=actor, action="mfa.device_create", target=user)
    return device


@transaction.atomic
def totp_device_confirm(*, actor: User, device: TOTPDevice, token: str) -> bool:
    if device.user_id != actor.pk:
        raise policy.PermissionDenied("Not your device.")
    if not device.verify_token(token):
        audit.record(actor=actor, action="mfa.confirm_failed", target=actor)
        return False
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=actor).exclude(pk=device.pk).delete()
    audit.record(actor=actor, action="mfa.confirm", target=actor)
    return True


@transaction.atomic
def system_client_register(
    *,
    actor: User,
    agency: Agency,
    identifier: str,
    name: str,
    account: User | None = None,
) -> SystemClient:
    """Register (or re-activate and rename) a calling system of ``agency``."""
    policy.authorize(actor, "system_client.manage", agency)
    identifier = identifier.strip()
    if not IM_CLIENT_PATTERN.match(identifier):
        raise ValidationFailed(errors={"identifier": ["expected INSTANCE/CLASS/MEMBER/SUBSYSTEM"]})
    if account is not None and account.agency_id != agency.pk:
        raise ValidationFailed(errors={"account": ["must be an account of the same agency"]})
    existing = SystemClient.objects.filter(identifier=identifier).first()
    if existing is not None and existing.agency_id != agency.pk:
        raise ValidationFailed(errors={"identifier": ["registered to another agency"]})
    client, _ = SystemClient.objects.update_or_create(
        identifier=identifier,
        defaults={"agency": agency, "name": name, "account": account, "active": True},
    )
    audit.record(
        actor=actor,
        action="system_client.register",
        target=client,
        agency=agency.code,
        data={"identifier": identifier},
    )
    return client


def system_actor() -> User:
    """The platform's own account, used by management commands and tasks.

    It cannot sign in (no usable password), holds platform admin, and is audited by name.
    """
    user, created = User.objects.get_or_create(
        username="system",
        defaults={"kind": UserKind.STAFF, "first_name": "CivicStack", "last_name": "platform"},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
        RoleAssignment.objects.get_or_create(user=user, role=Role.PLATFORM_ADMIN, agency=None)
    user.civic_system = True  # type: ignore[attr-defined]
    return user
