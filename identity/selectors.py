"""Reads of identity data; each applies the policy for its viewer."""

import hashlib
from datetime import datetime, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from core import audit
from core.models import AuditEntry
from core.timezones import in_utc
from identity import policy
from identity.choices import Role
from identity.models import Agency, ApiToken, User

TOKEN_PREFIX = "cs_"


def token_digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def user_for_api_token(*, raw: str) -> User | None:
    """The active user behind a bearer token, marked with the token's scopes; else None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(raw), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=5):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    user = token.user
    user.civic_via_token = True  # type: ignore[attr-defined]
    user.civic_token_scopes = frozenset(token.scopes)  # type: ignore[attr-defined]
    return user


def agency_list(*, viewer: User) -> QuerySet[Agency]:
    policy.authorize(viewer, "agency.list")
    return Agency.objects.order_by("name")


def agency_get(*, code: str) -> Agency:
    """An agency by code. Not personal data: the route's own permission covers the lookup."""
    from core.errors import NotFound

    agency = Agency.objects.filter(code=code).first()
    if agency is None:
        raise NotFound(f"No agency with code {code!r}.")
    return agency


def staff_list(*, viewer: User, agency: Agency) -> QuerySet[User]:
    policy.authorize(viewer, "staff.list", agency)
    return (
        User.objects.filter(role_assignments__agency=agency)
        .distinct()
        .prefetch_related("role_assignments__agency")
        .order_by("username")
    )


def api_token_list(*, viewer: User) -> QuerySet[ApiToken]:
    policy.authorize(viewer, "token.manage_own")
    return ApiToken.objects.filter(user=viewer)


def user_roles(*, user: User) -> list[tuple[str, str | None]]:
    return [
        (a.role, a.agency.code if a.agency else None)
        for a in user.role_assignments.select_related("agency").order_by("role")
    ]


def audit_entry_list(
    *,
    viewer: User,
    agency: str | None = None,
    subject_person: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Audit entries the viewer may read: all for platform admins, their agency's otherwise."""
    policy.authorize(viewer, "audit.view")
    if since is not None:
        since = in_utc(since)
    qs = audit.entries(agency=agency, subject_person=subject_person, action=action, since=since)
    if not policy.is_platform_admin(viewer):
        own = Agency.objects.filter(
            pk__in=policy.agencies_where(viewer, Role.AGENCY_ADMIN)
        ).values_list("code", flat=True)
        qs = qs.filter(agency__in=list(own))
    return qs


def audit_verify(*, viewer: User, expect_head: str | None = None) -> audit.VerifyResult:
    policy.authorize(viewer, "audit.verify")
    return audit.verify(expect_head=expect_head)
