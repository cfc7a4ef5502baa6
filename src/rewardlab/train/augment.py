"""Counterfactual augmentation of training pairs (RRM, Liu et al. 2024): extra pairs that teach a reward model to
ignore the artifacts the audit probes for.

`augment_pairs` adds, for the training pairs only (never the held-out ones), three kinds of pairs:

- ``probes``: the preferred response stays preferred when the other one gets a probe edit: (prompt, chosen,
  probe(rejected)) with the original label (margin kept). A probe cannot rescue a worse answer;
- ``off-prompt``: the preferred response over a fluent answer to another prompt of the training set, built as the
  audit's off-prompt adversarial response (`rewardlab.audit.adversarial.off_prompt_answer`: a confident lead,
  then the other prompt's preferred response), label 1. Relevance beats fluency;
- ``ties``: a response against itself with a probe added, a tie (``tie`` true and soft label 0.5). The edit adds
  nothing, so neither side is better. These pairs keep the ``probes`` pairs from teaching "a probe is bad"
  (it should be neutral).

The edits are the audit's own transforms (`rewardlab.audit.perturb.PROBES`, applied with `apply_probe`), so what
the audit measures is what was trained on; the training run saves the probe set in its checkpoint metadata
(`"augment"`), and `rewardlab audit` marks those probes "trained on (not independent evidence)".

Which pairs: every pair that has a preferred side (not tied; the preferred side is chosen when label is None or
>= 0.5, else rejected), or a seeded share of them (`rate`). Which probe: the probes are dealt in turn over the
selected pairs, starting at `seed` modulo their number (pair k of a kind gets probes[(seed + k) % n_probes]),
so every probe is used equally often. Which other prompt (off-prompt): a seeded permutation of the selected pairs;
each pair takes the next pair in it whose prompt and preferred text differ. An edit that leaves a text unchanged
adds no pair. The added pairs follow the originals, each with ``extra["augment"]`` (kind) and
``extra["probe"]`` (the probe, or the other pair's id for off-prompt).

How each loss takes tie pairs: bt and margin cannot (they train chosen over rejected, whatever the label); soft
and gaussian read the soft label 0.5; rao_kupper and davidson read the tie flag (log P(tie)). `tie_labelling`
says which, or raises naming the flags.

Example:
    >>> from rewardlab.data.schema import PreferencePair as P
    >>> pairs = [P("Capital of France?", "Paris.", "Lyon."), P("2+2?", "4.", "5.")]
    >>> out, report = augment_pairs(pairs, ["probes", "off-prompt"], probes=["filler"])
    >>> [(p.chosen, p.rejected) for p in out[2:]]  # doctest: +NORMALIZE_WHITESPACE
    [('Paris.', 'Lyon. I hope this helps! Let me know if you have any other questions.'),
     ('4.', '5. I hope this helps! Let me know if you have any other questions.'),
     ('Paris.', 'I am completely certain about this, and the answer is clear: 4.'),
     ('4.', 'I am completely certain about this, and the answer is clear: Paris.')]
    >>> report.counts
    {'probes': 2, 'off-prompt': 2}
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rewardlab.config import ConfigError
from rewardlab.data.schema import PreferencePair, Text, text_of
from rewardlab.errors import RewardlabError
from rewardlab.train.augment_spec import (
    DEFAULT_PROBES as DEFAULT_PROBES,  # the spec's module; re-exported here
)
from rewardlab.train.augment_spec import KINDS as KINDS
from rewardlab.train.augment_spec import TIE_LABELLING as TIE_LABELLING
from rewardlab.train.augment_spec import AugmentSpec as AugmentSpec
from rewardlab.train.augment_spec import _check_names as _check_names
from rewardlab.train.augment_spec import tie_labelling as tie_labelling

logger = logging.getLogger(__name__)



@dataclass
class AugmentReport:
    """What augmentation added: pairs per kind and per probe, and what was trained on (for the checkpoint)."""

    kinds: list[str]
    probes: list[str]
    seed: int
    rate: float
    n_before: int
    n_eligible: int
    counts: dict[str, int] = field(default_factory=dict)
    per_probe: dict[str, dict[str, int]] = field(default_factory=dict)
    unchanged: int = 0
    tie_labelling: str | None = None

    @property
    def n_after(self) -> int:
        """Pairs after augmentation (originals + added)."""
        return self.n_before + sum(self.counts.values())

    @property
    def trained_on(self) -> dict[str, list[str]]:
        """The audit checks this training saw: probes (by name) and adversarial responses ("off_prompt")."""
        uses_probes = any(k in ("probes", "ties") for k in self.kinds)
        return {"probes": list(self.probes) if uses_probes else [],
                "adversarial": ["off_prompt"] if "off-prompt" in self.kinds else []}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (logs and the checkpoint's "augment" metadata)."""
        return {"kinds": list(self.kinds), "probes": list(self.probes), "seed": self.seed, "rate": self.rate,
                "n_before": self.n_before, "n_after": self.n_after, "n_eligible": self.n_eligible,
                "added": dict(self.counts), "added_per_probe": {k: dict(v) for k, v in self.per_probe.items()},
                "skipped_unchanged": self.unchanged, "tie_labelling": self.tie_labelling,
                "trained_on": self.trained_on}

    def lines(self) -> list[str]:
        """Readable lines for the training log."""
        added = ", ".join(f"{k} +{n}" for k, n in self.counts.items())
        out = [f"augmentation (seed {self.seed}, rate {self.rate:g}): {self.n_before} -> {self.n_after} training "
               f"pairs ({added}); {self.n_eligible} pairs with a preferred side"]
        for k, per in self.per_probe.items():
            out.append(f"  {k}: " + ", ".join(f"{p} {n}" for p, n in per.items()))
        if self.tie_labelling:
            out.append(f"  tie pairs labelled as {self.tie_labelling}")
        if self.unchanged:
            out.append(f"  {self.unchanged} edits left a text unchanged and added no pair")
        t = self.trained_on
        out.append(f"  trained on (the audit marks these): probes {t['probes'] or 'none'}, adversarial "
                   f"{t['adversarial'] or 'none'}")
        return out


