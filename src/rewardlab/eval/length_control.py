"""Length control for any scorer, fitted on preference labels, and a guard that refuses a correction that would
destroy the model.

The model, fitted on held-out preference pairs (chosen c, rejected r, label y = P(c preferred): 1, a soft label,
or 0.5 for a tie) that the scorer has scored:

    logit P(y = 1) = gamma_R * (r_c - r_r) + gamma_L * (f(len_c) - f(len_r)),
    f(length) = (g(length) - mu) / s,   g = log(1 + characters) (default) or characters,

a logistic regression without intercept (a pair's two sides can be swapped, which flips every term).
gamma_L is the length preference of the labels *beyond* what the reward already expresses: negative when the
scorer prefers length more than the labels do, 0 when the reward already prefers length as much as the labels,
positive when it prefers it less. The corrected reward

    q = r + (gamma_L / gamma_R) * f(length) = r - beta * f(length),   beta = -gamma_L / gamma_R,

has pair differences gamma_R * (q_c - q_r) = the fitted log-odds, so q is the reward whose length preference
the labels support: among all r - b * f, beta maximizes the likelihood of the fit labels (docs/ALGORITHMS.md
section 10). The earlier fit (`fit_length_control`: least squares of the reward differences on the length
differences) removed every length preference of the reward, also the part that better answers earn by being
longer; on real judge data (issue 23) that left a model preferring short garbage. It is kept for comparison only.

What the labels cannot tell: if the fit labels share the training labels' length bias (the same annotators),
the bias is "supported" and stays. Fit on labels you trust about length (a length-balanced or carefully judged
set) to remove an annotator bias.

Every length-controlled output is checked (`guarded_control`): the held-out accuracy before and after (paired,
with a 95% CI; each pair corrected by a fit that did not see it) and the adversarial probes'
(`rewardlab.audit.adversarial`) win shares before and after. A correction whose accuracy difference has its
whole CI below 0, or under which a probe beats the real response significantly more often (exact McNemar test,
p < 0.05), is refused with a RewardlabError unless forced (`--length-control-force`).

Choices, and why:

- characters, not tokens: every scorer (a `py:` callable, an HTTP server, any checkpoint) is controlled on the
  same scale, no tokenizer is needed, and it is the unit of `data stats` and `--balance length`;
- a log by default: a difference of logs is a length ratio, comparable across short and long data sets;
- standardized (`s`: the standard deviation of the fit pairs' g differences; `mu`: the mean g of their
  responses): beta reads as "reward per standard deviation of the length-feature difference";
- per response: `rewardlab score` must correct each response on its own, so f is a function of one response;
- beta's 95% CI: the delta method on (gamma_L, gamma_R) with their covariance (inverse Fisher information, or the
  sandwich clustered by prompt when prompts repeat).

Never fit and evaluate on the same pairs without saying so: `cross_fit` fits on one half of the prompts and
controls the other half, and the reverse.

Example:
    >>> rng = np.random.default_rng(0)
    >>> n = 4000
    >>> lc_, lr_ = rng.integers(20, 800, n), rng.integers(20, 800, n)
    >>> uc, ur = rng.normal(size=n), rng.normal(size=n)
    >>> y = (rng.random(n) < 1 / (1 + np.exp(-(uc - ur)))).astype(float)  # labels follow quality only
    >>> rc, rr = uc + 0.5 * np.log1p(lc_), ur + 0.5 * np.log1p(lr_)  # a reward with a length bonus
    >>> lc = fit_label_control(rc, rr, lc_, lr_, y)
    >>> round(lc.beta / lc.s, 1)  # the bonus the labels do not support: 0.5 per unit of log length
    0.5
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.eval.length_control_spec import (
    LengthControlSpec as LengthControlSpec,  # the spec's module; re-exported here
)

logger = logging.getLogger(__name__)

FEATURES = ("log_chars", "chars")
MIN_PAIRS = 10  # fewer pairs, or no length variation, cannot estimate a slope
PROBE_ALPHA = 0.05  # a probe "gets worse" when McNemar's exact two-sided p is below this and it wins more often
MAX_LOGIT_COEF = 30.0  # |coefficient| per standard deviation beyond this: the labels are (nearly) separated




@dataclass
class LengthControl:
    """A fitted length control: q = reward - beta * f(length), f(length) = (g(length) - mu) / s, with g = log(1 + x)
    (feature "log_chars") or g = x ("chars"), length in characters.

    `method` "labels" (`fit_label_control`): beta = -gamma_L / gamma_R of the logistic fit of the labels, with
    `gamma_reward`, `gamma_length` (per reward unit and per standard deviation of the f difference), their 95%
    CIs, and `loglik_gain` (mean log-likelihood per pair gained by the length term on the fit pairs). `method`
    "rewards" (`fit_length_control`, not used by the CLI): beta is the least-squares slope of the reward
    differences. `beta_se`, `beta_ci` (95%), `r2` (rewards only), `corr_before` (Pearson correlation of reward
    and feature differences on the fit pairs) and `n_pairs` describe the fit; `source` says which pairs.

    Example:
        >>> lc = LengthControl(beta=2.0, feature="chars", mu=0.0, s=10.0)
        >>> lc.apply([5.0, 7.0], [10, 20]).tolist()
        [3.0, 3.0]
    """

    beta: float
    feature: str = "log_chars"
    mu: float = 0.0
    s: float = 1.0
    beta_se: float = float("nan")
    beta_ci: tuple[float, float] = (float("nan"), float("nan"))
    r2: float = float("nan")
    corr_before: float = float("nan")
    n_pairs: int = 0
    source: str = ""
    notes: list[str] = field(default_factory=list)
    method: str = "labels"
    gamma_reward: float = float("nan")
    gamma_reward_ci: tuple[float, float] = (float("nan"), float("nan"))
    gamma_length: float = float("nan")
    gamma_length_ci: tuple[float, float] = (float("nan"), float("nan"))
    loglik_gain: float = float("nan")

    def f(self, lengths: Sequence[float] | np.ndarray) -> np.ndarray:
        """The standardized length feature of each response (lengths in characters)."""
        return (_g(np.asarray(lengths, dtype=float), self.feature) - self.mu) / self.s

    def apply(self, rewards: Sequence[float] | np.ndarray, lengths: Sequence[float] | np.ndarray) -> np.ndarray:
        """q = reward - beta * f(length), per response.

        Args:
            rewards: the scorer's rewards.
            lengths: each response's length in characters (`len(text_of(response))`).

        Returns:
            The length-controlled rewards, one per response.

        Raises:
            RewardlabError: rewards and lengths differ in size.
        """
        r = np.asarray(rewards, dtype=float)
        ln = np.asarray(lengths, dtype=float)
        if r.shape != ln.shape:
            raise RewardlabError(f"length control: {r.size} rewards but {ln.size} lengths")
        return r - self.beta * self.f(ln)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (metrics.json, logs)."""
        fin = _finite
        model = ("logit P(label) = gamma_R * reward diff + gamma_L * f diff; q = reward - beta * f(length), "
                 "beta = -gamma_L / gamma_R" if self.method == "labels" else
                 "reward = q + beta * f(length); beta: least squares on pair reward differences")
        out = {"model": model, "method": self.method, "feature": self.feature,
               "f": f"({'log(1 + chars)' if self.feature == 'log_chars' else 'chars'} - {self.mu:.6g}) / {self.s:.6g}",
               "beta": fin(self.beta), "beta_se": fin(self.beta_se),
               "beta_ci": [fin(self.beta_ci[0]), fin(self.beta_ci[1])], "r2": fin(self.r2),
               "corr_before": fin(self.corr_before), "n_pairs": self.n_pairs, "source": self.source,
               "notes": list(self.notes)}
        if self.method == "labels":
            out.update({"gamma_reward": fin(self.gamma_reward), "gamma_reward_ci": [fin(x) for x in self.gamma_reward_ci],
                        "gamma_length": fin(self.gamma_length), "gamma_length_ci": [fin(x) for x in self.gamma_length_ci],
                        "loglik_gain": fin(self.loglik_gain)})
        return out

    def line(self) -> str:
        """One readable line: beta with its CI, the labels' length coefficient and the fit's pairs."""
        head = (f"length control: beta {self.beta:+.4g} [{self.beta_ci[0]:+.4g}, {self.beta_ci[1]:+.4g}] reward per "
                f"std of {self.feature} difference")
        if self.method == "labels":
            return (f"{head}; labels' length coefficient gamma_L {self.gamma_length:+.3f} [{self.gamma_length_ci[0]:+.3f}"
                    f", {self.gamma_length_ci[1]:+.3f}], gamma_R {self.gamma_reward:+.3g}, {self.n_pairs} labelled "
                    f"pairs ({self.source})")
        return f"{head}, R^2 {self.r2:.3f}, {self.n_pairs} pairs ({self.source})"


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _g(lengths: np.ndarray, feature: str) -> np.ndarray:
    if feature == "log_chars":
        return np.log1p(np.maximum(lengths, 0.0))
    if feature == "chars":
        return lengths.astype(float)
    raise RewardlabError(f"length control: feature must be one of {list(FEATURES)}, got {feature!r}")


