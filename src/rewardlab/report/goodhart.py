"""The overoptimisation section of report.html: per proxy and rule, the sweet spot, the fall at the largest n,
the Gao fit, then the plots (written by `rewardlab goodhart` and the demo)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardlab.report.markup import ci as _ci
from rewardlab.report.markup import esc as _e
from rewardlab.results.curves import GoodhartCurves, SpreadError


def goodhart_html(result: GoodhartCurves | dict[str, Any], folder: Path, img: Callable[[Path, str], str]) -> str:
    """HTML for a goodhart.json result (typed or as its dict): one table row per (proxy, rule), then every plot."""
    result = GoodhartCurves.coerce(result)
    rows = []
    for name, rules in result.sweet_spots.items():
        for rule, s in rules.items():
            d_star = s.fit_d_star
            fit = f"d* = {d_star:.2f}" if isinstance(d_star, int | float) else "no interior peak"
            rows.append(
                f"<tr><td>{_e(name)}</td><td>{_e(rule)}</td><td class=num>{s.n_star}</td>"
                f"<td class=num>{_ci(s.gold_at_n_star)}</td><td class=num>{s.n_max}</td>"
                f"<td class=num>{_ci(s.gold_at_n_max)}</td><td class=num>{s.fall_from_peak:+.3f}</td>"
                f"<td>{_e(fit)}</td></tr>")
    falls = [(n, r) for n, rules in result.sweet_spots.items() for r, s in rules.items()
             if s.n_star < s.n_max and s.gold_at_n_max.hi is not None
             and s.gold_at_n_max.hi < s.gold_at_n_star.estimate]
    note = ("<div class=warn>Overoptimisation: past the sweet spot the gold reward falls while the proxy keeps "
            "rising (" + ", ".join(f"{_e(n)} [{_e(r)}]" for n, r in falls) + ").</div>") if falls else (
            "<div class=ok>No significant fall of the gold reward up to the largest n.</div>")
    table = ("<table><tr><th>proxy</th><th>rule</th><th>n*</th><th>gold at n* (95% CI)</th><th>largest n</th>"
             "<th>gold there (95% CI)</th><th>fall from peak</th><th>Gao best-of-n fit</th></tr>"
             + "".join(rows) + "</table>")
    spread = "".join(
        f"<div class=meta>{_e(name)}: Spearman(spread, |error vs gold|) within prompts {se.mean:+.3f} over "
        f"{se.n_prompts} prompts (a pessimistic rule can only keep more gold where this is positive)</div>"
        for name, res in result.proxies.items() if (se := res.spread_error or SpreadError()).mean is not None)
    plots = "".join(img(folder, p) for p in result.plots)
    return (f"<h2>Overoptimisation (best-of-n and KL-regularised policies)</h2>"
            f"<div class=meta>gold: {_e(result.gold)}; {result.n_prompts} prompts x "
            f"{result.n_candidates} candidates; base policy {_e(result.pi0)}</div>"
            f"{note}{spread}{table}<div class=plots>{plots}</div>")
