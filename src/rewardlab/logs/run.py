"""The logs stage: `run_logs_eval(spec) -> LogsEvalResult` and `simulate_logs(spec) -> LogsSimResult`.

Example:
    >>> import tempfile
    >>> from rewardlab.logs.spec import LogsEvalSpec, LogsSimSpec
    >>> d = tempfile.mkdtemp()
    >>> sim = simulate_logs(LogsSimSpec(output=d, n_obs=3000, n_exp=300, n_sim=200, seed=1))
    >>> res = run_logs_eval(LogsEvalSpec(obs=sim.obs, exp=sim.exp, sim=sim.sim, output=d, truth=sim.truth,
    ...                                  plots=False))
    >>> res.models, sorted(res.values)
    (['model_0', 'model_1', 'model_2'], ['dim', 'direct', 'dr', 'naive_obs', 'obs_corrected'])
    >>> round(res.errors["naive_obs"]["model_0"], 1)  # off by the confounding term, about +0.9
    0.9
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.errors import RewardlabError
from rewardlab.logs.spec import ESTIMATORS, LogsEvalSpec, LogsSimSpec

SCHEMA = "rewardlab.logs_eval/1"
LABELS = {"dim": "difference in means (EXP)", "naive_obs": "naive OBS mean", "direct": "direct plug-in (SIM)",
          "dr": "doubly robust", "obs_corrected": "OBS-trained reward + EXP correction"}


@dataclass
class Interval:
    """An estimate with its standard error and normal confidence interval."""

    estimate: float
    se: float
    lo: float
    hi: float

    def text(self) -> str:
        return f"{self.estimate:+.3f} [{self.lo:+.3f}, {self.hi:+.3f}]"


@dataclass
class LogsEvalResult:
    """What `rewardlab logs eval` found: per estimator, each model's value and its contrast to the baseline.

    values[estimator][model] and contrasts[estimator][model] (model - baseline) are Intervals; errors (with a truth
    file) are estimate - true value per estimator and model.
    """

    models: list[str]
    baseline: str
    n_obs: int
    n_exp: int
    n_sim_contexts: int
    confidence: float
    values: dict[str, dict[str, Interval]]
    contrasts: dict[str, dict[str, Interval]]
    outcome_model: str
    obs_model: str
    notes: list[str] = field(default_factory=list)
    truth: dict[str, float] | None = None
    errors: dict[str, dict[str, float]] | None = None
    plots: list[str] = field(default_factory=list)
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogsEvalResult:
        """The inverse of `to_dict` (reads a logs_eval.json)."""
        d = dict(d)
        for key in ("values", "contrasts"):
            d[key] = {e: {m: Interval(**iv) for m, iv in per.items()} for e, per in d[key].items()}
        return cls(**d)

    def write(self, folder: str | Path) -> Path:
        """Write logs_eval.json into `folder`; returns its path."""
        path = Path(folder) / "logs_eval.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def read(cls, path: str | Path) -> LogsEvalResult:
        """Read a logs_eval.json.

        Raises:
            RewardlabError: the file is missing or not a logs evaluation.
        """
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RewardlabError(f"{path}: cannot read a logs evaluation: {e}") from None
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise RewardlabError(f"{path}: not a logs evaluation (schema {SCHEMA})")
        return cls.from_dict(d)

    def lines(self) -> list[str]:
        """A readable table: one row per estimator, each model's value and contrast with CIs."""
        pct = f"{self.confidence:.0%}"
        out = [f"{self.n_obs} OBS rows, {self.n_exp} EXP rows, {self.n_sim_contexts} SIM contexts x "
               f"{len(self.models)} models; outcome model: {self.outcome_model}; OBS reward: {self.obs_model}",
               f"value of each model, estimate [{pct} CI]" + ("  (error vs truth)" if self.errors else "")]
        for e in ESTIMATORS:
            cells = []
            for m in self.models:
                c = f"{m} {self.values[e][m].text()}"
                if self.errors:
                    c += f" ({self.errors[e][m]:+.3f})"
                cells.append(c)
            out.append(f"  {e:>13}: " + "  ".join(cells))
        out.append(f"difference to {self.baseline}, estimate [{pct} CI]")
        for e in ESTIMATORS:
            out.append(f"  {e:>13}: " + "  ".join(f"{m} {self.contrasts[e][m].text()}" for m in self.models
                                                     if m != self.baseline))
        if self.truth:
            out.append("truth: " + "  ".join(f"{m} {v:+.3f}" for m, v in self.truth.items()))
        return out + [f"note: {n}" for n in self.notes]


