"""`rewardlab` command line: data, train, eval, report, score, audit, demo.

Every user mistake surfaces as a RewardlabError: one clear message on stderr and exit code 2, no traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from rewardlab.errors import DataValidationError, RewardlabError

app = typer.Typer(
    help="rewardlab: preference data, reward-model training, honest evaluation, reward-hacking audits.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Preference data: check, stats, convert, simulate.", no_args_is_help=True)
app.add_typer(data_app, name="data")

# ------------------------------------------------------------------ shared options

FormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="Record layout: explicit, implicit, ksample or battles (default: detected)."),
]
FileFormatOpt = Annotated[
    str | None, typer.Option("--file-format", help="jsonl, json, csv, parquet, arrow (datasets folder) or hub.")
]
PromptKeyOpt = Annotated[str | None, typer.Option("--prompt-key", help="Column holding the prompt.")]
ChosenKeyOpt = Annotated[str | None, typer.Option("--chosen-key", help="Column holding the preferred response.")]
RejectedKeyOpt = Annotated[str | None, typer.Option("--rejected-key", help="Column holding the other response.")]
SplitOpt = Annotated[str | None, typer.Option("--split", help="Split of a datasets folder or hub dataset.")]
DEVICE_HELP = ("auto (cuda when available, else cpu), cpu, cuda, cuda:N or mps. Under torchrun / accelerate launch "
               "each process takes its own GPU (or the CPU with --device cpu).")
DeviceOpt = Annotated[str, typer.Option("--device", help=DEVICE_HELP)]
OnInvalidOpt = Annotated[
    str, typer.Option("--on-invalid", help="'error': stop and list bad records (exit 2); 'skip': go on, report.")
]


KIND_NAMES = {"pairs": "preference pairs", "ksample": "K-sample sets", "battles": "battles"}


def _echo_err(msg: str) -> None:
    typer.echo(msg, err=True)


def _load(source, fmt, file_format, prompt_key, chosen_key, rejected_key, split, on_invalid):
    from rewardlab.data import load_data

    res = load_data(
        source,
        kind=fmt,
        file_format=file_format,
        prompt_key=prompt_key,
        chosen_key=chosen_key,
        rejected_key=rejected_key,
        split=split,
        on_invalid=on_invalid,
    )
    if res.skipped:
        _echo_err(f"skipped {len(res.skipped)} invalid record(s) of {res.n_read}:\n{res.skip_summary()}")
        for issue in res.skipped[:20]:
            _echo_err(f"  {issue}")
        if len(res.skipped) > 20:
            _echo_err(f"  ... and {len(res.skipped) - 20} more")
    return res


# ------------------------------------------------------------------ data


@data_app.command("check")
def data_check(
    source: Annotated[str, typer.Argument(help="File, datasets folder or hub id.")],
    fmt: FormatOpt = None,
    file_format: FileFormatOpt = None,
    prompt_key: PromptKeyOpt = None,
    chosen_key: ChosenKeyOpt = None,
    rejected_key: RejectedKeyOpt = None,
    split: SplitOpt = None,
    on_invalid: OnInvalidOpt = "error",
) -> None:
    """Validate every record; list each bad one as source:line: field: reason (exit 2 if any)."""
    res = _load(source, fmt, file_format, prompt_key, chosen_key, rejected_key, split, on_invalid)
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
def data_stats_cmd(
    source: Annotated[str, typer.Argument(help="File, datasets folder or hub id.")],
    tokenizer: Annotated[
        str | None, typer.Option(help="Tokenizer for token lengths (default: the MiniLM backbone's); 'none' skips.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the statistics as JSON.")] = None,
    fmt: FormatOpt = None,
    file_format: FileFormatOpt = None,
    prompt_key: PromptKeyOpt = None,
    chosen_key: ChosenKeyOpt = None,
    rejected_key: RejectedKeyOpt = None,
    split: SplitOpt = None,
    on_invalid: OnInvalidOpt = "error",
) -> None:
    """Counts, length distributions (characters and tokens), duplicates, ties, categories, longer-wins rate."""
    from rewardlab.data.stats import data_stats

    res = _load(source, fmt, file_format, prompt_key, chosen_key, rejected_key, split, on_invalid)
    tok = None
    if (tokenizer or "").lower() != "none":
        from rewardlab.models.backbone import load_tokenizer

        tok = load_tokenizer(tokenizer)
    stats = data_stats(res.records, tok)
    if "tokens" in stats:
        stats["tokens"]["tokenizer"] = tokenizer or "minilm"
    stats["source"] = source
    stats["skipped_invalid"] = len(res.skipped)
    typer.echo(format_stats(stats))
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
    return "\n".join(lines)


@data_app.command("convert")
def data_convert(
    source: Annotated[str, typer.Argument(help="Input file, datasets folder or hub id.")],
    output: Annotated[str, typer.Argument(help="Output .jsonl, .jsonl.gz, .json or .parquet.")],
    fmt: FormatOpt = None,
    file_format: FileFormatOpt = None,
    prompt_key: PromptKeyOpt = None,
    chosen_key: ChosenKeyOpt = None,
    rejected_key: RejectedKeyOpt = None,
    split: SplitOpt = None,
    on_invalid: OnInvalidOpt = "error",
) -> None:
    """Convert to rewardlab's explicit-prompt layout in JSONL or Parquet (validated on the way)."""
    from rewardlab.data import write_records

    res = _load(source, fmt, file_format, prompt_key, chosen_key, rejected_key, split, on_invalid)
    write_records([r.to_dict() for r in res.records], output)
    typer.echo(f"wrote {len(res.records)} {res.kind} records to {output}")


