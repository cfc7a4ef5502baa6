"""Configuration of the preference simulator: families, gold-utility weights, annotator biases, propensities.

Everything here is a spec of the config tree (`rewardlab.config.Spec`): each field is declared once with its
range and help, validated when the object is built (errors name the field by its dotted path, e.g.
`propensities.accuracy must be <= 1.0, got 1.5`), and saved next to the data it produced (`to_dict` / `from_dict`
round-trip through JSON; unknown keys are refused), so a dataset can always be regenerated from (seed, config).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rewardlab.config import ConfigError, Spec, option

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
class UtilityWeights(Spec):
    """Weights of the gold utility u = sum_k w_k * attribute_k (booleans count as 0/1).

    `details` weighs the completeness attribute (substantive supporting sentences: a worked step, a true related
    fact, an extra concrete step, ...). It is positive by default; it changes nothing for propensities with
    completeness 0 (the old presets and systems), whose responses never have details.
    """

    section_title = "gold utility weights"

    correct: float = option(2.0, help="Utility of a correct answer.")
    relevant: float = option(1.5, help="Utility of a response that addresses the prompt.")
    extra_sentences: float = option(-0.1, help="Utility per padding sentence.")
    hedges: float = option(-0.15, help="Utility per hedge.")
    formatting: float = option(0.0, help="Utility of markdown formatting.")
    repetition: float = option(-0.5, help="Utility per repeated sentence.")
    filler: float = option(-0.2, help="Utility of a filler opening.")
    sycophantic: float = option(-2.0, help="Utility of agreeing with a false premise.")
    details: float = option(1.0, help="Utility per substantive supporting sentence (completeness).")

    def check(self) -> None:
        for name, w in self.to_dict().items():
            if not math.isfinite(w):
                raise ConfigError(f"{{0}} must be a finite number, got {w!r}", name)


@dataclass
class Propensities(Spec):
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

    section_title = "propensities"

    accuracy: float = option(0.6, min=0.0, max=1.0, help="P(correct | relevant).")
    relevance: float = option(0.9, min=0.0, max=1.0, help="P(relevant).")
    verbosity: float = option(1.0, min=0.0, help="Mean number of padding sentences.")
    hedging: float = option(0.5, min=0.0, help="Mean number of hedges.")
    formatting: float = option(0.3, min=0.0, max=1.0, help="P(markdown formatting).")
    repetition: float = option(0.2, min=0.0, help="Mean number of repeated sentences.")
    filler: float = option(0.3, min=0.0, max=1.0, help="P(filler opening).")
    sycophancy: float = option(0.4, min=0.0, max=1.0, help="P(agrees with a false premise | false premise, relevant).")
    completeness: float = option(0.0, min=0.0, help="Mean number of substantive supporting sentences (0: none drawn).")
    coupling: float = option(0.0, help="Logits of accuracy per detail around the mean completeness.")

    def check(self) -> None:
        for name in ("verbosity", "hedging", "repetition", "completeness", "coupling"):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise ConfigError(f"{{0}} must be a finite number, got {v!r}", name)


@dataclass
class SimConfig(Spec):
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
        ConfigError (a RewardlabError and ValueError) naming the field: an unknown family, a non-positive tau, a
            negative family weight, no family selected, a propensity outside its range, or flip_prob,
            n_annotators, length_norm or tie_margin out of range.

    Example:
        >>> from rewardlab import SimConfig
        >>> cfg = SimConfig(length_bias=1.0, taus={"advice": 3.0}, family_weights={"facts": 1.0, "advice": 1.0})
        >>> cfg.tau("advice"), cfg.tau("facts"), cfg.active_families()
        (3.0, 0.5, ['facts', 'advice'])
        >>> SimConfig.from_dict(cfg.to_dict()) == cfg
        True
        >>> SimConfig(flip_prob=2)
        Traceback (most recent call last):
        rewardlab.config.ConfigError: flip_prob must be <= 1.0, got 2.0
        >>> SimConfig.from_dict({"propensities": {"accuracy": 1.5}})
        Traceback (most recent call last):
        rewardlab.config.ConfigError: propensities.accuracy must be <= 1.0, got 1.5
    """

    section_title = "simulator"

    taus: dict[str, float] = option(default_factory=lambda: dict(DEFAULT_TAUS), help=(
        "Annotator noise temperature per family (> 0); a partial dict overrides DEFAULT_TAUS."))
    family_weights: dict[str, float] = option(default_factory=lambda: {f: 1.0 for f in FAMILIES}, help=(
        "Sampling weight per family (>= 0); families missing or at 0 are not generated."))
    weights: UtilityWeights = option(default_factory=UtilityWeights, help="The gold-utility weights.")
    propensities: Propensities = option(default_factory=Propensities, help="How responses are drawn.")
    length_bias: float = option(0.0, help="Annotator preference for longer responses (utility per length_norm words).")
    agreement_bias: float = option(0.0, help="Annotator preference for agreeing with a false premise.")
    format_bias: float = option(0.0, help="Annotator preference for markdown formatting.")
    length_norm: float = option(50.0, min=0.0, min_exclusive=True, help="Words per unit of length_bias.")
    flip_prob: float = option(0.0, min=0.0, max=1.0, help="Probability that a vote is flipped.")
    n_annotators: int = option(1, min=1, help="Votes per pair.")
    tie_margin: float = option(0.0, min=0.0, help="Rao-Kupper tie margin in logit units (0: no ties).")
    emit_margin: bool = option(False, help="Add a `margin` column (0-3, Llama-2 style preference strength).")

    def check(self) -> None:
        """The per-family rules: known families, positive taus, non-negative weights, at least one family; a
        partial `taus` dict is completed from DEFAULT_TAUS first."""
        for name, table in (("taus", self.taus), ("family_weights", self.family_weights)):
            if not isinstance(table, dict):
                raise ConfigError(f"{{0}} must be a mapping of family -> number, got {type(table).__name__}", name)
            for fam in table:
                if fam not in FAMILIES:
                    raise ConfigError(f"{{0}} has an unknown family {fam!r}; known: {', '.join(FAMILIES)}", name)
        self.taus = {**DEFAULT_TAUS, **self.taus}
        for fam, tau in self.taus.items():
            if isinstance(tau, bool) or not (isinstance(tau, int | float) and math.isfinite(tau) and tau > 0):
                raise ConfigError(f"{{0}}[{fam!r}] must be a positive number, got {tau!r}", "taus")
        for fam, w in self.family_weights.items():
            if isinstance(w, bool) or not (isinstance(w, int | float) and math.isfinite(w) and w >= 0):
                raise ConfigError(f"{{0}}[{fam!r}] must be >= 0, got {w!r}", "family_weights")
        if not self.active_families():
            raise ConfigError("{0} selects no family (all weights are 0)", "family_weights")
        for name in ("length_bias", "agreement_bias", "format_bias", "length_norm", "tie_margin"):
            v = getattr(self, name)
            if not math.isfinite(v):
                raise ConfigError(f"{{0}} must be a finite number, got {v!r}", name)

    def active_families(self) -> list[str]:
        """Families with a positive sampling weight, in canonical order."""
        return [f for f in FAMILIES if self.family_weights.get(f, 0.0) > 0]

    def tau(self, family: str) -> float:
        """Annotator noise temperature of one family."""
        return float(self.taus[family])

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable dict (nested specs become dicts, families in canonical order), for saving beside
        the data; `SimConfig.from_dict` reads it back (unknown keys are an error naming them)."""
        d = super().to_dict()
        d["taus"] = {f: float(self.taus[f]) for f in FAMILIES if f in self.taus}
        d["family_weights"] = {f: float(self.family_weights[f]) for f in FAMILIES if f in self.family_weights}
        return d


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
