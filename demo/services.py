"""Seeding the demo government: agencies, demo accounts and the agencies' source records.

Agencies and accounts go through identity.services, so they are authorised and audited
like any other. The population is bulk-loaded in batches with one audit entry per batch
(with counts), not one per record.
"""

import csv
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from django.db import reset_queries, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from core import audit
from core.errors import ApplicationError
from demo.synth import AGENCIES, Population, SynthRecord, TruePerson
from identity import policy
from identity import services as identity_services
from identity.choices import AgencyKind, Role, UserKind
from identity.models import Agency, RoleAssignment, User
from registry.models import SourceRecord
from registry.services.citizens import (
    PORTAL_AGENCY_CODE,
    citizen_record_id,
    citizen_record_register,
)
from registry.services.feeds import source_record_standardise

# The demo's passwords, in one place. They pass the password validators; they are printed
# by `manage.py demo_accounts` and must never exist outside a demo database.
DEMO_STAFF_PASSWORD = "staff-demo-pass-1"
DEMO_CITIZEN_PASSWORD = "citizen-demo-pass-1"
DEMO_PARTNER_PASSWORD = "partner-demo-pass-1"

PARTNER_AGENCY_CODE = "civic-labs"
PARTNER_AGENCY_NAME = "Civic Labs Ltd (partner)"
# Staff need a home agency; the platform admin's is this one, though it works for all.
PLATFORM_HOME_AGENCY = "social-services"
AGENCY_ROLES = (
    Role.CASEWORKER,
    Role.SUPERVISOR,
    Role.DATA_STEWARD,
    Role.POLICY_ANALYST,
    Role.AGENCY_ADMIN,
)
DEFAULT_BATCH_SIZE = 2000
DEMO_CITIZENS = 3


class DemoAlreadySeeded(ApplicationError):
    code = "demo_already_seeded"
    status = 409
    title = "The demo population is already loaded"


@dataclass(frozen=True)
class DemoAccount:
    """A demo account as `manage.py demo_accounts` prints it."""

    username: str
    kind: str
    role: str
    agency: str
    password: str
    has_totp: bool


@dataclass(frozen=True)
class LoadProgress:
    people: int
    records: int
    seconds: float

    @property
    def people_per_second(self) -> float:
        return self.people / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class SeedResult:
    agencies: int
    accounts: int
    people: int
    records: int
    records_by_agency: dict[str, int]
    seconds: float
    skipped: bool = False


def staff_username(role: Role, agency_code: str) -> str:
    return f"{role.value.replace('_', '-')}.{agency_code}"


def _require_platform_admin(actor: User) -> None:
    # Seeding touches every agency at once: only the platform (or its operator) may.
    policy.authorize(actor, "demo.seed")


# --- agencies and accounts --------------------------------------------------------------


@transaction.atomic
def demo_agencies_ensure(*, actor: User) -> dict[str, Agency]:
    """The four government agencies and the partner organisation, created once."""
    _require_platform_admin(actor)
    wanted = [(p.code, p.name, AgencyKind.GOVERNMENT) for p in AGENCIES]
    wanted.append((PARTNER_AGENCY_CODE, PARTNER_AGENCY_NAME, AgencyKind.PARTNER))
    agencies: dict[str, Agency] = {}
    for code, name, kind in wanted:
        agency = Agency.objects.filter(code=code).first()
        if agency is None:
            agency = identity_services.agency_create(actor=actor, code=code, name=name, kind=kind)
        agencies[code] = agency
    return agencies


def _staff_ensure(
    *,
    actor: User,
    agency: Agency,
    username: str,
    role: Role,
    password: str,
    last_name: str,
) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        user = identity_services.staff_create(
            actor=actor,
            agency=agency,
            username=username,
            password=password,
            email=f"{username}@{agency.code}.gov.example",
            first_name="Demo",
            last_name=last_name,
            roles=(role,),
            is_demo=True,
        )
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        identity_services.totp_device_create(actor=actor, user=user, confirmed=True)
    return user


