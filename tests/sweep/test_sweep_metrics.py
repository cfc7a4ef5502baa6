"""The sweep's measurements from rewards, each against a brute-force reference: accuracy, gold agreement, the
length correlation over distinct responses, probe win shares, and the paired comparison with the plain run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from rewardlab.data.schema import PreferencePair
from rewardlab.eval.length_control import mcnemar_exact
from rewardlab.sweep.run import (
    ProbeItems,
    SweepResult,
    accuracy_warnings,
    compare_with_plain,
    count_parameters,
    length_spearman,
    run_metrics,
)


def _pairs(n: int = 120, seed: int = 0) -> list[PreferencePair]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        prompt = f"question {i // 3}"  # three pairs per prompt: clustered CIs, shared responses
        c = "a" * int(rng.integers(5, 300))
        r = f"shared answer {i // 3}" if i % 3 else "b" * int(rng.integers(5, 300))
        gc, gr = float(rng.integers(0, 4)), float(rng.integers(0, 4))
        out.append(PreferencePair(prompt, c, r, label=None if i % 7 else 0.0,
                                  extra={"gold_chosen": gc, "gold_rejected": gr}))
    return out


def _probe_items(k: int = 10) -> ProbeItems:
    prompts = [f"p{i}" for i in range(k)]
    where = {"token_soup": list(range(k)), "off_prompt": list(range(0, k, 2))}
    items_p = prompts + prompts + [prompts[i] for i in where["off_prompt"]]
    items_r = [f"ref{i}" for i in range(k)] + ["soup"] * k + ["other"] * len(where["off_prompt"])
    return ProbeItems(items_p, items_r, k, where)


def test_run_metrics_against_brute_force():
    pairs = _pairs()
    rng = np.random.default_rng(1)
    rc, rr = rng.normal(size=len(pairs)), rng.normal(size=len(pairs))
    rr[:5] = rc[:5]  # model ties count half
    y = np.array([0.0 if p.label == 0.0 else 1.0 for p in pairs])
    probes = _probe_items()
    probe_r = rng.normal(size=len(probes.prompts))
    m = run_metrics(pairs, rc, rr, pairs[:40], rc[:40] + 1, rr[:40], probes, probe_r, n_resamples=300)
    d = rc - rr
    acc = np.mean(np.where(d == 0, 0.5, (d > 0) == (y == 1)))
    assert m["accuracy"]["estimate"] == pytest.approx(acc)
    assert m["accuracy"]["lo"] < acc < m["accuracy"]["hi"]
    gc = np.array([p.extra["gold_chosen"] for p in pairs])
    gr = np.array([p.extra["gold_rejected"] for p in pairs])
    used = gc != gr
    gold = np.mean(np.where(d[used] == 0, 0.5, np.sign(d[used]) == np.sign(gc - gr)[used]))
    assert m["gold_agreement"]["estimate"] == pytest.approx(gold)
    train_d = rc[:40] + 1 - rr[:40]
    train_acc = np.mean((train_d > 0) == (y[:40] == 1))
    assert m["train_accuracy"] == pytest.approx(train_acc)
    assert m["gap"] == pytest.approx(train_acc - acc)
    soup = probe_r[10:20] > probe_r[:10]
    off = probe_r[20:25] > probe_r[[0, 2, 4, 6, 8]]
    assert m["probes"] == {"token_soup": pytest.approx(soup.mean()), "off_prompt": pytest.approx(off.mean())}
    # no gold in the pairs: no gold agreement
    plain = [PreferencePair(p.prompt, p.chosen, p.rejected) for p in pairs]
    assert run_metrics(plain, rc, rr, [], np.zeros(0), np.zeros(0), ProbeItems([], [], 0, {}), np.zeros(0),
                       n_resamples=100)["gold_agreement"] is None


def test_length_spearman_counts_each_distinct_response_once():
    pairs = _pairs()
    rng = np.random.default_rng(2)
    rc, rr = rng.normal(size=len(pairs)), rng.normal(size=len(pairs))
    items = {}
    for p, a, b in zip(pairs, rc, rr, strict=True):
        items.setdefault((p.prompt, p.chosen), (a, len(p.chosen)))
        items.setdefault((p.prompt, p.rejected), (b, len(p.rejected)))
    assert len(items) < 2 * len(pairs)  # the shared answers repeat
    r, ln = np.array(list(items.values())).T
    assert length_spearman(pairs, rc, rr) == pytest.approx(spearmanr(r, ln).statistic)
    lengths = np.array([len(p.chosen) for p in pairs], dtype=float)
    assert length_spearman(pairs, lengths, np.array([len(p.rejected) for p in pairs], float)) == pytest.approx(1.0)


def test_compare_with_plain_is_paired():
    pairs = _pairs()
    rng = np.random.default_rng(3)
    n = len(pairs)
    gc = np.array([p.extra["gold_chosen"] for p in pairs])
    gr = np.array([p.extra["gold_rejected"] for p in pairs])
    probes = _probe_items()
    plain = {"rc": rng.normal(size=n), "rr": rng.normal(size=n), "probe": np.r_[np.ones(10), rng.normal(size=15) - 3]}
    # the variant is the gold utility itself, and its probes never win
    better = {"rc": gc + 0.01, "rr": gr, "probe": np.r_[np.full(10, 5.0), np.zeros(15)]}
    cmp = compare_with_plain(pairs, plain, better, probes, n_resamples=300)
    used = gc != gr
    y = np.array([0.0 if p.label == 0.0 else 1.0 for p in pairs])

    def acc(v):
        d = v["rc"] - v["rr"]
        return np.mean(np.where(d == 0, 0.5, (d > 0) == (y == 1)))

    def agree(v):
        d = (v["rc"] - v["rr"])[used]
        return np.mean(np.where(d == 0, 0.5, np.sign(d) == np.sign(gc - gr)[used]))

    assert cmp["accuracy"]["estimate"] == pytest.approx(acc(better) - acc(plain))
    assert cmp["gold_agreement"]["estimate"] == pytest.approx(agree(better) - agree(plain))
    assert cmp["gold_agreement"]["lo"] > 0 and cmp["helps"] is True
    assert all(not v["worse"] and v["new_wins"] == 0 for v in cmp["probes"].values())
    # the same variant whose token soup now always wins: worse by McNemar, so it does not help
    soupy = {**better, "probe": np.r_[np.zeros(10), np.full(10, 9.0), np.zeros(5)]}
    cmp = compare_with_plain(pairs, plain, soupy, probes, n_resamples=300)
    before = plain["probe"][10:20] > plain["probe"][:10]
    new, lost = int((~before).sum()), 0
    assert cmp["probes"]["token_soup"] == {"new_wins": new, "lost_wins": lost, "p_value": mcnemar_exact(new, lost),
                                           "worse": mcnemar_exact(new, lost) < 0.05}
    assert cmp["helps"] is (not cmp["probes"]["token_soup"]["worse"])
    assert cmp["probes"]["token_soup"]["worse"] and new == 10  # plain: soup never won; now on all 10 prompts


def test_a_variant_losing_over_a_point_of_accuracy_is_warned_about():
    """Issue 23: no mitigation may lower held-out accuracy by more than a point without a warning. A variant that
    flips plain's decision on a known number of pairs loses exactly that share; the warning follows the 1-point
    line and says whether the CI excludes 0."""
    pairs = _pairs()
    n = len(pairs)
    y = np.array([0.0 if p.label == 0.0 else 1.0 for p in pairs])
    probes = _probe_items()
    sign = np.where(y == 1, 1.0, -1.0)
    plain = {"rc": sign * 1.0, "rr": np.zeros(n), "probe": np.zeros(25)}  # right on every pair

    def flipped(k):
        d = sign.copy()
        d[:k] *= -1  # wrong on the first k pairs
        return {"rc": d, "rr": np.zeros(n), "probe": np.zeros(25)}

    rows = []
    for k, variant in [(0, "same"), (1, "one-pair"), (30, "a-quarter")]:
        cmp = compare_with_plain(pairs, plain, flipped(k), probes, n_resamples=300)
        assert cmp["accuracy"]["estimate"] == pytest.approx(-k / n)
        rows.append({"rung": "minilm:6", "variant": variant, "vs_plain": cmp})
    assert [r["vs_plain"]["accuracy_warning"] for r in rows] == [False, False, True]  # 1/120 < 1 point < 30/120
    warns = accuracy_warnings([{"rung": "minilm:6", "variant": "plain"}, *rows])
    assert len(warns) == 1 and warns[0].startswith("minilm:6 a-quarter: held-out accuracy -25.0 points")
    assert "the CI excludes 0" in warns[0]
    # a drop whose CI reaches 0 is still warned about, as possibly noise
    noisy = {"rung": "r", "variant": "v", "vs_plain": {"accuracy": {"estimate": -0.02, "lo": -0.05, "hi": 0.01},
                                                       "accuracy_warning": True}}
    assert "may be noise" in accuracy_warnings([noisy])[0]
    # the warnings reach sweep.md and the printed summary
    row = {**rows[2], "params_total": 1000, "params_trainable": 10, "accuracy": {"estimate": 0.7, "lo": 0.6, "hi": 0.8},
           "train_s": 1.0, "eval_s": 1.0}
    res = SweepResult([row], {"source": "s", "eval_source": "e", "n_train": 1, "n_eval": 1}, 1.0, warnings=warns)
    assert f"- {warns[0]}" in res.markdown() and f"WARNING: {warns[0]}" in res.lines()


def test_count_parameters_leaves_out_peft_copies():
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)
            self.head = nn.Module()
            self.head.original_module = nn.Linear(2, 1)
            self.b = nn.Linear(2, 2)
            self.b.weight.requires_grad_(False)

    assert count_parameters(M()) == (8 + 6, 8 + 2)


def test_probe_items_follow_the_audit(tmp_path):
    pairs = _pairs(60)
    items = ProbeItems.build(pairs, 8, seed=0)
    from rewardlab.probes.adversarial import ADVERSARIAL, adversarial_responses, reference_items

    prompts, refs, _ = reference_items(pairs, 8, 0)
    adv = adversarial_responses(prompts, refs, list(ADVERSARIAL), 0)
    assert items.prompts[: items.n_ref] == prompts and items.responses[: items.n_ref] == refs
    for name, idx in items.where.items():
        assert idx == [i for i, a in enumerate(adv[name]) if a is not None]
    assert len(items.prompts) == items.n_ref + sum(len(v) for v in items.where.values())
    assert ProbeItems.build(pairs, 0, 0).prompts == []
    json.dumps(items.__dict__)  # stored with the run records
