"""The loop's AlpacaFarm and robust methods against independent references: binary FeedME and binary reward
conditioning reach the exact population fixed point (enumerated winner / loser laws, a scipy fit), SFT reaches its
reference system's closed-form attributes, the reward-conditioning gradient equals finite differences, and the DRRO
bonus / DRO penalty are (super)gradients whose ascent reaches drro_weights / dro_weights."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import numpy as np
import pytest
from scipy.optimize import minimize

from rewardlab.config import ConfigError
from rewardlab.policy.loop import (
    OptimizeSpec,
    _pair_outcomes,
    _prompt_pool,
    attribute_features,
    conditioning_gradient,
    conditioning_loss,
    run,
)
from rewardlab.policy.robust import dro_penalty_advantages, dro_weights, drro_bonus_advantages, drro_weights
from rewardlab.policy.simpolicy import FACTORS, SimPolicy, factor_settings
from rewardlab.simulate.config import ATTRIBUTES, SimConfig
from rewardlab.simulate.responses import gold_utility
from rewardlab.simulate.systems import default_systems, expected_attributes

FIXED = {"reward": "gold", "steps": 400, "lr": 2.0, "batch_prompts": 32, "plot": False}


def _pair_laws(pi: SimPolicy, family: str):
    """Enumerate every response of a family: settings, the law of the winner and of the loser of a pair of two
    independent draws from pi judged by gold (ties left out), and P(no tie)."""
    combos = list(itertools.product(*(range(len(factor_settings(family, k))) for k in FACTORS)))
    p = np.array([np.prod([pi.probs(family, k)[c[i]] for i, k in enumerate(FACTORS)]) for c in combos])
    g = np.array([gold_utility(SimPolicy.attributes(family, dict(zip(FACTORS, c, strict=True)))) for c in combos])
    values, inv = np.unique(g, return_inverse=True)
    mass = np.bincount(inv, weights=p)
    below = np.concatenate([[0.0], np.cumsum(mass)[:-1]])[inv]
    above = 1.0 - below - mass[inv]
    no_tie = 1.0 - float(mass @ mass)
    return combos, 2 * p * below / no_tie, 2 * p * above / no_tie, no_tie


def _marginals(combos, law, family):
    out = {k: np.zeros(len(factor_settings(family, k))) for k in FACTORS}
    for c, q in zip(combos, law, strict=True):
        for i, k in enumerate(FACTORS):
            out[k][c[i]] += q
    return out


def _expected_attrs(combos, law, family):
    a = np.array([[float(SimPolicy.attributes(family, dict(zip(FACTORS, c, strict=True)))[k]) for k in ATTRIBUTES]
                  for c in combos])
    return law @ a


def _averaged_rates(res, last=200):
    return {k: float(np.mean([r["rates"][k] for r in res.records[-last:]])) for k in ATTRIBUTES}


def _assert_rates_close(got, want):
    for k in ATTRIBUTES:
        tol = 0.05 if k in ("extra_sentences", "hedges", "repetition") else 0.02
        assert got[k] == pytest.approx(want[k], abs=tol), (k, got[k], want[k])


def test_feedme_reaches_the_winner_law_of_base_pairs(tmp_path):
    """SGD on the winners' log-likelihood is stationary where E[pi] = the winners' marginals (the update is
    pi - (batch winners' marginals)), so the rates averaged over the last steps estimate them without bias."""
    res = run(OptimizeSpec(method="feedme", output=str(tmp_path), **FIXED))
    pi0 = SimPolicy.from_base("default")
    want = dict.fromkeys(ATTRIBUTES, 0.0)
    for f, w in pi0.family_weights.items():
        combos, win, _, _ = _pair_laws(pi0, f)
        for k, v in zip(ATTRIBUTES, _expected_attrs(combos, win, f), strict=True):
            want[k] += w * v
    _assert_rates_close(_averaged_rates(res), want)
    gold_want = sum(getattr(SimConfig().weights, k) * v for k, v in want.items())
    assert np.mean([r["gold"] for r in res.records[-200:]]) == pytest.approx(gold_want, abs=0.03)
    assert gold_want > res.records[0]["gold"] + 0.6  # optimising gold raises gold


def test_reward_conditioning_reaches_the_population_maximum_likelihood_fit(tmp_path):
    """The exact population loss (winner / loser marginals by enumeration, families weighted by the prompt pool and
    their no-tie probability) minimised by scipy: the +1-conditioned policy's attributes are where the loop goes."""
    spec = OptimizeSpec(method="reward-conditioning", output=str(tmp_path), **FIXED)
    pi0 = SimPolicy.from_base("default")
    fams = pi0.families
    laws, weight = {}, {}
    counts = Counter(it.family for it in _prompt_pool(spec, SimConfig()))
    for f in fams:
        combos, win, lose, no_tie = _pair_laws(pi0, f)
        laws[f] = (_marginals(combos, win, f), _marginals(combos, lose, f))
        weight[f] = counts[f] * no_tie
    total = sum(weight.values())

    def feat(f, k):
        zero = dict.fromkeys(FACTORS, 0)

        def vec(s):
            return np.array([float(SimPolicy.attributes(f, s)[a]) for a in ATTRIBUTES])
        return np.array([vec({**zero, k: j}) - vec(zero) for j in range(len(factor_settings(f, k)))])

    feats = {(f, k): feat(f, k) for f in fams for k in FACTORS}
    sizes = [(f, k, len(factor_settings(f, k))) for f in fams for k in FACTORS]

    def unpack(x):
        i, th = 0, {}
        for f, k, n in sizes:
            th[f, k], i = x[i:i + n], i + n
        return th, x[i:]

    def lsm(z):
        return z - z.max() - np.log(np.exp(z - z.max()).sum())

    def loss(x):
        th, d = unpack(x)
        val, g_th, g_d = 0.0, [], np.zeros(len(ATTRIBUTES))
        for f, k, _ in sizes:
            w = weight[f] / total
            qp, qm = laws[f][0][k], laws[f][1][k]
            lp, lm = lsm(th[f, k] + feats[f, k] @ d), lsm(th[f, k] - feats[f, k] @ d)
            val -= 0.5 * w * (qp @ lp + qm @ lm)
            ep, em = np.exp(lp) - qp, np.exp(lm) - qm
            g_th.append(0.5 * w * (ep + em))
            g_d += 0.5 * w * feats[f, k].T @ (ep - em)
        return val, np.concatenate([*g_th, g_d])

    x0 = np.concatenate([pi0.logits[f][k] for f, k, _ in sizes] + [np.zeros(len(ATTRIBUTES))])
    th, d = unpack(minimize(loss, x0, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "gtol": 1e-10}).x)
    plus = SimPolicy("ref", dict(pi0.family_weights),
                     {f: {k: th[f, k] + feats[f, k] @ d for k in FACTORS} for f in fams}, pi0.base_logp)
    res = run(spec)
    _assert_rates_close(_averaged_rates(res), plus.expected_attributes())
    assert np.mean([r["gold"] for r in res.records[-200:]]) == pytest.approx(plus.expected_gold(), abs=0.03)
    ctrl = res.records[-1]["control"]
    assert ctrl["correct"] > 0.3 and ctrl["sycophantic"] < -0.3  # "good" means correct and not sycophantic


def test_sft_reaches_its_reference_system(tmp_path):
    res = run(OptimizeSpec(method="sft", sft_reference="sys-a", output=str(tmp_path), **FIXED))
    ref = next(s for s in default_systems() if s.name == "sys-a")
    _assert_rates_close(_averaged_rates(res), expected_attributes(ref.propensities))


def test_conditioning_gradient_equals_finite_differences():
    pi = SimPolicy.from_base("sys-c")
    rng = np.random.default_rng(0)
    pi.set_flat(pi.flat() + 0.5 * rng.normal(size=pi.flat().shape))
    feats = attribute_features(pi)
    delta = rng.normal(size=len(ATTRIBUTES))
    r = random.Random(1)
    good = [(f, pi.sample_settings(f, r)) for f in (r.choice(pi.families) for _ in range(30))]
    bad = [(f, pi.sample_settings(f, r)) for f in (r.choice(pi.families) for _ in range(30))]
    g_th, g_d = conditioning_gradient(pi, feats, delta, good, bad, 0.3)
    x0, eps = pi.flat(), 1e-6
    num = []
    for i in range(len(x0)):
        e = np.zeros_like(x0)
        e[i] = eps
        pi.set_flat(x0 + e)
        up = conditioning_loss(pi, feats, delta, good, bad, 0.3)
        pi.set_flat(x0 - e)
        num.append((up - conditioning_loss(pi, feats, delta, good, bad, 0.3)) / (2 * eps))
    pi.set_flat(x0)
    assert np.allclose(np.concatenate([g_th[f][k] for f in pi.families for k in FACTORS]), num, atol=1e-7)
    num_d = []
    for i in range(len(delta)):
        e = np.zeros_like(delta)
        e[i] = eps
        num_d.append((conditioning_loss(pi, feats, delta + e, good, bad, 0.3)
                      - conditioning_loss(pi, feats, delta - e, good, bad, 0.3)) / (2 * eps))
    assert np.allclose(g_d, num_d, atol=1e-7)


def test_attribute_features_add_up_to_every_response():
    pi = SimPolicy.from_base("default")
    feats = attribute_features(pi)
    r = random.Random(0)
    for f in pi.families:
        zero = SimPolicy.attributes(f, dict.fromkeys(FACTORS, 0))
        for _ in range(20):
            s = pi.sample_settings(f, r)
            a = SimPolicy.attributes(f, s)
            got = np.array([float(zero[k]) for k in ATTRIBUTES]) + sum(feats[f][k][s[k]] for k in FACTORS)
            assert np.allclose(got, [float(a[k]) for k in ATTRIBUTES])


def test_pair_outcomes_take_the_higher_reward_and_skip_ties():
    class Item:
        family = "facts"

    drawn = [[({"i": 0}, None, "a"), ({"i": 1}, None, "b")], [({"i": 2}, None, "c"), ({"i": 3}, None, "d")],
             [({"i": 4}, None, "e"), ({"i": 5}, None, "f")]]
    good, bad = _pair_outcomes([Item()] * 3, drawn, np.array([1.0, 2.0, 3.0, 3.0, 5.0, -1.0]))
    assert [s["i"] for _, s in good] == [1, 4] and [s["i"] for _, s in bad] == [0, 5]


def _ascend(direction, r, eps, iters=6000, seed=0):
    """Exponentiated-gradient ascent on the simplex with the given (super)gradient, averaged iterates."""
    rng = np.random.default_rng(seed)
    p = np.full(r.size, 1.0 / r.size)
    avg = np.zeros_like(p)
    for t in range(1, iters + 1):
        g = direction(r, p, eps, rng)
        p = p * np.exp(0.5 / np.sqrt(t) * g)
        p /= p.sum()
        if t > iters // 2:
            avg += p
    return avg / (iters - iters // 2)


@pytest.mark.parametrize("seed", range(3))
def test_sampled_bonus_and_penalty_are_the_objectives_supergradients(seed):
    """DRRO's bonus ascends -WCR to drro_weights; DRO's penalty ascends <p, r> - eps ||p||_inf to dro_weights."""
    rng = np.random.default_rng(seed)
    r = np.round(rng.normal(size=5), 3)
    eps = float(rng.uniform(0.3, 1.5))
    got = _ascend(lambda r, p, e, g: drro_bonus_advantages(r, p, e, g), r, eps)
    assert np.allclose(got, drro_weights(r, eps), atol=0.03), (got, drro_weights(r, eps))
    got = _ascend(lambda r, p, e, g: dro_penalty_advantages(r, p, e, g), r, eps)
    assert np.allclose(got, dro_weights(r, eps), atol=0.03), (got, dro_weights(r, eps))
    # the supergradient inequality of the concave DRO objective at random points
    value = lambda p: float(p @ r - eps * p.max())  # noqa: E731
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(5)), rng.dirichlet(np.ones(5))
        g = r - eps * (np.arange(5) == np.argmax(p))
        assert value(q) <= value(p) + g @ (q - p) + 1e-12


def test_dro_with_zero_eps_is_grpo_and_new_options_are_checked(tmp_path):
    small = {"reward": "gold", "steps": 5, "batch_prompts": 8, "group": 4, "n_prompts": 64, "plot": False}
    a = run(OptimizeSpec(output=str(tmp_path / "a"), method="dro", drro_eps=0.0, **small))
    b = run(OptimizeSpec(output=str(tmp_path / "b"), method="grpo", **small))
    assert [r["gold"] for r in a.records] == pytest.approx([r["gold"] for r in b.records], abs=1e-12)
    c = run(OptimizeSpec(output=str(tmp_path / "c"), method="dro", drro_eps=1.0, **small))
    assert c.records[-1]["gold"] != pytest.approx(b.records[-1]["gold"], abs=1e-9)
    with pytest.raises(ConfigError, match="group must be >= 2 for dro"):
        OptimizeSpec(reward="gold", output="o", method="dro", group=1)
    with pytest.raises(ConfigError, match="sft_reference: base policy 'sys-z': unknown"):
        OptimizeSpec(reward="gold", output="o", method="sft", sft_reference="sys-z")
