"""Inter-annotator agreement on nominal labels: raw agreement, Cohen's kappa, Fleiss' kappa, Krippendorff's alpha.

All four take plain arrays. Many-rater statistics take a count table `counts[u, c]`: how many ratings unit u
received in category c (rows may have different totals; a unit with fewer than two ratings carries no
information about agreement and is left out, as Krippendorff prescribes).

- raw agreement: per unit, the share of agreeing pairs among its m(m-1) ordered pairs of ratings,
  sum_c n_uc (n_uc - 1) / (m_u (m_u - 1)); averaged over units (Fleiss' P-bar).
- Cohen's kappa (1960), two raters on the same units: (p_o - p_e) / (1 - p_e) with p_e from each rater's own
  category shares.
- Fleiss' kappa (1971), a fixed number m of ratings per unit: (P-bar - P_e) / (1 - P_e), P_e = sum_c p_c^2 with
  p_c the pooled category shares.
- Krippendorff's alpha, nominal (Krippendorff 2011, "Computing Krippendorff's alpha-reliability"), any number of
  ratings per unit: 1 - (n - 1) * sum_u sum_c n_uc (m_u - n_uc) / (m_u - 1) / (n^2 - sum_c n_c^2), n the number
  of pairable ratings (those of units with at least two); the coincidence-matrix form of 1 - D_o / D_e.

Each returns NaN where the statistic is undefined (no unit with two ratings; one category only, so chance
agreement is already perfect).

Example:
    >>> counts = [[2, 0], [0, 2], [1, 1]]  # 3 units, 2 ratings each, categories (a, b)
    >>> round(raw_agreement(counts), 4), round(fleiss_kappa(counts), 4), round(krippendorff_alpha(counts), 4)
    (0.6667, 0.3333, 0.4444)
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from rewardlab.errors import RewardlabError


def _table(counts: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    c = np.asarray(counts, dtype=float)
    if c.ndim != 2:
        raise RewardlabError(f"counts must be a 2-D table [units, categories], got shape {c.shape}")
    if (c < 0).any() or not np.isfinite(c).all():
        raise RewardlabError("counts must be finite and >= 0")
    return c


def raw_agreement(counts: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Mean over units (with >= 2 ratings) of the share of agreeing rating pairs.

    Args:
        counts: [units, categories] rating counts.
    Returns:
        float in [0, 1]; NaN when no unit has two ratings.

    Example:
        >>> raw_agreement([[3, 0], [2, 1]])  # 1 and 1/3
        0.6666666666666666
    """
    c = _table(counts)
    m = c.sum(axis=1)
    keep = m >= 2
    if not keep.any():
        return float("nan")
    c, m = c[keep], m[keep]
    return float(np.mean((c * (c - 1)).sum(axis=1) / (m * (m - 1))))


def fleiss_kappa(counts: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Fleiss' kappa of a count table whose units all have the same number of ratings (>= 2).

    Args:
        counts: [units, categories] rating counts; every row sums to the same m >= 2.
    Returns:
        float (1 perfect agreement, 0 chance level); NaN when only one category occurs.
    Raises:
        RewardlabError: rows with different totals, or fewer than 2 ratings per unit.

    Example:
        >>> round(fleiss_kappa([[2, 0], [0, 2], [1, 1]]), 4)
        0.3333
    """
    c = _table(counts)
    m = c.sum(axis=1)
    if c.shape[0] == 0:
        return float("nan")
    if not np.allclose(m, m[0]) or m[0] < 2:
        raise RewardlabError("Fleiss' kappa needs the same number (>= 2) of ratings for every unit")
    p_bar = float(np.mean((c * (c - 1)).sum(axis=1) / (m * (m - 1))))
    p = c.sum(axis=0) / c.sum()
    p_e = float((p**2).sum())
    if p_e >= 1.0 - 1e-12:
        return float("nan")
    return (p_bar - p_e) / (1.0 - p_e)


def krippendorff_alpha(counts: Sequence[Sequence[float]] | np.ndarray) -> float:
    """Krippendorff's alpha for nominal data from a count table (any number of ratings per unit).

    Args:
        counts: [units, categories] rating counts; units with fewer than 2 ratings are left out.
    Returns:
        float (1 perfect, 0 chance level, < 0 systematic disagreement); NaN with fewer than two pairable ratings
        or a single category.

    Example:
        >>> # Krippendorff (2011), binary data, two observers: alpha = 0.095
        >>> a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
        >>> b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
        >>> round(krippendorff_alpha([[(x == 0) + (y == 0), (x == 1) + (y == 1)] for x, y in zip(a, b)]), 3)
        0.095
    """
    c = _table(counts)
    m = c.sum(axis=1)
    keep = m >= 2
    c, m = c[keep], m[keep]
    n = float(c.sum())
    if n < 2:
        return float("nan")
    observed = float(((c * (m[:, None] - c)).sum(axis=1) / (m - 1)).sum())  # off-diagonal coincidences
    n_c = c.sum(axis=0)
    expected = n * n - float((n_c**2).sum())
    if expected <= 0:
        return float("nan")
    return 1.0 - (n - 1.0) * observed / expected


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """Cohen's kappa of two raters who labelled the same units (a[i] and b[i] label unit i).

    Args:
        a, b: the two raters' labels (any hashable values), same length.
    Returns:
        float; NaN with no unit, or when both raters use one and the same category throughout.
    Raises:
        RewardlabError: a and b differ in length.

    Example:
        >>> # 50 proposals: both yes 20, both no 15, yes/no 5, no/yes 10 -> p_o 0.7, p_e 0.5, kappa 0.4
        >>> a = ["yes"] * 25 + ["no"] * 25
        >>> b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
        >>> round(cohen_kappa(a, b), 6)
        0.4
    """
    if len(a) != len(b):
        raise RewardlabError(f"the two raters labelled different numbers of units: {len(a)} and {len(b)}")
    if not len(a):
        return float("nan")
    cats = sorted(set(a) | set(b), key=repr)
    index = {v: i for i, v in enumerate(cats)}
    ia = np.array([index[v] for v in a])
    ib = np.array([index[v] for v in b])
    p_o = float(np.mean(ia == ib))
    pa = np.bincount(ia, minlength=len(cats)) / len(a)
    pb = np.bincount(ib, minlength=len(cats)) / len(b)
    p_e = float((pa * pb).sum())
    if p_e >= 1.0 - 1e-12:
        return float("nan")
    return (p_o - p_e) / (1.0 - p_e)
