"""Responses: attribute sampling, gold utility, and attributes being visible in the text."""

from __future__ import annotations

import random
import re
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_helpers import has_phrase, sentences

from rewardlab.simulate import (
    ATTRIBUTES,
    FACTS,
    FAMILIES,
    AttributeSampler,
    Propensities,
    SimConfig,
    UtilityWeights,
    expected_attributes,
    gold_utility,
    simulate_pairs,
)
from rewardlab.simulate.facts import questions, statement
from rewardlab.simulate.families import FAMILY_IMPLS, Units, fmt_num
from rewardlab.simulate.responses import FILLER_CLOSERS, FILLER_OPENERS, HEDGE_PREFIXES, HEDGE_SENTENCES


@cache
def _responses() -> tuple:
    """(prompt, family, attrs, text) for every response of a sample of pairs, with a chatty propensity set."""
    prop = Propensities(verbosity=1.5, hedging=1.0, repetition=0.6, formatting=0.4, filler=0.4)
    out = []
    for r in simulate_pairs(4000, seed=31, config=SimConfig(propensities=prop)):
        for side in ("chosen", "rejected"):
            out.append((r["prompt"], r["category"], r[f"attrs_{side}"], r[side]))
    return tuple(out)


def _strip_filler(text: str) -> str:
    for phrase in FILLER_OPENERS + FILLER_CLOSERS:
        text = text.replace(phrase, "")
    return text


def test_pairs_are_two_different_responses() -> None:
    for r in simulate_pairs(3000, seed=1):
        assert r["chosen"] != r["rejected"]
        assert r["prompt"] and r["chosen"] and r["rejected"]
        assert 0.0 <= r["label"] <= 1.0
        assert r["category"] in FAMILIES
        for side in ("attrs_chosen", "attrs_rejected"):
            a = r[side]
            assert list(a) == list(ATTRIBUTES)
            if a["sycophantic"]:
                assert r["category"] == "false_premise" and not a["correct"]
            if not a["relevant"]:
                assert not a["correct"] and not a["sycophantic"]


def test_text_hygiene() -> None:
    for prompt, _, _, text in _responses():
        for t in (prompt, text):
            assert "{" not in t and "}" not in t
            assert ".." not in t and "  " not in t
            assert t == t.strip()
        assert text.rstrip("*")[-1] in ".!?", text


def test_formatting_and_filler_visible() -> None:
    for _, _, a, text in _responses():
        assert ("**" in text) == a["formatting"], text
        if not a["formatting"]:
            assert "\n" not in text
        has_filler = any(p in text for p in FILLER_OPENERS + FILLER_CLOSERS)
        assert has_filler == a["filler"], text


def test_hedges_visible() -> None:
    for _, _, a, text in _responses():
        n = sum(p in text for p in HEDGE_PREFIXES) + sum(p in text for p in HEDGE_SENTENCES)
        assert n == a["hedges"], (a["hedges"], text)


def test_repetition_and_verbosity_visible() -> None:
    checked = 0
    by_extra: dict[int, list[int]] = {}
    for _, _, a, text in _responses():
        if "D.C." in text or "F. Scott" in text:  # abbreviations confuse the naive sentence splitter
            continue
        s = sentences(text)
        assert len(s) - len(set(s)) == a["repetition"], (a, text)
        checked += 1
        if not a["repetition"] and not a["hedges"] and not a["filler"]:
            by_extra.setdefault(a["extra_sentences"], []).append(len(text.split()))
    assert checked > 7000
    means = [np.mean(by_extra[k]) for k in sorted(by_extra)]
    assert len(means) >= 5 and all(x < y for x, y in zip(means, means[1:], strict=False)), means


def _fact_of(prompt: str):
    hits = [f for f in FACTS if prompt in questions(f.kind, f.subject)]
    return hits[0] if len(hits) == 1 else None


def test_correctness_visible_facts_and_false_premise() -> None:
    checked = 0
    for prompt, fam, a, text in _responses():
        plain = _strip_filler(text).replace("**", "")
        if fam == "facts":
            f = _fact_of(prompt)
            if f is None:
                continue
            if not a["relevant"]:
                assert statement(f.kind, f.subject, "").lower() not in plain.lower()
            elif a["correct"]:
                assert has_phrase(f.answer, plain)
            else:
                assert not has_phrase(f.answer, sentences(plain)[0]), text
            checked += 1
        elif fam == "false_premise":
            f = next(f for f in FACTS if statement(f.kind, f.subject, f.decoy) in prompt)
            claim = statement(f.kind, f.subject, f.decoy)
            truth = statement(f.kind, f.subject, f.answer)
            if a["sycophantic"]:
                assert has_phrase(claim, plain) and not has_phrase(truth, plain)
            elif a["relevant"]:
                assert not has_phrase(claim, plain)
                assert has_phrase(truth, plain) == a["correct"], text
            checked += 1
    assert checked > 2500


_ARITH = re.compile(r"(\d+)\D+?(\d+)")


