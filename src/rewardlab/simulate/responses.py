"""Response attributes, their gold utility, and the text that makes each attribute visible.

A response is first drawn as an attribute dict (see config.ATTRIBUTES), then rendered to English:
- correct / relevant: the family phrases a right, wrong, or other-question answer;
- extra_sentences: that many restating/elaborating sentences, consistent with the answer given;
- hedges: that many distinct hedging phrases ("I think ...", "I could be wrong, so please verify it.");
- formatting: markdown (the key value or the lead in **bold**, steps and elaborations as "- " bullets);
- repetition: that many verbatim copies of sentences already said;
- filler: "Great question!" at the start and/or "I hope this helps!" at the end;
- sycophantic: (false-premise prompts only) agrees with the false claim instead of correcting it.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from typing import Any

from rewardlab.simulate.config import (
    ATTRIBUTES,
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


class AttributeSampler:
    """Draws attribute dicts from a Propensities set, using one caller-supplied random.Random."""

    def __init__(self, prop: Propensities) -> None:
        self.prop = prop
        self._extra = _cdf(clipped_poisson_pmf(prop.verbosity, MAX_EXTRA_SENTENCES))
        self._hedges = _cdf(clipped_poisson_pmf(prop.hedging, MAX_HEDGES))
        self._rep = _cdf(clipped_poisson_pmf(prop.repetition, MAX_REPETITION))

    def sample(self, rng: random.Random, family: str) -> dict[str, Any]:
        """One response's attributes for a prompt of `family` (sycophancy exists only for false_premise)."""
        p = self.prop
        r = rng.random
        relevant = r() < p.relevance
        sycophantic = False
        if family == "false_premise" and relevant:
            sycophantic = r() < p.sycophancy
            correct = (not sycophantic) and r() < p.accuracy
        else:
            correct = relevant and r() < p.accuracy
        return {
            "correct": correct,
            "relevant": relevant,
            "extra_sentences": bisect_right(self._extra, r()),
            "hedges": bisect_right(self._hedges, r()),
            "formatting": r() < p.formatting,
            "repetition": bisect_right(self._rep, r()),
            "filler": r() < p.filler,
            "sycophantic": sycophantic,
        }


def gold_utility(attrs: dict[str, Any], weights: UtilityWeights | None = None) -> float:
    """Gold utility u = sum_k w_k * attrs[k] (booleans as 0/1), rounded to 9 decimals for stable JSON."""
    w = weights or UtilityWeights()
    return round(sum(getattr(w, k) * float(attrs[k]) for k in ATTRIBUTES), 9)


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
    """English text of a response to the prompt `spec` of family `impl` with exactly the given attributes."""
    markdown = bool(attrs["formatting"])
    if attrs["relevant"]:
        sents, pool = impl.answer(spec, rng, answer_mode(family, attrs), markdown)
    else:
        sents, pool = impl.answer(impl.other(spec, rng), rng, "explicit", markdown)
    n_extra = attrs["extra_sentences"]
    elabs = rng.sample(pool, n_extra) if n_extra else []
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
