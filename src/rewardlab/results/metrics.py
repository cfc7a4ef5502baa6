"""metrics.json (`rewardlab eval`, schema 'rewardlab.eval/1') as typed results: `EvalMetrics` holds one
`DatasetMetrics` per dataset, of the class its record kind names (`PairsMetrics`, `KSampleMetrics`,
`BattlesMetrics`); `Estimate` is every {estimate, lo, hi, confidence} interval.

Only what the report, the comparison and the terminal summary read is declared; everything else a dataset holds
stays in its `extra`, so the file round-trips unchanged.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from rewardlab.results.base import Result

_field = dataclasses.field


@dataclasses.dataclass(kw_only=True)
class Estimate(Result):
    """A point estimate with its confidence interval (lo and hi are None where the interval is undefined).

    Example:
        >>> Estimate.coerce({"estimate": 0.5, "lo": 0.4, "hi": 0.6}).text()
        '0.500 [0.400, 0.600]'
    """

    estimate: float | None = None
    lo: float | None = None
    hi: float | None = None
    confidence: float | None = None

    def text(self, digits: int = 3, pct: bool = False) -> str:
        """`estimate [lo, hi]` ('n/a' without an estimate; no brackets without bounds)."""
        if self.estimate is None:
            return "n/a"

        def f(x: float) -> str:
            return f"{x:.0%}" if pct else f"{x:.{digits}f}"

        if self.lo is None or self.hi is None:
            return f(self.estimate)
        return f"{f(self.estimate)} [{f(self.lo)}, {f(self.hi)}]"


@dataclasses.dataclass(kw_only=True)
class LengthBaselines(Result):
    """Accuracy of always picking the longer (shorter) response."""

    longer: Estimate | None = None
    shorter: Estimate | None = None


@dataclasses.dataclass(kw_only=True)
class Temperature(Result):
    """The calibration temperature and where it was fitted."""

    value: float | None = None
    source: str | None = None


@dataclasses.dataclass(kw_only=True)
class GoldAgreement(Result):
    """(Simulator data) agreement of the model's order with the hidden gold utility."""

    agreement: Estimate | None = None


@dataclasses.dataclass(kw_only=True)
class HeldoutECE(Result):
    """ECE after temperature on the held-out half of the prompts."""

    value: float | None = None
    n: int | None = None


@dataclasses.dataclass(kw_only=True)
class LengthFit(Result):
    """One label fit of a length control: q = reward - beta * f(length)."""

    beta: float
    beta_ci: list[float]
    source: str | None = None


@dataclasses.dataclass(kw_only=True)
class LengthControlled(Result):
    """A pair dataset's length-controlled accuracy (`rewardlab eval --length-control`); `to_dict()` is what
    `rewardlab.eval.length_control.guard_lines` reads."""

    accuracy: Estimate
    method: str | None = None
    feature: str | None = None
    fit: LengthFit | None = None
    folds: list[LengthFit] = _field(default_factory=list)
    corr_reward_diff_length_diff: dict[str, float | None] | None = None
    gold_agreement: GoldAgreement | None = None

    def fits(self) -> list[LengthFit]:
        """The fits used: one per fold when cross-fitted, else the one fit."""
        return self.folds if self.method == "cross-fit" else [f for f in (self.fit,) if f is not None]


@dataclasses.dataclass(kw_only=True)
class CategoryMetrics(Result):
    """Accuracy of one category of a pair dataset."""

    n: int
    accuracy: Estimate
    length_baselines: LengthBaselines | None = None


@dataclasses.dataclass(kw_only=True)
class SectionMetrics(Result):
    """Accuracy of one section (a group of categories, RewardBench v1)."""

    categories: list[str]
    accuracy: Estimate


@dataclasses.dataclass(kw_only=True)
class DatasetMetrics(Result):
    """One evaluated dataset; read as the metrics class its record kind registers (`rewardlab.kinds`), or as this
    class (everything in `extra`) for a kind without one."""

    kind: str

    @classmethod
    def concrete(cls, obj: dict[str, Any]) -> type[Result]:
        """The metrics class of the dataset's record kind."""
        if cls is not DatasetMetrics:
            return cls
        from rewardlab.kinds import metrics_class

        return metrics_class(obj.get("kind")) or DatasetMetrics


