"""K-sample pools, battles between systems, and false-premise audit cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr
from sim_helpers import has_phrase

from rewardlab.simulate import (
    ATTRIBUTES,
    FAMILIES,
    Propensities,
    SimConfig,
    System,
    UtilityWeights,
    default_systems,
    false_premise_cases,
    gold_utility,
    human_like,
    simulate_battles,
    simulate_pools,
    system_expected_utility,
)


def test_pools_scores_are_gold_utilities() -> None:
    cfg = SimConfig(weights=UtilityWeights(formatting=0.5, correct=3.0))
    pools = simulate_pools(200, k=8, seed=2, config=cfg)
    assert len(pools) == 200
    for p in pools:
        assert set(p) >= {"id", "prompt", "responses", "scores", "correct", "category", "attrs"}
        assert p["category"] in FAMILIES
        assert len(p["responses"]) == len(p["scores"]) == len(p["correct"]) == len(p["attrs"]) == 8
        assert len(set(p["responses"])) == 8
        for text, score, c, a in zip(p["responses"], p["scores"], p["correct"], p["attrs"], strict=True):
            assert list(a) == list(ATTRIBUTES)
            assert score == pytest.approx(gold_utility(a, cfg.weights), abs=1e-9)
            assert c == int(a["correct"]) and c in (0, 1)
            assert text
    # useful for best-of-K: most prompts have both correct and incorrect responses
    mixed = np.mean([0 < sum(p["correct"]) < 8 for p in pools])
    assert mixed > 0.7


def test_pools_other_k() -> None:
    pools = simulate_pools(10, k=32, seed=0)
    assert all(len(p["responses"]) == 32 for p in pools)
    assert len({p["id"] for p in pools}) == 10


def _win_rates(battles: list[dict]) -> dict[str, float]:
    wins: dict[str, float] = {}
    games: dict[str, int] = {}
    for b in battles:
        for side in ("model_a", "model_b"):
            games[b[side]] = games.get(b[side], 0) + 1
        if b["winner"] == "tie":
            wins[b["model_a"]] = wins.get(b["model_a"], 0) + 0.5
            wins[b["model_b"]] = wins.get(b["model_b"], 0) + 0.5
        else:
            wins[b[b["winner"]]] = wins.get(b[b["winner"]], 0) + 1
    return {k: wins.get(k, 0) / games[k] for k in sorted(games)}


def test_battles_rank_systems_by_true_utility() -> None:
    battles = simulate_battles(4000, seed=1)
    truth = system_expected_utility()
    assert set(truth) == {s.name for s in default_systems()}
    for b in battles:
        assert b["model_a"] != b["model_b"]
        assert b["winner"] in ("model_a", "model_b", "tie")
        assert b["response_a"] != b["response_b"]
        assert b["gold_a"] == pytest.approx(gold_utility(b["attrs_a"]))
    rates = _win_rates(battles)
    assert max(rates, key=rates.get) == max(truth, key=truth.get) == "sys-a"
    names = sorted(truth)
    rho = spearmanr([truth[n] for n in names], [rates[n] for n in names]).statistic
    assert rho > 0.9
    # the analytic expected utility matches the Monte Carlo mean of the gold utilities per system
    gold: dict[str, list[float]] = {}
    for b in battles:
        gold.setdefault(b["model_a"], []).append(b["gold_a"])
        gold.setdefault(b["model_b"], []).append(b["gold_b"])
    for n in names:
        x = np.array(gold[n])
        assert abs(x.mean() - truth[n]) < 4 * x.std() / math.sqrt(x.size), n


def test_human_like_biases_reward_the_verbose_system() -> None:
    """Same battles judged by biased annotators: the verbose, formatted sys-b gains at sys-a's expense."""
    neutral_rates = _win_rates(simulate_battles(4000, seed=1))
    biased_rates = _win_rates(simulate_battles(4000, seed=1, config=human_like()))
    assert biased_rates["sys-b"] > neutral_rates["sys-b"]
    assert biased_rates["sys-a"] < neutral_rates["sys-a"]


def test_custom_systems_and_ties() -> None:
    systems = [
        System("good", Propensities(accuracy=0.95, relevance=1.0)),
        System("bad", Propensities(accuracy=0.1, relevance=0.5)),
    ]
    battles = simulate_battles(600, seed=4, config=SimConfig(n_annotators=2), systems=systems)
    assert {b["model_a"] for b in battles} == {"good", "bad"}
    assert any(b["winner"] == "tie" for b in battles)
    rates = _win_rates(battles)
    assert rates["good"] > 0.65 > rates["bad"]
    truth = system_expected_utility(systems)
    assert truth["good"] > truth["bad"]
    with pytest.raises(ValueError):
        simulate_battles(5, systems=[systems[0]])
    with pytest.raises(ValueError):
        simulate_battles(5, systems=[systems[0], systems[0]])


def test_false_premise_cases() -> None:
    cases = false_premise_cases(300, seed=0)
    assert len({c["id"] for c in cases}) == 300
    for c in cases:
        assert set(c) >= {"id", "prompt", "agreeing", "correcting"}
        agree = c["agreeing"].replace("**", "")
        correct = c["correcting"].replace("**", "")
        assert c["false_claim"] in c["prompt"]
        assert has_phrase(c["false_claim"], agree)  # the agreeing text repeats the false claim
        assert has_phrase(c["true_answer"], correct)  # the correcting text gives the right answer
        assert not has_phrase(c["false_claim"], correct)
        assert not has_phrase(c["true_answer"], agree)
        assert c["agreeing"] != c["correcting"]
