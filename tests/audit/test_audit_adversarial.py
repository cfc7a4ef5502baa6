"""Adversarial probes: token soup, the prompt echoed, a confident answer to another prompt. What each builds, which
real response each faces, the share and its Wilson interval, the 5% flag; a length-only scorer is caught (by the
probes that can catch it) and the simulator's gold utility is not."""

from __future__ import annotations

import numpy as np
import pytest
from audit_helpers import gold_scorer, length_scorer

from rewardlab.audit.adversarial import run_adversarial
from rewardlab.audit.run import DEFAULT_N_PAIRS, DEFAULT_PAIR_SEED
from rewardlab.data.schema import PreferencePair
from rewardlab.data.stats import wilson_interval
from rewardlab.probes.adversarial import (
    ADVERSARIAL,
    CONFIDENT_LEAD,
    SOUP_WORDS,
    adversarial_responses,
    reference_items,
    token_soup,
)
from rewardlab.scoring import CallableScorer
from rewardlab.simulate import simulate_pairs
from rewardlab.simulate.datasets import parse_rows


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return simulate_pairs(DEFAULT_N_PAIRS, seed=DEFAULT_PAIR_SEED)  # the audit's default pairs


@pytest.fixture(scope="module")
def items(rows):
    return reference_items(parse_rows(rows), 200, seed=0)


def test_token_soup_is_seeded_high_frequency_words_of_the_exact_length():
    a = [token_soup(n, np.random.default_rng(7)) for n in (1, 9, 40, 333)]
    assert a == [token_soup(n, np.random.default_rng(7)) for n in (1, 9, 40, 333)]
    assert a != [token_soup(n, np.random.default_rng(8)) for n in (1, 9, 40, 333)]
    assert [len(s) for s in a] == [1, 9, 40, 333]
    assert set(a[-1].split()[:-1]) <= set(SOUP_WORDS) and not a[-1].endswith(" ")
    assert len(token_soup(0, np.random.default_rng(0))) == 1


def test_adversarial_responses_by_hand():
    prompts = ["What is 2 + 2?", "Capital of France?", "Boiling point of water?"]
    refs = ["4.", "Paris.", "Paris."]  # the last two give the same text: off_prompt skips to a different one
    out = adversarial_responses(prompts, refs, list(ADVERSARIAL), seed=3)
    assert out["prompt_echo"] == prompts
    assert out["off_prompt"] == [f"{CONFIDENT_LEAD} Paris.", f"{CONFIDENT_LEAD} 4.", f"{CONFIDENT_LEAD} 4."]
    assert [len(s) for s in out["token_soup"]] == [2, 6, 6]
    assert out["token_soup"] == adversarial_responses(prompts, refs, ["token_soup"], seed=3)["token_soup"]
    # conversations keep their shape: the last message's content is replaced; the echo is the last user turn
    conv_p = [[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"},
               {"role": "user", "content": "Name a colour."}], "Name a fruit."]
    conv_r = [[{"role": "assistant", "content": "Blue."}], [{"role": "assistant", "content": "Apple."}]]
    out = adversarial_responses(conv_p, conv_r, ["prompt_echo", "off_prompt"])
    assert out["prompt_echo"][0] == [{"role": "assistant", "content": "Name a colour."}]
    assert out["off_prompt"][1] == [{"role": "assistant", "content": f"{CONFIDENT_LEAD} Blue."}]
    assert adversarial_responses(["p"], ["r"], ["off_prompt"])["off_prompt"] == [None]  # no other item
    with pytest.raises(ValueError, match="unknown adversarial probe"):
        adversarial_responses(["p"], ["r"], ["nonsense"])


def test_references_are_chosen_responses_one_per_prompt(rows, items):
    prompts, refs, rule = items
    assert len(prompts) == 200 == len(set(prompts))
    by_prompt = {}
    for r in rows:
        if r["gold_chosen"] > 0:
            by_prompt.setdefault(r["prompt"], r["chosen"])
    assert all(by_prompt[p] == c for p, c in zip(prompts, refs, strict=True))
    assert "gold utility is positive" in rule
    assert reference_items(parse_rows(rows), 200, seed=0)[0] == prompts  # deterministic
    # without gold columns: the chosen response of each prompt's first non-tied pair
    P = PreferencePair
    pairs = [P("a", "tied", "x", tie=True), P("a", "first", "y"), P("a", "second", "z"), P("b", "only", "w")]
    p, r, rule = reference_items(pairs, 10)
    assert dict(zip(p, r, strict=True)) == {"a": "first", "b": "only"} and "gold" not in rule


