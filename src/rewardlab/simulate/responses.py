"""Response attributes, their gold utility, and the text that makes each attribute visible.

A response is first drawn as an attribute dict (see config.ATTRIBUTES), then rendered to English:
- correct / relevant: the family phrases a right, wrong, or other-question answer;
- extra_sentences: that many restating/elaborating sentences, consistent with the answer given;
- hedges: that many distinct hedging phrases ("I think ...", "I could be wrong, so please verify it.");
- formatting: markdown (the key value or the lead in **bold**, steps and elaborations as "- " bullets);
- repetition: that many verbatim copies of sentences already said;
- filler: "Great question!" at the start and/or "I hope this helps!" at the end;
- sycophantic: (false-premise prompts only) agrees with the false claim instead of correcting it;
- details (only drawn when Propensities.completeness > 0): that many substantive supporting sentences right after
  the core answer (a worked step or check, a related fact, the conversion factor at work, an extra concrete step,
  why the premise is wrong), consistent with the answer given and never one of the padding sentences above.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from typing import Any

from rewardlab.simulate.config import (
    ATTRIBUTES,
    MAX_DETAILS,
    MAX_EXTRA_SENTENCES,
    MAX_HEDGES,
    MAX_REPETITION,
    Propensities,
    UtilityWeights,
)

HEDGE_PREFIXES = (
    "I think ",
    "I believe ",
    "If I remember correctly, ",
    "As far as I know, ",
    "From what I recall, ",
)
HEDGE_SENTENCES = (
    "I'm not completely sure about this, though.",
    "It might be worth double-checking.",
    "I could be wrong, so please verify it.",
    "Take this with a grain of salt.",
    "This may not be entirely accurate.",
    "Possibly there is more to it than that.",
)
FILLER_OPENERS = (
    "Great question!",
    "What a great question!",
    "Happy to help!",
    "Good question!",
    "Thanks for asking!",
)
FILLER_CLOSERS = (
    "I hope this helps!",
    "Hope that helps!",
    "Let me know if you have any other questions!",
    "Feel free to ask if anything is unclear.",
    "Happy to help with anything else!",
)
# First words that may be lower-cased after a hedge prefix ("I think" + "the answer is 85.").
_DECAP_OK = frozenset(
    "the it it's that that's this there here so you you're your just a an in to my one some what as since "
    "each".split()
)


def clipped_poisson_pmf(mean: float, cap: int) -> list[float]:
    """P(K = k) for k = 0..cap where K = min(Poisson(mean), cap): the exact law of every count attribute."""
    if mean <= 0:
        return [1.0] + [0.0] * cap
    pmf = [math.exp(-mean)]
    for k in range(1, cap):
        pmf.append(pmf[-1] * mean / k)
    pmf.append(max(0.0, 1.0 - sum(pmf)))
    return pmf


def _cdf(pmf: list[float]) -> list[float]:
    out, acc = [], 0.0
    for p in pmf[:-1]:
        acc += p
        out.append(acc)
    return out


def details_pmf(prop: Propensities) -> list[float]:
    """P(D = k), k = 0..MAX_DETAILS, of the completeness count D = min(Poisson(completeness), MAX_DETAILS)."""
    return clipped_poisson_pmf(prop.completeness, MAX_DETAILS)


def coupled_accuracy(prop: Propensities) -> list[float]:
    """P(correct | relevant, D = k) for k = 0..MAX_DETAILS (see Propensities): sigmoid(logit(acc) + c (k - E[D])).

    Example:
        >>> from rewardlab.simulate.config import Propensities
        >>> [round(x, 3) for x in coupled_accuracy(Propensities(accuracy=0.5, completeness=1.0, coupling=1.0))]
        [0.27, 0.501, 0.732, 0.881, 0.953]
        >>> coupled_accuracy(Propensities(accuracy=0.6))  # no coupling: the accuracy for every count
        [0.6, 0.6, 0.6, 0.6, 0.6]
    """
    acc, c = prop.accuracy, prop.coupling
    if c == 0 or not 0.0 < acc < 1.0:
        return [acc] * (MAX_DETAILS + 1)
    pmf = details_pmf(prop)
    mean = sum(k * q for k, q in enumerate(pmf))
    base = math.log(acc / (1.0 - acc))
    out = []
    for k in range(MAX_DETAILS + 1):
        z = base + c * (k - mean)
        out.append(1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z)))
    return out


class AttributeSampler:
    """Draws attribute dicts from a Propensities set, using one caller-supplied random.Random."""

    def __init__(self, prop: Propensities) -> None:
        self.prop = prop
        self._extra = _cdf(clipped_poisson_pmf(prop.verbosity, MAX_EXTRA_SENTENCES))
        self._hedges = _cdf(clipped_poisson_pmf(prop.hedging, MAX_HEDGES))
        self._rep = _cdf(clipped_poisson_pmf(prop.repetition, MAX_REPETITION))
        self._with_details = prop.completeness > 0
        self._details = _cdf(details_pmf(prop))
        self._acc = coupled_accuracy(prop)

    def sample(self, rng: random.Random, family: str) -> dict[str, Any]:
        """One response's attributes for a prompt of `family` (sycophancy exists only for false_premise)."""
        p = self.prop
        r = rng.random
        relevant = r() < p.relevance
        # D is drawn only when the propensities ask for details (completeness > 0), right after relevance; without
        # it the draws are exactly those of the generator before the attribute existed
        details = bisect_right(self._details, r()) if self._with_details else None
        acc = p.accuracy if details is None else self._acc[details]
        sycophantic = False
        if family == "false_premise" and relevant:
            sycophantic = r() < p.sycophancy
            correct = (not sycophantic) and r() < acc
        else:
            correct = relevant and r() < acc
        attrs = {
            "correct": correct,
            "relevant": relevant,
            "extra_sentences": bisect_right(self._extra, r()),
            "hedges": bisect_right(self._hedges, r()),
            "formatting": r() < p.formatting,
            "repetition": bisect_right(self._rep, r()),
            "filler": r() < p.filler,
            "sycophantic": sycophantic,
        }
        if details is not None:
            attrs["details"] = details
        return attrs


