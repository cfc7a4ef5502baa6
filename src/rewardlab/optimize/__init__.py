"""rewardlab.optimize: using a reward model to choose: pessimistic selection rules, best-of-n and KL-regularised
overoptimisation (Goodhart) curves on fixed candidate pools, Gao et al. fits (ALGORITHMS.md sections 2 and 4).

Pure numpy/scipy. :func:`pessimistic_scores` is the one pessimism function the scoring server and the RL adapters
use; the plots (`plot_goodhart`, matplotlib) are imported on first use.
"""

from rewardlab._entry import lazy_package
from rewardlab.optimize import curves, pessimism
from rewardlab.optimize.curves import *  # noqa: F403  (its __all__: the pool and curve functions)
from rewardlab.optimize.pessimism import *  # noqa: F403  (its __all__: the selection rules)

_lazy_names, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.optimize.plots": ("plot_goodhart",),
    "rewardlab.optimize.run": ("best_of_n", "run_goodhart", "as_pools"),
})
__all__ = sorted([*curves.__all__, *pessimism.__all__, *_lazy_names])
