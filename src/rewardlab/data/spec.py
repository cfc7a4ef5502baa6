"""DataSpec: where records come from and how to read them; one declaration shared by every command.

`rewardlab data check/stats/convert`, `train`, `score`, `eval`, `audit` (and the commands still to come) take
their reading options from this one spec, so each option has one name, one help text and one validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rewardlab.config import ConfigError, Spec, option
from rewardlab.data.load import LoadResult, load_data

Layout = Literal["explicit", "implicit", "pairs", "ksample", "battles"]
FileFormat = Literal["jsonl", "json", "csv", "parquet", "arrow", "hub"]


@dataclass
class ReadingOptions(Spec):
    """How to read records (layout, columns, split, invalid records, limit), without the source: the reading section
    of a stage that reads several sources with one set of options (`rewardlab eval --data a.jsonl,b.jsonl`); the
    stage checks that its sources exist when a reading option is set.

    Example:
        >>> ReadingOptions(layout="explicit").keyed()
        ['layout']
        >>> ReadingOptions(layout="implicit", prompt_key="q")
        Traceback (most recent call last):
        rewardlab.config.ConfigError: layout implicit has no prompt column; drop prompt_key
    """

    section_title = "data"

    layout: Layout | None = option(None, flag="--layout", aliases=("--format",), help=(
        "Record layout: explicit (prompt column), implicit (shared prefix), ksample or battles; default: detected."))
    file_format: FileFormat | None = option(None, help="File format (default: from the name; 'arrow' is a "
                                            "datasets folder, 'hub' a hub dataset id).")
    split: str | None = option(None, help="Split of a datasets folder or hub dataset (e.g. train, test).")
    prompt_key: str | None = option(None, help="Column holding the prompt (default: detected).")
    chosen_key: str | None = option(None, help="Column holding the preferred response (default: detected).")
    rejected_key: str | None = option(None, help="Column holding the other response (default: detected).")
    on_invalid: Literal["error", "skip"] = option("error", help="error: stop and list every bad record (exit 2); "
                                                   "skip: go on with the good ones and report the rest.")
    limit: int | None = option(None, min=1, help="Read only the first N valid records.")

    def keyed(self) -> list[str]:
        """The reading options that only make sense for a data file (set, in declaration order)."""
        return [k for k in ("prompt_key", "chosen_key", "rejected_key", "split", "file_format", "layout", "limit")
                if getattr(self, k) is not None]

    def check(self) -> None:
        if self.layout == "implicit" and self.prompt_key is not None:
            raise ConfigError("{0} implicit has no prompt column; drop {1}", "layout", "prompt_key")

    def read(self, source: str, pairs_only: bool = False) -> LoadResult:
        """Read and validate the records of `source` with these options.

        Args:
            source: a file, datasets folder or hub id.
            pairs_only: refuse K-sample and battle files with a clear error.
        Returns:
            The valid records and the skipped ones (with `on_invalid="skip"`).
        Raises:
            RewardlabError: unreadable source; DataValidationError: invalid records (`on_invalid="error"`).
        """
        res = load_data(source, layout=self.layout, file_format=self.file_format, prompt_key=self.prompt_key,
                        chosen_key=self.chosen_key, rejected_key=self.rejected_key, split=self.split,
                        on_invalid=self.on_invalid, limit=self.limit)
        if pairs_only and res.kind != "pairs":
            from rewardlab.errors import RewardlabError

            raise RewardlabError(f"{source}: holds {res.kind} records, this command needs preference pairs")
        return res


@dataclass
class DataSpec(ReadingOptions):
    """A data source and its reading options.

    Example:
        >>> spec = DataSpec(source="pairs.jsonl", layout="explicit", limit=100)
        >>> spec.limit
        100
    """

    source: str | None = option(None, flag="--data", aliases=("-d",), help="File, datasets folder or hub id (train: "
                                "default simulator pairs).")

    def check(self) -> None:
        keyed = self.keyed()
        if self.source is None and keyed:
            raise ConfigError("{0} is a reading option for a data file, but no {1} was given", keyed[0], "source")
        super().check()

    def load(self, source: str | None = None, pairs_only: bool = False) -> LoadResult:
        """Read and validate the records of `source` (default: this spec's source) with these options.

        Args:
            source: another file to read with the same options (e.g. each of several eval files).
            pairs_only: refuse K-sample and battle files with a clear error.
        Returns:
            The valid records and the skipped ones (with `on_invalid="skip"`).
        Raises:
            RewardlabError: no source, unreadable source; DataValidationError: invalid records (`on_invalid="error"`).
        """
        src = source or self.source
        if src is None:
            raise ConfigError("no {0} given", "source")
        return self.read(src, pairs_only)
