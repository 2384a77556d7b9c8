"""SplitJson: an object serialised in pieces ahead, joined later, is its canonical JSON."""

import json

import pytest

from core.canonical import SplitJson
from core.signing import canonical_text


@pytest.mark.parametrize(
    "values",
    [
        # late keys first, in the middle and last in sorted order; runs left empty between
        {"a": 1, "created_at": "x", "m": [1, {"z": 2, "b": None}], "prev_hash": "h", "seq": 9},
        {"created_at": "x", "prev_hash": "h", "seq": 0},
        {"zz": "é — naïve", "aa": 1.5, "created_at": "x", "prev_hash": "h", "seq": 12345},
        {"prev_hash": "", "seq": 1, "created_at": "2026-11-29T21:00:00.000001+00:00", "t": True},
    ],
)
def test_pieces_joined_with_the_late_values_are_the_whole_objects_canonical_json(values):
    # given an object's keys, three of which are known only later
    late_names = ("created_at", "prev_hash", "seq")
    split = SplitJson(values, late=late_names, dumps=canonical_text)
    # when everything else is serialised first and the late values are put in afterwards
    pieces = split.pieces({k: v for k, v in values.items() if k not in late_names})
    joined = split.join(pieces, {name: values[name] for name in late_names})
    # then the text is exactly the whole object's canonical JSON, and parses back to it
    assert joined == canonical_text(values)
    assert json.loads(joined) == values
