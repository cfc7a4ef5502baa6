"""The reward the optimisation loop optimises: one reward or an ensemble, combined by a selection rule, cached per
distinct text, and (for rewards the loop can train) updated on the policy's own samples.

A reward spec (`rewardlab optimize --reward`) is one of

- ``gold``: the simulator's gold utility (no proxy gap);
- ``annotator:PRESET``: the simulated annotator's perceived utility, gold plus its length / agreement / format
  biases (PRESET: human_like, neutral, or length=B,agreement=B,format=B);
- ``bow:PRESET[:N[:SEED]][:correct=M]``: a bag-of-words Bradley-Terry reward model trained on N simulator pairs
  labelled by that annotator, plus M pairs that reward correcting a false premise (:mod:`rewardlab.policy.bow_rm`;
  the loop can update it, `--rm-update-every`);
- anything `rewardlab.scoring.get_scorer` loads: a reward-model folder, ``http(s)://.../get_reward``,
  ``py:module:function``; with `--rm-update-every` a single reward-model folder is fine-tuned in the loop
  (:mod:`rewardlab.policy.neural_rm`);

or several of these separated by ';' (an ensemble: each member's mean reward is one member). The combined reward is
`rewardlab.rules.pessimistic_scores(select, mean, std, members)`: ``mean``, ``min``, ``uwo:lam``
(mean - lam Var_pop(members)), ``lcb:k`` (mean - k std) or ``quantile:q`` (mean + Phi^-1(q) std). With one reward
the std and members are the scorer's own (an ensemble checkpoint's members, a Gaussian head's std: ``quantile:q``
is the Gaussian quantile of a heteroscedastic model); with several, std is the members' population std.
"""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.policy.annotators import ANNOTATOR_PRESETS, annotator_config, parse_annotator  # noqa: F401
from rewardlab.rules import parse_rule, pessimistic_scores
from rewardlab.scoring.memo import RewardTable, Row, output_rows
from rewardlab.simulate.config import SimConfig, UtilityWeights
from rewardlab.simulate.responses import gold_utility, word_count

log = logging.getLogger(__name__)

_LOADED: dict[Any, Any] = {}
#: scorer options at these values are left out (the scorer loads as `get_scorer(spec)` does by default)
_SCORING_DEFAULTS = {"bf16": False, "device": "auto"}


def load_reward_model(spec: str, update: dict[str, Any] | None = None,
                      scoring: dict[str, Any] | None = None) -> Any:
    """A text reward model by spec, loaded (or trained, for bow:...) once per process: a later call returns the
    same scorer, or for a bag-of-words model a fresh copy (the loop may update it).

    Args:
        spec: the reward spec (see the module docstring).
        update: neural update settings (steps, lr, batch_size, replay, seed) when the loop will update the model:
            a single-model checkpoint then comes back as a fresh `rewardlab.policy.neural_rm.NeuralRewardModel`
            around a copy of the loaded model (the cached scorer stays as loaded).
        scoring: options of a model scorer (`rewardlab.scoring.get_scorer`: bf16, device, token_budget); one
            scorer is loaded per spec and options.

    Raises:
        RewardlabError: the spec cannot be loaded (see `rewardlab.scoring.get_scorer` and `bow:` specs).
    """
    scoring = {k: v for k, v in (scoring or {}).items() if k not in _SCORING_DEFAULTS or v != _SCORING_DEFAULTS[k]}
    key = (spec, tuple(sorted(scoring.items())))
    if key not in _LOADED:
        if spec.startswith("bow:"):
            from rewardlab.policy.bow_rm import BowRewardModel

            _LOADED[key] = BowRewardModel.from_spec(spec)
        else:
            from rewardlab.scoring.base import get_scorer

            _LOADED[key] = get_scorer(spec, **scoring)
    model = _LOADED[key]
    if callable(getattr(model, "update", None)):
        return type(model).from_dict(model.to_dict())
    if update is not None:
        from rewardlab.policy.neural_rm import updatable_scorer

        return updatable_scorer(model, update)
    return model


