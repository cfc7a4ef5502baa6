"""Length control (`rewardlab.eval.length_control`): the label fit against sklearn and Monte Carlo, what it does
where length is spurious and where length is quality, the guard (held-out accuracy and adversarial probes before
and after), and the CLI flags."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from scipy.optimize import minimize

from conftest import run_cli
from rewardlab import CallableScorer
from rewardlab.audit.adversarial import run_adversarial
from rewardlab.data.schema import PreferencePair
from rewardlab.errors import RewardlabError
from rewardlab.eval.length_control import (
    LengthControl,
    LengthControlSpec,
    control_score_rows,
    cross_fit,
    fit_label_control,
    fit_length_control,
    fit_on_pairs,
    guarded_control,
    mcnemar_exact,
    pair_data,
    probe_check,
    score_pairs,
)
from rewardlab.probes.adversarial import reference_items
from rewardlab.simulate import SimConfig, simulate_pairs
from rewardlab.simulate.datasets import parse_rows
from rewardlab.stats.bootstrap import paired_bootstrap
from rewardlab.stats.calibration import pairwise_correct


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def label_data(n: int, gamma_r: float, gamma_l: float, seed: int):
    """Rewards, lengths and labels drawn from the label model itself: logit = gamma_r * dr + gamma_l * dlog."""
    rng = np.random.default_rng(seed)
    lc, lr = rng.integers(20, 2000, n), rng.integers(20, 2000, n)
    rc, rr = rng.normal(size=n), rng.normal(size=n)
    z = gamma_r * (rc - rr) + gamma_l * (np.log1p(lc) - np.log1p(lr))
    return rc, rr, lc, lr, (rng.random(n) < sigmoid(z)).astype(float)


# ---- the fit ------------------------------------------------------------------------------------------------


def test_label_fit_equals_unpenalized_logistic_regression_of_sklearn() -> None:
    from sklearn.linear_model import LogisticRegression

    rc, rr, lc, lr, y = label_data(3000, 1.2, -0.7, seed=0)
    fit = fit_label_control(rc, rr, lc, lr, y)
    x = np.column_stack([rc - rr, (np.log1p(lc) - np.log1p(lr)) / fit.s])
    ref = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-10, max_iter=10_000).fit(x, y).coef_[0]
    assert fit.method == "labels"
    assert fit.gamma_reward == pytest.approx(ref[0], rel=1e-5)
    assert fit.gamma_length == pytest.approx(ref[1], rel=1e-5)
    assert fit.beta == pytest.approx(-ref[1] / ref[0], rel=1e-5)  # q = r - beta * f matches the fitted log-odds
    # the true length preference the reward lacks, in reward units per unit of log length: -(-0.7) / 1.2
    assert fit.beta / fit.s == pytest.approx(0.7 / 1.2, rel=0.15)
    # refitted with q in place of r, the same pairs' labels find no length coefficient left (a reparametrisation)
    refit = fit_label_control(fit.apply(rc, lc), fit.apply(rr, lr), lc, lr, y)
    assert refit.gamma_length == pytest.approx(0.0, abs=1e-7)
    assert refit.gamma_reward == pytest.approx(fit.gamma_reward, rel=1e-7)


def test_beta_ci_covers_the_truth_about_95_percent_of_the_time() -> None:
    """Monte Carlo over 300 data sets drawn from the model: the delta-method CI of beta covers the true beta in
    about 95% of them (binomial range for 300 draws: 0.92-0.98)."""
    true = 0.5 / 1.0  # -gamma_L / gamma_R, per unit of log length
    covered = []
    for seed in range(300):
        rc, rr, lc, lr, y = label_data(600, 1.0, -0.5, seed=100 + seed)
        fit = fit_label_control(rc, rr, lc, lr, y)
        covered.append(fit.beta_ci[0] <= true * fit.s <= fit.beta_ci[1])
    assert 0.92 <= np.mean(covered) <= 0.985, np.mean(covered)


def test_ties_and_soft_labels_count_half_and_fractionally() -> None:
    """A tie (label 0.5) is the same as one win and one loss of the pair: the soft-label likelihood equals the
    likelihood of the data with the pair duplicated both ways."""
    rc, rr, lc, lr, y = label_data(400, 1.0, -0.4, seed=3)
    y_soft = y.copy()
    y_soft[:50] = 0.5
    fit = fit_label_control(rc, rr, lc, lr, y_soft)
    # every pair twice: a tie once won and once lost, the others with their own label both times
    tie = np.arange(400) < 50
    dup = fit_label_control(np.r_[rc, rc], np.r_[rr, rr], np.r_[lc, lc], np.r_[lr, lr],
                            np.r_[np.where(tie, 1.0, y), np.where(tie, 0.0, y)])
    assert (fit.s, fit.mu) == pytest.approx((dup.s, dup.mu))
    assert (fit.gamma_reward, fit.gamma_length, fit.beta) == pytest.approx(
        (dup.gamma_reward, dup.gamma_length, dup.beta), rel=1e-6)


def test_label_fit_errors() -> None:
    rc, rr, lc, lr, y = label_data(200, 1.0, 0.0, seed=4)
    with pytest.raises(RewardlabError, match="labels must be 200 values in"):
        fit_label_control(rc, rr, lc, lr, y * 2)
    with pytest.raises(RewardlabError, match="perfectly separated"):
        fit_label_control(rc, rr, lc, lr, (rc > rr).astype(float))
    with pytest.raises(RewardlabError, match="does not predict the labels"):
        fit_label_control(-rc, -rr, lc, lr, y)  # a reward that ranks against its labels
    with pytest.raises(RewardlabError, match="collinear"):  # a reward that is the length feature itself
        fit_label_control(lc * 0.5, lr * 0.5, lc, lr, y, feature="chars")
    with pytest.raises(RewardlabError, match="same difference"):
        fit_label_control(np.ones(200), np.zeros(200), lc, lr, y)
    with pytest.raises(RewardlabError, match="at least 10 pairs"):
        fit_label_control([1.0] * 3, [0.0] * 3, [5, 6, 7], [1, 2, 3])
    with pytest.raises(RewardlabError, match="same length ratio"):
        fit_label_control(rc[:12], rr[:12], [10] * 12, [10] * 12)
    with pytest.raises(RewardlabError, match="feature"):
        fit_label_control(rc, rr, lc, lr, y, feature="tokens")  # type: ignore[arg-type]


# ---- spurious length (simulator annotators' bias) and length that is quality ----------------------------------


DIM = 256


def bag_of_words(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), DIM))
    for i, t in enumerate(texts):
        for w in re.findall(r"\w+|[^\w\s]", t.lower()):
            out[i, zlib.crc32(w.encode()) % DIM] += 1
    return out


def train_bow_bt(pairs: list[PreferencePair]) -> CallableScorer:
    """A linear Bradley-Terry reward on a hashed bag of words of the response (scipy L-BFGS, small L2): a reward
    model that learns what its labels teach, length bias included, in a second."""
    x = bag_of_words([p.chosen for p in pairs]) - bag_of_words([p.rejected for p in pairs])
    y = np.array([1.0 if p.label is None else p.label for p in pairs])

    def nll(w):
        z = x @ w
        return np.sum(np.logaddexp(0, z) - y * z) + 1e-2 * w @ w, x.T @ (sigmoid(z) - y) + 2e-2 * w

    w = minimize(nll, np.zeros(DIM), jac=True, method="L-BFGS-B").x
    return CallableScorer(lambda prompts, responses: bag_of_words(list(responses)) @ w, name="bow-bt")


def gold_correct(qc, qr, pairs):
    gc = np.array([p.extra["gold_chosen"] for p in pairs])
    gr = np.array([p.extra["gold_rejected"] for p in pairs])
    used = gc != gr
    return pairwise_correct((np.asarray(qc) - np.asarray(qr))[used], (gc > gr)[used].astype(float))


@pytest.fixture(scope="module")
def spurious():
    """A reward model trained on simulator pairs whose annotators prefer length (length bias 2.0, today's
    spurious-only setting), then fitted on and checked against pairs from annotators without the bias."""
    model = train_bow_bt(parse_rows(simulate_pairs(1500, seed=1, config=SimConfig(length_bias=2.0))))
    fit_pairs = parse_rows(simulate_pairs(800, seed=2, config=SimConfig()))
    test = parse_rows(simulate_pairs(600, seed=3, config=SimConfig()))
    return model, fit_pairs, test, score_pairs(model, test, progress=False)


def test_spurious_length_is_removed_and_gold_agreement_rises(spurious) -> None:
    model, fit_pairs, test, (rc, rr) = spurious
    fit = fit_on_pairs(model, fit_pairs, progress=False)
    assert fit.gamma_length_ci[1] < 0  # the model prefers length more than unbiased labels do
    qc, qr, info = guarded_control(model, test, rc, rr, fit, probes=0, n_resamples=300)
    g = info["guard"]
    assert g["passed"] and g["accuracy"]["difference"]["lo"] > -0.02  # held-out accuracy kept (or better)
    cmp = paired_bootstrap(gold_correct(qc, qr, test), gold_correct(rc, rr, test), n_resamples=500,
                           n_permutations=0)
    assert cmp["difference"]["lo"] > 0, cmp  # gold agreement up, paired 95% CI above 0
    # what q is for: on the held-out labels, q leaves no length preference unexplained; the raw reward does.
    # (Not a zero length correlation: these labels prefer shorter answers given the model's reward.)
    lc, lr, y, _ = pair_data(test)
    assert fit_label_control(rc, rr, lc, lr, y).gamma_length_ci[1] < 0
    refit = fit_label_control(qc, qr, lc, lr, y)
    assert refit.gamma_length_ci[0] < 0 < refit.gamma_length_ci[1]


def test_probe_check_refuses_when_short_garbage_gains(spurious) -> None:
    """The same correction with the probe check on: this bag-of-words model cannot see the prompt, so once its
    length bonus is gone the prompt echo (short, and worth nothing by gold) beats the real answer far more often,
    and the guard refuses; forced, it reports the same failure."""
    model, fit_pairs, test, (rc, rr) = spurious
    fit = fit_on_pairs(model, fit_pairs, progress=False)
    with pytest.raises(RewardlabError, match=r"refused on pairs: adversarial prompt_echo beats the real response"):
        guarded_control(model, test, rc, rr, fit, probes=200, n_resamples=100)
    _, _, info = guarded_control(model, test, rc, rr, fit, probes=200, n_resamples=100, force=True)
    echo = info["guard"]["probes"]["probes"]["prompt_echo"]
    assert info["guard"]["forced"] and echo["worse"] and echo["after"]["estimate"] > echo["before"]["estimate"] + 0.1


def quality_pairs(n: int, seed: int):
    """Pairs where length is quality: a response is k points of varying wordiness, its gold utility is k (more
    points: longer and better), labels are drawn from sigma(gold difference), and the scorer counts the points
    (a reward model that has learned the quality, which comes with length)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        ka, kb = rng.integers(1, 9, 2)
        texts = [" ".join(f"Point {j} about topic {i}{' indeed' * int(rng.integers(0, 6))}." for j in range(k))
                 for k in (ka, kb)]
        a_wins = rng.random() < sigmoid(float(ka) - float(kb))
        (c, kc), (r, kr) = ((texts[0], ka), (texts[1], kb)) if a_wins else ((texts[1], kb), (texts[0], ka))
        pairs.append(PreferencePair(f"Tell me about topic {i}.", c, r,
                                    extra={"gold_chosen": float(kc), "gold_rejected": float(kr)}))

    def points(prompts, responses):
        return [float(r.count("Point")) for r in responses]

    return pairs, CallableScorer(points, name="points")


