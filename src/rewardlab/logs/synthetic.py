"""A semi-synthetic generator of confounded logs with known truth, so every estimator can be checked.

Per context: observed features x = (x0, x1) ~ N(0, I) and an unobserved user factor u = +1 or -1 (say, how lenient
the user rates), each with probability 1/2. Model a (a = 0..K-1) answers with a latent quality
z = theta_a + 0.5 x0 + N(0, 1) and a verbosity v = s_a + N(0, 1) that the reward ignores. The logged reward is

    R = z + 0.5 x1 + gamma u + noise * N(0, 1),

so V(a) = E[R | do(A = a)] = theta_a exactly (theta_a = 0.2 a). What the outcome models see of a response is a
quality score q = alignment * z + sqrt(1 - alignment^2) * sd(z) * N(0, 1) (alignment = the correlation of what a
reward model reads with the quality that pays) and v; features = [x0, x1, q, v].

- OBS: the user picks the model, P(A = a | u) proportional to exp(selection * u * d_a), d_a from +1 (model 0) to -1
  (model K-1): lenient users favour the weaker models. The naive OBS mean of arm a is off by exactly
  gamma * E[u | A = a] = gamma * (P(a | +1) - P(a | -1)) / (P(a | +1) + P(a | -1)), the known confounding term.
- EXP: uniform random assignment, probability 1/K (logged per row).
- SIM: every model replayed on the same fresh contexts (features only, no reward).
Every row also carries `oracle_mu` = E[R | x, z] = z + 0.5 x1, the true outcome model.

Example:
    >>> logs = generate_logs(n_obs=200, n_exp=60, n_sim=20, n_models=3, seed=1)
    >>> len(logs.obs_rows), len(logs.exp_rows), len(logs.sim_rows), logs.truth["value"]
    (200, 60, 60, {'model_0': 0.0, 'model_1': 0.2, 'model_2': 0.4})
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.logs.estimators import LogArrays

__all__ = ["SyntheticLogs", "confounding_terms", "generate_arrays", "generate_logs"]

STEP = 0.2  # theta_a = STEP * a


def _spread(k: int) -> np.ndarray:
    return np.linspace(1.0, -1.0, k) if k > 1 else np.zeros(1)


def confounding_terms(n_models: int, confounding: float, selection: float) -> np.ndarray:
    """[K] gamma * E[u | A = a] under the OBS choice model: the naive OBS mean's exact bias per arm."""
    d = _spread(n_models)
    p_plus = np.exp(selection * d) / np.exp(selection * d).sum()
    p_minus = np.exp(-selection * d) / np.exp(-selection * d).sum()
    return confounding * (p_plus - p_minus) / (p_plus + p_minus)


@dataclass
class SyntheticLogs:
    """Generated logs: JSON-ready rows of each source, the arrays the estimators take, and the truth."""

    arrays: LogArrays
    obs_rows: list[dict[str, Any]]
    exp_rows: list[dict[str, Any]]
    sim_rows: list[dict[str, Any]]
    truth: dict[str, Any]


