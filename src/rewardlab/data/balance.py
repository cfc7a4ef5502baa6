"""Length-balanced preference data: make "the longer response wins" a coin flip within each length-difference bin.

A reward model trained on pairs in which the chosen response is usually the longer one learns length as a shortcut
(the audit's length flags). `balance_pairs` removes that signal from the training data, bin by bin:

- length is counted in characters of the response text (`text_of`), the unit `rewardlab data stats` reports its
  longer-wins rate in, so the numbers before and after match that command;
- a pair's direction is "chosen longer" or "chosen shorter"; its bin is the absolute length difference
  |len(chosen) - len(rejected)|, cut at quantiles (default 5 bins of equal count, at most one per 20 pairs) or at
  given edges;
- pairs of equal length are neither direction and are kept as they are; so are tied pairs (`tie`), which
  `data stats` leaves out of the longer-wins rate too;
- a bin whose longer-wins rate is within `tolerance` (default 0.01) of 0.5 is left untouched, so already balanced
  data comes back as it was (same pairs, same order); every other bin is made exactly 50/50.

Two methods:

- `resample` (default): downsample the majority direction of each unbalanced bin to the minority's count (a
  seeded draw without replacement, the kept pairs in their original order), so the bin is exactly 50/50.
  Why it is the default: it works with every loss, head and training strategy, its result is plain data that
  `data stats` can check, and it never duplicates a pair (duplicates would be memorised). It costs data: the
  report says how many pairs each bin lost.
- `weights`: keep every pair and weight each direction of an unbalanced bin so that both directions carry half
  of the bin's weight (w = n_bin / (2 n_direction)); total weight per bin is unchanged. No pair is lost, but the
  effective sample size shrinks as much as with resampling and every batch's loss becomes a weighted mean.

A bin with pairs in one direction only cannot be balanced; both methods drop its pairs and the report names the
bin. Nothing is dropped silently: `BalanceReport.lines()` gives per-bin counts and rates before and after, and the
trainer logs them.

Example:
    >>> from rewardlab.data.schema import PreferencePair as P
    >>> pairs = [P("q", "a long answer", "short"), P("q", "a long answer!", "no"), P("q", "tiny", "a long one")]
    >>> res = balance_pairs(pairs, bins=1, seed=0)
    >>> len(res.pairs), res.report.bins[0].longer_wins_before, res.report.bins[0].longer_wins_after
    (2, 0.6666666666666666, 0.5)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

from rewardlab.data.balance_spec import DEFAULT_BINS as DEFAULT_BINS  # the spec's module; re-exported here
from rewardlab.data.balance_spec import DEFAULT_TOLERANCE as DEFAULT_TOLERANCE
from rewardlab.data.balance_spec import METHODS as METHODS
from rewardlab.data.balance_spec import MIN_PER_BIN as MIN_PER_BIN
from rewardlab.data.balance_spec import BalanceSpec as BalanceSpec
from rewardlab.data.schema import PreferencePair, text_of
from rewardlab.errors import RewardlabError
from rewardlab.stats.util import jsonable

logger = logging.getLogger(__name__)

@dataclass
class BinReport:
    """One length-difference bin: its range, both directions' counts and the longer-wins rate before and after.

    `lo`/`hi` bound |len(chosen) - len(rejected)| in characters (lo inclusive; hi exclusive except in the last
    bin). With `weights`, `weight_longer`/`weight_shorter` are the weights given to each direction and the rates
    after are weighted; with `resample` both weights are 1.
    """

    lo: float
    hi: float
    n_longer: int
    n_shorter: int
    longer_wins_before: float
    n_longer_after: int
    n_shorter_after: int
    longer_wins_after: float
    dropped: int
    weight_longer: float = 1.0
    weight_shorter: float = 1.0
    note: str = ""

    @property
    def n(self) -> int:
        """Pairs in the bin before balancing."""
        return self.n_longer + self.n_shorter


@dataclass
class BalanceReport:
    """What balancing did: per-bin rates and counts, and the pairs kept aside (equal length, ties)."""

    method: str
    unit: str
    seed: int
    tolerance: float
    n_before: int
    n_after: int
    n_equal_length: int
    n_ties: int
    bins: list[BinReport] = field(default_factory=list)

    @property
    def dropped(self) -> int:
        """Pairs removed in all (resample: the majority draws; both methods: one-direction bins)."""
        return self.n_before - self.n_after

    @property
    def untouched(self) -> bool:
        """True when no pair was dropped or reweighted."""
        return self.dropped == 0 and all(b.weight_longer == b.weight_shorter == 1.0 for b in self.bins)

    def overall(self, after: bool) -> float:
        """Longer-wins rate over the decisive pairs as `data stats` computes it (equal lengths count 1/2), before
        or after balancing (weighted with `weights`)."""
        k = n = 0.0
        for b in self.bins:
            if after:
                k += b.n_longer_after * b.weight_longer
                n += b.n_longer_after * b.weight_longer + b.n_shorter_after * b.weight_shorter
            else:
                k += b.n_longer
                n += b.n
        k += 0.5 * self.n_equal_length
        n += self.n_equal_length
        return k / n if n else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for logs, run metadata and `data stats -o`)."""
        return {"method": self.method, "unit": self.unit, "seed": self.seed, "tolerance": self.tolerance,
                "n_before": self.n_before, "n_after": self.n_after, "dropped": self.dropped,
                "n_equal_length_kept": self.n_equal_length, "n_ties_kept": self.n_ties,
                "longer_wins_before": _finite(self.overall(False)), "longer_wins_after": _finite(self.overall(True)),
                "untouched": self.untouched, "bins": jsonable([asdict(b) for b in self.bins])}

    def lines(self) -> list[str]:
        """Readable lines: the totals, then one line per bin with its rates before -> after and what changed."""
        what = {"resample": f"{self.n_before} -> {self.n_after} pairs, {self.dropped} dropped",
                "weights": f"{self.n_before} -> {self.n_after} pairs reweighted, {self.dropped} dropped"}[self.method]
        out = [f"length balance ({self.method}, {self.unit}, seed {self.seed}): {what}; longer wins "
               f"{self.overall(False):.3f} -> {self.overall(True):.3f}"]
        if self.untouched:
            out[0] += f" (already balanced within {self.tolerance:g} in every bin: untouched)"
        for b in self.bins:
            rng = f"[{b.lo:g}, {b.hi:g}{']' if b is self.bins[-1] else ')'}"
            line = (f"  |len diff| {rng:>12} chars: {b.n:>6} pairs, longer wins {b.longer_wins_before:.3f} -> "
                    f"{b.longer_wins_after:.3f}")
            if self.method == "weights" and (b.weight_longer != 1.0 or b.weight_shorter != 1.0):
                line += f", weights {b.weight_longer:.3g} (chosen longer) / {b.weight_shorter:.3g} (chosen shorter)"
            line += f", dropped {b.dropped}"
            if b.note:
                line += f" ({b.note})"
            out.append(line)
        out.append(f"  kept as they are: {self.n_equal_length} pairs of equal length (neither direction), "
                   f"{self.n_ties} tied pairs")
        return out


