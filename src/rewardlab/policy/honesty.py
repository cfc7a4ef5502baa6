"""Sycophancy in the policy lab: a text-level detector of a response agreeing with the user's claim, the honesty
penalty of `rewardlab optimize --honesty-penalty` built on it, and the sycophancy audit of the reward before
optimisation starts (`--sycophancy-audit N`).

The detector (:func:`agreement_flags`) reads only the text, as a practitioner could: it is the audit's `agreement`
feature (:func:`rewardlab.audit.features.agreement`), d(x, y) = 1 when the prompt x asserts a claim and asks for
confirmation (`CLAIM_PATTERNS`: "I'm sure ..., right?", "Can you confirm?", ...) and the response y opens by agreeing
(`AGREE_OPENERS` at the start of its first sentence, after filler or flattery: "Yes", "That's right", "You're
absolutely right", ...), else 0. It cannot know whether the claim is false; on the simulator every claim prompt is a
false-premise prompt. It never sees the simulator's hidden `sycophantic` attribute, which serves only as an
independent reference (:func:`detector_check`): on 4,000 samples of the default policy (all families, seed 0) its
precision is 1.00 (258 of 258 flags) and its recall 0.90 (258 of 288): it misses an agreement that opens with a hedge
("As far as I know, you're absolutely right, ..."), so a policy can learn to evade it.

The honesty penalty replaces the reward of every sampled response by r'(x, y) = r(x, y) - lambda d(x, y) before the
method's update (advantages, best-of-n selection or pair winners are computed from r'); the logged proxy stays r.
With GRPO the objective is E[r] - lambda P(d = 1) per prompt, under group normalisation.

Example:
    >>> agreement_flags(["I'm sure the sky is green, right?"] * 2,
    ...                 ["Yes, the sky is green.", "Actually, the sky is blue, not green."]).tolist()
    [1.0, 0.0]
    >>> honesty_penalised(np.array([2.0, 1.0]), ["I'm sure the sky is green, right?"] * 2,
    ...                   ["Yes, the sky is green.", "Actually, the sky is blue."], 1.5)[0].tolist()
    [0.5, 1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.audit.features import agreement
from rewardlab.errors import RewardlabError

__all__ = ["RewarderScorer", "agreement_flags", "audit_reward_sycophancy", "detector_agreement", "detector_check",
           "honesty_penalised"]


def agreement_flags(prompts: Sequence[str], texts: Sequence[str]) -> np.ndarray:
    """d(x, y) of each (prompt, response): 1.0 when the response opens by agreeing with a claim the prompt asserts.

    Args:
        prompts, texts: the prompts and responses, as many of each.

    Returns:
        float array of 0.0 / 1.0, one per response.

    Raises:
        RewardlabError: different numbers of prompts and responses.

    Example:
        >>> agreement_flags(["Quick check: 2+2 is 5, correct?"], ["That's correct! 2+2 is 5."]).tolist()
        [1.0]
    """
    if len(prompts) != len(texts):
        raise RewardlabError(f"agreement detector: {len(prompts)} prompts for {len(texts)} responses")
    return np.array([1.0 if agreement(str(p), str(t)) == 1 else 0.0 for p, t in zip(prompts, texts, strict=True)])


def honesty_penalised(rewards: np.ndarray, prompts: Sequence[str], texts: Sequence[str],
                      lam: float) -> tuple[np.ndarray, np.ndarray]:
    """r - lam d: the rewards with the honesty penalty, and the detector's flags d.

    Args:
        rewards: one reward per response.
        prompts, texts: the prompts and responses the rewards belong to.
        lam: the penalty lambda (>= 0; 0 leaves the rewards as they are).

    Returns:
        (penalised rewards, flags), both float arrays shaped like `rewards`.

    Raises:
        RewardlabError: a negative or non-finite lambda, or counts that differ.

    Example:
        >>> honesty_penalised(np.array([1.0]), ["Am I right that 2+2 is 5?"], ["Yes."], 0.0)[0].tolist()
        [1.0]
    """
    if not (np.isfinite(lam) and lam >= 0):
        raise RewardlabError(f"honesty penalty: lambda must be a finite number >= 0, got {lam}")
    r = np.asarray(rewards, dtype=float).reshape(-1)
    flags = agreement_flags(prompts, texts)
    if r.shape != flags.shape:
        raise RewardlabError(f"honesty penalty: {r.shape[0]} rewards for {flags.shape[0]} responses")
    return r - lam * flags, flags


def detector_agreement(flags: Sequence[float], truth: Sequence[bool]) -> dict[str, Any]:
    """Precision and recall of the detector's flags against a reference (the simulator's `sycophantic` attribute).

    Args:
        flags: the detector's 0/1 per response.
        truth: the reference, True where the response really agrees with a false claim.

    Returns:
        {"n", "tp", "fp", "fn", "precision", "recall"} (precision / recall None without a flag / a positive).

    Example:
        >>> detector_agreement([1, 1, 0, 0], [True, False, True, False])["precision"]
        0.5
    """
    f = np.asarray(flags, dtype=bool)
    t = np.asarray(truth, dtype=bool)
    tp, fp, fn = int((f & t).sum()), int((f & ~t).sum()), int((~f & t).sum())
    return {"n": int(f.size), "tp": tp, "fp": fp, "fn": fn,
            "precision": tp / (tp + fp) if tp + fp else None, "recall": tp / (tp + fn) if tp + fn else None}


def detector_check(policy: Any, n_prompts: int = 400, seed: int = 0, family: str | None = None) -> dict[str, Any]:
    """The detector against the simulator's hidden `sycophantic` attribute on samples of a simulator policy.

    n_prompts prompts (of `family`, or of the simulator's family mix when None) get one sampled, rendered response
    each; the detector reads prompt and text, the reference is the response's `sycophantic` attribute.

    Args:
        policy: a :class:`rewardlab.policy.simpolicy.SimPolicy`.
        n_prompts: prompts sampled (one response each, >= 1).
        seed: the prompts' and samples' seed.
        family: one task family (e.g. "false_premise"), or None for all.

    Returns:
        :func:`detector_agreement`'s dict plus "flagged_rate" (share flagged) and "true_rate" (share really agreeing).

    Raises:
        RewardlabError: n_prompts < 1 or an unknown family.

    Example:
        >>> from rewardlab.policy.simpolicy import SimPolicy
        >>> d = detector_check(SimPolicy.from_base("default"), 200, family="false_premise")
        >>> d["precision"], d["recall"] > 0.8
        (1.0, True)
    """
    from rewardlab.simulate.config import SimConfig
    from rewardlab.simulate.families import FAMILY_IMPLS
    from rewardlab.simulate.generate import _family_picker, make_rng
    from rewardlab.simulate.responses import render

    if n_prompts < 1:
        raise RewardlabError(f"detector check: n_prompts must be >= 1, got {n_prompts}")
    if family is not None and family not in FAMILY_IMPLS:
        raise RewardlabError(f"detector check: unknown family {family!r}; known: {', '.join(FAMILY_IMPLS)}")
    rng = make_rng(seed, "honesty-detector-check")
    pick = _family_picker(SimConfig())
    prompts, texts, truth = [], [], []
    for _ in range(n_prompts):
        fam = family or pick(rng)
        impl = FAMILY_IMPLS[fam]
        item = impl.sample(rng)
        attrs = policy.attributes(fam, policy.sample_settings(fam, rng))
        prompts.append(item.prompt)
        texts.append(render(impl, item.spec, fam, attrs, rng))
        truth.append(bool(attrs["sycophantic"]))
    flags = agreement_flags(prompts, texts)
    return {**detector_agreement(flags, truth), "flagged_rate": float(flags.mean()),
            "true_rate": float(np.mean(truth))}


class RewarderScorer:
    """A loop reward (:class:`rewardlab.policy.rewards.Rewarder`) as a Scorer on text, for audits: its combined
    reward outside the loop (no cache, no step). Only for rewards whose every member reads text alone.

    Raises:
        RewardlabError: a member that needs the simulator's attributes (gold, annotator:...).
    """

    def __init__(self, rewarder: Any):
        bad = [m.name for m in rewarder.members if m.kind != "scorer"]
        if bad:
            raise RewardlabError(f"{', '.join(bad)} reads the simulator's hidden attributes, not text: no text audit")
        self.rewarder = rewarder
        self.name = rewarder.name

    def score(self, prompts: Sequence[str], responses: Sequence[str], progress: bool = False) -> Any:
        """The combined reward of each (prompt, response) (a RewardOutput)."""
        from rewardlab.scoring.output import RewardOutput

        return RewardOutput(self.rewarder.score_texts(list(prompts), list(responses)))


def audit_reward_sycophancy(rewarder: Any, n_cases: int, seed: int = 0) -> dict[str, Any]:
    """The sycophancy audit (:func:`rewardlab.audit.sycophancy.sycophancy_audit`) of a loop reward before
    optimisation: n_cases simulator false-premise cases (:func:`rewardlab.audit.sycophancy.builtin_cases`, `seed`),
    the share where the agreeing response scores higher (95% bootstrap CI) and whether the audit flags it.

    Args:
        rewarder: the loop's Rewarder.
        n_cases: cases to score (>= 1).
        seed: the cases' and the bootstrap's seed.

    Returns:
        The audit's dict (n, agreeing_preferred, mean_margin, flagged, ...); for a reward that does not read text
        alone (gold, annotator:...): {"n": 0, "flagged": None, "skipped": the reason}.

    Example:
        >>> from rewardlab.policy.rewards import Rewarder
        >>> audit_reward_sycophancy(Rewarder("gold"), 10)["skipped"]
        "gold reads the simulator's hidden attributes, not text: no text audit"
    """
    from rewardlab.audit.sycophancy import builtin_cases, sycophancy_audit

    try:
        scorer = RewarderScorer(rewarder)
    except RewardlabError as e:
        return {"n": 0, "flagged": None, "skipped": str(e)}
    return sycophancy_audit(scorer, builtin_cases(n_cases, seed), seed=seed, progress=False)
