"""The simulated annotator: gold agreement, per-family noise, biases, flips, soft labels and ties."""

from __future__ import annotations

import math
from collections import Counter
from functools import cache

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.stats import binom
from sim_helpers import Z99, assert_rate_matches, logit_of, sig, words

from rewardlab.simulate import FAMILIES, SimConfig, UtilityWeights, gold_utility, human_like, simulate_pairs


@cache
def _neutral_pairs() -> tuple:
    return tuple(simulate_pairs(15_000, seed=2024))


def _gold_diff(recs) -> np.ndarray:
    return np.array([r["gold_chosen"] - r["gold_rejected"] for r in recs])


def test_agreement_with_gold_matches_model() -> None:
    """All biases 0: the annotator sides with the higher gold utility at rate mean(sigmoid(|du| / tau))."""
    recs = [r for r in _neutral_pairs() if r["gold_chosen"] != r["gold_rejected"]]
    du = _gold_diff(recs)
    tau = np.array([r["tau"] for r in recs])
    assert_rate_matches(du > 0, sig(np.abs(du) / tau))
    # and it is far from trivial: clearly better than chance, clearly worse than perfect
    assert 0.7 < np.mean(du > 0) < 0.95


@pytest.mark.parametrize("family", FAMILIES)
def test_tau_recovered_by_maximum_likelihood(family: str) -> None:
    """Fit tau from (gold difference, observed orientation); it matches the configured per-family tau."""
    recs = [r for r in _neutral_pairs() if r["category"] == family]
    du = _gold_diff(recs)
    du = du[du != 0]
    assert du.size > 2000

    def nll(t: float) -> float:
        return float(np.sum(np.logaddexp(0.0, -du / t)))

    tau_hat = minimize_scalar(nll, bounds=(0.01, 50.0), method="bounded", options={"xatol": 1e-6}).x
    h = 1e-3 * tau_hat
    info = (nll(tau_hat + h) - 2 * nll(tau_hat) + nll(tau_hat - h)) / h**2
    se = 1.0 / math.sqrt(info)
    tau = SimConfig().taus[family]
    assert abs(tau_hat - tau) < 4 * se, (family, tau_hat, tau, se)
    assert abs(tau_hat / tau - 1) < 0.15, (family, tau_hat, tau)


def test_noise_ordering_across_families() -> None:
    """Subjective families are noisier: agreement with gold falls as tau grows (arithmetic > ... > advice)."""
    recs = [r for r in _neutral_pairs() if r["gold_chosen"] != r["gold_rejected"]]
    agree = {
        f: np.mean([r["gold_chosen"] > r["gold_rejected"] for r in recs if r["category"] == f])
        for f in FAMILIES
    }
    assert agree["arithmetic"] > agree["facts"] > agree["units"] > agree["advice"]


def test_records_carry_consistent_ground_truth() -> None:
    cfg = human_like()
    for r in simulate_pairs(500, seed=9, config=cfg):
        assert r["gold_chosen"] == pytest.approx(gold_utility(r["attrs_chosen"], cfg.weights), abs=1e-9)
        assert r["gold_rejected"] == pytest.approx(gold_utility(r["attrs_rejected"], cfg.weights), abs=1e-9)
        assert r["tau"] == cfg.taus[r["category"]]
        assert r["p_chosen"] == pytest.approx(float(sig(logit_of(r, cfg))), abs=1e-12)
        assert r["label"] == 1.0 and r["tie"] is False


@pytest.mark.parametrize(
    "cfg", [human_like(), SimConfig(length_bias=2.0, format_bias=1.0, agreement_bias=1.5)]
)
def test_biased_annotator_is_calibrated(cfg: SimConfig) -> None:
    """With biases on, the chance that the longer response wins equals the model's probability (independently
    recomputed from texts and attributes), within a 99% interval."""
    hits, probs = [], []
    for r in simulate_pairs(6000, seed=4, config=cfg):
        lc, lr = words(r["chosen"]), words(r["rejected"])
        if lc == lr:
            continue
        p_chosen = float(sig(logit_of(r, cfg)))
        hits.append(lc > lr)
        probs.append(p_chosen if lc > lr else 1.0 - p_chosen)
    assert_rate_matches(np.array(hits), np.array(probs))


def _longer_win_rates(weights: UtilityWeights, biases: tuple[float, ...], n: int = 4000) -> tuple[dict, int]:
    """Share of pairs (with different lengths) won by the longer response, per length bias, same seed."""
    runs = {b: simulate_pairs(n, seed=7, config=SimConfig(length_bias=b, weights=weights)) for b in biases}
    # same seed: the same pairs are judged under every bias (coupled draws)
    base = [frozenset((r["chosen"], r["rejected"])) for r in runs[biases[0]]]
    for b in biases[1:]:
        assert [frozenset((r["chosen"], r["rejected"])) for r in runs[b]] == base
    longer_won = {}
    for b, recs in runs.items():
        longer_won[b] = np.array([np.sign(words(r["chosen"]) - words(r["rejected"])) for r in recs])
    mask = longer_won[biases[0]] != 0
    # coupling: raising the bias never turns a longer-response win into a loss
    for lo, hi in zip(biases, biases[1:], strict=False):
        assert np.all(longer_won[hi][longer_won[lo] > 0] > 0)
    return {b: float(np.mean(v[mask] > 0)) for b, v in longer_won.items()}, int(mask.sum())


