"""Percentile bootstrap confidence intervals and paired model comparisons.

Conventions (ALGORITHMS.md section 3):

- Resampling is over items (rows), or over clusters (e.g. prompts) when ``cluster`` is given: clusters are
  drawn with replacement and every item of a drawn cluster enters the resample.  Use clusters whenever items
  share a prompt, otherwise the intervals are too narrow.
- The interval is the plain percentile interval of the resampled statistic (``confidence`` = 0.95 gives the
  2.5 and 97.5 percentiles).  Resamples where the statistic is not finite (e.g. a category absent from a
  resample) are dropped before taking percentiles.
- All resampling is driven by ``numpy.random.default_rng(seed)``; the same ``seed``, ``n`` and ``cluster``
  give the same resamples in :func:`bootstrap_ci`, :func:`bootstrap_mean_ci`, :func:`bootstrap_mean_cis`,
  :func:`bootstrap_sums` and :func:`resample_indices`, so statistics computed by different calls are paired
  resample by resample (the vectorised ones agree with ``bootstrap_ci`` up to float rounding).
- :func:`paired_bootstrap` gives the CI of the difference by the paired bootstrap and its two-sided p-value by
  a paired sign-flip (swap) permutation test: under H0 "the labels a/b are exchangeable within each item
  (cluster)", swapping a_i and b_i leaves the joint distribution unchanged, so
  p = (1 + #{|T*| >= |T_obs|}) / (1 + n_permutations) with T* the difference after random swaps.  This p-value
  is valid (never anti-conservative) in finite samples and is approximately uniform under H0, unlike the
  "share of bootstrap differences beyond 0" p-value, which is only asymptotically calibrated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.stats.util import ci_dict, jsonable

__all__ = [
    "bootstrap_ci",
    "bootstrap_mean_ci",
    "bootstrap_mean_cis",
    "bootstrap_sums",
    "paired_bootstrap",
    "percentile_interval",
    "resample_indices",
]

_MAX_CHUNK_ELEMENTS = 2_000_000


class _Clusters:
    """Cluster bookkeeping: items sorted by cluster, with start offsets and sizes."""

    def __init__(self, cluster: Sequence[Any] | np.ndarray, n: int) -> None:
        labels = np.asarray(cluster)
        if labels.shape != (n,):
            raise RewardlabError(f"cluster must have shape ({n},), got {labels.shape}")
        _, codes = np.unique(labels, return_inverse=True)
        self.codes = codes.reshape(-1)
        self.order = np.argsort(self.codes, kind="stable")
        self.sizes = np.bincount(self.codes)
        self.starts = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
        self.n_clusters = int(self.sizes.size)

    def items(self, draw: np.ndarray) -> np.ndarray:
        """Item indices for one draw of cluster indices (members of each drawn cluster, in draw order)."""
        lens = self.sizes[draw]
        total = int(lens.sum())
        run_starts = np.cumsum(lens) - lens
        pos = np.repeat(self.starts[draw], lens) + (np.arange(total) - np.repeat(run_starts, lens))
        return self.order[pos]


def _draw_chunks(n_units: int, n_resamples: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield (chunk, n_units) arrays of unit indices drawn with replacement, n_resamples rows in total."""
    chunk = max(1, min(n_resamples, _MAX_CHUNK_ELEMENTS // max(n_units, 1)))
    dtype = np.int32 if n_units < 2**31 - 1 else np.int64  # 32-bit draws are several times faster
    done = 0
    while done < n_resamples:
        c = min(chunk, n_resamples - done)
        yield rng.integers(0, n_units, size=(c, n_units), dtype=dtype)
        done += c


def _n_items(arrays: Sequence[np.ndarray]) -> int:
    if not arrays:
        raise RewardlabError("at least one array is required")
    n = len(arrays[0])
    for a in arrays[1:]:
        if len(a) != n:
            raise RewardlabError(f"all arrays must have the same length; got {[len(a) for a in arrays]}")
    if n == 0:
        raise RewardlabError("cannot bootstrap zero items")
    return n


def resample_indices(
    n: int, n_resamples: int = 1000, seed: int = 0, cluster: Sequence[Any] | np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Yield the item indices of each bootstrap resample, so several statistics can share resamples."""
    rng = np.random.default_rng(seed)
    if cluster is None:
        for block in _draw_chunks(n, n_resamples, rng):
            yield from block
    else:
        cl = _Clusters(cluster, n)
        for block in _draw_chunks(cl.n_clusters, n_resamples, rng):
            for draw in block:
                yield cl.items(draw)


def percentile_interval(
    replicates: Sequence[float] | np.ndarray, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (non-finite replicates dropped; NaN if none remain)."""
    if not 0.0 < confidence < 1.0:
        raise RewardlabError("confidence must be in (0, 1)")
    reps = np.asarray(replicates, dtype=float)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    lo, hi = np.percentile(reps, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(lo), float(hi)


def bootstrap_ci(
    stat_fn: Callable[..., float],
    *arrays: Sequence[Any] | np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    cluster: Sequence[Any] | np.ndarray | None = None,
) -> tuple[float, float, float]:
    """Percentile-bootstrap (estimate, lo, hi) of stat_fn(*arrays), resampling rows (or clusters) jointly."""
    arrs = [np.asarray(a) for a in arrays]
    n = _n_items(arrs)
    estimate = float(stat_fn(*arrs))
    reps = np.empty(n_resamples, dtype=float)
    for b, idx in enumerate(resample_indices(n, n_resamples, seed, cluster)):
        reps[b] = float(stat_fn(*(a[idx] for a in arrs)))
    lo, hi = percentile_interval(reps, confidence)
    return estimate, lo, hi


def bootstrap_sums(
    columns: Sequence[Any] | np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    cluster: Sequence[Any] | np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Column sums of every bootstrap resample, for statistics that are functions of sums (means, ratios, ECE).

    ``columns`` is (n,) or (n, m).  Returns ``(sums, sizes)``: sums (n_resamples, m) and resample sizes
    (n_resamples,).  The resamples are exactly those of :func:`resample_indices` with the same seed/cluster.
    """
    v = np.asarray(columns, dtype=float)
    n = v.shape[0]
    _n_items([v])
    flat = v.reshape(n, -1)
    if cluster is None:
        n_units = n
        unit_sums, unit_sizes = flat, np.ones(n)
    else:
        cl = _Clusters(cluster, n)
        n_units = cl.n_clusters
        unit_sums = np.zeros((n_units, flat.shape[1]))
        np.add.at(unit_sums, cl.codes, flat)
        unit_sizes = cl.sizes.astype(float)
    rng = np.random.default_rng(seed)
    sums, sizes = [], []
    for block in _draw_chunks(n_units, n_resamples, rng):
        # multiplicity of each unit in each resample, then one matrix product for all columns
        c = block.shape[0]
        offsets = (np.arange(c, dtype=np.int64) * n_units)[:, None]
        counts = np.bincount((block + offsets).ravel(), minlength=c * n_units).reshape(c, n_units)
        counts = counts.astype(float)
        sums.append(counts @ unit_sums)
        sizes.append(counts @ unit_sizes)
    if not sums:
        return np.empty((0, flat.shape[1])), np.empty(0)
    return np.concatenate(sums), np.concatenate(sizes)


def _mean_replicates(
    values: np.ndarray, n_resamples: int, seed: int, cluster: Sequence[Any] | np.ndarray | None
) -> np.ndarray:
    """Bootstrap replicates of the mean of each column of ``values`` (n,) or (n, m)."""
    sums, sizes = bootstrap_sums(values, n_resamples, seed, cluster)
    reps = sums / sizes[:, None]
    return reps if values.ndim == 2 else reps[:, 0]


def bootstrap_mean_cis(
    columns: np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    cluster: Sequence[Any] | np.ndarray | None = None,
) -> list[tuple[float, float, float]]:
    """bootstrap_mean_ci for every column of an (n, m) array in one pass over shared resamples."""
    v = np.asarray(columns, dtype=float)
    if v.ndim != 2:
        raise RewardlabError("columns must be a 2-D (n_items, n_metrics) array")
    _n_items([v])
    reps = _mean_replicates(v, n_resamples, seed, cluster)
    est = v.mean(axis=0)
    return [(float(est[j]), *percentile_interval(reps[:, j], confidence)) for j in range(v.shape[1])]


def bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    cluster: Sequence[Any] | np.ndarray | None = None,
) -> tuple[float, float, float]:
    """Fast vectorised bootstrap_ci(np.mean, values): the CI of a per-item average (accuracy, NLL, ...)."""
    v = np.asarray(values, dtype=float).reshape(-1)
    _n_items([v])
    reps = _mean_replicates(v, n_resamples, seed, cluster)
    lo, hi = percentile_interval(reps, confidence)
    return float(v.mean()), lo, hi


def _sign_flip_pvalue(
    a: np.ndarray,
    b: np.ndarray,
    stat_fn: Callable[[np.ndarray], float] | None,
    observed: float,
    n_permutations: int,
    seed: int,
    cluster: Sequence[Any] | np.ndarray | None,
) -> float:
    """Two-sided paired swap (sign-flip) permutation p-value, (1 + #extreme) / (1 + n_permutations)."""
    n = a.size
    rng = np.random.default_rng([seed, 0x5F1])
    codes = None if cluster is None else _Clusters(cluster, n).codes
    tol = 1e-12 * max(1.0, abs(observed))
    threshold = abs(observed) - tol
    extreme = 0
    done = 0
    if stat_fn is None:
        # T* = sum_u s_u D_u / n over units u (items or clusters), D_u = summed differences; units with D_u = 0
        # cannot change T*, so only the others are flipped (exactly the same permutation distribution).
        d = a - b
        big_d = d if codes is None else np.bincount(codes, weights=d)
        big_d = big_d[big_d != 0]
        if big_d.size == 0:
            return 1.0
        total = big_d.sum()
        chunk = max(1, min(n_permutations, _MAX_CHUNK_ELEMENTS // big_d.size))
        while done < n_permutations:
            c = min(chunk, n_permutations - done)
            n_bytes = -(-c * big_d.size // 8)
            bits = np.unpackbits(np.frombuffer(rng.bytes(n_bytes), dtype=np.uint8))[: c * big_d.size]
            flips = bits.reshape(c, big_d.size).astype(float)
            stats = (total - 2.0 * (flips @ big_d)) / n
            extreme += int(np.count_nonzero(np.abs(stats) >= threshold))
            done += c
    else:
        n_units = n if codes is None else int(codes.max()) + 1
        chunk = max(1, min(n_permutations, _MAX_CHUNK_ELEMENTS // max(n, 1)))
        while done < n_permutations:
            c = min(chunk, n_permutations - done)
            flips = rng.integers(0, 2, size=(c, n_units)).astype(bool)
            if codes is not None:
                flips = flips[:, codes]
            stats = np.array([stat_fn(np.where(f, b, a)) - stat_fn(np.where(f, a, b)) for f in flips])
            extreme += int(np.count_nonzero(np.abs(stats) >= threshold))
            done += c
    return (1.0 + extreme) / (1.0 + n_permutations)


def paired_bootstrap(
    values_a: Sequence[float] | np.ndarray,
    values_b: Sequence[float] | np.ndarray,
    stat_fn: Callable[[np.ndarray], float] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    cluster: Sequence[Any] | np.ndarray | None = None,
    n_permutations: int = 10000,
) -> dict[str, Any]:
    """Paired comparison of two models on the same items: bootstrap CI of stat(a) - stat(b), sign-flip p-value.

    ``stat_fn`` maps one model's per-item values to a number (default: the mean).  Returns a JSON-ready dict
    with keys ``estimate_a``, ``estimate_b``, ``difference`` ({estimate, lo, hi, confidence}), ``p_value``,
    ``p_value_method``, ``n``, ``n_resamples``, ``n_permutations``, ``clustered``.
    """
    a = np.asarray(values_a, dtype=float).reshape(-1)
    b = np.asarray(values_b, dtype=float).reshape(-1)
    n = _n_items([a, b])
    if stat_fn is None:
        est_a, est_b = float(a.mean()), float(b.mean())
        diff, lo, hi = bootstrap_mean_ci(a - b, n_resamples, confidence, seed, cluster)
    else:
        est_a, est_b = float(stat_fn(a)), float(stat_fn(b))
        diff, lo, hi = bootstrap_ci(
            lambda x, y: stat_fn(x) - stat_fn(y),
            a,
            b,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
            cluster=cluster,
        )
    p = (
        _sign_flip_pvalue(a, b, stat_fn, est_a - est_b, n_permutations, seed, cluster)
        if n_permutations > 0
        else float("nan")
    )
    return jsonable(
        {
            "estimate_a": est_a,
            "estimate_b": est_b,
            "difference": ci_dict(diff, lo, hi, confidence),
            "p_value": p,
            "p_value_method": "two-sided paired sign-flip permutation test, (1 + #|T*| >= |T|) / (1 + B)"
            + (" over clusters" if cluster is not None else " over items"),
            "n": n,
            "n_resamples": n_resamples,
            "n_permutations": n_permutations,
            "clustered": cluster is not None,
        }
    )
