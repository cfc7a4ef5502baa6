"""Estimators of V(a) = E[R | do(A = a)] from logs (ALGORITHMS.md section 5, RECONSTRUCTED after "The Partial
Testimony of Logs"), each with a normal 95% CI from its influence function. Pure numpy.

Three independent samples: OBS (a large log whose model choice is confounded), EXP (a small randomised experiment;
row i got arm A_i with known probability p_i, weight w_i = 1 / p_i) and SIM (every candidate model replayed on the
same cached contexts c; no outcome). Every estimator of arm a is a sum of sample means over these sources, so its
variance is sum over sources of Var(influence) / n_source, and the contrast a - b uses the per-unit difference of
the influences (SIM contexts are shared by all arms, which makes the SIM part of a contrast paired):

- dim: difference in means on EXP, the weighted arm mean sum_{A=a} w R / sum_{A=a} w (the plain arm mean when the
  assignment probabilities are equal). Unbiased, high variance.
- naive_obs: the arm mean of OBS. Biased by the confounding; a baseline, its CI shows precision, not accuracy.
- direct: plug-in; mu_hat(x, y) is a ridge regression of R on the features, fitted on all of EXP, averaged over the
  SIM replays of arm a. CI: delta method (SIM variance plus the sandwich variance of the coefficients). Biased when
  the features miss what makes the arms differ.
- dr: doubly robust, V_DM + (1/n_E) sum_EXP 1[A_i = a] w_i (R_i - mu_hat(X_i, Y_i)), with mu_hat cross-fitted over
  EXP folds (each EXP row's residual uses the model fitted without its fold; SIM uses the folds' average), or a given
  outcome model. Unbiased whatever mu_hat is; the better mu_hat, the narrower.
- obs_corrected: the same correction around a reward trained on OBS (ridge on OBS, or a given proxy score): large
  data, confounded fit, de-biased by EXP.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> arm = rng.integers(0, 2, 400)
    >>> r = arm * 1.0 + rng.normal(size=400)
    >>> est = difference_in_means(arm, r, np.full(400, 0.5), 2)
    >>> bool(abs(est.value[1] - est.value[0] - 1.0) < 0.3), est.value.shape
    (True, (2,))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

__all__ = ["ArmEstimate", "LogArrays", "all_estimates", "correction_estimate", "design", "difference_in_means",
           "direct_method", "naive_obs", "ridge_fit"]


@dataclass
class LogArrays:
    """The three sources as arrays; arms are integer codes 0..K-1 (OBS rows of other models are -1).

    features: [n, d] per OBS/EXP row, [n_ctx, K, d] for SIM. outcome_*/proxy_*: optional precomputed
    predictions (a given outcome model mu(x, y) at EXP [n_E] and SIM [n_ctx, K] rows; a given OBS-trained reward at the
    same rows). outcome_obs is carried for the record (no estimator needs it).
    """

    n_arms: int
    obs_arm: np.ndarray
    obs_reward: np.ndarray
    obs_x: np.ndarray
    exp_arm: np.ndarray
    exp_reward: np.ndarray
    exp_x: np.ndarray
    exp_prob: np.ndarray
    sim_x: np.ndarray
    outcome_exp: np.ndarray | None = None
    outcome_sim: np.ndarray | None = None
    outcome_obs: np.ndarray | None = None
    proxy_exp: np.ndarray | None = None
    proxy_sim: np.ndarray | None = None


@dataclass
class ArmEstimate:
    """One estimator's values per arm and the influence of each source's units ({source: [n_units, K]})."""

    value: np.ndarray
    influence: dict[str, np.ndarray] = field(default_factory=dict)

    def se(self) -> np.ndarray:
        """Standard error of each arm's value."""
        var = np.zeros_like(self.value)
        for inf in self.influence.values():
            if len(inf) > 1:
                var = var + inf.var(axis=0, ddof=1) / len(inf)
        return np.sqrt(var)

    def contrast_se(self, base: int) -> np.ndarray:
        """Standard error of value[a] - value[base] for every arm a (0 at the base)."""
        var = np.zeros_like(self.value)
        for inf in self.influence.values():
            if len(inf) > 1:
                d = inf - inf[:, [base]]
                var = var + d.var(axis=0, ddof=1) / len(inf)
        return np.sqrt(var)

    def intervals(self, confidence: float = 0.95, base: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(estimate, half-width) of the values, or of the contrasts to `base` when given."""
        z = NormalDist().inv_cdf(0.5 + confidence / 2)
        if base is None:
            return self.value, z * self.se()
        return self.value - self.value[base], z * self.contrast_se(base)


def design(x: np.ndarray) -> np.ndarray:
    """[..., d] features with a leading column of ones (the intercept)."""
    return np.concatenate([np.ones(x.shape[:-1] + (1,)), x], axis=-1)


def ridge_fit(x: np.ndarray, y: np.ndarray, ridge: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression of y on [1, x] (the intercept unpenalised; the penalty scaled by n and by each feature's
    variance, so it does not depend on the features' units).

    Returns:
        (coefficients [d + 1], the inverse of the penalised X'X / n, for the sandwich variance).
    """
    xd = design(x)
    n = len(y)
    scale = np.concatenate([[0.0], x.var(axis=0) if n > 1 else np.ones(x.shape[1])])
    m = xd.T @ xd / n + ridge * np.diag(np.where(scale > 0, scale, 1.0) * (np.arange(len(scale)) > 0))
    m_inv = np.linalg.pinv(m)
    return m_inv @ (xd.T @ y / n), m_inv


def _arm_mean(arm: np.ndarray, reward: np.ndarray, weight: np.ndarray, k: int) -> ArmEstimate:
    """Weighted arm means sum_{A=a} w R / sum_{A=a} w and their (ratio) influence per row."""
    onehot = (arm[:, None] == np.arange(k)[None, :]).astype(float) * weight[:, None]
    tot = onehot.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (onehot * reward[:, None]).mean(axis=0) / tot
        inf = onehot * (reward[:, None] - value[None, :]) / tot[None, :]
    return ArmEstimate(value, {"rows": inf})


def difference_in_means(arm: np.ndarray, reward: np.ndarray, prob: np.ndarray, k: int) -> ArmEstimate:
    """EXP arm means, each row weighted by 1 / its assignment probability (plain arm means when they are equal).

    Args:
        arm: [n] arm codes; reward: [n]; prob: [n] probability of the arm each row received; k: number of arms.
    Returns:
        ArmEstimate over the EXP rows.
    """
    est = _arm_mean(arm, reward, 1.0 / prob, k)
    return ArmEstimate(est.value, {"exp": est.influence["rows"]})


def naive_obs(arm: np.ndarray, reward: np.ndarray, k: int) -> ArmEstimate:
    """OBS arm means (NaN for an arm OBS never shows)."""
    est = _arm_mean(arm, reward, np.ones(len(arm)), k)
    return ArmEstimate(est.value, {"obs": np.nan_to_num(est.influence["rows"])})


def direct_method(exp_x: np.ndarray, exp_reward: np.ndarray, sim_x: np.ndarray, ridge: float = 1e-3) -> ArmEstimate:
    """Plug-in: a ridge outcome model fitted on EXP, averaged over each arm's SIM replays; delta-method influence.

    Args:
        exp_x: [n_E, d]; exp_reward: [n_E]; sim_x: [n_ctx, K, d]; ridge: penalty (see `ridge_fit`).
    Returns:
        ArmEstimate with SIM (context) and EXP (row) influences.
    """
    beta, m_inv = ridge_fit(exp_x, exp_reward, ridge)
    fs = design(sim_x)  # [C, K, d+1]
    pred = fs @ beta  # [C, K]
    value = pred.mean(axis=0)
    resid = exp_reward - design(exp_x) @ beta
    grad = fs.mean(axis=0) @ m_inv  # [K, d+1]: d value / d (X'y / n)
    inf_exp = (design(exp_x) * resid[:, None]) @ grad.T  # [n_E, K]
    return ArmEstimate(value, {"sim": pred - value, "exp": inf_exp})


def correction_estimate(mu_exp: np.ndarray, mu_sim: np.ndarray, arm: np.ndarray, reward: np.ndarray,
                        prob: np.ndarray, k: int) -> ArmEstimate:
    """mean_SIM mu + (1/n_E) sum_EXP 1[A_i = a] (R_i - mu_i) / p_i: the doubly robust form around any model mu.

    Args:
        mu_exp: [n_E] model predictions at the EXP rows (out of fold when fitted on EXP); mu_sim: [n_ctx, K].
        arm, reward, prob: the EXP rows; k: number of arms.
    Returns:
        ArmEstimate with SIM and EXP influences.
    """
    base = mu_sim.mean(axis=0)
    onehot = (arm[:, None] == np.arange(k)[None, :]).astype(float) / prob[:, None]
    terms = onehot * (reward - mu_exp)[:, None]
    corr = terms.mean(axis=0)
    return ArmEstimate(base + corr, {"sim": mu_sim - base, "exp": terms - corr})


def _crossfit(d: LogArrays, folds: int, ridge: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold ridge predictions at the EXP rows and the folds' average prediction at the SIM rows."""
    n = len(d.exp_reward)
    folds = max(2, min(folds, n // 2))
    which = np.random.default_rng(seed).permutation(n) % folds
    mu_exp = np.empty(n)
    mu_sim = np.zeros(d.sim_x.shape[:2])
    for f in range(folds):
        tr = which != f
        beta, _ = ridge_fit(d.exp_x[tr], d.exp_reward[tr], ridge)
        mu_exp[~tr] = design(d.exp_x[~tr]) @ beta
        mu_sim += design(d.sim_x) @ beta / folds
    return mu_exp, mu_sim


def all_estimates(d: LogArrays, ridge: float = 1e-3, folds: int = 2, seed: int = 0) -> dict[str, ArmEstimate]:
    """Every estimator on one set of logs.

    Args:
        d: the three sources as arrays.
        ridge: penalty of the fitted outcome and OBS models.
        folds: cross-fitting folds of the doubly robust outcome model.
        seed: fold assignment.
    Returns:
        {"dim", "naive_obs", "direct", "dr", "obs_corrected"} -> ArmEstimate. With a given outcome model
        (`outcome_exp`/`outcome_sim`), direct and dr use it as is; with a given proxy, obs_corrected uses it.
    """
    k = d.n_arms
    out = {"dim": difference_in_means(d.exp_arm, d.exp_reward, d.exp_prob, k),
           "naive_obs": naive_obs(d.obs_arm, d.obs_reward, k)}
    if d.outcome_exp is not None and d.outcome_sim is not None:
        base = d.outcome_sim.mean(axis=0)
        out["direct"] = ArmEstimate(base, {"sim": d.outcome_sim - base})
        mu_exp, mu_sim = d.outcome_exp, d.outcome_sim
    else:
        out["direct"] = direct_method(d.exp_x, d.exp_reward, d.sim_x, ridge)
        mu_exp, mu_sim = _crossfit(d, folds, ridge, seed)
    out["dr"] = correction_estimate(mu_exp, mu_sim, d.exp_arm, d.exp_reward, d.exp_prob, k)
    if d.proxy_exp is not None and d.proxy_sim is not None:
        p_exp, p_sim = d.proxy_exp, d.proxy_sim
    else:
        keep = d.obs_arm >= 0
        beta, _ = ridge_fit(d.obs_x[keep], d.obs_reward[keep], ridge)
        p_exp, p_sim = design(d.exp_x) @ beta, design(d.sim_x) @ beta
    out["obs_corrected"] = correction_estimate(p_exp, p_sim, d.exp_arm, d.exp_reward, d.exp_prob, k)
    return out
