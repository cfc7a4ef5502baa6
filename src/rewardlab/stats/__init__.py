"""rewardlab.stats: pure statistics on arrays (numpy/scipy only), shared by train, eval and audit: bootstrap CIs,
calibration, pairwise and graded metrics, PPE math (ALGORITHMS.md section 3). A leaf: it imports no stage."""

from rewardlab.stats.bootstrap import bootstrap_ci, bootstrap_mean_ci, paired_bootstrap, resample_indices
from rewardlab.stats.calibration import (
    brier_score,
    fit_temperature,
    pairwise_ece,
    preference_nll,
    reliability_diagram,
)
from rewardlab.stats.metrics import (
    best_of_4_accuracy,
    best_of_4_credit,
    compare_models,
    gold_agreement,
    graded_metrics,
    length_baselines,
    pairwise_metrics,
)
from rewardlab.stats.ppe import (
    best_of_k_curve,
    fit_bradley_terry,
    oracle_best_of_k_curve,
    ppe_correctness_metrics,
    ppe_preference_metrics,
)

__all__ = [
    "best_of_4_accuracy",
    "best_of_4_credit",
    "best_of_k_curve",
    "bootstrap_ci",
    "bootstrap_mean_ci",
    "brier_score",
    "compare_models",
    "fit_bradley_terry",
    "fit_temperature",
    "gold_agreement",
    "graded_metrics",
    "length_baselines",
    "oracle_best_of_k_curve",
    "paired_bootstrap",
    "pairwise_ece",
    "pairwise_metrics",
    "ppe_correctness_metrics",
    "ppe_preference_metrics",
    "preference_nll",
    "reliability_diagram",
    "resample_indices",
]
