"""rewardlab.policy: using a reward model to improve a policy. Among its modules: AlpacaFarm's SFT-data methods
(best-of-n, expert iteration, binary FeedME, binary reward conditioning) as data builders for TRL's SFTTrainer
(`rewardlab data build`, :mod:`rewardlab.policy.sft_data`); the names below are those builders.

Names are imported on first use, so importing the package loads no numpy.
"""

from rewardlab._entry import lazy_attributes

_LAZY = {
    "SFTBuildResult": ("rewardlab.policy.sft_data", "SFTBuildResult"),
    "SFTBuildSpec": ("rewardlab.policy.sft_data", "SFTBuildSpec"),
    "build_sft_data": ("rewardlab.policy.sft_data", "build_sft_data"),
    "condition_prompt": ("rewardlab.policy.sft_data", "condition_prompt"),
    "keep_top_prompts": ("rewardlab.policy.sft_data", "keep_top_prompts"),
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)
