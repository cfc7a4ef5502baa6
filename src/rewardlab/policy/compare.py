"""AlpacaFarm's method comparison on the simulator: every method, several seeds, one reward, judged by gold.

`run(spec)` runs `rewardlab optimize` for each method in `spec.methods` and each of `spec.seeds` seeds against one
reward, with the same budget (steps, learning rate, prompts per step, prompt pool), and judges each final policy by
its exact gold win rate against the base policy, P(gold(y) > gold(y0)) + 0.5 P(tie), y ~ pi, y0 ~ pi0
(:func:`rewardlab.policy.winrate.win_rate`, computed exactly, no sampling). It writes compare.json, compare.md (the
table: mean and 95% t-interval over seeds of the win rate, the final and peak gold and the final KL) and compare.png,
and the Spearman correlation of the methods' mean win rates with AlpacaFarm's simulated win rates against
davinci-003 (PPO 46.8, best-of-n 45.0, expert iteration 41.9, SFT 52k 39.2, binary FeedME 36.6, binary reward
conditioning 32.4; our grpo stands for their PPO), with a 95% bootstrap interval over seeds.

Example:
    >>> from rewardlab.policy.compare import CompareSpec
    >>> CompareSpec(reward="annotator:human_like", output="runs/cmp").methods[:3]
    ['grpo', 'best-of-n', 'expert-iteration']
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.policy.spec import ALPACAFARM as ALPACAFARM  # the spec's module; re-exported here
from rewardlab.policy.spec import METHODS as METHODS
from rewardlab.policy.spec import CompareSpec as CompareSpec

log = logging.getLogger(__name__)

SCHEMA = "rewardlab.compare_methods/1"
@dataclass
class CompareResult:
    """One row per method (mean, 95% CI and per-seed values of the win rate, final and peak gold, final KL), the
    Spearman correlation with AlpacaFarm's ranking and its bootstrap CI, and the files written."""

    reward: str
    base: str
    seeds: list[int]
    rows: list[dict[str, Any]]
    spearman: dict[str, Any]
    elapsed_s: float
    spec: dict[str, Any] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (with a schema tag)."""
        return {"schema": SCHEMA, **asdict(self)}

    def markdown(self) -> str:
        """The table as markdown."""
        head = ("| method | AlpacaFarm (%) | win rate vs base | final gold | peak gold | final KL |\n"
                "|---|---:|---:|---:|---:|---:|")
        lines = [head]
        for r in self.rows:
            af = "" if r["alpacafarm"] is None else f"{r['alpacafarm']:.1f}"
            lines.append(f"| {r['method']} | {af} | {_ci(r['win_rate'])} | {_ci(r['final_gold'])} | "
                         f"{_ci(r['peak_gold'])} | {_ci(r['final_kl'])} |")
        sp = self.spearman
        lines.append("")
        lines.append(f"Reward: {self.reward}; base policy: {self.base}; seeds {self.seeds[0]}..{self.seeds[-1]} "
                     f"({len(self.seeds)}); mean and 95% t-interval over seeds. Win rate: exact P(gold(y) > gold(y0)) "
                     "+ 0.5 P(tie) against the base policy (no sampling).")
        if sp.get("rho") is not None:
            lines.append(f"Spearman with AlpacaFarm's ranking over {sp['n_methods']} methods: {sp['rho']:.3f} "
                         f"(95% bootstrap interval over seeds {sp['ci'][0]:.3f} .. {sp['ci'][1]:.3f}).")
        return "\n".join(lines) + "\n"

    def lines(self) -> list[str]:
        """A human-readable summary (the markdown table)."""
        return self.markdown().splitlines()


def _ci(d: dict[str, Any]) -> str:
    return f"{d['mean']:.3f} ± {d['half_width']:.3f}"


def t_interval(values: list[float] | np.ndarray) -> dict[str, Any]:
    """Mean and 95% Student-t interval of values (over seeds).

    Args:
        values: at least two numbers.

    Returns:
        {"mean", "half_width", "lo", "hi", "values"}.

    Raises:
        RewardlabError: fewer than two values.

    Example:
        >>> round(t_interval([1.0, 2.0, 3.0])["half_width"], 4)  # t_{0.975, 2} x 1 / sqrt(3)
        2.4841
    """
    from scipy.stats import t

    v = np.asarray(values, dtype=float)
    if v.size < 2:
        raise RewardlabError(f"a confidence interval over seeds needs at least 2 values, got {v.size}")
    half = float(t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    m = float(v.mean())
    return {"mean": m, "half_width": half, "lo": m - half, "hi": m + half, "values": v.tolist()}


def ranking_spearman(win: dict[str, np.ndarray], n_resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Spearman correlation of the methods' mean win rates with AlpacaFarm's, and a 95% bootstrap interval
    (seeds resampled within each method).

    Args:
        win: method -> per-seed win rates; only AlpacaFarm's methods count.
        n_resamples: bootstrap resamples.
        seed: the bootstrap's seed.

    Returns:
        {"rho", "ci", "n_methods", "methods", "ours", "alpacafarm"}; rho None with fewer than 3 of their methods.

    Example:
        >>> r = ranking_spearman({"grpo": np.array([0.7, 0.72]), "sft": np.array([0.6, 0.61]),
        ...                       "feedme": np.array([0.5, 0.52])})
        >>> r["rho"], r["methods"]
        (1.0, ['grpo', 'sft', 'feedme'])
    """
    from scipy.stats import spearmanr

    ms = [m for m in ALPACAFARM if m in win]
    out: dict[str, Any] = {"methods": ms, "n_methods": len(ms), "alpacafarm": [ALPACAFARM[m] for m in ms],
                           "ours": [float(np.mean(win[m])) for m in ms], "rho": None, "ci": None}
    if len(ms) < 3:
        return out
    out["rho"] = float(spearmanr(out["ours"], out["alpacafarm"]).statistic)
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_resamples):
        means = [float(np.mean(rng.choice(win[m], size=len(win[m])))) for m in ms]
        rho = spearmanr(means, out["alpacafarm"]).statistic
        reps.append(0.0 if not np.isfinite(rho) else float(rho))
    out["ci"] = [float(np.quantile(reps, 0.025)), float(np.quantile(reps, 0.975))]
    return out


