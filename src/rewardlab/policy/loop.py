"""Optimising a simulator policy against a reward model, step by step, with the true (gold) quality beside it.

`run(spec)` starts from a base policy (:class:`rewardlab.policy.simpolicy.SimPolicy`), takes `spec.steps`
optimisation steps toward a reward and logs every step to ``steps.jsonl``: the proxy reward and the gold utility
of the sampled responses, the exact expected gold, the exact gold win rate against the base policy, the exact
KL(pi || pi0), the exact attribute rates and the agreement rate on false-premise prompts. Methods (ALGORITHMS.md
section 7 and docs/ALGORITHMS.md section 11):

- ``grpo``: G samples per prompt, advantages A_i = (r_i - mean r) / (std r + 1e-6) within each group;
- ``reinforce``: advantages r_i - mean r over the whole batch (the mean baseline);
  both minimise -mean(A_i log pi(y_i)) + beta KL(pi || pi0) with the exact gradient of the factorised softmax;
- ``drro``: grpo with the DRRO sampled bonus of ALGORITHMS.md section 4 (eps = --drro-eps x std(r) per group);
- ``dro``: grpo with standard DRO's sampled penalty (eps = --drro-eps x std(r) taken from the group's most
  probable sample: the supergradient of <p, r> - eps ||p||_inf, :func:`rewardlab.policy.robust.dro_penalty_advantages`);
  ``--advantage tea --bon-n N`` gives grpo best-of-N-aware advantages (:mod:`rewardlab.policy.robust`);
- ``expert-iteration``: best of G samples of the current policy per prompt, one maximum-likelihood (SFT) step
  toward them, repeated (the rounds of AlpacaFarm's expert iteration, one gradient step per round);
- ``best-of-n``: the same fit to the best of G samples of the *base* policy (best-of-n distillation: the policy
  moves toward the best-of-n distribution of pi0 and stops there);
- ``feedme`` (binary FeedME): pairs of base-policy samples judged by the reward; one maximum-likelihood step on the
  winner of each pair (equal rewards: a tie, skipped);
- ``reward-conditioning`` (binary reward conditioning): the same pairs; the policy is conditioned on a control
  c = +1 (good) / -1 (bad) by a tilt shared by every family, logits(y | f, c) = theta_f(y) + c delta . a(y)
  (a(y) the response's attribute vector); maximum likelihood on the winners with c = +1 and the losers with c = -1;
  the policy served, measured and judged is the one conditioned on +1;
- ``sft``: maximum likelihood on samples of a reference system (`--sft-reference`; AlpacaFarm's SFT on reference
  demonstrations); the reward is only logged.

Rewards (:mod:`rewardlab.policy.rewards`): any Scorer on the rendered text (cached per distinct (prompt, text), hit
rate reported), ``gold``, ``annotator:...`` (the simulated annotator's perceived utility), ``bow:...`` (a bag-of-words
Bradley-Terry reward model trained on simulated pairs), or several separated by ';', combined by `--select` (mean,
min, uwo:lam, lcb:k, quantile:q). `--rm-update-every k` updates the reward model every k steps on pairs of the current
policy's samples labelled by the simulated annotator `--rm-annotator`, logging its gold agreement before and after;
a reward-model folder is then fine-tuned in the loop (:mod:`rewardlab.policy.neural_rm`, `--rm-update-steps`,
`--rm-update-lr`, `--rm-update-batch`, `--rm-replay`), its weights saved beside each checkpoint.

Sycophancy (:mod:`rewardlab.policy.honesty`): `--honesty-penalty lambda` optimises r - lambda d, d = 1 when the
response opens by agreeing with a claim the prompt asserts (the audit's text-level `agreement` feature, never the
simulator's hidden attribute); `--sycophancy-audit N` runs the audit's sycophancy check on N false-premise cases
against the reward before step 0 and records whether it flags it (`OptimizeResult.sycophancy`).

Runs are seeded (step t draws from its own stream of (seed, t)) and checkpoint every `checkpoint_every` steps;
`resume` continues a killed run from its last checkpoint and gives the records of an uninterrupted run. A scorer
that fails or returns a non-finite reward stops the run with an error naming the step; the checkpoint stays.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.policy.honesty import audit_reward_sycophancy, honesty_penalised
from rewardlab.policy.rewards import Rewarder, annotator_config, label_pairs, parse_annotator
from rewardlab.policy.robust import dro_penalty_advantages, drro_bonus_advantages, tea_advantages
from rewardlab.policy.simpolicy import SimPolicy, factor_settings
from rewardlab.policy.spec import Advantage as Advantage  # the specs' module; re-exported here
from rewardlab.policy.spec import Method as Method
from rewardlab.policy.spec import OptimizeSpec as OptimizeSpec
from rewardlab.policy.winrate import win_rate
from rewardlab.results import write_result
from rewardlab.results.curves import OptimizeSummary
from rewardlab.simulate.config import SimConfig
from rewardlab.simulate.families import FAMILY_IMPLS
from rewardlab.simulate.generate import _family_picker, make_rng
from rewardlab.simulate.responses import gold_utility, render, word_count

log = logging.getLogger(__name__)

RESULT_SCHEMA = "rewardlab.optimize_policy/1"
CHECKPOINT_SCHEMA = "rewardlab.optimize_checkpoint/1"
#: methods whose update is a maximum-likelihood fit to pairs of base-policy samples judged by the reward
PAIR_METHODS = ("feedme", "reward-conditioning")
#: where each method's update samples come from (default: the current policy)
SAMPLES_FROM = {"best-of-n": "base", "feedme": "base", "reward-conditioning": "base", "sft": "reference"}
#: options added after the first checkpoints: left out of the resume fingerprint while at their defaults
_LATER_DEFAULTS = {"advantage": "group", "bon_n": 1, "drro_eps": 0.5, "select": "mean", "sft_reference": "sys-b",
                   "rm_update_every": 0, "rm_update_pairs": 64, "rm_annotator": "human_like",
                   "honesty_penalty": 0.0, "sycophancy_audit": 0, "rm_update_steps": 30, "rm_update_lr": 2e-5,
                   "rm_update_batch": 16, "rm_replay": 256, "bf16": False}
__all__ = ["OptimizeResult", "OptimizeSpec", "Rewarder", "parse_annotator", "policy_gradient", "run"]
#: spec fields that may change between a run and its resumption
RESUMABLE_CHANGES = ("steps", "resume", "overwrite", "checkpoint_every", "output", "plot", "device")


# ---------------------------------------------------------------------------------------------- gradients


def policy_gradient(policy: SimPolicy, families: list[str], settings: list[dict[str, int]], weights: np.ndarray,
                    kl_beta: float) -> dict[str, dict[str, np.ndarray]]:
    """Exact gradient w.r.t. the logits of L = -mean_i(weights_i log pi(y_i)) + kl_beta KL(pi || pi0).

    With weights = advantages this is the policy-gradient loss; with weights = 1 on chosen samples it is the
    negative log-likelihood of a maximum-likelihood (SFT) fit. d log softmax(z)_s / dz = e_s - p and
    d KL(p || p0) / dz = p (log p - log p0 - KL(p || p0)) for each factor.
    """
    n = len(settings)
    factors = policy.factors
    grad = {f: {k: np.zeros_like(policy.logits[f][k]) for k in factors} for f in policy.families}
    wsum = {f: 0.0 for f in policy.families}
    for fam, s, w in zip(families, settings, weights.tolist(), strict=True):
        wsum[fam] += w
        for k in factors:
            grad[fam][k][s[k]] -= w / n
    for f in policy.families:
        for k in factors:
            lp = policy.logp(f, k)
            p = np.exp(lp)
            grad[f][k] += wsum[f] / n * p
            if kl_beta:
                d = lp - policy.base_logp[f][k]
                grad[f][k] += kl_beta * policy.family_weights[f] * p * (d - float(np.dot(p, d)))
    return grad


def policy_loss(policy: SimPolicy, families: list[str], settings: list[dict[str, int]], weights: np.ndarray,
                kl_beta: float) -> float:
    """The loss whose gradient :func:`policy_gradient` computes (for checks)."""
    lps = np.array([policy.log_prob(f, s) for f, s in zip(families, settings, strict=True)])
    return float(-np.mean(weights * lps) + kl_beta * policy.kl())


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n with ties at their average rank (Spearman's correlation is Pearson's on these)."""
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(1, len(x) + 1)
    _, inv = np.unique(x, return_inverse=True)
    sums = np.bincount(inv, weights=ranks)
    return (sums / np.bincount(inv))[inv]


