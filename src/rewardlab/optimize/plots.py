"""Plots of :func:`rewardlab.optimize.curves.goodhart_curves` results: gold and proxy against sqrt(KL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["plot_goodhart"]

DPI = 110
_TITLES = {"bon": "best-of-n", "tilted": "KL-regularised optimum (tilted policy)"}


def _arr(x: Any) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def _fit_line(fit: dict[str, Any], d_max: float) -> tuple[np.ndarray, np.ndarray] | None:
    if not fit or fit.get("a") is None or fit.get("b") is None or fit.get("baseline_gold") is None:
        return None
    d = np.linspace(0.0, d_max, 100)
    a, b = fit["a"], fit["b"]
    shape = d * d if fit["form"] == "bon" else np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0)), 0.0)
    return d, fit["baseline_gold"] + a * d - b * shape


def plot_goodhart(result: dict[str, Any], out_dir: str | Path, prefix: str = "goodhart") -> list[str]:
    """Gold and proxy reward against sqrt(KL), one line per rule with its CI band; best-of-n and tilted policy.

    Writes ``<prefix>_bon.png`` and ``<prefix>_tilted.png`` (two panels each: gold with the dashed Gao fit, and
    the proxy score the rule optimises).

    Args:
        result: the dict :func:`rewardlab.optimize.curves.goodhart_curves` returns (or its JSON round trip).
        out_dir: the folder to write into (created when missing).
        prefix: the file-name prefix.

    Returns:
        list[str]: the paths of the PNG files written.

    Raises:
        KeyError: ``result`` lacks the keys ``goodhart_curves`` writes.

    Example:
        >>> import numpy as np, tempfile
        >>> from rewardlab.optimize import goodhart_curves
        >>> rng = np.random.default_rng(0)
        >>> gold = rng.normal(size=(20, 8))
        >>> res = goodhart_curves(gold + rng.normal(size=(20, 8)), gold, ["mean"], n_resamples=10)
        >>> [Path(p).name for p in plot_goodhart(res, tempfile.mkdtemp())]
        ['goodhart_bon.png', 'goodhart_tilted.png']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for method in ("bon", "tilted"):
        fig, (ax_g, ax_p) = plt.subplots(1, 2, figsize=(10, 4))
        for i, rule in enumerate(result["rules"]):
            c = result["curves"][rule][method]
            color = colors[i % len(colors)]
            x = _arr(c["sqrt_kl"])
            for ax, key in ((ax_g, "gold"), (ax_p, "proxy")):
                q = c[key]
                ax.plot(x, _arr(q["estimate"]), "o-", ms=3, color=color, label=rule)
                lo, hi = _arr(q["lo"]), _arr(q["hi"])
                if np.isfinite(lo).any():
                    ax.fill_between(x, lo, hi, color=color, alpha=0.2, lw=0)
            line = _fit_line(c.get("fit") or {}, float(np.nanmax(x)) if np.isfinite(x).any() else 0.0)
            if line is not None:
                ax_g.plot(*line, "--", color=color, lw=1, label=f"{rule}: Gao fit")
        for ax, what in ((ax_g, "gold reward"), (ax_p, "proxy score (rule)")):
            ax.set_xlabel("sqrt(KL to the base policy, exact on the pool) (nats^0.5)")
            ax.set_ylabel(what)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        cis = (f"{int(100 * result['confidence'])}% bootstrap CIs over prompts" if result.get("n_resamples", 1)
               else "no CIs (0 bootstrap resamples)")
        fig.suptitle(f"{_TITLES[method]}: {result['n_prompts']} prompts x {result['n_candidates']} candidates, {cis}",
                     fontsize=10)
        fig.tight_layout()
        path = out / f"{prefix}_{method}.png"
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        paths.append(str(path))
    return paths
