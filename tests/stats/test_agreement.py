"""Agreement statistics against published worked examples, scikit-learn and the pairwise definition of alpha."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from rewardlab.stats.agreement import cohen_kappa, fleiss_kappa, krippendorff_alpha, raw_agreement

NAN = None  # a missing value in Krippendorff's tables


def _counts(matrix: list[list[object]]) -> np.ndarray:
    """Reliability data (observers x units, None = missing) -> a [units, values] count table."""
    values = sorted({v for row in matrix for v in row if v is not None}, key=repr)
    out = np.zeros((len(matrix[0]), len(values)))
    for row in matrix:
        for u, v in enumerate(row):
            if v is not None:
                out[u, values.index(v)] += 1
    return out


def test_krippendorff_alpha_equals_krippendorffs_worked_examples():
    """Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": sections A (binary, 2 observers),
    C (nominal, 2 observers) and E (nominal, 4 observers, missing values)."""
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert round(krippendorff_alpha(_counts([a, b])), 3) == 0.095
    a = "a a b b d c c c e d d a".split()
    b = "b a b b b c c c e d d d".split()
    assert round(krippendorff_alpha(_counts([a, b])), 3) == 0.692
    four = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
    assert round(krippendorff_alpha(_counts(four)), 3) == 0.743


def _alpha_by_pairs(matrix: list[list[object]]) -> float:
    """Alpha from its definition 1 - D_o / D_e: D_o the disagreement rate of pairs of values within a unit (each
    unit's pairs weighted 1 / (m_u - 1)), D_e that of all pairs of pairable values."""
    units = [[row[u] for row in matrix if row[u] is not None] for u in range(len(matrix[0]))]
    units = [vals for vals in units if len(vals) >= 2]
    pooled = [v for vals in units for v in vals]
    n = len(pooled)
    d_o = sum(sum(x != y for x, y in itertools.permutations(vals, 2)) / (len(vals) - 1) for vals in units) / n
    d_e = sum(x != y for x, y in itertools.permutations(pooled, 2)) / (n * (n - 1))
    return 1 - d_o / d_e


def test_krippendorff_alpha_matches_its_pairwise_definition_with_missing_values():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n_obs, n_units, k = rng.integers(2, 6), rng.integers(3, 15), rng.integers(2, 4)
        matrix = [[None if rng.random() < 0.3 else int(rng.integers(k)) for _ in range(n_units)]
                  for _ in range(n_obs)]
        counts = _counts(matrix)
        if (counts.sum(axis=1) >= 2).sum() == 0 or (counts.sum(axis=0) > 0).sum() < 2:
            continue
        assert krippendorff_alpha(counts) == pytest.approx(_alpha_by_pairs(matrix), abs=1e-12)


#: Fleiss (1971), Table 1: 30 patients, 6 psychiatrists each, counts of the 5 diagnoses (depression, personality
#: disorder, schizophrenia, neurosis, other). Fleiss reports kappa = .430.
FLEISS_1971 = [
    [0, 0, 0, 6, 0], [0, 3, 0, 0, 3], [0, 1, 4, 0, 1], [0, 0, 0, 0, 6], [0, 3, 0, 3, 0], [2, 0, 4, 0, 0],
    [0, 0, 4, 0, 2], [2, 0, 3, 1, 0], [2, 0, 0, 4, 0], [0, 0, 0, 0, 6], [1, 0, 0, 5, 0], [1, 1, 0, 4, 0],
    [0, 3, 3, 0, 0], [1, 0, 0, 5, 0], [0, 2, 0, 3, 1], [0, 0, 5, 0, 1], [3, 0, 0, 1, 2], [5, 1, 0, 0, 0],
    [0, 2, 0, 4, 0], [1, 0, 2, 0, 3], [0, 0, 0, 0, 6], [0, 1, 0, 5, 0], [0, 2, 0, 1, 3], [2, 0, 0, 4, 0],
    [1, 0, 0, 4, 1], [0, 5, 0, 1, 0], [4, 0, 0, 0, 2], [0, 2, 0, 4, 0], [1, 0, 5, 0, 0], [0, 0, 0, 0, 6],
]


def test_fleiss_kappa_equals_fleiss_1971():
    assert np.asarray(FLEISS_1971).sum(axis=1).tolist() == [6] * 30
    assert round(fleiss_kappa(FLEISS_1971), 3) == 0.430
    # the table's mean observed agreement P-bar (sum_j n_ij (n_ij - 1) / (n (n - 1)), averaged) is the raw one
    assert round(raw_agreement(FLEISS_1971), 3) == 0.556
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa([[2, 0], [1, 2]])


def test_cohen_kappa_equals_textbook_example_and_sklearn():
    # 50 grant proposals, two readers: yes/yes 20, yes/no 5, no/yes 10, no/no 15 -> p_o 0.7, p_e 0.5, kappa 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(a, b) == pytest.approx(0.4, abs=1e-12)
    rng = np.random.default_rng(1)
    for _ in range(30):
        n, k = rng.integers(5, 60), rng.integers(2, 4)
        x = rng.integers(k, size=n)
        y = np.where(rng.random(n) < 0.6, x, rng.integers(k, size=n))
        expected = cohen_kappa_score(x, y)
        if np.isfinite(expected):
            assert cohen_kappa(x.tolist(), y.tolist()) == pytest.approx(expected, abs=1e-12)


def test_two_raters_raw_agreement_and_undefined_cases():
    counts = _counts([[1, 0, 1, 1], [1, 1, 1, 0]])
    assert raw_agreement(counts) == 0.5
    assert np.isnan(krippendorff_alpha([[2, 0], [2, 0]]))  # one category: chance agreement is perfect
    assert np.isnan(raw_agreement([[1, 0], [0, 1]]))  # no unit judged twice
    assert np.isnan(cohen_kappa([], []))
