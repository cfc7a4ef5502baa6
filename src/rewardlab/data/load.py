"""`load_data`: read any supported source into validated records, with the `--on-invalid` policy applied."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from rewardlab.data.formats import FormatSpec, detect_spec, parse_row
from rewardlab.data.io import iter_rows
from rewardlab.data.schema import Record
from rewardlab.errors import DataValidationError, Issue, RewardlabError

logger = logging.getLogger(__name__)


@dataclass
class LoadResult:
    """Validated records plus what was skipped and why (empty unless on_invalid='skip')."""

    records: list[Record]
    kind: str
    source: str
    spec: FormatSpec
    skipped: list[Issue] = field(default_factory=list)

    @property
    def n_read(self) -> int:
        return len(self.records) + len(self.skipped)

    def skip_summary(self) -> str:
        """One line per reason: how many records were skipped for it."""
        c = Counter(f"{i.field}: {i.reason.split(':')[0]}" for i in self.skipped)
        return "\n".join(f"  {n} x {why}" for why, n in c.most_common())

    def report_skipped(self) -> LoadResult:
        """Log what `on_invalid='skip'` left out (never dropped silently), each of the first 20 records with its
        line, field and reason, and return self."""
        if self.skipped:
            listed = [f"  {issue}" for issue in self.skipped[:20]]
            if len(self.skipped) > 20:
                listed.append(f"  ... and {len(self.skipped) - 20} more")
            logger.warning("skipped %d invalid record(s) of %d:\n%s\n%s", len(self.skipped), self.n_read,
                           self.skip_summary(), "\n".join(listed))
        return self


def load_data(
    source: str,
    *,
    layout: str | None = None,
    file_format: str | None = None,
    prompt_key: str | None = None,
    chosen_key: str | None = None,
    rejected_key: str | None = None,
    split: str | None = None,
    on_invalid: str = "error",
    limit: int | None = None,
) -> LoadResult:
    """Read `source` (file, `datasets` folder or hub id), detect its format and validate every record.

    Args:
        source: a file (.jsonl[.gz], .json, .csv, .parquet), a `datasets` folder or a hub dataset id.
        layout: explicit, implicit, pairs, ksample or battles (default: detected from the first record).
        file_format: jsonl, json, csv, parquet, arrow or hub (default: from the name).
        prompt_key, chosen_key, rejected_key: column names (default: detected among common aliases).
        split: the split of a datasets folder or hub dataset.
        on_invalid: 'error' raises DataValidationError listing every bad record; 'skip' keeps the good ones and
            returns the issues in `skipped` so the caller reports them.
        limit: stop after this many valid records.
    Returns:
        LoadResult: the records, their kind (pairs, ksample, battles), the detected spec and the skipped issues.
    Raises:
        RewardlabError: unreadable source or unknown format; DataValidationError: invalid records.

    Example:
        >>> res = load_data("pairs.jsonl", on_invalid="skip")  # doctest: +SKIP
        >>> res.kind, len(res.records), len(res.skipped)  # doctest: +SKIP
        ('pairs', 1998, 2)
    """
    if on_invalid not in ("error", "skip"):
        raise RewardlabError(f"--on-invalid must be 'error' or 'skip', got {on_invalid!r}")
    spec: FormatSpec | None = None
    records: list[Record] = []
    issues: list[Issue] = []
    for line, row in iter_rows(source, file_format, split):
        if isinstance(row, Issue):
            issues.append(row)
            continue
        if spec is None:
            spec = detect_spec(row, layout, prompt_key, chosen_key, rejected_key)
        rec = parse_row(row, spec, source, line)
        if isinstance(rec, Issue):
            issues.append(rec)
        else:
            records.append(rec)
            if limit is not None and len(records) >= limit:
                break
    if spec is None:
        if issues:
            raise DataValidationError(issues, len(issues))
        raise RewardlabError(f"{source}: no records")
    if issues and on_invalid == "error":
        raise DataValidationError(issues, len(records) + len(issues))
    return LoadResult(records=records, kind=spec.kind, source=source, spec=spec, skipped=issues)


def load_pairs(source: str, **kwargs) -> LoadResult:
    """`load_data` restricted to preference pairs (a clear error for K-wise or battle files)."""
    res = load_data(source, **kwargs)
    if res.kind != "pairs":
        raise RewardlabError(f"{source}: holds {res.kind} records, this command needs preference pairs")
    return res
