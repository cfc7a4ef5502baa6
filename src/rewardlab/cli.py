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
OnInvalidOpt = Annotated[
    str, typer.Option("--on-invalid", help="'error': stop and list bad records (exit 2); 'skip': go on, report.")
]


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
    typer.echo(f"{source}: {len(res.records)} valid {res.kind} records ({layout})")


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


# ------------------------------------------------------------------ entry point


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app, turning RewardlabError into a message and exit code 2."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
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
