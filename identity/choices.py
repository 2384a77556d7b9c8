from django.db import models
from django.utils.translation import gettext_lazy as _


class AgencyKind(models.TextChoices):
    GOVERNMENT = "government", _("Government agency")
    PARTNER = "partner", _("Partner organisation")


class UserKind(models.TextChoices):
    STAFF = "staff", _("Staff")
    CITIZEN = "citizen", _("Citizen or resident")
    PARTNER = "partner", _("Partner developer")


class Role(models.TextChoices):
    """Roles are granted per agency; platform admin is granted without one."""

    CASEWORKER = "caseworker", _("Caseworker")
    SUPERVISOR = "supervisor", _("Supervisor")
    DATA_STEWARD = "data_steward", _("Data steward")
    POLICY_ANALYST = "policy_analyst", _("Policy analyst")
    AGENCY_ADMIN = "agency_admin", _("Agency admin")
    PLATFORM_ADMIN = "platform_admin", _("Platform admin")
    PARTNER_DEVELOPER = "partner_developer", _("Partner developer")


STAFF_ROLES = frozenset(
    {
        Role.CASEWORKER,
        Role.SUPERVISOR,
        Role.DATA_STEWARD,
        Role.POLICY_ANALYST,
        Role.AGENCY_ADMIN,
        Role.PLATFORM_ADMIN,
    }
)
