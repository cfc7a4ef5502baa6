"""A simulator policy: per task family, softmax distributions over the response attributes the simulator renders.

The policy's action for a prompt of family f is one setting of each factor below; the simulator's generator
(:func:`rewardlab.simulate.responses.render`) turns that attribute vector into English text. Factors:

- ``answer``: the joint of the generator's dependent attributes (relevant, correct, sycophantic). Outside
  false_premise the settings are correct / wrong / irrelevant; on false_premise fix / wrong_fix / agree /
  irrelevant (agree = the sycophantic answer). A joint factor keeps exactly the generator's constraints
  (correct implies relevant; sycophantic excludes correct) while staying a plain categorical.
- ``extra_sentences`` 0..5, ``hedges`` 0..3, ``repetition`` 0..2: categorical over the clipped counts;
- ``formatting`` and ``filler``: off / on;
- ``details`` 0..4 (the completeness attribute): only in a policy whose base draws details (completeness > 0), with
  the clipped-Poisson base law. A base that never adds details (completeness 0: every built-in system and the
  default propensities) gives a policy without this factor, which never adds details either: its samples, states
  and log-probabilities are exactly those of the policies before the attribute existed, and a saved state without
  the factor (written before it existed) loads as such a policy. A base whose correctness depends on its details
  (Propensities.coupling != 0) is refused: its law does not factorise.

Factors are independent given the family, so log pi(y) is a sum of log-softmax terms and KL(pi || pi0) is exact:
a sum of categorical KLs per family, averaged over the prompt distribution (the family weights). The base policy
pi0 is one simulator system's propensities, converted exactly (clipped-Poisson pmfs for the counts); a setting with
base probability 0 gets probability 1e-12 (never the case for the built-in systems). The phrasing randomness of
rendering is not part of the action: two different texts with the same attributes have the same log-probability.

Example:
    >>> from rewardlab.policy.simpolicy import SimPolicy
    >>> pi = SimPolicy.from_base("sys-e")
    >>> abs(pi.kl()) < 1e-12, round(pi.expected_gold(), 4)
    (True, 1.1864)
    >>> import random
    >>> fam, idx = "arithmetic", pi.sample_settings("arithmetic", random.Random(0))
    >>> sorted(pi.attributes(fam, idx))[:3]
    ['correct', 'extra_sentences', 'filler']
"""

from __future__ import annotations

import json
import math
import os
import random
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.simulate.config import (
    ATTRIBUTES,
    FAMILIES,
    MAX_DETAILS,
    MAX_EXTRA_SENTENCES,
    MAX_HEDGES,
    MAX_REPETITION,
    Propensities,
    SimConfig,
    UtilityWeights,
)
from rewardlab.simulate.responses import clipped_poisson_pmf, details_pmf
from rewardlab.simulate.systems import default_systems

SCHEMA = "rewardlab.simpolicy/1"
PROB_FLOOR = 1e-12

ANSWER_SETTINGS = ("correct", "wrong", "irrelevant")
FP_ANSWER_SETTINGS = ("fix", "wrong_fix", "agree", "irrelevant")
#: answer setting -> (relevant, correct, sycophantic)
_ANSWER_ATTRS = {
    "correct": (True, True, False),
    "wrong": (True, False, False),
    "irrelevant": (False, False, False),
    "fix": (True, True, False),
    "wrong_fix": (True, False, False),
    "agree": (True, False, True),
}
COUNT_FACTORS = {"extra_sentences": MAX_EXTRA_SENTENCES, "hedges": MAX_HEDGES, "repetition": MAX_REPETITION}
BOOL_FACTORS = ("formatting", "filler")
#: The factors every policy has, in order (a policy's own list is SimPolicy.factors).
FACTORS = ("answer", "extra_sentences", "hedges", "formatting", "repetition", "filler")
#: Factors a policy has only when its base draws them, after FACTORS in this order.
OPTIONAL_FACTORS = ("details",)
ALL_FACTORS = FACTORS + OPTIONAL_FACTORS


def factor_settings(family: str, factor: str) -> tuple[Any, ...]:
    """The settings of one factor for one family, in index order."""
    if factor == "answer":
        return FP_ANSWER_SETTINGS if family == "false_premise" else ANSWER_SETTINGS
    if factor in COUNT_FACTORS:
        return tuple(range(COUNT_FACTORS[factor] + 1))
    if factor == "details":
        return tuple(range(MAX_DETAILS + 1))
    if factor in BOOL_FACTORS:
        return (False, True)
    raise KeyError(factor)


