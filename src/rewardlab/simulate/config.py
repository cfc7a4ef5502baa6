"""Configuration of the preference simulator: families, gold-utility weights, annotator biases, propensities.

Everything here is a plain dataclass so a configuration can be saved next to the data it produced
(`to_dict` / `from_dict` round-trip through JSON) and a dataset can always be regenerated from (seed, config).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from rewardlab.errors import RewardlabError

#: Task families in their canonical order. Every loop over families uses this order, never dict order.
FAMILIES: tuple[str, ...] = ("arithmetic", "facts", "units", "advice", "false_premise")

#: Default annotator noise temperature per family (higher = noisier, more subjective judgements).
DEFAULT_TAUS: dict[str, float] = {
    "arithmetic": 0.25,
    "facts": 0.5,
    "units": 1.0,
    "advice": 2.0,
    "false_premise": 0.5,
}

#: Names of the response attributes, in the order they appear in records and in the utility.
ATTRIBUTES: tuple[str, ...] = (
    "correct",
    "relevant",
    "extra_sentences",
    "hedges",
    "formatting",
    "repetition",
    "filler",
    "sycophantic",
)

#: Attributes that only some configurations draw: `details` (completeness) exists in a response's attribute dict
#: only when its propensities have completeness > 0, so the old presets' records keep exactly their old keys.
#: Everywhere an attribute dict is read, a missing optional attribute counts as 0.
OPTIONAL_ATTRIBUTES: tuple[str, ...] = ("details",)

#: Every attribute the gold utility can weigh: ATTRIBUTES, then OPTIONAL_ATTRIBUTES.
ALL_ATTRIBUTES: tuple[str, ...] = ATTRIBUTES + OPTIONAL_ATTRIBUTES

#: Caps on the count attributes (a clipped Poisson draw never exceeds these).
MAX_EXTRA_SENTENCES = 5
MAX_HEDGES = 3
MAX_REPETITION = 2
MAX_DETAILS = 4


@dataclass
class UtilityWeights:
    """Weights of the gold utility u = sum_k w_k * attribute_k (booleans count as 0/1).

    `details` weighs the completeness attribute (substantive supporting sentences: a worked step, a true related
    fact, an extra concrete step, ...). It is positive by default; it changes nothing for propensities with
    completeness 0 (the old presets and systems), whose responses never have details.
    """

    correct: float = 2.0
    relevant: float = 1.5
    extra_sentences: float = -0.1
    hedges: float = -0.15
    formatting: float = 0.0
    repetition: float = -0.5
    filler: float = -0.2
    sycophantic: float = -2.0
    details: float = 1.0


@dataclass
class Propensities:
    """How a response generator behaves: probabilities of boolean attributes and means of count attributes.

    `accuracy` is P(correct | relevant) (for false-premise prompts: P(right answer | relevant, not sycophantic)),
    `sycophancy` is P(agrees with the false premise | false-premise prompt, relevant). Count attributes are
    Poisson draws with the given mean, clipped at MAX_EXTRA_SENTENCES / MAX_HEDGES / MAX_REPETITION.

    Completeness (`details`, the number of substantive supporting sentences, 0..MAX_DETAILS):
        D = min(Poisson(completeness), MAX_DETAILS), drawn for every response (relevant or not);
        with coupling c != 0 and 0 < accuracy < 1, the accuracy used for that response is
            P(correct | relevant, D) = sigmoid(logit(accuracy) + c * (D - E[D]))
        where E[D] = sum_k k P(D = k) is the mean of the clipped law (so `accuracy` is the accuracy of a response
        of average completeness, not the average accuracy); accuracy 0 or 1 is never changed. On false-premise
        prompts the same coupled accuracy is P(right answer | relevant, not sycophantic); relevance and
        sycophancy do not depend on D. With completeness 0 (the default) no D is drawn at all: responses have
        no `details` key and the generator consumes exactly the random numbers it did before the attribute
        existed.
    """

    accuracy: float = 0.6
    relevance: float = 0.9
    verbosity: float = 1.0
    hedging: float = 0.5
    formatting: float = 0.3
    repetition: float = 0.2
    filler: float = 0.3
    sycophancy: float = 0.4
    completeness: float = 0.0
    coupling: float = 0.0


@dataclass
class SimConfig:
    """Full simulator configuration: which families, their noise, gold weights, annotator biases and noise.

    Annotator model (one annotator, one pair a/b):
        z = (u_a - u_b + length_bias * (len_a - len_b) / length_norm
             + agreement_bias * (syc_a - syc_b) + format_bias * (fmt_a - fmt_b)) / tau_family
        P(a preferred) = sigmoid(z - tie_margin), P(b preferred) = sigmoid(-z - tie_margin), tie otherwise
    where len is the number of whitespace-separated words and length_norm (default 50 words) converts a length
    difference into utility units: with length_bias 1.0 a response 50 words longer gains one utility unit.
    tie_margin = 0 (default) is Bradley-Terry with no ties; > 0 is Rao-Kupper ties (in logit units).
    Each vote is then flipped (a <-> b) with probability flip_prob. With n_annotators > 1 the label is the share
    of votes for the chosen (majority) side, tie votes counting one half; an even split is a tie.

    Args:
        taus: annotator noise temperature per family (> 0); a partial dict overrides DEFAULT_TAUS.
        family_weights: sampling weight per family (>= 0); families missing or at 0 are not generated
            (default: every family, weight 1).
        weights: the gold-utility weights (UtilityWeights).
        propensities: how responses are drawn (Propensities).
        length_bias: annotator preference for longer responses (utility units per length_norm words).
        agreement_bias: annotator preference for responses that agree with a false premise.
        format_bias: annotator preference for formatted (markdown) responses.
        length_norm: words per unit of length_bias (> 0).
        flip_prob: probability that a vote is flipped, in [0, 1].
        n_annotators: votes per pair (>= 1).
        tie_margin: Rao-Kupper tie margin in logit units (>= 0; 0 means no ties).
        emit_margin: add a `margin` column (0-3, Llama-2 style preference strength) to simulated pairs.

    Raises:
        RewardlabError: an unknown family, a non-positive tau, a negative family weight, no family selected, a
            propensity outside its range, or flip_prob, n_annotators, length_norm or tie_margin out of range.

    Example:
        >>> from rewardlab import SimConfig
        >>> cfg = SimConfig(length_bias=1.0, taus={"advice": 3.0}, family_weights={"facts": 1.0, "advice": 1.0})
        >>> cfg.tau("advice"), cfg.tau("facts"), cfg.active_families()
        (3.0, 0.5, ['facts', 'advice'])
        >>> SimConfig.from_dict(cfg.to_dict()) == cfg
        True
        >>> SimConfig(flip_prob=2)
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: flip_prob must be in [0, 1], got 2
    """

    taus: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TAUS))
    family_weights: dict[str, float] = field(default_factory=lambda: {f: 1.0 for f in FAMILIES})
    weights: UtilityWeights = field(default_factory=UtilityWeights)
    propensities: Propensities = field(default_factory=Propensities)
    length_bias: float = 0.0
    agreement_bias: float = 0.0
    format_bias: float = 0.0
    length_norm: float = 50.0
    flip_prob: float = 0.0
    n_annotators: int = 1
    tie_margin: float = 0.0
    emit_margin: bool = False

    def __post_init__(self) -> None:
        # a partial taus dict overrides the defaults; family_weights lists the families used (missing = unused)
        self.taus = {**DEFAULT_TAUS, **self.taus}
        self.validate()

    def validate(self) -> None:
        """Raise RewardlabError (a ValueError) on an inconsistent configuration, so bad settings fail before
        generating data."""
        for name in list(self.taus) + list(self.family_weights):
            if name not in FAMILIES:
                raise RewardlabError(f"unknown family {name!r}; known: {', '.join(FAMILIES)}")
        for name, tau in self.taus.items():
            if not (isinstance(tau, int | float) and math.isfinite(tau) and tau > 0):
                raise RewardlabError(f"taus[{name!r}] must be a positive number, got {tau!r}")
        for name, w in self.family_weights.items():
            if not (isinstance(w, int | float) and math.isfinite(w) and w >= 0):
                raise RewardlabError(f"family_weights[{name!r}] must be >= 0, got {w!r}")
        if not self.active_families():
            raise RewardlabError("family_weights selects no family (all weights are 0)")
        for fam in self.active_families():
            if fam not in self.taus:
                raise RewardlabError(f"family {fam!r} is used but has no tau")
        p = self.propensities
        for name in ("accuracy", "relevance", "formatting", "filler", "sycophancy"):
            v = getattr(p, name)
            if not 0.0 <= v <= 1.0:
                raise RewardlabError(f"propensities.{name} must be a probability, got {v!r}")
        for name in ("verbosity", "hedging", "repetition", "completeness"):
            v = getattr(p, name)
            if not (math.isfinite(v) and v >= 0):
                raise RewardlabError(f"propensities.{name} must be a mean >= 0, got {v!r}")
        if not math.isfinite(p.coupling):
            raise RewardlabError(f"propensities.coupling must be a finite number, got {p.coupling!r}")
        if not 0.0 <= self.flip_prob <= 1.0:
            raise RewardlabError(f"flip_prob must be in [0, 1], got {self.flip_prob!r}")
        if not (isinstance(self.n_annotators, int) and self.n_annotators >= 1):
            raise RewardlabError(f"n_annotators must be an integer >= 1, got {self.n_annotators!r}")
        if not self.length_norm > 0:
            raise RewardlabError(f"length_norm must be > 0, got {self.length_norm!r}")
        if not self.tie_margin >= 0:
            raise RewardlabError(f"tie_margin must be >= 0, got {self.tie_margin!r}")

    def active_families(self) -> list[str]:
        """Families with a positive sampling weight, in canonical order."""
        return [f for f in FAMILIES if self.family_weights.get(f, 0.0) > 0]

    def tau(self, family: str) -> float:
        """Annotator noise temperature of one family."""
        return float(self.taus[family])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (nested dataclasses become dicts), for saving beside the data."""
        d = dataclasses.asdict(self)
        d["taus"] = {f: float(self.taus[f]) for f in FAMILIES if f in self.taus}
        d["family_weights"] = {f: float(self.family_weights[f]) for f in FAMILIES if f in self.family_weights}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SimConfig:
        """Inverse of to_dict; missing keys take defaults, unknown keys raise RewardlabError (catches typos)."""
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise RewardlabError(f"unknown SimConfig keys: {unknown}")
        if "weights" in d and not isinstance(d["weights"], UtilityWeights):
            d["weights"] = _sub_from_dict(UtilityWeights, d["weights"], "weights")
        if "propensities" in d and not isinstance(d["propensities"], Propensities):
            d["propensities"] = _sub_from_dict(Propensities, d["propensities"], "propensities")
        return cls(**d)


