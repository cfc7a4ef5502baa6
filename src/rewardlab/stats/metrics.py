"""Pairwise reward-model metrics with bootstrap CIs (ALGORITHMS.md section 3).

Conventions:

- Delta = r_chosen - r_rejected.  ``labels`` (optional) is the probability that the *chosen* (first) response
  is preferred: 1 (default), 0, or a soft value in [0, 1].  Per pair, the model is correct with probability
  y if Delta > 0, 1 - y if Delta < 0 and 0.5 if Delta == 0 (a model tie counts half; the number of ties is
  reported).  For hard labels y = 1 this is accuracy = mean 1[Delta > 0] + 0.5 1[Delta == 0].
  Note: RewardBench v1 itself counts ties as wrong; ours count half, as ALGORITHMS.md prescribes.
- reward gap = mean (2y - 1) Delta, i.e. mean Delta for the default y = 1 (oriented towards the preferred side).
- NLL / Brier / ECE are reported raw (T = 1) and after temperature scaling.  The temperature is: the one given
  (``temperature=``, e.g. fitted on a validation split with :func:`fit_temperature`), else fitted on
  ``validation=(r_chosen, r_rejected[, labels])``, else fitted in-sample (flagged ``source = "in_sample"``:
  the calibrated numbers are then optimistic).  CIs of calibrated metrics hold T fixed.
- Every CI is a 95% percentile bootstrap over items, or over ``cluster`` ids (e.g. prompt ids) when given.
- All returned dicts are JSON-ready (Python floats/ints/str, None for undefined values).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats

from rewardlab.errors import RewardlabError
from rewardlab.stats.bootstrap import (
    bootstrap_ci,
    bootstrap_mean_ci,
    bootstrap_mean_cis,
    bootstrap_sums,
    paired_bootstrap,
    percentile_interval,
)
from rewardlab.stats.calibration import (
    brier_items,
    ece_terms,
    fit_temperature,
    pairwise_correct,
    preference_nll_items,
    reliability_diagram,
)
from rewardlab.stats.util import ci_dict, jsonable

__all__ = [
    "best_of_4_accuracy",
    "best_of_4_credit",
    "compare_models",
    "gold_agreement",
    "graded_metrics",
    "length_baselines",
    "pairwise_accuracy_items",
    "pairwise_metrics",
]

ArrayLike = Sequence[float] | np.ndarray


def _arr(x: Any, name: str, n: int | None = None) -> np.ndarray:
    a = np.asarray(x, dtype=float).reshape(-1) if np.ndim(x) else np.asarray([x], dtype=float)
    if n is not None and a.size != n:
        raise RewardlabError(f"{name} has {a.size} items, expected {n}")
    if not np.all(np.isfinite(a)):
        raise RewardlabError(f"{name} contains non-finite values")
    return a


def _labels(labels: ArrayLike | None, n: int) -> np.ndarray:
    if labels is None:
        return np.ones(n)
    y = _arr(labels, "labels", n)
    if np.any((y < 0) | (y > 1)):
        raise RewardlabError("labels must lie in [0, 1] (probability that the chosen response is preferred)")
    return y


def _label_kind(labels: ArrayLike | None, y: np.ndarray) -> str:
    if labels is None:
        return "implicit (chosen preferred)"
    return "hard" if np.all((y == 0) | (y == 1)) else "soft"


def pairwise_accuracy_items(
    r_chosen: ArrayLike, r_rejected: ArrayLike, labels: ArrayLike | None = None
) -> np.ndarray:
    """Per-pair correctness in {0, 0.5, 1} (soft labels: in [0, 1]); model ties Delta == 0 count 0.5."""
    rc = _arr(r_chosen, "r_chosen")
    rr = _arr(r_rejected, "r_rejected", rc.size)
    return pairwise_correct(rc - rr, _labels(labels, rc.size))


def _ci(values: np.ndarray, n_resamples: int, confidence: float, seed: int, cluster: Any) -> dict[str, Any]:
    est, lo, hi = bootstrap_mean_ci(values, n_resamples, confidence, seed, cluster)
    return ci_dict(est, lo, hi, confidence)


def _cis(
    columns: dict[str, np.ndarray], n_resamples: int, confidence: float, seed: int, cluster: Any
) -> dict[str, dict[str, Any]]:
    """Bootstrap CIs of several per-item means in one pass over shared resamples."""
    names = list(columns)
    res = bootstrap_mean_cis(
        np.column_stack([columns[k] for k in names]), n_resamples, confidence, seed, cluster
    )
    return {k: ci_dict(*r, confidence) for k, r in zip(names, res, strict=True)}


def _sub(cluster: Any, mask: np.ndarray) -> Any:
    return None if cluster is None else np.asarray(cluster)[mask]


def length_baselines(
    len_chosen: ArrayLike,
    len_rejected: ArrayLike,
    labels: ArrayLike | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    cluster: Sequence[Any] | np.ndarray | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Accuracy of "pick the longer" and "pick the shorter" (length ties 0.5): exposes length-degenerate sets.

    Keys: ``longer``, ``shorter`` ({estimate, lo, hi, confidence}), ``n``, ``n_length_ties``.
    """
    len_c = _arr(len_chosen, "len_chosen")
    len_r = _arr(len_rejected, "len_rejected", len_c.size)
    y = _labels(labels, len_c.size)
    diff = len_c - len_r
    cols = {"longer": pairwise_correct(diff, y), "shorter": pairwise_correct(-diff, y)}
    return jsonable(
        {
            **_cis(cols, n_resamples, confidence, seed, cluster),
            "n": len_c.size,
            "n_length_ties": int(np.count_nonzero(diff == 0)),
        }
    )


