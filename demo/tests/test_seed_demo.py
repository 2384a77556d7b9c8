"""seed_demo and demo_accounts against the database."""

import csv
import io
from collections import defaultdict

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.errors import PermissionDenied
from core.fields import lookup_value
from core.models import AuditEntry
from demo import services
from demo.synth import ErrorKind, Population
from identity.choices import AgencyKind, Role, UserKind
from identity.models import Agency, RoleAssignment, User
from registry.models import SourceRecord
from registry.services.citizens import PORTAL_AGENCY_CODE

pytestmark = pytest.mark.django_db

PEOPLE, SEED = 250, 7
GOVERNMENT = {"revenue", "health", "social-services", "transport"}
COMPARED = [
    "agency__code",
    "agency_record_id",
    "given_name",
    "middle_name",
    "family_name",
    "previous_family_name",
    "date_of_birth",
    "date_of_birth_raw",
    "sex",
    "address_line",
    "locality",
    "postcode",
    "phone",
    "email",
    "national_id_index",
    "household_ref",
    "extra",
    "source_updated_at",
]


def _seed(*args: str, people: int = PEOPLE, seed: int = SEED) -> str:
    out = io.StringIO()
    call_command(
        "seed_demo",
        "--people",
        str(people),
        "--seed",
        str(seed),
        *args,
        stdout=out,
        stderr=io.StringIO(),
    )
    return out.getvalue()


def _snapshot() -> list[tuple]:
    rows = SourceRecord.objects.order_by("agency__code", "agency_record_id").values_list(*COMPARED)
    return [
        (*row, record.national_id)
        for row, record in zip(
            rows, SourceRecord.objects.order_by("agency__code", "agency_record_id"), strict=True
        )
    ]


def test_seed_creates_the_government_and_its_records(tmp_path):
    # when the demo government is seeded with a truth file
    truth = tmp_path / "truth.csv"
    output = _seed("--truth", str(truth), "--batch-size", "100")
    # then there are four government agencies, the citizen portal (the demo citizens'
    # own records, as if they had signed up) and a partner organisation
    kinds = dict(Agency.objects.values_list("code", "kind"))
    assert {c for c, k in kinds.items() if k == AgencyKind.GOVERNMENT} == GOVERNMENT | {
        PORTAL_AGENCY_CODE
    }
    assert kinds[services.PARTNER_AGENCY_CODE] == AgencyKind.PARTNER
    # and exactly the records the generator makes, per agency
    expected = Population(people=PEOPLE, seed=SEED)
    expected_rows = list(expected.records())
    assert SourceRecord.objects.exclude(agency__code=PORTAL_AGENCY_CODE).count() == len(
        expected_rows
    )
    for code in GOVERNMENT:
        assert (
            SourceRecord.objects.filter(agency__code=code).count() == expected.stats.records[code]
        )
    assert f"{len(expected_rows):,} source records" in output
    # and the truth file names every record once, with its true person
    with truth.open() as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["agency"], r["agency_record_id"]) for r in rows} == set(
        SourceRecord.objects.values_list("agency__code", "agency_record_id")
    )
    portal = [r for r in rows if r["agency"] == PORTAL_AGENCY_CODE]
    assert len(portal) == 3  # the demo citizens' own records, with their true persons
    assert {(r.agency, r.agency_record_id, r.true_person_id) for r in expected_rows} == {
        (r["agency"], r["agency_record_id"], r["true_person_id"])
        for r in rows
        if r["agency"] != PORTAL_AGENCY_CODE
    }


def test_truth_gives_duplicates_within_an_agency_one_person(tmp_path):
    # given a population big enough to hold duplicates
    truth = tmp_path / "truth.csv"
    _seed("--truth", str(truth), people=600)
    with truth.open() as handle:
        rows = list(csv.DictReader(handle))
    # when records are grouped by true person and agency
    per_person: dict[tuple[str, str], list[str]] = defaultdict(list)
    for row in rows:
        per_person[(row["true_person_id"], row["agency"])].append(row["agency_record_id"])
    labelled = [
        r for r in Population(people=600, seed=SEED).records() if ErrorKind.DUPLICATE in r.errors
    ]
    # then each duplicate is the second record of its person in that agency
    assert labelled
    for record in labelled:
        ids = per_person[(record.true_person_id, record.agency)]
        assert record.agency_record_id in ids
        assert len(ids) == 2
    # and records of one person in several agencies share that person's id
    assert any(len({a for (p, a) in per_person if p == person}) == 4 for person, _ in per_person)


def test_every_role_has_a_demo_account_with_a_confirmed_authenticator():
    # when seeded
    _seed(people=20)
    # then every agency role exists in every government agency
    for code in GOVERNMENT:
        for role in services.AGENCY_ROLES:
            user = User.objects.get(username=services.staff_username(role, code))
            assert user.is_demo and user.kind == UserKind.STAFF
            assert RoleAssignment.objects.filter(user=user, role=role, agency__code=code).exists()
            assert user.check_password(services.DEMO_STAFF_PASSWORD)
    # and a platform admin and a partner developer
    admin = User.objects.get(username="platform-admin")
    assert RoleAssignment.objects.filter(user=admin, role=Role.PLATFORM_ADMIN).exists()
    developer = User.objects.get(username=f"developer.{services.PARTNER_AGENCY_CODE}")
    assert developer.kind == UserKind.PARTNER
    assert developer.agency.kind == AgencyKind.PARTNER
    assert RoleAssignment.objects.filter(user=developer, role=Role.PARTNER_DEVELOPER).exists()
    # and every staff and partner account has a confirmed TOTP device
    non_citizens = User.objects.filter(is_demo=True).exclude(kind=UserKind.CITIZEN)
    assert non_citizens.count() == len(GOVERNMENT) * len(services.AGENCY_ROLES) + 2
    for user in non_citizens:
        assert TOTPDevice.objects.filter(user=user, confirmed=True).count() == 1