class _Member:
    """One reward: gold, the annotator's perceived utility, or a text scorer (cached per distinct (prompt, text)).
    With `update` settings a single-model scorer becomes a neural reward model the loop can update."""

    def __init__(self, spec: str, scorer: Any, weights: UtilityWeights, length_norm: float,
                 update: dict[str, Any] | None = None, scoring: dict[str, Any] | None = None):
        self.spec = spec
        if scorer is not None and update is not None:
            from rewardlab.policy.neural_rm import updatable_scorer

            scorer = updatable_scorer(scorer, update)
        self.weights, self.length_norm = weights, length_norm
        self.kind = "scorer"
        self.biases: dict[str, float] = {}
        self.scorer = scorer
        self.name = getattr(scorer, "name", None) or spec
        if scorer is None:
            if spec == "gold":
                self.kind = "gold"
            elif spec.startswith("annotator:"):
                self.kind, self.biases = "annotator", parse_annotator(spec)
            else:
                self.scorer = load_reward_model(spec, update, scoring)
            self.name = spec
        self.table = RewardTable()  # keyed by (prompt, text): a checkpoint stores it as is

    @property
    def updatable(self) -> bool:
        return self.kind == "scorer" and callable(getattr(self.scorer, "update", None))

    def __call__(self, step: int, prompts: list[str], texts: list[str],
                 attrs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        if self.kind == "gold":
            return np.array([gold_utility(a, self.weights) for a in attrs]), None, None
        if self.kind == "annotator":
            b = self.biases
            return np.array([gold_utility(a, self.weights) + b["length"] * word_count(t) / self.length_norm
                             + b["agreement"] * float(a["sycophantic"]) + b["format"] * float(a["formatting"])
                             for a, t in zip(attrs, texts, strict=True)]), None, None
        keys = list(zip(prompts, texts, strict=True))
        todo = [keys[i] for i in self.table.missing(keys)]
        if todo:
            self.table.store(todo, self._score(step, todo))
        out = self.table.output(keys)
        return out.mean, out.std, out.members

    def _score(self, step: int, todo: list[tuple[str, str]]) -> list[Row]:
        """The rows of the distinct `todo` items, from the scorer; any failure or non-finite reward is one clear
        error naming the step."""
        try:
            out = self.scorer.score([k[0] for k in todo], [k[1] for k in todo], progress=False)
            n = np.asarray(out.mean, dtype=float).reshape(-1).shape[0]
        except RewardlabError as e:
            raise RewardlabError(f"step {step}: the reward model {self.name} failed: {e}") from None
        except Exception as e:  # a scorer is user code: any failure becomes one clear error naming the step
            raise RewardlabError(f"step {step}: the reward model {self.name} failed: "
                                 f"{type(e).__name__}: {e}") from e
        if n != len(todo):
            raise RewardlabError(f"step {step}: the reward model {self.name} returned {n} rewards for {len(todo)} "
                                 "responses")
        rows = output_rows(out, len(todo))
        bad = [i for i, (m, sd, mem) in enumerate(rows)
               if not math.isfinite(m) or (sd is not None and not math.isfinite(sd))
               or (mem is not None and not all(math.isfinite(x) for x in mem))]
        if bad:
            p, t = todo[bad[0]]
            raise RewardlabError(f"step {step}: the reward model {self.name} returned a non-finite reward "
                                 f"({rows[bad[0]][0]}) for {len(bad)} of {len(todo)} responses; first: prompt "
                                 f"{p[:60]!r}, response {t[:60]!r}")
        return rows


class Rewarder:
    """The reward of sampled responses: one reward or an ensemble (specs separated by ';'), combined by `select`.

    Args:
        reward: the reward spec (see the module docstring); a label when `scorer` is given.
        scorer: a Scorer, or a list of Scorers (an ensemble), used instead of loading `reward`.
        weights: gold utility weights; length_norm: words per unit of the annotator's length bias.
        select: the selection rule combining mean, std and members (rewardlab.rules).
        rm_update: neural update settings (steps, lr, batch_size, replay, seed) when the loop updates the reward
            model: single-model checkpoints become `rewardlab.policy.neural_rm.NeuralRewardModel`s (None: as loaded).
        scoring: options of the model scorers loaded from `reward` (bf16, device; see `load_reward_model`).

    Raises:
        RewardlabError: a bad rule, an unknown annotator preset, a reward that cannot be loaded.

    Example:
        >>> r = Rewarder("annotator:length=1;annotator:length=3", select="min")
        >>> attrs = {"correct": True, "relevant": True, "extra_sentences": 0, "hedges": 0, "formatting": False,
        ...          "repetition": 0, "filler": False, "sycophantic": False}
        >>> r(0, ["q"], ["one two three four five"], [attrs]).round(3).tolist()  # 3.5 + 5/50 (the smaller bias)
        [3.6]
    """

    def __init__(self, reward: str, scorer: Any = None, weights: UtilityWeights | None = None,
                 length_norm: float = 50.0, select: str = "mean", rm_update: dict[str, Any] | None = None,
                 scoring: dict[str, Any] | None = None):
        self.weights = weights or UtilityWeights()
        self.rule = parse_rule(select)
        scorers = scorer if isinstance(scorer, list | tuple) else None if scorer is None else [scorer]
        if scorers is None:
            specs = [s.strip() for s in reward.split(";") if s.strip()]
            if not specs:
                raise RewardlabError(f"--reward {reward!r}: no reward given")
            self.members = [_Member(s, None, self.weights, length_norm, rm_update, scoring) for s in specs]
        else:
            self.members = [_Member(reward if len(scorers) == 1 else f"{reward}[{i}]", s, self.weights, length_norm,
                                    rm_update) for i, s in enumerate(scorers)]
        names = [m.name for m in self.members]
        self.name = names[0] if len(names) == 1 else ";".join(names)
        if self.rule.kind != "mean":
            self.name += f" ({self.rule})"
        self.kind = "scorer" if any(m.kind == "scorer" for m in self.members) else self.members[0].kind
        if len(self.members) == 1 and self.members[0].kind != "scorer" and self.rule.kind != "mean":
            raise RewardlabError(f"--select {self.rule}: the reward {names[0]} has no std or members; pessimistic "
                                 "rules need an ensemble (several rewards separated by ';') or a model with them")

    @property
    def updatable(self) -> bool:
        """Whether any member is a reward model the loop can update in-process."""
        return any(m.updatable for m in self.members)

    def parts(self, step: int, prompts: list[str], texts: list[str],
              attrs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(mean, std, members) of the (ensemble) reward before the rule."""
        outs = [m(step, prompts, texts, attrs) for m in self.members]
        if len(outs) == 1:
            return outs[0]
        mem = np.stack([o[0] for o in outs], axis=-1)
        return mem.mean(axis=-1), None, mem

    def score_texts(self, prompts: list[str], texts: list[str]) -> np.ndarray:
        """The combined reward of (prompt, text) pairs outside the loop (no cache, counts unchanged): for audits.

        Raises:
            RewardlabError: a member that does not read text alone (gold, annotator:...), or a scorer failure.
        """
        outs = []
        for m in self.members:
            if m.kind != "scorer":
                raise RewardlabError(f"{m.name} reads the simulator's hidden attributes, not text")
            out = m.scorer.score(prompts, texts, progress=False)
            std, mem = getattr(out, "std", None), getattr(out, "members", None)
            outs.append((np.asarray(out.mean, dtype=float).reshape(-1),
                         None if std is None else np.asarray(std, dtype=float).reshape(-1),
                         None if mem is None else np.asarray(mem, dtype=float).reshape(len(texts), -1)))
        if len(outs) == 1:
            mean, std, mem = outs[0]
        else:
            mem = np.stack([o[0] for o in outs], axis=-1)
            mean, std = mem.mean(axis=-1), None
        return mean if self.rule.kind == "mean" else pessimistic_scores(self.rule, mean, std, mem)

    def __call__(self, step: int, prompts: list[str], texts: list[str], attrs: list[dict[str, Any]]) -> np.ndarray:
        """Rewards of the responses sampled at `step` (the rule applied to mean, std and members).

        Raises:
            RewardlabError: a scorer raised, returned the wrong number of rewards or a non-finite one (naming
                the step and the first bad response), or the rule needs std / members the reward does not give.
        """
        mean, std, mem = self.parts(step, prompts, texts, attrs)
        if self.rule.kind == "mean":
            return mean
        try:
            return pessimistic_scores(self.rule, mean, std, mem)
        except RewardlabError as e:
            raise RewardlabError(f"step {step}: --select {self.rule} with the reward {self.name}: {e}") from None

    # ------------------------------------------------------------------ cache

    @property
    def hits(self) -> int:
        return sum(m.table.hits for m in self.members)

    @property
    def misses(self) -> int:
        return sum(m.table.misses for m in self.members)

    def cache_stats(self) -> dict[str, Any]:
        """Hits, misses, hit rate and distinct texts of the score caches ({} for gold / annotator rewards).

        `distinct` counts the distinct (prompt, text) scored per member and reward-model version: every miss is one
        (a reward-model update empties its member's cache, whose texts are then scored again).
        """
        if self.kind != "scorer":
            return {}
        total = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "distinct": self.misses,
                "hit_rate": self.hits / total if total else None}

    def state(self, folder: str | Path | None = None) -> dict[str, Any]:
        """JSON-ready state for a checkpoint: each member's cache and counts, and any updatable model.

        Args:
            folder: where updatable models that keep their weights in files (neural reward models) write them
                (the checkpoint's folder); the JSON holds the path.
        """
        out = []
        for i, m in enumerate(self.members):
            d: dict[str, Any] = {"cache": [[p, t, *v] for (p, t), v in m.table.rows.items()],
                                 "counts": [m.table.hits, m.table.misses]}
            if m.updatable and hasattr(m.scorer, "to_dict"):
                d["model"] = (m.scorer.to_dict(folder, stem=f"rm-{i}") if hasattr(m.scorer, "load_dict")
                              else m.scorer.to_dict())
            out.append(d)
        return {"members": out}

    def load_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state` (also reads the single-reward cache of older checkpoints)."""
        if "members" not in state:  # rewardlab.optimize_checkpoint/1 before ensembles: one cache of floats
            state = {"members": [{"cache": state.get("cache", []), "counts": state.get("cache_counts", [0, 0])}]}
        if len(state["members"]) != len(self.members):
            raise RewardlabError(f"checkpoint: {len(state['members'])} reward members saved, {len(self.members)} now")
        for m, d in zip(self.members, state["members"], strict=True):
            m.table = RewardTable({(e[0], e[1]): (float(e[2]), e[3] if len(e) > 3 else None,
                                                  tuple(e[4]) if len(e) > 4 and e[4] is not None else None)
                                   for e in d["cache"]})
            m.table.hits, m.table.misses = d["counts"]
            if "model" in d and hasattr(m.scorer, "load_dict"):  # in place: the model stays on its device
                m.scorer.load_dict(d["model"])
            elif "model" in d:
                m.scorer = type(m.scorer).from_dict(d["model"])

    # ------------------------------------------------------------------ updates

    def update(self, pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Update every updatable member on `pairs` (added to its training pairs) and drop its stale cache.

        Returns:
            One dict per updated member: its name and what its update reported.
        """
        out = []
        for m in self.members:
            if m.updatable:
                info = m.scorer.update(pairs)
                m.table.clear()
                out.append({"member": m.name, **info})
        return out

    def gold_agreement(self, step: int, pairs: list[dict[str, Any]]) -> float | None:
        """Share of `pairs` with different gold on which the combined reward ranks like gold (ties count 1/2)."""
        used = [p for p in pairs if p["gold_chosen"] != p["gold_rejected"]]
        if not used:
            return None
        prompts = [p["prompt"] for p in used]
        ra = self(step, prompts, [p["chosen"] for p in used], [p["attrs_chosen"] for p in used])
        rb = self(step, prompts, [p["rejected"] for p in used], [p["attrs_rejected"] for p in used])
        sign = np.sign(np.array([p["gold_chosen"] - p["gold_rejected"] for p in used]))
        d = np.sign(ra - rb) * sign
        return float(np.mean(np.where(d == 0, 0.5, d > 0)))


def label_pairs(items: list[Any], first: list[tuple], second: list[tuple], config: SimConfig,
                rng: random.Random) -> list[dict[str, Any]]:
    """Preference pairs of two responses per prompt, labelled by the simulated annotator of `config`.

    Args:
        items: the prompts (simulator items with .prompt and .family).
        first, second: one (settings, attrs, text) per item each (the loop's samples).
        config: the annotator (biases, per-family noise, annotators per pair).
        rng: the random stream of the votes.

    Returns:
        Records {prompt, chosen, rejected, label, gold_chosen, gold_rejected, attrs_chosen, attrs_rejected,
        category}; pairs of identical texts and ties (an even split of votes) are left out.
    """
    from rewardlab.simulate.annotator import annotate
    from rewardlab.simulate.generate import _logit

    out = []
    w = config.weights
    for item, a, b in zip(items, first, second, strict=True):
        if a[2] == b[2]:
            continue
        ua, ub = gold_utility(a[1], w), gold_utility(b[1], w)
        z = _logit(a[1], a[2], ua, b[1], b[2], ub, config.tau(item.family), config)
        na, nb, _, _ = annotate(rng, z, config)
        if na == nb:
            continue
        c, r = (a, b) if na > nb else (b, a)
        out.append({"prompt": item.prompt, "chosen": c[2], "rejected": r[2],
                    "label": max(na, nb) / (na + nb), "gold_chosen": gold_utility(c[1], w),
                    "gold_rejected": gold_utility(r[1], w), "attrs_chosen": c[1], "attrs_rejected": r[1],
                    "category": item.family})
    return out
