"""`rewardlab score` as a stage: ScoreSpec -> run_score -> ScoreResult. Scores every response of a data file
(rows {id, role, prompt, response, reward[, std, members]}), sharded over processes under torchrun / accelerate,
and optionally length-controls the rewards with the label-fitted, guarded control of `length_control`.

Example:
    >>> spec = ScoreSpec.from_options(model="runs/rm", data="pairs.jsonl", output="scores.jsonl")
    >>> spec.token_budget, spec.prefix_sharing, spec.length_control.enabled
    (16384, None, False)
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.config import MODEL_HELP, ScoringRunSpec, Spec, option
from rewardlab.data.spec import DataSpec, ReadingOptions
from rewardlab.errors import RewardlabError
from rewardlab.eval.length_control_spec import LengthControlSpec

logger = logging.getLogger(__name__)



@dataclass
class ScoreSpec(Spec):
    """`rewardlab score`: score every response of a data file, optionally length-controlled."""

    section_title = "score"

    model: str | None = option(None, flag="--model", aliases=("-m",), help=MODEL_HELP + " (required)")
    token_budget: int = option(16384, min=1, help="Max padded tokens per batch.")
    prefix_sharing: bool | None = option(None, help="Decoders: each distinct prompt run once, its key/value cache "
                                         "reused (default: when exact).")
    data: DataSpec = field(default_factory=DataSpec)
    length_control: LengthControlSpec = field(default_factory=LengthControlSpec)
    run: ScoringRunSpec = field(default_factory=ScoringRunSpec)


@dataclass
class ScoreResult:
    """The score rows (rank 0; empty on other ranks), the length-control fit and check, and the lines to print."""

    rows: list[dict[str, Any]]
    control: dict[str, Any] | None
    scorer: str
    files: list[str]
    messages: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [*self.messages, f"scored {len(self.rows)} responses with {self.scorer}"]


def fit_on_control_data(control: LengthControlSpec, data: ReadingOptions, scorer: Any, datasets: dict[str, list[Any]],
                        messages: list[str]) -> Any:
    """(the LengthControl fitted on the labels of --length-control-data (its line in `messages`, a note for each
    dataset that shares prompts with it), its fit pairs, their chosen and rejected rewards), or None (no control
    data: cross-fit on the scored pairs)."""
    if not control.data:
        return None
    from rewardlab.data.schema import PreferencePair
    from rewardlab.eval.length_control import fit_label_control, pair_data, score_pairs, shared_prompts

    pairs = [r for r in data.read(control.data).report_skipped().records if isinstance(r, PreferencePair)]
    rc, rr = score_pairs(scorer, pairs, control.data)
    lc_, lr_, y, prompts = pair_data(pairs)
    lc = fit_label_control(rc, rr, lc_, lr_, y, control.feature, prompts, control.data)  # type: ignore[arg-type]
    messages.append(lc.line())
    for name, recs in datasets.items():
        k = shared_prompts(pairs, recs)
        if k:
            note = (f"--length-control-data shares {k} prompt(s) with {name}: beta was partly fitted on the data it "
                    "controls")
            lc.notes.append(note)
            logger.warning(note)
    return lc, pairs, rc, rr


def _control_rows(control: LengthControlSpec, scorer: Any, fitted: Any, rows: list[dict[str, Any]],
                  records: list[Any], messages: list[str]) -> dict[str, Any]:
    """Control the rows in place and check the control (on the scored pairs, or, for records that are not pairs,
    cross-fitted on the fit pairs); the fit and the check go to `messages`."""
    from rewardlab.data.schema import PreferencePair
    from rewardlab.eval.length_control import control_score_rows, guard_lines, guarded_control

    opts = {"probes": control.probes, "force": control.force}
    lc = fitted[0] if fitted else None
    info = control_score_rows(rows, records, lc, control.feature, scorer, **opts)  # type: ignore[arg-type]
    if lc is not None and not all(isinstance(r, PreferencePair) for r in records):
        _, pairs, rc, rr = fitted  # not pairs: the check is on the fit pairs, each half with the other half's fit
        _, _, check = guarded_control(scorer, pairs, rc, rr, None, control.feature,  # type: ignore[arg-type]
                                      name=f"{control.data} (cross-fitted; the scored file has no labelled pairs)",
                                      **opts)
        info["guard"] = {**check["guard"], "on": f"{control.data}, cross-fitted on prompt halves"}
    if lc is None:
        for k, fit in enumerate(info["folds"]):
            messages.append(f"cross-fit {k + 1}/2: beta {fit['beta']:+.4g} [{fit['beta_ci'][0]:+.4g}, "
                            f"{fit['beta_ci'][1]:+.4g}], labels' gamma_L {fit['gamma_length']:+.3f} ({fit['source']})")
    messages += [f"length control check: {line}" for line in guard_lines(info)]
    messages.append("length control: 'reward' is q = reward - beta * f(length); 'reward_raw' is the scorer's reward")
    return info


def run_score(spec: ScoreSpec) -> ScoreResult:
    """Score every response of `spec.data` and write the rows as JSONL (rank 0 under a launcher).

    Args:
        spec: the validated settings.

    Returns:
        ScoreResult: the rows, the length-control fit and check (or None), and the files written.

    Raises:
        RewardlabError: no model, data or output; unreadable data; a length control that fails its guard (without
            --length-control-force); what scoring raises.

    Example:
        >>> res = run_score(ScoreSpec.from_options(model="runs/rm", data="pairs.jsonl",
        ...                                        output="scores.jsonl"))  # doctest: +SKIP
        >>> res.lines()[-1]  # doctest: +SKIP
        'scored 1200 responses with runs/rm'
    """
    from rewardlab.runtime import is_main_process
    from rewardlab.scoring import ShardedScorer, get_scorer
    from rewardlab.scoring.distributed import finish_distributed, init_distributed
    from rewardlab.scoring.rows import score_records

    for value, flag, what in ((spec.model, "--model", "the reward model"), (spec.data.source, "--data",
                              "the pairs, K-sample sets or battles to score"), (spec.run.output, "--output",
                              "the JSONL file of scores")):
        if not value:
            raise RewardlabError(f"{flag} is required: {what}")
    run, control = spec.run, spec.length_control
    init_distributed(run.device)
    res = spec.data.load().report_skipped()
    scorer = ShardedScorer(get_scorer(spec.model, bf16=run.bf16, token_budget=spec.token_budget,
                                      prefix_sharing=spec.prefix_sharing, device=run.device))
    messages: list[str] = []
    fitted = (fit_on_control_data(control, spec.data, scorer, {spec.data.source: res.records}, messages)
              if control.enabled else None)
    rows = score_records(scorer, res.records)
    finish_distributed()
    if not is_main_process():
        return ScoreResult([], None, scorer.name, [])
    info = _control_rows(control, scorer, fitted, rows, res.records, messages) if control.enabled else None
    output = Path(run.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    files = [str(output)]
    if info is not None:
        side = output.with_name(output.name.split(".")[0] + ".length_control.json")
        side.write_text(json.dumps(info, indent=2, allow_nan=False))
        messages.append(f"length control: fit and check in {side}")
        files.append(str(side))
    return ScoreResult(rows, info, scorer.name, files, messages)
