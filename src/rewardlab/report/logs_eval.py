"""The "Evaluation from logs" section of report.html, from the logs_eval.json that `rewardlab logs eval` writes:
each model's value by the five estimators with CIs (and the error vs truth when one was given), the differences to
the baseline, the plot, a warning when the naive OBS mean visibly disagrees with the unbiased estimates, and what
each estimator is."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from rewardlab.logs.run import LABELS, Interval, LogsEvalResult
from rewardlab.logs.spec import ESTIMATORS
from rewardlab.report.markup import esc as _e

ESTIMATOR_DEFINITIONS = {
    "dim": "mean reward of the EXP rows that received the model, each row weighted by 1 / its assignment "
           "probability. Unbiased (the assignment is random), but EXP is small, so the CI is wide.",
    "naive_obs": "mean reward of the OBS rows of the model. Biased when who gets which model depends on the user "
                 "(confounding); its CI measures precision, not accuracy.",
    "direct": "an outcome model mu(x, y) (ridge on EXP, or a given field) averaged over the model's SIM replays. "
              "Biased when the features miss what makes the models differ.",
    "dr": "the direct plug-in plus the EXP average of 1[A = model] (R - mu) / propensity, mu "
          "cross-fitted. Unbiased whatever mu is; the better mu, the narrower the CI.",
    "obs_corrected": "the same correction around a reward trained on OBS (ridge on OBS, or a given proxy field): "
                     "the large confounded log fits the model, EXP removes its bias.",
}
REFERENCES = ("dim", "dr")  # the unbiased estimates the naive OBS mean is checked against


def _cell(iv: Interval) -> str:
    if not math.isfinite(iv.estimate):
        return "n/a"
    return _e(iv.text())


def confounding_flags(res: LogsEvalResult) -> list[tuple[str, str, Interval]]:
    """(model, estimator, naive OBS mean - that estimate) wherever the difference's CI excludes 0.

    The naive OBS mean is checked against the unbiased DiM and DR estimates through their difference, whose
    standard error is sqrt(se_naive^2 + se_ref^2) (OBS is a sample independent of EXP and SIM). Asking only whether
    the (narrow) naive CI excludes the (noisy) DiM point flags most models of unconfounded logs.

    Args:
        res: a logs evaluation.

    Returns:
        The flags, in model then REFERENCES order (empty when every difference's CI covers 0, or is undefined).
    """
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + res.confidence / 2)
    out = []
    for m in res.models:
        naive = res.values["naive_obs"][m]
        for e in REFERENCES:
            ref = res.values[e][m]
            d, se = naive.estimate - ref.estimate, math.hypot(naive.se, ref.se)
            if math.isfinite(d) and math.isfinite(se) and abs(d) > z * se:
                out.append((m, e, Interval(d, se, d - z * se, d + z * se)))
    return out


def logs_eval_html(res: LogsEvalResult, folder: Path, img: Callable[[Path, str], str]) -> str:
    """HTML for a logs evaluation: value and difference tables, the confounding check, plot, definitions.

    Args:
        res: the result, as `LogsEvalResult.read(folder / "logs_eval.json")` gives it.
        folder: the folder holding its plots.
        img: the page's image embedder (folder, file name) -> <img> tag ("" when the file is absent).

    Returns:
        The section's HTML.
    """
    pct = f"{res.confidence:.0%}"
    head = "".join(f"<th>{_e(m)}</th>" for m in res.models)
    rows = []
    for e in ESTIMATORS:
        cells = []
        for m in res.models:
            c = _cell(res.values[e][m])
            if res.errors and math.isfinite(res.errors[e][m]):
                c += f"<br><span class=meta>error {res.errors[e][m]:+.3f}</span>"
            cells.append(f"<td class=num>{c}</td>")
        rows.append(f"<tr><td>{_e(LABELS[e])} ({_e(e)})</td>{''.join(cells)}</tr>")
    if res.truth:
        rows.append("<tr><td>truth</td>" + "".join(f"<td class=num>{res.truth[m]:+.3f}</td>" for m in res.models)
                    + "</tr>")
    values = (f"<h3>Value of each model, estimate [{pct} CI]{' (error vs truth)' if res.errors else ''}</h3>"
              f"<table class=logs-values><tr><th>estimator</th>{head}</tr>{''.join(rows)}</table>")
    others = [m for m in res.models if m != res.baseline]
    crows = "".join(f"<tr><td>{_e(LABELS[e])} ({_e(e)})</td>"
                    + "".join(f"<td class=num>{_cell(res.contrasts[e][m])}</td>" for m in others) + "</tr>"
                    for e in ESTIMATORS)
    contrasts = (f"<h3>Difference to {_e(res.baseline)}, estimate [{pct} CI]</h3><table class=logs-contrasts>"
                 f"<tr><th>estimator</th>{''.join(f'<th>{_e(m)}</th>' for m in others)}</tr>{crows}</table>")
    flags = confounding_flags(res)
    if flags:
        what = "; ".join(f"{_e(m)}: naive - {_e(e)} = {_e(d.text())}" for m, e, d in flags)
        check = (f"<div class=warn>&#9888; Confounding visible: the naive OBS mean differs from the unbiased "
                 f"estimate ({what}; {pct} CI of the difference excludes 0). Do not rank models by the raw "
                 "log.</div>")
    else:
        check = (f"<div class=ok>The naive OBS mean agrees with the difference-in-means and doubly robust "
                 f"estimates of every model ({pct} CI of each difference covers 0): no confounding visible at "
                 "this sample size.</div>")
    notes = "".join(f"<div class=meta>note: {_e(n)}</div>" for n in res.notes)
    plots = "".join(img(folder, p) for p in res.plots)
    defs = "".join(f"<dt>{_e(LABELS[e])} ({_e(e)})</dt><dd>{_e(ESTIMATOR_DEFINITIONS[e])}</dd>" for e in ESTIMATORS)
    return (f"<h2>Evaluation from logs</h2><div class=meta>{res.n_obs} OBS rows, {res.n_exp} EXP rows, "
            f"{res.n_sim_contexts} SIM contexts x {len(res.models)} models; outcome model: {_e(res.outcome_model)}; "
            f"OBS reward: {_e(res.obs_model)}; target: each model's value E[R | do(model)]</div>{check}{values}"
            f"{contrasts}{notes}<div class=plots>{plots}</div><h3>Estimators</h3><dl>{defs}</dl>")
