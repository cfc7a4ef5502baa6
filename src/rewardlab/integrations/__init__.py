"""Reward functions for RL trainers, backed by a rewardlab reward model in-process or by a rewardlab server:

- `rewardlab.integrations.trl`: `RewardFunction` / `AsyncRewardFunction` for TRL's GRPOTrainer(reward_funcs=...);
- `rewardlab.integrations.verl`: `compute_score` (and `compute_score_async`) for verl's custom_reward_function;
- `rewardlab.integrations.openrlhf`: `reward_func`, a file to pass as OpenRLHF's --remote_rm_url.

Every one renders text with the reward model's own RenderSpec (never the policy's tokenizer) and offers the
pessimistic selection rules of `rewardlab.rules` (mean, lcb:k, quantile:q, min, uwo:lambda).
"""

from __future__ import annotations

from rewardlab._entry import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.integrations.trl": ("RewardFunction", "AsyncRewardFunction"),
    "rewardlab.integrations.verl": ("compute_score", "compute_score_async"),
    "rewardlab.integrations.openrlhf": ("reward_func",),
})
