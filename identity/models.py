from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import BlindIndexField, EncryptedTextField
from identity.choices import AgencyKind, Role, UserKind

NATIONAL_ID_INDEX = "person.national_id"


class Agency(models.Model):
    """A government agency or a partner organisation; roles are scoped to one."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=20, choices=AgencyKind.choices, default=AgencyKind.GOVERNMENT
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = _("agencies")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """Anyone who signs in: staff, citizens and partner developers."""

    kind = models.CharField(
        _("kind"), max_length=20, choices=UserKind.choices, default=UserKind.CITIZEN
    )
    agency = models.ForeignKey(
        Agency,
        verbose_name=_("home agency"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        help_text=_("The organisation a staff member or partner developer belongs to."),
    )
    preferred_language = models.CharField(max_length=10, default="en")
    is_demo = models.BooleanField(
        default=False, help_text=_("Created by seed_demo; its TOTP code may be printed.")
    )
    national_id = EncryptedTextField(_("national ID"), blank=True, default="")
    # Find a person by national ID: filter(national_id_index=lookup_value(User, ...)).
    # One index context for national IDs everywhere, so an account can be matched to
    # agency records about the same person without decrypting either.
    national_id_index = BlindIndexField(source="national_id", context=NATIONAL_ID_INDEX)

    @property
    def is_staff_member(self) -> bool:
        return self.kind == UserKind.STAFF

    @property
    def needs_mfa(self) -> bool:
        """Staff and partner developers sign in with a second factor; citizens by password
        (their identity is verified separately, against agency records)."""
        return self.kind != UserKind.CITIZEN

    @property
    def is_citizen(self) -> bool:
        return self.kind == UserKind.CITIZEN


class RoleAssignment(models.Model):
    """A role held by a user, within one agency (or platform-wide for platform admins)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=30, choices=Role.choices)
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="role_assignments"
    )
    granted_at = models.DateTimeField(default=timezone.now)
    granted_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "role", "agency"], name="identity_role_unique_per_agency"
            ),
            models.UniqueConstraint(
                fields=["user", "role"],
                condition=models.Q(agency__isnull=True),
                name="identity_role_unique_platform",
            ),
            models.CheckConstraint(
                condition=models.Q(role="platform_admin") | models.Q(agency__isnull=False),
                name="identity_role_needs_agency",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} @ {self.agency.code if self.agency else '*'}"


class ApiToken(models.Model):
    """A bearer token for the API. Only a SHA-256 digest of the secret is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True, help_text=_("Shown to identify it."))
    digest = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class SystemClient(models.Model):
    """A calling system, known by its X-Road style identifier.

    GovStack clients name themselves in the ``Information-Mediator-Client`` header as
    ``INSTANCE/CLASS/MEMBER/SUBSYSTEM``. A registered client belongs to one agency; a
    request naming it must come from a token or session of that agency (or, where the
    deployment sits behind a trusted security server, may act as the client's account).
    """

    identifier = models.CharField(
        _("identifier"),
        max_length=255,
        unique=True,
        help_text=_("INSTANCE/CLASS/MEMBER/SUBSYSTEM, as sent in Information-Mediator-Client."),
    )
    name = models.CharField(_("name"), max_length=200)
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="system_clients", verbose_name=_("agency")
    )
    account = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="system_clients",
        help_text=_("The account a request acts as when the header alone is trusted."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["identifier"]

    def __str__(self) -> str:
        return self.identifier