def run_logs_eval(spec: LogsEvalSpec) -> LogsEvalResult:
    """Evaluate the candidate models with every estimator; write logs_eval.json (and logs_eval.png).

    Args:
        spec: the files and settings (see LogsEvalSpec).
    Returns:
        LogsEvalResult.
    Raises:
        DataValidationError: bad records, by file:line: field: reason.
        RewardlabError: inconsistent files, an unknown baseline or an unreadable truth file.
    """
    from statistics import NormalDist

    from rewardlab.logs.estimators import all_estimates
    from rewardlab.logs.files import read_logs

    if spec.missing():
        raise RewardlabError(f"logs eval needs {', '.join('--' + m for m in spec.missing())}")
    logs = read_logs(spec.obs, spec.exp, spec.sim, spec.outcome_field, spec.proxy_field)  # type: ignore[arg-type]
    models = logs.models
    baseline = spec.baseline or models[0]
    if baseline not in models:
        raise RewardlabError(f"--baseline {baseline!r} is not one of the models {models}")
    b = models.index(baseline)
    ests = all_estimates(logs.arrays, ridge=spec.ridge, folds=spec.folds, seed=spec.seed)
    z = NormalDist().inv_cdf(0.5 + spec.confidence / 2)
    values: dict[str, dict[str, Interval]] = {}
    contrasts: dict[str, dict[str, Interval]] = {}
    for name in ESTIMATORS:
        e = ests[name]
        se, cse = e.se(), e.contrast_se(b)
        values[name] = {m: Interval(float(e.value[i]), float(se[i]), float(e.value[i] - z * se[i]),
                                    float(e.value[i] + z * se[i])) for i, m in enumerate(models)}
        diff = e.value - e.value[b]
        contrasts[name] = {m: Interval(float(diff[i]), float(cse[i]), float(diff[i] - z * cse[i]),
                                       float(diff[i] + z * cse[i])) for i, m in enumerate(models)}
    a = logs.arrays
    res = LogsEvalResult(
        models=models, baseline=baseline, n_obs=int((a.obs_arm >= 0).sum()), n_exp=len(a.exp_reward),
        n_sim_contexts=int(a.sim_x.shape[0]), confidence=spec.confidence, values=values, contrasts=contrasts,
        outcome_model=f"field {spec.outcome_field!r}" if spec.outcome_field else
        f"ridge on EXP ({spec.folds}-fold cross-fitted for dr)",
        obs_model=f"field {spec.proxy_field!r}" if spec.proxy_field else "ridge on OBS", notes=logs.notes)
    if spec.truth:
        res.truth = _read_truth(spec.truth, models)
        res.errors = {e: {m: values[e][m].estimate - res.truth[m] for m in models} for e in ESTIMATORS}
    if spec.plots:
        res.plots = [_plot(res, Path(spec.output))]  # type: ignore[arg-type]
    res.write(spec.output)  # type: ignore[arg-type]
    return res


def _read_truth(path: str, models: list[str]) -> dict[str, float]:
    try:
        d = json.loads(Path(path).read_text())
        value = d["value"]
        return {m: float(value[m]) for m in models}
    except (OSError, json.JSONDecodeError) as e:
        raise RewardlabError(f"{path}: cannot read the truth file: {e}") from None
    except (KeyError, TypeError, ValueError):
        raise RewardlabError(f"{path}: expected {{\"value\": {{model: number}}}} covering {models}") from None


def _plot(res: LogsEvalResult, folder: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.45 * len(ESTIMATORS) * len(res.models)))
    y = 0
    ticks, labels = [], []
    for i, m in enumerate(res.models):
        for e in ESTIMATORS:
            iv = res.values[e][m]
            ax.errorbar([iv.estimate], [y], xerr=[[iv.estimate - iv.lo], [iv.hi - iv.estimate]], fmt="o",
                        color=f"C{ESTIMATORS.index(e)}", capsize=3)
            ticks.append(y)
            labels.append(f"{m}: {LABELS[e]}")
            y -= 1
        if res.truth:
            ax.plot([res.truth[m]] * 2, [y + len(ESTIMATORS) - 0.5, y + 0.5], "k--", lw=1)
        y -= 0.5 if i < len(res.models) - 1 else 0
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.set_xlabel(f"value, {res.confidence:.0%} CI" + (" (dashed: truth)" if res.truth else ""))
    fig.tight_layout()
    path = folder / "logs_eval.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


@dataclass
class LogsSimResult:
    """Where `rewardlab logs simulate` wrote the three sources and the truth, and the truth itself."""

    obs: str
    exp: str
    sim: str
    truth: str
    value: dict[str, float]
    confounding_term: dict[str, float]

    @property
    def files(self) -> list[str]:
        return [self.obs, self.exp, self.sim, self.truth]

    def lines(self) -> list[str]:
        return ["true values: " + "  ".join(f"{m} {v:+.3f}" for m, v in self.value.items()),
                "confounding term of the naive OBS mean: " + "  ".join(
                    f"{m} {v:+.3f}" for m, v in self.confounding_term.items())]


def simulate_logs(spec: LogsSimSpec) -> LogsSimResult:
    """Write semi-synthetic confounded logs (obs.jsonl, exp.jsonl, sim.jsonl) and truth.json into spec.output.

    Args:
        spec: sizes, confounding and alignment (see LogsSimSpec).
    Returns:
        LogsSimResult with the paths and the true values.
    """
    from rewardlab.data.io import write_records
    from rewardlab.logs.synthetic import generate_logs

    if not spec.output:
        raise RewardlabError("logs simulate needs output (the folder for the files)")
    logs = generate_logs(n_obs=spec.n_obs, n_exp=spec.n_exp, n_sim=spec.n_sim, n_models=spec.n_models,
                         confounding=spec.confounding, selection=spec.selection, alignment=spec.alignment,
                         noise=spec.noise, seed=spec.seed)
    out = Path(spec.output)
    paths = {name: str(out / f"{name}.jsonl") for name in ("obs", "exp", "sim")}
    for name, rows in (("obs", logs.obs_rows), ("exp", logs.exp_rows), ("sim", logs.sim_rows)):
        write_records(rows, paths[name])
    truth = out / "truth.json"
    truth.write_text(json.dumps(logs.truth, indent=2))
    return LogsSimResult(obs=paths["obs"], exp=paths["exp"], sim=paths["sim"], truth=str(truth),
                         value=logs.truth["value"], confounding_term=logs.truth["confounding_term"])
