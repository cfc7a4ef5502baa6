"""Preference data: record types, readers/writers for every common format, validation and statistics.

Names are imported on first use (`from rewardlab.data import load_data` works as usual), so importing a light
module such as `rewardlab.data.spec` does not pull in numpy.
"""

from rewardlab._entry import lazy_package

_names, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.data.balance": ("BalanceSpec", "balance_pairs"),
    "rewardlab.data.formats": ("FormatSpec", "detect_spec", "split_implicit"),
    "rewardlab.data.io": ("iter_rows", "write_records"),
    "rewardlab.data.load": ("LoadResult", "load_data", "load_pairs"),
    "rewardlab.data.schema": ("Battle", "KSampleSet", "PreferencePair", "Record", "text_of"),
    "rewardlab.data.spec": ("DataSpec",),
    "rewardlab.data.stats": ("data_stats",),
})
__all__ = sorted(_names)
