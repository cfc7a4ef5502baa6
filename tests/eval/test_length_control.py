"""Length control (`rewardlab.eval.length_control`): the fit recovers beta, q is free of length, and the CLI flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from conftest import run_cli
from rewardlab import CallableScorer
from rewardlab.data.schema import PreferencePair
from rewardlab.errors import RewardlabError
from rewardlab.eval.length_control import (
    LengthControl,
    LengthControlSpec,
    control_score_rows,
    cross_fit,
    fit_length_control,
    fit_on_pairs,
)


def synthetic(n: int = 400, beta: float = 0.8, seed: int = 0):
    """Pairs whose reward is exactly true quality + beta * log(1 + chars); quality independent of length."""
    rng = np.random.default_rng(seed)
    lc, lr = rng.integers(20, 2000, n), rng.integers(20, 2000, n)
    qc, qr = rng.normal(size=n), rng.normal(size=n)
    return qc + beta * np.log1p(lc), qr + beta * np.log1p(lr), lc, lr, qc, qr


def test_fit_recovers_beta_against_scipy_least_squares() -> None:
    rc, rr, lc, lr, _, _ = synthetic()
    fit = fit_length_control(rc, rr, lc, lr)
    x = (np.log1p(lc) - np.log1p(lr)) / fit.s
    ref = stats.linregress(x, rc - rr)  # an independent OLS (with intercept; ours is through the origin)
    assert fit.beta == pytest.approx(np.linalg.lstsq(x[:, None], rc - rr, rcond=None)[0][0], rel=1e-12)
    assert fit.beta == pytest.approx(ref.slope, abs=3 * ref.stderr)
    assert fit.beta / fit.s == pytest.approx(0.8, abs=0.08)  # the true beta per unit of log length
    assert fit.beta_ci[0] < 0.8 * fit.s < fit.beta_ci[1]
    assert fit.beta_se == pytest.approx(ref.stderr, rel=0.25)  # robust SE close to the classical one here


def test_q_has_no_length_correlation_and_matches_the_true_quality() -> None:
    rc, rr, lc, lr, qc_true, qr_true = synthetic(beta=1.5, seed=1)
    fit = fit_length_control(rc, rr, lc, lr)
    assert abs(stats.pearsonr(rc, np.log1p(lc))[0]) > 0.5  # the raw reward follows length
    qc, qr = fit.apply(rc, lc), fit.apply(rr, lr)
    q = np.concatenate([qc, qr])
    lengths = np.log1p(np.concatenate([lc, lr]))
    assert abs(stats.pearsonr(q, lengths)[0]) < 0.1
    x = np.log1p(lc) - np.log1p(lr)
    assert abs(float((qc - qr) @ x)) < 1e-9 * float(np.abs(rc - rr) @ np.abs(x))  # orthogonal on the fit pairs
    assert stats.pearsonr(q, np.concatenate([qc_true, qr_true]))[0] > 0.95


def test_length_only_scorer_has_no_length_dependence_after_cross_fitting() -> None:
    rng = np.random.default_rng(2)
    n = 300
    pairs = [PreferencePair(f"prompt {i}", "a" * int(a), "b" * int(b))
             for i, (a, b) in enumerate(zip(rng.integers(5, 900, n), rng.integers(5, 900, n), strict=True))]
    longer = CallableScorer(lambda p, r: float(len(r)), name="longer")
    r = longer.score([p.prompt for p in pairs] * 2, [p.chosen for p in pairs] + [p.rejected for p in pairs],
                     progress=False).mean
    lc = np.array([len(p.chosen) for p in pairs], float)
    lr = np.array([len(p.rejected) for p in pairs], float)
    prompts = [p.prompt for p in pairs]
    for feature, tol in (("log_chars", 0.1), ("chars", 1e-9)):
        qc, qr, info = cross_fit(r[:n], r[n:], lc, lr, prompts, feature)
        assert info["method"] == "cross-fit" and len(info["folds"]) == 2
        f_diff = np.log1p(lc) - np.log1p(lr) if feature == "log_chars" else lc - lr
        assert abs(stats.pearsonr(r[:n] - r[n:], f_diff)[0]) > 0.8
        assert abs(stats.pearsonr(qc - qr, f_diff)[0]) < tol or np.ptp(qc - qr) < 1e-6
    # fitted on other pairs (fit_on_pairs scores them) and applied here: the same, without cross-fitting
    fit = fit_on_pairs(longer, pairs[:150], "chars", source="first half", progress=False)
    assert np.ptp(fit.apply(r[150:n], lc[150:]) - fit.apply(r[n + 150:], lr[150:])) < 1e-6


def test_errors_and_spec() -> None:
    with pytest.raises(RewardlabError, match="at least 10 pairs"):
        fit_length_control([1.0] * 3, [0.0] * 3, [5, 6, 7], [1, 2, 3])
    with pytest.raises(RewardlabError, match="same length ratio"):
        fit_length_control(np.ones(12), np.zeros(12), [10] * 12, [10] * 12)
    with pytest.raises(RewardlabError, match="feature"):
        fit_length_control(np.ones(12), np.zeros(12), range(12), range(1, 13), feature="tokens")  # type: ignore[arg-type]
    with pytest.raises(RewardlabError, match="--length-control-data"):
        control_score_rows([{"response": "a", "reward": 1.0}], [object()], None)
    with pytest.raises(RewardlabError, match="3 rewards but 2 lengths"):
        LengthControl(1.0).apply([1.0, 2.0, 3.0], [1, 2])
    assert LengthControlSpec(enabled=True, feature="chars").feature == "chars"


def test_cli_eval_and_score_with_length_control(tmp_path, tiny_rm, monkeypatch) -> None:
    import rewardlab.eval.plots

    monkeypatch.setattr(rewardlab.eval.plots, "make_plots", lambda out, result: {})  # not under test
    rng = np.random.default_rng(3)
    rows = [{"prompt": f"Question {i}?", "chosen": "Yes. " * int(a), "rejected": "No. " * int(b)}
            for i, (a, b) in enumerate(zip(rng.integers(1, 6, 28), rng.integers(1, 6, 28), strict=True))]
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    held = tmp_path / "held.jsonl"
    # 12 fit pairs, 3 of whose prompts are also scored: said in a note, not silent
    held.write_text("".join(json.dumps({**r, "prompt": ("" if i < 3 else "Other ") + r["prompt"]}) + "\n"
                            for i, r in enumerate(rows[:12])))
    res = run_cli("eval", "--model", tiny_rm, "-d", data, "-o", tmp_path / "ev", "--length-control",
                  "--n-resamples", 50, "--no-report", "--device", "cpu")
    assert "length-controlled accuracy" in res.stdout and "cross-fitted on prompt halves" in res.stdout
    m = json.loads((tmp_path / "ev" / "metrics.json").read_text())["datasets"]["pairs"]
    lc = m["length_controlled"]
    assert lc["method"] == "cross-fit" and set(lc["accuracy"]) == {"estimate", "lo", "hi", "confidence"}
    assert m["accuracy"]["estimate"] is not None  # the raw accuracy stays beside it
    from rewardlab.report import build_report

    html = Path(build_report(tmp_path / "ev")).read_text()
    assert "length-controlled accuracy: q = reward - beta * f(length)" in html
    out = tmp_path / "scores.jsonl"
    res = run_cli("score", "--model", tiny_rm, "-d", data, "-o", out, "--length-control",
                  "--length-control-data", held, "--length-control-feature", "chars", "--device", "cpu")
    assert "length control: beta" in res.stdout and "held.jsonl" in res.stdout
    assert "note: --length-control-data shares 3 prompt(s) with" in res.stderr
    scored = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(scored) == 56 and all("reward_raw" in r for r in scored)
    assert any(abs(r["reward"] - r["reward_raw"]) > 0 for r in scored)
    bad = run_cli("score", "--model", tiny_rm, "-d", data, "-o", out, "--length-control-data", held, check=False)
    assert bad.returncode == 2 and "--length-control-data applies with --length-control" in bad.stderr


def test_eval_reports_the_gold_agreement_of_the_length_controlled_reward() -> None:
    """A scorer that adds a length bonus to the hidden gold utility: on simulator-style pairs (gold utilities in
    the record), eval reports the gold agreement of q = reward - beta * f(length) beside the raw one, equal to
    `gold_agreement` computed directly on q, and higher than the raw reward's."""
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
        pairs.append(PreferencePair(f"prompt {i}", *texts, label=float(g[0] > g[1]),
                                    extra={"gold_chosen": float(g[0]), "gold_rejected": float(g[1])}))
    biased = CallableScorer(lambda p, r: gold[r] + 1.5 * np.log1p(len(r)), name="biased")
    m, rows = eval_pairs(biased, pairs, n_resamples=100, seed=0, progress=False, length_control="cross-fit")
    lc = m["length_controlled"]
    qc = np.array([r["q_chosen"] for r in rows])
    qr = np.array([r["q_rejected"] for r in rows])
    gc = np.array([p.extra["gold_chosen"] for p in pairs])
    gr = np.array([p.extra["gold_rejected"] for p in pairs])
    direct = gold_agreement(qc, qr, gc, gr, n_resamples=100, seed=0)["agreement"]
    assert lc["gold_agreement"]["agreement"]["estimate"] == pytest.approx(direct["estimate"])
    assert lc["gold_agreement"]["agreement"]["estimate"] > m["gold_agreement"]["agreement"]["estimate"] + 0.1
