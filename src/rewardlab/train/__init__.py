"""rewardlab.train: losses (a registry), collation, the Trainer-based engine and its config; counterfactual
augmentation of training pairs (`augment_pairs`, `AugmentSpec`).

Calling the package runs `rewardlab.train.trainer.train(cfg)`: `from rewardlab import train, TrainConfig; train(TrainConfig())`.
"""

from rewardlab._entry import lazy_attributes, make_callable

_LAZY = {
    "AugmentSpec": ("rewardlab.train.augment", "AugmentSpec"),
    "augment_pairs": ("rewardlab.train.augment", "augment_pairs"),
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)

make_callable(__name__, "rewardlab.train.trainer", "train")
