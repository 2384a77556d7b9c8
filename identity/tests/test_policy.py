import pytest
from django.contrib.auth.models import AnonymousUser

from core.errors import NotAuthenticated, PermissionDenied
from identity import policy
from identity.choices import Role
from identity.tests.factories import AgencyFactory, CitizenFactory, grant, staff, verified

pytestmark = pytest.mark.django_db


def test_unknown_action_is_denied_even_for_platform_admin():
    # given a platform admin who passed MFA
    admin = verified(staff(Role.PLATFORM_ADMIN))
    # when asking about an action no rule declares
    decision = policy.decide(admin, "anything.goes")
    # then it is denied
    assert not decision.allowed
    assert "unknown action" in decision.reason


def test_anonymous_is_told_to_sign_in():
    with pytest.raises(NotAuthenticated):
        policy.authorize(AnonymousUser(), "agency.list")


def test_staff_without_second_factor_gets_nothing():
    # given a data steward whose session has not passed TOTP
    steward = staff(Role.DATA_STEWARD)
    steward.is_verified = lambda: False
    # then even reading their own agency's records is refused
    decision = policy.decide(steward, "source_record.view", steward.agency)
    assert not decision.allowed
    assert "multi-factor" in decision.reason


def test_role_is_scoped_to_its_agency():
    # given a data steward at Health and another agency
    health, revenue = AgencyFactory(code="health"), AgencyFactory(code="revenue")
    steward = verified(staff(Role.DATA_STEWARD, health))
    # then Health's records are theirs to see and Revenue's are not
    assert policy.can(steward, "source_record.view", health)
    assert not policy.can(steward, "source_record.view", revenue)


def test_platform_admin_does_not_read_personal_data():
    admin = verified(staff(Role.PLATFORM_ADMIN))
    assert not policy.can(admin, "source_record.view", AgencyFactory())
    assert policy.can(admin, "agency.create")


def test_agency_admin_cannot_hand_out_platform_admin():
    from identity.models import RoleAssignment

    agency = AgencyFactory()
    admin = verified(staff(Role.AGENCY_ADMIN, agency))
    someone = staff(Role.CASEWORKER, agency)
    platform_grant = RoleAssignment(user=someone, role=Role.PLATFORM_ADMIN, agency=None)
    caseworker_grant = RoleAssignment(user=someone, role=Role.SUPERVISOR, agency=agency)
    assert not policy.can(admin, "staff.manage", platform_grant)
    assert policy.can(admin, "staff.manage", caseworker_grant)


def test_token_scopes_limit_what_a_token_can_do():
    # given a steward acting through a token that may only read identity data
    steward = staff(Role.DATA_STEWARD)
    steward.civic_via_token = True
    steward.civic_token_scopes = frozenset({"identity:read"})
    # then registry reads are refused for lack of scope, agency listing is allowed
    decision = policy.decide(steward, "source_record.view", steward.agency)
    assert not decision.allowed and "scope" in decision.reason
    assert policy.can(steward, "agency.list")


def test_a_token_never_mints_tokens():
    citizen = CitizenFactory()
    citizen.civic_via_token = True
    citizen.civic_token_scopes = frozenset({"tokens:write"})
    assert not policy.can(citizen, "token.manage_own")


def test_disabled_account_is_denied():
    citizen = CitizenFactory(is_active=False)
    assert not policy.can(citizen, "profile.view_own")


def test_authorize_raises_permission_denied_with_code():
    citizen = CitizenFactory()
    with pytest.raises(PermissionDenied) as info:
        policy.authorize(citizen, "agency.create")
    assert info.value.code == "permission_denied"
    assert info.value.status == 403


def test_roles_granted_later_are_seen_after_forget():
    agency = AgencyFactory()
    user = verified(staff(Role.CASEWORKER, agency))
    assert not policy.can(user, "source_record.manage", agency)
    grant(user, Role.DATA_STEWARD, agency)
    policy.forget_roles(user)
    assert policy.can(user, "source_record.manage", agency)