@data_app.command("simulate")
def data_simulate(
    output: Annotated[str, typer.Option("--output", "-o", help="Output file (.jsonl, .jsonl.gz, .parquet).")],
    kind: Annotated[str, typer.Option(help="pairs, pools (K samples per prompt), battles or sycophancy.")] = "pairs",
    n: Annotated[int, typer.Option("-n", help="Number of pairs / prompts / battles / cases.")] = 2000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
    k: Annotated[int, typer.Option("-k", help="Responses per prompt for --kind pools.")] = 8,
    preset: Annotated[str, typer.Option(help="neutral (no annotator bias) or human_like.")] = "neutral",
    length_bias: Annotated[float | None, typer.Option(help="Annotator preference for longer responses.")] = None,
    agreement_bias: Annotated[float | None, typer.Option(help="Preference for agreeing with the user.")] = None,
    format_bias: Annotated[float | None, typer.Option(help="Preference for markdown formatting.")] = None,
    flip_prob: Annotated[float | None, typer.Option(help="Probability that a label is flipped.")] = None,
    annotators: Annotated[int | None, typer.Option(help="Annotators per pair (soft labels, ties).")] = None,
    config: Annotated[Path | None, typer.Option(help="YAML/JSON simulator config (SimConfig fields).")] = None,
) -> None:
    """Generate preference data with known ground truth (gold utilities, attributes) from the simulator."""
    from rewardlab.data import write_records
    from rewardlab.simulate.cli_support import build_config, simulate_kind

    cfg = build_config(preset, config, length_bias, agreement_bias, format_bias, flip_prob, annotators)
    rows = simulate_kind(kind, n=n, seed=seed, k=k, config=cfg)
    write_records(rows, output)
    typer.echo(f"wrote {len(rows)} simulated {kind} records to {output}")


# ------------------------------------------------------------------ train


