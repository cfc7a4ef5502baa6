"""Preference data: record types, readers/writers for every common format, validation and statistics."""

from rewardlab.data.formats import FormatSpec, detect_spec, split_implicit
from rewardlab.data.io import iter_rows, write_records
from rewardlab.data.load import LoadResult, load_data, load_pairs
from rewardlab.data.schema import Battle, KSampleSet, PreferencePair, Record, text_of
from rewardlab.data.stats import data_stats

__all__ = [
    "Battle",
    "FormatSpec",
    "KSampleSet",
    "LoadResult",
    "PreferencePair",
    "Record",
    "data_stats",
    "detect_spec",
    "iter_rows",
    "load_data",
    "load_pairs",
    "split_implicit",
    "text_of",
    "write_records",
]
