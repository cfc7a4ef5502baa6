"""The completeness attribute (`details`) and the realistic preset: exact laws against scipy and Monte Carlo, the
text of details against the padding pools, the preset's length statistics, and old records and configs."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from scipy import stats
from sim_helpers import Z99, assert_rate_matches

from rewardlab.errors import RewardlabError
from rewardlab.simulate import (
    FACTS,
    MAX_DETAILS,
    AttributeSampler,
    Propensities,
    SimConfig,
    UtilityWeights,
    expected_attributes,
    expected_utility,
    gold_utility,
    human_like,
    length_stats,
    neutral,
    realistic,
    simulate_battles,
    simulate_pairs,
    simulate_pools,
)
from rewardlab.simulate.families import FAMILY_IMPLS
from rewardlab.simulate.generate import _family_picker, make_rng
from rewardlab.simulate.responses import (
    FILLER_CLOSERS,
    FILLER_OPENERS,
    HEDGE_SENTENCES,
    answer_mode,
    render,
)

COUPLED = Propensities(accuracy=0.7, relevance=0.9, sycophancy=0.3, completeness=1.7, coupling=1.3)


def _clipped_poisson(mean: float, cap: int) -> np.ndarray:
    """The law of min(Poisson(mean), cap) from scipy (an independent reference)."""
    pmf = stats.poisson.pmf(np.arange(cap), mean)
    return np.append(pmf, stats.poisson.sf(cap - 1, mean))


def _p_correct(prop: Propensities, k: int) -> float:
    """P(correct | relevant, D = k) as docs/ALGORITHMS.md section 12 writes it."""
    pmf = _clipped_poisson(prop.completeness, MAX_DETAILS)
    mean = float(np.dot(np.arange(MAX_DETAILS + 1), pmf))
    z = math.log(prop.accuracy / (1 - prop.accuracy)) + prop.coupling * (k - mean)
    return 1.0 / (1.0 + math.exp(-z))


# ---------------------------------------------------------------------------------------------- the law


def test_old_presets_draw_no_details_and_realistic_always_does() -> None:
    for cfg in (neutral(), human_like()):
        recs = simulate_pairs(200, seed=1, config=cfg)
        assert all("details" not in r["attrs_chosen"] and "details" not in r["attrs_rejected"] for r in recs)
        pools = simulate_pools(20, k=4, seed=1, config=cfg)
        assert all("details" not in a for p in pools for a in p["attrs"])
    recs = simulate_pairs(200, seed=1, config=realistic())
    counts = [r[f"attrs_{s}"]["details"] for r in recs for s in ("chosen", "rejected")]
    assert set(counts) <= set(range(MAX_DETAILS + 1)) and len(set(counts)) == MAX_DETAILS + 1
    battles = simulate_battles(50, seed=1, config=realistic())  # systems keep completeness 0: no details
    assert all("details" not in b["attrs_a"] for b in battles)


def test_details_count_is_a_clipped_poisson() -> None:
    rng = random.Random(3)
    sampler = AttributeSampler(COUPLED)
    n = 60_000
    d = np.array([sampler.sample(rng, "facts")["details"] for _ in range(n)])
    freq = np.bincount(d, minlength=MAX_DETAILS + 1)
    expected = n * _clipped_poisson(COUPLED.completeness, MAX_DETAILS)
    chi2 = float(np.sum((freq - expected) ** 2 / expected))
    assert chi2 < stats.chi2.ppf(0.999, MAX_DETAILS), (freq, expected)


@pytest.mark.parametrize("family", ["arithmetic", "false_premise"])
def test_coupling_is_the_documented_logit_shift(family: str) -> None:
    rng = random.Random(7)
    sampler = AttributeSampler(COUPLED)
    draws = [sampler.sample(rng, family) for _ in range(60_000)]
    eligible = [a for a in draws if a["relevant"] and not a["sycophantic"]]
    for k in range(MAX_DETAILS + 1):
        hits = np.array([a["correct"] for a in eligible if a["details"] == k], dtype=float)
        assert_rate_matches(hits, np.full(hits.size, _p_correct(COUPLED, k)))
    # the shift is real: the most complete answers are right far more often than the least complete
    assert _p_correct(COUPLED, MAX_DETAILS) - _p_correct(COUPLED, 0) > 0.5


def test_no_coupling_leaves_accuracy_flat() -> None:
    prop = Propensities(accuracy=0.6, completeness=2.0)
    rng = random.Random(1)
    sampler = AttributeSampler(prop)
    draws = [sampler.sample(rng, "units") for _ in range(30_000)]
    for k in (0, 2, 4):
        hits = np.array([a["correct"] for a in draws if a["relevant"] and a["details"] == k], dtype=float)
        assert_rate_matches(hits, np.full(hits.size, 0.6))


def test_expected_attributes_closed_form() -> None:
    cfg = SimConfig(family_weights={"facts": 1.0, "false_premise": 3.0, "units": 1.0})
    ea = expected_attributes(COUPLED, cfg)
    pmf = _clipped_poisson(COUPLED.completeness, MAX_DETAILS)
    acc = sum(pmf[k] * _p_correct(COUPLED, k) for k in range(MAX_DETAILS + 1))
    pi_fp = 3.0 / 5.0
    assert ea["details"] == pytest.approx(float(np.dot(np.arange(MAX_DETAILS + 1), pmf)), abs=1e-12)
    assert ea["correct"] == pytest.approx(COUPLED.relevance * acc * (1 - pi_fp * COUPLED.sycophancy), abs=1e-12)
    w = cfg.weights
    by_hand = sum(getattr(w, k) * v for k, v in ea.items())
    assert expected_utility(COUPLED, cfg) == pytest.approx(by_hand, abs=1e-12)


def test_expected_attributes_match_monte_carlo() -> None:
    cfg = realistic()
    prop = cfg.propensities
    ea = expected_attributes(prop, cfg)
    rng = make_rng(11, "mc")
    pick = _family_picker(cfg)
    sampler = AttributeSampler(prop)
    n = 80_000
    draws = [sampler.sample(rng, pick(rng)) for _ in range(n)]
    for key in ("correct", "relevant", "sycophantic", "details", "extra_sentences"):
        x = np.array([float(a[key]) for a in draws])
        assert abs(x.mean() - ea[key]) < Z99 * x.std() / math.sqrt(n) + 1e-9, key
    g = np.array([gold_utility(a, cfg.weights) for a in draws])
    assert abs(g.mean() - expected_utility(prop, cfg)) < Z99 * g.std() / math.sqrt(n)


# ---------------------------------------------------------------------------------------------- gold


def test_gold_utility_counts_details_and_missing_is_zero() -> None:
    old = {"correct": True, "relevant": True, "extra_sentences": 2, "hedges": 1, "formatting": False,
           "repetition": 0, "filler": True, "sycophantic": False}
    w = UtilityWeights(details=0.7)
    base = 2.0 + 1.5 + 2 * -0.1 + -0.15 + -0.2
    assert gold_utility(old, w) == pytest.approx(base, abs=1e-9)
    assert gold_utility(dict(old, details=0), w) == gold_utility(old, w)
    assert gold_utility(dict(old, details=3), w) == pytest.approx(base + 3 * 0.7, abs=1e-9)


def test_old_records_without_details_still_work() -> None:
    from rewardlab.simulate.datasets import parse_rows

    recs = json.loads(json.dumps(simulate_pairs(30, seed=2, config=human_like())))  # as read back from a file
    for r in recs:
        assert gold_utility(r["attrs_chosen"]) == r["gold_chosen"]
    parsed = parse_rows(recs)
    s = length_stats(parsed)
    assert s["n"] == 30


# ---------------------------------------------------------------------------------------------- text


def _specs(family: str, n: int = 400) -> list:
    rng = random.Random(5)
    if family in ("facts", "false_premise"):
        return list(range(len(FACTS)))
    if family == "advice":
        return list(range(12))
    return list({FAMILY_IMPLS[family].sample(rng).spec for _ in range(n)})


def _modes(family: str) -> tuple[str, ...]:
    return ("fix", "wrong_fix", "agree") if family == "false_premise" else ("correct", "wrong", "explicit")


@pytest.mark.parametrize("family", list(FAMILY_IMPLS))
def test_detail_pools_are_large_and_never_padding(family: str) -> None:
    impl = FAMILY_IMPLS[family]
    details: set[str] = set()
    padding: set[str] = set(HEDGE_SENTENCES) | set(FILLER_OPENERS) | set(FILLER_CLOSERS)
    for spec in _specs(family):
        for mode in _modes(family):
            for markdown in (False, True):
                for seed in range(3):
                    r1, r2 = random.Random(seed), random.Random(seed)
                    sents, elab = impl.answer(spec, r1, mode, markdown)
                    sents2, elab2, det = impl.answer_details(spec, r2, mode, markdown)
                    # the same draws: the same answer, and the stream left in the same state
                    assert (sents, elab) == (sents2, elab2) and r1.random() == r2.random()
                    assert len(det) >= MAX_DETAILS and len(set(det)) == len(det), (spec, mode, det)
                    assert not set(det) & set(sents)
                    details |= set(det)
                    padding |= set(elab)
    stripped = {d[2:] if d.startswith("- ") else d for d in details}
    assert not stripped & padding, sorted(stripped & padding)[:5]
    # details carry substance: far more distinct sentences than the restating elaborations
    assert len(details) > 20


def test_right_answers_get_checks_and_true_details() -> None:
    arith = FAMILY_IMPLS["arithmetic"]
    _, _, right = arith.answer_details(("add", 47, 35), random.Random(0), "correct", False)
    assert "To double-check, 82 - 47 = 35, which is the number we added." in right
    assert "In the ones column, 7 + 5 = 12, so you write 2 and carry 1 to the tens." in right
    _, _, wrong = arith.answer_details(("add", 47, 35), random.Random(0), "wrong", False)
    assert not any("double-check" in d for d in wrong)  # a check of a wrong sum would be false
    facts = FAMILY_IMPLS["facts"]
    australia = next(i for i, f in enumerate(FACTS) if f.subject == "Australia")
    _, _, det = facts.answer_details(australia, random.Random(0), "correct", False)
    assert "Sydney is a different city in Australia, which is why the two get confused." in det
    _, _, det = FAMILY_IMPLS["false_premise"].answer_details(australia, random.Random(0), "agree", False)
    assert all("Sydney" in d for d in det)  # agreeing with the premise: support invented for Sydney


def test_rendered_text_holds_exactly_the_drawn_details() -> None:
    rng = random.Random(9)
    sampler = AttributeSampler(realistic().propensities)
    slopes = []
    for family, impl in FAMILY_IMPLS.items():
        words, counts = [], []
        for _ in range(300):
            item = impl.sample(rng)
            attrs = sampler.sample(rng, family)
            state = rng.getstate()
            text = render(impl, item.spec, family, attrs, rng)
            # the pool the renderer drew from, rebuilt from the same state
            r2 = random.Random()
            r2.setstate(state)
            if attrs["relevant"]:
                _, _, pool = impl.answer_details(item.spec, r2, answer_mode(family, attrs), attrs["formatting"])
            else:
                _, _, pool = impl.answer_details(impl.other(item.spec, r2), r2, "explicit", attrs["formatting"])
            assert sum(d in text for d in pool) == attrs["details"], (attrs, text)
            words.append(len(text.split()))
            counts.append(attrs["details"])
        slopes.append(np.polyfit(counts, words, 1)[0])
    assert min(slopes) > 4.0, slopes  # every detail makes the answer longer (words per detail)


# ---------------------------------------------------------------------------------------------- the preset


def test_realistic_preset_length_statistics() -> None:
    s = length_stats(simulate_pairs(8000, seed=0, config=realistic()))
    assert 0.88 <= s["longer_chosen"]["rate"] <= 0.92, s["longer_chosen"]
    assert 0.71 <= s["small_diff"]["longer_chosen"]["rate"] <= 0.79, s["small_diff"]
    # length is partly quality (the longer answer is usually really better) and partly the judge's bias
    assert 0.70 < s["longer_better"]["rate"] < s["longer_chosen"]["rate"] - 0.05
    assert 0.4 < s["r2_length_gold"] < 0.7
    assert s["gold_accuracy"]["rate"] > 0.8
    # the old settings stay the spurious-only case: length says nothing about gold
    old = length_stats(simulate_pairs(4000, seed=0, config=human_like()))
    assert old["r2_length_gold"] < 0.02 and old["longer_chosen"]["rate"] < 0.6


def test_length_stats_against_brute_force() -> None:
    rng = random.Random(4)
    pairs = []
    for i in range(500):
        c = " ".join(["w"] * rng.randint(1, 30))
        r = " ".join(["w"] * rng.randint(1, 30))
        pairs.append({"chosen": c, "rejected": r, "gold_chosen": rng.choice([0.0, 1.0, 2.5]),
                      "gold_rejected": rng.choice([0.0, 1.0]), "tie": i % 50 == 0})
    s = length_stats(pairs)
    rows = [(len(p["chosen"].split()) - len(p["rejected"].split()), p["gold_chosen"] - p["gold_rejected"])
            for p in pairs if not p["tie"]]
    unequal = [(d, g) for d, g in rows if d != 0]
    med = sorted(abs(d) for d, _ in unequal)
    med = (med[(len(med) - 1) // 2] + med[len(med) // 2]) / 2
    small = [(d, g) for d, g in unequal if abs(d) < med]
    assert s["n"] == len(rows) and s["n_unequal"] == len(unequal) and s["median_abs_diff"] == med
    assert s["longer_chosen"]["rate"] == pytest.approx(sum(d > 0 for d, _ in unequal) / len(unequal))
    assert s["small_diff"]["longer_chosen"]["rate"] == pytest.approx(sum(d > 0 for d, _ in small) / len(small))
    better = [0.5 if g == 0 else float((d > 0) == (g > 0)) for d, g in unequal]
    assert s["longer_better"]["rate"] == pytest.approx(sum(better) / len(better))
    x = np.array([d for d, _ in rows], dtype=float)
    y = np.array([g for _, g in rows])
    beta, res, *_ = np.linalg.lstsq(x[:, None], y, rcond=None)
    assert s["r2_length_gold"] == pytest.approx(1 - res[0] / float(y @ y))
    decided = [g for _, g in rows if g != 0]
    assert s["gold_accuracy"]["rate"] == pytest.approx(sum(g > 0 for g in decided) / len(decided))
    with pytest.raises(RewardlabError, match="gold_chosen"):
        length_stats([{"chosen": "a", "rejected": "b"}])
    with pytest.raises(RewardlabError, match="unit"):
        length_stats(pairs, unit="tokens")


# ---------------------------------------------------------------------------------------------- config and CLI


def test_config_fields_round_trip_and_validate() -> None:
    cfg = realistic()
    assert SimConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    old = neutral().to_dict()
    del old["weights"]["details"], old["propensities"]["completeness"], old["propensities"]["coupling"]
    assert SimConfig.from_dict(old) == neutral()  # a config saved before the attribute existed
    with pytest.raises(ValueError, match="completeness"):
        SimConfig(propensities=Propensities(completeness=-1.0))
    with pytest.raises(ValueError, match="coupling"):
        SimConfig(propensities=Propensities(coupling=float("nan")))


def test_cli_simulate_realistic(tmp_path) -> None:
    from typer.testing import CliRunner

    from rewardlab.cli import app
    from rewardlab.simulate.stage import build_config
    from rewardlab.train.config import SimSpec

    assert build_config("realistic") == realistic()
    assert SimSpec(preset="realistic").preset == "realistic"
    out = tmp_path / "pairs.jsonl"
    res = CliRunner().invoke(app, ["data", "simulate", "--preset", "realistic", "-n", "40", "-o", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows == simulate_pairs(40, seed=0, config=realistic())
    assert all("details" in r["attrs_chosen"] for r in rows)


@pytest.mark.parametrize("module", ["rewardlab.simulate.lengthstats", "rewardlab.simulate.responses",
                                    "rewardlab.simulate.systems"])
def test_docstring_examples_pass(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), report=False)
    assert result.attempted > 0 and result.failed == 0, result