def test_length_that_is_quality_is_kept_where_regressing_rewards_destroys_it() -> None:
    pairs, scorer = quality_pairs(1600, seed=5)
    fit_set, test = pairs[:1000], pairs[1000:]
    rc, rr = score_pairs(scorer, test, progress=False)
    lc, lr, _, _ = pair_data(test)
    assert np.mean(lc > lr) > 0.75  # longer is better, as in real judge data
    fit = fit_on_pairs(scorer, fit_set, progress=False)
    assert fit.gamma_length_ci[0] < 0 < fit.gamma_length_ci[1]  # no length preference beyond the reward's
    qc, qr, info = guarded_control(scorer, test, rc, rr, fit, probes=0, n_resamples=300)
    assert info["guard"]["passed"]
    assert abs(info["guard"]["accuracy"]["difference"]["estimate"]) < 0.02
    assert abs(gold_correct(qc, qr, test).mean() - gold_correct(rc, rr, test).mean()) < 0.02
    # the probes: the (non-significant) beta < 0 adds a little length preference, which breaks the scorer's ties
    # between an answer and the same number of points behind a confident lead in favour of the longer one
    with pytest.raises(RewardlabError, match="adversarial off_prompt beats the real response"):
        guarded_control(scorer, test, rc, rr, fit, n_resamples=300)
    # the earlier method (regress the reward differences on length) removes the quality with the length
    old = fit_length_control(*score_pairs(scorer, fit_set, progress=False), *pair_data(fit_set)[:2])
    oc, orj = old.apply(rc, lc), old.apply(rr, lr)
    assert gold_correct(oc, orj, test).mean() < gold_correct(rc, rr, test).mean() - 0.2
    with pytest.raises(RewardlabError, match="held-out accuracy"):  # and the guard would have refused it
        guarded_control(scorer, test, rc, rr, old, probes=0, n_resamples=300)