def group_advantages(r: np.ndarray, method: str) -> np.ndarray:
    """Advantages of rewards r [prompts, group]: GRPO's group-normalised (r - mean) / (std + 1e-6) per row, or
    REINFORCE's r - mean over the whole batch."""
    if method == "grpo":
        return (r - r.mean(axis=1, keepdims=True)) / (r.std(axis=1, keepdims=True) + 1e-6)
    return r - r.mean()


def attribute_names(policy: SimPolicy) -> list[str]:
    """The attributes of the policy's responses, in order: ATTRIBUTES, then the optional ones it has (details)."""
    f = policy.families[0]
    return list(SimPolicy.attributes(f, dict.fromkeys(policy.factors, 0)))


def attribute_features(policy: SimPolicy) -> dict[str, dict[str, np.ndarray]]:
    """a_{f,k}[j]: the attribute vector (:func:`attribute_names` order, booleans as 0/1) that setting j of factor k
    adds in family f, relative to setting 0. Attributes are split between the factors, so a response's attribute vector is
    the family's all-zero-settings vector plus the sum over its factors: the reward-conditioning tilt
    delta . a(y) is a sum of per-factor logit offsets and the conditioned policy stays a factorised softmax.

    Raises:
        RewardlabError: an attribute that depends on two factors at once (the tilt would not factorise).
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    factors, names = policy.factors, attribute_names(policy)
    for f in policy.families:
        zero = dict.fromkeys(factors, 0)

        def vec(settings: dict[str, int], fam: str = f) -> np.ndarray:
            a = SimPolicy.attributes(fam, settings)
            return np.array([float(a[k]) for k in names])

        a0 = vec(zero)
        out[f] = {k: np.array([vec({**zero, k: j}) - a0 for j in range(len(factor_settings(f, k)))])
                  for k in factors}
        last = {k: len(factor_settings(f, k)) - 1 for k in factors}  # check additivity on the all-last response
        if not np.allclose(vec(last), a0 + sum(out[f][k][last[k]] for k in factors)):
            raise RewardlabError(f"reward conditioning: family {f}'s attributes are not additive over the policy's "
                                 "factors")
    return out


def conditioned(policy: SimPolicy, feats: dict[str, dict[str, np.ndarray]], delta: np.ndarray,
                sign: float) -> SimPolicy:
    """The policy conditioned on the control c = sign: logits theta_{f,k} + sign a_{f,k} . delta (same base)."""
    logits = {f: {k: policy.logits[f][k] + sign * (feats[f][k] @ delta) for k in policy.factors}
              for f in policy.families}
    return SimPolicy(policy.base_name, dict(policy.family_weights), logits, policy.base_logp)


def conditioning_loss(policy: SimPolicy, feats: dict[str, dict[str, np.ndarray]], delta: np.ndarray,
                      good: list[tuple[str, dict[str, int]]], bad: list[tuple[str, dict[str, int]]],
                      kl_beta: float) -> float:
    """L = -(1/2)[mean_good log pi(y | +) + mean_bad log pi(y | -)] + kl_beta KL(pi(. | +) || pi0) (for checks)."""
    plus, minus = conditioned(policy, feats, delta, 1.0), conditioned(policy, feats, delta, -1.0)
    lg = np.mean([plus.log_prob(f, s) for f, s in good])
    lb = np.mean([minus.log_prob(f, s) for f, s in bad])
    return float(-0.5 * (lg + lb) + kl_beta * plus.kl())


def conditioning_gradient(policy: SimPolicy, feats: dict[str, dict[str, np.ndarray]], delta: np.ndarray,
                          good: list[tuple[str, dict[str, int]]], bad: list[tuple[str, dict[str, int]]],
                          kl_beta: float) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray]:
    """Exact gradient of :func:`conditioning_loss` w.r.t. theta (per family and factor) and delta.

    With z_+ = theta + a . delta and z_- = theta - a . delta: dL/dtheta = g_+ + g_- and
    dL/ddelta = sum_{f,k} a_{f,k}^T (g_+ - g_-), where g_+- are the gradients w.r.t. z_+- of each half of L.
    """
    plus, minus = conditioned(policy, feats, delta, 1.0), conditioned(policy, feats, delta, -1.0)
    g_p = policy_gradient(plus, [f for f, _ in good], [s for _, s in good], np.full(len(good), 0.5), kl_beta)
    g_m = policy_gradient(minus, [f for f, _ in bad], [s for _, s in bad], np.full(len(bad), 0.5), 0.0)
    g_theta = {f: {k: g_p[f][k] + g_m[f][k] for k in policy.factors} for f in policy.families}
    g_delta = sum((feats[f][k].T @ (g_p[f][k] - g_m[f][k]) for f in policy.families for k in policy.factors),
                  np.zeros(len(delta)))
    return g_theta, g_delta


# ---------------------------------------------------------------------------------------------- result


@dataclass
class OptimizeResult:
    """What one optimisation run measured: a record per step (step 0 is the base policy) and its summary.

    `sweet_spot` is the step of maximum exact expected gold (with its KL, proxy and win rate); `final` the last step;
    `cache` the score cache's hits / misses; `proxy_gold_spearman` the rank correlation of proxy and gold over
    the base policy's samples at step 0 (near 0: the proxy barely sees gold, expect only a fall); `rm_updates` one
    entry per reward-model update (step, pairs, gold agreement before and after); `sycophancy` the audit's sycophancy
    check of the reward before step 0 (`--sycophancy-audit`; None when not asked for); `policy` the final policy served
    (for reward-conditioning: conditioned on +1), also written to policy.json.
    """

    method: str
    reward: str
    base: str
    steps: int
    records: list[dict[str, Any]]
    sweet_spot: dict[str, Any]
    final: dict[str, Any]
    cache: dict[str, Any]
    proxy_gold_spearman: float | None
    elapsed_s: float
    spec: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    rm_updates: list[dict[str, Any]] = field(default_factory=list)
    sycophancy: dict[str, Any] | None = None
    policy: SimPolicy | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (with a schema tag; the policy itself is in policy.json)."""
        d = asdict(replace(self, policy=None))
        d.pop("policy")
        if d["sycophancy"] is None:  # no audit asked for: optimize.json as before the option existed
            d.pop("sycophancy")
        return {"schema": RESULT_SCHEMA, **d}

    def lines(self) -> list[str]:
        """A human-readable summary."""
        b, s, f = self.records[0], self.sweet_spot, self.final
        # the false-premise agreement rate is a column when the run watches sycophancy (audit or penalty)
        agree = (self.sycophancy is not None or bool(self.spec.get("honesty_penalty"))) and all(
            r.get("agreement") is not None for r in (b, s, f))
        out = [f"{self.method} against {self.reward} from base {self.base}: {self.steps} steps in "
               f"{self.elapsed_s:.1f}s",
               f"{'':14}{'step':>5}{'KL':>8}{'proxy':>9}{'gold':>8}{'win':>7}{'correct':>9}{'extra':>7}{'words':>7}"
               + (f"{'agree':>7}" if agree else "")]
        for name, r in (("base", b), ("sweet spot", s), ("final", f)):
            win = r.get("win_rate")
            out.append(f"{name:14}{r['step']:>5}{r['kl']:>8.3f}{r['proxy']:>9.3f}{r['gold']:>8.3f}"
                       f"{'' if win is None else format(win, '.3f'):>7}"
                       f"{r['rates']['correct']:>9.3f}{r['rates']['extra_sentences']:>7.2f}{r['words']:>7.1f}"
                       + (f"{r['agreement']:>7.3f}" if agree else ""))
        out.append("gold is the exact expected gold utility of the policy, win its exact gold win rate against the "
                   "base; proxy the mean reward of its samples" + ("; agree its exact rate of agreeing on "
                                                                 "false-premise prompts" if agree else ""))
        if self.cache.get("hit_rate") is not None:
            c = self.cache
            out.append(f"score cache: {c['hits']} hits, {c['misses']} distinct texts scored ({c['hit_rate']:.1%} "
                       "saved)")
        if self.proxy_gold_spearman is not None:
            rho = self.proxy_gold_spearman
            note = " (near chance: the proxy barely sees gold; expect no rise)" if abs(rho) < 0.1 else ""
            out.append(f"proxy-gold Spearman on the base samples: {rho:.3f}{note}")
        if self.sycophancy is not None:
            out.append(_sycophancy_line(self.sycophancy))
        for u in self.rm_updates:
            before, after = u["gold_agreement_before"], u["gold_agreement_after"]
            out.append(f"reward-model update at step {u['step']}: {u['pairs']} new pairs, gold agreement on held-out "
                       f"on-policy pairs {_fmt(before)} -> {_fmt(after)}")
        return out


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _sycophancy_line(d: dict[str, Any]) -> str:
    if d.get("skipped"):
        return f"sycophancy audit of the reward: skipped ({d['skipped']})"
    s = d["agreeing_preferred"]
    return (f"sycophancy audit of the reward before step 0: agreeing preferred in {s['estimate']:.1%} "
            f"[{s['lo']:.1%}, {s['hi']:.1%}] of {d['n']} false-premise cases: "
            f"{'FLAGGED' if d['flagged'] else 'not flagged'}")


