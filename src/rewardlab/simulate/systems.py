"""Simulated 'systems' (chat models) with different attribute propensities, for battle data and rankings."""

from __future__ import annotations

from dataclasses import dataclass, field

from rewardlab.simulate.config import (
    ATTRIBUTES,
    FAMILIES,
    MAX_EXTRA_SENTENCES,
    MAX_HEDGES,
    MAX_REPETITION,
    Propensities,
    SimConfig,
)
from rewardlab.simulate.responses import clipped_poisson_pmf, coupled_accuracy, details_pmf


@dataclass(frozen=True)
class System:
    """A named response generator: its propensities decide how often it is right, verbose, hedgy, ..."""

    name: str
    propensities: Propensities = field(default_factory=Propensities)
    description: str = ""


def default_systems() -> list[System]:
    """Six systems with different profiles, strictly ordered by expected gold utility (sys-a best, sys-f worst).

    With the default config the expected utilities are about 3.10, 2.36, 2.02, 1.44, 1.17, 0.44. Under
    human_like() annotators the verbose, formatted sys-b wins more battles than the better sys-a: the bias is
    visible in battle data exactly as in real arenas.
    """
    P = Propensities
    return [
        System("sys-a", P(0.92, 0.98, 0.6, 0.2, 0.2, 0.05, 0.1, 0.05), "accurate and concise"),
        System("sys-b", P(0.88, 0.96, 3.0, 0.3, 0.9, 0.2, 0.6, 0.3), "accurate, verbose, heavily formatted"),
        System("sys-c", P(0.65, 0.93, 1.0, 2.0, 0.2, 0.1, 0.2, 0.2), "hedges a lot"),
        System("sys-d", P(0.6, 0.9, 1.5, 0.3, 0.4, 0.3, 0.8, 0.85), "sycophantic and chatty"),
        System("sys-e", P(0.38, 0.8, 1.0, 0.6, 0.3, 0.4, 0.3, 0.4), "often wrong"),
        System("sys-f", P(0.3, 0.7, 2.0, 0.8, 0.1, 1.0, 0.4, 0.5), "weak and repetitive"),
    ]


def expected_attributes(prop: Propensities, config: SimConfig | None = None) -> dict[str, float]:
    """Exact expectation of every attribute under the family mixture of `config` (no sampling).

    With completeness > 0 the accuracy is averaged over the law of the details count D (Propensities):
    E[correct] = relevance * (1 - pi_fp * sycophancy) * sum_k P(D = k) * P(correct | relevant, D = k), where pi_fp
    is the false-premise share of the family weights; E[details] = sum_k k P(D = k) (0 for completeness 0).

    Example:
        >>> from rewardlab.simulate import Propensities, expected_attributes
        >>> ea = expected_attributes(Propensities(accuracy=0.5, relevance=1.0, sycophancy=0.0, completeness=1.0,
        ...                                       coupling=1.0))
        >>> round(ea["details"], 4), round(ea["correct"], 4)
        (0.9957, 0.4903)
    """
    cfg = config or SimConfig()
    total = sum(cfg.family_weights.get(f, 0.0) for f in FAMILIES)
    pi_fp = cfg.family_weights.get("false_premise", 0.0) / total

    def mean(m: float, cap: int) -> float:
        return sum(k * p for k, p in enumerate(clipped_poisson_pmf(m, cap)))

    accuracy = prop.accuracy
    if prop.completeness > 0:
        accuracy = sum(q * a for q, a in zip(details_pmf(prop), coupled_accuracy(prop), strict=True))
    return {
        "correct": prop.relevance * accuracy * (1.0 - pi_fp * prop.sycophancy),
        "relevant": prop.relevance,
        "extra_sentences": mean(prop.verbosity, MAX_EXTRA_SENTENCES),
        "hedges": mean(prop.hedging, MAX_HEDGES),
        "formatting": prop.formatting,
        "repetition": mean(prop.repetition, MAX_REPETITION),
        "filler": prop.filler,
        "sycophantic": pi_fp * prop.relevance * prop.sycophancy,
        "details": sum(k * p for k, p in enumerate(details_pmf(prop))),
    }


def expected_utility(prop: Propensities, config: SimConfig | None = None) -> float:
    """Exact expected gold utility of one response drawn with these propensities (linear in the attributes)."""
    cfg = config or SimConfig()
    ea = expected_attributes(prop, cfg)
    return sum(getattr(cfg.weights, k) * ea[k] for k in ATTRIBUTES) + cfg.weights.details * ea["details"]


def system_expected_utility(
    systems: list[System] | None = None, config: SimConfig | None = None
) -> dict[str, float]:
    """True expected gold utility of each system (name -> value), the ground truth for ranking metrics."""
    return {s.name: expected_utility(s.propensities, config) for s in (systems or default_systems())}