def test_guard_refuses_a_correction_that_wrecks_accuracy() -> None:
    """Positive control: a huge beta makes the shorter answer win; the accuracy check refuses it, and forced, the
    result says so."""
    pairs, scorer = quality_pairs(300, seed=6)
    rc, rr = score_pairs(scorer, pairs, progress=False)
    huge = LengthControl(beta=50.0)
    with pytest.raises(RewardlabError, match=r"held-out accuracy 0\.\d+ -> 0\.\d+ .*--length-control-force"):
        guarded_control(scorer, pairs, rc, rr, huge, n_resamples=200)
    _, _, info = guarded_control(scorer, pairs, rc, rr, huge, n_resamples=200, force=True)
    acc = info["guard"]["accuracy"]
    assert info["guard"]["forced"] and not info["guard"]["passed"]
    assert acc["difference"]["hi"] < 0 and acc["after"]["estimate"] < 0.3 < 0.7 < acc["before"]["estimate"]


def test_probe_shares_equal_the_audits_own() -> None:
    """Before: the audit's `run_adversarial` on the raw scorer; after: the same on a scorer returning the controlled
    rewards; McNemar's p equals scipy's exact binomial test."""
    pairs, scorer = quality_pairs(120, seed=7)
    lc_ = LengthControl(beta=0.8, feature="chars", mu=0.0, s=100.0)
    chk = probe_check(scorer, pairs, lambda r, ln, p: lc_.apply(r, ln), k=80, seed=1)
    prompts, refs, _ = reference_items(pairs, 80, 1)
    controlled = CallableScorer(lambda prompts, responses: lc_.apply(
        scorer.score(prompts, responses, progress=False).mean, [len(r) for r in responses]), name="q")
    for key, sc in (("before", scorer), ("after", controlled)):
        audit = run_adversarial(sc, prompts, refs, seed=1, progress=False)["probes"]
        for name, pr in chk["probes"].items():
            assert pr[key]["estimate"] == pytest.approx(audit[name]["share_outscores"]["estimate"]), (key, name)
    for b, c in ((6, 0), (9, 3), (2, 5), (0, 0), (40, 21)):
        ref = stats.binomtest(b, b + c, 0.5).pvalue if b + c else 1.0
        assert mcnemar_exact(b, c) == pytest.approx(ref, rel=1e-9)


