"""The policy-optimisation section of report.html (`rewardlab optimize` writes optimize.json and optimize.png):
base, sweet spot and final step with KL, proxy, exact gold and win rate, the attribute drift, the cache and the
reward-model updates, then the plot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rewardlab.report.markup import esc as _e
from rewardlab.results.curves import CacheStats, OptimizeSummary, StepRates


def _nan(x: float | None) -> float:
    return float("nan") if x is None else x


def optimize_html(result: OptimizeSummary | dict[str, Any], folder: Path, img: Callable[[Path, str], str]) -> str:
    """HTML for an optimize.json result (typed or as its dict): the three key steps as a table, notes, then
    optimize.png."""
    result = OptimizeSummary.coerce(result)
    records = result.records
    rows = []
    for name, r in (("base policy", records[0] if records else None), ("sweet spot (max gold)", result.sweet_spot),
                    ("final", result.final)):
        if not r:
            continue
        rates = r.rates or StepRates()
        win = r.win_rate
        rows.append(f"<tr><td>{_e(name)}</td><td class=num>{r.step}</td><td class=num>{r.kl:.3f}</td>"
                    f"<td class=num>{r.proxy:.3f}</td><td class=num>{r.gold:.3f}</td>"
                    f"<td class=num>{'' if win is None else format(win, '.3f')}</td>"
                    f"<td class=num>{_nan(rates.correct):.3f}</td>"
                    f"<td class=num>{_nan(r.words):.1f}</td></tr>")
    table = ("<table><tr><th></th><th>step</th><th>KL to base</th><th>proxy</th><th>gold (exact)</th>"
             "<th>gold win rate vs base</th><th>correct</th><th>words</th></tr>" + "".join(rows) + "</table>")
    final, spot = result.final, result.sweet_spot
    notes = []
    if final and spot and final.step != spot.step and final.gold < spot.gold:
        notes.append(f"<div class=warn>Overoptimisation: gold peaked at step {spot.step} ({spot.gold:.3f}) "
                     f"and ended at {final.gold:.3f} while the proxy went from {spot.proxy:.3f} to "
                     f"{final.proxy:.3f}.</div>")
    else:
        notes.append("<div class=ok>Gold did not fall after its best step.</div>")
    rho = result.proxy_gold_spearman
    if rho is not None:
        low = " (near chance: the proxy barely sees gold)" if abs(rho) < 0.1 else ""
        notes.append(f"<div class=meta>proxy-gold Spearman on the base samples: {rho:.3f}{_e(low)}</div>")
    cache = result.cache or CacheStats()
    if cache.hit_rate is not None:
        notes.append(f"<div class=meta>score cache: {cache.hits} hits, {cache.misses} distinct texts scored "
                     f"({cache.hit_rate:.1%} saved)</div>")
    for u in result.rm_updates:
        notes.append(f"<div class=meta>reward-model update at step {u.step}: {u.pairs} new pairs</div>")
    plot = img(folder, "optimize.png") if (folder / "optimize.png").exists() else ""
    return (f"<h2>Policy optimisation against the reward model</h2><div class=meta>{_e(result.method)} "
            f"against {_e(result.reward)} from base {_e(result.base)}, {result.steps} steps; "
            f"gold is the simulator's exact expected utility of the policy</div>{''.join(notes)}{table}"
            f"<div class=plots>{plot}</div>")
