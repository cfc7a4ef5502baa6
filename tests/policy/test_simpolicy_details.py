"""The simulator policy's `details` factor (the completeness attribute): present exactly when the base draws
details, exact against scipy, enumeration and the simulator's closed forms; coupled bases refused; old states load."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest
from scipy import stats

from rewardlab.errors import RewardlabError
from rewardlab.policy.simpolicy import ALL_FACTORS, FACTORS, SimPolicy, factor_settings
from rewardlab.simulate import MAX_DETAILS, Propensities, SimConfig, UtilityWeights
from rewardlab.simulate.families import FAMILY_IMPLS
from rewardlab.simulate.responses import AttributeSampler, gold_utility, render
from rewardlab.simulate.systems import expected_attributes, expected_utility

PROP = Propensities(accuracy=0.75, relevance=0.95, verbosity=0.4, completeness=2.2, sycophancy=0.3)


def test_details_factor_only_when_the_base_draws_details() -> None:
    assert SimPolicy.from_base("sys-a").factors == FACTORS
    assert "details" not in SimPolicy.from_base("default").to_dict()["logits"]["facts"]
    pi = SimPolicy.from_base(PROP)
    assert pi.factors == ALL_FACTORS
    pmf = np.append(stats.poisson.pmf(np.arange(MAX_DETAILS), 2.2), stats.poisson.sf(MAX_DETAILS - 1, 2.2))
    for f in pi.families:
        assert np.allclose(pi.probs(f, "details"), pmf, atol=1e-12)


def test_base_with_details_matches_the_simulators_closed_forms() -> None:
    cfg = SimConfig(weights=UtilityWeights(details=0.8))
    pi = SimPolicy.from_base(PROP, cfg)
    assert abs(pi.kl()) < 1e-12
    ea, got = expected_attributes(PROP, cfg), pi.expected_attributes()
    assert set(got) == set(ea)
    for k in ea:
        assert got[k] == pytest.approx(ea[k], abs=1e-12), k
    assert pi.expected_gold(cfg.weights) == pytest.approx(expected_utility(PROP, cfg), abs=1e-12)


def test_base_with_details_samples_like_the_attribute_sampler() -> None:
    pi = SimPolicy.from_base(PROP)
    rng_a, rng_b, n = random.Random(1), random.Random(2), 4000
    for fam in ("units", "false_premise"):
        a = [AttributeSampler(PROP).sample(rng_a, fam) for _ in range(n)]
        b = [pi.attributes(fam, pi.sample_settings(fam, rng_b)) for _ in range(n)]
        assert set(a[0]) == set(b[0])
        for k in ("details", "correct", "sycophantic", "extra_sentences"):
            xa, xb = np.array([float(r[k]) for r in a]), np.array([float(r[k]) for r in b])
            se = math.sqrt(xa.var() / n + xb.var() / n) + 1e-9
            assert abs(xa.mean() - xb.mean()) < 4.5 * se, (fam, k, xa.mean(), xb.mean())


def test_log_probabilities_kl_and_gold_by_enumeration() -> None:
    pi = SimPolicy.from_base(PROP)
    rng = np.random.default_rng(3)
    pi.set_flat(pi.flat() + rng.normal(size=pi.flat().shape))
    fam = "advice"
    sizes = [len(factor_settings(fam, k)) for k in pi.factors]
    total = kl = gold = 0.0
    w = UtilityWeights()
    for combo in itertools.product(*map(range, sizes)):
        s = dict(zip(pi.factors, combo, strict=True))
        lp, lp0 = pi.log_prob(fam, s), pi.base_log_prob(fam, s)
        p = math.exp(lp)
        total += p
        kl += p * (lp - lp0)
        gold += p * gold_utility(pi.attributes(fam, s), w)
    assert total == pytest.approx(1.0, abs=1e-9)
    assert kl == pytest.approx(pi.kl_family(fam), abs=1e-9)
    ea = pi.expected_attributes(fam)
    assert gold == pytest.approx(sum(getattr(w, k) * v for k, v in ea.items()), abs=1e-9)


def test_coupled_base_is_refused() -> None:
    with pytest.raises(RewardlabError, match="coupling"):
        SimPolicy.from_base(Propensities(completeness=1.0, coupling=0.5))
    # coupling without completeness has no effect (no details are drawn), so the factorisation stays exact
    assert SimPolicy.from_base(Propensities(coupling=0.5)).factors == FACTORS


def test_states_round_trip_and_old_states_load(tmp_path) -> None:
    pi = SimPolicy.from_base(PROP)
    pi.logits["facts"]["details"] += np.arange(MAX_DETAILS + 1) * 0.1
    assert SimPolicy.from_dict(json.loads(json.dumps(pi.to_dict()))) == pi
    v = pi.flat()
    q = SimPolicy.from_base(PROP)
    q.set_flat(v)
    assert q == pi
    # a state written before the details factor existed: no details key anywhere; it loads and never adds details
    old = SimPolicy.from_base("sys-b").to_dict()
    loaded = SimPolicy.load(SimPolicy.from_dict(old).save(tmp_path / "old.json"))
    assert loaded.factors == FACTORS and "details" not in loaded.expected_attributes()
    s = loaded.sample_settings("facts", random.Random(0))
    assert "details" not in loaded.attributes("facts", s)
    # details in one family but not another is malformed
    bad = pi.to_dict()
    del bad["logits"]["units"]["details"]
    with pytest.raises(RewardlabError, match="details"):
        SimPolicy.from_dict(bad)


def test_policy_renders_its_details() -> None:
    pi = SimPolicy.from_base(PROP)
    pi.logits["arithmetic"]["details"] = np.array([-20.0, -20.0, -20.0, -20.0, 0.0])  # always 4 details
    rng = random.Random(4)
    impl = FAMILY_IMPLS["arithmetic"]
    for _ in range(20):
        item = impl.sample(rng)
        a = pi.attributes("arithmetic", pi.sample_settings("arithmetic", rng))
        assert a["details"] == MAX_DETAILS
        plain = dict(a, details=0)
        st = rng.getstate()
        long_text = render(impl, item.spec, "arithmetic", a, rng)
        rng.setstate(st)
        short_text = render(impl, item.spec, "arithmetic", plain, rng)
        assert len(long_text.split()) > len(short_text.split())
