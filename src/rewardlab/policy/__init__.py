"""rewardlab.policy: using a reward model to improve a policy. Among its modules: AlpacaFarm's SFT-data methods
(best-of-n, expert iteration, binary FeedME, binary reward conditioning) as data builders for TRL's SFTTrainer
(`rewardlab data build`, :mod:`rewardlab.policy.sft_data`); a simulator policy over the simulator's response
attributes (:mod:`rewardlab.policy.simpolicy`) and the loop that optimises it against a reward model with the gold
quality beside the proxy (`rewardlab optimize`, :mod:`rewardlab.policy.loop`), its rewards
(:mod:`rewardlab.policy.rewards`, :mod:`rewardlab.policy.bow_rm`), the exact gold win rate
(:mod:`rewardlab.policy.winrate`) and AlpacaFarm's method comparison (`rewardlab compare-methods`,
:mod:`rewardlab.policy.compare`). The names below: the builders, the policy, the loop and the comparison.

Names are imported on first use, so importing the package loads no numpy.
"""

from rewardlab._entry import lazy_attributes

_LAZY = {
    "BowRewardModel": ("rewardlab.policy.bow_rm", "BowRewardModel"),
    "CompareResult": ("rewardlab.policy.compare", "CompareResult"),
    "CompareSpec": ("rewardlab.policy.compare", "CompareSpec"),
    "compare_methods": ("rewardlab.policy.compare", "run"),
    "win_rate": ("rewardlab.policy.winrate", "win_rate"),
    "OptimizeResult": ("rewardlab.policy.loop", "OptimizeResult"),
    "OptimizeSpec": ("rewardlab.policy.loop", "OptimizeSpec"),
    "SimPolicy": ("rewardlab.policy.simpolicy", "SimPolicy"),
    "optimize_policy": ("rewardlab.policy.loop", "run"),
    "SFTBuildResult": ("rewardlab.policy.sft_data", "SFTBuildResult"),
    "SFTBuildSpec": ("rewardlab.policy.sft_data", "SFTBuildSpec"),
    "build_sft_data": ("rewardlab.policy.sft_data", "build_sft_data"),
    "condition_prompt": ("rewardlab.policy.sft_data", "condition_prompt"),
    "keep_top_prompts": ("rewardlab.policy.sft_data", "keep_top_prompts"),
}
__all__ = sorted(_LAZY)
__getattr__ = lazy_attributes(__name__, _LAZY)