def test_length_bias_makes_longer_win_more() -> None:
    """Default gold weights: the longer-wins rate grows with the bias and is clearly above 1/2 from bias 1 on.

    (Verbosity costs gold utility, so at bias 0 the longer response wins less than half the time and at 0.5 the
    length bonus roughly cancels that cost; the calibration test above checks those rates against the model.)"""
    biases = (0.0, 0.5, 1.0, 2.0)
    rates, m = _longer_win_rates(UtilityWeights(), biases)
    assert rates[0.0] < rates[0.5] < rates[1.0] < rates[2.0], rates
    assert rates[0.0] < 0.5
    for b in (1.0, 2.0):
        assert rates[b] - Z99 * math.sqrt(0.25 / m) > 0.5, rates


def test_length_bias_with_length_neutral_gold() -> None:
    """When gold utility ignores style, every positive length bias makes the longer response win most pairs."""
    neutral_gold = UtilityWeights(extra_sentences=0.0, hedges=0.0, repetition=0.0, filler=0.0)
    biases = (0.0, 0.5, 1.0, 2.0)
    rates, m = _longer_win_rates(neutral_gold, biases)
    assert rates[0.0] < rates[0.5] < rates[1.0] < rates[2.0], rates
    for b in biases[1:]:
        assert rates[b] - Z99 * math.sqrt(0.25 / m) > 0.5, rates


def test_agreement_and_format_bias() -> None:
    """Agreement bias makes sycophantic answers win more; format bias makes markdown answers win more."""
    base = SimConfig(family_weights={"false_premise": 1.0})

    def rate(cfg: SimConfig, key: str) -> float:
        hits = []
        for r in simulate_pairs(3000, seed=8, config=cfg):
            a, b = r["attrs_chosen"][key], r["attrs_rejected"][key]
            if a != b:
                hits.append(a)
        return float(np.mean(hits))

    syc = [
        rate(SimConfig(family_weights=base.family_weights, agreement_bias=x), "sycophantic")
        for x in (0, 1, 3)
    ]
    assert syc[0] < syc[1] < syc[2]
    # sycophancy costs 2 utility units (and usually correctness) at tau 0.5: unbiased annotators rarely prefer it
    assert syc[0] < 0.1
    fmt = [rate(SimConfig(format_bias=x), "formatting") for x in (0.0, 0.5, 2.0)]
    assert abs(fmt[0] - 0.5) < 0.05  # formatting has weight 0 in the gold utility
    assert fmt[0] < fmt[1] < fmt[2]


def test_flip_noise() -> None:
    """Label flips pull agreement with gold toward one half exactly as p (1 - f) + (1 - p) f predicts."""
    f = 0.2
    recs = simulate_pairs(8000, seed=12, config=SimConfig(flip_prob=f))
    recs = [r for r in recs if r["gold_chosen"] != r["gold_rejected"]]
    du = _gold_diff(recs)
    p = sig(np.abs(du) / np.array([r["tau"] for r in recs]))
    assert_rate_matches(du > 0, p * (1 - f) + (1 - p) * f)


def test_soft_labels_odd_annotators() -> None:
    recs = simulate_pairs(3000, seed=5, config=SimConfig(n_annotators=5))
    labels = Counter(r["label"] for r in recs)
    assert set(labels) <= {0.6, 0.8, 1.0} and len(labels) == 3
    assert not any(r["tie"] for r in recs)
    for r in recs:
        assert abs(r["label"] * 5 - round(r["label"] * 5)) < 1e-12
    # majority of 5 sides with gold as often as P(Binomial(5, p) >= 3) says
    recs = [r for r in recs if r["gold_chosen"] != r["gold_rejected"]]
    du = _gold_diff(recs)
    p = sig(np.abs(du) / np.array([r["tau"] for r in recs]))
    assert_rate_matches(du > 0, binom.sf(2, 5, p))


def test_soft_labels_even_annotators_tie() -> None:
    recs = simulate_pairs(3000, seed=6, config=SimConfig(n_annotators=4))
    labels = Counter(r["label"] for r in recs)
    assert set(labels) == {0.5, 0.75, 1.0}
    for r in recs:
        assert r["tie"] == (r["label"] == 0.5)
    # ties occur at the rate 6 p^2 (1 - p)^2
    p = np.array([r["p_chosen"] for r in recs])
    assert_rate_matches(np.array([r["tie"] for r in recs]), binom.pmf(2, 4, p))
    # tie orientation is a fair coin: the gold-better side is 'chosen' in about half of the tied pairs
    tied = [r for r in recs if r["tie"] and r["gold_chosen"] != r["gold_rejected"]]
    k = sum(r["gold_chosen"] > r["gold_rejected"] for r in tied)
    assert abs(k - len(tied) / 2) <= Z99 * math.sqrt(len(tied) / 4) + 1


def test_rao_kupper_ties_and_margin() -> None:
    a = 0.6
    cfg = SimConfig(tie_margin=a, emit_margin=True)
    recs = simulate_pairs(5000, seed=3, config=cfg)
    z = np.array([logit_of(r, cfg) for r in recs])
    p_tie = 1.0 - sig(z - a) - sig(-z - a)
    assert_rate_matches(np.array([r["tie"] for r in recs]), p_tie)
    for r, zz in zip(recs, z, strict=True):
        assert r["label"] == (0.5 if r["tie"] else 1.0)
        if not r["tie"]:
            assert r["p_chosen"] == pytest.approx(float(sig(zz - a)), abs=1e-12)
        assert r["margin"] in (0, 1, 2, 3)
        if r["tie"]:
            assert r["margin"] == 0
    # the stated margin grows with the gold gap
    gap = np.abs(_gold_diff(recs))
    margin = np.array([r["margin"] for r in recs])
    assert np.corrcoef(gap, margin)[0, 1] > 0.3
    assert "margin" not in simulate_pairs(5, seed=3)[0]
