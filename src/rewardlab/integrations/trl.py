"""TRL GRPO reward functions backed by a rewardlab reward model, in this process or on a rewardlab server.

TRL calls each of `GRPOTrainer(reward_funcs=[...])` as
``f(prompts=..., completions=..., completion_ids=..., trainer_state=..., log_extra=..., log_metric=..., **columns)``
and wants one float per completion; an `async def __call__` runs concurrently with the other async reward
functions. Prompts and completions are strings, or message lists in conversational datasets
(completions ``[{"role": "assistant", "content": ...}]``). They are rendered with the reward model's RenderSpec:
`completion_ids` (the policy's tokens) are never used, so the reward model sees the text it was trained on.

A selection rule turns uncertainty into pessimism: 'mean', 'lcb:k', 'quantile:q', 'min' or 'uwo:lambda' (by
`rewardlab.rules.pessimistic_scores`). With a std, the mean std of each batch is logged as the
metric `rewardlab/reward_std` and the per-completion std as the column `rm_std` of TRL's completions table.

Example:
    >>> from trl import GRPOConfig, GRPOTrainer  # doctest: +SKIP
    >>> from rewardlab.integrations.trl import RewardFunction
    >>> reward = RewardFunction("runs/demo/model", select="lcb:1")  # doctest: +SKIP
    >>> reward = RewardFunction("http://127.0.0.1:8600", api_key="secret")  # doctest: +SKIP
    >>> trainer = GRPOTrainer(model=policy, reward_funcs=reward, args=GRPOConfig(...), train_dataset=ds)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.integrations._source import in_process_scorer, is_url
from rewardlab.rules import parse_rule, pessimistic_scores
from rewardlab.scoring.output import RewardOutput

logger = logging.getLogger(__name__)


def _texts(prompts: Sequence[Any], completions: Sequence[Any]) -> tuple[list[Any], list[Any]]:
    if len(prompts) != len(completions):
        raise RewardlabError(f"{len(prompts)} prompts but {len(completions)} completions")
    return list(prompts), list(completions)


class _Base:
    def __init__(self, source: Any, select: str, api_key: str | None, device: str | None, name: str,
                 client_options: dict[str, Any]):
        self.rule = parse_rule(select)
        self.select = self.rule.name
        self.__name__ = name
        self.api_key = api_key
        self.urls = source if is_url(source) else None
        self.client_options = client_options
        self.scorer = None if self.urls is not None else in_process_scorer(source, device)

    def _finish(self, out: RewardOutput, kwargs: dict[str, Any]) -> list[float]:
        values = pessimistic_scores(self.rule, out.mean, std=out.std, members=out.members)
        if out.std is not None:
            log_metric, log_extra = kwargs.get("log_metric"), kwargs.get("log_extra")
            if callable(log_metric):
                log_metric("rewardlab/reward_std", float(np.mean(out.std)))
            if callable(log_extra):
                log_extra("rm_std", [float(s) for s in out.std])
        return [float(v) for v in values]


class RewardFunction(_Base):
    """A synchronous TRL reward function: `reward(prompts, completions, completion_ids=None, **kwargs)`.

    Args:
        source: a rewardlab server ('http://host:8600', several as a list or comma-separated), a checkpoint path,
            a LoadedModel (`rewardlab.load(...)`), a ModelScorer or any Scorer.
        select: the selection rule applied to every reward (default 'mean').
        api_key: the server's api key (servers only).
        device: where a checkpoint path is loaded (default: cuda when available).
        name: the name TRL logs the rewards under (`rewards/<name>/mean`).
        **client_options: RewardClient options (batch_size, timeout, retries, ...) for servers.

    Raises:
        ValueError: an unknown selection rule.
        RewardlabError: a source that is neither a server nor a model.

    Example:
        >>> from rewardlab.scoring import CallableScorer
        >>> from rewardlab.integrations.trl import RewardFunction
        >>> reward = RewardFunction(CallableScorer(lambda prompt, response: len(response)), name="length")
        >>> reward(prompts=["2+2?", "2+2?"], completions=["4", "four"], completion_ids=[[1], [2, 3]])
        [1.0, 4.0]
    """

    def __init__(self, source: Any, *, select: str = "mean", api_key: str | None = None, device: str | None = None,
                 name: str = "rewardlab", **client_options: Any):
        super().__init__(source, select, api_key, device, name, client_options)
        self._client: Any = None

    def score(self, prompts: Sequence[Any], completions: Sequence[Any]) -> RewardOutput:
        """The rewards (mean, std, members) of the completions, before the selection rule."""
        p, c = _texts(prompts, completions)
        if self.scorer is not None:
            return self.scorer.score(p, c, progress=False)
        if self._client is None:
            from rewardlab.scoring.client import RewardClient

            self._client = RewardClient(self.urls, self.api_key, **self.client_options)
        return self._client.score(p, c)

    def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                 **kwargs: Any) -> list[float]:
        """One reward per completion, in order (see the class docstring)."""
        return self._finish(self.score(prompts, completions), kwargs)


async def _trl_call(prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                    **kwargs: Any) -> list[float]:
    """The call TRL makes to a reward function. Only its code object is used: `mark_coroutine_function` copies it
    onto AsyncRewardFunction so that TRL's coroutine checks see an `async def`; the instance's own `__call__`
    runs, never this body."""
    raise RuntimeError("_trl_call lends its signature to AsyncRewardFunction; call the AsyncRewardFunction instead")


def mark_coroutine_function(obj: Any) -> Any:
    """Make `inspect.iscoroutinefunction(obj)` and `asyncio.iscoroutinefunction(obj)` true for an object whose
    `__call__` is `async def`, on every Python this project supports, and return it.

    TRL's GRPOTrainer tells async reward functions apart with those checks on the function object itself (0.29:
    `asyncio.iscoroutinefunction(func)`, 1.0 to 1.15: `inspect.iscoroutinefunction(func)`; only 1.16 also looks
    at `func.__call__`). Both are false for an instance, so older trainers called the instance synchronously and
    got a coroutine. Python 3.11's inspect accepts a "function-like" object (a `__code__` with the coroutine
    flag, `__name__`, `__defaults__`, `__kwdefaults__`: the duck type Cython functions use); Python 3.12+ also
    has `inspect.markcoroutinefunction`. The code object is that of `_trl_call`, whose signature is the call TRL
    makes, so `inspect.signature(obj)` stays right.

    Example:
        >>> class F:
        ...     __name__ = "f"
        ...     async def __call__(self, prompts, completions, completion_ids=None, **kwargs):
        ...         return [0.0]
        >>> inspect.iscoroutinefunction(F())
        False
        >>> f = mark_coroutine_function(F())
        >>> inspect.iscoroutinefunction(f), str(inspect.signature(f))
        (True, '(prompts, completions, completion_ids=None, **kwargs)')
    """
    obj.__code__ = _trl_call.__code__
    obj.__defaults__ = _trl_call.__defaults__
    obj.__kwdefaults__ = _trl_call.__kwdefaults__
    marker = getattr(inspect, "markcoroutinefunction", None)  # Python 3.12+
    if marker is not None:
        marker(obj)
    return obj


class AsyncRewardFunction(_Base):
    """The asynchronous TRL reward function (`async def __call__`, run by TRL with asyncio.gather beside the
    other async reward functions); same arguments as RewardFunction. In-process models run in a worker thread,
    servers are called with the AsyncRewardClient. TRL's checks for a coroutine function hold for it (see
    `mark_coroutine_function`), so every TRL from 0.29.1 (the first that runs on transformers 5) awaits it.

    Example:
        >>> import asyncio
        >>> from rewardlab.scoring import CallableScorer
        >>> from rewardlab.integrations.trl import AsyncRewardFunction
        >>> reward = AsyncRewardFunction(CallableScorer(lambda prompt, response: len(response)))
        >>> asyncio.run(reward(prompts=["2+2?"], completions=["four"], completion_ids=None))
        [4.0]
    """

    def __init__(self, source: Any, *, select: str = "mean", api_key: str | None = None, device: str | None = None,
                 name: str = "rewardlab", **client_options: Any):
        super().__init__(source, select, api_key, device, name, client_options)
        self._clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        mark_coroutine_function(self)

    def _client(self) -> Any:
        loop = asyncio.get_running_loop()  # an httpx.AsyncClient belongs to one event loop
        client = self._clients.get(loop)
        if client is None:
            from rewardlab.scoring.client import AsyncRewardClient

            client = self._clients[loop] = AsyncRewardClient(self.urls, self.api_key, **self.client_options)
        return client

    async def score(self, prompts: Sequence[Any], completions: Sequence[Any]) -> RewardOutput:
        """The rewards (mean, std, members) of the completions, before the selection rule."""
        p, c = _texts(prompts, completions)
        if self.scorer is not None:
            return await asyncio.to_thread(self.scorer.score, p, c, False)
        return await self._client().score(p, c)

    async def __call__(self, prompts: Sequence[Any], completions: Sequence[Any], completion_ids: Any = None,
                       **kwargs: Any) -> list[float]:
        """One reward per completion, in order."""
        return self._finish(await self.score(prompts, completions), kwargs)


__all__ = ["AsyncRewardFunction", "RewardFunction", "mark_coroutine_function"]
