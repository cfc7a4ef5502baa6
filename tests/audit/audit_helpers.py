"""Reference scorers for the audit tests: response length, and the simulator's hidden gold utility."""

from __future__ import annotations

from typing import Any

from rewardlab.data.schema import text_of
from rewardlab.probes.adversarial import CONFIDENT_LEAD, SOUP_WORDS
from rewardlab.probes.edits import PROBES, apply_probe
from rewardlab.scoring import CallableScorer
from rewardlab.simulate import UtilityWeights, gold_utility

# How each probe changes the simulator attributes of a response (what the edit adds, in the gold's own terms):
# filler and flattery are filler, padding is one more restating sentence, markdown is formatting, the hedge probe
# inserts two hedges, the repeat probe one verbatim repetition.
PROBE_ATTR_EDITS: dict[str, Any] = {
    "filler": lambda a: {**a, "filler": True},
    "padding": lambda a: {**a, "extra_sentences": a["extra_sentences"] + 1},
    "markdown": lambda a: {**a, "formatting": True},
    "hedges": lambda a: {**a, "hedges": a["hedges"] + 2},
    "repeat": lambda a: {**a, "repetition": a["repetition"] + 1},
    "flattery": lambda a: {**a, "filler": True},
}
assert set(PROBE_ATTR_EDITS) == set(PROBES)


def length_scorer() -> CallableScorer:
    """reward = len(response) in characters: the purest length hacker."""
    return CallableScorer(length_reward, name="len(response)")


def gold_scorer(pair_rows: list[dict[str, Any]], cases: list[dict[str, Any]],
                weights: UtilityWeights | None = None) -> CallableScorer:
    """The simulator's gold utility, looked up by exact text: every response of the simulator rows, every probe's
    edit of it (gold utility recomputed from the edited attributes), and the sycophancy cases.

    The audit's adversarial responses are valued in the gold's own terms, as an irrelevant answer (relevant and
    correct false): an echoed prompt and token soup have no style either (gold 0); another prompt's answer after the
    confident lead keeps that answer's style attributes (its extra sentences, hedges, repetition, filler).

    A false-premise case's two responses share their style draws (formatting, elaborations, filler), so their
    gold utilities differ only in the stance attributes; the shared style terms are left out of both.
    """
    table: dict[str, float] = {}
    responses = [(r[side], r[f"attrs_{side}"]) for r in pair_rows for side in ("chosen", "rejected")]
    attrs_of = dict(responses)
    for text, attrs in responses:
        table[text] = gold_utility(attrs, weights)
    for text, attrs in responses:  # an edit that happens to equal an original response keeps the original's value
        for name, edit in PROBE_ATTR_EDITS.items():
            table.setdefault(apply_probe(name, text), gold_utility(edit(attrs), weights))
    zero_style = {"relevant": True, "extra_sentences": 0, "hedges": 0, "formatting": False, "repetition": 0,
                  "filler": False}
    for c in cases:
        table[c["agreeing"]] = gold_utility({**zero_style, "correct": False, "sycophantic": True}, weights)
        table[c["correcting"]] = gold_utility({**zero_style, "correct": True, "sycophantic": False}, weights)

    irrelevant = {"relevant": False, "correct": False, "sycophantic": False}
    soup_words = set(SOUP_WORDS)
    lead = CONFIDENT_LEAD + " "

    def adversarial_gold(prompt: Any, response: str) -> float | None:
        if response == text_of(prompt):  # the prompt echoed back
            return gold_utility({**zero_style, **irrelevant}, weights)
        if response.startswith(lead) and response[len(lead):] in attrs_of:  # another prompt's answer
            return gold_utility({**attrs_of[response[len(lead):]], **irrelevant}, weights)
        if set(response.split()[:-1]) <= soup_words:  # token soup (its last word may be cut)
            return gold_utility({**zero_style, **irrelevant}, weights)
        return None

    def gold(prompts: list[Any], responses: list[str]) -> list[float]:
        out: list[float | None] = [table[r] if r in table else adversarial_gold(p, r)
                                   for p, r in zip(prompts, responses, strict=True)]
        missing = [r for r, v in zip(responses, out, strict=True) if v is None]
        if missing:
            raise KeyError(f"{len(missing)} responses unknown to the gold table, e.g. {missing[0][:80]!r}")
        return out  # type: ignore[return-value]

    return CallableScorer(gold, name="gold utility")


def length_reward(prompts: list[Any], responses: list[str]) -> list[float]:
    """len(response) as a module-level function, for `py:audit_helpers:length_reward` scorer specs."""
    return [float(len(r)) for r in responses]
