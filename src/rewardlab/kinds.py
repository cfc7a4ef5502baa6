"""The record-kind registry: each kind of record (preference pairs, K samples per prompt, battles) registers, in one
place, its record class, its row parser, its evaluator, its metrics class, its plots, its report section and its
terminal summary. Every dispatch on a record kind (reading rows, `rewardlab eval`, the plots, metrics.json's
typed datasets, report.html, the headline) goes through `get_kind`.

This module is the mechanism and imports nothing but `rewardlab.errors` (no torch, numpy or scipy); the built-in
kinds are declared in `rewardlab.record_kinds`, above the stages whose functions they name, which the package root
imports (so they are registered whatever module is imported first). Hooks are callables or "module:attribute"
strings resolved on first use.

Hooks and their signatures:

- `record`: the record class (a dataclass with `kind`, `to_dict`, `responses_to_score`).
- `parse`: `(row: dict, spec: FormatSpec) -> record`, one data row to a record.
- `evaluate`: `(scorer, records, n_resamples, seed, progress, **options) -> (metrics dict, score rows)`; `options`
  are `evaluate`'s per-dataset settings (`name`, `sections`, `length_control`, ...), which a kind may ignore.
- `metrics`: the `rewardlab.results.metrics.DatasetMetrics` subclass metrics.json's datasets of this kind load as.
- `plots`: `(out_dir, name, metrics dict) -> list of PNG file names written`.
- `report_section`: `(name, typed metrics, folder, plot names) -> HTML`.
- `summary_lines`: `(name, typed metrics) -> lines` for the terminal.
- `stats`: `(records, tokenizer or None) -> dict`, the kind's part of `rewardlab data stats`
  (`rewardlab.data.stats.data_stats`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rewardlab.errors import RewardlabError

Hook = Callable[..., Any] | type | str | None
HOOKS = ("record", "parse", "evaluate", "metrics", "plots", "report_section", "summary_lines", "stats")


@dataclass(frozen=True)
class RecordKind:
    """One record kind and everything that handles it.

    Example:
        >>> import rewardlab.record_kinds  # the built-in kinds (registered by `import rewardlab` already)
        >>> pairs = get_kind("pairs")
        >>> pairs.human_name, pairs.hook("record").__name__
        ('preference pairs', 'PreferencePair')
    """

    name: str
    human_name: str
    record: Hook
    evaluate: Hook
    metrics: Hook = None
    parse: Hook = None
    plots: Hook = None
    report_section: Hook = None
    summary_lines: Hook = None
    stats: Hook = None

    def hook(self, name: str) -> Any:
        """The hook `name` (one of `HOOKS`), imported when it is a "module:attribute" string; None when unset.

        Raises:
            RewardlabError: an unknown hook name, or a string that names no importable attribute.
        """
        if name not in HOOKS:
            raise RewardlabError(f"record kind {self.name!r}: no hook {name!r} (hooks: {', '.join(HOOKS)})")
        value = getattr(self, name)
        if not isinstance(value, str):
            return value
        module, _, attr = value.partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise RewardlabError(f"record kind {self.name!r}: its {name} {value!r} cannot be loaded ({e})") from None


_KINDS: dict[str, RecordKind] = {}


def register_kind(kind: RecordKind, replace: bool = False) -> RecordKind:
    """Add a record kind to the registry (the one place a kind is declared).

    Args:
        kind: the kind and its hooks.
        replace: allow replacing a kind of the same name.

    Returns:
        RecordKind: `kind`.

    Raises:
        RewardlabError: a kind of that name is registered already (and `replace` is False).

    Example:
        >>> toy = register_kind(RecordKind(name="toy", human_name="toys", record=dict, evaluate=len))
        >>> get_kind("toy").human_name
        'toys'
        >>> unregister_kind("toy").name
        'toy'
    """
    if kind.name in _KINDS and not replace:
        raise RewardlabError(f"record kind {kind.name!r} is registered already")
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> RecordKind:
    """Remove a record kind (tests that register a toy kind clean up with it); returns it.

    Raises:
        RewardlabError: no kind of that name.
    """
    get_kind(name)
    return _KINDS.pop(name)


def get_kind(name: Any) -> RecordKind:
    """The registered kind `name`.

    Raises:
        RewardlabError: no kind of that name (the message lists the known ones).

    Example:
        >>> get_kind("battles").human_name
        'system battles'
    """
    try:
        return _KINDS[name]
    except (KeyError, TypeError):
        raise RewardlabError(f"unknown record kind {name!r} (known: {', '.join(_KINDS)})") from None


def kind_names() -> tuple[str, ...]:
    """The registered kinds' names, in registration order."""
    return tuple(_KINDS)


class KindHooks(Mapping[str, Any]):
    """A live read-only view {kind name: its resolved hook} of one hook (e.g. `rewardlab.eval.evaluate.EVALUATORS`,
    kept for callers of the old per-kind tables); kinds without that hook are left out."""

    def __init__(self, hook: str) -> None:
        self._hook = hook

    def __getitem__(self, name: str) -> Any:
        value = get_kind(name).hook(self._hook) if name in _KINDS else None
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter([k for k, v in _KINDS.items() if getattr(v, self._hook) is not None])

    def __len__(self) -> int:
        return len(list(iter(self)))


def metrics_class(name: Any) -> type | None:
    """The typed metrics class of a kind's datasets; None for an unknown kind or one without its own class (its
    datasets then load as `rewardlab.results.metrics.DatasetMetrics`, so every metrics.json loads)."""
    kind = _KINDS.get(name) if isinstance(name, str) else None
    return kind.hook("metrics") if kind else None
