"""rewardlab.eval: evaluation runs: score datasets with any Scorer, compute `rewardlab.stats`, write metrics.json,
per-item scores and plots; length control of any scorer (`length_control`).

Names are imported on first use, so the length-control spec (read by the command line) loads no torch.
"""

from rewardlab._entry import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.eval.evaluate": ("compare_runs", "evaluate"),
    "rewardlab.eval.length_control": ("LengthControl", "LengthControlSpec", "cross_fit", "fit_length_control"),
})