@app.command("train")
def train_cmd(
    config: Annotated[Path | None, typer.Option(help="YAML file of training settings (flags override it).")] = None,
    model: Annotated[str | None, typer.Option(help="Backbone: 'minilm' (offline default), a folder or a hub id.")] = None,
    data: Annotated[str | None, typer.Option(help="Training pairs (file, datasets folder, hub id); default: simulator.")] = None,
    eval_data: Annotated[str | None, typer.Option(help="Held-out pairs for evaluation.")] = None,
    eval_split: Annotated[float | None, typer.Option(help="Hold out this share of --data prompts for evaluation.")] = None,
    loss: Annotated[str | None, typer.Option(help="bt, margin, soft, rao_kupper, davidson or gaussian.")] = None,
    head: Annotated[str | None, typer.Option(help="scalar, gaussian (mean + variance) or ensemble.")] = None,
    members: Annotated[int | None, typer.Option(help="Ensemble members (--head ensemble).")] = None,
    member_gaussian: Annotated[bool | None, typer.Option("--member-gaussian", help="Ensemble of Gaussian heads.")] = None,
    bootstrap: Annotated[bool | None, typer.Option("--bootstrap", help="Each member trains on a bootstrap resample.")] = None,
    pooling: Annotated[str | None, typer.Option(help="auto (the architecture's own), last, mean or cls.")] = None,
    lora: Annotated[bool | None, typer.Option("--lora", help="Train LoRA adapters (the head is always trained).")] = None,
    lora_r: Annotated[int | None, typer.Option(help="LoRA rank.")] = None,
    freeze_backbone: Annotated[bool | None, typer.Option("--freeze-backbone", help="Train the head only.")] = None,
    epochs: Annotated[float | None, typer.Option(help="Training epochs.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many optimiser steps (overrides --epochs).")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Pairs per device per step.")] = None,
    grad_accum: Annotated[int | None, typer.Option(help="Gradient accumulation steps.")] = None,
    max_length: Annotated[int | None, typer.Option(help="Max tokens per rendered sequence (longer: truncated, counted).")] = None,
    render_mode: Annotated[str | None, typer.Option(help="auto, chat, pair or plain.")] = None,
    center_eta: Annotated[float | None, typer.Option(help="Centering regulariser weight (0.01 typical).")] = None,
    anchor_columns: Annotated[str | None, typer.Option(help="'chosen_col,rejected_col' external scores for anchors.")] = None,
    anchor_lambda: Annotated[float | None, typer.Option(help="Anchor loss weight.")] = None,
    bf16: Annotated[bool | None, typer.Option("--bf16", help="bf16 autocast.")] = None,
    device: Annotated[str | None, typer.Option("--device", help=DEVICE_HELP)] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    output: Annotated[str | None, typer.Option("--output", "-o", help="Checkpoint folder.")] = None,
    eval_steps: Annotated[int | None, typer.Option(help="Evaluate every N steps (default: each epoch).")] = None,
    save_steps: Annotated[int | None, typer.Option(help="Save a resumable checkpoint every N steps.")] = None,
    logging_steps: Annotated[int | None, typer.Option(help="Log every N steps.")] = None,
    report_to: Annotated[str | None, typer.Option(help="tensorboard, wandb, ... (comma separated).")] = None,
    resume: Annotated[bool | None, typer.Option("--resume", help="Resume from the last complete checkpoint.")] = None,
    sim_n: Annotated[int | None, typer.Option(help="Simulator pairs when no --data.")] = None,
    sim_preset: Annotated[str | None, typer.Option(help="Simulator preset: neutral or human_like.")] = None,
    sim_length_bias: Annotated[float | None, typer.Option(help="Simulator annotator length bias.")] = None,
    fmt: FormatOpt = None,
    prompt_key: PromptKeyOpt = None,
    chosen_key: ChosenKeyOpt = None,
    rejected_key: RejectedKeyOpt = None,
    on_invalid: Annotated[str | None, typer.Option("--on-invalid", help="error or skip.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use only the first N pairs of --data.")] = None,
    pack_pairs: Annotated[bool | None, typer.Option(
        "--pack-pairs/--no-pack-pairs",
        help="Chosen and rejected of a pair in one row (default: when the model allows it exactly).")] = None,
    prefix_sharing: Annotated[bool | None, typer.Option(
        "--prefix-sharing/--no-prefix-sharing",
        help="Decoders: the prompt computed once per pair (default: on for causal decoders).")] = None,
    group_by_length: Annotated[bool | None, typer.Option(
        "--group-by-length/--no-group-by-length", help="Batches of pairs of similar length (default on).")] = None,
) -> None:
    """Train a reward model (default: MiniLM + Bradley-Terry + scalar head on simulator pairs)."""
    from rewardlab.train.config import TrainConfig
    from rewardlab.train.trainer import train

    cfg = TrainConfig.from_yaml(config) if config else TrainConfig()
    flags = {
        "model": model, "data": data, "eval_data": eval_data, "eval_split": eval_split, "loss": loss, "head": head,
        "members": members, "member_gaussian": member_gaussian, "bootstrap": bootstrap, "pooling": pooling,
        "lora": lora, "lora_r": lora_r, "freeze_backbone": freeze_backbone, "epochs": epochs,
        "max_steps": max_steps, "lr": lr, "batch_size": batch_size, "grad_accum": grad_accum,
        "max_length": max_length, "render_mode": render_mode, "center_eta": center_eta,
        "anchor_columns": anchor_columns.split(",") if anchor_columns else None, "anchor_lambda": anchor_lambda,
        "bf16": bf16, "device": device, "seed": seed, "output": output, "eval_steps": eval_steps, "save_steps": save_steps,
        "logging_steps": logging_steps, "report_to": report_to.split(",") if report_to else None,
        "resume": resume, "sim_n": sim_n, "sim_preset": sim_preset, "sim_length_bias": sim_length_bias,
        "data_format": fmt, "prompt_key": prompt_key, "chosen_key": chosen_key, "rejected_key": rejected_key,
        "on_invalid": on_invalid, "limit": limit, "pack_pairs": pack_pairs, "prefix_sharing": prefix_sharing,
        "group_by_length": group_by_length,
    }
    cfg = cfg.updated(flags)
    res = train(cfg, log=_echo_err)
    from rewardlab.runtime import is_main_process

    if is_main_process():
        m = res.metrics
        if m:
            typer.echo(
                f"held-out: accuracy {m.get('accuracy', float('nan')):.3f}  nll {m.get('nll', float('nan')):.3f}  "
                f"ece {m.get('ece', float('nan')):.3f}  ({res.n_eval} pairs)"
            )
        typer.echo(f"saved reward model to {res.output}")


# ------------------------------------------------------------------ score / eval / report / compare / export

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Checkpoint folder, HF reward model (folder or hub id), "
                      "http(s)://server/get_reward, file:scores.jsonl or py:module:function.")
]


