"""rewardlab.stats: pure statistics on arrays (numpy/scipy only), shared by train, eval and audit: bootstrap CIs,
calibration, pairwise and graded metrics, PPE math (ALGORITHMS.md section 3). A leaf: it imports no stage.

Names are imported on first use, so importing the package (or `rewardlab.stats.util`) loads no scipy.
"""

from rewardlab._entry import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.stats.bootstrap": ("bootstrap_ci", "bootstrap_mean_ci", "paired_bootstrap", "resample_indices"),
    "rewardlab.stats.calibration": ("brier_score", "fit_temperature", "pairwise_ece", "preference_nll",
                                    "reliability_diagram"),
    "rewardlab.stats.metrics": ("best_of_4_accuracy", "best_of_4_credit", "compare_models", "gold_agreement",
                                "graded_metrics", "length_baselines", "pairwise_metrics"),
    "rewardlab.stats.ppe": ("best_of_k_curve", "fit_bradley_terry", "oracle_best_of_k_curve",
                            "ppe_correctness_metrics", "ppe_preference_metrics"),
})