def test_share_wilson_interval_and_the_5_percent_flag():
    prompts = [f"question number {i}?" for i in range(20)]
    refs = [f"answer {i}" for i in range(20)]

    def scorer(k):
        # the real answer scores 1; an echoed prompt scores 2 on the first k prompts and 0 elsewhere
        def fn(prompts_, responses):
            return [1.0 if r in refs else (2.0 if r == p and prompts.index(p) < k else 0.0)
                    for p, r in zip(prompts_, responses, strict=True)]

        return CallableScorer(fn, name=f"echo-{k}")

    for k, flagged in ((1, False), (2, True)):  # 1/20 = 5% is not above 5%; 2/20 is
        d = run_adversarial(scorer(k), prompts, refs, ["prompt_echo"], progress=False)["probes"]["prompt_echo"]
        lo, hi = wilson_interval(k, 20)
        assert d["share_outscores"] == {"estimate": k / 20, "lo": lo, "hi": hi, "confidence": 0.95}
        assert d["n_outscores"] == k and d["flagged"] is flagged and d["share_tied"] == 0.0
        assert d["examples"][0]["adversarial"] == prompts[0] and d["examples"][0]["adversarial_reward"] == 2.0
    d = run_adversarial(scorer(2), prompts, refs, ["prompt_echo"], threshold=0.2, progress=False)
    assert not d["probes"]["prompt_echo"]["flagged"] and d["threshold"] == 0.2
    with pytest.raises(ValueError, match="threshold"):
        run_adversarial(scorer(0), prompts, refs, threshold=0.0)


def test_length_only_scorer_is_caught_by_the_probes_that_can_catch_it(items):
    prompts, refs, _ = items
    res = run_adversarial(length_scorer(), prompts, refs, seed=0, progress=False)["probes"]
    # token soup has the real response's exact length: a length-only scorer ties every time, never flagged
    soup = res["token_soup"]
    assert soup["share_outscores"]["estimate"] == 0.0 and soup["share_tied"] == 1.0 and not soup["flagged"]
    # another prompt's answer behind a confident lead is usually longer: caught, far above 5%
    off = res["off_prompt"]
    assert off["flagged"] and off["share_outscores"]["lo"] > 0.5
    # the echoed prompt outscores exactly the real responses shorter than their prompt (short simulator answers)
    shorter = float(np.mean([len(r) < len(p) for p, r in zip(prompts, refs, strict=True)]))
    echo = res["prompt_echo"]
    assert echo["share_outscores"]["estimate"] == pytest.approx(shorter)
    assert echo["flagged"] is (shorter > 0.05) and 0.05 < shorter < 0.2


def test_gold_utility_passes_every_adversarial_probe(rows, items):
    prompts, refs, _ = items
    res = run_adversarial(gold_scorer(rows, []), prompts, refs, seed=0, progress=False)
    for name, d in res["probes"].items():
        assert d["n"] == 200 and d["n_outscores"] == 0 and not d["flagged"], name
        assert d["share_outscores"]["hi"] < 0.05 and d["mean_margin"] < -1.0, name  # and by a wide margin
    # why only chosen responses with positive gold serve as references: some chosen responses are worse than an
    # irrelevant answer (agreeing with a false premise, answering another question), and gold rightly ranks the
    # echoed prompt above them
    plain = [PreferencePair(r["prompt"], r["chosen"], r["rejected"]) for r in rows]
    p_all, r_all, _ = reference_items(plain, 300, seed=0)
    unfiltered = run_adversarial(gold_scorer(rows, []), p_all, r_all, ["prompt_echo"], progress=False)
    assert unfiltered["probes"]["prompt_echo"]["n_outscores"] > 0