@dataclasses.dataclass(kw_only=True)
class PairsMetrics(DatasetMetrics):
    """Metrics of a preference-pair dataset."""

    n: int
    accuracy: Estimate
    n_model_ties: int = 0
    model_tie_rate: float = 0
    reward_gap: Estimate | None = None
    nll: Estimate | None = None
    brier: Estimate | None = None
    ece: Estimate | None = None
    ece_calibrated: Estimate | None = None
    temperature: Temperature | None = None
    ece_calibrated_heldout: HeldoutECE | None = None
    length_baselines: LengthBaselines | None = None
    length_controlled: LengthControlled | None = None
    gold_agreement: GoldAgreement | None = None
    gold_utility_accuracy: float | None = None
    mean_std: float | None = None
    warnings: list[str] = _field(default_factory=list)
    per_category: dict[str, CategoryMetrics] = _field(default_factory=dict)
    sections: dict[str, SectionMetrics] = _field(default_factory=dict)
    section_mean: Estimate | float | None = None


@dataclasses.dataclass(kw_only=True)
class Ranking(Result):
    """Rank correlations of rewards with graded scores, overall and within prompt."""

    spearman: Estimate | None = None
    kendall: Estimate | None = None
    spearman_within_groups: Estimate | None = None
    kendall_within_groups: Estimate | None = None


@dataclasses.dataclass(kw_only=True)
class Correctness(Result):
    """Correct-vs-incorrect metrics of K-sample sets with correctness labels."""

    accuracy: Estimate | None = None
    roc_auc: Estimate | None = None
    end_score: Estimate | None = None
    max_score: Estimate | None = None
    loss: Estimate | None = None


@dataclasses.dataclass(kw_only=True)
class BestOfKCredit(Result):
    """Best-of-K credit on sets with one correct response (RewardBench v2 style)."""

    accuracy: Estimate | None = None


@dataclasses.dataclass(kw_only=True)
class GoldBestOfK(Result):
    """Expected gold utility of the RM's and the oracle's pick per K."""

    k: list[int]
    rm: list[float]
    oracle: list[float]


@dataclasses.dataclass(kw_only=True)
class HarmAware(Result):
    """Harm-aware errors of K-sample pools with gold scores."""

    pi0: str | None = None
    harmful_error_mass: Estimate | None = None
    ascent_alignment: Estimate | None = None
    ascent_cosine: Estimate | None = None


@dataclasses.dataclass(kw_only=True)
class KSampleMetrics(DatasetMetrics):
    """Metrics of a K-samples-per-prompt dataset."""

    n_sets: int
    n_responses: int
    ranking: Ranking | None = None
    correctness: Correctness | None = None
    best_of_k_credit: BestOfKCredit | None = None
    gold_best_of_k: GoldBestOfK | None = None
    harm_aware: HarmAware | None = None


@dataclasses.dataclass(kw_only=True)
class Rating(Result):
    """One system's arena rating with its CI."""

    rating: float
    lo: float | None = None
    hi: float | None = None


@dataclasses.dataclass(kw_only=True)
class BattlesMetrics(DatasetMetrics):
    """PPE metrics of a battles dataset."""

    n_battles: int
    models: list[str]
    human_ratings: dict[str, Rating]
    rm_ratings: dict[str, Rating]
    accuracy: Estimate | None = None
    spearman: float | None = None
    kendall: float | None = None
    rowwise_pearson: float | None = None
    separability: float | None = None
    confidence_agreement: float | None = None
    brier: float | None = None


@dataclasses.dataclass(kw_only=True)
class EvalMetrics(Result):
    """metrics.json: the model, when, the bootstrap size, the datasets and their plots, and extra entries
    (`training`, ...).

    Example:
        >>> m = EvalMetrics.from_dict({"schema": "rewardlab.eval/1", "model": "rm", "datasets": {"d": {
        ...     "kind": "pairs", "n": 3, "accuracy": {"estimate": 1.0}, "new_metric": 2}}})
        >>> type(m.datasets["d"]).__name__, m.datasets["d"].accuracy.estimate, m.datasets["d"].extra
        ('PairsMetrics', 1.0, {'new_metric': 2})
    """

    SCHEMA: ClassVar[str | None] = "rewardlab.eval/"

    datasets: dict[str, DatasetMetrics]
    schema: str | None = None
    model: str | None = None
    created: str | None = None
    n_resamples: int | None = None
    training: dict[str, Any] | None = None
    plots: dict[str, list[str]] = _field(default_factory=dict)

