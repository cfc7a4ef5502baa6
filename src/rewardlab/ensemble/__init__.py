"""rewardlab.ensemble: ensembles of whole reward models whose members differ in what they can see (backbone,
depth, LoRA or full fine-tuning, seed and data order), trained by `rewardlab train-ensemble` and saved as one folder
that `rewardlab.load_scorer` and every consumer (score, eval, bon, goodhart, optimize, serve, the adapters) load.

Names are imported on first use, so importing the package loads no numpy.
"""

from rewardlab._entry import lazy_attributes

_LAZY = {
    "EnsembleSpec": ("rewardlab.ensemble.spec", "EnsembleSpec"),
    "EnsembleResult": ("rewardlab.ensemble.run", "EnsembleResult"),
    "train_ensemble": ("rewardlab.ensemble.run", "train_ensemble"),
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)
