"""PPE (Preference Proxy Evaluations) metrics: human-preference battles and K-sample correctness sets.

Human-preference metrics (battles ``model_a``, ``model_b``, ``winner``, ``rm_score_a``, ``rm_score_b``):

- ``winner`` is "model_a"/"a", "model_b"/"b", anything starting with "tie" (e.g. "tie (bothbad)"), or a number
  y = P(model_a wins) in {1, 0.5, 0}.  **Ties count as half a win each way** (y = 0.5 in the logistic loss,
  the same as duplicating the battle with weights 0.5 / 0.5), so no battle is dropped.
- RM-chosen labels: the RM picks the side with the higher score; equal scores are an RM tie (y = 0.5).
- Bradley-Terry strengths beta: logistic regression of y on the +-1 model indicators (x_a = +1, x_b = -1, no
  intercept), fitted by Newton's method with a tiny ridge 0.5 * l2 * ||beta||^2 (default l2 = 1e-6, the
  analogue of sklearn's C = 1e6) that keeps strengths finite for undefeated models.  The ridge makes the
  solution **mean-zero** (the likelihood is shift invariant), which is the anchor: arena rating =
  400 beta / ln 10 + 1000, so the mean rating is 1000.
- 100 bootstrap resamples of battles (human and RM fits share each resample) give percentile 95% CIs; a model
  absent from a resample gets no value in that replicate.
- accuracy: share of non-tie human battles where the RM prefers the human winner (RM ties count 0.5).
- Spearman / Kendall tau-b between human and RM ratings (full-data fits).
- row-wise Pearson: mean over models i of Pearson(W_human[i, .], W_rm[i, .]) over opponents j != i that met i;
  W[i, j] = empirical share of i-vs-j battles won by i (ties 0.5); rows with < 2 cells or a constant side skipped.
- separability: share of model pairs whose RM rating CIs do not overlap.
- confidence agreement: mean over pairs of +1 (human and RM CIs both separate the pair, same direction),
  -1 (both separate it, opposite directions), 0 otherwise.
- Brier: mean over pairs i < j of (P_rm(i above j) - 1[beta_human_i > beta_human_j])^2, P_rm = share of
  bootstrap replicates with beta_rm_i > beta_rm_j.

Correctness metrics (per prompt: scores s, correctness c in {0, 1}):

- accuracy: over all (correct, incorrect) pairs within each prompt, pooled over prompts (each prompt weighs by
  its number of such pairs); a score tie counts 0.5.  CI resamples prompts.
- best-of-K: exact expectation over uniformly random K-subsets of the correctness of the subset's top-scored
  response, BoK(K) = sum_{i=K..n} C(i-1, K-1) / C(n, K) c_(i) with responses sorted ascending by s.
  **Tie rule**: the top of a subset is drawn uniformly among its tied maxima (= averaging over all orderings of
  tied scores), which equals replacing c within each group of equal scores by the group mean.
- oracle G(K) = 1 - C(n - n_c, K) / C(n, K); end score = BoK(n); max score = max_K BoK(K); loss =
  mean_K (BoK(K) - G(K))^2, all on the curves averaged over prompts (for K larger than some prompts' n, the
  average runs over the prompts with at least K responses).  ROC AUC of s vs c per prompt (ties half),
  averaged over prompts with both classes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import stats
from scipy.special import expit, gammaln

from rewardlab.errors import RewardlabError
from rewardlab.stats.bootstrap import bootstrap_ci, bootstrap_mean_ci, percentile_interval
from rewardlab.stats.util import ci_dict, jsonable

__all__ = [
    "arena_rating",
    "best_of_k_curve",
    "fit_bradley_terry",
    "normalize_winner",
    "oracle_best_of_k_curve",
    "ppe_correctness_metrics",
    "ppe_preference_metrics",
    "prompt_roc_auc",
    "win_rate_matrix",
]

ARENA_SCALE = 400.0 / math.log(10.0)
ARENA_OFFSET = 1000.0


# ----------------------------------------------------------------------------------------------- battles


def normalize_winner(winner: Sequence[Any] | np.ndarray) -> np.ndarray:
    """Map winners to y = P(model_a wins): "model_a"/"a" -> 1, "model_b"/"b" -> 0, "tie*" -> 0.5, numbers kept."""
    out = np.empty(len(winner), dtype=float)
    for k, w in enumerate(winner):
        if isinstance(w, str):
            s = w.strip().lower()
            if s in ("model_a", "a"):
                out[k] = 1.0
            elif s in ("model_b", "b"):
                out[k] = 0.0
            elif s.startswith("tie"):
                out[k] = 0.5
            else:
                raise RewardlabError(f"unknown winner {w!r}")
        else:
            v = float(w)
            if not 0.0 <= v <= 1.0:
                raise RewardlabError(f"numeric winner must be in [0, 1], got {w!r}")
            out[k] = v
    return out


def arena_rating(beta: Sequence[float] | np.ndarray) -> np.ndarray:
    """Arena scale 400 beta / ln 10 + 1000 (beta mean-zero, so ratings average 1000)."""
    return ARENA_SCALE * np.asarray(beta, dtype=float) + ARENA_OFFSET


def _encode(model_a: Sequence[Any], model_b: Sequence[Any], models: Sequence[Any] | None):
    a = np.asarray(model_a, dtype=object).reshape(-1)
    b = np.asarray(model_b, dtype=object).reshape(-1)
    if a.size != b.size:
        raise RewardlabError("model_a and model_b must have the same length")
    names = list(models) if models is not None else sorted(set(a.tolist()) | set(b.tolist()), key=str)
    index = {m: i for i, m in enumerate(names)}
    try:
        ia = np.array([index[m] for m in a.tolist()], dtype=int)
        ib = np.array([index[m] for m in b.tolist()], dtype=int)
    except KeyError as e:
        raise RewardlabError(f"model {e.args[0]!r} not in models") from None
    if np.any(ia == ib):
        raise RewardlabError("a battle has the same model on both sides")
    return names, ia, ib


def _bt_newton(ia: np.ndarray, ib: np.ndarray, y: np.ndarray, w: np.ndarray, m: int, l2: float) -> np.ndarray:
    """Ridge-penalised BT logistic regression by damped Newton on pair-aggregated counts."""
    key = ia * m + ib
    n_k = np.bincount(key, weights=w, minlength=m * m)
    w_k = np.bincount(key, weights=w * y, minlength=m * m)
    keep = n_k > 0
    idx = np.flatnonzero(keep)
    pa, pb, n_k, w_k = idx // m, idx % m, n_k[keep], w_k[keep]

    def loss(beta: np.ndarray) -> float:
        z = beta[pa] - beta[pb]
        return float(
            np.sum(w_k * np.logaddexp(0.0, -z) + (n_k - w_k) * np.logaddexp(0.0, z)) + 0.5 * l2 * beta @ beta
        )

    beta = np.zeros(m)
    f = loss(beta)
    for _ in range(200):
        s = expit(beta[pa] - beta[pb])
        g_k = n_k * s - w_k
        grad = np.bincount(pa, g_k, m) - np.bincount(pb, g_k, m) + l2 * beta
        h_k = n_k * s * (1.0 - s)
        hess = l2 * np.eye(m)
        np.add.at(hess, (pa, pa), h_k)
        np.add.at(hess, (pb, pb), h_k)
        np.add.at(hess, (pa, pb), -h_k)
        np.add.at(hess, (pb, pa), -h_k)
        step = np.linalg.solve(hess, grad)
        dec = float(grad @ step)
        if dec < 1e-20:
            break
        t = 1.0
        while True:
            cand = beta - t * step
            fc = loss(cand)
            if fc <= f - 1e-4 * t * dec or t < 1e-10:
                break
            t *= 0.5
        beta, f = cand, fc
        if t * np.max(np.abs(step)) < 1e-11:
            break
    return beta - beta.mean()


def fit_bradley_terry(
    model_a: Sequence[Any],
    model_b: Sequence[Any],
    winner: Sequence[Any] | np.ndarray,
    models: Sequence[Any] | None = None,
    l2: float = 1e-6,
    weights: Sequence[float] | np.ndarray | None = None,
) -> dict[str, Any]:
    """Bradley-Terry strengths by logistic regression on +-1 model indicators (ties = half a win each way).

    Keys: ``models`` (names, sorted unless given), ``beta`` (mean-zero strengths), ``rating`` (arena scale),
    ``n_battles``.
    """
    names, ia, ib = _encode(model_a, model_b, models)
    y = normalize_winner(winner)
    if y.size != ia.size:
        raise RewardlabError("winner must have one entry per battle")
    w = np.ones(y.size) if weights is None else np.asarray(weights, dtype=float).reshape(-1)
    beta = _bt_newton(ia, ib, y, w, len(names), l2)
    return jsonable(
        {
            "models": [str(m) for m in names],
            "beta": beta,
            "rating": arena_rating(beta),
            "n_battles": int(y.size),
        }
    )


def _win_rates(ia: np.ndarray, ib: np.ndarray, y: np.ndarray, m: int) -> np.ndarray:
    wins = np.zeros((m, m))
    games = np.zeros((m, m))
    np.add.at(wins, (ia, ib), y)
    np.add.at(wins, (ib, ia), 1.0 - y)
    np.add.at(games, (ia, ib), 1.0)
    np.add.at(games, (ib, ia), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(games > 0, wins / games, np.nan)
    np.fill_diagonal(w, np.nan)
    return w


def win_rate_matrix(
    model_a: Sequence[Any],
    model_b: Sequence[Any],
    winner: Sequence[Any] | np.ndarray,
    models: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Empirical win-rate matrix W[i][j] = share of i-vs-j battles won by i (ties 0.5; None if they never met)."""
    names, ia, ib = _encode(model_a, model_b, models)
    w = _win_rates(ia, ib, normalize_winner(winner), len(names))
    return jsonable({"models": [str(m) for m in names], "win_rate": w})


