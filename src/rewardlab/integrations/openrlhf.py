"""OpenRLHF reward function file backed by a rewardlab reward model, in this process or on a rewardlab server.

OpenRLHF loads a .py file given as ``--remote_rm_url /path/to/file.py`` and calls
``reward_func(queries, prompts, labels)`` with the batch's prompt + response texts, their prompts and labels; it
wants ``{"rewards": tensor, "scores": tensor, "extra_logs": {name: tensor}}``. Pass this file's path::

    REWARDLAB_MODEL=runs/demo/model  python -m openrlhf.cli.train_ppo_ray ... \\
        --remote_rm_url $(python -c "import rewardlab.integrations.openrlhf as m; print(m.__file__)")

Settings come from the environment (OpenRLHF passes no options): REWARDLAB_MODEL (a checkpoint, scored in the
trainer's process) or REWARDLAB_URL (a rewardlab server; several replicas comma-separated), REWARDLAB_API_KEY,
REWARDLAB_SELECT (mean, lcb:k, quantile:q, min, uwo:lambda), REWARDLAB_DEVICE. Where a prompt starts its query,
the rest is the response and the reward model's RenderSpec renders both; otherwise the query is scored as
already-rendered text (as OpenRLHF's serve_rm does). Pad tokens never reach the model.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.integrations._source import (
    DEVICE_ENV,
    KEY_ENV,
    SELECT_ENV,
    env_source,
    shared_client,
    shared_model_scorer,
)
from rewardlab.optimize.pessimism import parse_rule, pessimistic_scores

_item_scorers: dict[int, Any] = {}


def _local(path: str, queries: Sequence[str], prompts: Sequence[str] | None, rule: Any) -> dict[str, list[float]]:
    from rewardlab.serve.engine import ItemScorer, split_queries

    scorer = shared_model_scorer(path, os.environ.get(DEVICE_ENV))
    items_scorer = _item_scorers.setdefault(id(scorer), ItemScorer(scorer))
    results = items_scorer.score_items(split_queries(queries, prompts, scorer.loaded.tokenizer))
    bad = [(i, r.error) for i, r in enumerate(results) if not r.ok]
    if bad:
        raise RewardlabError("; ".join(f"query[{i}]: {e}" for i, e in bad[:5]))
    mean = np.array([r.reward for r in results], dtype=float)
    std = None if any(r.std is None for r in results) else np.array([r.std for r in results])
    members = None if any(r.members is None for r in results) else np.array([r.members for r in results])
    logs: dict[str, list[float]] = {"reward_mean": mean.tolist()}
    if std is not None:
        logs["reward_std"] = std.tolist()
    rewards = pessimistic_scores(rule, mean, std=std, members=members).tolist()
    return {"rewards": rewards, **logs}


def reward_func(queries: Sequence[str], prompts: Sequence[str] | None = None, labels: Sequence[Any] | None = None,
                **kwargs: Any) -> dict[str, Any]:
    """Rewards of OpenRLHF's queries (prompt + response texts), as OpenRLHF's reward-function files return them.

    Args:
        queries: prompt + response texts.
        prompts: their prompts (each ideally a prefix of its query), or None.
        labels: the dataset labels (unused: a reward model needs no reference).
        **kwargs: anything else OpenRLHF passes (ignored).

    Returns:
        dict: {"rewards": tensor [N], "scores": tensor [N], "extra_logs": {"reward_mean": tensor, "reward_std"?}}.

    Raises:
        RewardlabError: neither REWARDLAB_MODEL nor REWARDLAB_URL is set, or an item could not be scored.

    Example:
        >>> import os
        >>> from rewardlab.integrations.openrlhf import reward_func
        >>> os.environ["REWARDLAB_URL"] = "http://127.0.0.1:8600"  # doctest: +SKIP
        >>> reward_func(["What is 2+2? 4"], ["What is 2+2?"], ["4"])["rewards"]  # doctest: +SKIP
        tensor([1.4345])
    """
    import torch

    queries = list(queries)
    if prompts is not None and len(prompts) != len(queries):
        raise RewardlabError(f"{len(prompts)} prompts for {len(queries)} queries")
    rule = parse_rule(os.environ.get(SELECT_ENV) or "mean")
    if not queries:
        empty = torch.zeros(0)
        return {"rewards": empty, "scores": empty, "extra_logs": {}}
    kind, where = env_source()
    if kind == "url":
        body = {"query": queries, "prompts": list(prompts) if prompts is not None else None,
                "labels": list(labels) if labels is not None else None, "select": rule.name}
        out = shared_client(where, os.environ.get(KEY_ENV) or None).post("/get_reward", body)
        rewards, logs = out["rewards"], out.get("extra_logs", {})
    else:
        res = _local(where, queries, list(prompts) if prompts is not None else None, rule)
        rewards, logs = res.pop("rewards"), res
    r = torch.tensor(rewards, dtype=torch.float32)
    return {"rewards": r, "scores": r.clone(),
            "extra_logs": {k: torch.tensor(v, dtype=torch.float32) for k, v in logs.items()}}


__all__ = ["reward_func"]