def _pair_arrays(
    r_chosen: ArrayLike, r_rejected: ArrayLike, labels: ArrayLike | None, cluster: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The checked labels y and the reward differences Delta = r_chosen - r_rejected of a non-empty pair set."""
    rc = _arr(r_chosen, "r_chosen")
    n = rc.size
    if n == 0:
        raise RewardlabError("no pairs")
    rr = _arr(r_rejected, "r_rejected", n)
    y = _labels(labels, n)
    if cluster is not None and len(cluster) != n:
        raise RewardlabError("cluster must have one id per pair")
    return y, rc - rr


def _temperature(
    delta: np.ndarray, y: np.ndarray, temperature: float | None, validation: tuple[Any, ...] | None
) -> dict[str, Any]:
    """The calibration temperature {value, source, note}: given, else fitted on the validation split, else
    fitted in-sample."""
    if temperature is not None:
        return {"value": float(temperature), "source": "given", "note": "temperature supplied by the caller"}
    if validation is not None:
        if len(validation) not in (2, 3):
            raise RewardlabError("validation must be (r_chosen, r_rejected) or (r_chosen, r_rejected, labels)")
        v_rc = _arr(validation[0], "validation r_chosen")
        v_rr = _arr(validation[1], "validation r_rejected", v_rc.size)
        v_y = _labels(validation[2] if len(validation) == 3 else None, v_rc.size)
        return {"value": fit_temperature(v_rc - v_rr, v_y), "source": "validation",
                "note": f"fitted by NLL minimisation on a validation split of {v_rc.size} pairs"}
    return {"value": fit_temperature(delta, y), "source": "in_sample",
            "note": "fitted in-sample on the evaluated pairs (no validation split given): calibrated metrics are "
                    "optimistic"}


def _lengths(
    len_chosen: ArrayLike | None, len_rejected: ArrayLike | None, n: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """The checked (len_chosen, len_rejected) arrays of n pairs, or None when neither is given."""
    if (len_chosen is None) != (len_rejected is None):
        raise RewardlabError("give both len_chosen and len_rejected, or neither")
    if len_chosen is None:
        return None
    return _arr(len_chosen, "len_chosen", n), _arr(len_rejected, "len_rejected", n)


def _item_columns(
    delta: np.ndarray, y: np.ndarray, t_value: float, lengths: tuple[np.ndarray, np.ndarray] | None
) -> dict[str, np.ndarray]:
    """The per-pair columns whose means are the overall metrics: accuracy, reward gap, raw and calibrated NLL and
    Brier, and with lengths the longer / shorter baselines' correctness."""
    cols: dict[str, np.ndarray] = {
        "accuracy": pairwise_correct(delta, y),
        "reward_gap": (2.0 * y - 1.0) * delta,
        "nll": preference_nll_items(delta, y, 1.0),
        "brier": brier_items(delta, y, 1.0),
        "nll_calibrated": preference_nll_items(delta, y, t_value),
        "brier_calibrated": brier_items(delta, y, t_value),
    }
    if lengths is not None:
        len_c, len_r = lengths
        cols["longer"] = pairwise_correct(len_c - len_r, y)
        cols["shorter"] = pairwise_correct(len_r - len_c, y)
    return cols


def _overall_cis(
    cols: dict[str, np.ndarray],
    delta: np.ndarray,
    y: np.ndarray,
    t_value: float,
    n_bins: int,
    n_resamples: int,
    seed: int,
    cluster: Any,
    confidence: float,
) -> dict[str, dict[str, Any]]:
    """Every overall metric with its CI, from one bootstrap pass: the column means of `cols`, and the raw and
    calibrated ECE (sum_b |sum_{i in b} (correct_i - conf_i)| / n, from per-bin term columns)."""
    n = delta.size
    n_mean = len(cols)
    blocks = [np.column_stack(list(cols.values()))]
    for t in (1.0, t_value):
        bins, terms = ece_terms(delta, y, t, n_bins)
        onehot = np.zeros((n, n_bins))
        onehot[np.arange(n), bins] = terms
        blocks.append(onehot)
    matrix = np.hstack(blocks)
    full = matrix.sum(axis=0)
    sums, sizes = bootstrap_sums(matrix, n_resamples, seed, cluster)

    def finish(estimate: float, reps: np.ndarray) -> dict[str, Any]:
        return ci_dict(estimate, *percentile_interval(reps, confidence), confidence)

    res = {k: finish(full[j] / n, sums[:, j] / sizes) for j, k in enumerate(cols)}
    for name, start in (("ece", n_mean), ("ece_calibrated", n_mean + n_bins)):
        sl = slice(start, start + n_bins)
        res[name] = finish(np.abs(full[sl]).sum() / n, np.abs(sums[:, sl]).sum(axis=1) / sizes)
    return res


def _length_entry(longer: Any, shorter: Any, lengths: tuple[np.ndarray, np.ndarray], mask: Any) -> dict[str, Any]:
    """The `length_baselines` entry of a set of pairs (all, or one category's: `mask`)."""
    len_c, len_r = lengths
    return {"longer": longer, "shorter": shorter, "n": int(len_c[mask].size),
            "n_length_ties": int(np.count_nonzero(len_c[mask] == len_r[mask]))}


def _per_category(
    cats: np.ndarray,
    cols: dict[str, np.ndarray],
    delta: np.ndarray,
    lengths: tuple[np.ndarray, np.ndarray] | None,
    n_resamples: int,
    seed: int,
    cluster: Any,
    confidence: float,
) -> dict[str, Any]:
    """{category: {n, n_model_ties, accuracy, length_baselines?}}, each CI resampling within the category."""
    per_cat: dict[str, Any] = {}
    for cat in sorted(set(cats.tolist()), key=str):
        m = cats == cat
        sub = {"accuracy": cols["accuracy"][m]}
        if lengths is not None:
            sub["longer"], sub["shorter"] = cols["longer"][m], cols["shorter"][m]
        cis = _cis(sub, n_resamples, confidence, seed, _sub(cluster, m))
        entry: dict[str, Any] = {
            "n": int(m.sum()),
            "n_model_ties": int(np.count_nonzero(delta[m] == 0)),
            "accuracy": cis["accuracy"],
        }
        if lengths is not None:
            entry["length_baselines"] = _length_entry(cis["longer"], cis["shorter"], lengths, m)
        per_cat[str(cat)] = entry
    return per_cat


def _sections(
    cats: np.ndarray,
    sections: Mapping[Any, str],
    correct: np.ndarray,
    n_resamples: int,
    seed: int,
    cluster: Any,
    confidence: float,
) -> dict[str, Any]:
    """RewardBench-v1 sections: {sections: {section: {n, categories, accuracy}}, section_mean (unweighted mean of
    the section accuracies), unmapped_categories}."""
    sec_of = np.array([sections.get(c) for c in cats.tolist()], dtype=object)
    sec_out: dict[str, Any] = {}
    for sec in sorted({s for s in sec_of.tolist() if s is not None}, key=str):
        m = sec_of == sec
        sec_out[str(sec)] = {
            "n": int(m.sum()),
            "categories": sorted({str(c) for c in cats[m].tolist()}),
            # prompt-count weighted: sum_c n_c acc_c / sum_c n_c == mean over the section's items
            "accuracy": _ci(correct[m], n_resamples, confidence, seed, _sub(cluster, m)),
        }
    est = [v["accuracy"]["estimate"] for v in sec_out.values()]
    return {
        "sections": sec_out,
        "section_mean": float(np.mean(est)) if est else None,
        "unmapped_categories": sorted({str(c) for c in cats[sec_of == None].tolist()}),  # noqa: E711
    }


def pairwise_metrics(
    r_chosen: ArrayLike,
    r_rejected: ArrayLike,
    labels: ArrayLike | None = None,
    categories: Sequence[Any] | np.ndarray | None = None,
    len_chosen: ArrayLike | None = None,
    len_rejected: ArrayLike | None = None,
    temperature: float | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    *,
    sections: Mapping[Any, str] | None = None,
    validation: tuple[Any, ...] | None = None,
    cluster: Sequence[Any] | np.ndarray | None = None,
    confidence: float = 0.95,
    n_bins: int = 10,
) -> dict[str, Any]:
    """All pairwise metrics of one RM on one preference set, each with a bootstrap CI, as a JSON-ready dict.

    Keys: ``n``, ``n_model_ties``, ``model_tie_rate``, ``label_kind``, ``accuracy``, ``reward_gap``, ``nll``,
    ``brier``, ``ece`` (raw, T = 1), ``temperature`` ({value, source, note}), ``nll_calibrated``,
    ``brier_calibrated``, ``ece_calibrated``, ``reliability`` ({raw, calibrated} diagram data),
    ``n_resamples``, ``confidence``, ``clustered``; with lengths ``length_baselines``; with categories
    ``per_category`` ({category: {n, n_model_ties, accuracy, length_baselines?}}); with ``sections``
    (category -> section, RewardBench v1) ``sections`` ({section: {n, categories, accuracy}}) and
    ``section_mean`` (unweighted mean of section scores) and ``unmapped_categories``.
    Each metric value is {estimate, lo, hi, confidence}.

    Steps: check the pairs (:func:`_pair_arrays`), the temperature (:func:`_temperature`) and the lengths, one
    bootstrap pass over every overall metric (:func:`_overall_cis`), then per category and per section.
    """
    y, delta = _pair_arrays(r_chosen, r_rejected, labels, cluster)
    n = delta.size
    n_ties = int(np.count_nonzero(delta == 0))
    temp = _temperature(delta, y, temperature, validation)
    t_value = temp["value"]
    lengths = _lengths(len_chosen, len_rejected, n)
    cols = _item_columns(delta, y, t_value, lengths)
    res = _overall_cis(cols, delta, y, t_value, n_bins, n_resamples, seed, cluster, confidence)
    out: dict[str, Any] = {
        "n": n,
        "n_model_ties": n_ties,
        "model_tie_rate": n_ties / n,
        "label_kind": _label_kind(labels, y),
        **{k: res[k] for k in ("accuracy", "reward_gap", "nll", "brier", "ece")},
        "temperature": temp,
        **{k: res[k] for k in ("nll_calibrated", "brier_calibrated", "ece_calibrated")},
        "reliability": {
            "raw": reliability_diagram(delta, y, 1.0, n_bins),
            "calibrated": reliability_diagram(delta, y, t_value, n_bins),
        },
        "n_resamples": n_resamples,
        "confidence": confidence,
        "clustered": cluster is not None,
    }
    if lengths is not None:
        out["length_baselines"] = _length_entry(res["longer"], res["shorter"], lengths, slice(None))
    if categories is not None:
        cats = np.asarray(categories, dtype=object).reshape(-1)
        if cats.size != n:
            raise RewardlabError("categories must have one entry per pair")
        out["per_category"] = _per_category(cats, cols, delta, lengths, n_resamples, seed, cluster, confidence)
        if sections is not None:
            out.update(_sections(cats, sections, cols["accuracy"], n_resamples, seed, cluster, confidence))
    elif sections is not None:
        raise RewardlabError("sections needs categories")
    return jsonable(out)


def compare_models(
    rc_a: ArrayLike,
    rr_a: ArrayLike,
    rc_b: ArrayLike,
    rr_b: ArrayLike,
    labels: ArrayLike | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    *,
    cluster: Sequence[Any] | np.ndarray | None = None,
    confidence: float = 0.95,
    n_permutations: int = 10000,
) -> dict[str, Any]:
    """Paired comparison of two RMs' accuracy on the same pairs: difference A - B, bootstrap CI, p-value.

    The p-value is the two-sided paired sign-flip permutation test of :func:`paired_bootstrap`.  Keys:
    ``accuracy_a``, ``accuracy_b``, ``difference`` ({estimate, lo, hi, confidence}), ``p_value``,
    ``p_value_method``, ``n``, ``n_discordant`` (pairs where the two models' correctness differs),
    ``n_resamples``, ``n_permutations``, ``clustered``.
    """
    ca = pairwise_accuracy_items(rc_a, rr_a, labels)
    cb = pairwise_accuracy_items(rc_b, rr_b, labels)
    if ca.size != cb.size:
        raise RewardlabError("both models must be scored on the same pairs")
    res = paired_bootstrap(
        ca,
        cb,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
        cluster=cluster,
        n_permutations=n_permutations,
    )
    res["accuracy_a"] = res.pop("estimate_a")
    res["accuracy_b"] = res.pop("estimate_b")
    res["n_discordant"] = int(np.count_nonzero(ca != cb))
    return jsonable(res)


def best_of_4_credit(chosen_score: float, rejected_scores: ArrayLike) -> float:
    """RewardBench-v2 credit: 1/(number tied at the max) if chosen is (one of) the max, else 0."""
    c = float(chosen_score)
    r = _arr(rejected_scores, "rejected_scores")
    top = max(c, float(r.max())) if r.size else c
    if c < top:
        return 0.0
    return 1.0 / (1 + int(np.count_nonzero(r == c)))


def best_of_4_accuracy(
    chosen_scores: ArrayLike,
    rejected_scores: Sequence[ArrayLike] | np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    cluster: Sequence[Any] | np.ndarray | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Mean best-of-4 credit over items (RewardBench v2) with a bootstrap CI.

    ``rejected_scores`` is one sequence of rejected scores per item (normally 3).  Keys: ``accuracy``
    ({estimate, lo, hi, confidence}), ``n``, ``n_chosen_tied_at_max``.
    """
    ch = _arr(chosen_scores, "chosen_scores")
    if len(rejected_scores) != ch.size:
        raise RewardlabError("one row of rejected scores per chosen score")
    credit = np.array([best_of_4_credit(c, r) for c, r in zip(ch, rejected_scores, strict=True)])
    n_tied = int(np.count_nonzero((credit > 0) & (credit < 1)))
    return jsonable(
        {
            "accuracy": _ci(credit, n_resamples, confidence, seed, cluster),
            "n": ch.size,
            "n_chosen_tied_at_max": n_tied,
        }
    )


def _corr(kind: str, a: np.ndarray, b: np.ndarray) -> float:
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.spearmanr(a, b) if kind == "spearman" else stats.kendalltau(a, b)
    return float(res.statistic)


def graded_metrics(
    scores_pred: ArrayLike,
    scores_true: ArrayLike,
    groups: Sequence[Any] | np.ndarray | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Spearman rho and Kendall tau-b (scipy) of predicted vs true graded scores, overall and within groups.

    Overall CIs resample items (whole groups when ``groups`` is given); within-group values are averaged over
    groups with >= 2 items and non-constant scores, with a CI resampling groups.  Keys: ``n``, ``spearman``,
    ``kendall`` ({estimate, lo, hi, confidence}); with groups also ``n_groups``, ``n_groups_used``,
    ``spearman_within_groups``, ``kendall_within_groups``.
    """
    p = _arr(scores_pred, "scores_pred")
    t = _arr(scores_true, "scores_true", p.size)
    out: dict[str, Any] = {"n": p.size}
    for kind in ("spearman", "kendall"):
        est, lo, hi = bootstrap_ci(
            lambda a, b, k=kind: _corr(k, a, b),
            p,
            t,
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
            cluster=groups,
        )
        out[kind] = ci_dict(est, lo, hi, confidence)
    if groups is not None:
        g = np.asarray(groups, dtype=object).reshape(-1)
        if g.size != p.size:
            raise RewardlabError("groups must have one entry per item")
        keys = sorted(set(g.tolist()), key=str)
        out["n_groups"] = len(keys)
        for kind in ("spearman", "kendall"):
            vals = np.array([_corr(kind, p[g == k], t[g == k]) for k in keys])
            vals = vals[np.isfinite(vals)]
            out["n_groups_used"] = int(vals.size)
            if vals.size:
                out[f"{kind}_within_groups"] = _ci(vals, n_resamples, confidence, seed, None)
            else:
                out[f"{kind}_within_groups"] = ci_dict(float("nan"), float("nan"), float("nan"), confidence)
    return jsonable(out)


def gold_agreement(
    r_chosen: ArrayLike,
    r_rejected: ArrayLike,
    gold_chosen: ArrayLike,
    gold_rejected: ArrayLike,
    n_resamples: int = 1000,
    seed: int = 0,
    cluster: Sequence[Any] | np.ndarray | None = None,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Share of pairs the RM orders as the gold utility does (simulator data); model ties count 0.5.

    Pairs with equal gold utility carry no order and are excluded (counted in ``n_gold_ties``).  Keys:
    ``agreement`` ({estimate, lo, hi, confidence}), ``n``, ``n_used``, ``n_gold_ties``, ``n_model_ties``.
    """
    rc = _arr(r_chosen, "r_chosen")
    n = rc.size
    rr = _arr(r_rejected, "r_rejected", n)
    gc = _arr(gold_chosen, "gold_chosen", n)
    gr = _arr(gold_rejected, "gold_rejected", n)
    gd, d = gc - gr, rc - rr
    used = gd != 0
    agree = np.where(d == 0, 0.5, (np.sign(d) == np.sign(gd)).astype(float))[used]
    if agree.size:
        agreement = _ci(agree, n_resamples, confidence, seed, _sub(cluster, used))
    else:
        agreement = ci_dict(float("nan"), float("nan"), float("nan"), confidence)
    return jsonable(
        {
            "agreement": agreement,
            "n": n,
            "n_used": int(used.sum()),
            "n_gold_ties": int(n - used.sum()),
            "n_model_ties": int(np.count_nonzero(d[used] == 0)),
        }
    )