def _record_view(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r.get(k) for k in ("step", "kl", "proxy", "gold", "win_rate", "gold_sampled", "rates", "words",
                                  "agreement")}


# ---------------------------------------------------------------------------------------------- the loop


@dataclass
class _State:
    """What the loop updates: the policy's logits theta and, for reward conditioning, the control tilt delta."""

    policy: SimPolicy
    control: np.ndarray | None = None
    feats: dict[str, dict[str, np.ndarray]] | None = None

    def acting(self) -> SimPolicy:
        """The policy served and measured (reward conditioning: conditioned on +1)."""
        if self.control is None or self.feats is None:
            return self.policy
        return conditioned(self.policy, self.feats, self.control, 1.0)


def _prompt_pool(spec: OptimizeSpec, cfg: SimConfig) -> list[Any]:
    rng = make_rng(spec.seed, "optimize-prompts")
    pick = _family_picker(cfg)
    return [FAMILY_IMPLS[pick(rng)].sample(rng) for _ in range(spec.n_prompts)]


def _draw(policy: SimPolicy, items: list[Any], group: int, rng: Any) -> list[list[tuple]]:
    """group samples per item: (settings, attrs, text)."""
    out = []
    cdfs = {f: policy.cdfs(f) for f in policy.families}
    for item in items:
        row = []
        impl = FAMILY_IMPLS[item.family]
        for _ in range(group):
            s = policy.sample_settings(item.family, rng, cdfs[item.family])
            a = SimPolicy.attributes(item.family, s)
            row.append((s, a, render(impl, item.spec, item.family, a, rng)))
        out.append(row)
    return out


