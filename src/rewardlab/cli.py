"""`rewardlab` command line: data, train, eval, report, score, audit, demo.

Every user mistake surfaces as a RewardlabError: one clear message on stderr and exit code 2, no traceback.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rewardlab.audit.spec import AuditSpec
from rewardlab.cli_spec import FlagValues, parse_set, spec_options
from rewardlab.data.balance import BalanceSpec
from rewardlab.data.quality import QualitySpec
from rewardlab.data.spec import DataSpec
from rewardlab.demo import DemoSpec
from rewardlab.ensemble.spec import MEMBER_FIELDS, EnsembleSpec
from rewardlab.ensemble.spec import RUN_FIELDS as ENSEMBLE_RUN_FIELDS
from rewardlab.errors import DataValidationError, RewardlabError
from rewardlab.eval.eval_stage import EvalSpec
from rewardlab.eval.score_stage import ScoreSpec
from rewardlab.logs.cli import logs_app
from rewardlab.optimize.generate import GenerateRunSpec
from rewardlab.optimize.spec import BonSpec, GoodhartSpec
from rewardlab.policy.compare import CompareSpec
from rewardlab.policy.loop import OptimizeSpec
from rewardlab.policy.sft_data import SFTBuildSpec
from rewardlab.serve.cli import serve_command
from rewardlab.simulate.spec import SimulateSpec
from rewardlab.sweep.spec import RUN_FIELDS, RUNG_FIELDS, SweepSpec
from rewardlab.train.config import TrainConfig

if TYPE_CHECKING:
    from rewardlab.data.load import LoadResult

app = typer.Typer(
    help="rewardlab: preference data, reward-model training, honest evaluation, reward-hacking audits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Preference data: check, stats, convert, simulate, build (SFT data).", no_args_is_help=True)
app.add_typer(data_app, name="data")

# ------------------------------------------------------------------ shared options
# The data-reading options of every command come from one declaration, DataSpec (rewardlab.data.spec), through
# `spec_options`; the training options from TrainConfig. Only options that belong to one command are written here.

DATA_OPTIONS = spec_options("reading", DataSpec, skip=("source",))
SetOpt = Annotated[list[str] | None, typer.Option("--set", help="Dotted override path=value, e.g. optim.lr=3e-4 "
                                                  "(repeatable; applied after the flags).")]

KIND_NAMES = {"pairs": "preference pairs", "ksample": "K-sample sets", "battles": "battles"}


def _echo_err(msg: str) -> None:
    typer.echo(msg, err=True)


def _load(spec: DataSpec, source: str | None = None) -> LoadResult:
    """Read one source with the spec's options; skipped records are reported on stderr, never dropped silently."""
    res = spec.load(source)
    if res.skipped:
        _echo_err(f"skipped {len(res.skipped)} invalid record(s) of {res.n_read}:\n{res.skip_summary()}")
        for issue in res.skipped[:20]:
            _echo_err(f"  {issue}")
        if len(res.skipped) > 20:
            _echo_err(f"  ... and {len(res.skipped) - 20} more")
    return res


# ------------------------------------------------------------------ data


@data_app.command("check")
@DATA_OPTIONS
def data_check(
    source: Annotated[str, typer.Argument(help="File, datasets folder or hub id.")],
    reading: FlagValues = None,  # type: ignore[assignment]  (generated from DataSpec)
) -> None:
    """Validate every record; list each bad one as source:line: field: reason (exit 2 if any)."""
    res = _load(reading.build(source=source))
    layout = res.kind
    if res.kind == "pairs":
        layout = "explicit prompt" if res.spec.explicit else "implicit prompt (shared prefix)"
    kind = KIND_NAMES[res.kind]
    typer.echo(f"{source}: {len(res.records)} valid {kind} ({layout})")
    if res.kind == "pairs":
        from rewardlab.data import text_of

        empty = sum(not text_of(t).strip() for r in res.records for t in (r.chosen, r.rejected))
        if empty:
            typer.echo(f"note: {empty} empty responses (kept: an empty reply is a real outcome; see `data stats`)")


