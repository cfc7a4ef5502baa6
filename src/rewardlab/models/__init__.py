"""Reward models: backbones, pooling, heads (scalar, Gaussian, ensemble) and checkpoint I/O.

Names are imported on first use, so `rewardlab.models.export_stage` (the export command's spec) loads no torch.
"""

from rewardlab._entry import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.models.checkpoint": ("LoadedModel", "build_reward_model", "export_mean_only", "load", "save_checkpoint"),
    "rewardlab.models.reward_model": ("HeadSpec", "RewardModel"),
})
