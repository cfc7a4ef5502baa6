"""audit.json (`rewardlab audit`, schema 'rewardlab.audit/1') as a typed result, `AuditReport`: what the report's
audit section, the comparison and the terminal summary read; the rest stays in each part's `extra`."""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from rewardlab.results.base import Result
from rewardlab.results.metrics import Estimate

_field = dataclasses.field


@dataclasses.dataclass(kw_only=True)
class AuditSettings(Result):
    """The audit's flag thresholds and tokenizer."""

    threshold: float | None = None
    adversarial_threshold: float | None = None
    tokenizer: str | None = None


@dataclasses.dataclass(kw_only=True)
class DataSource(Result):
    """Where the audited pairs (or cases) came from."""

    source: str | None = None
    n: int | None = None


@dataclasses.dataclass(kw_only=True)
class AuditData(Result):
    """The audited pairs and sycophancy cases."""

    pairs: DataSource | None = None
    cases: DataSource | None = None


@dataclasses.dataclass(kw_only=True)
class TrainedOn(Result):
    """The probes and adversarial responses the model was trained with (not independent evidence)."""

    probes: list[str] | None = None
    adversarial: list[str] | None = None
    source: str | None = None


@dataclasses.dataclass(kw_only=True)
class FeatureStats(Result):
    """Correlations of one response feature with the reward."""

    definition: str | None = None
    mean: float | None = None
    constant: bool = False
    flagged: bool = False
    pearson: Estimate | None = None
    spearman: Estimate | None = None
    within_pearson: Estimate | None = None
    within_spearman: Estimate | None = None


@dataclasses.dataclass(kw_only=True)
class ProbeStats(Result):
    """The reward change of one counterfactual edit."""

    description: str
    mean_change: Estimate
    share_rose: Estimate
    standardized_change: float | None = None
    flagged: bool = False
    trained_on: bool = False
    heldout_variant: bool = False


@dataclasses.dataclass(kw_only=True)
class Probes(Result):
    """The counterfactual probes."""

    n: int | None = None
    probes: dict[str, ProbeStats] = _field(default_factory=dict)


@dataclasses.dataclass(kw_only=True)
class AdversarialStats(Result):
    """How often one adversarial response outscores the real one; `to_dict()` is what
    `rewardlab.audit.adversarial.adversarial_line` reads."""

    description: str
    n: int = 0
    share_outscores: Estimate | None = None
    share_tied: float | None = None
    flagged: bool = False
    trained_on: bool = False


@dataclasses.dataclass(kw_only=True)
class Adversarial(Result):
    """The adversarial responses."""

    n: int = 0
    threshold: float | None = None
    reference: str | None = None
    probes: dict[str, AdversarialStats] = _field(default_factory=dict)


@dataclasses.dataclass(kw_only=True)
class LengthSubset(Result):
    """Accuracy on the pairs where the chosen response is the shorter (longer, equally long) one."""

    n: int = 0
    accuracy: Estimate | None = None


@dataclasses.dataclass(kw_only=True)
class LengthBin(Result):
    """Accuracy in one bin of len(chosen) - len(rejected)."""

    lo: float
    hi: float
    n: int
    longer_wins: float
    accuracy: Estimate | None = None


@dataclasses.dataclass(kw_only=True)
class AuditLengthControl(Result):
    """Length-controlled accuracy of the audit."""

    definition: str | None = None
    length_unit: str | None = None
    accuracy: Estimate | None = None
    longer_wins: Estimate | None = None
    length_balanced_accuracy: Estimate | None = None
    chosen_shorter: LengthSubset | None = None
    chosen_longer: LengthSubset | None = None
    equal_length: LengthSubset | None = None
    by_length_difference: list[LengthBin] = _field(default_factory=list)


@dataclasses.dataclass(kw_only=True)
class SycophancyKind(Result):
    """Sycophancy of one kind of false claim."""

    n: int
    agreeing_preferred: float


@dataclasses.dataclass(kw_only=True)
class WorstCase(Result):
    """A case where the agreeing response wins by much."""

    prompt: str
    agreeing: str
    correcting: str
    margin: float


@dataclasses.dataclass(kw_only=True)
class Sycophancy(Result):
    """Agreeing vs correcting responses to false claims."""

    n: int = 0
    n_ties: int = 0
    agreeing_preferred: Estimate | None = None
    mean_margin: Estimate | None = None
    by_kind: dict[str, SycophancyKind] = _field(default_factory=dict)
    worst_cases: list[WorstCase] = _field(default_factory=list)


@dataclasses.dataclass(kw_only=True)
class AuditReport(Result):
    """audit.json.

    Example:
        >>> a = AuditReport.from_dict({"schema": "rewardlab.audit/1", "flags": ["length"], "features": {
        ...     "length_tokens": {"spearman": {"estimate": 0.4}, "flagged": True}}})
        >>> a.flags, a.features["length_tokens"].spearman.estimate
        (['length'], 0.4)
    """

    SCHEMA: ClassVar[str | None] = "rewardlab.audit/"
    ENSURE_ASCII: ClassVar[bool] = False

    schema: str | None = None
    model: str | None = None
    created: str | None = None
    settings: AuditSettings | None = None
    data: AuditData | None = None
    trained_on: TrainedOn | None = None
    flags: list[str] = _field(default_factory=list)
    flagged: Any = None
    features: dict[str, FeatureStats] = _field(default_factory=dict)
    probes: Probes | None = None
    adversarial: Adversarial | None = None
    length_control: AuditLengthControl | None = None
    sycophancy: Sycophancy | None = None

    @property
    def length(self) -> FeatureStats | None:
        """The reward-vs-length feature (length in the scorer's tokens), None when the audit has no features."""
        return self.features.get("length_tokens")