@data_app.command("stats")
@DATA_OPTIONS
@spec_options("balancing", BalanceSpec)
@spec_options("quality", QualitySpec)
def data_stats_cmd(
    source: Annotated[str, typer.Argument(help="File, datasets folder or hub id.")],
    tokenizer: Annotated[
        str | None, typer.Option(help="Tokenizer for token lengths (default: the MiniLM backbone's); 'none' skips.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the statistics as JSON.")] = None,
    reading: FlagValues = None,  # type: ignore[assignment]  (generated from DataSpec)
    balancing: FlagValues = None,  # type: ignore[assignment]  (generated from BalanceSpec)
    quality: FlagValues = None,  # type: ignore[assignment]  (generated from QualitySpec)
) -> None:
    """Counts, length distributions (characters and tokens), duplicates, ties, categories, longer-wins rate;
    annotator agreement (raw, Krippendorff's alpha, Fleiss' and Cohen's kappa) when records carry a `votes` column
    or an annotator column, and intransitive preference cycles (A > B > C > A) per prompt; with --balance length,
    longer-wins per length-difference bin before and after `train --balance length`."""
    from rewardlab.data.stats import data_stats

    res = _load(reading.build(source=source))
    tok = None
    if (tokenizer or "").lower() != "none":
        from rewardlab.models.backbone import load_tokenizer

        tok = load_tokenizer(tokenizer)
    stats = data_stats(res.records, tok, quality.build())
    if "tokens" in stats:
        stats["tokens"]["tokenizer"] = tokenizer or "minilm"
    stats["source"] = source
    stats["skipped_invalid"] = len(res.skipped)
    balance = balancing.build()
    report = None
    if balance.enabled:
        from rewardlab.data.balance import balance_report

        report = balance_report(res.records, balance)
        stats["balance"] = report.to_dict()
    typer.echo(format_stats(stats))
    if report is not None:
        typer.echo("\n".join(report.lines()))
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(stats, indent=2))
        typer.echo(f"wrote {output}")


def format_stats(s: dict) -> str:
    """Readable multi-line summary of `data_stats` output."""
    lines = [f"source: {s.get('source')}  kind: {s['kind']}"]
    for k in (
        "n_pairs", "n_unique_prompts", "duplicate_pairs", "contradictory_pairs", "ties", "with_soft_label",
        "with_margin", "empty_responses", "n_sets", "n_responses", "n_battles", "correct_rate",
    ):
        if k in s:
            lines.append(f"{k:>22}: {s[k]}")
    if "categories" in s:
        lines.append(f"{'categories':>22}: " + ", ".join(f"{c}={n}" for c, n in s["categories"].items()))
    for unit in ("chars", "tokens"):
        if unit in s:
            lines.append(f"length in {unit}" + (f" ({s[unit].get('tokenizer')})" if unit == "tokens" else "") + ":")
            for part in ("prompt", "chosen", "rejected"):
                d = s[unit].get(part)
                if d:
                    lines.append(
                        f"  {part:>9}: mean {d['mean']:.1f}  p50 {d['p50']:.0f}  p90 {d['p90']:.0f}  "
                        f"p99 {d['p99']:.0f}  max {d['max']:.0f}"
                    )
    if "longer_wins" in s:
        for unit, d in s["longer_wins"].items():
            lines.append(
                f"longer response wins ({unit}): {d['rate']:.3f}  95% CI [{d['ci_low']:.3f}, {d['ci_high']:.3f}]"
                f"  n={d['n']}"
            )
    if len(s.get("longer_wins_by_category", {})) > 1:
        lines.append("longer response wins by category (chars):")
        for c, d in s["longer_wins_by_category"].items():
            lines.append(f"  {c:>14}: {d['rate']:.3f}  [{d['ci_low']:.3f}, {d['ci_high']:.3f}]  n={d['n']}")
    if "quality" in s:
        from rewardlab.data.quality import DataQuality

        lines += DataQuality.from_dict(s["quality"]).lines()
    return "\n".join(lines)


@data_app.command("convert")
@DATA_OPTIONS
def data_convert(
    source: Annotated[str, typer.Argument(help="Input file, datasets folder or hub id.")],
    output: Annotated[str, typer.Argument(help="Output .jsonl, .jsonl.gz, .json or .parquet.")],
    reading: FlagValues = None,  # type: ignore[assignment]  (generated from DataSpec)
) -> None:
    """Convert to rewardlab's explicit-prompt layout in JSONL or Parquet (validated on the way)."""
    from rewardlab.data import write_records

    res = _load(reading.build(source=source))
    write_records([r.to_dict() for r in res.records], output)
    typer.echo(f"wrote {len(res.records)} {res.kind} records to {output}")


