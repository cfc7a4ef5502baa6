"""rewardlab.eval: evaluation runs: score datasets with any Scorer, compute `rewardlab.stats`, write metrics.json,
per-item scores and plots; length control of any scorer (`length_control`).

Names are imported on first use, so the length-control spec (read by the command line) loads no torch.
"""

from rewardlab._entry import lazy_attributes

_LAZY = {
    "compare_runs": ("rewardlab.eval.evaluate", "compare_runs"),
    "evaluate": ("rewardlab.eval.evaluate", "evaluate"),
    "LengthControl": ("rewardlab.eval.length_control", "LengthControl"),
    "LengthControlSpec": ("rewardlab.eval.length_control", "LengthControlSpec"),
    "cross_fit": ("rewardlab.eval.length_control", "cross_fit"),
    "fit_length_control": ("rewardlab.eval.length_control", "fit_length_control"),
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)
