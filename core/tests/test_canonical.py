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
        # late values that need escaping, or are not text or whole numbers
        {"a": 1, "created_at": 'say "hi" \\ é\n', "prev_hash": None, "seq": True},
        {"created_at": "\x00", "prev_hash": 1.5, "seq": [1, "2"], "z": {}},
    ],
)
def test_pieces_joined_with_the_late_values_are_the_whole_objects_canonical_json(values):
    # given an object's keys, three of which are known only later
    # when everything else is serialised first and the late values are put in afterwards
    joined = _split_and_joined(values)
    # then the text is exactly the whole object's canonical JSON, and parses back to it
    assert joined == canonical_text(values)
    assert json.loads(joined) == values


LATE = ("created_at", "prev_hash", "seq")


def _split_and_joined(values):
    split = SplitJson(values, late=LATE, dumps=canonical_text)
    pieces = split.pieces({k: v for k, v in values.items() if k not in LATE})
    return split.join(pieces, {name: values[name] for name in LATE})


@pytest.mark.parametrize(
    "decoy",
    [
        # a value holding the very text `pieces` cuts at: in a nested object ...
        {"inner": {"prev_hash": "\x00split-json\x00", "seq": "\x00split-json\x00"}},
        # ... in a string, before and after the late keys, and a key of its own
        {"aaa": '"seq":"\\u0000split-json\\u0000"', "zzz": "\x00split-json\x00"},
        {"\x00split-json\x00": "\x00split-json\x00", "created_at_": ["\x00split-json\x00"]},
    ],
)
def test_values_that_look_like_the_cut_do_not_change_the_text(decoy):
    # given an object whose other values contain the marker the pieces are cut at
    values = {"created_at": "t", "prev_hash": "h", "seq": 3, **decoy}
    # when it is serialised in pieces and joined
    joined = _split_and_joined(values)
    # then the text is still exactly the whole object's canonical JSON
    assert joined == canonical_text(values)
    assert json.loads(joined) == values