def _read_all(paths: list[str], fmt, file_format, prompt_key, chosen_key, rejected_key, split, on_invalid):
    out = {}
    for p in paths:
        res = _load(p, fmt, file_format, prompt_key, chosen_key, rejected_key, split, on_invalid)
        name = Path(p).name.split(".")[0] or "data"
        while name in out:
            name += "_"
        out[name] = res.records
    return out


@app.command("score")
def score_cmd(
    model: ModelOpt,
    data: Annotated[str, typer.Option("--data", "-d", help="Pairs, K-sample sets or battles to score.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Scores as JSONL (one row per response).")],
    bf16: Annotated[bool, typer.Option("--bf16", help="bf16 autocast (faster on CPUs with AMX, ~1e-2 noise).")] = False,
    token_budget: Annotated[int, typer.Option(help="Max padded tokens per batch.")] = 16384,
    prefix_sharing: Annotated[bool | None, typer.Option(
        "--prefix-sharing/--no-prefix-sharing",
        help="Decoders: each distinct prompt run once, its key/value cache reused (default: when exact).")] = None,
    device: DeviceOpt = "auto",
    fmt: FormatOpt = None,
    file_format: FileFormatOpt = None,
    prompt_key: PromptKeyOpt = None,
    chosen_key: ChosenKeyOpt = None,
    rejected_key: RejectedKeyOpt = None,
    split: SplitOpt = None,
    on_invalid: OnInvalidOpt = "error",
) -> None:
    """Score every response of a data file; rows {id, role, prompt, response, reward[, std, members]}.

    Under `torchrun --nproc_per_node N` or `accelerate launch` each process scores a contiguous share on its own
    device; rank 0 writes one file, in input order."""
    from rewardlab.runtime import is_main_process
    from rewardlab.scoring import ShardedScorer, get_scorer
    from rewardlab.scoring.distributed import finish_distributed, init_distributed
    from rewardlab.scoring.rows import score_records

    init_distributed(device)
    res = _load(data, fmt, file_format, prompt_key, chosen_key, rejected_key, split, on_invalid)
    scorer = ShardedScorer(get_scorer(model, bf16=bf16, token_budget=token_budget, prefix_sharing=prefix_sharing,
                                      device=device))
    rows = score_records(scorer, res.records)
    finish_distributed()
    if not is_main_process():
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    typer.echo(f"scored {len(rows)} responses with {scorer.name}; wrote {output}")