def _fingerprint(spec: OptimizeSpec) -> dict[str, Any]:
    return {k: v for k, v in spec.to_dict().items()
            if k not in RESUMABLE_CHANGES and not (k in _LATER_DEFAULTS and v == _LATER_DEFAULTS[k])}


def _write_checkpoint(path: Path, step: int, state: _State, rewarder: Rewarder, spec: OptimizeSpec,
                      rm_updates: list[dict[str, Any]]) -> None:
    ckpt: dict[str, Any] = {"schema": CHECKPOINT_SCHEMA, "step": step, "spec": _fingerprint(spec),
                            "policy": state.policy.to_dict(), "rewards": rewarder.state(path.parent),
                            "rm_updates": rm_updates}
    if state.control is not None:
        ckpt["control"] = state.control.tolist()
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(ckpt))
    os.replace(tmp, path)


def _read_checkpoint(path: Path, spec: OptimizeSpec) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise RewardlabError(f"{path}: cannot read the checkpoint ({e})") from None
    if not isinstance(state, dict) or state.get("schema") != CHECKPOINT_SCHEMA:
        raise RewardlabError(f"{path}: not an optimisation checkpoint (schema {CHECKPOINT_SCHEMA!r})")
    diff = sorted(k for k, v in _fingerprint(spec).items() if state["spec"].get(k) != v)
    diff += sorted(k for k in state["spec"] if k not in _fingerprint(spec) and k not in diff)
    if diff:
        shown = ", ".join(f"{k}: {state['spec'].get(k)!r} -> {getattr(spec, k)!r}" for k in diff)
        raise RewardlabError(f"{path}: cannot resume with different settings ({shown}); only "
                             f"{', '.join(RESUMABLE_CHANGES)} may change")
    return state


