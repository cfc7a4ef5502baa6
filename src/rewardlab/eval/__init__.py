"""rewardlab.eval: evaluation runs: score datasets with any Scorer, compute `rewardlab.stats`, write metrics.json,
per-item scores and plots."""

from rewardlab.eval.evaluate import compare_runs, evaluate

__all__ = ["compare_runs", "evaluate"]