@data_app.command("simulate")
@spec_options("settings", SimulateSpec)
def data_simulate(settings: FlagValues = None) -> None:  # type: ignore[assignment]  (generated from SimulateSpec)
    """Generate preference data with known ground truth (gold utilities, attributes) from the simulator."""
    from rewardlab.simulate.cli_support import run_simulate

    typer.echo("\n".join(run_simulate(settings.build()).lines()))


@data_app.command("build")
@spec_options("settings", SFTBuildSpec)
def data_build(
    summary: Annotated[Path | None, typer.Option(help="Also write the build summary as JSON (keep it out of the SFT "
                                                 "file's folder).")] = None,
    settings: FlagValues = None,  # type: ignore[assignment]  (generated from SFTBuildSpec)
) -> None:
    """SFT data by AlpacaFarm's methods, in TRL's prompt-completion format (SFTTrainer loads it as is):
    best-of-n and expert-iteration pick each pool's best candidate with --model; feedme keeps each pair's chosen
    response; reward-conditioning writes both responses behind a positive / negative control token."""
    from rewardlab.policy.sft_data import build_sft_data

    res = build_sft_data(settings.build())
    typer.echo("\n".join(res.lines()))
    if summary:
        typer.echo(f"wrote {res.write(summary)}")


# ------------------------------------------------------------------ train


@app.command("train", epilog="Every setting is also a YAML key (--print-config shows them all) and a dotted "
             "override: --set optim.lr=3e-4 --set model.head.kind=gaussian.")
@spec_options("settings", TrainConfig)
def train_cmd(
    config: Annotated[Path | None, typer.Option(help="YAML file of settings (nested sections as --print-config "
                                                "writes them, or flat option names); flags override it.")] = None,
    set_: SetOpt = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the resolved, validated settings as "
                                               "YAML and exit (nothing is loaded).")] = False,
    settings: FlagValues = None,  # type: ignore[assignment]  (generated from TrainConfig)
) -> None:
    """Train a reward model (default: MiniLM + Bradley-Terry + scalar head on simulator pairs).

    The settings are validated before anything loads; an impossible combination (say --head scalar with
    --loss gaussian) stops here with a message naming the flags."""
    base = TrainConfig.from_yaml(config) if config else None
    cfg = settings.build(base, overrides=parse_set(set_))
    if print_config:
        typer.echo(cfg.to_yaml(), nl=False)
        return
    from rewardlab.runtime import is_main_process
    from rewardlab.train.trainer import train

    res = train(cfg)
    if is_main_process():
        m = res.metrics
        if m:
            typer.echo(
                f"held-out: accuracy {m.get('accuracy', float('nan')):.3f}  nll {m.get('nll', float('nan')):.3f}  "
                f"ece {m.get('ece', float('nan')):.3f}  ({res.n_eval} pairs)"
            )
        typer.echo(f"saved reward model to {res.output}")


# ------------------------------------------------------------------ score / eval / report / compare / export

@app.command("score")
@spec_options("settings", ScoreSpec, skip=("run.n_resamples", "run.seed"))
def score_cmd(settings: FlagValues = None) -> None:  # type: ignore[assignment]  (generated from ScoreSpec)
    """Score every response of a data file; rows {id, role, prompt, response, reward[, std, members]}.

    With --length-control, "reward" is q = reward - beta * f(length) and "reward_raw" the scorer's reward; beta is
    fitted on the labels of --length-control-data, or else cross-fitted on the scored pairs (each half of the
    prompts with beta from the other half). The control is checked (held-out accuracy and adversarial probes
    before and after, printed and written to OUTPUT's stem + .length_control.json) and refused when it fails,
    unless --length-control-force.

    Under `torchrun --nproc_per_node N` or `accelerate launch` each process scores a contiguous share on its own
    device; rank 0 writes one file, in input order."""
    from rewardlab.eval.score_stage import run_score

    res = run_score(settings.build())
    if res.files:  # rank 0
        _echo_result(res)


