"""`rewardlab data stats` as a stage: DataStatsSpec (`rewardlab.data.stage`) -> run_stats -> DataStageResult. It
lives in the stage layer because token lengths need a model's tokenizer (`rewardlab.models`).
"""

from __future__ import annotations

import json
from pathlib import Path

from rewardlab.data.stage import DataStageResult, DataStatsSpec, format_stats


def run_stats(spec: DataStatsSpec) -> DataStageResult:
    """Statistics of the source (`rewardlab.data.stats.data_stats`), the balancing report, and the JSON file.

    Args:
        spec: the source, the tokenizer, the quality and balancing options, and where the JSON goes.
    Returns:
        DataStageResult: the readable summary, the file written and the statistics.
    Raises:
        RewardlabError: an unreadable source or tokenizer; DataValidationError: invalid records.

    Example:
        >>> spec = DataStatsSpec.from_dict({"data": {"source": "p.jsonl"}})
        >>> print("\\n".join(run_stats(spec).lines()))  # doctest: +SKIP
    """
    from rewardlab.data.stats import data_stats

    res = spec.data.load().report_skipped()
    tok = None
    if (spec.tokenizer or "").lower() != "none":
        from rewardlab.models.backbone import load_tokenizer

        tok = load_tokenizer(spec.tokenizer)
    stats = data_stats(res.records, tok, spec.quality)
    if "tokens" in stats:
        stats["tokens"]["tokenizer"] = spec.tokenizer or "minilm"
    stats["source"] = spec.data.source
    stats["skipped_invalid"] = len(res.skipped)
    lines = [format_stats(stats)]
    if spec.balancing.enabled:
        from rewardlab.data.balance import balance_report

        report = balance_report(res.records, spec.balancing)
        stats["balance"] = report.to_dict()
        lines += report.lines()
    files = []
    if spec.output:
        out = Path(spec.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(stats, indent=2))
        files.append(str(out))
    return DataStageResult(lines, files, stats)
