"""rewardlab.optimize: using a reward model to choose: pessimistic selection rules, best-of-n and KL-regularised
overoptimisation (Goodhart) curves on fixed candidate pools, Gao et al. fits (ALGORITHMS.md sections 2 and 4).

Pure numpy/scipy. :func:`pessimistic_scores` is the one pessimism function the scoring server and the RL adapters
use. Every name is imported on first use, so importing the package (as the command line does) loads no scipy.
"""

from rewardlab._entry import lazy_package

_lazy_names, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.optimize.curves": ("bon_expected", "bon_kl", "bon_kl_exact", "fit_gao", "goodhart_curves",
                                  "log2_n_grid", "tilted_policy"),
    "rewardlab.rules": ("RULE_FORMS", "Rule", "parse_rule", "pessimistic_scores", "select_best"),
    "rewardlab.optimize.plots": ("plot_goodhart",),
    "rewardlab.optimize.run": ("best_of_n", "run_goodhart", "as_pools"),
})
__all__ = sorted(_lazy_names)