@app.command("eval")
@spec_options("settings", EvalSpec, skip=("reading.source",))
def eval_cmd(settings: FlagValues = None) -> None:  # type: ignore[assignment]  (generated from EvalSpec)
    """Evaluate a reward model: accuracy with CIs, length baselines, calibration, PPE metrics, plots.

    With --length-control, pair datasets also get the accuracy of q = reward - beta * f(length), beta fitted on
    the labels of --length-control-data or cross-fitted (each half of the prompts controlled with beta from the
    other half), checked (held-out accuracy and adversarial probes before and after) and refused when the check
    fails, unless --length-control-force.

    Under `torchrun` / `accelerate launch` the responses are scored across the processes (each on its own
    device); rank 0 computes the statistics and writes the folder."""
    from rewardlab.eval.eval_stage import run_eval
    from rewardlab.report import build_report

    data = settings.values.get("data")  # the first file carries the reading options (validated against it)
    first = (data if isinstance(data, list) else str(data).split(","))[0].strip() if data else None
    spec = settings.build(overrides={"reading.source": first} if first else None)
    res = run_eval(spec)
    if res.metrics is None:  # not rank 0
        return
    typer.echo("\n".join(res.lines()))
    typer.echo(f"wrote {res.files[0]}")
    if spec.report:
        typer.echo(f"report: {build_report(Path(res.files[0]).parent)}")


@app.command("report")
def report_cmd(
    folders: Annotated[list[str], typer.Argument(help=(
        "An evaluation (and/or audit) folder; or several models, as NAME=FOLDER[,FOLDER] (e.g. "
        "bt=runs/bt/eval,runs/bt/audit) or FOLDER, for a side-by-side comparison whose first model is the "
        "baseline."))],
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help=(
        "Several folders: where comparison.html and comparison.json go (required)."))] = None,
) -> None:
    """Build one self-contained report.html (plots embedded) from an evaluation/audit folder; with several folders,
    put the models side by side (accuracy, gold agreement and their paired differences to the first model, audit
    flags, length correlations, length-balanced accuracy, adversarial probes) in comparison.html."""
    from rewardlab.report import build_comparison, build_report

    if len(folders) == 1:
        typer.echo(f"wrote {build_report(Path(folders[0].split('=', 1)[-1].split(',')[0]), title)}")
        return
    if output is None:
        raise RewardlabError("several folders make a comparison: give --output for comparison.html")
    models: dict[str, str] = {}
    for f in folders:
        name, _, path = f.partition("=") if "=" in f else (Path(f.split(",")[0]).name, "", f)
        if name in models:
            raise RewardlabError(f"two models are named {name!r}: name them NAME=FOLDER")
        models[name] = path
    page = build_comparison(models, output, title)
    typer.echo(f"wrote {page} and {page.with_suffix('.json')}")


@app.command("compare")
def compare_cmd(
    dir_a: Annotated[Path, typer.Argument(help="First evaluation folder.")],
    dir_b: Annotated[Path, typer.Argument(help="Second evaluation folder.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the comparison as JSON.")] = None,
) -> None:
    """Paired comparison of two reward models on the same pairs: accuracy difference, CI and p-value."""
    from rewardlab.eval.evaluate import compare_runs

    for d in (dir_a, dir_b):
        if not (d / "metrics.json").exists():
            raise RewardlabError(f"{d}: no metrics.json (run `rewardlab eval` first)")
    res = compare_runs(str(dir_a), str(dir_b))
    for name, c in res["datasets"].items():
        d = c["difference"]
        typer.echo(
            f"{name}: accuracy {c['accuracy_a']:.3f} (A) vs {c['accuracy_b']:.3f} (B); "
            f"A - B = {d['estimate']:+.3f} [{d['lo']:+.3f}, {d['hi']:+.3f}], p = {c['p_value']:.4f}, n = {c['n']}"
        )
    for note in res.get("notes", []):
        typer.echo(f"note: {note}")
    if output:
        output.write_text(json.dumps(res, indent=2))
        typer.echo(f"wrote {output}")


@app.command("export")
def export_cmd(
    src: Annotated[str, typer.Argument(help="rewardlab checkpoint (Gaussian or ensemble head).")],
    dst: Annotated[str, typer.Argument(help="Folder for the plain Hugging Face model.")],
    mean_only: Annotated[bool, typer.Option("--mean-only", help="Keep the mean reward only (required).")] = False,
) -> None:
    """Write a plain HF sequence-classification model (mean reward) for TRL, OpenRLHF, vLLM, RewardBench."""
    from rewardlab.models import export_mean_only

    if not mean_only:
        raise RewardlabError("a plain HF model carries one output: pass --mean-only to export the mean reward")
    typer.echo(f"wrote {export_mean_only(src, dst)}")