def _arrays(reward_chosen: Any, reward_rejected: Any, len_chosen: Any, len_rejected: Any,
            feature: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, float]:
    """(reward differences, g of chosen, g of rejected, mu, s), checked."""
    rc, rr = np.asarray(reward_chosen, dtype=float), np.asarray(reward_rejected, dtype=float)
    lc, lr = np.asarray(len_chosen, dtype=float), np.asarray(len_rejected, dtype=float)
    if not rc.shape == rr.shape == lc.shape == lr.shape or rc.ndim != 1:
        raise RewardlabError(f"length control: rewards ({rc.size}, {rr.size}) and lengths ({lc.size}, {lr.size}) "
                             "must be one value per pair")
    if rc.size < MIN_PAIRS:
        raise RewardlabError(f"length control needs at least {MIN_PAIRS} pairs to fit beta, got {rc.size}")
    if not (np.isfinite(rc).all() and np.isfinite(rr).all()):
        raise RewardlabError("length control: the scorer returned non-finite rewards for the fit pairs")
    gc, gr = _g(lc, feature), _g(lr, feature)
    mu = float(np.mean(np.concatenate([gc, gr])))
    s = float(np.std(gc - gr))
    if not s > 0:
        raise RewardlabError("length control: the responses of every pair have the same length ratio; no slope "
                             "of reward on length can be fitted")
    return rc - rr, gc, gr, mu, s


