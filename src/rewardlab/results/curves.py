"""goodhart.json (`rewardlab goodhart`, the demo) and optimize.json (`rewardlab optimize`) as typed results:
`GoodhartCurves` (best-of-n and tilted-policy curves, their sweet spots) and `OptimizeSummary` (the policy
optimisation's key steps)."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from rewardlab.results.base import Result
from rewardlab.results.metrics import Estimate

_field = dataclasses.field


@dataclasses.dataclass(kw_only=True)
class SpreadError(Result):
    """Spearman(spread, |error vs gold|) within prompts, averaged."""

    mean: float | None = None
    n_prompts: int | None = None


@dataclasses.dataclass(kw_only=True)
class ProxyCurves(Result):
    """One proxy's curves (kept in `extra`) and its spread-error check."""

    spread_error: SpreadError | None = None


@dataclasses.dataclass(kw_only=True)
class SweetSpot(Result):
    """Where the gold reward peaks along one (proxy, rule) best-of-n curve, and how far it falls after."""

    n_star: int
    n_max: int
    gold_at_n_star: Estimate
    gold_at_n_max: Estimate
    fall_from_peak: float
    fit_d_star: Any = None


@dataclasses.dataclass(kw_only=True)
class GoodhartCurves(Result):
    """goodhart.json."""

    gold: Any = None
    n_prompts: int | None = None
    n_candidates: int | None = None
    pi0: str = "uniform"
    proxies: dict[str, ProxyCurves] = _field(default_factory=dict)
    sweet_spots: dict[str, dict[str, SweetSpot]] = _field(default_factory=dict)
    plots: list[str] = _field(default_factory=list)


@dataclasses.dataclass(kw_only=True)
class StepRates(Result):
    """Attribute rates of a policy's samples at one step (only `correct` is read; the rest is in `extra`)."""

    correct: float | None = None


@dataclasses.dataclass(kw_only=True)
class StepRecord(Result):
    """One step of the policy optimisation (step 0 is the base policy)."""

    step: int
    kl: float
    proxy: float
    gold: float
    win_rate: float | None = None
    rates: StepRates | None = None
    words: float | None = None


@dataclasses.dataclass(kw_only=True)
class CacheStats(Result):
    """The score cache's hits and misses."""

    hits: int | None = None
    misses: int | None = None
    hit_rate: float | None = None


@dataclasses.dataclass(kw_only=True)
class RMUpdate(Result):
    """One reward-model update during optimisation."""

    step: int
    pairs: int


@dataclasses.dataclass(kw_only=True)
class OptimizeSummary(Result):
    """optimize.json (`rewardlab.policy.loop.OptimizeResult.to_dict`)."""

    SCHEMA: ClassVar[str | None] = "rewardlab.optimize_policy/"
    JSON_INDENT: ClassVar[int | None] = 1

    schema: str | None = None
    method: Any = None
    reward: Any = None
    base: Any = None
    steps: int | None = None
    records: list[StepRecord] = _field(default_factory=list)
    sweet_spot: StepRecord | None = None
    final: StepRecord | None = None
    cache: CacheStats | None = None
    proxy_gold_spearman: float | None = None
    rm_updates: list[RMUpdate] = _field(default_factory=list)
