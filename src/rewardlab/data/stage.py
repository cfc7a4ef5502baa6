"""`rewardlab data check`, `data stats` and `data convert` as stages: a spec, a `run_*(spec)` and a result whose
`lines()` the command line prints. Importing this module loads no numpy, scipy or torch. `data stats` counts token
lengths with a model's tokenizer, so its run function sits in the stage layer (`rewardlab.eval.data_stage`).

Example:
    >>> spec = DataCheckSpec.from_dict({"data": {"source": "pairs.jsonl", "layout": "explicit"}})
    >>> spec.data.source, spec.data.layout
    ('pairs.jsonl', 'explicit')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rewardlab.config import Spec, option
from rewardlab.data.balance_spec import BalanceSpec
from rewardlab.data.quality_spec import QualitySpec
from rewardlab.data.spec import DataSpec
from rewardlab.kinds import get_kind

SOURCE_HELP = "File, datasets folder or hub id."
SOURCE_WHY = "the file, datasets folder or hub id to read"


@dataclass
class DataCheckSpec(Spec):
    """`rewardlab data check SOURCE`: validate every record."""

    data: DataSpec = field(default_factory=DataSpec)

    def check(self) -> None:
        self.require("data.source", why=SOURCE_WHY)


@dataclass
class DataStatsSpec(Spec):
    """`rewardlab data stats SOURCE`: counts, lengths, agreement, cycles and (with --balance) length balancing."""

    section_title = "stats"

    tokenizer: str | None = option(None, help="Tokenizer for token lengths (default: the MiniLM backbone's); 'none' "
                                   "skips.")
    output: str | None = option(None, flag="--output", aliases=("-o",), help="Also write the statistics as JSON.")
    data: DataSpec = field(default_factory=DataSpec)
    balancing: BalanceSpec = field(default_factory=BalanceSpec)
    quality: QualitySpec = field(default_factory=QualitySpec)

    def check(self) -> None:
        self.require("data.source", why=SOURCE_WHY)


@dataclass
class DataConvertSpec(Spec):
    """`rewardlab data convert SOURCE OUTPUT`: rewrite in rewardlab's explicit-prompt layout."""

    section_title = "convert"

    output: str | None = option(None, flag="--output", help="Output .jsonl, .jsonl.gz, .json or .parquet.")
    data: DataSpec = field(default_factory=DataSpec)

    def check(self) -> None:
        self.require("data.source", why=SOURCE_WHY)
        self.require("output", why="the file to write")


@dataclass
class DataStageResult:
    """What a data stage printed and wrote (and, for stats, the statistics)."""

    messages: list[str]
    files: list[str] = field(default_factory=list)
    stats: dict[str, Any] | None = None

    def lines(self) -> list[str]:
        return list(self.messages)


def run_check(spec: DataCheckSpec) -> DataStageResult:
    """Validate every record of the source (skipped ones are reported; invalid ones stop with every reason).

    Args:
        spec: the source and its reading options.
    Returns:
        DataStageResult: the count line and a note on empty responses.
    Raises:
        DataValidationError: invalid records (with `on_invalid="error"`, the default), each named by line and field.

    Example:
        >>> run_check(DataCheckSpec.from_dict({"data": {"source": "pairs.jsonl"}})).lines()  # doctest: +SKIP
        ['pairs.jsonl: 200 valid preference pairs (explicit prompt)']
    """
    res = spec.data.load().report_skipped()
    layout = res.kind
    if res.kind == "pairs":
        layout = "explicit prompt" if res.spec.explicit else "implicit prompt (shared prefix)"
    lines = [f"{spec.data.source}: {len(res.records)} valid {get_kind(res.kind).human_name} ({layout})"]
    if res.kind == "pairs":
        from rewardlab.data import text_of

        empty = sum(not text_of(t).strip() for r in res.records for t in (r.chosen, r.rejected))
        if empty:
            lines.append(f"note: {empty} empty responses (kept: an empty reply is a real outcome; see `data stats`)")
    return DataStageResult(lines)


def run_convert(spec: DataConvertSpec) -> DataStageResult:
    """Read, validate and write the records in rewardlab's explicit-prompt layout (JSONL or Parquet).

    Args:
        spec: the source, its reading options and the output file.
    Returns:
        DataStageResult: the count line.
    Raises:
        RewardlabError: an unreadable source or an unwritable output; DataValidationError: invalid records.

    Example:
        >>> run_convert(DataConvertSpec.from_dict({"data": {"source": "a.json"}, "output": "a.jsonl"}))  # doctest: +SKIP
    """
    from rewardlab.data import write_records

    res = spec.data.load().report_skipped()
    write_records([r.to_dict() for r in res.records], spec.output)
    return DataStageResult([f"wrote {len(res.records)} {res.kind} records to {spec.output}"])


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