@transaction.atomic
def demo_staff_ensure(*, actor: User, agencies: dict[str, Agency]) -> list[User]:
    """Every staff role in every government agency, a platform admin and a partner developer.

    Each has a confirmed authenticator, so `manage.py totp_code USERNAME` signs them in.
    """
    _require_platform_admin(actor)
    users: list[User] = []
    for profile in AGENCIES:
        for role in AGENCY_ROLES:
            users.append(
                _staff_ensure(
                    actor=actor,
                    agency=agencies[profile.code],
                    username=staff_username(role, profile.code),
                    role=role,
                    password=DEMO_STAFF_PASSWORD,
                    last_name=str(role.label),
                )
            )
    users.append(
        _staff_ensure(
            actor=actor,
            agency=agencies[PLATFORM_HOME_AGENCY],
            username="platform-admin",
            role=Role.PLATFORM_ADMIN,
            password=DEMO_STAFF_PASSWORD,
            last_name=str(Role.PLATFORM_ADMIN.label),
        )
    )
    developer = User.objects.filter(username=f"developer.{PARTNER_AGENCY_CODE}").first()
    if developer is None:
        developer = identity_services.partner_developer_create(
            actor=actor,
            organisation=agencies[PARTNER_AGENCY_CODE],
            username=f"developer.{PARTNER_AGENCY_CODE}",
            password=DEMO_PARTNER_PASSWORD,
            email=f"developer@{PARTNER_AGENCY_CODE}.example",
            first_name="Demo",
            last_name=str(Role.PARTNER_DEVELOPER.label),
            is_demo=True,
        )
    if not TOTPDevice.objects.filter(user=developer, confirmed=True).exists():
        identity_services.totp_device_create(actor=actor, user=developer, confirmed=True)
    users.append(developer)
    return users


@transaction.atomic
def demo_citizens_ensure(*, actor: User, people: list[TruePerson]) -> list[User]:
    """Citizen accounts for people who are in every agency's records.

    The account carries the person's national ID, which is how the master person index
    can find the citizen's records.
    """
    _require_platform_admin(actor)
    users: list[User] = []
    for number, person in enumerate(people, start=1):
        username = f"citizen{number}"
        user = User.objects.filter(username=username).first()
        if user is None:
            user = identity_services.citizen_register(
                username=username,
                password=DEMO_CITIZEN_PASSWORD,
                email=person.email or f"{username}@citizen.example",
                first_name=person.given_name,
                last_name=person.family_name,
                national_id=person.national_id,
                is_demo=True,
            )
            # as the portal does at sign-up: the account's own record, matched at once
            citizen_record_register(user=user, date_of_birth=person.date_of_birth)
        users.append(user)
    return users


def demo_accounts() -> list[DemoAccount]:
    """The demo accounts that exist, with their passwords, for printing."""
    passwords = {
        UserKind.STAFF: DEMO_STAFF_PASSWORD,
        UserKind.CITIZEN: DEMO_CITIZEN_PASSWORD,
        UserKind.PARTNER: DEMO_PARTNER_PASSWORD,
    }
    with_totp = set(
        TOTPDevice.objects.filter(confirmed=True, user__is_demo=True).values_list(
            "user_id", flat=True
        )
    )
    roles: dict[int, list[RoleAssignment]] = {}
    for assignment in RoleAssignment.objects.filter(user__is_demo=True).select_related("agency"):
        roles.setdefault(assignment.user_id, []).append(assignment)
    accounts = []
    order = {UserKind.STAFF: 0, UserKind.PARTNER: 1, UserKind.CITIZEN: 2}
    users = User.objects.filter(is_demo=True).select_related("agency")
    for user in sorted(users, key=lambda u: (order.get(UserKind(u.kind), 3), u.pk)):
        held = roles.get(user.pk, [])
        where = {a.agency.code if a.agency else "all agencies" for a in held}
        accounts.append(
            DemoAccount(
                username=user.username,
                kind=user.kind,
                role=", ".join(str(a.role) for a in held) or str(user.kind),
                agency=", ".join(sorted(where)) or (user.agency.code if user.agency else ""),
                password=passwords.get(UserKind(user.kind), ""),
                has_totp=user.pk in with_totp,
            )
        )
    return accounts


# --- source records -----------------------------------------------------------------------


def _source_record(record: SynthRecord, *, agency_id: int, loaded_at: datetime) -> SourceRecord:
    return SourceRecord(
        agency_id=agency_id,
        agency_record_id=record.agency_record_id,
        given_name=record.given_name,
        middle_name=record.middle_name,
        family_name=record.family_name,
        previous_family_name=record.previous_family_name,
        date_of_birth=record.date_of_birth,
        date_of_birth_raw=record.date_of_birth_raw,
        sex=record.sex,
        address_line=record.address_line,
        locality=record.locality,
        postcode=record.postcode,
        phone=record.phone,
        email=record.email,
        national_id=record.national_id,
        household_ref=record.household_ref,
        extra=record.extra,
        source_updated_at=record.source_updated_at,
        loaded_at=loaded_at,
    )


