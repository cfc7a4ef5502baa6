"""`rewardlab` command line: a table of commands, each a spec, a run function and a way to show its result.

Every command is generated from its row (`rewardlab.cli_spec.add_commands`): its options are the leaves of its spec,
`run(spec)` does the work, and the show function prints the result's lines and the files it wrote. No command has
options or logic of its own here. Every user mistake surfaces as a RewardlabError: one clear message on stderr and
exit code 2, no traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer

from rewardlab.audit.spec import AuditSpec
from rewardlab.cli_spec import Command, add_commands
from rewardlab.data.stage import SOURCE_HELP, DataCheckSpec, DataConvertSpec, DataStatsSpec
from rewardlab.demo import DemoSpec
from rewardlab.ensemble.spec import EnsembleSpec
from rewardlab.errors import DataValidationError, RewardlabError
from rewardlab.eval.compare_stage import CompareRunsSpec
from rewardlab.eval.eval_stage import EvalSpec
from rewardlab.eval.score_stage import ScoreSpec
from rewardlab.logs.spec import LogsEvalSpec, LogsSimSpec
from rewardlab.models.export_stage import ExportSpec
from rewardlab.optimize.generate import GenerateRunSpec
from rewardlab.optimize.spec import BonSpec, GoodhartSpec
from rewardlab.policy.sft_data import SFTBuildSpec
from rewardlab.policy.spec import CompareSpec, OptimizeSpec
from rewardlab.report.stage import ReportSpec
from rewardlab.serve.spec import ServeCommandSpec
from rewardlab.simulate.spec import SimulateSpec
from rewardlab.sweep.ladder import RUN_FIELDS, RUNG_FIELDS
from rewardlab.sweep.spec import SweepSpec
from rewardlab.train.config import TrainConfig

app = typer.Typer(
    help="rewardlab: preference data, reward-model training, honest evaluation, reward-hacking audits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Preference data: check, stats, convert, simulate, build (SFT data).", no_args_is_help=True)
logs_app = typer.Typer(help="Evaluate candidate models from confounded logs, a small randomised experiment and "
                       "replays (ALGORITHMS.md section 5).", no_args_is_help=True)


def _echo_err(msg: str) -> None:
    typer.echo(msg, err=True)


# ------------------------------------------------------------------ how results are shown


def _main_process() -> bool:
    """Rank 0 under torchrun / accelerate launch (`rewardlab.runtime.world`'s rule, without importing torch)."""
    return int(os.environ.get("RANK", "0")) == 0


def show(res: Any, spec: Any = None) -> None:
    """A stage result's summary lines, then the files it wrote; only the main process prints (under torchrun every
    process runs the stage, rank 0 writes the files)."""
    if not _main_process():
        return
    lines = res.lines()
    if lines:
        typer.echo("\n".join(lines))
    files = getattr(res, "files", None) or []  # a training result names its folder in its lines
    if files:
        typer.echo(f"wrote {', '.join(files)}")


def _report(folder: Path) -> Path:
    """report.html in `folder` (the command line composes the report stage; no stage imports it)."""
    from rewardlab.report import build_report

    return build_report(folder)


def show_with_report(res: Any, spec: Any = None) -> None:
    """A stage's result, after report.html is built in the folder of its first file."""
    res.files.append(str(_report(Path(res.files[0]).parent)))
    show(res)


def show_eval(res: Any, spec: EvalSpec) -> None:
    """The evaluation's lines and metrics.json; report.html unless --no-report (rank 0 only)."""
    if res.metrics is None:  # not rank 0
        return
    show(res)
    if spec.report:
        typer.echo(f"report: {_report(Path(res.files[0]).parent)}")


def show_logs_eval(res: Any, spec: LogsEvalSpec) -> None:
    """The estimators' table, the files, and report.html unless --no-report."""
    typer.echo("\n".join(res.lines()))
    typer.echo(f"wrote {spec.output}/logs_eval.json" + "".join(f", {spec.output}/{p}" for p in res.plots))
    if spec.report:
        typer.echo(f"report: {_report(Path(spec.output))}")  # type: ignore[arg-type]


# ------------------------------------------------------------------ the table

TRAIN_EPILOG = ("Every setting is also a YAML key (--print-config shows them all) and a dotted override: "
                "--set optim.lr=3e-4 --set model.head.kind=gaussian.")

COMMANDS: list[Command] = [
    # data
    Command("data check", DataCheckSpec, "rewardlab.data.stage:run_check", show=show,
            arguments={"data.source": SOURCE_HELP},
            help="Validate every record; list each bad one as source:line: field: reason (exit 2 if any)."),
    Command("data stats", DataStatsSpec, "rewardlab.eval.data_stage:run_stats", show=show,
            arguments={"data.source": SOURCE_HELP},
            help="Counts, length distributions (characters and tokens), duplicates, ties, categories, longer-wins "
            "rate; annotator agreement (raw, Krippendorff's alpha, Fleiss' and Cohen's kappa) when records carry a "
            "`votes` column or an annotator column, and intransitive preference cycles (A > B > C > A) per prompt; "
            "with --balance length, longer-wins per length-difference bin before and after `train --balance "
            "length`."),
    Command("data convert", DataConvertSpec, "rewardlab.data.stage:run_convert", show=show,
            arguments={"data.source": "Input file, datasets folder or hub id.",
                       "output": "Output .jsonl, .jsonl.gz, .json or .parquet."},
            help="Convert to rewardlab's explicit-prompt layout in JSONL or Parquet (validated on the way)."),
    Command("data simulate", SimulateSpec, "rewardlab.simulate.stage:run_simulate", show=show,
            help="Generate preference data with known ground truth (gold utilities, attributes) from the "
            "simulator."),
    Command("data build", SFTBuildSpec, "rewardlab.policy.sft_data:run_build", show=show,
            help="SFT data by AlpacaFarm's methods, in TRL's prompt-completion format (SFTTrainer loads it as is): "
            "best-of-n and expert-iteration pick each pool's best candidate with --model; feedme keeps each pair's "
            "chosen response; reward-conditioning writes both responses behind a positive / negative control "
            "token."),
    # train
    Command("train", TrainConfig, "rewardlab.train.trainer:run_train", show=show, config_file=True,
            set_prefix="", epilog=TRAIN_EPILOG,
            help="Train a reward model (default: MiniLM + Bradley-Terry + scalar head on simulator pairs).\n\nThe "
            "settings are validated before anything loads; an impossible combination (say --head scalar with "
            "--loss gaussian) stops here with a message naming the flags."),
    # score / eval / report / compare / export
    Command("score", ScoreSpec, "rewardlab.eval.score_stage:run_score", show=show,
            skip=("run.n_resamples", "run.seed"),
            help="Score every response of a data file; rows {id, role, prompt, response, reward[, std, members]}.\n\n"
            "With --length-control, \"reward\" is q = reward - beta * f(length) and \"reward_raw\" the scorer's "
            "reward; beta is fitted on the labels of --length-control-data, or else cross-fitted on the scored "
            "pairs (each half of the prompts with beta from the other half). The control is checked (held-out "
            "accuracy and adversarial probes before and after, printed and written to OUTPUT's stem + "
            ".length_control.json) and refused when it fails, unless --length-control-force. Under `torchrun "
            "--nproc_per_node N` or `accelerate launch` each process scores a contiguous share on its own device; "
            "rank 0 writes one file, in input order."),
    Command("eval", EvalSpec, "rewardlab.eval.eval_stage:run_eval", show=show_eval,
            help="Evaluate a reward model: accuracy with CIs, length baselines, calibration, PPE metrics, plots.\n\n"
            "With --length-control, pair datasets also get the accuracy of q = reward - beta * f(length), beta "
            "fitted on the labels of --length-control-data or cross-fitted (each half of the prompts controlled "
            "with beta from the other half), checked (held-out accuracy and adversarial probes before and after) "
            "and refused when the check fails, unless --length-control-force. Under `torchrun` / `accelerate "
            "launch` the responses are scored across the processes (each on its own device); rank 0 computes the "
            "statistics and writes the folder."),
    Command("report", ReportSpec, "rewardlab.report.stage:run_report", show=show, arguments={"folders": None},
            help="Build one self-contained report.html (plots embedded) from an evaluation/audit folder; with "
            "several folders, put the models side by side (accuracy, gold agreement and their paired differences "
            "to the first model, audit flags, length correlations, length-balanced accuracy, adversarial probes) "
            "in comparison.html."),
    Command("compare", CompareRunsSpec, "rewardlab.eval.compare_stage:run_compare", show=show,
            arguments={"dir_a": None, "dir_b": None},
            help="Paired comparison of two reward models on the same pairs: accuracy difference, CI and p-value."),
    Command("export", ExportSpec, "rewardlab.models.export_stage:run_export", show=show,
            arguments={"src": None, "dst": None},
            help="Write a plain HF sequence-classification model (mean reward) for TRL, OpenRLHF, vLLM, "
            "RewardBench."),
    # best-of-N / goodhart / policy optimisation
    Command("generate", GenerateRunSpec, "rewardlab.optimize.generate:run_generate", show=show,
            help="Sample N responses per prompt from a causal LM (batched, left padding, stop at EOS) with each "
            "response's summed log-probability under the sampler; resumes where a killed run stopped."),
    Command("bon", BonSpec, "rewardlab.optimize.run:run_bon", show=show,
            help="Best-of-N: pick each prompt's best candidate under a selection rule; rows {id, prompt, index, "
            "response, score, reward, n_ties}."),
    Command("goodhart", GoodhartSpec, "rewardlab.optimize.run:run_goodhart_stage", show=show_with_report,
            help="Overoptimisation curves: best-of-n (exact over the pool) and KL-regularised tilted policies of "
            "each proxy, scored by the gold reward, with bootstrap CIs, Gao et al. fits and the sweet spot."),
    Command("optimize", OptimizeSpec, "rewardlab.policy.loop:run", show=show_with_report,
            help="Optimise a simulator policy against a reward model step by step (GRPO, REINFORCE, DRRO, DRO, "
            "best-of-n, expert iteration, binary FeedME, binary reward conditioning, SFT) and watch proxy and gold: "
            "steps.jsonl, optimize.json, optimize.png, the sweet spot and report.html."),
    Command("compare-methods", CompareSpec, "rewardlab.policy.compare:run", show=show,
            help="AlpacaFarm's method comparison on the simulator: every method for several seeds against one "
            "reward, judged by the exact gold win rate against the base policy; a table with 95% CIs and the "
            "Spearman with AlpacaFarm's ranking."),
    Command("sweep", SweepSpec, "rewardlab.sweep.run:run", show=show, skip=RUNG_FIELDS + RUN_FIELDS,
            set_prefix="train", epilog="Every train option applies to every run (the rung sets the model, its depth, "
            "LoRA or a frozen backbone); --set takes train paths with or without 'train.': --set optim.lr=3e-4.",
            help="Train and evaluate a ladder of reward models on one split (MiniLM truncated to 1, 2, 3 and 6 "
            "layers up to SmolLM2-135M, LoRA and full; MLP heads; mitigation variants at the top) and write the "
            "scaling table (sweep.md, sweep.csv, sweep.json) and sweep.png. Resumable: finished runs in --output "
            "are reused."),
    Command("train-ensemble", EnsembleSpec, "rewardlab.ensemble.run:run", show=show,
            skip=RUNG_FIELDS + RUN_FIELDS, set_prefix="train",
            epilog="Every train option applies to every member (the member sets the model, its depth, LoRA or a "
            "frozen backbone, and its seed); --set takes train paths with or without 'train.'.",
            help="Train an ensemble whose members differ in what they can see (backbones, depths, LoRA or full, "
            "seeds and data orders) and save it as one folder that score, eval, bon, goodhart, optimize, serve and "
            "the adapters load; logs each member's cost and writes held-out accuracy, member correlation and "
            "spread-vs-error (ensemble.json)."),
    # audit / demo / serve / logs
    Command("audit", AuditSpec, "rewardlab.audit.cli:run_audit_stage", show=show_with_report,
            help="Reward-hacking audit: feature correlations, counterfactual probes, sycophancy, length-controlled "
            "accuracy."),
    Command("demo", DemoSpec, "rewardlab.demo:run", show=show,
            help="The main job on embedded defaults: simulate -> train MiniLM -> evaluate -> audit -> best-of-N and "
            "overoptimisation curves -> report."),
    Command("serve", ServeCommandSpec, "rewardlab.serve.server:serve", show=show,
            help="Serve a reward model over HTTP: batched across requests, bearer auth, Prometheus metrics.\n\nPOST "
            "/v1/rewards (rewards, std, members, a pessimistic score), /get_reward (OpenRLHF), /classify (vLLM, as "
            "verl calls it), /score; GET /health, /ready, /info, /metrics. Binds 127.0.0.1 unless --host says "
            "otherwise; a non-loopback host needs --api-key (or REWARDLAB_API_KEY). SIGTERM finishes the requests "
            "in flight, then exits."),
    Command("logs eval", LogsEvalSpec, "rewardlab.logs.run:run_logs_eval", show=show_logs_eval,
            help="Each model's value E[R | do(model)] and its difference to a baseline by five estimators, with "
            "CIs: difference in means on EXP, the naive OBS mean, direct plug-in over SIM, doubly robust, and an "
            "OBS-trained reward corrected on EXP. Writes logs_eval.json, logs_eval.png and report.html."),
    Command("logs simulate", LogsSimSpec, "rewardlab.logs.run:simulate_logs", show=show,
            help="Semi-synthetic confounded logs with known truth: obs.jsonl, exp.jsonl, sim.jsonl and truth.json "
            "(true values and the naive OBS mean's confounding term per model)."),
]

add_commands(app, COMMANDS, {"data": data_app, "logs": logs_app})
app.add_typer(data_app, name="data")
app.add_typer(logs_app, name="logs")


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