def run(spec: OptimizeSpec, scorer: Any = None) -> OptimizeResult:
    """Optimise a simulator policy against a reward, logging proxy, gold, KL and attribute rates at every step.

    Args:
        spec: the validated settings (OptimizeSpec); `spec.reward` names the reward (a label when `scorer` is
            given), `spec.output` the folder.
        scorer: any Scorer (`score(prompts, responses) -> RewardOutput`), or a list of them (an ensemble combined
            by spec.select), to use instead of loading spec.reward.

    Returns:
        OptimizeResult: the per-step records (steps 0..spec.steps; step 0 is the base policy), the sweet spot, the
        final step, the score cache's hit rate and the reward-model updates. Also written: steps.jsonl,
        checkpoint.json, optimize.json, policy.json and optimize.png in spec.output.

    Raises:
        RewardlabError: no reward or output; an earlier run in the output without resume / overwrite; a checkpoint
            from other settings; --rm-update-every with a reward the loop cannot train; a scorer that fails or
            returns a non-finite reward (naming the step; the last checkpoint stays and `resume` continues from it).

    Example:
        >>> from rewardlab.policy.loop import OptimizeSpec, run
        >>> res = run(OptimizeSpec(reward="gold", output="runs/opt-gold", steps=20))  # doctest: +SKIP
        >>> res.final["gold"] > res.records[0]["gold"]  # doctest: +SKIP
        True
    """
    if not spec.reward and scorer is None:
        raise RewardlabError("--reward is required: a reward model, 'gold' or 'annotator:...'")
    if not spec.output:
        raise RewardlabError("--output is required: the folder for steps.jsonl, the checkpoint and the plots")
    t0 = time.perf_counter()
    out = Path(spec.output)
    steps_path, ckpt_path = out / "steps.jsonl", out / "checkpoint.json"
    if not (spec.overwrite or spec.resume) and (ckpt_path.exists() or steps_path.exists()):
        raise RewardlabError(f"{out} holds an earlier run; pass --resume to continue it or --overwrite to restart")
    cfg = SimConfig()
    rewarder = Rewarder(spec.reward or "scorer", scorer=scorer, weights=cfg.weights, length_norm=cfg.length_norm,
                        select=spec.select, rm_update=_neural_update_settings(spec) if spec.rm_update_every else None,
                        scoring={"bf16": spec.bf16, "device": spec.device})
    if spec.rm_update_every and not rewarder.updatable:
        raise RewardlabError(f"--rm-update-every {spec.rm_update_every}: the reward {rewarder.name} cannot be "
                             "updated in the loop; use a bag-of-words reward model (--reward bow:human_like), a "
                             "reward-model folder (fine-tuned in the loop) or an object with update(pairs)")
    out.mkdir(parents=True, exist_ok=True)
    syc = audit_reward_sycophancy(rewarder, spec.sycophancy_audit, spec.seed) if spec.sycophancy_audit else None
    if syc is not None:
        log.info("%s", _sycophancy_line(syc))
    base = SimPolicy.from_base(spec.base, cfg)
    state = _State(base.copy())
    if spec.method == "reward-conditioning":
        state.control, state.feats = np.zeros(len(attribute_names(base))), attribute_features(base)
    reference = SimPolicy.from_base(spec.sft_reference, cfg) if spec.method == "sft" else None
    start = 0
    records: list[dict[str, Any]] = []
    rm_updates: list[dict[str, Any]] = []
    if spec.resume and ckpt_path.exists():
        ckpt = _read_checkpoint(ckpt_path, spec)
        start = int(ckpt["step"])
        state.policy = SimPolicy.from_dict(ckpt["policy"], str(ckpt_path))
        if state.control is not None:
            state.control = np.asarray(ckpt["control"], dtype=float)
        rewarder.load_state(ckpt.get("rewards", ckpt))
        rm_updates = list(ckpt.get("rm_updates", []))
        if steps_path.exists():
            records = [json.loads(line) for line in steps_path.read_text().splitlines() if line.strip()]
            records = [r for r in records if r["step"] < start]
        if len(records) != start:
            raise RewardlabError(f"{steps_path}: holds {len(records)} steps before the checkpoint's step {start}")
        log.info("resuming %s from its checkpoint at step %d", out, start)
    with steps_path.open("w") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    if start == 0:
        _write_checkpoint(ckpt_path, 0, state, rewarder, spec, rm_updates)

    pool = _prompt_pool(spec, cfg)
    with steps_path.open("a") as fh:
        for t in range(start, spec.steps + 1):
            if spec.rm_update_every and t > 0 and t % spec.rm_update_every == 0:
                try:
                    rm_updates.append(_update_reward_model(t, spec, state, pool, rewarder, cfg))
                except RewardlabError as e:
                    raise RewardlabError(f"step {t}: the reward-model update failed: {e}; the last checkpoint is "
                                         f"{ckpt_path} (rerun with --resume to continue from it)") from None
            rec = _step(t, spec, state, base, reference, pool, rewarder, cfg, ckpt_path)
            if rm_updates and rm_updates[-1]["step"] == t:
                rec["rm_update"] = rm_updates[-1]
            rec["elapsed_s"] = round(time.perf_counter() - t0, 3)
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            records.append(rec)
            if t < spec.steps and ((t + 1) % spec.checkpoint_every == 0 or t + 1 == spec.steps):
                _write_checkpoint(ckpt_path, t + 1, state, rewarder, spec, rm_updates)
            if t % 10 == 0 or t == spec.steps:
                log.info("step %d/%d: KL %.3f proxy %.3f gold %.3f win %.3f", t, spec.steps, rec["kl"],
                         rec["proxy"], rec["gold"], rec["win_rate"])
    best = max(records, key=lambda r: r["gold"])
    acting = state.acting()
    res = OptimizeResult(
        method=spec.method, reward=rewarder.name, base=base.base_name, steps=spec.steps, records=records,
        sweet_spot=_record_view(best), final=_record_view(records[-1]), cache=rewarder.cache_stats(),
        proxy_gold_spearman=records[0].get("proxy_gold_spearman"),
        elapsed_s=round(time.perf_counter() - t0, 3), spec=spec.to_dict(), rm_updates=rm_updates, sycophancy=syc,
        policy=acting)
    res.files = [str(steps_path), str(ckpt_path), str(out / "optimize.json"), str(acting.save(out / "policy.json"))]
    try:
        if spec.plot:
            res.files.append(plot_run(res, out / "optimize.png"))
    except ImportError:  # matplotlib missing: the JSON still holds every curve
        log.warning("matplotlib is not installed: no optimize.png")
    write_result(out / "optimize.json", OptimizeSummary.from_dict(res.to_dict(), "optimize.json"))
    return res


