"""How much of a preference data set's length preference is quality: the length statistics of simulated pairs.

`length_stats(pairs)` measures, on pairs with gold utilities (simulator records), the figures that real judge data
is compared with: how often the longer response is chosen (overall and when the lengths differ little), how often
it is really better (gold), how much of the gold difference length explains, and how often the labels agree with
gold. The realistic preset is calibrated with it, and its tests and the README use the same code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from rewardlab.data.stats import wilson_interval
from rewardlab.errors import RewardlabError


def _share(hits: np.ndarray, n: int) -> dict[str, float]:
    k = float(hits.sum())
    lo, hi = wilson_interval(k, n)
    return {"rate": k / n if n else float("nan"), "ci_low": lo, "ci_high": hi, "n": n}


def _columns(pairs: Sequence[Any], unit: str) -> tuple[np.ndarray, ...]:
    """(length chosen, length rejected, gold chosen, gold rejected, tie) of simulator dicts or parsed pairs."""
    lc, lr, gc, gr, tie = [], [], [], [], []
    for i, p in enumerate(pairs):
        if isinstance(p, dict):
            c, r, extra, t = p.get("chosen"), p.get("rejected"), p, p.get("tie", False)
        else:  # a parsed PreferencePair: gold travels in .extra
            from rewardlab.data.schema import text_of

            c, r, extra, t = text_of(p.chosen), text_of(p.rejected), p.extra, p.tie
        if not isinstance(c, str) or not isinstance(r, str):
            raise RewardlabError(f"pair {i}: needs text 'chosen' and 'rejected' responses")
        if "gold_chosen" not in extra or "gold_rejected" not in extra:
            raise RewardlabError(f"pair {i}: no gold_chosen / gold_rejected (length_stats needs simulator pairs)")
        if unit == "words":
            lc.append(len(c.split()))
            lr.append(len(r.split()))
        else:
            lc.append(len(c))
            lr.append(len(r))
        gc.append(float(extra["gold_chosen"]))
        gr.append(float(extra["gold_rejected"]))
        tie.append(bool(t))
    return (np.array(lc, dtype=float), np.array(lr, dtype=float), np.array(gc), np.array(gr),
            np.array(tie, dtype=bool))


def length_stats(pairs: Sequence[Any], unit: str = "words", small_quantile: float = 0.5) -> dict[str, Any]:
    """Length-versus-quality statistics of preference pairs that carry gold utilities.

    With d_len = len(chosen) - len(rejected) and d_gold = gold_chosen - gold_rejected per pair (pairs with a tied
    label left out), over the pairs with d_len != 0 ("unequal"):

    - ``longer_chosen``: share of unequal pairs whose longer response is the chosen one;
    - ``longer_better``: share of unequal pairs whose longer response has the higher gold utility (a gold tie
      counts 1/2);
    - ``small_diff``: the same two shares among the unequal pairs with |d_len| strictly below ``small_threshold``,
      the `small_quantile` quantile of |d_len| over the unequal pairs (default: the median, ``median_abs_diff``).
      Since about half the unequal pairs are below the median, the overall share is about the mean of the
      small-difference share and the large-difference share (at most 1): a small-difference share s bounds the
      overall share by about (1 + s) / 2;
    - ``r2_length_gold``: the share of the gold differences that length explains, sum(d_len d_gold)^2 /
      (sum d_len^2 sum d_gold^2) over all untied pairs: the R^2 of the regression d_gold = beta d_len, which has no
      intercept because swapping a pair's sides flips both differences (so it does not depend on which side is
      "chosen");
    - ``gold_accuracy``: share of the pairs with d_gold != 0 whose chosen response has the higher gold utility.

    Shares come with 95% Wilson intervals ({rate, ci_low, ci_high, n}).

    Args:
        pairs: simulator pair records (dicts from simulate_pairs) or parsed PreferencePairs whose extra columns
            hold gold_chosen and gold_rejected.
        unit: "words" (whitespace-separated, the unit of the annotator's length bias) or "chars".
        small_quantile: which quantile of |d_len| bounds the small differences, in (0, 1].

    Returns:
        dict: n (untied pairs), n_unequal, median_abs_diff, small_threshold, longer_chosen, longer_better,
        small_diff ({longer_chosen, longer_better}), r2_length_gold, gold_accuracy, unit.

    Raises:
        RewardlabError: an unknown unit, a small_quantile outside (0, 1], no pairs, or a pair without texts or
            gold utilities.

    Example:
        >>> from rewardlab.simulate import realistic, simulate_pairs
        >>> from rewardlab.simulate.lengthstats import length_stats
        >>> s = length_stats(simulate_pairs(2000, seed=0, config=realistic()))
        >>> 0.85 < s["longer_chosen"]["rate"] < 0.95 and 0.4 < s["r2_length_gold"] < 0.8
        True
    """
    if unit not in ("words", "chars"):
        raise RewardlabError(f"unit must be 'words' or 'chars', got {unit!r}")
    if not 0.0 < small_quantile <= 1.0:
        raise RewardlabError(f"small_quantile must be in (0, 1], got {small_quantile!r}")
    if not pairs:
        raise RewardlabError("length_stats needs at least one pair")
    lc, lr, gc, gr, tie = _columns(pairs, unit)
    keep = ~tie
    d_len, d_gold = (lc - lr)[keep], (gc - gr)[keep]
    unequal = d_len != 0
    dl, dg = d_len[unequal], d_gold[unequal]
    n_u = int(unequal.sum())
    med = float(np.median(np.abs(dl))) if n_u else float("nan")
    thr = float(np.quantile(np.abs(dl), small_quantile)) if n_u else float("nan")
    small = np.abs(dl) < thr

    def better(x: np.ndarray, g: np.ndarray) -> np.ndarray:  # longer has the higher gold (ties 1/2)
        return np.where(g == 0, 0.5, (np.sign(x) == np.sign(g)).astype(float))

    sxy, sxx, syy = float(d_len @ d_gold), float(d_len @ d_len), float(d_gold @ d_gold)
    gold_decided = d_gold != 0
    return {
        "unit": unit,
        "n": int(keep.sum()),
        "n_unequal": n_u,
        "median_abs_diff": med,
        "small_threshold": thr,
        "longer_chosen": _share(dl > 0, n_u),
        "longer_better": _share(better(dl, dg), n_u),
        "small_diff": {
            "longer_chosen": _share((dl > 0)[small], int(small.sum())),
            "longer_better": _share(better(dl[small], dg[small]), int(small.sum())),
        },
        "r2_length_gold": sxy * sxy / (sxx * syy) if sxx > 0 and syy > 0 else float("nan"),
        "gold_accuracy": _share(d_gold[gold_decided] > 0, int(gold_decided.sum())),
    }


def format_length_stats(s: dict[str, Any]) -> list[str]:
    """Readable lines of a length_stats result."""

    def f(d: dict[str, float]) -> str:
        return f"{d['rate']:.3f} [{d['ci_low']:.3f}, {d['ci_high']:.3f}] (n={d['n']})"

    return [
        f"pairs: {s['n']} untied, {s['n_unequal']} with unequal lengths; median |length difference| "
        f"{s['median_abs_diff']:g} {s['unit']}",
        f"longer response chosen:              {f(s['longer_chosen'])}",
        f"  ... with |difference| < {s['small_threshold']:<9g}  {f(s['small_diff']['longer_chosen'])}",
        f"longer response has the higher gold: {f(s['longer_better'])}",
        f"  ... with |difference| < {s['small_threshold']:<9g}  {f(s['small_diff']['longer_better'])}",
        f"R^2 of the gold difference on the length difference: {s['r2_length_gold']:.3f}",
        f"labels agree with gold (pairs with unequal gold): {f(s['gold_accuracy'])}",
    ]
