"""Factories for people who sign in; other apps' tests use them too."""

import factory
from django_otp.plugins.otp_totp.models import TOTPDevice

from identity.choices import AgencyKind, Role, UserKind
from identity.models import Agency, RoleAssignment, User

PASSWORD = "correct-horse-battery-staple"


class AgencyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Agency
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"agency-{n}")
    name = factory.LazyAttribute(lambda o: o.code.replace("-", " ").title())
    kind = AgencyKind.GOVERNMENT


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.org")
    first_name = "Alex"
    last_name = "Doe"
    kind = UserKind.CITIZEN
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class CitizenFactory(UserFactory):
    kind = UserKind.CITIZEN


class StaffFactory(UserFactory):
    kind = UserKind.STAFF
    agency = factory.SubFactory(AgencyFactory)


def grant(user: User, role: Role, agency: Agency | None = None) -> User:
    RoleAssignment.objects.create(
        user=user, role=role, agency=None if role == Role.PLATFORM_ADMIN else agency or user.agency
    )
    return user


def staff(role: Role, agency: Agency | None = None, **kwargs) -> User:
    user = StaffFactory(agency=agency or AgencyFactory(), **kwargs)
    return grant(user, role, user.agency)


def verified(user: User) -> User:
    """The user as a request would carry it after a TOTP sign-in."""
    user.is_verified = lambda: True  # type: ignore[method-assign]
    return user


def totp_device(user: User) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="app", confirmed=True)