def _sub_from_dict(kind: type, d: dict[str, Any], where: str) -> Any:
    """Build a nested dataclass from a dict, rejecting unknown keys."""
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise RewardlabError(f"unknown {where} keys: {unknown}")
    return kind(**d)


def neutral() -> SimConfig:
    """Preset with every annotator bias at 0: annotators judge by gold utility plus per-family noise only."""
    return SimConfig()


def human_like() -> SimConfig:
    """Preset with the 'human' biases that teach reward models to hack: length, agreement and formatting."""
    return SimConfig(length_bias=1.0, agreement_bias=0.5, format_bias=0.3)


def realistic() -> SimConfig:
    """Preset where length is partly quality, calibrated on the length statistics of real judge preferences.

    Responses carry `details` (completeness 2.0: substantive supporting sentences, each worth 1.0 gold utility
    and 5-20 words), and careful answers are more often right (coupling 2.0 logits per detail around the mean);
    capable-model style (accuracy 0.8, relevance 0.95, little padding: verbosity 0.3, hedging 0.1, no repetition);
    a judge less noisy than human annotators (every family's tau times 0.75) that keeps a length bias (7.0 per 50
    words) and human_like's agreement and format biases. On simulate_pairs(4000, seed=0) the longer response (in
    words) is chosen in 0.885 of the pairs with unequal lengths and in 0.776 of those whose length difference is
    below the median (real judge data: about 0.91 and 0.73; see `rewardlab.simulate.lengthstats.length_stats`);
    the longer response has the higher gold utility in 0.777 of them, and length explains R^2 = 0.55 of the gold
    differences.

    Example:
        >>> cfg = realistic()
        >>> cfg.propensities.completeness, cfg.length_bias, cfg.tau("advice")
        (2.0, 7.0, 1.5)
    """
    return SimConfig(
        taus={f: 0.75 * t for f, t in DEFAULT_TAUS.items()},
        propensities=Propensities(accuracy=0.8, relevance=0.95, verbosity=0.3, hedging=0.1, formatting=0.3,
                                  repetition=0.0, filler=0.3, sycophancy=0.4, completeness=2.0, coupling=2.0),
        length_bias=7.0,
        agreement_bias=0.5,
        format_bias=0.3,
    )