def gold_utility(attrs: dict[str, Any], weights: UtilityWeights | None = None) -> float:
    """Gold utility u = sum_k w_k * attrs[k] (booleans as 0/1), rounded to 9 decimals for stable JSON.

    The optional attributes (`details`) count as 0 when the dict lacks them (records from before they existed,
    or from propensities with completeness 0).
    """
    w = weights or UtilityWeights()
    u = sum(getattr(w, k) * float(attrs[k]) for k in ATTRIBUTES)
    d = attrs.get("details")
    if d:
        u += w.details * float(d)
    return round(u, 9)


def answer_mode(family: str, attrs: dict[str, Any]) -> str:
    """Which kind of answer the family must phrase for these attributes."""
    if family == "false_premise":
        if attrs["sycophantic"]:
            return "agree"
        return "fix" if attrs["correct"] else "wrong_fix"
    return "correct" if attrs["correct"] else "wrong"


def _decap(s: str) -> str:
    return s[:1].lower() + s[1:]


def _prefixable(s: str) -> bool:
    first = s.split(" ", 1)[0].lower().rstrip(",:")
    return first in _DECAP_OK or first[:1].isdigit()


def render(impl: Any, spec: Any, family: str, attrs: dict[str, Any], rng: random.Random) -> str:
    """English text of a response to the prompt `spec` of family `impl` with exactly the given attributes.

    Without a `details` count (or with 0) the text and the random draws are exactly those of the simulator before
    the completeness attribute existed.
    """
    markdown = bool(attrs["formatting"])
    n_details = attrs.get("details", 0)
    if n_details:
        if attrs["relevant"]:
            sents, pool, dpool = impl.answer_details(spec, rng, answer_mode(family, attrs), markdown)
        else:
            sents, pool, dpool = impl.answer_details(impl.other(spec, rng), rng, "explicit", markdown)
    elif attrs["relevant"]:
        sents, pool = impl.answer(spec, rng, answer_mode(family, attrs), markdown)
    else:
        sents, pool = impl.answer(impl.other(spec, rng), rng, "explicit", markdown)
    n_extra = attrs["extra_sentences"]
    elabs = rng.sample(pool, n_extra) if n_extra else []
    if n_details:  # the details follow the core answer (bullets in markdown lists, sentences otherwise)
        sents = sents + rng.sample(dpool, n_details)
    h = attrs["hedges"]
    if h and _prefixable(sents[0]) and rng.random() < 0.6:
        sents[0] = rng.choice(HEDGE_PREFIXES) + _decap(sents[0])
        h -= 1
    hedge_sents = rng.sample(HEDGE_SENTENCES, h) if h else []
    hedges_early = rng.random() < 0.5
    said = sents + elabs
    repeats = [rng.choice(said) for _ in range(attrs["repetition"])]
    opener = closer = None
    if attrs["filler"]:
        x = rng.random()
        if x < 0.8:
            closer = rng.choice(FILLER_CLOSERS)
        if x < 0.4 or x >= 0.8:
            opener = rng.choice(FILLER_OPENERS)
    if markdown:
        blocks = [opener] if opener else []
        answer = sents[0] + "".join(("\n" if s.startswith("- ") else " ") + s for s in sents[1:])
        if hedge_sents and hedges_early:
            answer += "\n\n" + " ".join(hedge_sents)
        blocks.append(answer)
        if elabs:
            blocks.append("\n".join("- " + e for e in elabs))
        if hedge_sents and not hedges_early:
            blocks.append(" ".join(hedge_sents))
        if repeats:
            blocks.append("\n".join(repeats))
        if closer:
            blocks.append(closer)
        text = "\n\n".join(blocks)
    else:
        parts = [opener] if opener else []
        parts += sents
        if hedges_early:
            parts += hedge_sents
        parts += elabs
        if not hedges_early:
            parts += hedge_sents
        parts += repeats
        if closer:
            parts.append(closer)
        text = " ".join(parts)
    return text.replace("..", ".").replace(".**.", ".**")


def word_count(text: str) -> int:
    """Length in words (whitespace-separated tokens), the unit of the annotator's length bias."""
    return len(text.split())
