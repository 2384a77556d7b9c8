"""The shipped agency mappings read what the synthetic agencies export; standardisation."""

from datetime import date
from pathlib import Path

import phonenumbers
import pytest

from demo.synth import Population
from registry import standardise
from registry.mapping import COMMON_FIELDS, map_row, mapping_parse, unmap_row

MAPPINGS = Path(__file__).resolve().parent.parent / "mappings"


@pytest.mark.parametrize("code", ["revenue", "health", "social-services", "transport"])
def test_shipped_mapping_reads_back_the_agencys_export(code):
    # given the agency's shipped mapping and its synthetic records written the agency's way
    spec = mapping_parse((MAPPINGS / f"{code}.yaml").read_text(encoding="utf-8"))
    records = [
        r
        for household in Population(people=300, seed=3).households()
        for r in household.records
        if r.agency == code and r.date_of_birth is not None
    ]
    assert records
    for record in records:
        values = {k: getattr(record, k) for k in (*COMMON_FIELDS, "agency_record_id")}
        row = unmap_row(spec, values, record.extra)
        # the export uses the agency's own column names, not ours
        assert "given_name" not in row and "agency_record_id" not in row
        # when read through the mapping
        mapped = map_row(spec, row)
        # then every field comes back as the agency held it, with no errors
        assert mapped.errors == []
        assert mapped.record_id == record.agency_record_id
        for name in ("given_name", "family_name", "date_of_birth", "postcode", "national_id"):
            assert mapped.values[name] == values[name], (code, name)
        assert mapped.values["sex"] == record.sex
        assert mapped.extra == {k: str(v) for k, v in record.extra.items()}


@pytest.mark.parametrize(
    "number",
    ["07700 900123", "07700-900-123", "+44 7700 900123", "(020) 7946 0018", "+1 415 555 2671"],
)
def test_phone_fast_path_agrees_with_phonenumbers(number):
    expected = phonenumbers.format_number(
        phonenumbers.parse(number, "GB"), phonenumbers.PhoneNumberFormat.E164
    )
    assert standardise.phone(number, "GB") == expected


@pytest.mark.parametrize(
    ("text", "formats", "expected"),
    [
        ("04-MAR-1980", ["%d-%b-%Y"], date(1980, 3, 4)),
        ("19800304", ["%Y%m%d"], date(1980, 3, 4)),
        ("4/3/1980", ["%d/%m/%Y"], date(1980, 3, 4)),
        ("01/02/35", ["%d/%m/%y"], date(1935, 2, 1)),
        ("1980-3-4", ["%Y-%m-%d"], date(1980, 3, 4)),
        ("", ["%Y-%m-%d"], None),
    ],
)
def test_dates_in_declared_formats(text, formats, expected):
    assert standardise.parse_date(text, formats) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("31/02/1980", "31/02/1980 is not a real date"),
        ("c. 1980", "'c. 1980' is not a date in any of the formats %d/%m/%Y"),
        ("01/01/2999", "01/01/2999 is in the future"),
    ],
)
def test_unreadable_dates_say_why(text, message):
    with pytest.raises(ValueError, match=message):
        standardise.parse_date(text, ["%d/%m/%Y"])