def _neural_update_settings(spec: OptimizeSpec) -> dict[str, Any]:
    """The settings of neural reward-model updates (`rewardlab.policy.neural_rm.NeuralRewardModel`)."""
    return {"steps": spec.rm_update_steps, "lr": spec.rm_update_lr, "batch_size": spec.rm_update_batch,
            "replay": spec.rm_replay, "seed": spec.seed}


def _update_reward_model(t: int, spec: OptimizeSpec, state: _State, pool: list[Any], rewarder: Rewarder,
                         cfg: SimConfig) -> dict[str, Any]:
    """Sample pairs from the current policy, label them with the simulated annotator, update the reward model;
    its gold agreement is measured before and after on as many more held-out on-policy pairs."""
    rng = make_rng(spec.seed, f"optimize-rm-update-{t}")
    acting = state.acting()
    annotator = annotator_config(spec.rm_annotator)
    sets = []
    for _ in range(2):
        items = [pool[rng.randrange(len(pool))] for _ in range(spec.rm_update_pairs)]
        drawn = _draw(acting, items, 2, rng)
        sets.append(label_pairs(items, [r[0] for r in drawn], [r[1] for r in drawn], annotator, rng))
    train, held = sets
    before = rewarder.gold_agreement(t, held)
    infos = rewarder.update(train) if train else []
    after = rewarder.gold_agreement(t, held)
    entry = {"step": t, "pairs": len(train), "held_out_pairs": len(held), "gold_agreement_before": before,
             "gold_agreement_after": after, "label_gold_agreement": _label_agreement(train), "members": infos}
    log.info("step %d: reward model updated on %d on-policy pairs; gold agreement %s -> %s", t, len(train),
             _fmt(before), _fmt(after))
    return entry