def _responses(rng: np.random.Generator, arm: np.ndarray, x: np.ndarray, alignment: float,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """(features [..., 4], oracle mu [...]) of responses of arms `arm` to contexts `x` [..., 2]."""
    theta = STEP * np.arange(k)
    z = theta[arm] + 0.5 * x[..., 0] + rng.normal(size=arm.shape)
    sd_z = np.sqrt(theta.var() + 1.25)
    q = alignment * z + np.sqrt(max(0.0, 1 - alignment**2)) * sd_z * rng.normal(size=arm.shape)
    v = _spread(k)[arm] + rng.normal(size=arm.shape)
    return np.stack([x[..., 0], x[..., 1], q, v], axis=-1), z + 0.5 * x[..., 1]


def generate_arrays(n_obs: int = 20000, n_exp: int = 500, n_sim: int = 2000, n_models: int = 3,
                    confounding: float = 1.0, selection: float = 1.5, alignment: float = 0.8, noise: float = 1.0,
                    seed: int = 0) -> tuple[LogArrays, np.ndarray]:
    """The logs as arrays (with the true outcome model as `outcome_*`) and the true values V(a) = 0.2 a.

    Vectorised, for simulation studies over many seeds; `generate_logs` adds JSON rows.
    """
    rng = np.random.default_rng(seed)
    k = n_models
    d = _spread(k)

    def reward(mu: np.ndarray, u: np.ndarray) -> np.ndarray:
        return mu + confounding * u + noise * rng.normal(size=mu.shape)

    # OBS: the choice depends on the unobserved u
    x_o = rng.normal(size=(n_obs, 2))
    u_o = rng.choice([-1.0, 1.0], size=n_obs)
    logits = selection * u_o[:, None] * d[None, :]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    a_o = (rng.random(n_obs)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    f_o, mu_o = _responses(rng, a_o, x_o, alignment, k)
    # EXP: uniform random assignment
    x_e = rng.normal(size=(n_exp, 2))
    u_e = rng.choice([-1.0, 1.0], size=n_exp)
    a_e = rng.integers(0, k, size=n_exp)
    f_e, mu_e = _responses(rng, a_e, x_e, alignment, k)
    # SIM: every model on the same contexts
    x_s = np.repeat(rng.normal(size=(n_sim, 1, 2)), k, axis=1)
    f_s, mu_s = _responses(rng, np.tile(np.arange(k), (n_sim, 1)), x_s, alignment, k)
    arrays = LogArrays(n_arms=k, obs_arm=a_o, obs_reward=reward(mu_o, u_o), obs_x=f_o, exp_arm=a_e,
                       exp_reward=reward(mu_e, u_e), exp_x=f_e, exp_prob=np.full(n_exp, 1.0 / k), sim_x=f_s,
                       outcome_exp=mu_e, outcome_sim=mu_s, outcome_obs=mu_o)
    return arrays, STEP * np.arange(k)


def generate_logs(n_obs: int = 20000, n_exp: int = 500, n_sim: int = 2000, n_models: int = 3,
                  confounding: float = 1.0, selection: float = 1.5, alignment: float = 0.8, noise: float = 1.0,
                  seed: int = 0) -> SyntheticLogs:
    """Semi-synthetic confounded logs (see the module docstring) as JSON-ready rows and arrays, with the truth.

    Args:
        n_obs, n_exp: rows of the observational log and of the randomised experiment.
        n_sim: cached contexts, each replayed by every model.
        n_models: candidate models (K >= 2).
        confounding: gamma, the unobserved user factor's effect on the reward.
        selection: how strongly the user factor drives the model choice in OBS.
        alignment: correlation of the observed quality score with the latent quality (0..1).
        noise: reward noise scale.
        seed: random seed (same seed, same logs).
    Returns:
        SyntheticLogs; `truth` holds value (V(a)), confounding_term (the naive OBS bias per model) and the
        settings.
    Raises:
        RewardlabError: fewer than 2 models, alignment outside [0, 1] or sizes below 1.
    """
    if n_models < 2:
        raise RewardlabError("n_models must be >= 2")
    if not 0.0 <= alignment <= 1.0:
        raise RewardlabError("alignment must be in [0, 1]")
    if min(n_obs, n_exp, n_sim) < 1:
        raise RewardlabError("n_obs, n_exp and n_sim must be >= 1")
    arrays, value = generate_arrays(n_obs, n_exp, n_sim, n_models, confounding, selection, alignment, noise, seed)
    names = [f"model_{a}" for a in range(n_models)]

    def row(arm: int, x: np.ndarray, mu: float, **extra: Any) -> dict[str, Any]:
        return {"model": names[arm], **extra, "features": [round(float(v), 6) for v in x],
                "oracle_mu": round(float(mu), 6)}

    obs = [row(int(a), x, mu, reward=round(float(r), 6)) for a, x, mu, r in
           zip(arrays.obs_arm, arrays.obs_x, arrays.outcome_obs, arrays.obs_reward, strict=True)]  # type: ignore[arg-type]
    exp = [row(int(a), x, mu, reward=round(float(r), 6), propensity=float(p)) for a, x, mu, r, p in
           zip(arrays.exp_arm, arrays.exp_x, arrays.outcome_exp, arrays.exp_reward, arrays.exp_prob, strict=True)]
    sim = [row(a, arrays.sim_x[c, a], arrays.outcome_sim[c, a], context=f"c{c}")  # type: ignore[index]
           for c in range(n_sim) for a in range(n_models)]
    term = confounding_terms(n_models, confounding, selection)
    truth = {"value": {n: round(float(v), 12) for n, v in zip(names, value, strict=True)},
             "confounding_term": {n: float(t) for n, t in zip(names, term, strict=True)},
             "settings": {"n_obs": n_obs, "n_exp": n_exp, "n_sim": n_sim, "n_models": n_models,
                          "confounding": confounding, "selection": selection, "alignment": alignment,
                          "noise": noise, "seed": seed},
             "features": ["x0", "x1", "quality_score", "verbosity"]}
    return SyntheticLogs(arrays, obs, exp, sim, truth)