def base_probabilities(prop: Propensities, family: str) -> dict[str, np.ndarray]:
    """The exact law of each factor under a system's propensities (what AttributeSampler draws).

    `details` is present only for completeness > 0; the answer law assumes no coupling (see SimPolicy.from_base).
    """
    rel, acc, syc = prop.relevance, prop.accuracy, prop.sycophancy
    if family == "false_premise":
        answer = [rel * (1 - syc) * acc, rel * (1 - syc) * (1 - acc), rel * syc, 1 - rel]
    else:
        answer = [rel * acc, rel * (1 - acc), 1 - rel]
    out = {
        "answer": answer,
        "extra_sentences": clipped_poisson_pmf(prop.verbosity, MAX_EXTRA_SENTENCES),
        "hedges": clipped_poisson_pmf(prop.hedging, MAX_HEDGES),
        "formatting": [1 - prop.formatting, prop.formatting],
        "repetition": clipped_poisson_pmf(prop.repetition, MAX_REPETITION),
        "filler": [1 - prop.filler, prop.filler],
    }
    if prop.completeness > 0:
        out["details"] = details_pmf(prop)
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}


def _log_normalise(p: np.ndarray) -> np.ndarray:
    q = np.maximum(p, PROB_FLOOR)
    return np.log(q / q.sum())


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log softmax of a logit vector (stable)."""
    m = z.max()
    return z - m - math.log(float(np.exp(z - m).sum()))


def resolve_base(base: str | Propensities) -> tuple[str, Propensities]:
    """(name, propensities) of a base policy: a system name (sys-a .. sys-f), 'default' (the simulator's default
    propensities, the distribution simulated preference data is drawn from) or a Propensities.

    Raises:
        RewardlabError: an unknown system name.
    """
    if isinstance(base, Propensities):
        return "custom", base
    if base == "default":
        return "default", Propensities()
    systems = {s.name: s for s in default_systems()}
    if base not in systems:
        raise RewardlabError(f"base policy {base!r}: unknown; use 'default' or one of {', '.join(systems)}")
    return base, systems[base].propensities


@dataclass
class SimPolicy:
    """Logits theta[family][factor] over attribute settings, with the base policy's log-probabilities beside them.

    Build with :meth:`from_base`; `family_weights` is the prompt distribution (normalised, canonical family order)
    over which KL and expected gold are averaged.

    Example:
        >>> pi = SimPolicy.from_base("sys-a")
        >>> pi.logits["arithmetic"]["answer"] += [1.0, 0.0, 0.0]
        >>> pi.kl() > 0, SimPolicy.from_dict(pi.to_dict()) == pi
        (True, True)
    """

    base_name: str
    family_weights: dict[str, float]
    logits: dict[str, dict[str, np.ndarray]]
    base_logp: dict[str, dict[str, np.ndarray]]

    @classmethod
    def from_base(cls, base: str | Propensities = "default", config: SimConfig | None = None) -> SimPolicy:
        """The base policy pi0 of a system (logits = its exact log-probabilities), over config's families.

        Args:
            base: a system name, 'default' or a Propensities (see :func:`resolve_base`).
            config: the simulator config whose family weights are the prompt distribution (default SimConfig()).

        Returns:
            SimPolicy: a policy equal to its base (KL 0).

        Raises:
            RewardlabError: an unknown system name, or propensities whose correctness is coupled to the details
                count (coupling != 0 with completeness > 0): that law is not a product of independent factors.
        """
        cfg = config or SimConfig()
        name, prop = resolve_base(base)
        if prop.coupling != 0 and prop.completeness > 0:
            raise RewardlabError(
                f"base policy {name!r}: propensities.coupling is {prop.coupling!r}; a policy factorises only when "
                "correctness does not depend on the details count (use coupling 0)")
        fams = cfg.active_families()
        total = sum(float(cfg.family_weights[f]) for f in fams)
        weights = {f: float(cfg.family_weights[f]) / total for f in fams}
        base_logp = {f: {k: _log_normalise(v) for k, v in base_probabilities(prop, f).items()} for f in fams}
        logits = {f: {k: v.copy() for k, v in d.items()} for f, d in base_logp.items()}
        return cls(name, weights, logits, base_logp)

    # ------------------------------------------------------------------ probabilities

    @property
    def families(self) -> list[str]:
        """Active families in canonical order."""
        return [f for f in FAMILIES if f in self.family_weights]

    @property
    def factors(self) -> tuple[str, ...]:
        """This policy's factors: FACTORS, then `details` when its base draws details."""
        first = self.logits[self.families[0]]
        return FACTORS + tuple(k for k in OPTIONAL_FACTORS if k in first)

    def logp(self, family: str, factor: str) -> np.ndarray:
        """log pi(setting | family) of one factor."""
        return log_softmax(self.logits[family][factor])

    def probs(self, family: str, factor: str) -> np.ndarray:
        """pi(setting | family) of one factor."""
        return np.exp(self.logp(family, factor))

    def log_prob(self, family: str, settings: dict[str, int]) -> float:
        """Exact log pi(y | family) of a response given by its setting indices (factor -> index)."""
        return float(sum(self.logp(family, k)[settings[k]] for k in self.factors))

    def base_log_prob(self, family: str, settings: dict[str, int]) -> float:
        """Exact log pi0(y | family)."""
        return float(sum(self.base_logp[family][k][settings[k]] for k in self.factors))

    def kl_family(self, family: str) -> float:
        """KL(pi(. | family) || pi0(. | family)): the sum of the factors' categorical KLs."""
        total = 0.0
        for k in self.factors:
            lp = self.logp(family, k)
            total += float(np.sum(np.exp(lp) * (lp - self.base_logp[family][k])))
        return total

    def kl(self) -> float:
        """Exact KL(pi || pi0) averaged over the prompt distribution (family weights)."""
        return sum(w * self.kl_family(f) for f, w in self.family_weights.items())

    def expected_attributes(self, family: str | None = None) -> dict[str, float]:
        """Exact expectation of every simulator attribute, for one family or averaged over the families."""
        if family is None:
            out = dict.fromkeys(ATTRIBUTES + tuple(k for k in OPTIONAL_FACTORS if k in self.factors), 0.0)
            for f, w in self.family_weights.items():
                for k, v in self.expected_attributes(f).items():
                    out[k] += w * v
            return out
        p_ans = self.probs(family, "answer")
        settings = factor_settings(family, "answer")
        ea: dict[str, float] = {"relevant": 0.0, "correct": 0.0, "sycophantic": 0.0}
        for p, s in zip(p_ans, settings, strict=True):
            rel, cor, syc = _ANSWER_ATTRS[s]
            ea["relevant"] += p * rel
            ea["correct"] += p * cor
            ea["sycophantic"] += p * syc
        for k, cap in COUNT_FACTORS.items():
            ea[k] = float(np.dot(self.probs(family, k), np.arange(cap + 1)))
        for k in BOOL_FACTORS:
            ea[k] = float(self.probs(family, k)[1])
        out = {k: float(ea[k]) for k in ATTRIBUTES}
        if "details" in self.factors:
            out["details"] = float(np.dot(self.probs(family, "details"), np.arange(MAX_DETAILS + 1)))
        return out

    def expected_gold(self, weights: UtilityWeights | None = None) -> float:
        """Exact E_pi[gold utility] over the prompt distribution (gold is linear in the attributes)."""
        w = weights or UtilityWeights()
        ea = self.expected_attributes()
        total = sum(getattr(w, k) * ea[k] for k in ATTRIBUTES)
        if "details" in ea:
            total += w.details * ea["details"]
        return float(total)

    def agreement_rate(self) -> float | None:
        """P(agree with the false claim | a false-premise prompt), or None without that family."""
        if "false_premise" not in self.family_weights:
            return None
        return float(self.probs("false_premise", "answer")[FP_ANSWER_SETTINGS.index("agree")])

    # ------------------------------------------------------------------ sampling

    def cdfs(self, family: str) -> dict[str, list[float]]:
        """Per factor, the cumulative probabilities of all settings but the last (what sampling bisects)."""
        return {k: np.cumsum(self.probs(family, k))[:-1].tolist() for k in self.factors}

    def sample_settings(self, family: str, rng: random.Random,
                        cdfs: dict[str, list[float]] | None = None) -> dict[str, int]:
        """One response's setting indices (factor -> index), drawn factor by factor with rng.random().

        `cdfs` (from :meth:`cdfs`) saves recomputing the softmax when drawing many samples of one policy.
        """
        c = cdfs or self.cdfs(family)
        return {k: bisect_right(c[k], rng.random()) for k in self.factors}

    @staticmethod
    def attributes(family: str, settings: dict[str, int]) -> dict[str, Any]:
        """The simulator's attribute dict (what render and gold_utility take) of setting indices (with `details`
        only when the settings have it, as the generator's dicts)."""
        rel, cor, syc = _ANSWER_ATTRS[factor_settings(family, "answer")[settings["answer"]]]
        attrs: dict[str, Any] = {"correct": cor, "relevant": rel, "sycophantic": syc}
        for k in COUNT_FACTORS:
            attrs[k] = int(settings[k])
        for k in BOOL_FACTORS:
            attrs[k] = bool(settings[k])
        out = {k: attrs[k] for k in ATTRIBUTES}
        if "details" in settings:
            out["details"] = int(settings["details"])
        return out

    # ------------------------------------------------------------------ state

    def copy(self) -> SimPolicy:
        """A deep copy (logits copied)."""
        return SimPolicy.from_dict(self.to_dict())

    def flat(self) -> np.ndarray:
        """All logits as one vector (families, then factors, in canonical order)."""
        return np.concatenate([self.logits[f][k] for f in self.families for k in self.factors])

    def set_flat(self, v: np.ndarray) -> None:
        """Inverse of :meth:`flat`."""
        i = 0
        factors = self.factors
        for f in self.families:
            for k in factors:
                n = self.logits[f][k].shape[0]
                self.logits[f][k] = np.array(v[i:i + n], dtype=float)
                i += n

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state; floats are written with repr, so a round trip is exact."""
        return {
            "schema": SCHEMA,
            "base": self.base_name,
            "family_weights": dict(self.family_weights),
            "logits": {f: {k: self.logits[f][k].tolist() for k in self.factors} for f in self.families},
            "base_logp": {f: {k: self.base_logp[f][k].tolist() for k in self.factors} for f in self.families},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "policy") -> SimPolicy:
        """Inverse of :meth:`to_dict`.

        A state without the optional `details` factor (every state written before it existed) is a policy that
        never adds details, as its base did.

        Raises:
            RewardlabError: a wrong schema, an unknown family, a factor missing or of the wrong size, or an
                optional factor present in some families (or tables) and not in others.
        """
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise RewardlabError(f"{where}: not a simulator policy (expected schema {SCHEMA!r})")
        try:
            weights = {str(f): float(w) for f, w in d["family_weights"].items()}
            if not weights:
                raise RewardlabError(f"{where}: no family")
            logits, base = {}, {}
            first = d["logits"][next(iter(weights))]
            factors = FACTORS + tuple(k for k in OPTIONAL_FACTORS if k in first)
            for f in weights:
                if f not in FAMILIES:
                    raise RewardlabError(f"{where}: unknown family {f!r}")
                for k in OPTIONAL_FACTORS:
                    if (k in factors) != (k in d["logits"][f]) or (k in factors) != (k in d["base_logp"][f]):
                        raise RewardlabError(f"{where}: factor {k!r} must be in every family's logits and "
                                             f"base_logp or in none (family {f!r})")
                logits[f], base[f] = {}, {}
                for k in factors:
                    n = len(factor_settings(f, k))
                    for table, src in ((logits, d["logits"]), (base, d["base_logp"])):
                        v = np.asarray(src[f][k], dtype=float)
                        if v.shape != (n,) or not np.all(np.isfinite(v)):
                            raise RewardlabError(f"{where}: {f}.{k} must be {n} finite numbers")
                        table[f][k] = v
        except (KeyError, TypeError, ValueError) as e:
            raise RewardlabError(f"{where}: malformed policy state ({type(e).__name__}: {e})") from None
        return cls(str(d.get("base", "custom")), weights, logits, base)

    def save(self, path: str | Path) -> Path:
        """Write the state as JSON (atomically: a temporary file, then rename)."""
        p = Path(path)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict()))
        os.replace(tmp, p)
        return p

    @classmethod
    def load(cls, path: str | Path) -> SimPolicy:
        """Read a state written by :meth:`save`.

        Raises:
            RewardlabError: the file is missing, not JSON, or not a policy state.
        """
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RewardlabError(f"{p}: cannot read the policy state ({e})") from None
        return cls.from_dict(d, str(p))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SimPolicy):
            return NotImplemented
        return self.to_dict() == other.to_dict()