def test_cross_fit_uses_the_other_halfs_labels() -> None:
    rc, rr, lc, lr, y = label_data(600, 1.0, -0.6, seed=8)
    prompts = [f"p{i}" for i in range(600)]
    qc, qr, info = cross_fit(rc, rr, lc, lr, prompts, labels=y)
    from rewardlab.eval.length_control import prompt_fold

    fold = np.array([prompt_fold(p) for p in prompts])
    other = fit_label_control(rc[fold == 1], rr[fold == 1], lc[fold == 1], lr[fold == 1], y[fold == 1])
    assert info["folds"][1]["beta"] == pytest.approx(other.beta)
    assert np.allclose(qc[fold == 0], other.apply(rc[fold == 0], lc[fold == 0]))
    with pytest.raises(RewardlabError, match="--length-control-data"):
        control_score_rows([{"response": "a", "reward": 1.0}], [object()], None)
    with pytest.raises(RewardlabError, match="3 rewards but 2 lengths"):
        LengthControl(1.0).apply([1.0, 2.0, 3.0], [1, 2])
    assert LengthControlSpec(enabled=True, feature="chars", force=True).force


# ---- the CLI ------------------------------------------------------------------------------------------------


SCORER = '''
def reward(prompts, responses):
    """Quality words count, and a length bonus the labels do not support."""
    return [r.count("good") + 0.03 * len(r) for r in responses]
'''


