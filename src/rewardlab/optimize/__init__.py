"""rewardlab.optimize: using a reward model to choose: pessimistic selection rules, best-of-n and KL-regularised
overoptimisation (Goodhart) curves on fixed candidate pools, Gao et al. fits (ALGORITHMS.md sections 2 and 4).

Pure numpy/scipy. :func:`pessimistic_scores` is the one pessimism function the scoring server and the RL adapters
use; the plots (`plot_goodhart`, matplotlib) are imported on first use.
"""

from rewardlab._entry import lazy_attributes
from rewardlab.optimize.curves import (
    bon_expected,
    bon_kl,
    bon_kl_exact,
    fit_gao,
    goodhart_curves,
    log2_n_grid,
    tilted_policy,
)
from rewardlab.optimize.pessimism import RULE_FORMS, Rule, parse_rule, pessimistic_scores, select_best

__getattr__ = lazy_attributes(__name__, {
    "plot_goodhart": ("rewardlab.optimize.plots", "plot_goodhart"),
    "best_of_n": ("rewardlab.optimize.run", "best_of_n"),
    "run_goodhart": ("rewardlab.optimize.run", "run_goodhart"),
    "as_pools": ("rewardlab.optimize.run", "as_pools"),
})

__all__ = [
    "RULE_FORMS",
    "Rule",
    "as_pools",
    "best_of_n",
    "bon_expected",
    "bon_kl",
    "bon_kl_exact",
    "fit_gao",
    "goodhart_curves",
    "log2_n_grid",
    "parse_rule",
    "pessimistic_scores",
    "plot_goodhart",
    "run_goodhart",
    "select_best",
    "tilted_policy",
]
