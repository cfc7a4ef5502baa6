"""Typed results: dataclasses that are read from and written to JSON by one function each (`read_result`,
`write_result`), their fields checked against their type hints.

Every result class subclasses `Result` (keyword-only dataclass fields). A JSON object becomes the class's fields;
keys the class does not declare (written by an older or newer rewardlab, or by a caller's `extra` entries) go to
`extra`, and the object remembers its keys' order, so loading then dumping gives back the same JSON, key for key.
A key the file lacks takes its field's default (and is not written back); a field without a default is required.
The supported hints are other `Result` classes, `dict[str, X]`, `list[X]`, `X | None`, unions, `Any`, `str`, `int`,
`float` (an int is a float too, and stays an int) and `bool`.

This module imports no torch, numpy or scipy.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rewardlab.errors import RewardlabError

R = TypeVar("R", bound="Result")
OMIT_NONE = {"omit_none": True}  # field metadata: a constructed result leaves the key out while the value is None


def omitted(default: Any = None) -> Any:
    """A field that a result built in code leaves out of its JSON while its value is None (as optional entries that
    the producers add only when they have them)."""
    return dataclasses.field(default=default, metadata=OMIT_NONE)


class ResultFieldError(RewardlabError):
    """A JSON value that does not fit its field; `where` is the dotted path of the field in the file."""


@dataclasses.dataclass(kw_only=True)
class Result:
    """Base of the typed results: `extra` holds the JSON keys the class does not declare.

    Subclasses set `SCHEMA` (the prefix of the file's "schema" value, checked when the file has one),
    `JSON_INDENT` and `ENSURE_ASCII` (how `write_result` formats the file).
    """

    SCHEMA: ClassVar[str | None] = None
    JSON_INDENT: ClassVar[int | None] = 2
    ENSURE_ASCII: ClassVar[bool] = True
    _keys: ClassVar[tuple[str, ...] | None] = None  # the JSON keys, in the file's order (set on instances read)

    extra: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def concrete(cls, obj: dict[str, Any]) -> type[Result]:
        """The class to read `obj` as (a subclass picks by a field, as datasets do by their record kind)."""
        return cls

    @classmethod
    def from_dict(cls: type[R], obj: Any, where: str = "") -> R:
        """The result of a JSON object (a dict as `json.load` gives it).

        Raises:
            ResultFieldError: a value of the wrong type or a missing required field (named by its dotted path).
        """
        return _load(cls, obj, where or cls.__name__)

    @classmethod
    def coerce(cls: type[R], obj: R | dict[str, Any]) -> R:
        """`obj` itself when it is already this result, else `from_dict(obj)`."""
        return obj if isinstance(obj, cls) else cls.from_dict(obj)

    @classmethod
    def read(cls: type[R], path: str | Path) -> R:
        """`read_result(path, cls)`."""
        return read_result(path, cls)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this result (what `write_result` writes)."""
        return _dump(self)

    def write(self, path: str | Path) -> Path:
        """`write_result(path, self)`."""
        return write_result(path, self)


def _hints(cls: type) -> dict[str, Any]:
    cached = cls.__dict__.get("_hints_cache")
    if cached is None:
        cached = typing.get_type_hints(cls)
        cls._hints_cache = cached  # type: ignore[attr-defined]
    return cached


def _name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _fail(where: str, expected: Any, value: Any) -> ResultFieldError:
    got = "null" if value is None else type(value).__name__
    return ResultFieldError(f"{where}: expected {_name(expected)}, got {got} ({str(value)[:60]!r})")


def _convert(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            if type(None) in args:
                return None
            raise _fail(where, tp, value)
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(a, value, where)
            except ResultFieldError as e:
                errors.append(e)
        raise _fail(where, tp, value)
    if isinstance(tp, type) and issubclass(tp, Result):
        return _load(tp, value, where)
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(where, tp, value)
        _, vt = typing.get_args(tp)
        return {k: _convert(vt, v, f"{where}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, list):
            raise _fail(where, tp, value)
        (it,) = typing.get_args(tp)
        return [_convert(it, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise _fail(where, tp, value)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _fail(where, tp, value)
    if tp in (str, bool):
        if isinstance(value, tp):
            return value
        raise _fail(where, tp, value)
    raise TypeError(f"{where}: unsupported result field type {tp!r}")  # a bug in a result class, not in the file


def _load(cls: type[R], obj: Any, where: str) -> R:
    if not isinstance(obj, dict):
        raise _fail(where, cls, obj)
    cls = cls.concrete(obj)  # type: ignore[assignment]
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
    for key, value in obj.items():
        if key in names:
            kwargs[key] = _convert(hints[key], value, f"{where}.{key}")
        else:
            extra[key] = value
    for f in dataclasses.fields(cls):
        if f.name not in kwargs and f.name != "extra" and f.default is dataclasses.MISSING \
                and f.default_factory is dataclasses.MISSING:
            raise ResultFieldError(f"{where}.{f.name}: missing (a required field of {cls.__name__})")
    res = cls(**kwargs, extra=extra)
    res._keys = tuple(obj)  # type: ignore[misc]
    return res


def _dump_value(value: Any) -> Any:
    if isinstance(value, Result):
        return _dump(value)
    if isinstance(value, dict):
        return {k: _dump_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dump_value(v) for v in value]
    return value


def _dump(res: Result) -> dict[str, Any]:
    fields = {f.name: f for f in dataclasses.fields(res) if f.name != "extra"}
    out: dict[str, Any] = {}
    if res._keys is not None:  # read from a file: its keys in its order; fields it lacked stay out
        for key in res._keys:
            if key in fields:
                out[key] = _dump_value(getattr(res, key))
            elif key in res.extra:
                out[key] = _dump_value(res.extra[key])
    else:  # built in code: every field in order (optional ones only when set), then the extra entries
        for name, f in fields.items():
            value = getattr(res, name)
            if value is None and f.metadata.get("omit_none"):
                continue
            out[name] = _dump_value(value)
    for key, value in res.extra.items():
        if key not in out:
            out[key] = _dump_value(value)
    return out


def read_result(path: str | Path, cls: type[R]) -> R:
    """Read a result file: the one way every result JSON is read.

    Args:
        path: the JSON file (metrics.json, audit.json, goodhart.json, optimize.json, ...).
        cls: its result class (`rewardlab.results.metrics.EvalMetrics`, ...).

    Returns:
        The typed result; unknown keys are in `extra`, missing optional keys take their defaults.

    Raises:
        RewardlabError: the file cannot be read, is not valid JSON, has another schema, lacks a required field or
            holds a value of the wrong type (the message names the file and the field).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from rewardlab.results.metrics import Estimate
        >>> path = Path(tempfile.mkdtemp()) / "acc.json"
        >>> _ = path.write_text('{"estimate": 0.7, "lo": 0.6, "hi": 0.8, "note": "kept"}')
        >>> est = read_result(path, Estimate)
        >>> est.estimate, est.extra
        (0.7, {'note': 'kept'})
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RewardlabError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise RewardlabError(f"{path}: not valid JSON ({e.msg}, line {e.lineno})") from None
    if cls.SCHEMA and isinstance(obj, dict) and isinstance(obj.get("schema"), str) \
            and not obj["schema"].startswith(cls.SCHEMA):
        raise RewardlabError(f"{path}: schema {obj['schema']!r} is not a {cls.__name__} file ({cls.SCHEMA}...)")
    try:
        return _load(cls, obj, cls.__name__)
    except ResultFieldError as e:
        raise RewardlabError(f"{path}: {e}") from None


def write_result(path: str | Path, result: Result) -> Path:
    """Write a result file: the one way every result JSON is written (atomically: a temporary file, then a rename).

    Args:
        path: where to write.
        result: the typed result (its class sets the indentation and whether non-ASCII text is escaped).

    Returns:
        Path: `path`.

    Raises:
        ValueError: a NaN or infinite number (JSON has none).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from rewardlab.results.metrics import Estimate
        >>> path = write_result(Path(tempfile.mkdtemp()) / "acc.json", Estimate(estimate=0.7, lo=0.6, hi=0.8))
        >>> read_result(path, Estimate) == Estimate(estimate=0.7, lo=0.6, hi=0.8)
        True
    """
    import os

    path = Path(path)
    text = json.dumps(result.to_dict(), indent=result.JSON_INDENT, ensure_ascii=result.ENSURE_ASCII,
                      allow_nan=False)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


@dataclasses.dataclass
class FilesWritten:
    """The result of a stage whose whole output is files (report, export; serve writes none): `files` and no lines.

    Example:
        >>> FilesWritten(["runs/demo/eval/report.html"]).lines()
        []
    """

    files: list[str] = dataclasses.field(default_factory=list)

    def lines(self) -> list[str]:
        return []