def _logistic_no_intercept(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Maximum likelihood of P(y = 1) = sigma(x @ w) for soft labels y in [0, 1] (Newton with step halving).

    Returns:
        (w, Hessian of the negative log-likelihood at w, per-row score contributions, converged).
    """
    w = np.zeros(x.shape[1])

    def nll(v: np.ndarray) -> float:
        z = x @ v
        return float(np.sum(np.logaddexp(0.0, z) - y * z))

    cur = nll(w)
    converged = False
    for _ in range(200):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y)
        hess = (x * (p * (1 - p))[:, None]).T @ x
        try:
            step = np.linalg.solve(hess + 1e-12 * np.eye(x.shape[1]), grad)
        except np.linalg.LinAlgError:
            break
        t = 1.0
        while t > 1e-10:
            new = nll(w - t * step)
            if new <= cur + 1e-12:
                break
            t /= 2
        w = w - t * step
        done = abs(cur - new) < 1e-12 * max(1.0, abs(cur)) and float(np.max(np.abs(t * step))) < 1e-9
        cur = new
        if done:
            converged = True
            break
        if float(np.max(np.abs(w))) > MAX_LOGIT_COEF:
            break
    p = 1.0 / (1.0 + np.exp(-(x @ w)))
    hess = (x * (p * (1 - p))[:, None]).T @ x
    return w, hess, x * (y - p)[:, None], converged


def fit_label_control(reward_chosen: Sequence[float] | np.ndarray, reward_rejected: Sequence[float] | np.ndarray,
                      len_chosen: Sequence[float] | np.ndarray, len_rejected: Sequence[float] | np.ndarray,
                      labels: Sequence[float] | np.ndarray | None = None,
                      feature: Literal["log_chars", "chars"] = "log_chars",
                      groups: Sequence[Any] | None = None, source: str = "") -> LengthControl:
    """Fit the length control on preference labels: logit P(label) = gamma_R * reward diff + gamma_L * f diff,
    no intercept; beta = -gamma_L / gamma_R (see the module docstring).

    Args:
        reward_chosen, reward_rejected: the scorer's rewards of each pair's two responses.
        len_chosen, len_rejected: their lengths in characters.
        labels: P(chosen preferred) per pair: 1 (default for every pair), a soft label, 0.5 for a tie.
        feature: "log_chars" (standardized log(1 + characters)) or "chars" (standardized characters).
        groups: a prompt key per pair; when prompts repeat, the standard errors are clustered by prompt.
        source: which pairs these are (kept in the result, shown in reports).

    Returns:
        LengthControl (method "labels"): beta with its 95% CI, gamma_R and gamma_L with theirs, f's centre and
        scale.

    Raises:
        RewardlabError: arrays of different sizes, labels outside [0, 1], an unknown feature, fewer than 10
            pairs, no length variation, labels the reward and length separate perfectly (no finite fit), or a
            reward that does not predict the labels (gamma_R <= 0: no correction can be read off it).

    Example:
        >>> rng = np.random.default_rng(1)
        >>> lc_, lr_ = rng.integers(20, 800, 3000), rng.integers(20, 800, 3000)
        >>> g = rng.normal(size=3000) + 0.3 * (np.log1p(lc_) - np.log1p(lr_))  # quality that comes with length
        >>> y = (rng.random(3000) < 1 / (1 + np.exp(-g))).astype(float)
        >>> lc = fit_label_control(g, np.zeros(3000), lc_, lr_, y)  # the reward already has it
        >>> bool(lc.gamma_length_ci[0] < 0 < lc.gamma_length_ci[1])
        True
    """
    d, gc, gr, mu, s = _arrays(reward_chosen, reward_rejected, len_chosen, len_rejected, feature)
    n = d.size
    y = np.ones(n) if labels is None else np.asarray(labels, dtype=float)
    if y.shape != (n,) or not np.all((y >= 0) & (y <= 1)):
        raise RewardlabError(f"length control: labels must be {n} values in [0, 1] (P(chosen preferred))")
    sd = float(np.std(d))
    if not sd > 0:
        raise RewardlabError("length control: the reward gives every fit pair the same difference; it cannot be "
                             "weighed against length")
    x = np.column_stack([d / sd, (gc - gr) / s])
    if abs(float(x[:, 0] @ x[:, 1])) >= (1 - 1e-9) * math.sqrt(float(x[:, 0] @ x[:, 0]) * float(x[:, 1] @ x[:, 1])):
        raise RewardlabError("length control: the reward and length differences of the fit pairs are collinear "
                             "(a reward that is a function of length alone?); their effects on the labels cannot be "
                             "told apart")
    w, hess, scores, converged = _logistic_no_intercept(x, y)
    if not converged or float(np.max(np.abs(w))) > MAX_LOGIT_COEF:
        raise RewardlabError(f"length control: the labels of the {n} fit pairs are (almost) perfectly separated by "
                             "the reward and length; the logistic fit has no finite solution. Fit on more or "
                             "noisier labelled pairs")
    try:
        bread = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        raise RewardlabError("length control: the reward and length differences of the fit pairs are collinear; "
                             "their effects on the labels cannot be told apart") from None
    notes = []
    if groups is not None and len(set(map(_key, groups))) < n:
        keys = np.array([_key(gk) for gk in groups])
        _, inv = np.unique(keys, return_inverse=True)
        cl = np.zeros((int(inv.max()) + 1, 2))
        np.add.at(cl, inv, scores)
        cov = bread @ (cl.T @ cl) @ bread
        notes.append(f"SEs clustered by prompt ({cl.shape[0]} prompts)")
    else:
        cov = bread
        notes.append("SEs from the inverse Fisher information")
    a_std, c = float(w[0]), float(w[1])
    se_a, se_c = math.sqrt(max(cov[0, 0], 0.0)), math.sqrt(max(cov[1, 1], 0.0))
    if a_std - 1.96 * se_a <= 0:
        if a_std <= 0:
            raise RewardlabError(f"length control: the reward does not predict the labels of the {n} fit pairs "
                                 f"(gamma_R {a_std / sd:+.3g} <= 0); no length correction can be read off it")
        notes.append("gamma_R's 95% CI reaches 0: the reward barely predicts the fit labels, beta is unstable")
    beta_std = -c / a_std  # in units of sd(reward diff) per std of f difference
    grad = np.array([c / a_std**2, -1.0 / a_std])  # d beta_std / d (a_std, c)
    se_b = math.sqrt(max(float(grad @ cov @ grad), 0.0)) * sd
    beta = beta_std * sd
    ll0_w, _, _, _ = _logistic_no_intercept(x[:, :1], y)
    z0 = x[:, 0] * float(ll0_w[0])
    z1 = x @ w
    ll = [float(np.mean(y * z - np.logaddexp(0.0, z))) for z in (z0, z1)]
    corr = float(np.corrcoef(x[:, 1], d)[0, 1])
    return LengthControl(beta, feature, mu, s, se_b, (beta - 1.96 * se_b, beta + 1.96 * se_b), float("nan"), corr,
                         int(n), source, notes, "labels", a_std / sd, ((a_std - 1.96 * se_a) / sd,
                         (a_std + 1.96 * se_a) / sd), c, (c - 1.96 * se_c, c + 1.96 * se_c), ll[1] - ll[0])


def fit_length_control(reward_chosen: Sequence[float] | np.ndarray, reward_rejected: Sequence[float] | np.ndarray,
                       len_chosen: Sequence[float] | np.ndarray, len_rejected: Sequence[float] | np.ndarray,
                       feature: Literal["log_chars", "chars"] = "log_chars",
                       groups: Sequence[Any] | None = None, source: str = "") -> LengthControl:
    """The earlier length control, kept for comparison (the CLI uses `fit_label_control`): reward = q + beta *
    f(length) on scored pairs, beta the least-squares slope of the reward differences on the feature differences,
    through the origin. It removes every length preference of the reward, also the part that better answers earn
    by being longer (issue 23: on real judge data the controlled model preferred short garbage), and it needs no
    labels.

    Args:
        reward_chosen, reward_rejected: the scorer's rewards of each pair's two responses.
        len_chosen, len_rejected: their lengths in characters.
        feature: "log_chars" (standardized log(1 + characters)) or "chars" (standardized characters).
        groups: a prompt key per pair; when prompts repeat, beta's standard error is clustered by prompt.
        source: which pairs these are (kept in the result, shown in reports).

    Returns:
        LengthControl (method "rewards"): beta, its robust standard error and 95% CI, R^2, f's centre and scale.

    Raises:
        RewardlabError: arrays of different sizes, an unknown feature, fewer than 10 pairs, or pairs whose
            lengths never differ (no slope to fit).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> lc_, lr_ = rng.integers(20, 800, 2000), rng.integers(20, 800, 2000)
        >>> qc, qr = rng.normal(size=2000), rng.normal(size=2000)
        >>> lc = fit_length_control(qc + 0.5 * np.log1p(lc_), qr + 0.5 * np.log1p(lr_), lc_, lr_)
        >>> round(lc.beta / lc.s, 1), bool(lc.beta_ci[0] < lc.beta < lc.beta_ci[1])  # 0.5 per unit of log length
        (0.5, True)
    """
    y, gc, gr, mu, s = _arrays(reward_chosen, reward_rejected, len_chosen, len_rejected, feature)
    x = (gc - gr) / s
    sxx = float(x @ x)
    beta = float(x @ y) / sxx
    e = y - beta * x
    if groups is not None and len(set(map(_key, groups))) < len(x):
        keys = np.array([_key(g) for g in groups])
        _, inv = np.unique(keys, return_inverse=True)
        scores = np.bincount(inv, weights=x * e)
        meat = float(scores @ scores)
        se_note = f"SE clustered by prompt ({int(inv.max()) + 1} prompts)"
    else:
        meat = float(np.sum((x * e) ** 2))
        se_note = "SE heteroscedasticity-robust (HC0)"
    se = math.sqrt(meat) / sxx
    yy = float(y @ y)
    r2 = 1.0 - float(e @ e) / yy if yy > 0 else float("nan")
    corr = float(np.corrcoef(x, y)[0, 1]) if np.std(y) > 0 else float("nan")
    return LengthControl(beta, feature, mu, s, se, (beta - 1.96 * se, beta + 1.96 * se), r2, corr, int(x.size),
                         source, [se_note], "rewards")




def _key(prompt: Any) -> str:
    return prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False)


def prompt_fold(prompt: Any) -> int:
    """0 or 1: a deterministic half of the prompts (a hash of the prompt), the cross-fitting folds."""
    return hashlib.sha1(_key(prompt).encode()).digest()[1] % 2


#: How a length control is applied: (rewards, lengths in characters, prompts) -> controlled rewards.
Correction = Callable[[np.ndarray, np.ndarray, Sequence[Any]], np.ndarray]


def cross_fit_models(reward_chosen: Sequence[float] | np.ndarray, reward_rejected: Sequence[float] | np.ndarray,
                     len_chosen: Sequence[float] | np.ndarray, len_rejected: Sequence[float] | np.ndarray,
                     prompts: Sequence[Any], feature: Literal["log_chars", "chars"] = "log_chars",
                     labels: Sequence[float] | np.ndarray | None = None) -> list[LengthControl]:
    """The two label fits of cross-fitting: fits[k] is fitted on the pairs whose prompt is in half k
    (`prompt_fold`) and applies to the other half (`apply_cross_fit`).

    Raises:
        RewardlabError: a half with fewer than 10 pairs (named), or what `fit_label_control` raises.
    """
    rc, rr = np.asarray(reward_chosen, dtype=float), np.asarray(reward_rejected, dtype=float)
    lc, lr = np.asarray(len_chosen, dtype=float), np.asarray(len_rejected, dtype=float)
    y = np.ones(rc.size) if labels is None else np.asarray(labels, dtype=float)
    fold = np.array([prompt_fold(p) for p in prompts])
    if fold.size != rc.size:
        raise RewardlabError(f"length control: {fold.size} prompts for {rc.size} pairs")
    fits = []
    for k in (0, 1):
        on = fold == k
        n_fit = int(on.sum())
        if n_fit < MIN_PAIRS:
            raise RewardlabError(f"length control (cross-fitting): prompt half {k} has {n_fit} pairs, fewer than "
                                 f"{MIN_PAIRS}; give more pairs or --length-control-data")
        fits.append(fit_label_control(rc[on], rr[on], lc[on], lr[on], y[on], feature,
                                      [prompts[i] for i in np.flatnonzero(on)],
                                      source=f"prompt half {k} ({n_fit} pairs), applied to the other half"))
    return fits


def apply_cross_fit(fits: Sequence[LengthControl], rewards: Sequence[float] | np.ndarray,
                    lengths: Sequence[float] | np.ndarray, prompts: Sequence[Any]) -> np.ndarray:
    """Controlled rewards of responses to `prompts`: each with the fit of the *other* prompt half."""
    r, ln = np.asarray(rewards, dtype=float), np.asarray(lengths, dtype=float)
    fold = np.array([prompt_fold(p) for p in prompts], dtype=int)
    if not r.shape == ln.shape == fold.shape:
        raise RewardlabError(f"length control: {r.size} rewards, {ln.size} lengths, {fold.size} prompts")
    q = r.copy()
    for k in (0, 1):
        at = fold != k
        q[at] = fits[k].apply(r[at], ln[at])
    return q


def cross_fit(reward_chosen: Sequence[float] | np.ndarray, reward_rejected: Sequence[float] | np.ndarray,
              len_chosen: Sequence[float] | np.ndarray, len_rejected: Sequence[float] | np.ndarray,
              prompts: Sequence[Any], feature: Literal["log_chars", "chars"] = "log_chars",
              labels: Sequence[float] | np.ndarray | None = None,
              ) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Length-control pairs without fitting and applying on the same pairs: the prompts are split in two halves
    (`prompt_fold`); each half is controlled with the label fit (`fit_label_control`) of the other half.

    Args:
        reward_chosen, reward_rejected, len_chosen, len_rejected: as in `fit_label_control`.
        prompts: each pair's prompt (the folds keep all pairs of a prompt together).
        feature: as in `fit_label_control`.
        labels: P(chosen preferred) per pair (default 1 for every pair).

    Returns:
        (q_chosen, q_rejected, info): the controlled rewards, and {"method": "cross-fit", "folds": [fit of fold 0
        (applied to fold 1), fit of fold 1 (applied to fold 0)], "pooled": the fit on all pairs (for reading
        only; not applied)}.

    Raises:
        RewardlabError: a half with fewer than 10 pairs or no length variation (named), or what
            `fit_label_control` raises.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> n = 2000
        >>> lc_, lr_ = rng.integers(20, 800, n), rng.integers(20, 800, n)
        >>> u = rng.normal(size=n)
        >>> y = (rng.random(n) < 1 / (1 + np.exp(-u))).astype(float)
        >>> qc, qr, info = cross_fit(u + np.log1p(lc_), np.log1p(lr_), lc_, lr_, [f"p{i}" for i in range(n)], labels=y)
        >>> info["method"], bool(abs(np.corrcoef(qc - qr, np.log1p(lc_) - np.log1p(lr_))[0, 1]) < 0.05)
        ('cross-fit', True)
    """
    rc, rr = np.asarray(reward_chosen, dtype=float), np.asarray(reward_rejected, dtype=float)
    lc, lr = np.asarray(len_chosen, dtype=float), np.asarray(len_rejected, dtype=float)
    fits = cross_fit_models(rc, rr, lc, lr, prompts, feature, labels)
    qc, qr = apply_cross_fit(fits, rc, lc, prompts), apply_cross_fit(fits, rr, lr, prompts)
    try:
        pooled: dict[str, Any] | None = fit_label_control(
            rc, rr, lc, lr, labels, feature, list(prompts), source="all pairs (reported, not applied)").to_dict()
    except RewardlabError as e:
        pooled = {"error": str(e)}
    return qc, qr, {"method": "cross-fit", "folds": [f.to_dict() for f in fits], "pooled": pooled}


def pair_data(pairs: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
    """(chosen lengths, rejected lengths in characters, labels P(chosen preferred), prompts) of preference pairs
    (a tie is 0.5, no label is 1)."""
    from rewardlab.data.schema import text_of

    lc = np.array([len(text_of(p.chosen)) for p in pairs], dtype=float)
    lr = np.array([len(text_of(p.rejected)) for p in pairs], dtype=float)
    y = np.array([0.5 if p.tie else (1.0 if p.label is None else float(p.label)) for p in pairs])
    return lc, lr, y, [p.prompt for p in pairs]


def score_pairs(scorer: Any, pairs: Sequence[Any], source: str = "", progress: bool = True,
                ) -> tuple[np.ndarray, np.ndarray]:
    """The scorer's rewards of each pair's chosen and rejected response, in one batched call.

    Raises:
        RewardlabError: records that are not PreferencePairs (named).
    """
    from rewardlab.data.schema import PreferencePair

    bad = next((i for i, p in enumerate(pairs) if not isinstance(p, PreferencePair)), None)
    if bad is not None:
        raise RewardlabError(f"length control fits on preference pairs; record {bad} of {source or 'the data'} is "
                             f"a {type(pairs[bad]).__name__}")
    n = len(pairs)
    out = scorer.score([p.prompt for p in pairs] * 2, [p.chosen for p in pairs] + [p.rejected for p in pairs],
                       progress=progress)
    return np.asarray(out.mean[:n], dtype=float), np.asarray(out.mean[n:], dtype=float)


def fit_on_pairs(scorer: Any, pairs: Sequence[Any], feature: Literal["log_chars", "chars"] = "log_chars",
                 source: str = "", progress: bool = True) -> LengthControl:
    """Score labelled preference pairs with `scorer` and fit the length control on their labels
    (`fit_label_control`).

    Args:
        scorer: any Scorer.
        pairs: PreferencePair records (other records are an error): the fit pairs, held out from what is
            controlled.
        feature: f(length), "log_chars" or "chars".
        source: which pairs these are (kept in the fit).
        progress: show a progress bar while scoring.

    Returns:
        LengthControl: the fit.

    Raises:
        RewardlabError: records that are not pairs, or what `fit_label_control` raises.

    Example:
        >>> from rewardlab import CallableScorer
        >>> from rewardlab.data.schema import PreferencePair as P
        >>> pairs = [P(f"q{i}", "x" * (10 + 7 * i) + "!" * (i % 3), "y" * (90 - 3 * i), label=float(i % 4 != 0))
        ...          for i in range(40)]
        >>> lc = fit_on_pairs(CallableScorer(lambda p, r: r.count("!")), pairs, "chars", progress=False)
        >>> lc.method, lc.n_pairs
        ('labels', 40)
    """
    rc, rr = score_pairs(scorer, pairs, source, progress)
    lc, lr, y, prompts = pair_data(pairs)
    return fit_label_control(rc, rr, lc, lr, y, feature, prompts, source)


def shared_prompts(fit_pairs: Sequence[Any], records: Sequence[Any]) -> int:
    """How many distinct prompts of `records` also occur in `fit_pairs` (beta then was partly fitted on the data it
    controls; the CLI says so).

    Args:
        fit_pairs: the pairs beta was fitted on.
        records: the controlled records (anything with a `prompt`).

    Returns:
        The number of shared distinct prompts.

    Example:
        >>> from rewardlab.data.schema import PreferencePair as P
        >>> shared_prompts([P("a", "x", "y"), P("b", "x", "y")], [P("b", "x", "z"), P("c", "x", "y")])
        1
    """
    fit = {_key(p.prompt) for p in fit_pairs}
    return len({_key(r.prompt) for r in records} & fit)


# ---- the guard: held-out accuracy and adversarial probes, before and after ----------------------------------


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value for b and c discordant items (binomial test of b against Bin(b + c, 1/2)).

    Example:
        >>> mcnemar_exact(6, 0), mcnemar_exact(3, 3), mcnemar_exact(0, 0)
        (0.03125, 1.0, 1.0)
    """
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(max(b, c), n + 1))
    return min(1.0, 2 * tail / 2**n)


def accuracy_check(rc: np.ndarray, rr: np.ndarray, qc: np.ndarray, qr: np.ndarray, labels: np.ndarray,
                   n_resamples: int = 1000, seed: int = 0, cluster: np.ndarray | None = None) -> dict[str, Any]:
    """Accuracy of the raw and the controlled rewards on the same labelled pairs, and their paired difference, each
    with a 95% bootstrap CI (shared resamples, clustered by prompt when given). "worse": the difference's whole
    CI is below 0 (the drop exceeds its sampling noise).

    Example:
        >>> y = np.ones(40)
        >>> chk = accuracy_check(np.ones(40), np.zeros(40), np.zeros(40), np.ones(40), y, n_resamples=50)
        >>> chk["before"]["estimate"], chk["after"]["estimate"], chk["worse"]
        (1.0, 0.0, True)
    """
    from rewardlab.stats.bootstrap import bootstrap_mean_cis
    from rewardlab.stats.calibration import pairwise_correct
    from rewardlab.stats.util import ci_dict

    before = pairwise_correct(np.asarray(rc) - np.asarray(rr), labels)
    after = pairwise_correct(np.asarray(qc) - np.asarray(qr), labels)
    cis = bootstrap_mean_cis(np.column_stack([before, after, after - before]), n_resamples, seed=seed,
                             cluster=cluster)
    out = {k: ci_dict(*ci, 0.95) for k, ci in zip(("before", "after", "difference"), cis, strict=True)}
    hi = out["difference"]["hi"]
    return {**out, "n": int(before.size), "worse": bool(hi is not None and hi < 0)}


def probe_check(scorer: Any, pairs: Sequence[Any], correct: Correction, k: int = 200, seed: int = 0,
                progress: bool = False) -> dict[str, Any]:
    """The adversarial probes (`rewardlab.audit.adversarial`: token soup, prompt echo, off-prompt answer) on up
    to `k` prompts of `pairs`, scored once; per probe, the share of prompts on which the probe beats the real
    response with the raw rewards and with the controlled ones (`correct`), each with a 95% Wilson CI, the
    discordant prompts (`new_wins`: beats it only after; `lost_wins`: only before), McNemar's exact p, and
    "worse": more new wins than lost ones with p < 0.05.

    Raises:
        RewardlabError: the scorer returns non-finite rewards or a wrong number of them.
    """
    from rewardlab.data.schema import text_of
    from rewardlab.data.stats import wilson_interval
    from rewardlab.probes.adversarial import ADVERSARIAL, adversarial_items, reference_items
    from rewardlab.scoring.base import score_finite
    from rewardlab.stats.util import ci_dict

    prompts, refs, rule = reference_items(list(pairs), k, seed)
    out: dict[str, Any] = {"n_prompts": len(prompts), "reference": rule, "probes": {}}
    if not prompts:
        return out
    names = list(ADVERSARIAL)
    items = adversarial_items(prompts, refs, names, seed)
    raw = score_finite(scorer, items.prompts, items.responses, progress, "length control probes")
    lengths = np.array([len(text_of(r)) for r in items.responses], dtype=float)
    q = correct(raw, lengths, items.prompts)
    for name in names:
        idx, block = items.blocks[name]
        m = idx.size
        wins = {}
        for key, r in (("before", raw), ("after", q)):
            tol = 1e-9 * max(1.0, float(np.abs(r).max()))
            wins[key] = r[block] - r[idx] > tol
        b = int((wins["after"] & ~wins["before"]).sum())
        c = int((wins["before"] & ~wins["after"]).sum())
        p = mcnemar_exact(b, c)
        shares = {key: ci_dict(float(w.mean()) if m else float("nan"), *wilson_interval(int(w.sum()), m), 0.95)
                  for key, w in wins.items()}
        out["probes"][name] = {**shares, "n": int(m), "new_wins": b, "lost_wins": c, "p_value": p,
                               "worse": bool(b > c and p < PROBE_ALPHA)}
    return out


def guarded_control(scorer: Any, pairs: Sequence[Any], reward_chosen: Sequence[float] | np.ndarray,
                    reward_rejected: Sequence[float] | np.ndarray, control: LengthControl | None,
                    feature: Literal["log_chars", "chars"] = "log_chars", *, probes: int = 200,
                    n_resamples: int = 1000, seed: int = 0, force: bool = False, progress: bool = False,
                    name: str = "pairs") -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Length-control labelled pairs and check the result before anyone uses it.

    The control is `control` (fitted on other pairs) or, when None, cross-fitted on these pairs' labels
    (`cross_fit`). Either way each pair is corrected by a fit that did not see it, so the accuracy before and after
    (`accuracy_check`) is held-out; the adversarial probes (`probe_check`, `probes` prompts, 0 for none) are
    scored with `scorer` and corrected the same way.

    Args:
        scorer: the Scorer that gave the rewards (for the probes; None skips them).
        pairs: the labelled PreferencePairs.
        reward_chosen, reward_rejected: their raw rewards.
        control: a fitted LengthControl, or None for cross-fitting.
        feature: f(length) of the cross-fit.
        probes: prompts for the probe check (0: none).
        n_resamples, seed: bootstrap of the accuracy CIs; seed also of the probes.
        force: use the control even when the check fails (the failure stays in the result and is logged).
        progress: progress bar while scoring the probes.
        name: the data's name in messages.

    Returns:
        (q_chosen, q_rejected, info): the controlled rewards and {"method", "fit" or "folds"/"pooled",
        "guard": {"accuracy", "probes", "reasons", "refused", "forced", "passed"}}.

    Raises:
        RewardlabError: the check fails (whole CI of the accuracy difference below 0, or a probe that wins
            significantly more often) and `force` is off; or what the fit raises.

    Example:
        >>> from rewardlab import CallableScorer
        >>> from rewardlab.data.schema import PreferencePair as P
        >>> pairs = [P(f"Question {i}?", "A full answer. " * (1 + i % 5), "No.") for i in range(60)]
        >>> rc, rr = np.full(60, 2.0), np.full(60, 1.0)
        >>> huge = LengthControl(beta=100.0)  # a correction that wrecks the ranking
        >>> guarded_control(None, pairs, rc, rr, huge, probes=0, n_resamples=100)
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: length control refused on pairs: held-out accuracy 1.000 -> 0.000 ...
    """
    from rewardlab.stats.util import jsonable

    rc, rr = np.asarray(reward_chosen, dtype=float), np.asarray(reward_rejected, dtype=float)
    lc, lr, y, prompts = pair_data(pairs)
    if rc.shape != lc.shape or rr.shape != lr.shape:
        raise RewardlabError(f"length control: {rc.size} and {rr.size} rewards for {lc.size} pairs")
    info: dict[str, Any]
    correct: Correction
    if control is None:
        fits = cross_fit_models(rc, rr, lc, lr, prompts, feature, y)
        qc, qr, info = cross_fit(rc, rr, lc, lr, prompts, feature, y)

        def correct(r: np.ndarray, ln: np.ndarray, ps: Sequence[Any]) -> np.ndarray:
            return apply_cross_fit(fits, r, ln, ps)
    else:
        qc, qr = control.apply(rc, lc), control.apply(rr, lr)
        info = {"method": "fitted on other pairs", "fit": control.to_dict()}

        def correct(r: np.ndarray, ln: np.ndarray, ps: Sequence[Any]) -> np.ndarray:
            return control.apply(r, ln)
    keys = [_key(p) for p in prompts]
    cluster = np.array(keys) if len(set(keys)) < len(keys) else None
    acc = accuracy_check(rc, rr, qc, qr, y, n_resamples, seed, cluster)
    prb = probe_check(scorer, pairs, correct, probes, seed, progress) if probes > 0 and scorer is not None else None
    reasons = []
    if acc["worse"]:
        a, b, d = acc["before"], acc["after"], acc["difference"]
        reasons.append(f"held-out accuracy {a['estimate']:.3f} -> {b['estimate']:.3f} (paired difference "
                       f"{d['estimate']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}], {acc['n']} pairs)")
    for pname, pr in (prb or {}).get("probes", {}).items():
        if pr["worse"]:
            reasons.append(f"adversarial {pname} beats the real response on {pr['before']['estimate']:.1%} -> "
                           f"{pr['after']['estimate']:.1%} of {pr['n']} prompts ({pr['new_wins']} new wins, "
                           f"{pr['lost_wins']} lost; McNemar p {pr['p_value']:.2g})")
    guard = {"accuracy": acc, "probes": prb, "reasons": reasons, "passed": not reasons,
             "refused": bool(reasons) and not force, "forced": bool(reasons) and force,
             "rule": "refused when the paired 95% CI of the accuracy difference is below 0, or a probe wins more "
                     f"often with McNemar's exact p < {PROBE_ALPHA}"}
    if prb is None:
        guard["note"] = "no probe check (--length-control-probes 0 or no scorer)"
    if reasons and not force:
        raise RewardlabError(f"length control refused on {name}: " + "; ".join(reasons) + ". The correction "
                             "removes length preference that the labels support, or does not transfer to these "
                             "data; --length-control-force uses it anyway")
    if reasons:
        logger.warning("length control on %s failed its check and is used anyway (--length-control-force): %s",
                       name, "; ".join(reasons))
    info["guard"] = guard
    return qc, qr, jsonable(info)


def guard_lines(info: dict[str, Any]) -> list[str]:
    """Readable lines of a `guarded_control` check: accuracy before -> after, each probe's share before -> after,
    the verdict.

    Example:
        >>> acc = {"before": {"estimate": 0.7, "lo": 0.65, "hi": 0.75}, "after": {"estimate": 0.71, "lo": 0.66,
        ...        "hi": 0.76}, "difference": {"estimate": 0.01, "lo": -0.01, "hi": 0.03}, "n": 300}
        >>> guard_lines({"guard": {"accuracy": acc, "probes": None, "passed": True, "forced": False}})[0]
        'held-out accuracy 0.700 [0.650, 0.750] -> 0.710 [0.660, 0.760] (paired difference +0.010 [-0.010, +0.030], 300 pairs)'
    """
    g = info.get("guard")
    if not g:
        return []
    a = g["accuracy"]

    def ci(d: dict[str, Any], signed: bool = False) -> str:
        f = "{:+.3f}" if signed else "{:.3f}"
        return f"{f.format(d['estimate'])} [{f.format(d['lo'])}, {f.format(d['hi'])}]"

    out = [f"held-out accuracy {ci(a['before'])} -> {ci(a['after'])} (paired difference "
           f"{ci(a['difference'], True)}, {a['n']} pairs)"]
    if g.get("probes") is not None:
        parts = [f"{k} {p['before']['estimate']:.1%} -> {p['after']['estimate']:.1%}{' WORSE' if p['worse'] else ''}"
                 for k, p in g["probes"]["probes"].items()]
        out.append(f"adversarial probes beat the real response ({g['probes']['n_prompts']} prompts): "
                   + ", ".join(parts))
    else:
        out.append(g.get("note", "no probe check"))
    out.append("check: passed" if g["passed"] else "check: FAILED, used anyway (--length-control-force)")
    return out


def control_score_rows(rows: list[dict[str, Any]], records: Sequence[Any], control: LengthControl | None,
                       feature: Literal["log_chars", "chars"] = "log_chars", scorer: Any = None, *,
                       probes: int = 200, n_resamples: int = 1000, seed: int = 0, force: bool = False,
                       progress: bool = False) -> dict[str, Any]:
    """Length-control the rows of `rewardlab score` in place: "reward" becomes q, the raw reward moves to
    "reward_raw". With `control` None the records must be pairs and are cross-fitted on their labels
    (`cross_fit`). Pairs are checked (`guarded_control`); other records get no check here (the CLI checks the
    fit pairs instead).

    Args:
        rows: `score_records` rows, in the order of `record_items(records)`.
        records: the scored records.
        control: a LengthControl fitted on other pairs, or None for cross-fitting on these pairs.
        feature: f(length) of the cross-fit.
        scorer: the scorer (for the probe check).
        probes, n_resamples, seed, force, progress: as in `guarded_control`.

    Returns:
        The fit and its check (a dict, as `guarded_control`'s info; "guard" None for records that are not pairs).

    Raises:
        RewardlabError: control None and records that are not all pairs (name --length-control-data); a failed
            check without `force`.

    Example:
        >>> from rewardlab.data.schema import KSampleSet
        >>> rows = [{"role": "0", "response": "aaaa", "reward": 4.0}, {"role": "1", "response": "bb", "reward": 2.0}]
        >>> info = control_score_rows(rows, [KSampleSet("q", ["aaaa", "bb"])], LengthControl(1.0, "chars", 0.0, 1.0))
        >>> rows[0]["reward"], rows[0]["reward_raw"]
        (0.0, 4.0)
    """
    from rewardlab.data.schema import PreferencePair, text_of

    raw = np.array([r["reward"] for r in rows], dtype=float)
    is_pairs = bool(records) and all(isinstance(r, PreferencePair) for r in records)
    if is_pairs:
        n = len(records)
        if raw.size != 2 * n:
            raise RewardlabError(f"length control: {len(rows)} rows for {n} pairs")
        qc, qr, info = guarded_control(scorer, records, raw[0::2], raw[1::2], control, feature, probes=probes,
                                       n_resamples=n_resamples, seed=seed, force=force, progress=progress,
                                       name="the scored pairs")
        q = np.empty_like(raw)
        q[0::2], q[1::2] = qc, qr
    elif control is None:
        raise RewardlabError("--length-control needs labelled pairs to fit on: give --length-control-data FILE "
                             "(preference pairs) when the scored file is not a pairs file")
    else:
        lens = np.array([len(text_of(r["response"])) for r in rows], dtype=float)
        q = control.apply(raw, lens)
        info = {"method": "fitted on other pairs", "fit": control.to_dict(), "guard": None}
    for row, qi, ri in zip(rows, q, raw, strict=True):
        row["reward"], row["reward_raw"] = float(qi), float(ri)
    return info