def _batches(population: Population, batch_size: int) -> Iterator[tuple[list[SynthRecord], int]]:
    """Records in batches of about `batch_size`, with the number of people so far."""
    batch: list[SynthRecord] = []
    for household in population.households():
        batch.extend(household.records)
        if len(batch) >= batch_size:
            yield batch, population.stats.people
            batch = []
    if batch:
        yield batch, population.stats.people


def source_records_load(
    *,
    actor: User,
    population: Population,
    agencies: dict[str, Agency],
    batch_size: int = DEFAULT_BATCH_SIZE,
    truth: TextIO | None = None,
    progress: Callable[[LoadProgress], None] | None = None,
) -> Counter[str]:
    """Stream the population into SourceRecord in batches; returns records per agency.

    With `truth`, writes CSV rows `agency,agency_record_id,true_person_id` as it goes.
    Memory stays at one batch, whatever the size of the population.
    """
    _require_platform_admin(actor)
    if batch_size < 1:
        raise ValueError("batch_size must be positive")
    agency_ids = {code: agency.pk for code, agency in agencies.items()}
    writer = csv.writer(truth, lineterminator="\n") if truth is not None else None
    if writer is not None:
        writer.writerow(("agency", "agency_record_id", "true_person_id"))
    loaded_at = timezone.now()
    started = time.perf_counter()
    counts: Counter[str] = Counter()
    for number, (batch, people) in enumerate(_batches(population, batch_size), start=1):
        SourceRecord.objects.bulk_create(
            [
                source_record_standardise(
                    _source_record(r, agency_id=agency_ids[r.agency], loaded_at=loaded_at)
                )
                for r in batch
            ],
            batch_size=batch_size,
        )
        # With DEBUG on, Django keeps every query's SQL: a million rows would fill memory.
        reset_queries()
        in_batch = Counter(r.agency for r in batch)
        counts.update(in_batch)
        if writer is not None:
            writer.writerows((r.agency, r.agency_record_id, r.true_person_id) for r in batch)
        audit.record(
            actor=actor,
            action="registry.source_records_load",
            purpose="demo seed",
            data={"batch": number, "records": len(batch), "by_agency": dict(in_batch)},
        )
        if progress is not None:
            progress(
                LoadProgress(
                    people=people,
                    records=counts.total(),
                    seconds=time.perf_counter() - started,
                )
            )
    return counts


def _demo_agency_records() -> int:
    return SourceRecord.objects.filter(agency__code__in=[p.code for p in AGENCIES]).count()


@transaction.atomic
def demo_government_seed(
    *,
    actor: User,
    people: int,
    seed: int,
    batch_size: int = DEFAULT_BATCH_SIZE,
    truth: TextIO | None = None,
    if_empty: bool = False,
    replace: bool = False,
    progress: Callable[[LoadProgress], None] | None = None,
) -> SeedResult:
    """Agencies, demo accounts and `people` people's source records, all or nothing.

    `if_empty` skips everything when source records exist already; `replace` deletes the
    demo agencies' source records first. Otherwise existing records are an error.
    """
    _require_platform_admin(actor)
    started = time.perf_counter()
    existing = _demo_agency_records()
    if existing and if_empty:
        return SeedResult(0, 0, 0, existing, {}, time.perf_counter() - started, skipped=True)
    if existing and not replace:
        raise DemoAlreadySeeded(
            f"{existing} source records are already loaded; pass --if-empty to keep them "
            "or --replace to load the population again."
        )
    if existing:
        SourceRecord.objects.filter(agency__code__in=[p.code for p in AGENCIES]).delete()
        audit.record(
            actor=actor, action="registry.source_records_delete", data={"records": existing}
        )
    agencies = demo_agencies_ensure(actor=actor)
    staff = demo_staff_ensure(actor=actor, agencies=agencies)
    population = Population(people=people, seed=seed, featured=DEMO_CITIZENS)
    featured = population.featured_people()
    citizens = demo_citizens_ensure(actor=actor, people=featured)
    counts = source_records_load(
        actor=actor,
        population=population,
        agencies=agencies,
        batch_size=batch_size,
        truth=truth,
        progress=progress,
    )
    if truth is not None:  # the citizens' own portal records belong to their true persons
        csv.writer(truth, lineterminator="\n").writerows(
            (PORTAL_AGENCY_CODE, citizen_record_id(user.pk), person.person_id)
            for user, person in zip(citizens, featured, strict=True)
        )
    audit.record(
        actor=actor,
        action="demo.seed",
        data={"people": people, "seed": seed, "records": counts.total(), **counts},
    )
    return SeedResult(
        agencies=len(agencies),
        accounts=len(staff) + len(citizens),
        people=population.stats.people,
        records=counts.total(),
        records_by_agency=dict(counts),
        seconds=time.perf_counter() - started,
    )