# ------------------------------------------------------------------ best-of-N / goodhart

@app.command("generate")
@spec_options("settings", GenerateRunSpec)
def generate_cmd(settings: FlagValues = None) -> None:  # type: ignore[assignment]  (generated from GenerateRunSpec)
    """Sample N responses per prompt from a causal LM (batched, left padding, stop at EOS) with each response's
    summed log-probability under the sampler; resumes where a killed run stopped."""
    from rewardlab.optimize.generate import run_generate

    _echo_result(run_generate(settings.build()))


@app.command("bon")
@spec_options("settings", BonSpec)
def bon_cmd(settings: FlagValues = None) -> None:  # type: ignore[assignment]  (generated from BonSpec)
    """Best-of-N: pick each prompt's best candidate under a selection rule; rows {id, prompt, index, response,
    score, reward, n_ties}."""
    from rewardlab.optimize.run import run_bon

    _echo_result(run_bon(settings.build()))


@app.command("goodhart")
@spec_options("settings", GoodhartSpec)
def goodhart_cmd(settings: FlagValues = None) -> None:  # type: ignore[assignment]  (generated from GoodhartSpec)
    """Overoptimisation curves: best-of-n (exact over the pool) and KL-regularised tilted policies of each proxy,
    scored by the gold reward, with bootstrap CIs, Gao et al. fits and the sweet spot."""
    from rewardlab.optimize.run import run_goodhart_stage

    _echo_with_report(run_goodhart_stage(settings.build()))


@app.command("optimize")
@spec_options("settings", OptimizeSpec)
def optimize_cmd(settings: FlagValues = None) -> None:  # type: ignore[assignment]  (generated from OptimizeSpec)
    """Optimise a simulator policy against a reward model step by step (GRPO, REINFORCE, DRRO, DRO, best-of-n, expert
    iteration, binary FeedME, binary reward conditioning, SFT) and watch proxy and gold: steps.jsonl, optimize.json,
    optimize.png, the sweet spot and report.html."""
    from rewardlab.policy.loop import run

    _echo_with_report(run(settings.build()))


@app.command("compare-methods")
@spec_options("settings", CompareSpec)
def compare_methods_cmd(settings: FlagValues = None) -> None:  # type: ignore[assignment]  (generated from CompareSpec)
    """AlpacaFarm's method comparison on the simulator: every method for several seeds against one reward, judged by
    the exact gold win rate against the base policy; a table with 95% CIs and the Spearman with AlpacaFarm's ranking."""
    from rewardlab.policy.compare import run

    res = run(settings.build())
    _echo_result(res)


def _echo_with_report(res: Any) -> None:
    """A stage's result, after report.html is built in the folder of its first file (the command line composes
    the report stage; no stage imports it)."""
    from rewardlab.report import build_report

    res.files.append(str(build_report(Path(res.files[0]).parent)))
    _echo_result(res)


def _echo_result(res: Any) -> None:
    """A stage result's summary lines, then the files it wrote."""
    typer.echo("\n".join(res.lines()))
    typer.echo(f"wrote {', '.join(res.files)}")


def _train_overrides(spec_cls: type, set_: list[str] | None) -> dict[str, Any]:
    """--set overrides of a spec that nests a TrainConfig under `train`: paths not naming one of the spec's own
    fields are train paths ('optim.lr' means 'train.optim.lr')."""
    fields = spec_cls.__dataclass_fields__  # type: ignore[attr-defined]
    return {(k if k.split(".")[0] in fields else f"train.{k}"): v for k, v in parse_set(set_).items()}


@app.command("sweep", epilog="Every train option applies to every run (the rung sets the model, its depth, LoRA or "
             "a frozen backbone); --set takes train paths with or without 'train.': --set optim.lr=3e-4.")
