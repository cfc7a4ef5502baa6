"""verl custom reward function backed by a rewardlab server.

verl calls ``compute_score(data_source, solution_str, ground_truth, extra_info=None, **reward_kwargs)`` once per
sample (the reward loop awaits it when it is a coroutine function) and accepts a float or a dict with "score".
The reward model needs the prompt the policy saw, and verl passes a custom reward function only the dataset's
`extra_info` (its `raw_prompt` column is never in there). Write the prompt into `extra_info` as "prompt" when
you build the dataset: the exact text or chat messages the policy was given. A "question" field is read only
when there is no "prompt", and is often not what the policy saw (verl's gsm8k example stores the bare question,
without the instruction appended to it in the prompt); a warning says so once. The response (`solution_str`) and
the prompt are rendered by the reward model's own RenderSpec on the server.

Configure it in verl's config (``reward.custom_reward_function``, formerly top-level ``custom_reward_function``)::

    custom_reward_function:
      path: /path/to/site-packages/rewardlab/integrations/verl.py
      name: compute_score            # or compute_score_async
      reward_kwargs: {url: "http://127.0.0.1:8600", select: "lcb:1"}

or through the environment: REWARDLAB_URL (several replicas: comma-separated), REWARDLAB_API_KEY,
REWARDLAB_SELECT.

verl's own reward-model path calls only reward servers that verl launches itself (its reward-model workers).
The server's ``/classify`` speaks vLLM's request and answer shapes, but pointing verl's reward model config at an
external rewardlab server is not something verl supports as is: use this function.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from typing import Any

from rewardlab.errors import RewardlabError
from rewardlab.integrations._source import KEY_ENV, SELECT_ENV, URL_ENV, shared_client
from rewardlab.rules import parse_rule, pessimistic_scores

PROMPT_KEYS = ("prompt", "question")

logger = logging.getLogger(__name__)

_async_lock = threading.Lock()
_async_clients: weakref.WeakKeyDictionary[Any, dict[tuple[str, str | None], Any]] = weakref.WeakKeyDictionary()


def _settings(url: str | None, api_key: str | None, select: str | None) -> tuple[str, str | None, Any]:
    url = url or os.environ.get(URL_ENV)
    if not url:
        raise RewardlabError(f"rewardlab compute_score needs the server: reward_kwargs url=... or {URL_ENV}")
    return url, api_key or os.environ.get(KEY_ENV) or None, parse_rule(select or os.environ.get(SELECT_ENV) or "mean")


_warned: set[str] = set()


def _prompt(extra_info: Any) -> Any:
    if isinstance(extra_info, dict):
        for key in PROMPT_KEYS:
            value = extra_info.get(key)
            if value is not None and hasattr(value, "tolist"):  # numpy arrays of messages from parquet
                value = list(value.tolist())
            if isinstance(value, str) or (isinstance(value, list) and value and isinstance(value[0], dict)):
                if key != "prompt" and key not in _warned:
                    _warned.add(key)
                    logger.warning("rewardlab compute_score: no extra_info['prompt']; scoring against "
                                   "extra_info[%r], which may lack what the policy saw (an instruction, a "
                                   "system prompt). Put the policy's prompt in extra_info['prompt'].", key)
                return value
    raise RewardlabError("rewardlab compute_score needs the prompt: add it to the dataset's extra_info as 'prompt' "
                         f"(a string or chat messages); got extra_info keys {sorted(extra_info or {})}")


def _result(result: dict[str, Any], rule: Any, details: bool) -> float | dict[str, Any]:
    if "error" in result:
        raise RewardlabError(f"the reward server could not score this sample: {result['error']}")
    std, members = result.get("std"), result.get("members")
    score = float(pessimistic_scores(rule, [result["reward"]], std=None if std is None else [std],
                                     members=None if members is None else [members])[0])
    if not details:
        return score
    return {"score": score, "rm_mean": float(result["reward"]), "rm_std": float(std) if std is not None else 0.0}


def compute_score(data_source: str, solution_str: str, ground_truth: Any, extra_info: dict[str, Any] | None = None,
                  *, url: str | None = None, api_key: str | None = None, select: str | None = None,
                  details: bool = False, **kwargs: Any) -> float | dict[str, Any]:
    """The reward of one verl sample from a rewardlab server.

    Args:
        data_source: the sample's data source (unused: one reward model scores every source).
        solution_str: the policy's response.
        ground_truth: unused (a reward model needs no reference).
        extra_info: the dataset's extra_info; must hold the prompt as 'prompt' (or 'question').
        url: the server (default: REWARDLAB_URL); several replicas comma-separated.
        api_key: its api key (default: REWARDLAB_API_KEY).
        select: the selection rule (default: REWARDLAB_SELECT, else 'mean').
        details: return {"score", "rm_mean", "rm_std"} (verl logs the extra keys) instead of a float.
        **kwargs: other keyword arguments verl passes (ignored).

    Returns:
        float | dict: the (pessimistic) reward, or the dict with details.

    Raises:
        RewardlabError: no server configured, no prompt in extra_info, or the server could not score it.

    Example:
        >>> from rewardlab.integrations.verl import compute_score
        >>> compute_score("gsm8k", "4", "4", {"prompt": "What is 2+2?"}, url="http://127.0.0.1:8600")  # doctest: +SKIP
        1.43
    """
    url, key, rule = _settings(url, api_key, select)
    item = {"prompt": _prompt(extra_info), "response": solution_str}
    return _result(shared_client(url, key).rewards([item])[0], rule, details)


async def compute_score_async(data_source: str, solution_str: str, ground_truth: Any,
                              extra_info: dict[str, Any] | None = None, *, url: str | None = None,
                              api_key: str | None = None, select: str | None = None, details: bool = False,
                              **kwargs: Any) -> float | dict[str, Any]:
    """`compute_score` as a coroutine (verl's reward loop awaits it, so many samples are in flight at once).

    Example:
        >>> import asyncio
        >>> from rewardlab.integrations.verl import compute_score_async
        >>> asyncio.run(compute_score_async("gsm8k", "4", "4", {"prompt": "2+2?"}, url="http://127.0.0.1:8600"))  # doctest: +SKIP
        1.43
    """
    from rewardlab.scoring.client import AsyncRewardClient

    url, key, rule = _settings(url, api_key, select)
    item = {"prompt": _prompt(extra_info), "response": solution_str}
    loop = asyncio.get_running_loop()
    with _async_lock:
        per_loop = _async_clients.setdefault(loop, {})
        client = per_loop.get((url, key))
        if client is None:
            client = per_loop[(url, key)] = AsyncRewardClient(url, key)
    return _result((await client.rewards([item]))[0], rule, details)


__all__ = ["compute_score", "compute_score_async"]
