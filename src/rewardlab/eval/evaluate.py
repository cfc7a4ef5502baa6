"""`rewardlab eval`: score preference pairs, K-sample sets and battles with any Scorer, compute every metric of
ALGORITHMS.md section 3 with CIs, and write metrics.json, per-item scores and plots to one folder.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rewardlab.data.schema import Battle, KSampleSet, PreferencePair, Record, text_of
from rewardlab.errors import RewardlabError
from rewardlab.kinds import KindHooks, get_kind
from rewardlab.results import read_result, write_result
from rewardlab.results.metrics import EvalMetrics
from rewardlab.scoring.base import Scorer
from rewardlab.stats.bootstrap import paired_bootstrap
from rewardlab.stats.calibration import fit_temperature, pairwise_correct, pairwise_ece
from rewardlab.stats.harm import harm_aware_metrics
from rewardlab.stats.metrics import best_of_4_accuracy, gold_agreement, graded_metrics, pairwise_metrics
from rewardlab.stats.ppe import _bok_weights, ppe_correctness_metrics, ppe_preference_metrics
from rewardlab.stats.util import jsonable

SCHEMA = "rewardlab.eval/1"


def _fold(prompt: Any) -> bool:
    """Deterministic by-prompt half split (temperature is fitted on one half, checked on the other)."""
    h = hashlib.sha1(json.dumps(prompt, sort_keys=True, ensure_ascii=False).encode()).digest()
    return h[0] % 2 == 0


def _has_gold(recs: Sequence[Any], a: str, b: str) -> bool:
    return bool(recs) and all(a in r.extra and b in r.extra for r in recs)


def pair_warnings(m: dict[str, Any], model_correct: np.ndarray, longer_correct: np.ndarray | None,
                  seed: int) -> list[str]:
    """Plain-language warnings: indistinguishable from length, length-degenerate categories, calibration, ties."""
    out = []
    acc = m["accuracy"]["estimate"]
    if longer_correct is not None:
        cmp = paired_bootstrap(model_correct, longer_correct, n_resamples=500, seed=seed, n_permutations=2000)
        lw = m["length_baselines"]["longer"]["estimate"]
        if cmp["p_value"] > 0.05:
            out.append(f"accuracy {acc:.3f} is not distinguishable from the longer-wins baseline {lw:.3f} "
                       f"(paired p = {cmp['p_value']:.3f})")
        for cat, cm in (m.get("per_category") or {}).items():
            lb = (cm.get("length_baselines") or {}).get("longer", {}).get("estimate")
            if lb is not None and cm["n"] >= 20 and (lb >= 0.8 or lb <= 0.2):
                out.append(f"category {cat!r} is length-degenerate: picking the longer response scores {lb:.2f}")
    if m.get("model_tie_rate", 0) > 0.01:
        out.append(f"{m['model_tie_rate']:.1%} of pairs get identical rewards (counted as 0.5)")
    ece = (m.get("ece") or {}).get("estimate")
    if ece is not None and ece > 0.1:
        out.append(f"poorly calibrated: ECE {ece:.3f} before temperature scaling")
    return out


def length_controlled(scorer: Scorer, pairs: list[PreferencePair], rc: np.ndarray, rr: np.ndarray, control: Any,
                      n_resamples: int, seed: int, feature: str = "log_chars", probes: int = 200,
                      force: bool = False, name: str = "pairs") -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    """Accuracy after length control (`rewardlab.eval.length_control`), checked: with a fitted LengthControl
    (fitted on other pairs' labels) or "cross-fit" (each half of the prompts controlled with the label fit of the
    other half, with `feature`). "guard" holds the held-out accuracy before and after and the adversarial probes'
    win shares before and after (`guarded_control`, which refuses a failing control unless `force`).
    "corr_reward_diff_length_diff" is the Pearson correlation of the pairs' reward differences with their
    length-feature differences, raw and controlled.

    Returns:
        (metrics["length_controlled"], q_chosen, q_rejected).

    Raises:
        RewardlabError: an unknown `control`, or a control that fails its check without `force`.
    """
    from rewardlab.eval.length_control import LengthControl, guarded_control

    if not (isinstance(control, LengthControl) or control == "cross-fit"):
        raise RewardlabError(f"length_control must be a LengthControl or 'cross-fit', got {control!r}")
    fitted = control if isinstance(control, LengthControl) else None
    qc, qr, fit = guarded_control(scorer, pairs, rc, rr, fitted, feature, probes=probes,  # type: ignore[arg-type]
                                  n_resamples=n_resamples, seed=seed, force=force, progress=False, name=name)
    if fitted is not None:
        feature = fitted.feature
    len_chosen = np.array([len(text_of(p.chosen)) for p in pairs], dtype=float)
    len_rejected = np.array([len(text_of(p.rejected)) for p in pairs], dtype=float)
    f_diff = (np.log1p(len_chosen) - np.log1p(len_rejected)) if feature == "log_chars" else len_chosen - len_rejected

    def corr(d: np.ndarray) -> float | None:
        return float(np.corrcoef(d, f_diff)[0, 1]) if np.std(d) > 0 and np.std(f_diff) > 0 else None

    out = {**fit, "feature": feature, "accuracy": fit["guard"]["accuracy"]["after"],
           "corr_reward_diff_length_diff": {"raw": corr(rc - rr), "controlled": corr(qc - qr)}}
    return out, qc, qr


def eval_pairs(scorer: Scorer, pairs: list[PreferencePair], n_resamples: int, seed: int, progress: bool,
               sections: dict[str, str] | None = None,
               length_control: Any = None, length_control_feature: str = "log_chars",
               length_control_probes: int = 200, length_control_force: bool = False, name: str = "pairs",
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Metrics and per-pair rows for preference pairs; with `length_control` (a fitted `LengthControl` or
    "cross-fit") also the checked accuracy of the length-controlled rewards ("length_controlled", with the
    accuracy and the adversarial probes before and after under "guard"; with the simulator's gold utilities in
    the pairs, also their gold agreement)."""
    n = len(pairs)
    prompts = [p.prompt for p in pairs] * 2
    out = scorer.score(prompts, [p.chosen for p in pairs] + [p.rejected for p in pairs], progress=progress)
    rc, rr = out.mean[:n], out.mean[n:]
    y = np.array([0.5 if p.tie else (1.0 if p.label is None else p.label) for p in pairs])
    cats = [p.category or "all" for p in pairs]
    len_chosen = np.array([len(text_of(p.chosen)) for p in pairs], dtype=float)
    len_rejected = np.array([len(text_of(p.rejected)) for p in pairs], dtype=float)
    fold = np.array([_fold(p.prompt) for p in pairs])
    prompt_ids = np.array([hashlib.sha1(json.dumps(p.prompt, sort_keys=True).encode()).hexdigest()[:12]
                           for p in pairs])
    cluster = prompt_ids if len(set(prompt_ids)) < n else None
    validation = (rc[fold], rr[fold], y[fold]) if fold.sum() >= 20 and (~fold).sum() >= 20 else None
    m = pairwise_metrics(rc, rr, labels=y, categories=cats, len_chosen=len_chosen, len_rejected=len_rejected,
                         n_resamples=n_resamples, seed=seed, validation=validation, cluster=cluster,
                         sections=sections)
    if validation is not None:
        t = fit_temperature(rc[fold] - rr[fold], y[fold])
        m["ece_calibrated_heldout"] = {"value": pairwise_ece((rc - rr)[~fold] / t, y[~fold]), "temperature": t,
                                       "n": int((~fold).sum())}
    gold = None
    if _has_gold(pairs, "gold_chosen", "gold_rejected"):
        gc = np.array([p.extra["gold_chosen"] for p in pairs], dtype=float)
        gr = np.array([p.extra["gold_rejected"] for p in pairs], dtype=float)
        gold = (gc, gr)
        m["gold_agreement"] = gold_agreement(rc, rr, gc, gr, n_resamples=n_resamples, seed=seed)
        m["gold_utility_accuracy"] = float(np.mean(np.where(gc == gr, 0.5, (gc > gr) == (y >= 0.5))))
    if out.std is not None:
        m["mean_std"] = float(np.mean(out.std))
    model_correct = pairwise_correct(rc - rr, y)
    longer_correct = pairwise_correct(len_chosen - len_rejected, y)
    m["warnings"] = pair_warnings(m, model_correct, longer_correct, seed)
    q = None
    if length_control is not None:
        m["length_controlled"], qc, qr = length_controlled(scorer, pairs, rc, rr, length_control, n_resamples, seed,
                                                           length_control_feature, length_control_probes,
                                                           length_control_force, name)
        if m["length_controlled"]["guard"]["forced"]:
            m["warnings"].append("length control failed its check and was used anyway (--length-control-force): "
                                 + "; ".join(m["length_controlled"]["guard"]["reasons"]))
        q = (qc, qr)
        if gold is not None:  # what the length-controlled reward knows of the simulator's hidden utility
            m["length_controlled"]["gold_agreement"] = gold_agreement(qc, qr, *gold, n_resamples=n_resamples,
                                                                      seed=seed)
    rows = []
    for i, p in enumerate(pairs):
        row = {"id": p.id or str(i), "category": p.category, "reward_chosen": float(rc[i]),
               "reward_rejected": float(rr[i]), "label": float(y[i]), "len_chosen": int(len_chosen[i]),
               "len_rejected": int(len_rejected[i])}
        if out.std is not None:
            row["std_chosen"], row["std_rejected"] = float(out.std[i]), float(out.std[n + i])
        if q is not None:
            row["q_chosen"], row["q_rejected"] = float(q[0][i]), float(q[1][i])
        if gold is not None:  # simulator pairs: the hidden gold utilities, for paired gold comparisons
            row["gold_chosen"], row["gold_rejected"] = float(gold[0][i]), float(gold[1][i])
        rows.append(row)
    return jsonable(m), rows


