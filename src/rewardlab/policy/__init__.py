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

from rewardlab._entry import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.policy.bow_rm": ("BowRewardModel",),
    "rewardlab.policy.compare": ("CompareResult", "CompareSpec", "compare_methods=run"),
    "rewardlab.policy.winrate": ("win_rate",),
    "rewardlab.policy.loop": ("OptimizeResult", "OptimizeSpec", "optimize_policy=run"),
    "rewardlab.policy.simpolicy": ("SimPolicy",),
    "rewardlab.policy.sft_data": ("SFTBuildResult", "SFTBuildSpec", "build_sft_data", "condition_prompt",
                                  "keep_top_prompts"),
})
