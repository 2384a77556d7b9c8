"""Mistyped national IDs are found through blind indexes of their one-edit keys."""

import pandas as pd
import pytest

from registry.linkage.frame import records_frame
from registry.models import SourceRecord
from registry.tests.factories import SourceRecordFactory

pytestmark = pytest.mark.django_db


def _keys(record):
    return set(SourceRecord.objects.get(pk=record.pk).national_id_near.split())


def test_records_one_typo_apart_share_an_opaque_key_and_strangers_do_not():
    # given three records: an ID, the same with two digits swapped, and another ID
    original = SourceRecordFactory(national_id="417380412")
    swapped = SourceRecordFactory(national_id="417830412")
    other = SourceRecordFactory(national_id="952261730")
    # then the stored keys are HMACs (the ID is nowhere in them), shared by the first two
    assert all("4173" not in key for key in _keys(original))
    assert _keys(original) & _keys(swapped)
    assert not _keys(original) & _keys(other)


def test_the_linkage_frame_reads_the_keys_from_the_database():
    SourceRecordFactory(national_id="417380412")
    SourceRecordFactory(national_id="")
    frame = records_frame().set_index("unique_id")
    with_id, without = frame.iloc[0], frame.iloc[1]
    assert with_id["national_id_head"] and with_id["national_id_near"]
    assert pd.isna(without["national_id_near"])  # no keys: IDs compare for equality only
