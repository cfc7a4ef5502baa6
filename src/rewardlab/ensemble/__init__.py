"""rewardlab.ensemble: ensembles of whole reward models whose members differ in what they can see (backbone,
depth, LoRA or full fine-tuning, seed and data order), trained by `rewardlab train-ensemble` and saved as one folder
that `rewardlab.load_scorer` and every consumer (score, eval, bon, goodhart, optimize, serve, the adapters) load.

Names are imported on first use, so importing the package loads no numpy.
"""

from rewardlab._entry import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.ensemble.spec": ("EnsembleSpec",),
    "rewardlab.ensemble.run": ("EnsembleResult", "train_ensemble"),
})