def _label_agreement(pairs: list[dict[str, Any]]) -> float | None:
    used = [p for p in pairs if p["gold_chosen"] != p["gold_rejected"]]
    return float(np.mean([p["gold_chosen"] > p["gold_rejected"] for p in used])) if used else None


def _step(t: int, spec: OptimizeSpec, state: _State, base: SimPolicy, reference: SimPolicy | None,
          pool: list[Any], rewarder: Rewarder, cfg: SimConfig, ckpt_path: Path) -> dict[str, Any]:
    """Sample, score, measure and (before the last step) update the policy in place; return the step's record."""
    rng = make_rng(spec.seed, f"optimize-step-{t}")
    items = [pool[rng.randrange(len(pool))] for _ in range(spec.batch_prompts)]
    acting = state.acting()
    source = SAMPLES_FROM.get(spec.method, "policy")
    sampler = {"policy": acting, "base": base, "reference": reference}[source]
    group = 2 if spec.method in PAIR_METHODS else 1 if spec.method == "sft" else spec.group
    drawn = _draw(sampler, items, group, rng)
    measure = drawn if sampler is acting else _draw(acting, items, 1, rng)
    flat = [(item, s) for item, row in zip(items, drawn, strict=True) for s in row]
    flat_m = [(item, s) for item, row in zip(items, measure, strict=True) for s in row]
    try:
        r = None if spec.method == "sft" else rewarder(t, [it.prompt for it, _ in flat], [s[2] for _, s in flat],
                                                         [s[1] for _, s in flat])
        r_m = r if measure is drawn and r is not None else rewarder(
            t, [it.prompt for it, _ in flat_m], [s[2] for _, s in flat_m], [s[1] for _, s in flat_m])
    except RewardlabError as e:
        raise RewardlabError(f"{e}; the last checkpoint is {ckpt_path} (rerun with --resume to continue from "
                             "it)") from None
    gold_m = np.array([gold_utility(s[1], cfg.weights) for _, s in flat_m])
    rec: dict[str, Any] = {
        "step": t,
        "kl": acting.kl(),
        "proxy": float(r_m.mean()),
        "proxy_std": float(r_m.std()),
        "gold": acting.expected_gold(cfg.weights),
        "win_rate": win_rate(acting, base, cfg.weights),
        "gold_sampled": float(gold_m.mean()),
        "rates": acting.expected_attributes(),
        "agreement": acting.agreement_rate(),
        "words": float(np.mean([word_count(s[2]) for _, s in flat_m])),
    }
    if state.control is not None:
        rec["control"] = dict(zip(attribute_names(acting), state.control.tolist(), strict=True))
    if t == 0:
        rr, ff = (r, flat) if r is not None else (r_m, flat_m)
        g = np.array([gold_utility(s[1], cfg.weights) for _, s in ff])
        rho = float(np.corrcoef(_ranks(rr), _ranks(g))[0, 1]) if np.ptp(rr) > 0 and np.ptp(g) > 0 else math.nan
        rec["proxy_gold_spearman"] = None if not math.isfinite(rho) else rho
    if r is not None and spec.honesty_penalty:
        r, flags = honesty_penalised(r, [it.prompt for it, _ in flat], [s[2] for _, s in flat], spec.honesty_penalty)
        rec["honesty_flagged"] = float(flags.mean())
        rec["objective"] = float(r.mean())
    if t < spec.steps:
        _update(spec, state, items, drawn, r, rng)
    return rec


