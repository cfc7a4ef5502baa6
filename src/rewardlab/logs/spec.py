"""Settings of `rewardlab logs eval` and `rewardlab logs simulate`, declared once (`rewardlab.config.option`).

Light on purpose: no numpy, so the CLI loads fast.
"""

from __future__ import annotations

from dataclasses import dataclass

from rewardlab.config import Spec, option

ESTIMATORS = ("dim", "naive_obs", "direct", "dr", "obs_corrected")


@dataclass
class LogsEvalSpec(Spec):
    """Inputs and estimator settings of an evaluation from logs (ALGORITHMS.md section 5).

    Example:
        >>> LogsEvalSpec().folds, LogsEvalSpec().missing()
        (2, ['obs', 'exp', 'sim', 'output'])
        >>> LogsEvalSpec(obs="o.jsonl", exp="e.jsonl", sim="s.jsonl", output="out", confidence=1.5)
        Traceback (most recent call last):
        rewardlab.config.ConfigError: confidence must be <= 0.999, got 1.5
    """

    section_title = "logs"

    obs: str | None = option(None, help="Observational log: JSONL rows {model, reward, features} (which model answered is "
                      "confounded).", flag="--obs")
    exp: str | None = option(None, help="Randomised experiment: JSONL rows {model, reward, features, propensity} (propensity: "
                      "the known probability of the model the row received).", flag="--exp")
    sim: str | None = option(None, help="Replays: JSONL rows {context, model, features}, every candidate model on every cached "
                      "context (no reward).", flag="--sim")
    output: str | None = option(None, help="Folder for logs_eval.json and the plot.", flag="--output",
                                aliases=("-o",))
    baseline: str | None = option(None, help="Model the contrasts are taken against (default: the first model in "
                                  "sorted order).")
    outcome_field: str | None = option(None, help="A numeric field holding a given outcome model's prediction "
                                       "mu(x, y) at every EXP and SIM row, used by direct and dr instead of the "
                                       "ridge fitted on EXP.")
    proxy_field: str | None = option(None, help="A numeric field holding an OBS-trained reward model's score at every "
                                     "EXP and SIM row, used by obs_corrected instead of the ridge fitted on OBS.")
    ridge: float = option(1e-3, min=0.0, help="Ridge penalty of the fitted outcome and OBS models (relative to "
                          "each feature's variance).")
    folds: int = option(2, min=2, help="Cross-fitting folds of the doubly robust outcome model.")
    confidence: float = option(0.95, min=0.5, max=0.999, help="Confidence level of the normal intervals.")
    seed: int = option(0, min=0, help="Seed of the cross-fitting folds.")
    truth: str | None = option(None, help="JSON with the true values, {\"value\": {model: V}} (as `rewardlab logs "
                               "simulate` writes in truth.json): adds each estimator's error.")
    plots: bool = option(True, help="Write logs_eval.png (estimates with their CIs).")
    report: bool = option(True, help="Also write report.html (`rewardlab logs eval`; the command line builds it).")

    def missing(self) -> list[str]:
        """The inputs that must be given and are not (the CLI makes them required options)."""
        return [name for name in ("obs", "exp", "sim", "output") if not getattr(self, name)]


@dataclass
class LogsSimSpec(Spec):
    """The semi-synthetic confounded logs generator (`rewardlab logs simulate`).

    Example:
        >>> LogsSimSpec().n_models
        3
        >>> LogsSimSpec(output="logs", alignment=2.0)
        Traceback (most recent call last):
        rewardlab.config.ConfigError: alignment must be <= 1.0, got 2.0
    """

    section_title = "simulation"

    output: str | None = option(None, help="Folder for obs.jsonl, exp.jsonl, sim.jsonl and truth.json.",
                                flag="--output", aliases=("-o",))
    n_obs: int = option(20000, min=1, help="Rows of the observational log.")
    n_exp: int = option(500, min=2, help="Rows of the randomised experiment.")
    n_sim: int = option(2000, min=2, help="Cached contexts, each replayed by every model.")
    n_models: int = option(3, min=2, help="Candidate models (true values 0, 0.2, 0.4, ...).")
    confounding: float = option(1.0, help="Effect of the unobserved user factor on the reward (gamma).")
    selection: float = option(1.5, help="How strongly the user factor drives the model choice in OBS.")
    alignment: float = option(0.8, min=0.0, max=1.0, help="Correlation of the observed quality score (what a reward "
                              "model reads) with the quality that pays.")
    noise: float = option(1.0, min=0.0, help="Reward noise scale.")
    seed: int = option(0, min=0, help="Random seed (same seed, same files).")
