"""rewardlab.train: losses (a registry), collation, the Trainer-based engine and its config.

Calling the package runs `rewardlab.train.trainer.train(cfg)`: `from rewardlab import train, TrainConfig; train(TrainConfig())`.
"""

from rewardlab._entry import make_callable

make_callable(__name__, "rewardlab.train.trainer", "train")
