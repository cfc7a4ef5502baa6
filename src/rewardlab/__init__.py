"""rewardlab: the whole life of a reward model."""

__version__ = "0.1.0"