def _rowwise_pearson(wh: np.ndarray, wr: np.ndarray) -> tuple[float, int]:
    vals = []
    for i in range(wh.shape[0]):
        mask = np.isfinite(wh[i]) & np.isfinite(wr[i])
        x, z = wh[i, mask], wr[i, mask]
        if x.size < 2 or np.all(x == x[0]) or np.all(z == z[0]):
            continue
        vals.append(float(np.corrcoef(x, z)[0, 1]))
    return (float(np.mean(vals)) if vals else float("nan")), len(vals)


def _sep_sign(lo: np.ndarray, hi: np.ndarray, i: int, j: int) -> int:
    if lo[i] > hi[j]:
        return 1
    if hi[i] < lo[j]:
        return -1
    return 0


def ppe_preference_metrics(
    model_a: Sequence[Any],
    model_b: Sequence[Any],
    winner: Sequence[Any] | np.ndarray,
    rm_score_a: Sequence[float] | np.ndarray,
    rm_score_b: Sequence[float] | np.ndarray,
    n_bootstrap: int = 100,
    confidence: float = 0.95,
    seed: int = 0,
    l2: float = 1e-6,
    n_resamples: int = 1000,
) -> dict[str, Any]:
    """PPE human-preference metrics: how well RM-induced model rankings reproduce the human (arena) ranking.

    Keys: ``n_battles``, ``n_human_ties``, ``n_rm_ties``, ``models``, ``human_ratings`` / ``rm_ratings``
    ({model: {rating, lo, hi}}), ``accuracy`` ({estimate, lo, hi, confidence}, CI from ``n_resamples``
    battle resamples), ``spearman``, ``kendall``, ``rowwise_pearson``, ``n_rows_used``, ``separability``,
    ``confidence_agreement``, ``brier``, ``n_pairs``, ``n_bootstrap``, ``confidence``, ``tie_rule``, ``anchor``.
    """
    names, ia, ib = _encode(model_a, model_b, None)
    m = len(names)
    yh = normalize_winner(winner)
    sa = np.asarray(rm_score_a, dtype=float).reshape(-1)
    sb = np.asarray(rm_score_b, dtype=float).reshape(-1)
    n = ia.size
    if not (yh.size == sa.size == sb.size == n):
        raise RewardlabError("winner, rm_score_a and rm_score_b need one entry per battle")
    if n == 0:
        raise RewardlabError("no battles")
    yr = np.where(sa > sb, 1.0, np.where(sa < sb, 0.0, 0.5))

    ones = np.ones(n)
    beta_h = _bt_newton(ia, ib, yh, ones, m, l2)
    beta_r = _bt_newton(ia, ib, yr, ones, m, l2)

    rng = np.random.default_rng(seed)
    boot_h = np.full((n_bootstrap, m), np.nan)
    boot_r = np.full((n_bootstrap, m), np.nan)
    for r in range(n_bootstrap):
        w = np.bincount(rng.integers(0, n, n), minlength=n).astype(float)
        present = (np.bincount(ia, w, m) + np.bincount(ib, w, m)) > 0
        boot_h[r] = np.where(present, _bt_newton(ia, ib, yh, w, m, l2), np.nan)
        boot_r[r] = np.where(present, _bt_newton(ia, ib, yr, w, m, l2), np.nan)

    def intervals(boot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ci = [percentile_interval(arena_rating(boot[:, i]), confidence) for i in range(m)]
        return np.array([c[0] for c in ci]), np.array([c[1] for c in ci])

    lo_h, hi_h = intervals(boot_h)
    lo_r, hi_r = intervals(boot_r)
    rating_h, rating_r = arena_rating(beta_h), arena_rating(beta_r)

    non_tie = yh != 0.5
    acc_items = np.where(yr == 0.5, 0.5, (yr == yh).astype(float))[non_tie]
    if acc_items.size:
        est, lo, hi = bootstrap_mean_ci(acc_items, n_resamples, confidence, seed)
        accuracy = ci_dict(est, lo, hi, confidence)
    else:
        accuracy = ci_dict(float("nan"), float("nan"), float("nan"), confidence)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spear = float(stats.spearmanr(beta_h, beta_r).statistic) if m > 1 else float("nan")
        kend = float(stats.kendalltau(beta_h, beta_r).statistic) if m > 1 else float("nan")

    rowwise, n_rows = _rowwise_pearson(_win_rates(ia, ib, yh, m), _win_rates(ia, ib, yr, m))

    sep, agree, brier = [], [], []
    for i in range(m):
        for j in range(i + 1, m):
            s_h = _sep_sign(lo_h, hi_h, i, j)
            s_r = _sep_sign(lo_r, hi_r, i, j)
            sep.append(float(s_r != 0))
            agree.append(float(s_h * s_r))
            both = np.isfinite(boot_r[:, i]) & np.isfinite(boot_r[:, j])
            p_rm = float(np.mean(boot_r[both, i] > boot_r[both, j])) if both.any() else float("nan")
            brier.append((p_rm - float(beta_h[i] > beta_h[j])) ** 2)

    def ratings(rating: np.ndarray, lo_: np.ndarray, hi_: np.ndarray) -> dict[str, Any]:
        return {str(names[i]): {"rating": rating[i], "lo": lo_[i], "hi": hi_[i]} for i in range(m)}

    return jsonable(
        {
            "n_battles": n,
            "n_human_ties": int(np.count_nonzero(yh == 0.5)),
            "n_rm_ties": int(np.count_nonzero(yr == 0.5)),
            "models": [str(x) for x in names],
            "human_ratings": ratings(rating_h, lo_h, hi_h),
            "rm_ratings": ratings(rating_r, lo_r, hi_r),
            "accuracy": accuracy,
            "spearman": spear,
            "kendall": kend,
            "rowwise_pearson": rowwise,
            "n_rows_used": n_rows,
            "separability": float(np.mean(sep)) if sep else float("nan"),
            "confidence_agreement": float(np.mean(agree)) if agree else float("nan"),
            "brier": float(np.nanmean(brier)) if brier and np.isfinite(brier).any() else float("nan"),
            "n_pairs": len(sep),
            "n_bootstrap": n_bootstrap,
            "confidence": confidence,
            "tie_rule": "human and RM ties count as half a win for each side (y = 0.5); none dropped",
            "anchor": "strengths mean-zero; rating = 400 beta / ln 10 + 1000 (mean rating 1000)",
        }
    )


# ------------------------------------------------------------------------------------------- correctness


@lru_cache(maxsize=64)
def _bok_weights(n: int) -> np.ndarray:
    """(n, n) matrix W[K-1, i-1] = C(i-1, K-1) / C(n, K) for i >= K, else 0 (rows sum to 1)."""
    w = np.zeros((n, n))
    if n <= 300:  # exact integer combinatorics, one correctly rounded division per entry
        for k in range(1, n + 1):
            denom = math.comb(n, k)
            for i in range(k, n + 1):
                w[k - 1, i - 1] = math.comb(i - 1, k - 1) / denom
    else:  # log-gamma for large n (tiny weights underflow harmlessly to 0)
        k = np.arange(1, n + 1)[:, None].astype(float)
        i = np.arange(1, n + 1)[None, :].astype(float)
        valid = i >= k
        ii, kk = np.where(valid, i, k), k
        log_num = gammaln(ii) - gammaln(kk) - gammaln(ii - kk + 1)
        log_den = gammaln(n + 1) - gammaln(kk + 1) - gammaln(n - kk + 1)
        w = np.where(valid, np.exp(log_num - log_den), 0.0)
    w.setflags(write=False)
    return w


def _tie_averaged_sorted(scores: np.ndarray, correct: np.ndarray) -> np.ndarray:
    order = np.argsort(scores, kind="stable")
    s, c = scores[order], correct[order].astype(float)
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    group_mean = np.bincount(inverse, weights=c) / counts
    return group_mean[inverse]


def _check_sc(scores: Any, correct: Any) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float).reshape(-1)
    c = np.asarray(correct, dtype=float).reshape(-1)
    if s.size != c.size or s.size == 0:
        raise RewardlabError("scores and correct must be non-empty and of equal length")
    if not np.all((c == 0) | (c == 1)):
        raise RewardlabError("correct must be 0/1")
    if not np.all(np.isfinite(s)):
        raise RewardlabError("scores must be finite")
    return s, c