def write_pairs(path: Path, n: int, seed: int, length_weight: float, prefix: str = "") -> None:
    """Pairs labelled by sigma(quality difference + length_weight * length difference in 100s of characters)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        (qa, qb), (ka, kb) = (0, 0), (0, 0)
        while (qa, ka) == (qb, kb):
            (qa, qb), (ka, kb) = rng.integers(0, 4, 2), rng.integers(0, 12, 2)
        a, b = "good " * (1 + qa) + "so " * ka + "end.", "good " * (1 + qb) + "so " * kb + "end."
        z = float(qa - qb) + length_weight * (len(a) - len(b)) / 100
        c, r = (a, b) if rng.random() < sigmoid(z) else (b, a)
        rows.append({"prompt": f"{prefix}Question {i}?", "chosen": c, "rejected": r})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_cli_eval_and_score_with_length_control(tmp_path, monkeypatch) -> None:
    import rewardlab.eval.plots

    monkeypatch.setattr(rewardlab.eval.plots, "make_plots", lambda out, result: {})  # not under test
    (tmp_path / "lc_scorer.py").write_text(SCORER)
    monkeypatch.syspath_prepend(str(tmp_path))
    data, held = tmp_path / "pairs.jsonl", tmp_path / "held.jsonl"
    write_pairs(data, 300, seed=1, length_weight=0.0)
    write_pairs(held, 300, seed=2, length_weight=0.0, prefix="Other ")
    model = "py:lc_scorer:reward"
    res = run_cli("eval", "--model", model, "-d", data, "-o", tmp_path / "ev", "--length-control",
                  "--n-resamples", 200, "--no-report")
    assert "cross-fitted on prompt halves' labels" in res.stdout and "held-out accuracy" in res.stdout
    assert "adversarial probes beat the real response" in res.stdout and "check: passed" in res.stdout
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())["datasets"]["pairs"]
    lc = m["length_controlled"]
    assert lc["method"] == "cross-fit" and all(f["gamma_length"] < 0 for f in lc["folds"])
    g = lc["guard"]
    assert g["passed"] and g["accuracy"]["after"] == lc["accuracy"] and g["accuracy"]["before"]["estimate"] == \
        pytest.approx(m["accuracy"]["estimate"])
    assert set(g["probes"]["probes"]) == {"token_soup", "prompt_echo", "off_prompt"}
    from rewardlab.report import build_report

    html = Path(build_report(tmp_path / "ev")).read_text()
    assert "length-controlled accuracy: q = reward - beta * f(length)" in html

    out = tmp_path / "scores.jsonl"
    res = run_cli("score", "--model", model, "-d", data, "-o", out, "--length-control", "--length-control-data",
                  held)
    assert "labels' length coefficient gamma_L" in res.stdout and "check: passed" in res.stdout
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(scored) == 600 and all("reward_raw" in r for r in scored)
    side = json.loads((tmp_path / "scores.length_control.json").read_text())
    assert side["fit"]["source"] == str(held) and side["guard"]["passed"]

    # labels that prefer short answers: the fit wants a big length penalty, which wrecks these pairs
    short = tmp_path / "short.jsonl"
    write_pairs(short, 300, seed=3, length_weight=-10.0, prefix="Short ")
    bad = run_cli("score", "--model", model, "-d", data, "-o", out, "--length-control", "--length-control-data",
                  short, check=False)
    assert bad.returncode == 2 and "length control refused on the scored pairs: held-out accuracy" in bad.stderr
    forced = run_cli("eval", "--model", model, "-d", data, "-o", tmp_path / "ev2", "--length-control",
                     "--length-control-data", short, "--length-control-force", "--n-resamples", 200, "--no-report")
    assert "check: FAILED, used anyway" in forced.stdout
    m2 = json.loads((tmp_path / "ev2" / "metrics.json").read_text())["datasets"]["pairs"]
    assert m2["length_controlled"]["guard"]["forced"]
    assert any("used anyway" in w for w in m2["warnings"])
    off = run_cli("score", "--model", model, "-d", data, "-o", out, "--length-control-force", check=False)
    assert off.returncode == 2 and "--length-control-force applies with --length-control" in off.stderr


def test_eval_reports_the_gold_agreement_of_the_length_controlled_reward() -> None:
    """A scorer that adds a length bonus to the hidden gold utility, on pairs whose labels follow gold: eval
    reports the gold agreement of q = reward - beta * f(length) beside the raw one, equal to `gold_agreement`
    computed directly on q, and higher than the raw reward's."""
    from rewardlab.eval.evaluate import eval_pairs
    from rewardlab.stats.metrics import gold_agreement

    rng = np.random.default_rng(4)
    n = 400
    gold = {}
    pairs = []
    for i in range(n):
        texts = ("x" * int(rng.integers(5, 900)) + f" c{i}", "y" * int(rng.integers(5, 900)) + f" r{i}")
        g = rng.normal(size=2)
        gold.update(zip(texts, g, strict=True))
        pairs.append(PreferencePair(f"prompt {i}", *texts, label=float(rng.random() < sigmoid(2 * (g[0] - g[1]))),
                                    extra={"gold_chosen": float(g[0]), "gold_rejected": float(g[1])}))
    biased = CallableScorer(lambda p, r: gold[r] + 1.5 * np.log1p(len(r)), name="biased")
    m, rows = eval_pairs(biased, pairs, n_resamples=100, seed=0, progress=False, length_control="cross-fit",
                         length_control_probes=0)  # the lookup scorer knows only these texts
    lc = m["length_controlled"]
    qc = np.array([r["q_chosen"] for r in rows])
    qr = np.array([r["q_rejected"] for r in rows])
    gc = np.array([p.extra["gold_chosen"] for p in pairs])
    gr = np.array([p.extra["gold_rejected"] for p in pairs])
    direct = gold_agreement(qc, qr, gc, gr, n_resamples=100, seed=0)["agreement"]
    assert lc["gold_agreement"]["agreement"]["estimate"] == pytest.approx(direct["estimate"])
    assert lc["gold_agreement"]["agreement"]["estimate"] > m["gold_agreement"]["agreement"]["estimate"] + 0.1
    assert lc["guard"]["passed"] and lc["guard"]["probes"] is None
