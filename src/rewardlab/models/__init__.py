"""Reward models: backbones, pooling, heads (scalar, Gaussian, ensemble) and checkpoint I/O."""

from rewardlab.models.checkpoint import (
           LoadedModel,
           build_reward_model,
           export_mean_only,
           load,
           save_checkpoint,
)
from rewardlab.models.reward_model import HeadSpec, RewardModel

__all__ = ["HeadSpec", "LoadedModel", "RewardModel", "build_reward_model", "export_mean_only", "load",
           "save_checkpoint"]
