"""rewardlab.eval: evaluation runs: score datasets with any Scorer, compute `rewardlab.stats`, write metrics.json,
per-item scores and plots; length control of any scorer (`length_control`)."""

from rewardlab.eval.evaluate import compare_runs, evaluate
from rewardlab.eval.length_control import LengthControl, LengthControlSpec, cross_fit, fit_length_control

__all__ = ["LengthControl", "LengthControlSpec", "compare_runs", "cross_fit", "evaluate", "fit_length_control"]