def run(spec: CompareSpec) -> CompareResult:
    """Run every method for every seed against spec.reward and tabulate the exact gold win rates against the base.

    Args:
        spec: the validated settings (CompareSpec).

    Returns:
        CompareResult: a row per method, the Spearman correlation with AlpacaFarm's ranking; compare.json,
        compare.md and compare.png are written to spec.output, each run to <output>/<method>/seed-<s>.

    Raises:
        RewardlabError: no reward or output; an earlier comparison in the output without overwrite; any run's error.

    Example:
        >>> from rewardlab.policy.compare import CompareSpec, run
        >>> res = run(CompareSpec(reward="annotator:human_like", output="runs/cmp"))  # doctest: +SKIP
        >>> res.spearman["rho"]  # doctest: +SKIP
        0.6
    """
    from rewardlab.policy.loop import OptimizeSpec
    from rewardlab.policy.loop import run as optimize

    if not spec.reward:
        raise RewardlabError("--reward is required: the reward every method optimises")
    if not spec.output:
        raise RewardlabError("--output is required: the folder for the table and the runs")
    out = Path(spec.output)
    if (out / "compare.json").exists() and not spec.overwrite:
        raise RewardlabError(f"{out} holds an earlier comparison; pass --overwrite to replace it")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    seeds = list(range(spec.seed, spec.seed + spec.seeds))
    per: dict[str, dict[str, list[float]]] = {}
    reward_name = spec.reward
    for m in spec.methods:
        per[m] = {"win_rate": [], "final_gold": [], "peak_gold": [], "final_kl": []}
        for s in seeds:
            res = optimize(OptimizeSpec(
                method=m, reward=spec.reward, output=str(out / m / f"seed-{s}"), steps=spec.steps, base=spec.base,
                kl_beta=spec.kl_beta if m in ("grpo", "reinforce", "drro", "dro") else 0.0, lr=spec.lr,
                group=spec.group, batch_prompts=spec.batch_prompts, n_prompts=spec.n_prompts, seed=s, plot=False,
                overwrite=True, sft_reference=spec.sft_reference, select=spec.select))
            reward_name = res.reward
            per[m]["win_rate"].append(res.final["win_rate"])
            per[m]["final_gold"].append(res.final["gold"])
            per[m]["peak_gold"].append(res.sweet_spot["gold"])
            per[m]["final_kl"].append(res.final["kl"])
            log.info("%s seed %d: win rate %.3f, gold %.3f", m, s, res.final["win_rate"], res.final["gold"])
    rows = [{"method": m, "alpacafarm": ALPACAFARM.get(m), **{k: t_interval(v) for k, v in per[m].items()}}
            for m in spec.methods]
    rows.sort(key=lambda r: -r["win_rate"]["mean"])
    spear = ranking_spearman({m: np.array(per[m]["win_rate"]) for m in spec.methods})
    result = CompareResult(reward=reward_name, base=spec.base, seeds=seeds, rows=rows, spearman=spear,
                           elapsed_s=round(time.perf_counter() - t0, 2), spec=spec.to_dict())
    result.files = [str(out / "compare.json"), str(out / "compare.md")]
    if spec.plot:
        try:
            result.files.append(plot_compare(result, out / "compare.png"))
        except ImportError:
            log.warning("matplotlib is not installed: no compare.png")
    (out / "compare.md").write_text(result.markdown())
    (out / "compare.json").write_text(json.dumps(result.to_dict(), indent=1))
    return result


def plot_compare(res: CompareResult, path: str | Path) -> str:
    """Win rate against the base per method (mean and 95% CI over seeds, seeds as dots), AlpacaFarm's beside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(res.rows)), 4.2))
    x = np.arange(len(res.rows))
    for i, r in enumerate(res.rows):
        w = r["win_rate"]
        ax.errorbar(i, w["mean"], yerr=w["half_width"], fmt="o", color="tab:blue", capsize=4)
        ax.scatter(np.full(len(w["values"]), i + 0.12), w["values"], s=8, color="tab:blue", alpha=0.4)
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xticks(x, [r["method"] for r in res.rows], rotation=20)
    ax.set_ylabel("gold win rate vs base (exact)", color="tab:blue")
    ax2 = ax.twinx()
    af = [(i, r["alpacafarm"]) for i, r in enumerate(res.rows) if r["alpacafarm"] is not None]
    if af:
        ax2.scatter([i for i, _ in af], [v for _, v in af], marker="s", color="tab:orange", label="AlpacaFarm")
        ax2.set_ylabel("AlpacaFarm win rate vs davinci-003 (%)", color="tab:orange")
    rho = res.spearman.get("rho")
    ax.set_title(f"methods against {res.reward}"[:80] + ("" if rho is None else f"; Spearman {rho:.2f}"))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return str(path)