@spec_options("settings", SweepSpec, skip=RUNG_FIELDS + RUN_FIELDS)
def sweep_cmd(
    set_: SetOpt = None,
    settings: FlagValues = None,  # type: ignore[assignment]  (generated from SweepSpec)
) -> None:
    """Train and evaluate a ladder of reward models on one split (MiniLM truncated to 1, 2, 3 and 6 layers up to
    SmolLM2-135M, LoRA and full; MLP heads; mitigation variants at the top) and write the scaling table
    (sweep.md, sweep.csv, sweep.json) and sweep.png. Resumable: finished runs in --output are reused."""
    from rewardlab.sweep.run import run

    res = run(settings.build(overrides=_train_overrides(SweepSpec, set_)))
    _echo_result(res)


@app.command("train-ensemble", epilog="Every train option applies to every member (the member sets the model, its "
             "depth, LoRA or a frozen backbone, and its seed); --set takes train paths with or without 'train.'.")
@spec_options("settings", EnsembleSpec, skip=MEMBER_FIELDS + ENSEMBLE_RUN_FIELDS)
def train_ensemble_cmd(
    set_: SetOpt = None,
    settings: FlagValues = None,  # type: ignore[assignment]  (generated from EnsembleSpec)
) -> None:
    """Train an ensemble whose members differ in what they can see (backbones, depths, LoRA or full, seeds and data
    orders) and save it as one folder that score, eval, bon, goodhart, optimize, serve and the adapters load; logs
    each member's cost and writes held-out accuracy, member correlation and spread-vs-error (ensemble.json)."""
    from rewardlab.ensemble.run import run

    res = run(settings.build(overrides=_train_overrides(EnsembleSpec, set_)))
    _echo_result(res)


# ------------------------------------------------------------------ audit / demo


@app.command("audit")
@spec_options("settings", AuditSpec)
def audit_cmd(settings: FlagValues = None) -> None:  # type: ignore[assignment]  (generated from AuditSpec)
    """Reward-hacking audit: feature correlations, counterfactual probes, sycophancy, length-controlled accuracy."""
    from rewardlab.audit.cli import run_audit_stage

    _echo_with_report(run_audit_stage(settings.build()))


@app.command("demo")
@spec_options("settings", DemoSpec)
def demo_cmd(settings: FlagValues = None) -> None:  # type: ignore[assignment]  (generated from DemoSpec)
    """The main job on embedded defaults: simulate -> train MiniLM -> evaluate -> audit -> best-of-N and
    overoptimisation curves -> report."""
    from rewardlab.demo import run_demo
    from rewardlab.eval.summary import headline

    spec = settings.build()
    res = run_demo(spec.output, quick=spec.quick, seed=spec.seed)
    typer.echo("")
    typer.echo(headline(res.metrics))
    if res.audit:
        for flag in res.audit.get("flags", []):
            typer.echo(f"audit flag: {flag}")
    if res.goodhart:
        from rewardlab.optimize.run import format_sweet_spots

        typer.echo(format_sweet_spots(res.goodhart).splitlines()[-1])
    typer.echo(f"model: {res.model}")
    typer.echo(f"report: {res.report}")
    typer.echo(f"done in {res.seconds:.0f} s")


# ------------------------------------------------------------------ serve (rewardlab.serve.cli; options from ServeSpec)

app.command("serve")(serve_command)

# ------------------------------------------------------------------ logs (rewardlab.logs.cli; options from the logs specs)


def _logs_report(folder: Path | None) -> None:
    """After a `logs` command: `logs eval` returns its output folder (None with --no-report) for report.html."""
    if folder is not None:
        from rewardlab.report import build_report

        typer.echo(f"report: {build_report(folder)}")


app.add_typer(logs_app, name="logs", result_callback=_logs_report)


# ------------------------------------------------------------------ entry point


class NoteFormatter(logging.Formatter):
    """Progress lines as they are; warnings from the library as `note: ...`."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        return f"note: {msg}" if record.levelno >= logging.WARNING else msg


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app, turning RewardlabError into a message and exit code 2."""
    if "transformers" in sys.modules:  # already imported (an embedding process): quiet it now
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
    else:  # read by transformers when a command imports it; `--help` never pays for the import
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logger = logging.getLogger("rewardlab")
    if not logger.handlers:  # the library logs progress (INFO) and notes (WARNING); they go to stderr
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(NoteFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        app(args=argv)
    except DataValidationError as e:
        _echo_err(f"error: {e.render()}")
        sys.exit(2)
    except RewardlabError as e:
        _echo_err(f"error: {e}")
        sys.exit(2)


if __name__ == "__main__":
    main()
