"""Plots of an evaluation folder (PNG): reliability, reward histograms, reward vs length, per-category accuracy,
best-of-K curves and system ratings. Each is a file a person can open and is embedded in report.html."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

DPI = 110


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path.name


def _rows(out: Path, name: str) -> list[dict[str, Any]]:
    p = out / f"scores_{name}.jsonl"
    if not p.exists():
        return []
    with open(p) as f:
        return [json.loads(line) for line in f]


def plot_reliability(m: dict[str, Any], path: Path, title: str) -> str:
    """Reliability diagram before and after temperature scaling."""
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.plot([0.5, 1], [0.5, 1], "--", color="grey", lw=1, label="perfect calibration")
    for key, style, lab in (("raw", "o-", "raw"), ("calibrated", "s-", "after temperature")):
        d = (m.get("reliability") or {}).get(key)
        if not d:
            continue
        xs = [c for c, n in zip(d["mean_confidence"], d["count"], strict=True) if n]
        ys = [a for a, n in zip(d["accuracy"], d["count"], strict=True) if n]
        ece = d.get("ece")
        ax.plot(xs, ys, style, ms=4, label=f"{lab} (ECE {ece:.3f})" if ece is not None else lab)
    ax.set_xlabel("confidence max(p, 1-p)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0.48, 1.01)
    ax.set_ylim(0.0, 1.02)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, path)


def plot_histograms(rows: list[dict[str, Any]], path: Path, title: str) -> str:
    """Distribution of chosen and rejected rewards."""
    rc = np.array([r["reward_chosen"] for r in rows])
    rr = np.array([r["reward_rejected"] for r in rows])
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    bins = np.linspace(min(rc.min(), rr.min()), max(rc.max(), rr.max()) + 1e-9, 40)
    ax.hist(rc, bins=bins, alpha=0.6, label="chosen", color="tab:green")
    ax.hist(rr, bins=bins, alpha=0.6, label="rejected", color="tab:red")
    ax.set_xlabel("reward")
    ax.set_ylabel("pairs")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_length(rows: list[dict[str, Any]], path: Path, title: str) -> str:
    """Reward against response length (characters), with the Spearman correlation."""
    lens = np.array([r["len_chosen"] for r in rows] + [r["len_rejected"] for r in rows], dtype=float)
    rew = np.array([r["reward_chosen"] for r in rows] + [r["reward_rejected"] for r in rows])
    rho = spearmanr(lens, rew).statistic if len(set(lens)) > 1 else float("nan")
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    ax.scatter(lens, rew, s=6, alpha=0.35)
    ax.set_xlabel("response length (characters)")
    ax.set_ylabel("reward")
    ax.set_title(f"{title} (Spearman {rho:.2f})", fontsize=10)
    return _save(fig, path)


def plot_categories(m: dict[str, Any], path: Path, title: str) -> str:
    """Per-category accuracy with 95% CIs, the longer-wins baseline as a marker."""
    cats = m.get("per_category") or {}
    names = sorted(cats)
    fig, ax = plt.subplots(figsize=(5.6, 0.45 * max(len(names), 2) + 1.2))
    for i, c in enumerate(names):
        a = cats[c]["accuracy"]
        ax.errorbar(a["estimate"], i, xerr=[[a["estimate"] - a["lo"]], [a["hi"] - a["estimate"]]], fmt="o",
                    color="tab:blue", capsize=3, label="model" if i == 0 else None)
        lb = (cats[c].get("length_baselines") or {}).get("longer")
        if lb:
            ax.plot(lb["estimate"], i, "x", color="tab:orange", ms=8, label="longer wins" if i == 0 else None)
    ax.axvline(0.5, color="grey", lw=1, ls=":")
    ax.set_yticks(range(len(names)), [f"{c} (n={cats[c]['n']})" for c in names], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("accuracy (95% CI)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def plot_best_of_k(m: dict[str, Any], path: Path, title: str) -> str:
    """Best-of-K curves: the RM's pick vs the oracle (correctness and/or gold utility)."""
    fig, axes = plt.subplots(1, 2 if "correctness" in m and "gold_best_of_k" in m else 1, figsize=(9, 3.6),
                             squeeze=False)
    j = 0
    if "correctness" in m:
        c = m["correctness"]
        k = np.arange(1, len(c["best_of_k_curve"]) + 1)
        ax = axes[0, j]
        ax.plot(k, c["best_of_k_curve"], "o-", ms=3, label="reward model")
        ax.plot(k, c["oracle_curve"], "--", label="oracle")
        ax.set_xlabel("K")
        ax.set_ylabel("P(best-of-K is correct)")
        ax.legend(fontsize=8)
        ax.set_title(f"{title}: correctness", fontsize=10)
        j += 1
    if "gold_best_of_k" in m:
        g = m["gold_best_of_k"]
        ax = axes[0, j]
        ax.plot(g["k"], g["rm"], "o-", ms=3, label="reward model pick")
        ax.plot(g["k"], g["oracle"], "--", label="gold-utility pick")
        ax.set_xlabel("K")
        ax.set_ylabel("expected gold utility")
        ax.legend(fontsize=8)
        ax.set_title(f"{title}: gold utility", fontsize=10)
    return _save(fig, path)