def test_demo_citizens_sign_in_and_are_in_every_agency(client):
    # when seeded
    _seed()
    citizens = User.objects.filter(is_demo=True, kind=UserKind.CITIZEN).order_by("username")
    # then three citizens can sign in with the printed password
    assert [c.username for c in citizens] == ["citizen1", "citizen2", "citizen3"]
    response = client.post(
        "/accounts/login/", {"username": "citizen1", "password": services.DEMO_CITIZEN_PASSWORD}
    )
    assert response.status_code == 302
    # and each one's national ID finds their records in all four agencies
    for citizen in citizens:
        assert citizen.check_password(services.DEMO_CITIZEN_PASSWORD)
        index = lookup_value(SourceRecord, "national_id", citizen.national_id)
        found = SourceRecord.objects.filter(national_id_index=index)
        assert len({r.agency.code for r in found}) >= 2
    featured = Population(people=PEOPLE, seed=SEED).featured_people()
    assert [c.national_id for c in citizens] == [p.national_id for p in featured]


def test_national_ids_are_encrypted_at_rest_and_found_by_blind_index():
    # given a seeded population
    _seed(people=50)
    record = SourceRecord.objects.filter(national_id_index__isnull=False).first()
    assert record is not None and record.national_id.isdigit()
    # then the column holds a token, not the number
    with connection.cursor() as cursor:
        cursor.execute("SELECT national_id FROM registry_sourcerecord WHERE id = %s", [record.pk])
        (stored,) = cursor.fetchone()
    assert record.national_id not in stored
    assert stored.startswith("v1:")
    # and the blind index finds the record by its number, formatted either way
    spaced = f"{record.national_id[:3]} {record.national_id[3:6]} {record.national_id[6:]}"
    index = lookup_value(SourceRecord, "national_id", spaced)
    assert record in SourceRecord.objects.filter(national_id_index=index)
    # and a record without a national ID has no index either
    for row in SourceRecord.objects.all():
        assert (row.national_id == "") == (row.national_id_index is None)


def test_same_people_and_seed_give_identical_records_in_the_database():
    # given a seeded database
    _seed()
    first = _snapshot()
    # when the population is loaded again from scratch
    _seed("--replace")
    # then every record is the same
    assert _snapshot() == first
    assert len(first) > PEOPLE


def test_if_empty_does_nothing_when_records_exist(tmp_path):
    # given a seeded database and its truth file
    truth = tmp_path / "truth.csv"
    _seed("--truth", str(truth))
    written = truth.read_text()
    count = SourceRecord.objects.count()
    users = User.objects.count()
    # when seeding again with --if-empty, even with other numbers
    output = _seed("--if-empty", "--truth", str(truth), people=500, seed=99)
    # then it says so and changes nothing, the truth file included
    assert "already seeded" in output
    assert SourceRecord.objects.count() == count
    assert User.objects.count() == users
    assert truth.read_text() == written
    assert [p.name for p in tmp_path.iterdir()] == ["truth.csv"]


def test_seeding_again_without_a_flag_is_refused():
    _seed(people=30)
    with pytest.raises(CommandError, match="already loaded"):
        _seed(people=30)


def test_the_load_is_audited_per_batch_not_per_record():
    # when 250 people are loaded in batches of about 200 records
    _seed("--batch-size", "200")
    # then one audit entry per batch carries the counts
    loads = AuditEntry.objects.filter(action="registry.source_records_load")
    total = SourceRecord.objects.exclude(agency__code=PORTAL_AGENCY_CODE).count()
    assert 1 < loads.count() <= total // 200 + 1
    assert sum(entry.data["records"] for entry in loads) == total
    assert AuditEntry.objects.filter(action="agency.create").count() == 6  # with the portal
    assert AuditEntry.objects.filter(action="demo.seed").count() == 1


def test_demo_accounts_prints_usernames_passwords_and_totp_hints():
    # given a seeded database
    _seed(people=20)
    out = io.StringIO()
    # when the accounts are printed
    call_command("demo_accounts", stdout=out)
    text = out.getvalue()
    # then staff show their password and how to get a code; citizens their password
    line = next(row for row in text.splitlines() if "caseworker.social-services" in row.split())
    assert services.DEMO_STAFF_PASSWORD in line
    assert "manage.py totp_code caseworker.social-services" in line
    citizen = next(row for row in text.splitlines() if "citizen1" in row.split())
    assert services.DEMO_CITIZEN_PASSWORD in citizen and "totp_code" not in citizen


def test_demo_accounts_before_seeding_says_what_to_do():
    out = io.StringIO()
    call_command("demo_accounts", stdout=out)
    assert "seed_demo" in out.getvalue()


def test_only_a_platform_admin_may_seed():
    # given a caseworker
    caseworker = User.objects.create(username="cw", kind=UserKind.STAFF)
    # then seeding as them is refused, and nothing is created
    with pytest.raises(PermissionDenied):
        services.demo_government_seed(actor=caseworker, people=5, seed=1)
    assert not Agency.objects.filter(code="revenue").exists()
