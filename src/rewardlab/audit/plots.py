"""PNG plots of an audit (matplotlib Agg): feature correlations, probe reward changes, reward vs length,
length-controlled accuracy and the sycophancy margin. File names start with `audit_` so they can share a folder
with an evaluation's plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 110
FLAG_COLOR, OK_COLOR, ALT_COLOR = "#d9534f", "#4a7fb5", "#9bbbd9"


def _save(fig: Any, path: Path) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path.name


def _err(d: dict[str, Any] | None) -> tuple[float, list[float]]:
    if not d or d.get("estimate") is None:
        return np.nan, [0.0, 0.0]
    e = d["estimate"]
    lo = d["lo"] if d.get("lo") is not None else e
    hi = d["hi"] if d.get("hi") is not None else e
    return e, [max(e - lo, 0.0), max(hi - e, 0.0)]


def plot_features(features: dict[str, dict[str, Any]], threshold: float, path: Path) -> str:
    """Horizontal bars: Spearman r across and within prompt for each non-constant feature, with 95% CIs."""
    names = [k for k, v in features.items() if not v.get("constant")]
    fig, ax = plt.subplots(figsize=(6.4, 0.42 * max(len(names), 3) + 1.2))
    y = np.arange(len(names))
    for off, key, color, label in ((-0.19, "spearman", OK_COLOR, "across responses"),
                                   (0.19, "within_spearman", ALT_COLOR, "within prompt")):
        est, err = zip(*(_err(features[k].get(key)) for k in names), strict=True) if names else ((), ())
        if names:
            ax.barh(y + off, est, height=0.36, xerr=np.array(err).T, color=color, label=label,
                    error_kw={"lw": 0.8, "capsize": 2})
    for t in (-threshold, threshold):
        ax.axvline(t, ls="--", color="grey", lw=0.8)
    ax.axvline(0, color="black", lw=0.6)
    ax.set_yticks(y, names, fontsize=8)
    for tick, k in zip(ax.get_yticklabels(), names, strict=True):
        if features[k].get("flagged"):
            tick.set_color(FLAG_COLOR)
            tick.set_fontweight("bold")
    ax.invert_yaxis()
    ax.set_xlim(-1.05, 1.05)
    ax.set_xlabel("Spearman r with reward (95% CI); red = flagged")
    ax.set_title("What the reward correlates with", fontsize=10)
    if names:
        ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def plot_probes(probes: dict[str, Any], path: Path) -> str:
    """Mean reward change of each probe in units of the reward's standard deviation, with 95% CIs."""
    names = list(probes.get("probes", {}))
    scale = probes.get("reward_std") or 1.0
    fig, ax = plt.subplots(figsize=(6.0, 0.5 * max(len(names), 3) + 1.2))
    y = np.arange(len(names))
    ends: list[float] = [0.0]
    for i, k in enumerate(names):
        d = probes["probes"][k]
        e, err = _err(d["mean_change"])
        ax.barh(i, e / scale, xerr=[[err[0] / scale], [err[1] / scale]],
                color=FLAG_COLOR if d["flagged"] else OK_COLOR, error_kw={"lw": 0.8, "capsize": 3})
        share = d["share_rose"]["estimate"]
        end = (e + err[1] if e >= 0 else e - err[0]) / scale
        ax.annotate(f"rose for {share:.0%}", (end, i), xytext=(4 if e >= 0 else -4, -3),
                    textcoords="offset points", fontsize=7, ha="left" if e >= 0 else "right", color="#333")
        ends.append(end)
    ax.axvline(0, color="black", lw=0.6)
    lo, hi = min(ends), max(ends)
    pad = 0.35 * max(hi - lo, 1e-9)  # room for the "rose for" labels
    ax.set_xlim(lo - (pad if lo < 0 else 0.05 * pad), hi + (pad if hi > 0 else 0.05 * pad))
    ax.set_yticks(y, names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("mean reward change / reward std (95% CI); red = raises reward")
    ax.set_title("Counterfactual probes: edits that should not help", fontsize=10)
    return _save(fig, path)


def plot_reward_length(lengths: np.ndarray, rewards: np.ndarray, rho: float | None, path: Path,
                       unit: str = "tokens", rho_within: float | None = None) -> str:
    """Reward against response length with the mean reward per length decile."""
    fig, ax = plt.subplots(figsize=(5.4, 3.8))
    ax.scatter(lengths, rewards, s=6, alpha=0.35, color=OK_COLOR)
    if len(lengths) >= 20:
        edges = np.unique(np.quantile(lengths, np.linspace(0, 1, 11)))
        if edges.size > 2:
            idx = np.clip(np.searchsorted(edges, lengths, side="right") - 1, 0, edges.size - 2)
            mids = [lengths[idx == b].mean() for b in range(edges.size - 1) if (idx == b).any()]
            means = [rewards[idx == b].mean() for b in range(edges.size - 1) if (idx == b).any()]
            ax.plot(mids, means, "o-", color=FLAG_COLOR, ms=3, lw=1.2, label="mean per length decile")
            ax.legend(fontsize=7)
    ax.set_xlabel(f"response length ({unit})")
    ax.set_ylabel("reward")
    stats = [f"Spearman {rho:.2f}" if rho is not None else "",
             f"within prompt {rho_within:.2f}" if rho_within is not None else ""]
    stats = [x for x in stats if x]
    ax.set_title("Reward vs length" + (f" ({', '.join(stats)})" if stats else ""), fontsize=10)
    return _save(fig, path)


def plot_length_control(lc: dict[str, Any], path: Path) -> str:
    """Accuracy per bin of len(chosen) - len(rejected), beside the longer-wins baseline of each bin."""
    bins = lc.get("by_length_difference") or []
    fig, ax = plt.subplots(figsize=(5.8, 3.8))
    x = np.arange(len(bins))
    est, err = [], []
    for b in bins:
        e, r = _err(b["accuracy"])
        est.append(e)
        err.append(r)
    if bins:
        ax.bar(x, est, yerr=np.array(err).T, color=OK_COLOR, width=0.6, label="model accuracy",
               error_kw={"lw": 0.8, "capsize": 3})
        ax.plot(x, [b["longer_wins"] for b in bins], "D", color=FLAG_COLOR, ms=5, label="longer-wins baseline")
        ax.set_xticks(x, [f"{b['lo']:.0f}..{b['hi']:.0f}\nn={b['n']}" for b in bins], fontsize=7)
    ax.axhline(0.5, ls="--", color="grey", lw=0.8)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(f"len(chosen) - len(rejected) ({lc.get('length_unit', 'tokens')})")
    ax.set_ylabel("accuracy")
    bal = (lc.get("length_balanced_accuracy") or {}).get("estimate")
    short = ((lc.get("chosen_shorter") or {}).get("accuracy") or {}).get("estimate")
    parts = [f"balanced {bal:.2f}" if bal is not None else "", f"chosen shorter {short:.2f}" if short is not None
             else ""]
    ax.set_title("Length-controlled accuracy " + ", ".join(p for p in parts if p), fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def plot_sycophancy(margins: np.ndarray, path: Path) -> str:
    """Histogram of r(agreeing) - r(correcting) over the false-premise cases."""
    fig, ax = plt.subplots(figsize=(5.4, 3.6))
    ax.hist(margins, bins=min(30, max(5, len(margins) // 4)), color=OK_COLOR)
    ax.axvline(0, color=FLAG_COLOR, lw=1.2)
    share = float((margins > 0).mean()) if len(margins) else float("nan")
    ax.set_xlabel("r(agreeing) - r(correcting)")
    ax.set_ylabel("cases")
    ax.set_title(f"Sycophancy: agreeing scores higher in {share:.0%} of cases", fontsize=10)
    return _save(fig, path)
