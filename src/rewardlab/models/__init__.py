"""Reward models: backbones, pooling, heads (scalar, Gaussian, ensemble) and checkpoint I/O.

Names are imported on first use, so `rewardlab.models.export_stage` (the export command's spec) loads no torch.
"""

from rewardlab._entry import lazy_attributes

_MODULES = {
    "rewardlab.models.checkpoint": ("LoadedModel", "build_reward_model", "export_mean_only", "load",
                                    "save_checkpoint"),
    "rewardlab.models.reward_model": ("HeadSpec", "RewardModel"),
}
_LAZY = {name: (module, name) for module, names in _MODULES.items() for name in names}
__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)
