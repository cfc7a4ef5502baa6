"""The project's own error types: every user mistake ends here, never as a traceback from a library."""

from __future__ import annotations

from dataclasses import dataclass

MAX_SHOWN = 20


class RewardlabError(Exception):
    """A user-facing error (bad input, bad flag, missing file); the CLI prints it and exits with code 2."""


@dataclass(frozen=True)
class Issue:
    """One problem in one record: where it is (source, line or row) and what is wrong with which field."""

    source: str
    line: int | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        return f"{where}: {self.field}: {self.reason}"


class DataValidationError(RewardlabError):
    """Raised when input records are invalid; carries every issue found (the message shows the first 20)."""

    def __init__(self, issues: list[Issue], n_records: int | None = None):
        self.issues = list(issues)
        self.n_records = n_records
        super().__init__(self.render())

    def render(self, max_shown: int = MAX_SHOWN) -> str:
        """Human-readable list: first `max_shown` issues, then how many more."""
        n = len(self.issues)
        total = f" of {self.n_records} records" if self.n_records is not None else ""
        head = f"{n} invalid record{'s' if n != 1 else ''}{total}:"
        lines = [head] + [f"  {i}" for i in self.issues[:max_shown]]
        if n > max_shown:
            lines.append(f"  ... and {n - max_shown} more")
        return "\n".join(lines)