def test_correctness_visible_arithmetic() -> None:
    checked = 0
    for prompt, fam, a, text in _responses():
        if fam != "arithmetic" or not a["relevant"]:
            continue
        x, y = (int(v) for v in _ARITH.search(prompt).groups())
        if "+" in prompt or "plus" in prompt or "add" in prompt or "sum" in prompt:
            v = x + y
        elif "subtract" in prompt:  # "subtract b from a"
            v = y - x
        elif "-" in prompt or "minus" in prompt:
            v = x - y
        else:
            v = x * y
        first = sentences(_strip_filler(text).strip().replace("**", ""))[0]
        stated = int(re.findall(r"\d+", first)[-1])
        assert (stated == v) == a["correct"], (prompt, text)
        checked += 1
    assert checked > 500


def test_correctness_visible_units_and_advice() -> None:
    rng = random.Random(0)
    units = Units()
    for _ in range(500):
        item = units.sample(rng)
        truth = fmt_num(units._parts(item.spec)[5])
        right, _ = units.answer(item.spec, rng, "correct", False)
        wrong, _ = units.answer(item.spec, rng, "wrong", False)
        assert re.search(rf"(?<![\d.,]){re.escape(truth)}(?![\d,]|\.\d)", right[0]), (item.prompt, right)
        assert not re.search(rf"(?<![\d.,]){re.escape(truth)}(?![\d,]|\.\d)", wrong[0]), (item.prompt, wrong)
    advice = FAMILY_IMPLS["advice"]
    for _ in range(200):
        item = advice.sample(rng)
        good, _ = advice.answer(item.spec, rng, "correct", False)
        vague, _ = advice.answer(item.spec, rng, "wrong", False)
        assert len(good) == 4 and good[1].startswith(("First", "To start"))
        assert len(vague) <= 2 and not any(s.startswith(("First", "To start", "Next", "Then")) for s in vague)


def test_wrong_answers_are_plausible() -> None:
    """Wrong arithmetic is a near miss; a wrong capital is a real city from the table, never the right one."""
    rng = random.Random(1)
    arith = FAMILY_IMPLS["arithmetic"]
    for _ in range(300):
        item = arith.sample(rng)
        op, x, y = item.spec
        v = arith.value(item.spec)
        (s,), _ = arith.answer(item.spec, rng, "wrong", False)
        w = int(re.findall(r"\d+", s)[-1])
        assert w != v and abs(w - v) <= max(10, x, y)
    facts = FAMILY_IMPLS["facts"]
    cities = {f.answer for f in FACTS if f.kind == "capital"} | {
        f.decoy for f in FACTS if f.kind == "capital"
    }
    for i, f in enumerate(FACTS):
        if f.kind != "capital":
            continue
        for _ in range(5):
            (s,), _ = facts.answer(i, rng, "wrong", False)
            assert f.answer not in s
            assert any(c in s for c in cities - {f.answer})


def test_gold_utility_weights() -> None:
    a = dict.fromkeys(ATTRIBUTES, 0)
    assert gold_utility(a) == 0.0
    a.update(correct=True, relevant=True, extra_sentences=3, hedges=2, repetition=1, filler=True)
    assert gold_utility(a) == pytest.approx(2.0 + 1.5 - 0.3 - 0.3 - 0.5 - 0.2)
    w = UtilityWeights(formatting=0.7, sycophantic=-5.0)
    b = dict.fromkeys(ATTRIBUTES, 0) | {"formatting": True, "sycophantic": True}
    assert gold_utility(b, w) == pytest.approx(0.7 - 5.0)


def test_attribute_sampler_matches_expectation() -> None:
    """Empirical attribute means equal the exact expectations used for system rankings."""
    prop = Propensities(0.7, 0.85, 2.2, 1.1, 0.4, 0.5, 0.35, 0.6)
    cfg = SimConfig(propensities=prop)
    sampler = AttributeSampler(prop)
    rng = random.Random(5)
    fams = cfg.active_families()
    draws = [sampler.sample(rng, fams[i % len(fams)]) for i in range(50_000)]
    exp = expected_attributes(prop, cfg)
    for k in ATTRIBUTES:
        x = np.array([float(d[k]) for d in draws])
        assert abs(x.mean() - exp[k]) < 4.5 * x.std() / np.sqrt(x.size) + 1e-9, k
    assert max(d["extra_sentences"] for d in draws) == 5
    assert max(d["hedges"] for d in draws) == 3
    assert max(d["repetition"] for d in draws) == 2


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    acc=st.floats(0, 1),
    rel=st.floats(0, 1),
    verb=st.floats(0, 6),
    hedge=st.floats(0, 4),
    rep=st.floats(0, 3),
    fam=st.sampled_from(FAMILIES),
)
def test_invariants_hold_for_any_propensities(
    seed: int, acc: float, rel: float, verb: float, hedge: float, rep: float, fam: str
) -> None:
    prop = Propensities(acc, rel, verb, hedge, 0.5, rep, 0.5, 0.5)
    cfg = SimConfig(propensities=prop, family_weights={fam: 1.0}, n_annotators=3)
    for r in simulate_pairs(20, seed=seed, config=cfg):
        assert r["chosen"] != r["rejected"] and r["category"] == fam
        assert r["label"] in (2 / 3, 1.0)
        assert ("**" in r["chosen"]) == r["attrs_chosen"]["formatting"]
