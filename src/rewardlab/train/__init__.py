"""rewardlab.train: losses (a registry), collation, the Trainer-based engine and its config; counterfactual
augmentation of training pairs (`augment_pairs`, `AugmentSpec`).

Calling the package runs `rewardlab.train.trainer.train(cfg)`: `from rewardlab import train, TrainConfig; train(TrainConfig())`.
"""

from rewardlab._entry import lazy_package, make_callable

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.train.augment": ("AugmentSpec", "augment_pairs"),
})

make_callable(__name__, "rewardlab.train.trainer", "train")