@app.command("eval")
def eval_cmd(
    model: ModelOpt,
    output: Annotated[Path, typer.Option("--output", "-o", help="Evaluation folder.")],
    data: Annotated[list[str] | None, typer.Option("--data", "-d", help="Data file(s); default: simulator "
                                                    "pairs, pools and battles (held-out seeds).")] = None,
    n_resamples: Annotated[int, typer.Option(help="Bootstrap resamples for 95% CIs.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed for bootstrap and simulator data.")] = 0,
    sim_n: Annotated[int, typer.Option(help="Simulator pairs when no --data.")] = 600,
    report: Annotated[bool, typer.Option(help="Also write report.html.")] = True,
    sections: Annotated[Path | None, typer.Option(help="JSON {category: section} for a prompt-count-weighted "
                                                  "section score (RewardBench v1 style).")] = None,
    bf16: Annotated[bool, typer.Option("--bf16", help="bf16 autocast while scoring.")] = False,
    device: DeviceOpt = "auto",
    fmt: FormatOpt = None,
    file_format: FileFormatOpt = None,
    prompt_key: PromptKeyOpt = None,
    chosen_key: ChosenKeyOpt = None,
    rejected_key: RejectedKeyOpt = None,
    split: SplitOpt = None,
    on_invalid: OnInvalidOpt = "error",
) -> None:
    """Evaluate a reward model: accuracy with CIs, length baselines, calibration, PPE metrics, plots.

    Under `torchrun` / `accelerate launch` the responses are scored across the processes (each on its own
    device); rank 0 computes the statistics and writes the folder."""
    from rewardlab.eval.evaluate import evaluate
    from rewardlab.eval.summary import headline
    from rewardlab.report import build_report
    from rewardlab.runtime import is_main_process, world
    from rewardlab.scoring import get_scorer, prescore
    from rewardlab.scoring.distributed import finish_distributed, init_distributed
    from rewardlab.scoring.rows import record_items

    init_distributed(device)
    if data:
        datasets = _read_all(data, fmt, file_format, prompt_key, chosen_key, rejected_key, split, on_invalid)
    else:
        from rewardlab.simulate.datasets import simulator_eval_sets

        datasets = simulator_eval_sets(n_pairs=sim_n, seed=seed + 20_000)
    section_map = None
    if sections:
        try:
            section_map = json.loads(sections.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise RewardlabError(f"{sections}: expected a JSON object {{category: section}}: {e}") from None
    scorer = get_scorer(model, bf16=bf16, device=device)
    if world()[1] > 1:
        items = [(it[2], it[3]) for recs in datasets.values() for it in record_items(recs)]
        scorer = prescore(scorer, items)
        finish_distributed()  # rank 0 goes on alone: every process leaves the group cleanly first
        if not is_main_process():
            return
    result = evaluate(scorer, datasets, output, n_resamples=n_resamples, seed=seed, sections=section_map)
    typer.echo(headline(result))
    typer.echo(f"wrote {output / 'metrics.json'}")
    if report:
        typer.echo(f"report: {build_report(output)}")


@app.command("report")
def report_cmd(
    folder: Annotated[Path, typer.Argument(help="Evaluation (and/or audit) folder.")],
    title: Annotated[str | None, typer.Option(help="Page title.")] = None,
) -> None:
    """Build one self-contained report.html (plots embedded) from an evaluation/audit folder."""
    from rewardlab.report import build_report

    typer.echo(f"wrote {build_report(folder, title)}")


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


# ------------------------------------------------------------------ audit / demo


@app.command("audit")
def audit_cmd(
    model: ModelOpt,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for audit.json and plots.")],
    data: Annotated[str | None, typer.Option("--data", "-d", help="Preference pairs (default: simulator).")] = None,
    cases: Annotated[str | None, typer.Option(help="Sycophancy cases JSONL {prompt, agreeing, correcting} "
                                               "(default: the simulator's false-premise cases).")] = None,
    threshold: Annotated[float, typer.Option(help="Flag a feature when |correlation with reward| exceeds this.")] = 0.3,
    n_resamples: Annotated[int, typer.Option(help="Bootstrap resamples for 95% CIs.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed for simulator data and bootstrap.")] = 0,
    n_pairs: Annotated[int, typer.Option(help="Simulator pairs when no --data (with --data: the first N, 0 = all).")] = 300,
    bf16: Annotated[bool, typer.Option("--bf16", help="bf16 autocast while scoring (about 2x faster on AMX CPUs).")] = False,
    device: DeviceOpt = "auto",
) -> None:
    """Reward-hacking audit: feature correlations, counterfactual probes, sycophancy, length-controlled accuracy."""
    from rewardlab.audit.cli import audit_command
    from rewardlab.report import build_report

    audit_command(model=model, output=output, data=data, cases=cases, threshold=threshold,
                  n_resamples=n_resamples, seed=seed, n_pairs=n_pairs, bf16=bf16, device=device)
    typer.echo(f"wrote {output / 'audit.json'} and {build_report(output)}")


@app.command("demo")
def demo_cmd(
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for data, model, evaluation, report.")] = Path(
        "runs/demo"),
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes (about a minute; used in CI).")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """The main job on embedded defaults: simulate -> train MiniLM -> evaluate -> audit -> report."""
    from rewardlab.demo import run_demo
    from rewardlab.eval.summary import headline

    res = run_demo(output, quick=quick, seed=seed, log=_echo_err)
    typer.echo("")
    typer.echo(headline(res.metrics))
    if res.audit:
        for flag in res.audit.get("flags", []):
            typer.echo(f"audit flag: {flag}")
    typer.echo(f"model: {res.model}")
    typer.echo(f"report: {res.report}")
    typer.echo(f"done in {res.seconds:.0f} s")


# ------------------------------------------------------------------ entry point


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app, turning RewardlabError into a message and exit code 2."""
    import logging

    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    logger = logging.getLogger("rewardlab")
    if not logger.handlers:  # notes from the library (a fast path that is off, ...) go to stderr, once each
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("note: %(message)s"))
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
