"""Preference data: record types, readers/writers for every common format, validation and statistics.

Names are imported on first use (`from rewardlab.data import load_data` works as usual), so importing a light
module such as `rewardlab.data.spec` does not pull in numpy.
"""

from rewardlab._entry import lazy_attributes

_LAZY = {
    "BalanceSpec": ("rewardlab.data.balance", "BalanceSpec"),
    "Battle": ("rewardlab.data.schema", "Battle"),
    "DataSpec": ("rewardlab.data.spec", "DataSpec"),
    "balance_pairs": ("rewardlab.data.balance", "balance_pairs"),
    "FormatSpec": ("rewardlab.data.formats", "FormatSpec"),
    "KSampleSet": ("rewardlab.data.schema", "KSampleSet"),
    "LoadResult": ("rewardlab.data.load", "LoadResult"),
    "PreferencePair": ("rewardlab.data.schema", "PreferencePair"),
    "Record": ("rewardlab.data.schema", "Record"),
    "data_stats": ("rewardlab.data.stats", "data_stats"),
    "detect_spec": ("rewardlab.data.formats", "detect_spec"),
    "iter_rows": ("rewardlab.data.io", "iter_rows"),
    "load_data": ("rewardlab.data.load", "load_data"),
    "load_pairs": ("rewardlab.data.load", "load_pairs"),
    "split_implicit": ("rewardlab.data.formats", "split_implicit"),
    "text_of": ("rewardlab.data.schema", "text_of"),
    "write_records": ("rewardlab.data.io", "write_records"),
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)