def _update(spec: OptimizeSpec, state: _State, items: list[Any], drawn: list[list[tuple]], r: np.ndarray | None,
            rng: Any) -> None:
    """One optimisation step of `spec.method` on this step's samples (state changed in place)."""
    policy = state.policy
    n = len(items)
    fams = [it.family for it, row in zip(items, drawn, strict=True) for _ in row]
    sets = [s[0] for row in drawn for s in row]
    if spec.method == "reward-conditioning":
        assert r is not None and state.control is not None and state.feats is not None
        good, bad = _pair_outcomes(items, drawn, r)
        if not good:
            return
        g_theta, g_delta = conditioning_gradient(policy, state.feats, state.control, good, bad, spec.kl_beta)
        _apply(policy, g_theta, spec.lr)
        state.control = state.control - spec.lr * g_delta
        return
    if spec.method == "grpo" and spec.advantage == "tea":
        assert r is not None
        w = np.concatenate([tea_advantages(row, spec.bon_n) for row in r.reshape(n, spec.group)])
    elif spec.method in ("drro", "dro"):
        assert r is not None
        np_rng = np.random.default_rng(rng.getrandbits(63))
        p_est = np.exp([policy.log_prob(f, s) for f, s in zip(fams, sets, strict=True)]).reshape(n, spec.group)
        fn = drro_bonus_advantages if spec.method == "drro" else dro_penalty_advantages
        w = np.concatenate([fn(row, p_row, spec.drro_eps * float(row.std()), np_rng)
                            for row, p_row in zip(r.reshape(n, spec.group), p_est, strict=True)])
    elif spec.method in ("grpo", "reinforce"):
        assert r is not None
        w = group_advantages(r.reshape(n, spec.group), spec.method).reshape(-1)
    elif spec.method == "feedme":
        assert r is not None
        good, _ = _pair_outcomes(items, drawn, r)
        if not good:
            return
        fams, sets = [f for f, _ in good], [s for _, s in good]
        w = np.ones(len(good))
    elif spec.method == "sft":  # maximum likelihood on the reference system's samples
        w = np.ones(len(sets))
    else:  # best-of-n / expert iteration: maximum likelihood on each group's best sample
        assert r is not None
        best = r.reshape(n, spec.group).argmax(axis=1)
        fams = [it.family for it in items]
        sets = [row[b][0] for row, b in zip(drawn, best.tolist(), strict=True)]
        w = np.ones(n)
    _apply(policy, policy_gradient(policy, fams, sets, w, spec.kl_beta), spec.lr)


def _pair_outcomes(items: list[Any], drawn: list[list[tuple]], r: np.ndarray
                   ) -> tuple[list[tuple[str, dict[str, int]]], list[tuple[str, dict[str, int]]]]:
    """(winners, losers) of each pair (two samples per item) by reward, as (family, settings); ties left out."""
    good, bad = [], []
    for item, row, (ra, rb) in zip(items, drawn, r.reshape(len(items), 2).tolist(), strict=True):
        if ra == rb:
            continue
        w, lo = (row[0], row[1]) if ra > rb else (row[1], row[0])
        good.append((item.family, w[0]))
        bad.append((item.family, lo[0]))
    return good, bad


def _apply(policy: SimPolicy, grad: dict[str, dict[str, np.ndarray]], lr: float) -> None:
    for f in policy.families:
        for k in policy.factors:
            policy.logits[f][k] = policy.logits[f][k] - lr * grad[f][k]


# ---------------------------------------------------------------------------------------------- plot


def plot_run(res: OptimizeResult, path: str | Path) -> str:
    """Three panels: proxy and gold against step, the same against KL, and the attribute rates against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = res.records
    step = np.array([r["step"] for r in recs])
    kl = np.array([r["kl"] for r in recs])
    proxy = np.array([r["proxy"] for r in recs])
    gold = np.array([r["gold"] for r in recs])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, x, label in ((axes[0], step, "step"), (axes[1], kl, "KL(pi || pi0)")):
        ax.plot(x, gold, color="tab:green", label="gold (exact)")
        ax.axvline(x[int(np.argmax(gold))], color="tab:green", ls=":", lw=1)
        ax.set_xlabel(label)
        ax.set_ylabel("gold utility", color="tab:green")
        ax2 = ax.twinx()
        ax2.plot(x, proxy, color="tab:blue", alpha=0.7, label="proxy (sampled)")
        ax2.set_ylabel(f"proxy: {res.reward}"[:60], color="tab:blue")
    axes[0].set_title(f"{res.method}: gold peaks at step {res.sweet_spot['step']}")
    axes[1].set_title("against KL to the base policy")
    for k in recs[0]["rates"]:
        v = np.array([r["rates"][k] for r in recs])
        axes[2].plot(step, v, label=k)
    axes[2].set_xlabel("step")
    axes[2].set_title("attribute rates (counts: mean)")
    axes[2].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
