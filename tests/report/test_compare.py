"""`rewardlab report A B ...`: models side by side, each beside the first, checked against numbers computed here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import run_cli
from rewardlab import CallableScorer, audit, evaluate, simulate_pairs
from rewardlab.audit import builtin_cases, default_pairs
from rewardlab.simulate.datasets import parse_rows


def _gold_order(rows):
    gc = np.array([r["gold_chosen"] for r in rows])
    gr = np.array([r["gold_rejected"] for r in rows])
    return gc, gr


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two callables evaluated and audited into one folder each: longer wins, and words-per-sentence."""
    tmp = tmp_path_factory.mktemp("cmp")
    rows = simulate_pairs(120, seed=3)
    data = {"sim": parse_rows(rows)}
    scorers = {"longer": lambda p, r: float(len(r)),
               "terse": lambda p, r: -float(len(r.split())) + 0.5 * r.count("!")}
    out = {}
    for name, fn in scorers.items():
        s = CallableScorer(fn, name=name)
        # longer: eval and audit in one folder; terse: each in its own
        audit_dir = tmp / name if name == "longer" else tmp / f"{name}-audit"
        evaluate(s, data, tmp / name, n_resamples=200, progress=False, plots=False)
        audit(s, default_pairs(60), builtin_cases(20), audit_dir, n_resamples=100, n_probe=20, progress=False)
        out[name] = tmp / name
        out[f"{name}-audit"] = audit_dir
    return rows, scorers, out


def test_comparison_numbers_match_a_direct_computation(folders, tmp_path):
    rows, scorers, dirs = folders
    res = run_cli("report", f"longer={dirs['longer']}", f"terse={dirs['terse']},{dirs['terse-audit']}", "-o",
                  tmp_path / "cmp")
    assert "comparison.html" in res.stdout
    cmp = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert cmp["baseline"] == "longer" and list(cmp["models"]) == ["longer", "terse"]

    def correct(fn, order):
        d = np.array([fn(r["prompt"], r["chosen"]) - fn(r["prompt"], r["rejected"]) for r in rows])
        return np.where(d == 0, 0.5, ((d > 0) == order).astype(float))

    labels = np.array([r["label"] for r in rows]) >= 0.5
    acc = {n: correct(fn, labels) for n, fn in scorers.items()}
    terse = cmp["models"]["terse"]["datasets"]["sim"]
    assert terse["accuracy"]["estimate"] == pytest.approx(acc["terse"].mean())
    diff = terse["vs_baseline"]["accuracy"]["difference"]
    assert diff["estimate"] == pytest.approx(acc["terse"].mean() - acc["longer"].mean())
    assert diff["lo"] <= diff["estimate"] <= diff["hi"]
    gc, gr = _gold_order(rows)
    keep = gc != gr
    gold = {n: correct(fn, gc > gr)[keep] for n, fn in scorers.items()}
    gd = terse["vs_baseline"]["gold_agreement"]
    assert gd["n"] == int(keep.sum())
    assert gd["difference"]["estimate"] == pytest.approx(gold["terse"].mean() - gold["longer"].mean())
    assert terse["gold_agreement"]["estimate"] == pytest.approx(gold["terse"].mean())
    # within-pair correlation of reward with length (characters) on the evaluated pairs, by hand
    lc = cmp["models"]["longer"]["datasets"]["sim"]["length_correlation"]
    assert lc["within_pearson"]["estimate"] == pytest.approx(1.0)
    dr = np.array([scorers["terse"](r["prompt"], r["chosen"]) - scorers["terse"](r["prompt"], r["rejected"])
                   for r in rows])
    dl = np.array([len(r["chosen"]) - len(r["rejected"]) for r in rows], dtype=float)
    want = (dr @ dl) / np.sqrt((dr @ dr) * (dl @ dl))  # within-pair deviations are +-d/2: centred at 0
    got = terse["length_correlation"]["within_pearson"]["estimate"]
    assert got == pytest.approx(want, abs=1e-9) and got < -0.5
    # the audit side: flags and length correlations as audit.json has them
    for name in scorers:
        a = json.loads((dirs[f"{name}-audit"] / "audit.json").read_text())
        mine = cmp["models"][name]["audit"]
        assert mine["n_flags"] == len(a["flags"]) and mine["flags"] == a["flags"]
        assert mine["length_correlation"]["within_spearman"] == a["features"]["length_tokens"]["within_spearman"]
        assert mine["length_balanced_accuracy"] == a["length_control"]["length_balanced_accuracy"]
    assert cmp["models"]["longer"]["audit"]["length_correlation"]["spearman"]["estimate"] > 0.9
    assert cmp["models"]["terse"]["audit"]["length_correlation"]["spearman"]["estimate"] < -0.5
    page = (tmp_path / "cmp" / "comparison.html").read_text()
    assert "longer (baseline)" in page and "gold agreement" in page and "length-balanced accuracy" in page


def test_comparison_errors_are_named(folders, tmp_path):
    _, _, dirs = folders
    res = run_cli("report", str(dirs["longer"]), str(dirs["terse"]), check=False)
    assert res.returncode == 2 and "--output" in res.stderr
    res = run_cli("report", f"a={dirs['longer']}", f"b={tmp_path}", "-o", tmp_path / "x", check=False)
    assert res.returncode == 2 and str(tmp_path) in res.stderr and "no metrics.json or audit.json" in res.stderr
    res = run_cli("report", f"a={dirs['longer']}", f"a={dirs['terse']}", "-o", tmp_path / "x", check=False)
    assert res.returncode == 2 and "two models are named 'a'" in res.stderr