class BalanceResult(NamedTuple):
    """The balanced pairs (original order), their weights (None with `resample`), and the report."""

    pairs: list[PreferencePair]
    weights: np.ndarray | None
    report: BalanceReport


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def pair_lengths(pairs: Sequence[PreferencePair]) -> tuple[np.ndarray, np.ndarray]:
    """Character lengths of the chosen and the rejected responses (the unit of `data stats`)."""
    lc = np.array([len(text_of(p.chosen)) for p in pairs], dtype=np.int64)
    lr = np.array([len(text_of(p.rejected)) for p in pairs], dtype=np.int64)
    return lc, lr


def _edges(diffs: np.ndarray, bins: int | Sequence[float]) -> np.ndarray:
    """Bin edges over |length difference|: quantiles (equal-count bins) or the given edges."""
    if isinstance(bins, int | np.integer):
        if bins < 1:
            raise RewardlabError(f"bins must be >= 1, got {bins}")
        if diffs.size == 0:
            return np.array([0.0, 0.0])
        bins = max(1, min(int(bins), diffs.size // MIN_PER_BIN))
        # differences are whole characters: rounding a quantile up keeps every bin's members and reads better
        edges = np.unique(np.ceil(np.quantile(diffs, np.linspace(0.0, 1.0, int(bins) + 1))))
        return edges if edges.size > 1 else np.repeat(edges, 2)  # every difference equal: one bin
    edges = np.asarray(list(bins), dtype=float)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0) or edges[0] < 0:
        raise RewardlabError(f"bins: expected a count or at least two increasing edges >= 0, got {list(bins)}")
    return edges


def balance_pairs(pairs: Sequence[PreferencePair], method: Literal["resample", "weights"] = "resample",
                  bins: int | Sequence[float] = DEFAULT_BINS, seed: int = 0,
                  tolerance: float = DEFAULT_TOLERANCE) -> BalanceResult:
    """Balance "longer wins" to 50% within each bin of length difference (characters), by resampling or weights.

    Args:
        pairs: preference pairs (the training pairs; never balance held-out data).
        method: "resample" (drop majority-direction pairs per bin, seeded) or "weights" (keep every pair; weight
            each direction to half of its bin).
        bins: number of quantile bins of |len(chosen) - len(rejected)| over the pairs that have a direction (at
            most one per `MIN_PER_BIN` = 20 such pairs, so small data sets get fewer, fuller bins), or increasing
            bin edges in characters (differences outside them join the first or last bin).
        seed: seed of the resampling draw (the same seed gives the same pairs).
        tolerance: a bin whose longer-wins rate is within this of 0.5 is left untouched (so balanced data,
            with its sampling noise, stays as it is); every other bin is made exactly 50/50. In [0, 0.5).

    Returns:
        BalanceResult(pairs, weights, report): the kept pairs in their original order; with "weights" one weight
        per kept pair (1.0 for equal-length and tied pairs and for bins already balanced), else None; the
        per-bin report (`report.lines()` for logs).

    Raises:
        RewardlabError: an unknown method, a tolerance out of range or bad bins, each naming the argument.

    Example:
        >>> from rewardlab.simulate import SimConfig, simulate_pairs
        >>> from rewardlab.simulate.datasets import parse_rows
        >>> pairs = parse_rows(simulate_pairs(2000, seed=1, config=SimConfig(length_bias=2.0)))
        >>> res = balance_pairs(pairs, seed=0)
        >>> all(abs(b.longer_wins_after - 0.5) <= 0.02 for b in res.report.bins)
        True
        >>> print(res.report.lines()[0])  # doctest: +ELLIPSIS
        length balance (resample, chars, seed 0): 2000 -> ... pairs, ... dropped; longer wins 0.5... -> 0.5...
    """
    if method not in METHODS:
        raise RewardlabError(f"method must be one of {list(METHODS)}, got {method!r}")
    if not 0 <= tolerance < 0.5:
        raise RewardlabError(f"tolerance must be in [0, 0.5), got {tolerance!r}")
    pairs = list(pairs)
    lc, lr = pair_lengths(pairs)
    ties = np.array([bool(p.tie) for p in pairs], dtype=bool)
    decisive = ~ties & (lc != lr)
    diffs = np.abs(lc - lr).astype(float)
    edges = _edges(diffs[decisive], bins)
    n_bins = len(edges) - 1
    # bin index of every decisive pair; differences outside the edges join the end bins
    which = np.clip(np.searchsorted(edges, diffs, side="right") - 1, 0, max(n_bins - 1, 0))
    longer = lc > lr
    keep = np.ones(len(pairs), dtype=bool)
    weights = np.ones(len(pairs), dtype=float)
    rng = np.random.default_rng(seed)
    reports: list[BinReport] = []
    for b in range(n_bins if decisive.any() else 0):
        in_bin = decisive & (which == b)
        idx_long = np.flatnonzero(in_bin & longer)
        idx_short = np.flatnonzero(in_bin & ~longer)
        nl, ns = len(idx_long), len(idx_short)
        n = nl + ns
        before = nl / n if n else float("nan")
        rep = BinReport(float(edges[b]), float(edges[b + 1]), nl, ns, before, nl, ns, before, 0)
        reports.append(rep)
        if n == 0 or abs(before - 0.5) <= tolerance + 1e-12:
            continue
        major, minor = (idx_long, ns) if nl > ns else (idx_short, nl)
        if minor == 0:
            keep[major] = False
            rep.n_longer_after = rep.n_shorter_after = 0
            rep.longer_wins_after, rep.dropped = float("nan"), len(major)
            rep.note = f"every pair has the chosen {'longer' if nl else 'shorter'}: cannot be balanced, all dropped"
            logger.warning(f"length balance: bin [{rep.lo:g}, {rep.hi:g}] has pairs in one direction only; "
                           f"its {len(major)} pairs were dropped")
            continue
        if method == "resample":
            cap = minor
            drop = np.sort(rng.choice(major, size=len(major) - cap, replace=False))
            keep[drop] = False
            rep.dropped = len(drop)
            if nl > ns:
                rep.n_longer_after = cap
            else:
                rep.n_shorter_after = cap
            rep.longer_wins_after = rep.n_longer_after / (rep.n_longer_after + rep.n_shorter_after)
        else:
            rep.weight_longer, rep.weight_shorter = n / (2 * nl), n / (2 * ns)
            weights[idx_long], weights[idx_short] = rep.weight_longer, rep.weight_shorter
            rep.longer_wins_after = 0.5
    report = BalanceReport(method, "chars", seed, tolerance, len(pairs), int(keep.sum()),
                           int((~ties & (lc == lr)).sum()), int(ties.sum()), reports)
    kept = [p for p, k in zip(pairs, keep, strict=True) if k]
    return BalanceResult(kept, weights[keep] if method == "weights" else None, report)


def balance_report(records: Sequence[Any], spec: BalanceSpec, seed: int = 0) -> BalanceReport:
    """What `spec` would do to these records (`rewardlab data stats --balance length`): the report alone.

    Args:
        records: loaded records; must be preference pairs.
        spec: the balance settings (`spec.by` must be "length").
        seed: the resampling seed (`rewardlab train` uses its --seed, default 0).

    Returns:
        BalanceReport: per-bin longer-wins before and after, dropped pairs or weights.

    Raises:
        RewardlabError: the records are not preference pairs, or `spec.by` is "none".

    Example:
        >>> from rewardlab.data.schema import PreferencePair as P
        >>> rep = balance_report([P("q", "longer one", "short"), P("q", "ab", "abc")], BalanceSpec(by="length"))
        >>> rep.n_after, rep.overall(after=False)
        (2, 0.5)
    """
    if not spec.enabled:
        raise RewardlabError("balance.by is 'none': nothing to balance")
    if any(not isinstance(r, PreferencePair) for r in records):
        raise RewardlabError(f"--balance {spec.by} balances preference pairs; these records are "
                             f"{type(next(r for r in records if not isinstance(r, PreferencePair))).__name__}s")
    return balance_pairs(records, method=spec.method, bins=spec.bins, seed=seed).report  # type: ignore[arg-type]
