"""`rewardlab eval` as a stage: EvalSpec -> run_eval -> EvalResult. Scores named datasets (files, or the
simulator's held-out pairs, pools and battles), sharded over processes under torchrun / accelerate, and writes
metrics.json, per-item scores and plots through `evaluate`; with --length-control, pair datasets also get the
guarded, label-fitted length control (fitted on --length-control-data, else cross-fitted).

Example:
    >>> spec = EvalSpec.from_options(model="runs/rm", output="runs/rm/eval", data=["a.jsonl", "b.jsonl"])
    >>> spec.data, spec.run.n_resamples, spec.sim_n, spec.report
    (['a.jsonl', 'b.jsonl'], 1000, 600, True)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.config import MODEL_HELP, ConfigError, ScoringRunSpec, Spec, option
from rewardlab.data.spec import ReadingOptions
from rewardlab.errors import RewardlabError
from rewardlab.eval.length_control_spec import LengthControlSpec


@dataclass
class EvalRunSpec(ScoringRunSpec):
    """The shared run section with the evaluation's defaults."""

    output: str | None = option(None, flag="--output", aliases=("-o",), help="Evaluation folder (required).")
    n_resamples: int = option(1000, min=10, help="Bootstrap resamples for 95% CIs.")
    seed: int = option(0, min=0, help="Seed for bootstrap and simulator data.")



@dataclass
class EvalSpec(Spec):
    """`rewardlab eval`: accuracy with CIs, length baselines, calibration, PPE metrics and plots."""

    section_title = "eval"

    model: str | None = option(None, flag="--model", aliases=("-m",), help=MODEL_HELP + " (required)")
    data: list[str] = option(default_factory=list, flag="--data", aliases=("-d",), help=(
        "Data file(s), repeatable or comma-separated; default: simulator pairs, pools and battles (held-out seeds)."))
    sim_n: int = option(600, min=1, help="Simulator pairs when no --data.")
    report: bool = option(True, help="Also write report.html.")
    sections: str | None = option(None, help="JSON {category: section} for a prompt-count-weighted section score "
                                  "(RewardBench v1 style).")
    reading: ReadingOptions = field(default_factory=ReadingOptions)  # applies to every --data file
    length_control: LengthControlSpec = field(default_factory=LengthControlSpec)
    run: EvalRunSpec = field(default_factory=EvalRunSpec)

    def check(self) -> None:
        keyed = self.reading.keyed()
        if keyed and not self.data:
            raise ConfigError("{0} is a reading option for a data file, but no {1} was given", f"reading.{keyed[0]}",
                              "data")


@dataclass
class EvalResult:
    """metrics.json's content (None on ranks other than 0), the files written and the lines to print."""

    metrics: dict[str, Any] | None
    files: list[str]
    messages: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        from rewardlab.eval.summary import headline

        return [*self.messages, *([headline(self.metrics)] if self.metrics is not None else [])]


def _read_all(reading: ReadingOptions, paths: list[str]) -> dict[str, list]:
    """{name: records} of several sources read with one spec (names from the file names, made unique)."""
    out: dict[str, list] = {}
    for p in paths:
        name = Path(p).name.split(".")[0] or "data"
        while name in out:
            name += "_"
        out[name] = reading.read(p).report_skipped().records
    return out


def run_eval(spec: EvalSpec) -> EvalResult:
    """Evaluate `spec.model` on the datasets and write the evaluation folder (rank 0 under a launcher).

    Args:
        spec: the validated settings.

    Returns:
        EvalResult: the metrics (as `evaluate` returns them), the files written, and the length-control lines.

    Raises:
        RewardlabError: no model or output; an unreadable sections file or data;
            a length control that fails its guard (without --length-control-force); what scoring raises.

    Example:
        >>> res = run_eval(EvalSpec.from_options(model="runs/rm", output="runs/rm/eval"))  # doctest: +SKIP
        >>> res.lines()[-1]  # doctest: +SKIP
    """
    from rewardlab.eval.evaluate import evaluate
    from rewardlab.eval.score_stage import fit_on_control_data
    from rewardlab.runtime import is_main_process, world
    from rewardlab.scoring import get_scorer, prescore
    from rewardlab.scoring.distributed import finish_distributed, init_distributed
    from rewardlab.scoring.rows import record_items

    if not spec.model:
        raise RewardlabError("--model is required: the reward model to evaluate")
    if not spec.run.output:
        raise RewardlabError("--output is required: the evaluation folder")
    run, control = spec.run, spec.length_control
    init_distributed(run.device)
    if spec.data:
        datasets = _read_all(spec.reading, spec.data)
    else:  # reading options without a data file were refused when the spec was built
        from rewardlab.simulate.datasets import simulator_eval_sets

        datasets = simulator_eval_sets(n_pairs=spec.sim_n, seed=run.seed + 20_000)
    section_map = None
    if spec.sections:
        try:
            section_map = json.loads(Path(spec.sections).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RewardlabError(f"{spec.sections}: expected a JSON object {{category: section}}: {e}") from None
    scorer = get_scorer(spec.model, bf16=run.bf16, device=run.device)
    if world()[1] > 1:
        items = [(it[2], it[3]) for recs in datasets.values() for it in record_items(recs)]
        scorer = prescore(scorer, items)
        finish_distributed()  # rank 0 goes on alone: every process leaves the group cleanly first
        if not is_main_process():
            return EvalResult(None, [])
    messages: list[str] = []
    fitted = None
    if control.enabled:
        fitted = fit_on_control_data(control, spec.reading, scorer, datasets, messages)
    out = Path(run.output)
    result = evaluate(scorer, datasets, out, n_resamples=run.n_resamples, seed=run.seed, sections=section_map,
                      length_control=(fitted[0] if fitted else "cross-fit") if control.enabled else None,
                      length_control_feature=control.feature, length_control_probes=control.probes,
                      length_control_force=control.force)
    return EvalResult(result, [str(out / "metrics.json")], messages)
