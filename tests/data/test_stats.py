"""`data stats` beyond the longer-wins rate: duplicates, contradictory pairs, ties, soft labels, margins, the Wilson
interval (against a root-finding reference), token statistics, K-sample and battle statistics, on hand-made data
whose answers are known."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from rewardlab.data.schema import Battle, KSampleSet, PreferencePair
from rewardlab.data.stats import data_stats, wilson_interval


def _pairs() -> list[PreferencePair]:
    P = PreferencePair
    return [
        P("dup prompt", "a longer answer", "short", category="x"),
        P("dup prompt", "a longer answer", "short", category="x"),
        P("dup prompt", "a longer answer", "short", category="x"),  # 2 duplicates of the first
        P("swap prompt", "left answer", "right answer!", category="x"),
        P("swap prompt", "right answer!", "left answer", category="y"),  # contradicts the previous one: 1 pair
        P("tie prompt", "same", "tied response", tie=True, label=0.5, category="y"),
        P("tie prompt 2", "t", "tt", tie=True, category="y"),
        P("soft", "the longest answer of them all", "", label=0.7, margin=2.0),  # soft label, margin, empty
        P("hard", "no", "a much longer rejected answer", label=1.0, margin=0.0),
    ]


def _wilson_by_root_finding(k: float, n: int) -> tuple[float, float]:
    """The 95% Wilson interval as the set {p : |k/n - p| <= z sqrt(p (1 - p) / n)}, solved numerically."""
    z, phat = norm.ppf(0.975), k / n

    def f(p):
        return (phat - p) ** 2 - z * z * p * (1 - p) / n

    eps = 1e-12  # f > 0 at 0 (unless phat = 0) and at 1 (unless phat = 1), f < 0 just beside phat
    lo = 0.0 if phat == 0 else brentq(f, 0.0, phat - eps)
    hi = 1.0 if phat == 1 else brentq(f, phat + eps, 1.0)
    return lo, hi


@pytest.mark.parametrize("k,n", [(7, 10), (0.5 + 3, 9), (0, 5), (5, 5), (412, 1000)])
def test_wilson_interval_solves_the_score_equation(k, n):
    lo, hi = wilson_interval(k, n)
    ref = _wilson_by_root_finding(k, n)
    assert lo == pytest.approx(ref[0], abs=1e-7) and hi == pytest.approx(ref[1], abs=1e-7)


def test_pair_stats_counts_on_known_data():
    s = data_stats(_pairs())
    assert s["n_pairs"] == 9 and s["n_unique_prompts"] == 6
    assert s["duplicate_pairs"] == 2
    assert s["contradictory_pairs"] == 1
    assert s["ties"] == 2
    assert s["with_soft_label"] == 2  # labels strictly inside (0, 1): 0.7 and the tie's 0.5; 1.0 does not count
    assert s["with_margin"] == 2
    assert s["empty_responses"] == 1
    assert s["categories"] == {"x": 4, "y": 3, "(none)": 2}
    # longer wins on the 7 non-tied pairs: dup x3 (chosen longer: 1 each), swap (13 vs 11 chars: rejected longer,
    # then chosen longer), soft (chosen longer), hard (rejected longer) -> 5 of 7
    lw = s["longer_wins"]["chars"]
    assert lw["n"] == 7 and lw["rate"] == pytest.approx(5 / 7)
    assert (lw["ci_low"], lw["ci_high"]) == pytest.approx(_wilson_by_root_finding(5, 7), abs=1e-7)
    assert s["longer_wins_by_category"]["x"]["rate"] == pytest.approx(3 / 4)  # dup x3 and the first swap
    chosen_chars = [len(p.chosen) for p in _pairs()]
    assert s["chars"]["chosen"]["mean"] == pytest.approx(round(statistics.mean(chosen_chars), 2))
    assert s["chars"]["chosen"]["p50"] == statistics.median(chosen_chars)
    assert s["chars"]["chosen"]["max"] == max(chosen_chars)


def test_pair_token_stats_count_tokens_without_special_tokens():
    from rewardlab.models.backbone import load_tokenizer

    tok = load_tokenizer("minilm")
    pairs = _pairs()
    s = data_stats(pairs, tok)
    n_tok = [len(tok.tokenize(p.rejected)) for p in pairs]  # word pieces, no [CLS]/[SEP]
    assert s["tokens"]["rejected"]["max"] == max(n_tok)
    assert s["tokens"]["rejected"]["p50"] == statistics.median(n_tok)
    assert s["tokens"]["rejected"]["mean"] == pytest.approx(round(statistics.mean(n_tok), 2))
    keep = [not p.tie for p in pairs]
    tc = np.array([len(tok.tokenize(p.chosen)) for p in pairs])[keep]
    tr = np.array(n_tok)[keep]
    expected = (np.sum(tc > tr) + 0.5 * np.sum(tc == tr)) / len(tc)
    assert s["longer_wins"]["tokens"]["rate"] == pytest.approx(expected)


def test_ksample_and_battle_stats_on_known_data():
    sets = [KSampleSet("p1", ["a", "bb", "ccc"], [1, 2, 3], correct=[1, 0, 1], category="m"),
            KSampleSet("p2", ["dddd", "e"], [0, 1], correct=[0, 0]),
            KSampleSet("p3", ["ff", "g", "h", "iiii"], [0, 0, 1, 1], category="m")]
    s = data_stats(sets)
    assert (s["kind"], s["n_sets"], s["n_responses"]) == ("ksample", 3, 9)
    assert s["k"]["mean"] == 3.0 and s["k"]["max"] == 4.0 and s["k"]["p50"] == 3.0
    assert s["correct_rate"] == pytest.approx(2 / 5)  # sets with correctness only
    assert s["categories"] == {"m": 2, "(none)": 1}
    B = Battle
    battles = [B("q", "A", "B", "long answer", "short", "model_a"),
               B("q", "A", "C", "x", "longer one", "model_b"),
               B("q", "B", "C", "short", "the longer reply", "model_b"),
               B("q", "C", "A", "a", "bbbbbb", "model_a"),
               B("q", "A", "B", "p", "q", "tie")]
    s = data_stats(battles)
    assert s["n_battles"] == 5
    assert s["systems"] == {"A": 4, "B": 3, "C": 3}
    assert s["winners"] == {"model_a": 2, "model_b": 2, "tie": 1}
    lw = s["longer_wins"]["chars"]  # decided battles: the longer response won in 3 of 4
    assert lw["n"] == 4 and lw["rate"] == pytest.approx(3 / 4)
