"""The project's own error types: every user mistake ends here, never as a traceback from a library."""

from __future__ import annotations

from dataclasses import dataclass

MAX_SHOWN = 20


class RewardlabError(ValueError):
    """A user-facing error (bad input, bad flag, missing file); the CLI prints it and exits with code 2.

    DataValidationError (invalid records) and rewardlab.config.ConfigError (bad settings) are subclasses, so one
    `except RewardlabError` catches every mistake the library reports. It is itself a ValueError, so code written
    against the usual Python contract (`except ValueError` around a bad argument) catches it too: there is one
    error family, not two.

    Example:
        >>> from rewardlab import RewardlabError, get_scorer
        >>> try:
        ...     get_scorer("py:no_such_module:reward")
        ... except RewardlabError as e:
        ...     print(f"error: {e}")
        error: cannot import scorer 'py:no_such_module:reward' (expected py:module:function): No module named ...
        >>> raise RewardlabError("runs/rm: no metrics.json")
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: runs/rm: no metrics.json
    """


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
