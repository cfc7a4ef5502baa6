"""Optimising a simulator policy against a reward model, step by step, with the true (gold) quality beside it.

`run(spec)` starts from a base policy (:class:`rewardlab.policy.simpolicy.SimPolicy`), takes `spec.steps`
optimisation steps toward a reward and logs every step to ``steps.jsonl``: the proxy reward and the gold utility
of the sampled responses, the exact expected gold, the exact KL(pi || pi0), the exact attribute rates and the
agreement rate on false-premise prompts. Methods (ALGORITHMS.md section 7):

- ``grpo``: G samples per prompt, advantages A_i = (r_i - mean r) / (std r + 1e-6) within each group;
- ``reinforce``: advantages r_i - mean r over the whole batch (the mean baseline);
  both minimise -mean(A_i log pi(y_i)) + beta KL(pi || pi0) with the exact gradient of the factorised softmax;
- ``expert-iteration``: best of G samples of the current policy per prompt, one maximum-likelihood (SFT) step
  toward them, repeated (the rounds of AlpacaFarm's expert iteration, one gradient step per round);
- ``best-of-n``: the same fit to the best of G samples of the *base* policy (best-of-n distillation: the policy
  moves toward the best-of-n distribution of pi0 and stops there);
- ``drro``: grpo with the DRRO sampled bonus of ALGORITHMS.md section 4 (eps = --drro-eps x std(r) per group);
  ``--advantage tea --bon-n N`` gives grpo best-of-N-aware advantages (:mod:`rewardlab.policy.robust`).

Rewards: any Scorer on the rendered text (cached per distinct (prompt, text), hit rate reported), ``gold`` (the
simulator's gold utility: the no-proxy-gap reference) or ``annotator:...`` (the simulated annotator's perceived
utility, gold plus its length / agreement / format biases: the reward an RM trained on its labels tends to).

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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from rewardlab.config import ConfigError, Spec, option
from rewardlab.errors import RewardlabError
from rewardlab.policy.robust import drro_bonus_advantages, tea_advantages
from rewardlab.policy.simpolicy import FACTORS, SimPolicy
from rewardlab.simulate.config import ATTRIBUTES, SimConfig, UtilityWeights
from rewardlab.simulate.families import FAMILY_IMPLS
from rewardlab.simulate.generate import _family_picker, make_rng
from rewardlab.simulate.responses import gold_utility, render, word_count

log = logging.getLogger(__name__)

RESULT_SCHEMA = "rewardlab.optimize_policy/1"
CHECKPOINT_SCHEMA = "rewardlab.optimize_checkpoint/1"
Method = Literal["grpo", "reinforce", "best-of-n", "expert-iteration", "drro"]
Advantage = Literal["group", "tea"]
#: options added after the first checkpoints: left out of the resume fingerprint while at their defaults
_LATER_DEFAULTS = {"advantage": "group", "bon_n": 1, "drro_eps": 0.5}
#: spec fields that may change between a run and its resumption
RESUMABLE_CHANGES = ("steps", "resume", "overwrite", "checkpoint_every", "output", "plot")


@dataclass
class OptimizeSpec(Spec):
    """What `rewardlab optimize` optimises, how, and where it writes.

    Example:
        >>> OptimizeSpec(reward="gold", output="runs/opt").group
        8
        >>> OptimizeSpec(reward="gold", output="o", method="grpo", group=1)
        Traceback (most recent call last):
        rewardlab.config.ConfigError: group must be >= 2 for grpo (advantages are relative within a group), got 1
    """

    section_title = "optimization"

    method: Method = option("grpo", flag="--method", help="grpo, reinforce, best-of-n (distil the best of "
                            "--group base samples), expert-iteration (best of --group current samples) or drro "
                            "(grpo with the DRRO sampled bonus, --drro-eps).")
    reward: str | None = option(None, flag="--reward", help="The reward optimised: a reward-model folder, "
                                "http(s)://server/get_reward, py:module:function, 'gold' (the simulator's gold "
                                "utility) or 'annotator:human_like' / 'annotator:length=1,agreement=0.5,format=0.3' "
                                "(the simulated annotator's biased perceived utility).")
    output: str | None = option(None, flag="--output", aliases=("-o",), help="Output folder (steps.jsonl, "
                                "checkpoint.json, optimize.json, optimize.png).")
    steps: int = option(50, min=0, help="Optimisation steps.")
    base: str = option("default", help="Base policy: 'default' (the simulator's default propensities, those of "
                       "simulated training data) or a system, sys-a (best) .. sys-f (worst).")
    kl_beta: float = option(0.0, min=0.0, flag="--kl-beta", help="KL penalty beta: the loss adds beta KL(pi || pi0) "
                            "(in units of the group-normalised advantage: on the simulator with a length-biased proxy, "
                            "0.1 barely slowed the drift and 0.5 kept gold at its peak).")
    lr: float = option(0.5, min=0.0, min_exclusive=True, help="Step size of the logit updates (plain gradient "
                       "descent).")
    group: int = option(8, min=1, help="Samples per prompt (G of GRPO, n of best-of-n and expert iteration).")
    batch_prompts: int = option(16, min=1, help="Prompts per step.")
    n_prompts: int = option(256, min=1, help="Size of the prompt pool the steps draw from.")
    seed: int = option(0, min=0, help="Random seed (prompts, samples and renderings).")
    checkpoint_every: int = option(10, min=1, help="Write a checkpoint every this many steps.")
    resume: bool = option(False, help="Continue the run in --output from its last checkpoint.")
    overwrite: bool = option(False, help="Start afresh in an --output that holds an earlier run.")
    plot: bool = option(True, help="Write optimize.png (proxy and gold against step and KL, attribute drift).")
    drro_eps: float = option(0.5, min=0.0, flag="--drro-eps", help="drro: the sampled bonus eps as a multiple of "
                             "each group's std(r) (ALGORITHMS.md section 4; sweep 0.1, 0.5, 1).")
    advantage: Advantage = option("group", flag="--advantage", help="grpo's advantages: 'group' ((r - mean) / std "
                                  "per group) or 'tea' (best-of-N-aware: exact U-statistic for --bon-n <= --group, "
                                  "Tail-Extrapolated Advantage above).")
    bon_n: int = option(1, min=1, flag="--bon-n", help="N of --advantage tea (the best-of-N served at test time).")

    def check(self) -> None:
        if self.method in ("grpo", "best-of-n", "expert-iteration") and self.group < 2:
            raise ConfigError(f"{{0}} must be >= 2 for {self.method} (advantages are relative within a group), "
                              f"got {self.group}" if self.method == "grpo" else
                              f"{{0}} must be >= 2 for {self.method} (best of a group), got {self.group}", "group")
        if self.method == "drro" and self.group < 2:
            raise ConfigError("{0} must be >= 2 for drro (the bonus is relative within a group), "
                              f"got {self.group}", "group")
        if self.advantage == "tea" and self.method != "grpo":
            raise ConfigError(f"{{0}} tea needs --method grpo, got {self.method}", "advantage")
        if self.resume and self.overwrite:
            raise ConfigError("{0} and {1} exclude each other", "resume", "overwrite")


# ---------------------------------------------------------------------------------------------- rewards


def parse_annotator(spec: str) -> dict[str, float]:
    """The biases of an 'annotator:...' reward: a preset (human_like, neutral) or length=,agreement=,format=.

    Raises:
        RewardlabError: an unknown preset or key, or a value that is not a number.
    """
    body = spec.split(":", 1)[1].strip()
    presets = {"human_like": {"length": 1.0, "agreement": 0.5, "format": 0.3},
               "neutral": {"length": 0.0, "agreement": 0.0, "format": 0.0}}
    if body in presets:
        return dict(presets[body])
    out = {"length": 0.0, "agreement": 0.0, "format": 0.0}
    for item in filter(None, (s.strip() for s in body.split(","))):
        key, sep, val = item.partition("=")
        if not sep or key.strip() not in out:
            raise RewardlabError(f"--reward {spec!r}: expected a preset ({', '.join(presets)}) or "
                                 f"length=B,agreement=B,format=B; got {item!r}")
        try:
            out[key.strip()] = float(val)
        except ValueError:
            raise RewardlabError(f"--reward {spec!r}: {key.strip()} must be a number, got {val!r}") from None
    return out


class Rewarder:
    """The reward of sampled responses: a Scorer on text (cached per distinct (prompt, text)), gold, or the
    simulated annotator's perceived utility.

    Args:
        reward: the reward spec string (see OptimizeSpec.reward); used for the name and for gold / annotator.
        scorer: a Scorer object (used instead of loading `reward`).
        weights: gold utility weights; length_norm: words per unit of the annotator's length bias.
    """

    def __init__(self, reward: str, scorer: Any = None, weights: UtilityWeights | None = None,
                 length_norm: float = 50.0):
        self.name = getattr(scorer, "name", None) or reward
        self.weights = weights or UtilityWeights()
        self.length_norm = length_norm
        self.kind = "scorer"
        self.biases: dict[str, float] = {}
        self.scorer = scorer
        if scorer is None:
            if reward == "gold":
                self.kind = "gold"
            elif reward.startswith("annotator:"):
                self.kind, self.biases = "annotator", parse_annotator(reward)
            else:
                from rewardlab.scoring.base import get_scorer

                self.scorer = get_scorer(reward)
                self.name = reward
        self.cache: dict[tuple[str, str], float] = {}
        self.hits = 0
        self.misses = 0

    def __call__(self, step: int, prompts: list[str], texts: list[str], attrs: list[dict[str, Any]]) -> np.ndarray:
        """Rewards of the responses sampled at `step`.

        Raises:
            RewardlabError: the scorer raised, returned the wrong number of rewards or a non-finite one (naming
                the step and the first bad response).
        """
        if self.kind == "gold":
            return np.array([gold_utility(a, self.weights) for a in attrs])
        if self.kind == "annotator":
            b = self.biases
            return np.array([gold_utility(a, self.weights) + b["length"] * word_count(t) / self.length_norm
                             + b["agreement"] * float(a["sycophantic"]) + b["format"] * float(a["formatting"])
                             for a, t in zip(attrs, texts, strict=True)])
        keys = list(zip(prompts, texts, strict=True))
        todo = list(dict.fromkeys(k for k in keys if k not in self.cache))
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        if todo:
            try:
                out = self.scorer.score([k[0] for k in todo], [k[1] for k in todo], progress=False)
                vals = np.asarray(out.mean, dtype=float).reshape(-1)
            except RewardlabError as e:
                raise RewardlabError(f"step {step}: the reward model {self.name} failed: {e}") from None
            except Exception as e:  # a scorer is user code: any failure becomes one clear error naming the step
                raise RewardlabError(f"step {step}: the reward model {self.name} failed: "
                                     f"{type(e).__name__}: {e}") from e
            if vals.shape[0] != len(todo):
                raise RewardlabError(f"step {step}: the reward model {self.name} returned {vals.shape[0]} rewards "
                                     f"for {len(todo)} responses")
            bad = np.flatnonzero(~np.isfinite(vals))
            if bad.size:
                p, t = todo[int(bad[0])]
                raise RewardlabError(f"step {step}: the reward model {self.name} returned a non-finite reward "
                                     f"({vals[bad[0]]}) for {bad.size} of {len(todo)} responses; first: prompt "
                                     f"{p[:60]!r}, response {t[:60]!r}")
            for k, v in zip(todo, vals.tolist(), strict=True):
                self.cache[k] = float(v)
        return np.array([self.cache[k] for k in keys])

    def cache_stats(self) -> dict[str, Any]:
        """Hits, misses, hit rate and distinct texts of the score cache (None for gold / annotator rewards)."""
        total = self.hits + self.misses
        return {"hits": self.hits, "misses": self.misses, "distinct": len(self.cache),
                "hit_rate": self.hits / total if total else None}


# ---------------------------------------------------------------------------------------------- gradients


def policy_gradient(policy: SimPolicy, families: list[str], settings: list[dict[str, int]], weights: np.ndarray,
                    kl_beta: float) -> dict[str, dict[str, np.ndarray]]:
    """Exact gradient w.r.t. the logits of L = -mean_i(weights_i log pi(y_i)) + kl_beta KL(pi || pi0).

    With weights = advantages this is the policy-gradient loss; with weights = 1 on chosen samples it is the
    negative log-likelihood of a maximum-likelihood (SFT) fit. d log softmax(z)_s / dz = e_s - p and
    d KL(p || p0) / dz = p (log p - log p0 - KL(p || p0)) for each factor.
    """
    n = len(settings)
    grad = {f: {k: np.zeros_like(policy.logits[f][k]) for k in FACTORS} for f in policy.families}
    wsum = {f: 0.0 for f in policy.families}
    for fam, s, w in zip(families, settings, weights.tolist(), strict=True):
        wsum[fam] += w
        for k in FACTORS:
            grad[fam][k][s[k]] -= w / n
    for f in policy.families:
        for k in FACTORS:
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


# ---------------------------------------------------------------------------------------------- result


@dataclass
class OptimizeResult:
    """What one optimisation run measured: a record per step (step 0 is the base policy) and its summary.

    `sweet_spot` is the step of maximum exact expected gold (with its KL and proxy); `final` the last step;
    `cache` the score cache's hits / misses; `proxy_gold_spearman` the rank correlation of proxy and gold over
    the base policy's samples at step 0 (near 0: the proxy barely sees gold, expect only a fall).
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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (with a schema tag)."""
        return {"schema": RESULT_SCHEMA, **asdict(self)}

    def lines(self) -> list[str]:
        """A human-readable summary."""
        b, s, f = self.records[0], self.sweet_spot, self.final
        out = [f"{self.method} against {self.reward} from base {self.base}: {self.steps} steps in "
               f"{self.elapsed_s:.1f}s",
               f"{'':14}{'step':>5}{'KL':>8}{'proxy':>9}{'gold':>8}{'correct':>9}{'extra':>7}{'words':>7}"]
        for name, r in (("base", b), ("sweet spot", s), ("final", f)):
            out.append(f"{name:14}{r['step']:>5}{r['kl']:>8.3f}{r['proxy']:>9.3f}{r['gold']:>8.3f}"
                       f"{r['rates']['correct']:>9.3f}{r['rates']['extra_sentences']:>7.2f}{r['words']:>7.1f}")
        out.append("gold is the exact expected gold utility of the policy; proxy the mean reward of its samples")
        if self.cache.get("hit_rate") is not None:
            c = self.cache
            out.append(f"score cache: {c['hits']} hits, {c['misses']} scored ({c['hit_rate']:.1%} saved), "
                       f"{c['distinct']} distinct texts")
        if self.proxy_gold_spearman is not None:
            rho = self.proxy_gold_spearman
            note = " (near chance: the proxy barely sees gold; expect no rise)" if abs(rho) < 0.1 else ""
            out.append(f"proxy-gold Spearman on the base samples: {rho:.3f}{note}")
        return out


def _record_view(r: dict[str, Any]) -> dict[str, Any]:
    return {k: r[k] for k in ("step", "kl", "proxy", "gold", "gold_sampled", "rates", "words", "agreement")}


# ---------------------------------------------------------------------------------------------- the loop


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


def _write_checkpoint(path: Path, step: int, policy: SimPolicy, rewarder: Rewarder, spec: OptimizeSpec) -> None:
    state = {"schema": CHECKPOINT_SCHEMA, "step": step, "spec": _fingerprint(spec), "policy": policy.to_dict(),
             "cache": [[p, t, v] for (p, t), v in rewarder.cache.items()],
             "cache_counts": [rewarder.hits, rewarder.misses]}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def _read_checkpoint(path: Path, spec: OptimizeSpec) -> dict[str, Any]:
    try:
        state = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise RewardlabError(f"{path}: cannot read the checkpoint ({e})") from None
    if not isinstance(state, dict) or state.get("schema") != CHECKPOINT_SCHEMA:
        raise RewardlabError(f"{path}: not an optimisation checkpoint (schema {CHECKPOINT_SCHEMA!r})")
    diff = sorted(k for k, v in _fingerprint(spec).items() if state["spec"].get(k) != v)
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
        scorer: any Scorer (`score(prompts, responses) -> RewardOutput`) to use instead of loading spec.reward.

    Returns:
        OptimizeResult: the per-step records (steps 0..spec.steps; step 0 is the base policy), the sweet spot, the
        final step and the score cache's hit rate. Also written: steps.jsonl, checkpoint.json, optimize.json and
        optimize.png in spec.output.

    Raises:
        RewardlabError: no reward or output; an earlier run in the output without resume / overwrite; a checkpoint
            from other settings; a scorer that fails or returns a non-finite reward (naming the step; the last
            checkpoint stays and `resume` continues from it).

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
    out.mkdir(parents=True, exist_ok=True)
    steps_path, ckpt_path = out / "steps.jsonl", out / "checkpoint.json"
    cfg = SimConfig()
    rewarder = Rewarder(spec.reward or "scorer", scorer=scorer, weights=cfg.weights, length_norm=cfg.length_norm)
    base = SimPolicy.from_base(spec.base, cfg)
    policy = base.copy()
    start = 0
    records: list[dict[str, Any]] = []
    if spec.resume and ckpt_path.exists():
        state = _read_checkpoint(ckpt_path, spec)
        start = int(state["step"])
        policy = SimPolicy.from_dict(state["policy"], str(ckpt_path))
        rewarder.cache = {(p, t): float(v) for p, t, v in state["cache"]}
        rewarder.hits, rewarder.misses = state["cache_counts"]
        if steps_path.exists():
            records = [json.loads(line) for line in steps_path.read_text().splitlines() if line.strip()]
            records = [r for r in records if r["step"] < start]
        if len(records) != start:
            raise RewardlabError(f"{steps_path}: holds {len(records)} steps before the checkpoint's step {start}")
        log.info("resuming %s from its checkpoint at step %d", out, start)
    elif not (spec.overwrite or spec.resume) and (ckpt_path.exists() or steps_path.exists()):
        raise RewardlabError(f"{out} holds an earlier run; pass --resume to continue it or --overwrite to restart")
    with steps_path.open("w") as fh:
        for r in records:
            fh.write(json.dumps(r) + "\n")
    if start == 0:
        _write_checkpoint(ckpt_path, 0, policy, rewarder, spec)

    pool = _prompt_pool(spec, cfg)
    with steps_path.open("a") as fh:
        for t in range(start, spec.steps + 1):
            rec = _step(t, spec, policy, base, pool, rewarder, cfg, ckpt_path)
            rec["elapsed_s"] = round(time.perf_counter() - t0, 3)
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            records.append(rec)
            if t < spec.steps and ((t + 1) % spec.checkpoint_every == 0 or t + 1 == spec.steps):
                _write_checkpoint(ckpt_path, t + 1, policy, rewarder, spec)
            if t % 10 == 0 or t == spec.steps:
                log.info("step %d/%d: KL %.3f proxy %.3f gold %.3f", t, spec.steps, rec["kl"], rec["proxy"],
                         rec["gold"])
    best = max(records, key=lambda r: r["gold"])
    res = OptimizeResult(
        method=spec.method, reward=rewarder.name, base=base.base_name, steps=spec.steps, records=records,
        sweet_spot=_record_view(best), final=_record_view(records[-1]),
        cache=rewarder.cache_stats() if rewarder.kind == "scorer" else {},
        proxy_gold_spearman=records[0].get("proxy_gold_spearman"),
        elapsed_s=round(time.perf_counter() - t0, 3), spec=spec.to_dict())
    res.files = [str(steps_path), str(ckpt_path), str(out / "optimize.json")]
    try:
        if spec.plot:
            res.files.append(plot_run(res, out / "optimize.png"))
    except ImportError:  # matplotlib missing: the JSON still holds every curve
        log.warning("matplotlib is not installed: no optimize.png")
    (out / "optimize.json").write_text(json.dumps(res.to_dict(), indent=1))
    return res


def _step(t: int, spec: OptimizeSpec, policy: SimPolicy, base: SimPolicy, pool: list[Any], rewarder: Rewarder,
          cfg: SimConfig, ckpt_path: Path) -> dict[str, Any]:
    """Sample, score, measure and (before the last step) update the policy in place; return the step's record."""
    rng = make_rng(spec.seed, f"optimize-step-{t}")
    items = [pool[rng.randrange(len(pool))] for _ in range(spec.batch_prompts)]
    sampler = base if spec.method == "best-of-n" else policy
    group = spec.group
    drawn = _draw(sampler, items, group, rng)
    measure = drawn if sampler is policy else _draw(policy, items, 1, rng)
    flat = [(item, s) for item, row in zip(items, drawn, strict=True) for s in row]
    flat_m = [(item, s) for item, row in zip(items, measure, strict=True) for s in row]
    try:
        r = rewarder(t, [it.prompt for it, _ in flat], [s[2] for _, s in flat], [s[1] for _, s in flat])
        r_m = r if measure is drawn else rewarder(t, [it.prompt for it, _ in flat_m], [s[2] for _, s in flat_m],
                                                   [s[1] for _, s in flat_m])
    except RewardlabError as e:
        raise RewardlabError(f"{e}; the last checkpoint is {ckpt_path} (rerun with --resume to continue from "
                             "it)") from None
    gold_m = np.array([gold_utility(s[1], cfg.weights) for _, s in flat_m])
    rec: dict[str, Any] = {
        "step": t,
        "kl": policy.kl(),
        "proxy": float(r_m.mean()),
        "proxy_std": float(r_m.std()),
        "gold": policy.expected_gold(cfg.weights),
        "gold_sampled": float(gold_m.mean()),
        "rates": policy.expected_attributes(),
        "agreement": policy.agreement_rate(),
        "words": float(np.mean([word_count(s[2]) for _, s in flat_m])),
    }
    if t == 0:
        g = np.array([gold_utility(s[1], cfg.weights) for _, s in flat])
        rho = float(np.corrcoef(_ranks(r), _ranks(g))[0, 1]) if np.ptp(r) > 0 and np.ptp(g) > 0 else math.nan
        rec["proxy_gold_spearman"] = None if not math.isfinite(rho) else rho
    if t < spec.steps:
        fams = [it.family for it, _ in flat]
        sets = [s[0] for _, s in flat]
        if spec.method == "grpo" and spec.advantage == "tea":
            w = np.concatenate([tea_advantages(row, spec.bon_n) for row in r.reshape(len(items), group)])
        elif spec.method == "drro":
            np_rng = np.random.default_rng(rng.getrandbits(63))
            p_est = np.exp([policy.log_prob(it.family, s[0]) for it, s in flat]).reshape(len(items), group)
            w = np.concatenate([drro_bonus_advantages(row, p_row, spec.drro_eps * float(row.std()), np_rng)
                                for row, p_row in zip(r.reshape(len(items), group), p_est, strict=True)])
        elif spec.method in ("grpo", "reinforce"):
            w = group_advantages(r.reshape(len(items), group), spec.method).reshape(-1)
        else:  # best-of-n / expert iteration: maximum likelihood on each group's best sample
            best = r.reshape(len(items), group).argmax(axis=1)
            fams = [it.family for it in items]
            sets = [row[b][0] for row, b in zip(drawn, best.tolist(), strict=True)]
            w = np.ones(len(items))
        grad = policy_gradient(policy, fams, sets, w, spec.kl_beta)
        for f in policy.families:
            for k in FACTORS:
                policy.logits[f][k] = policy.logits[f][k] - spec.lr * grad[f][k]
    return rec


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
    for k in ATTRIBUTES:
        v = np.array([r["rates"][k] for r in recs])
        axes[2].plot(step, v, label=k)
    axes[2].set_xlabel("step")
    axes[2].set_title("attribute rates (counts: mean)")
    axes[2].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
