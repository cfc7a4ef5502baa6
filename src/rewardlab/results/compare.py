"""comparison.json (`rewardlab report BASE OTHER ...`, `rewardlab.report.compare.compare_folders`) and
data_stats.json (`rewardlab data stats -o`) as typed results."""

from __future__ import annotations

import dataclasses
from typing import Any

from rewardlab.results.base import Result, omitted
from rewardlab.results.metrics import Estimate

_field = dataclasses.field


@dataclasses.dataclass(kw_only=True)
class TrainingInfo(Result):
    """How a checkpoint was trained (from its rewardlab.json)."""

    head: Any = None
    loss: Any = None
    base_model: Any = None
    balance: Any = omitted()
    augment: Any = omitted()
    disentangle: Any = omitted()


@dataclasses.dataclass(kw_only=True)
class PairedDifference(Result):
    """(model - baseline) on the same pairs: bootstrap CI and sign-flip p-value."""

    difference: Estimate
    p_value: float
    n: int | None = omitted()


@dataclasses.dataclass(kw_only=True)
class VsBaseline(Result):
    """A model's paired differences to the baseline on one dataset."""

    n: int
    accuracy: PairedDifference | None = omitted()
    gold_agreement: PairedDifference | None = omitted()


@dataclasses.dataclass(kw_only=True)
class ComparedDataset(Result):
    """One pair dataset of one model."""

    n: int | None = None
    accuracy: Estimate | None = None
    gold_agreement: Estimate | None = None
    length_correlation: dict[str, Estimate] | None = None
    vs_baseline: VsBaseline | None = omitted()


@dataclasses.dataclass(kw_only=True)
class AuditSummary(Result):
    """The audit numbers the comparison shows."""

    flags: list[str] = _field(default_factory=list)
    n_flags: int = 0
    flagged: Any = None
    trained_on: Any = None
    length_correlation: dict[str, Estimate] = _field(default_factory=dict)
    length_balanced_accuracy: Estimate | None = None
    chosen_shorter_accuracy: Estimate | None = None
    adversarial: dict[str, Estimate | None] = _field(default_factory=dict)


@dataclasses.dataclass(kw_only=True)
class ComparedModel(Result):
    """One model of a comparison."""

    folders: list[str]
    model: str | None = None
    training: TrainingInfo | None = None
    datasets: dict[str, ComparedDataset] = _field(default_factory=dict)
    audit: AuditSummary | None = None


@dataclasses.dataclass(kw_only=True)
class Comparison(Result):
    """comparison.json: the baseline's name, the models in display order, notes."""

    baseline: str
    models: dict[str, ComparedModel]
    notes: list[str] = _field(default_factory=list)


@dataclasses.dataclass(kw_only=True)
class DataStats(Result):
    """data_stats.json: the source and its "quality" part (read by `rewardlab.data.quality.DataQuality.from_dict`;
    the statistics stay in `extra`)."""

    source: str | None = None
    quality: dict[str, Any] | None = None


@dataclasses.dataclass(kw_only=True)
class PairedRun(Result):
    """One pair dataset of `rewardlab compare DIR_A DIR_B`: both accuracies, A - B with its CI, the p-value."""

    accuracy_a: float
    accuracy_b: float
    difference: Estimate
    p_value: float
    n: int


@dataclasses.dataclass(kw_only=True)
class RunComparison(Result):
    """What `rewardlab.eval.evaluate.compare_runs` returns and `rewardlab compare -o FILE` writes.

    Example:
        >>> c = RunComparison.from_dict({"datasets": {"sim": {"accuracy_a": 0.7, "accuracy_b": 0.6, "difference":
        ...     {"estimate": 0.1, "lo": 0.0, "hi": 0.2}, "p_value": 0.04, "n": 50}}, "model_a": "a"})
        >>> c.datasets["sim"].difference.text(), c.extra["model_a"]
        ('0.100 [0.000, 0.200]', 'a')
    """

    datasets: dict[str, PairedRun]
    notes: list[str] | None = omitted()

    def lines(self) -> list[str]:
        """One line per dataset (A vs B, A - B [CI], p, n), then the notes."""
        out = []
        for name, c in self.datasets.items():
            d = c.difference
            out.append(f"{name}: accuracy {c.accuracy_a:.3f} (A) vs {c.accuracy_b:.3f} (B); "
                       f"A - B = {d.estimate:+.3f} [{d.lo:+.3f}, {d.hi:+.3f}], p = {c.p_value:.4f}, n = {c.n}")
        return out + [f"note: {note}" for note in self.notes or []]
