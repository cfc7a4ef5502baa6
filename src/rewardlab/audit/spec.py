"""AuditSpec: the settings of `rewardlab audit` (the model, the pairs and sycophancy cases, the flag threshold and
the shared run section), validated in one place; no numpy, torch or scipy here.

Example:
    >>> spec = AuditSpec.from_options(model="runs/rm", output="audit", threshold=0.4)
    >>> spec.run.n_resamples, spec.n_pairs, spec.threshold
    (1000, 300, 0.4)
    >>> AuditSpec.from_options(threshold=1.5)
    Traceback (most recent call last):
    rewardlab.config.ConfigError: threshold must be < 1, got 1.5
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rewardlab.config import MODEL_HELP, ConfigError, ScoringRunSpec, Spec, option
from rewardlab.data.spec import DataSpec


@dataclass
class AuditRunSpec(ScoringRunSpec):
    """The shared run section with the audit's bootstrap default (1,000 resamples, at least 10)."""

    n_resamples: int = option(1000, min=10, help="Bootstrap resamples for 95% CIs.")
    seed: int = option(0, min=0, help="Seed for simulator data and bootstrap.")



@dataclass
class AuditSpec(Spec):
    """`rewardlab audit`: feature correlations, counterfactual probes, adversarial responses, sycophancy and
    length-controlled accuracy of one reward model."""

    section_title = "audit"

    model: str | None = option(None, flag="--model", aliases=("-m",), help=MODEL_HELP + " (required)")
    cases: str | None = option(None, help="Sycophancy cases JSONL {prompt, agreeing, correcting} (default: the "
                               "simulator's false-premise cases).")
    threshold: float = option(0.3, min=0.0, min_exclusive=True, help="Flag a feature when |correlation with "
                              "reward| exceeds this (in (0, 1)).")
    n_pairs: int = option(300, min=0, help="Simulator pairs when no --data (with --data: the first N, 0 = all).")
    data: DataSpec = field(default_factory=DataSpec)
    run: AuditRunSpec = field(default_factory=AuditRunSpec)

    def check(self) -> None:
        if self.threshold >= 1:
            raise ConfigError(f"{{0}} must be < 1, got {self.threshold}", "threshold")
        if self.data.source is None and self.n_pairs == 0:
            raise ConfigError("{0} must be > 0 without --data (0 = all pairs of a --data file)", "n_pairs")
