"""The four agencies' source systems: who they hold, how stale, how careful, how formatted.

The rates here are per record; docs/demo.md lists what they produce.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class AgencyProfile:
    """How one agency's source system sees the population. Rates are per record."""

    code: str
    name: str
    record_prefix: str
    min_age: int  # people younger than this are held at `child_coverage`
    coverage: float
    child_coverage: float
    staleness_years: float  # records were last updated up to this long ago
    typo: float  # per name field
    nickname: float  # when the given name has a short form
    spelling: float  # when the name has a variant spelling
    middle_initial: float
    middle_dropped: float
    family_partial: float  # double-barrelled name cut to its first part
    previous_name: float  # keeps the pre-marriage name once it knows of the change
    dob_missing: float
    dob_unparseable: float
    dob_defaulted: float
    dob_swapped: float
    dob_typo: float
    sex_missing: float
    postcode_typo: float
    national_id_missing: float
    national_id_mistyped: float
    duplicate: float
    holds_phone: float
    holds_email: float
    household_based: bool = False  # takes on whole households rather than people
    household_refs: bool = False
    uppercase: bool = False
    abbreviates_streets: bool = False
    compact_postcodes: bool = False
    international_phones: bool = False


AGENCIES: tuple[AgencyProfile, ...] = (
    AgencyProfile(
        code="revenue",
        name="Revenue Agency",
        record_prefix="RV",
        min_age=18,
        coverage=0.85,
        child_coverage=0.0,
        staleness_years=2,
        typo=0.01,
        nickname=0.02,
        spelling=0.02,
        middle_initial=0.15,
        middle_dropped=0.05,
        family_partial=0.2,
        previous_name=0.7,
        dob_missing=0.002,
        dob_unparseable=0.0,
        dob_defaulted=0.0,
        dob_swapped=0.005,
        dob_typo=0.004,
        sex_missing=0.002,
        postcode_typo=0.005,
        national_id_missing=0.02,
        national_id_mistyped=0.01,
        duplicate=0.01,
        holds_phone=0.6,
        holds_email=0.7,
        abbreviates_streets=True,
    ),
    AgencyProfile(
        code="health",
        name="Health Service",
        record_prefix="HS",
        min_age=0,
        coverage=0.95,
        child_coverage=0.97,
        staleness_years=6,
        typo=0.025,
        nickname=0.08,
        spelling=0.05,
        middle_initial=0.3,
        middle_dropped=0.2,
        family_partial=0.3,
        previous_name=0.3,
        dob_missing=0.003,
        dob_unparseable=0.002,
        dob_defaulted=0.002,
        dob_swapped=0.01,
        dob_typo=0.006,
        sex_missing=0.005,
        postcode_typo=0.01,
        national_id_missing=0.15,
        national_id_mistyped=0.02,
        duplicate=0.03,
        holds_phone=0.9,
        holds_email=0.4,
        compact_postcodes=True,
    ),
    AgencyProfile(
        code="social-services",
        name="Social Services",
        record_prefix="SS",
        min_age=0,
        coverage=0.30,
        child_coverage=0.30,
        staleness_years=3,
        typo=0.03,
        nickname=0.12,
        spelling=0.08,
        middle_initial=0.05,
        middle_dropped=0.65,
        family_partial=0.4,
        previous_name=0.3,
        dob_missing=0.01,
        dob_unparseable=0.006,
        dob_defaulted=0.004,
        dob_swapped=0.02,
        dob_typo=0.01,
        sex_missing=0.01,
        postcode_typo=0.015,
        national_id_missing=0.08,
        national_id_mistyped=0.025,
        duplicate=0.04,
        holds_phone=0.8,
        holds_email=0.3,
        household_based=True,
        household_refs=True,
        international_phones=True,
    ),
    AgencyProfile(
        code="transport",
        name="Transport Agency",
        record_prefix="TR",
        min_age=17,
        coverage=0.60,
        child_coverage=0.0,
        staleness_years=10,
        typo=0.015,
        nickname=0.01,
        spelling=0.02,
        middle_initial=0.02,
        middle_dropped=0.03,
        family_partial=0.1,
        previous_name=0.2,
        dob_missing=0.001,
        dob_unparseable=0.0,
        dob_defaulted=0.0,
        dob_swapped=0.003,
        dob_typo=0.003,
        sex_missing=0.001,
        postcode_typo=0.008,
        national_id_missing=0.05,
        national_id_mistyped=0.015,
        duplicate=0.005,
        holds_phone=0.5,
        holds_email=0.5,
        uppercase=True,
    ),
)
AGENCY_BY_CODE = {profile.code: profile for profile in AGENCIES}