def gold_best_of_k(values: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Exact expected gold value of the RM's pick from a random K-subset, K = 1..n (ALGORITHMS.md section 4)."""
    order = np.argsort(scores, kind="stable")
    return _bok_weights(len(values)) @ np.asarray(values, dtype=float)[order]


def harm_aware_eval(pred: np.ndarray, gold: np.ndarray, sets: list[KSampleSet], n_resamples: int,
                    seed: int) -> dict[str, Any]:
    """Harm-aware error metrics of the RM on equal-sized pools (ALGORITHMS.md section 3): the base policy is the
    softmax of the records' `logprobs` when every record has them, else uniform over each pool."""
    lps = [s.extra.get("logprobs") for s in sets]
    log_pi0 = None
    if all(isinstance(lp, list) and len(lp) == gold.shape[1] for lp in lps):
        log_pi0 = np.asarray(lps, dtype=float)
    h = harm_aware_metrics(pred, gold, log_pi0, n_resamples=n_resamples, seed=seed)
    h["pi0"] = "logprobs" if log_pi0 is not None else "uniform"
    return h


def eval_ksample(scorer: Scorer, sets: list[KSampleSet], n_resamples: int, seed: int,
                 progress: bool, **_options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Ranking metrics (Spearman/Kendall), PPE correctness metrics and gold best-of-K curves for K-wise sets.

    Raises:
        RewardlabError: a set without graded scores (fresh samples), naming it, before any scoring.
    """
    missing = next((s.id or str(i) for i, s in enumerate(sets) if s.scores is None), None)
    if missing is not None:
        raise RewardlabError(f"K-sample record {missing} has no 'scores' (graded ratings or gold utility), which "
                             "ranking metrics compare with; fresh samples from rewardlab generate go to bon or "
                             "goodhart (with a gold scorer) instead")
    prompts = [s.prompt for s in sets for _ in s.responses]
    resp = [r for s in sets for r in s.responses]
    out = scorer.score(prompts, resp, progress=progress)
    pred, k0 = [], 0
    for s in sets:
        pred.append(out.mean[k0 : k0 + len(s.responses)])
        k0 += len(s.responses)
    groups = np.repeat(np.arange(len(sets)), [len(s.responses) for s in sets])
    true = np.concatenate([np.asarray(s.scores) for s in sets])
    m: dict[str, Any] = {"n_sets": len(sets), "n_responses": len(resp),
                         "ranking": graded_metrics(out.mean, true, groups=groups, n_resamples=n_resamples, seed=seed)}
    if all(s.correct is not None for s in sets):
        m["correctness"] = ppe_correctness_metrics(pred, [s.correct for s in sets], n_resamples=n_resamples, seed=seed)
        single = [(p, s) for p, s in zip(pred, sets, strict=True) if sum(s.correct or []) == 1]
        if single:  # RewardBench-v2 style: one correct response among K, credit 1/(#tied at max)
            ch = [float(p[s.correct.index(1)]) for p, s in single]  # type: ignore[union-attr]
            rej = [[float(x) for x, c in zip(p, s.correct, strict=True) if not c] for p, s in single]  # type: ignore[arg-type]
            m["best_of_k_credit"] = best_of_4_accuracy(ch, rej, n_resamples=n_resamples, seed=seed)
    ks = {len(s.responses) for s in sets}
    if len(ks) == 1:
        rm_curve = np.mean([gold_best_of_k(np.asarray(s.scores), p) for s, p in zip(sets, pred, strict=True)], 0)
        oracle = np.mean([np.sort(s.scores)[::-1][0] * np.ones(len(s.scores)) for s in sets], 0)
        oracle_curve = np.mean([gold_best_of_k(np.asarray(s.scores), np.asarray(s.scores)) for s in sets], 0)
        m["gold_best_of_k"] = {"k": list(range(1, len(rm_curve) + 1)), "rm": rm_curve.tolist(),
                               "oracle": oracle_curve.tolist(), "best_possible": float(oracle[0])}
        if len(rm_curve) >= 2:
            m["harm_aware"] = harm_aware_eval(np.stack(pred), np.asarray([s.scores for s in sets], float), sets,
                                              n_resamples, seed)
    rows = [{"id": s.id or str(i), "category": s.category, "rewards": p.tolist(), "scores": s.scores}
            for i, (s, p) in enumerate(zip(sets, pred, strict=True))]
    return jsonable(m), rows


def eval_battles(scorer: Scorer, battles: list[Battle], n_resamples: int, seed: int,
                 progress: bool, **_options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """PPE human-preference metrics: does the RM rank the systems as the judges did?"""
    n = len(battles)
    out = scorer.score([b.prompt for b in battles] * 2,
                       [b.response_a for b in battles] + [b.response_b for b in battles], progress=progress)
    sa, sb = out.mean[:n], out.mean[n:]
    m = ppe_preference_metrics([b.model_a for b in battles], [b.model_b for b in battles],
                               [b.winner for b in battles], sa, sb, seed=seed, n_resamples=n_resamples)
    rows = [{"id": b.id or str(i), "model_a": b.model_a, "model_b": b.model_b, "winner": b.winner,
             "reward_a": float(sa[i]), "reward_b": float(sb[i])} for i, b in enumerate(battles)]
    return jsonable(m), rows


EVALUATORS = KindHooks("evaluate")  # record kind -> evaluation: a view of the kinds' registry (rewardlab.kinds)


def evaluate(scorer: Scorer, datasets: dict[str, list[Record]], out_dir: str | os.PathLike,
             n_resamples: int = 1000, seed: int = 0, progress: bool = True, plots: bool = True,
             extra: dict[str, Any] | None = None, sections: dict[str, str] | None = None,
             length_control: Any = None, length_control_feature: str = "log_chars",
             length_control_probes: int = 200, length_control_force: bool = False) -> dict[str, Any]:
    """Evaluate one scorer on named datasets; writes metrics.json, scores_<name>.jsonl and plots to out_dir.

    Args:
        scorer: any Scorer (`get_scorer`, `ModelScorer`, `CallableScorer`, `HTTPScorer`, ...).
        datasets: name -> records of one kind: preference pairs, K-sample sets or battles (e.g. `load_data(...)
            .records`); the kind of the first record picks the evaluation, and an empty list is skipped.
        out_dir: the output folder (created when missing).
        n_resamples: bootstrap resamples behind every confidence interval.
        seed: seed of the bootstrap and of the permutation tests.
        progress: show a progress bar while scoring.
        plots: also write the PNG plots (their file names are listed under "plots").
        extra: more top-level entries for metrics.json (e.g. {"training": {...}}, which the report shows).
        sections: category -> section of pair datasets (RewardBench v1), for per-section accuracy.
        length_control: None, a `LengthControl` fitted on other pairs' labels (`fit_on_pairs`,
            `fit_label_control`), or "cross-fit" (each half of a pair dataset's prompts controlled with the label
            fit of its other half): pair datasets then also get "length_controlled" (accuracy of
            q = reward - beta * f(length) with its CI, the fit, and "guard": held-out accuracy and adversarial
            probe shares before and after) and q_chosen/q_rejected in their scores file; raw metrics are
            unchanged.
        length_control_feature: f(length) of the cross-fit: "log_chars" or "chars".
        length_control_probes: prompts of the adversarial probe check (0: none).
        length_control_force: use a length control that fails its check (else a RewardlabError).

    Returns:
        dict: the content of metrics.json: "schema", "model" (the scorer's name), "created", "n_resamples",
        "datasets" ({name: metrics, with "kind" pairs, ksample or battles}), "plots" when plots=True, and the
        `extra` entries.

    Raises:
        RewardlabError: raised by the scorer (e.g. a wrong number of rewards, a server that does not answer), or
            a length control that fails its check without `length_control_force`.
        ValueError: the scorer returned NaN or infinite rewards (every metric needs a number per response).
        OSError: out_dir cannot be created or written.

    Example:
        >>> import tempfile
        >>> from rewardlab import CallableScorer, evaluate, simulate_pairs
        >>> from rewardlab.simulate.datasets import parse_rows
        >>> pairs = parse_rows(simulate_pairs(50, seed=0))
        >>> longer = CallableScorer(lambda prompt, response: len(response), name="longer")
        >>> tmp = tempfile.TemporaryDirectory()
        >>> res = evaluate(longer, {"sim": pairs}, tmp.name, n_resamples=100, progress=False, plots=False)
        >>> res["model"], res["datasets"]["sim"]["kind"], res["datasets"]["sim"]["n"]
        ('longer', 'pairs', 50)
        >>> sorted(res["datasets"]["sim"]["accuracy"])
        ['confidence', 'estimate', 'hi', 'lo']
        >>> tmp.cleanup()
        >>> from rewardlab import get_scorer, load_data
        >>> test = load_data("test.jsonl").records  # doctest: +SKIP
        >>> evaluate(get_scorer("runs/rm"), {"test": test}, "runs/rm/eval")  # doctest: +SKIP
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "schema": SCHEMA,
        "model": scorer.name,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "n_resamples": n_resamples,
        "datasets": {},
        **(extra or {}),
    }
    for name, recs in datasets.items():
        if not recs:
            continue
        kind = recs[0].kind
        m, rows = get_kind(kind).hook("evaluate")(
            scorer, recs, n_resamples, seed, progress, sections=sections, length_control=length_control,
            length_control_feature=length_control_feature, length_control_probes=length_control_probes,
            length_control_force=length_control_force, name=name)
        m["kind"] = kind
        result["datasets"][name] = m
        with open(out / f"scores_{name}.jsonl", "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    write_result(out / "metrics.json", EvalMetrics.from_dict(jsonable(result), "metrics.json"))
    if plots:
        from rewardlab.eval.plots import make_plots

        make_plots(out, result)
    return result


def compare_runs(dir_a: str, dir_b: str, n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Paired comparison of two evaluation folders on the pair datasets they share (matched by item id).

    Args:
        dir_a: an `evaluate` output folder (metrics.json and scores_<name>.jsonl): model A.
        dir_b: the same for model B.
        n_resamples: bootstrap resamples of the confidence interval of the difference.
        seed: seed of the bootstrap and of the permutation test.

    Returns:
        dict: "a", "b" (the folders), "model_a", "model_b", "datasets" ({name: accuracy_a, accuracy_b, difference
        A - B with its CI, p_value (paired sign-flip permutation test), n, n_discordant, ...}) and "notes" when the
        two folders do not hold the same items.

    Raises:
        RewardlabError: the two folders share no evaluated pair dataset.
        RewardlabError: a metrics.json is missing, not valid JSON or not an evaluation (named with its field).
        FileNotFoundError: a folder lacks a scores_<name>.jsonl file.

    Example:
        >>> import tempfile
        >>> from rewardlab import CallableScorer, compare_runs, evaluate, simulate_pairs
        >>> from rewardlab.simulate.datasets import parse_rows
        >>> data = {"sim": parse_rows(simulate_pairs(50, seed=0))}
        >>> longer = CallableScorer(lambda prompt, response: len(response), name="longer")
        >>> shorter = CallableScorer(lambda prompt, response: -len(response), name="shorter")
        >>> tmp = tempfile.TemporaryDirectory()
        >>> _ = evaluate(longer, data, f"{tmp.name}/a", n_resamples=100, progress=False, plots=False)
        >>> _ = evaluate(shorter, data, f"{tmp.name}/b", n_resamples=100, progress=False, plots=False)
        >>> cmp = compare_runs(f"{tmp.name}/a", f"{tmp.name}/b", n_resamples=100)
        >>> cmp["model_a"], cmp["model_b"], cmp["datasets"]["sim"]["n"]
        ('longer', 'shorter', 50)
        >>> sorted(cmp["datasets"]["sim"]["difference"])
        ['confidence', 'estimate', 'hi', 'lo']
        >>> tmp.cleanup()
    """
    from rewardlab.results.metrics import PairsMetrics
    from rewardlab.stats.metrics import compare_models

    ma = read_result(Path(dir_a) / "metrics.json", EvalMetrics)
    mb = read_result(Path(dir_b) / "metrics.json", EvalMetrics)
    shared = [k for k, v in ma.datasets.items() if isinstance(v, PairsMetrics) and k in mb.datasets]
    if not shared:
        raise RewardlabError(f"{dir_a} and {dir_b} share no evaluated pair dataset")

    def rows(d: str, name: str) -> dict[str, dict[str, Any]]:
        with open(Path(d) / f"scores_{name}.jsonl") as f:
            return {r["id"]: r for r in map(json.loads, f)}

    compared: dict[str, Any] = {}
    notes: list[str] = []
    for name in shared:
        ra, rb = rows(dir_a, name), rows(dir_b, name)
        ids = [i for i in ra if i in rb]
        if len(ids) < len(ra) or len(ids) < len(rb):
            notes.append(f"{name}: {len(ids)} items in common of {len(ra)} / {len(rb)}")
        compared[name] = compare_models(
            [ra[i]["reward_chosen"] for i in ids], [ra[i]["reward_rejected"] for i in ids],
            [rb[i]["reward_chosen"] for i in ids], [rb[i]["reward_rejected"] for i in ids],
            labels=[ra[i]["label"] for i in ids], n_resamples=n_resamples, seed=seed)
    res: dict[str, Any] = {"a": dir_a, "b": dir_b, "datasets": compared, "model_a": ma.model, "model_b": mb.model,
                           **({"notes": notes} if notes else {})}
    return jsonable(res)