def best_of_k_curve(scores: Sequence[float] | np.ndarray, correct: Sequence[int] | np.ndarray) -> np.ndarray:
    """Exact E[correctness of the top-scored of a random K-subset] for K = 1..n (ties: uniform among tied max)."""
    s, c = _check_sc(scores, correct)
    return _bok_weights(s.size) @ _tie_averaged_sorted(s, c)


def oracle_best_of_k_curve(correct: Sequence[int] | np.ndarray) -> np.ndarray:
    """Oracle curve G(K) = 1 - C(n - n_c, K) / C(n, K): P(a random K-subset contains a correct response)."""
    c = np.asarray(correct, dtype=float).reshape(-1)
    n, n_c = c.size, int(c.sum())
    n_wrong = n - n_c
    out = np.empty(n)
    ratio = 1.0  # C(n_wrong, K) / C(n, K) = prod_{t<K} (n_wrong - t) / (n - t)
    for k in range(1, n + 1):
        ratio *= max(n_wrong - (k - 1), 0) / (n - (k - 1))
        out[k - 1] = 1.0 - ratio
    return out


def prompt_roc_auc(scores: Sequence[float] | np.ndarray, correct: Sequence[int] | np.ndarray) -> float:
    """ROC AUC of scores vs correctness for one prompt (Mann-Whitney, ties 0.5); NaN if only one class."""
    s, c = _check_sc(scores, correct)
    n_pos = int(c.sum())
    n_neg = c.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(s)
    return float((ranks[c == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def ppe_correctness_metrics(
    scores: Sequence[Sequence[float]] | np.ndarray,
    correct: Sequence[Sequence[int]] | np.ndarray,
    n_resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """PPE correctness metrics over prompts, each with K scored samples and 0/1 correctness labels.

    ``scores`` / ``correct``: one sequence per prompt (ragged allowed) or 2-D arrays.  CIs resample prompts.
    Keys: ``n_prompts``, ``n_prompts_both_classes``, ``accuracy``, ``roc_auc``, ``end_score``, ``max_score``,
    ``loss`` ({estimate, lo, hi, confidence}), ``max_score_k``, ``best_of_k_curve``, ``oracle_curve``
    (lists for K = 1..max n), ``n_prompts_per_k``, ``tie_rule``.
    """
    if len(scores) != len(correct) or len(scores) == 0:
        raise RewardlabError("need the same, non-zero number of prompts in scores and correct")
    pairs = [_check_sc(s, c) for s, c in zip(scores, correct, strict=True)]
    n_p = len(pairs)
    n_max = max(s.size for s, _ in pairs)
    bok = np.full((n_p, n_max), np.nan)
    orc = np.full((n_p, n_max), np.nan)
    auc = np.full(n_p, np.nan)
    n_pairs = np.zeros(n_p)
    end = np.empty(n_p)
    for p, (s, c) in enumerate(pairs):
        curve = best_of_k_curve(s, c)
        bok[p, : s.size] = curve
        orc[p, : s.size] = oracle_best_of_k_curve(c)
        end[p] = curve[-1]
        auc[p] = prompt_roc_auc(s, c)
        n_pairs[p] = c.sum() * (c.size - c.sum())
    n_per_k = np.sum(np.isfinite(bok), axis=0)

    def mean_curves(b: np.ndarray, o: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(b, axis=0), np.nanmean(o, axis=0)

    def max_stat(b: np.ndarray, o: np.ndarray) -> float:
        return float(np.nanmax(mean_curves(b, o)[0]))

    def loss_stat(b: np.ndarray, o: np.ndarray) -> float:
        mb, mo = mean_curves(b, o)
        return float(np.nanmean((mb - mo) ** 2))

    boot = {"n_resamples": n_resamples, "confidence": confidence, "seed": seed}
    both = np.isfinite(auc)
    auc_pairs = np.where(both, auc, 0.0) * n_pairs
    acc = bootstrap_ci(
        lambda num, den: num.sum() / den.sum() if den.sum() > 0 else float("nan"), auc_pairs, n_pairs, **boot
    )
    auc_ci = (
        bootstrap_mean_ci(auc[both], n_resamples, confidence, seed) if both.any() else (float("nan"),) * 3
    )
    mb, mo = mean_curves(bok, orc)
    return jsonable(
        {
            "n_prompts": n_p,
            "n_prompts_both_classes": int(both.sum()),
            "accuracy": ci_dict(*acc, confidence),
            "roc_auc": ci_dict(*auc_ci, confidence),
            "end_score": ci_dict(*bootstrap_mean_ci(end, n_resamples, confidence, seed), confidence),
            "max_score": ci_dict(*bootstrap_ci(max_stat, bok, orc, **boot), confidence),
            "max_score_k": int(np.nanargmax(mb)) + 1,
            "loss": ci_dict(*bootstrap_ci(loss_stat, bok, orc, **boot), confidence),
            "best_of_k_curve": mb,
            "oracle_curve": mo,
            "n_prompts_per_k": n_per_k,
            "tie_rule": "top of a K-subset drawn uniformly among tied maximum scores (average over tie orderings)",
        }
    )