def _key(prompt: Text) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False)


def augment_pairs(pairs: Sequence[PreferencePair], kinds: Sequence[str],
                  probes: Sequence[str] = DEFAULT_PROBES, seed: int = 0, rate: float = 1.0,
                  tie_label: str | None = None) -> tuple[list[PreferencePair], AugmentReport]:
    """Add counterfactual pairs (see the module docstring) to training pairs.

    Args:
        pairs: the training pairs (never augment held-out pairs).
        kinds: any of "probes", "off-prompt", "ties".
        probes: names of the audit's probes (`rewardlab.audit.PROBES`) used by the probes and ties kinds.
        seed: seeds the selection (rate < 1), the first probe dealt and the off-prompt permutation.
        rate: share of the pairs with a preferred side that get each kind of pair, in (0, 1].
        tie_label: how the loss takes tie pairs (`tie_labelling`), recorded in the report; the pairs always carry
            both tie=True and label=0.5.

    Returns:
        (pairs, report): the original pairs in their order, then the added ones; the report (`lines()` for logs,
        `to_dict()` for the checkpoint).

    Raises:
        RewardlabError: an unknown kind or probe, a kind named twice, no probes for probes/ties, or rate outside
            (0, 1], naming the argument.

    Example:
        >>> from rewardlab.data.schema import PreferencePair as P
        >>> out, report = augment_pairs([P("Why?", "Because.", "No.")], ["ties"], probes=["hedges"])
        >>> out[1].chosen, out[1].rejected, out[1].tie, out[1].label
        ('Because.', 'I think this is right, but I might be wrong. Because. It might be worth double-checking.', True, 0.5)
    """
    from rewardlab.probes.adversarial import off_prompt_answer
    from rewardlab.probes.edits import apply_probe

    kinds, probes = list(kinds), list(probes)
    try:
        _check_names(kinds, probes)
    except ConfigError as e:
        raise RewardlabError(str(e)) from None
    if not 0 < rate <= 1:
        raise RewardlabError(f"rate must be in (0, 1], got {rate!r}")
    pairs = list(pairs)
    rng = np.random.default_rng(seed)
    preferred = [None if p.tie else ("chosen" if p.label is None or p.label >= 0.5 else "rejected") for p in pairs]
    eligible = [i for i, side in enumerate(preferred) if side is not None]
    report = AugmentReport(kinds, probes, seed, rate, len(pairs), len(eligible), tie_labelling=tie_label)
    added: list[PreferencePair] = []

    def best(i: int) -> Text:
        return pairs[i].chosen if preferred[i] == "chosen" else pairs[i].rejected

    def tag(p: PreferencePair, kind: str, what: str) -> dict[str, Any]:
        return {**p.extra, "augment": kind, "probe": what}

    for kind in kinds:
        chosen_idx = [i for i in eligible if rate >= 1 or rng.random() < rate]
        count = 0
        per: dict[str, int] = {}
        if kind == "off-prompt":
            order = [chosen_idx[j] for j in rng.permutation(len(chosen_idx))]
            for j, i in enumerate(order):
                other = next((k for k in order[j + 1:] + order[:j] if _key(pairs[k].prompt) != _key(pairs[i].prompt)
                              and text_of(best(k)) != text_of(best(i))), None)
                if other is None:
                    continue
                p = pairs[i]
                answer = off_prompt_answer(best(other))
                added.append(PreferencePair(p.prompt, best(i), answer if isinstance(best(i), str) else
                                            [*best(i)[:-1], {**best(i)[-1], "content": answer}],
                                            id=f"{p.id or i}+off-prompt", category=p.category,
                                            extra=tag(p, kind, pairs[other].id or str(other))))
                count += 1
            report.counts[kind] = count
            continue
        for k, i in enumerate(sorted(chosen_idx)):
            name = probes[(seed + k) % len(probes)]
            p = pairs[i]
            if kind == "probes":  # the probe goes on the worse side
                original = p.rejected if preferred[i] == "chosen" else p.chosen
                edited = apply_probe(name, original)
                new = (replace(p, rejected=edited) if preferred[i] == "chosen" else replace(p, chosen=edited))
            else:  # ties: the better response against itself with the probe
                original = best(i)
                edited = apply_probe(name, original)
                new = PreferencePair(p.prompt, original, edited, label=0.5, tie=True, category=p.category)
            if text_of(edited) == text_of(original):
                report.unchanged += 1
                continue
            added.append(replace(new, id=f"{p.id or i}+{kind}:{name}", extra=tag(p, kind, name)))
            per[name] = per.get(name, 0) + 1
            count += 1
        report.counts[kind] = count
        report.per_probe[kind] = per
    return pairs + added, report