def plot_ratings(m: dict[str, Any], path: Path, title: str) -> str:
    """System ratings from human labels vs from the RM (arena scale, 95% CIs)."""
    models = m["models"]
    h = m["human_ratings"]
    r = m["rm_ratings"]
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    for s in models:
        ax.errorbar(h[s]["rating"], r[s]["rating"], xerr=[[h[s]["rating"] - h[s]["lo"]], [h[s]["hi"] - h[s]["rating"]]],
                    yerr=[[r[s]["rating"] - r[s]["lo"]], [r[s]["hi"] - r[s]["rating"]]], fmt="o", capsize=2)
        ax.annotate(str(s), (h[s]["rating"], r[s]["rating"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlabel("rating from human labels")
    ax.set_ylabel("rating from reward model")
    sp = m.get("spearman")
    ax.set_title(f"{title} (Spearman {sp:.2f})" if isinstance(sp, float) else title, fontsize=10)
    return _save(fig, path)


def pairs_plots(out: Path, name: str, m: dict[str, Any]) -> list[str]:
    """A pair dataset's plots: reliability, reward histograms, reward vs length, accuracy by category."""
    rows = _rows(out, name)
    return [plot_reliability(m, out / f"{name}_reliability.png", f"{name}: reliability"),
            plot_histograms(rows, out / f"{name}_rewards.png", f"{name}: rewards"),
            plot_length(rows, out / f"{name}_length.png", f"{name}: reward vs length"),
            plot_categories(m, out / f"{name}_categories.png", f"{name}: accuracy by category")]


def ksample_plots(out: Path, name: str, m: dict[str, Any]) -> list[str]:
    """A K-sample dataset's best-of-K curves (when it has correctness labels or gold scores)."""
    if "correctness" in m or "gold_best_of_k" in m:
        return [plot_best_of_k(m, out / f"{name}_best_of_k.png", name)]
    return []


def battles_plots(out: Path, name: str, m: dict[str, Any]) -> list[str]:
    """A battles dataset's system ratings, human vs RM."""
    return [plot_ratings(m, out / f"{name}_ratings.png", f"{name}: system ratings")]


def make_plots(out: Path, result: dict[str, Any]) -> dict[str, list[str]]:
    """All plots for every dataset of an evaluation; records their file names in result['plots']."""
    from rewardlab.kinds import get_kind

    plots: dict[str, list[str]] = {}
    for name, m in result["datasets"].items():
        draw = get_kind(m["kind"]).hook("plots")
        plots[name] = draw(out, name, m) if draw is not None else []
    result["plots"] = plots
    from rewardlab.results import write_result
    from rewardlab.results.metrics import EvalMetrics

    write_result(out / "metrics.json", EvalMetrics.from_dict(result, "metrics.json"))
    return plots
