"""evaluate(): every dataset kind end to end with known scorers; compare_runs; the HTML report."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from rewardlab.eval.evaluate import compare_runs, evaluate
from rewardlab.report import build_report
from rewardlab.scoring import CallableScorer
from rewardlab.simulate import simulate_battles, simulate_pairs, simulate_pools
from rewardlab.simulate.datasets import parse_rows


def _gold_lookup(rows):
    """A scorer returning the simulator's hidden gold utility of each exact response."""
    table = {}
    for r in rows:
        if "chosen" in r:
            table[(r["prompt"], r["chosen"])] = r["gold_chosen"]
            table[(r["prompt"], r["rejected"])] = r["gold_rejected"]
        elif "responses" in r:
            for resp, s in zip(r["responses"], r["scores"], strict=True):
                table[(r["prompt"], resp)] = s
        else:
            table[(r["prompt"], r["response_a"])] = r["gold_a"]
            table[(r["prompt"], r["response_b"])] = r["gold_b"]
    return CallableScorer(lambda prompt, response: table[(prompt, response)], name="gold")


def test_gold_scorer_on_all_kinds_and_report(tmp_path):
    pr, po, ba = simulate_pairs(300, seed=1), simulate_pools(40, k=6, seed=2), simulate_battles(400, seed=3)
    scorer = _gold_lookup(pr + po + ba)
    data = {"pairs": parse_rows(pr), "pools": parse_rows(po), "battles": parse_rows(ba)}
    res = evaluate(scorer, data, tmp_path, n_resamples=200)
    m = res["datasets"]["pairs"]
    assert m["gold_agreement"]["agreement"]["estimate"] == 1.0
    # the gold utility's accuracy against the noisy labels is the model's accuracy here
    assert abs(m["accuracy"]["estimate"] - m["gold_utility_accuracy"]) < 0.01
    pools = res["datasets"]["pools"]
    assert pools["ranking"]["spearman_within_groups"]["estimate"] > 0.99
    g = pools["gold_best_of_k"]
    np.testing.assert_allclose(g["rm"], g["oracle"])
    assert g["rm"][-1] == max(g["rm"])  # with the gold scorer, more samples never hurt
    assert res["datasets"]["battles"]["spearman"] > 0.8
    files = json.loads((tmp_path / "metrics.json").read_text())["plots"]
    pngs = [f for fs in files.values() for f in fs]
    assert len(pngs) == 6 and all((tmp_path / f).exists() for f in pngs)
    html = build_report(tmp_path).read_text()
    assert html.count("data:image/png;base64,") == len(pngs)
    assert "longer wins" in html and "Definitions" in html


def test_compare_runs_detects_the_better_model(tmp_path):
    pr = simulate_pairs(400, seed=4)
    data = {"pairs": parse_rows(pr)}
    evaluate(_gold_lookup(pr), data, tmp_path / "a", n_resamples=100, plots=False)
    rng = np.random.default_rng(0)
    evaluate(CallableScorer(lambda prompt, response: float(rng.normal())), data, tmp_path / "b", n_resamples=100,
             plots=False)
    c = compare_runs(str(tmp_path / "a"), str(tmp_path / "b"), n_resamples=200)["datasets"]["pairs"]
    assert c["difference"]["estimate"] > 0.1 and c["p_value"] < 0.01
    # and through the command line (regression: it once crashed formatting the accuracies)
    from conftest import run_cli

    proc = run_cli("compare", tmp_path / "a", tmp_path / "b", "-o", tmp_path / "c.json")
    assert "pairs: accuracy" in proc.stdout and "p = " in proc.stdout
    assert json.loads((tmp_path / "c.json").read_text())["datasets"]["pairs"]["n"] == 400
    # the file holds every key compare_runs returns (the typed RunComparison keeps undeclared keys in `extra`)
    direct = compare_runs(str(tmp_path / "a"), str(tmp_path / "b"))
    assert json.loads((tmp_path / "c.json").read_text()) == json.loads(json.dumps(direct))


def test_length_warning_for_a_length_scorer(tmp_path):
    from rewardlab.simulate import SimConfig

    cfg = SimConfig()
    cfg.length_bias = 3.0
    pr = parse_rows(simulate_pairs(400, seed=5, config=cfg))
    res = evaluate(CallableScorer(lambda prompt, response: len(response) + 0.5), {"p": pr}, tmp_path,
                   n_resamples=100, plots=False)
    warnings = res["datasets"]["p"]["warnings"]
    assert any(re.search("not distinguishable from the longer-wins baseline", w) for w in warnings)


def test_sections_and_best_of_k_credit(tmp_path):
    from rewardlab.data.schema import KSampleSet

    pr = simulate_pairs(200, seed=6)
    pairs = parse_rows(pr)
    sections = {"arithmetic": "reasoning", "units": "reasoning", "facts": "knowledge", "false_premise": "knowledge"}
    res = evaluate(_gold_lookup(pr), {"p": pairs}, tmp_path, n_resamples=100, plots=False, sections=sections)
    sec = res["datasets"]["p"]["sections"]
    assert set(sec) == {"reasoning", "knowledge"}
    assert res["datasets"]["p"]["unmapped_categories"] == ["advice"]
    # one correct response among four; a scorer that ranks it first (or ties it with one other) gets 1 (or 1/2)
    sets = [KSampleSet("q1", ["a", "b", "c", "d"], [0, 1, 0, 0], correct=[0, 1, 0, 0]),
            KSampleSet("q2", ["e", "f", "g", "h"], [1, 0, 0, 0], correct=[1, 0, 0, 0])]
    fixed = {"a": 0.0, "b": 3.0, "c": 1.0, "d": 2.0, "e": 5.0, "f": 5.0, "g": 0.0, "h": 1.0}
    res = evaluate(CallableScorer(lambda prompt, response: fixed[response]), {"k": sets}, tmp_path / "k",
                   n_resamples=50, plots=False)
    assert res["datasets"]["k"]["best_of_k_credit"]["accuracy"]["estimate"] == 0.75


def test_harm_aware_metrics_on_pools(tmp_path):
    """eval on K-sample pools reports harm-aware metrics: the gold scorer is perfectly aligned, its negation is
    the worst possible, and the numbers are those of rewardlab.stats.harm on the same arrays."""
    from rewardlab.eval.summary import headline
    from rewardlab.scoring import CallableScorer
    from rewardlab.stats.harm import harm_aware_metrics

    po = simulate_pools(30, k=5, seed=7)
    gold = _gold_lookup(po)
    flipped = CallableScorer(lambda prompt, response: -gold.fn(prompt, response), name="neg")
    data = {"pools": parse_rows(po)}
    good = evaluate(gold, data, tmp_path / "g", n_resamples=50, plots=False)["datasets"]["pools"]["harm_aware"]
    bad = evaluate(flipped, data, tmp_path / "b", n_resamples=50, plots=False)
    h = bad["datasets"]["pools"]["harm_aware"]
    assert good["ascent_alignment"]["estimate"] == pytest.approx(1.0) and good["harmful_error_mass"]["estimate"] == 0.0
    assert good["pi0"] == "uniform"
    g = np.asarray([r["scores"] for r in po])
    ref = harm_aware_metrics(-g, g, n_resamples=0)
    assert h["ascent_alignment"]["estimate"] == pytest.approx(-1.0)
    assert h["harmful_error_mass"]["estimate"] == ref["harmful_error_mass"]["estimate"] > 0.2
    assert "harm-aware: harmful error mass" in headline(bad)
    assert "ascent alignment" in build_report(tmp_path / "b").read_text()
