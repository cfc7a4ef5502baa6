"""OpenRLHF reward function file backed by a rewardlab reward model, in this process or on a rewardlab server.

OpenRLHF loads a .py file given as its remote reward URL (``--reward.remote_url /path/to/file.py`` since
OpenRLHF 0.10.2, ``--remote_rm_url`` before) and calls ``reward_func(queries, prompts, labels)``, one sample at a
time from several threads: the queries are prompt + decoded response, the prompts carry the *policy's* chat
template, and the response ends with the policy's stop token. It wants
``{"rewards": tensor, "scores": tensor, "extra_logs": {name: tensor}}``. Pass this file's path::

    REWARDLAB_MODEL=runs/demo/model  python -m openrlhf.cli.train_ppo_ray ... \\
        --reward.remote_url $(python -c "import rewardlab.integrations.openrlhf as m; print(m.__file__)")

Settings come from the environment (OpenRLHF passes no options): REWARDLAB_MODEL (a checkpoint, scored in the
trainer's process, loaded once and shared by the threads under a lock) or REWARDLAB_URL (a rewardlab server;
several replicas comma-separated; queries are sent in requests of at most 64), REWARDLAB_API_KEY,
REWARDLAB_SELECT (mean, lcb:k, quantile:q, min, uwo:lambda), REWARDLAB_DEVICE, REWARDLAB_POLICY_TEMPLATE (the
policy's chat template: auto, none, or a name from `rewardlab.chat_parse.TEMPLATE_NAMES`).

A query in the policy's chat template is parsed back into the prompt's messages and the response, the policy's
stop token removed, and rendered with the reward model's own RenderSpec (`rewardlab.chat_parse`). A query in no
known template: where the prompt starts it, the rest is the response; otherwise the query is scored as
already-rendered text (as OpenRLHF's serve_rm does). Pad tokens never reach the model.

OpenRLHF sends no Authorization header to an http reward URL: a rewardlab server it calls directly must run
without an api key (on loopback), or be reached through this file with REWARDLAB_URL and REWARDLAB_API_KEY.
"""

from __future__ import annotations

import os
import threading
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
from rewardlab.rules import parse_rule, pessimistic_scores

TEMPLATE_ENV = "REWARDLAB_POLICY_TEMPLATE"
CHUNK = 64  # queries per server request (a server refuses more than its max_items, 256 by default)

_lock = threading.Lock()  # OpenRLHF calls reward_func from threads: one model, one caller at a time
_item_scorers: dict[int, Any] = {}


def _item_scorer(scorer: Any) -> Any:
    from rewardlab.serve.engine import ItemScorer

    with _lock:
        if id(scorer) not in _item_scorers:
            _item_scorers[id(scorer)] = ItemScorer(scorer)
        return _item_scorers[id(scorer)]


def _local(path: str, queries: Sequence[str], prompts: Sequence[str] | None, rule: Any) -> dict[str, list[float]]:
    from rewardlab.serve.engine import split_queries

    scorer = shared_model_scorer(path, os.environ.get(DEVICE_ENV))
    items_scorer = _item_scorer(scorer)
    tokenizer = getattr(getattr(scorer, "loaded", None), "tokenizer", None)  # None for an ensemble folder
    items = split_queries(queries, prompts, tokenizer, os.environ.get(TEMPLATE_ENV) or "auto")
    with _lock:
        results = items_scorer.score_items(items)
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
        client = shared_client(where, os.environ.get(KEY_ENV) or None)
        rewards, logs = [], {}
        for at in range(0, len(queries), CHUNK):
            part = slice(at, at + CHUNK)
            body = {"query": queries[part], "prompts": list(prompts)[part] if prompts is not None else None,
                    "labels": list(labels)[part] if labels is not None else None, "select": rule.name}
            out = client.post("/get_reward", body)
            rewards += out["rewards"]
            for k, v in out.get("extra_logs", {}).items():
                logs.setdefault(k, []).extend(v)
    else:
        res = _local(where, queries, list(prompts) if prompts is not None else None, rule)
        rewards, logs = res.pop("rewards"), res
    r = torch.tensor(rewards, dtype=torch.float32)
    return {"rewards": r, "scores": r.clone(),
            "extra_logs": {k: torch.tensor(v, dtype=torch.float32) for k, v in logs.items()}}


__all__ = ["CHUNK", "TEMPLATE_ENV", "reward_func"]
