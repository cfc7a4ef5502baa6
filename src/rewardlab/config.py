"""Validated, nested configuration objects ("specs") and the machinery every command shares.

A spec is a dataclass whose fields are declared with `option(...)`: default, help text, allowed choices, range
and command-line flag live in one place. From that one declaration come

- validation when the object is built (`Spec.__post_init__`): type, choices, range, then the class's own
  cross-field rules (`check`); errors name the parameter by its dotted path (`model.head.kind must be ...`);
- dict and YAML round trips (`to_dict`, `from_dict`, `to_yaml`, `from_yaml`), nested specs included, unknown
  keys rejected with their path;
- dotted overrides (`with_overrides({"optim.lr": 3e-4})`, the CLI's `--set optim.lr=3e-4`), the way torchtune
  overrides its YAML recipes;
- the command-line options (`rewardlab.cli_spec`), one flag per leaf field, grouped by section in `--help`, so
  no command copies an option by hand.

This module is a leaf: it imports nothing from rewardlab but the error type.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
import typing
from collections.abc import Iterator
from dataclasses import MISSING, dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar, Union, get_args, get_origin

from rewardlab.errors import RewardlabError

S = TypeVar("S", bound="Spec")


class ConfigError(RewardlabError):
    """A configuration value breaks a rule. `params` are the dotted paths involved; `template` names them as
    `{0}`, `{1}`... so the CLI can show flags (`--loss`) where Python shows paths (`loss.name`).

    Example:
        >>> e = ConfigError("{0} needs {1}", "loss.name", "model.head.kind")
        >>> str(e), e.named({"loss.name": "--loss", "model.head.kind": "--head"}.get)
        ('loss.name needs model.head.kind', '--loss needs --head')
    """

    def __init__(self, template: str, *params: str):
        self.template = template
        self.params = params
        super().__init__(template.format(*params))

    def named(self, name_of: Any) -> str:
        """The message with each parameter written as `name_of(path)` (e.g. its command-line flag)."""
        return self.template.format(*(name_of(p) for p in self.params))


def option(default: Any = MISSING, *, help: str, choices: tuple | None = None, min: float | None = None,
           max: float | None = None, min_exclusive: bool = False, flag: str | None = None,
           aliases: tuple[str, ...] = (), default_factory: Any = MISSING) -> Any:
    """A spec field with its help text, allowed values and command-line flag (default: `--field-name`).

    Args:
        default: the default value (or use `default_factory` for mutable defaults).
        help: one-line help, shown by `--help` and in the docs.
        choices: the allowed values (None is always allowed for optional fields).
        min, max: inclusive bounds for numbers (`min_exclusive=True` makes `min` strict).
        flag: the long flag, e.g. "--head"; aliases: more flags for the same field.
    Returns:
        A `dataclasses.field` carrying that metadata.
    """
    meta = {"help": help, "choices": choices, "min": min, "max": max, "min_exclusive": min_exclusive,
            "flag": flag, "aliases": aliases}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _plain_type(tp: Any) -> tuple[Any, bool]:
    """(the type without Optional, whether None is allowed)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        return functools.reduce(operator.or_, args), len(args) < len(get_args(tp))
    return tp, False


def literal_choices(tp: Any) -> tuple | None:
    """The allowed values of a `Literal[...]` type (None for other types)."""
    tp, _ = _plain_type(tp)
    return get_args(tp) if get_origin(tp) is Literal else None


@dataclass(frozen=True)
class Leaf:
    """One leaf field of a spec tree: its dotted path, type, default, help, choices and flag."""

    path: str
    type: Any
    optional: bool
    default: Any
    help: str
    choices: tuple | None
    flag: str
    aliases: tuple[str, ...]
    section: str


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a spec class (computed once per class)."""
    return typing.get_type_hints(cls)


class Spec:
    """Base class of validated config dataclasses (subclasses are `@dataclass` and declare fields with
    `option`). Subclasses add cross-field rules in `check()`.

    Example:
        >>> from dataclasses import dataclass
        >>> @dataclass
        ... class Opt(Spec):
        ...     lr: float = option(1e-4, help="learning rate", min=0, min_exclusive=True)
        >>> Opt(lr=-1)
        Traceback (most recent call last):
        rewardlab.config.ConfigError: lr must be > 0, got -1.0
    """

    section_title: ClassVar[str] = ""

    def __post_init__(self) -> None:
        self.validate()

    # ---------------------------------------------------------------- validation

    def validate(self, prefix: str = "") -> None:
        """Check types, choices and ranges of every field, then the cross-field rules (`check`).

        Raises:
            ConfigError: naming the parameter by its dotted path.
        """
        hints = _hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            path = prefix + f.name
            value = getattr(self, f.name)
            if isinstance(value, Spec):
                value.validate(path + ".")
                continue
            setattr(self, f.name, _check_value(path, value, hints[f.name], f.metadata))
        try:
            self.check()
        except ConfigError as e:
            if prefix:
                raise ConfigError(e.template, *(prefix + p for p in e.params)) from None
            raise

    def check(self) -> None:
        """Cross-field rules of this spec; raise ConfigError naming the fields (paths relative to this spec)."""

    # ---------------------------------------------------------------- dicts, YAML, overrides

    def require(self, *paths: str, why: str = "") -> None:
        """Refuse a spec whose given dotted paths are unset (None or empty), naming the first one.

        Raises:
            ConfigError: "{path} is required" (with `why` after a colon when given).

        Example:
            >>> from rewardlab.models.export_stage import ExportSpec
            >>> ExportSpec.draft().require("src", why="the checkpoint to export")
            Traceback (most recent call last):
            rewardlab.config.ConfigError: src is required: the checkpoint to export
        """
        for path in paths:
            value: Any = self
            for part in path.split("."):
                value = getattr(value, part)
            if value in (None, "", []):
                raise ConfigError("{0} is required" + (f": {why}" if why else ""), path)

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready nested dict (inverse of `from_dict`)."""
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[S], d: dict[str, Any], where: str = "config", prefix: str = "") -> S:
        """Build from a nested dict and validate the whole tree once; unknown keys are an error naming the key
        and `where`.

        Raises:
            RewardlabError: unknown keys; ConfigError: wrong types or a broken rule.
        """
        obj = cls._build(d, where, prefix)
        obj.validate(prefix)
        return obj

    @classmethod
    def _build(cls: type[S], d: dict[str, Any], where: str, prefix: str) -> S:
        """The tree from a nested dict, unvalidated (`from_dict` validates it once, nested specs included)."""
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: {{0}} must be a mapping, got {type(d).__name__}", prefix.rstrip(".") or cls.__name__)
        hints = _hints(cls)
        names = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise RewardlabError(f"{where}: unknown config field(s) {[prefix + k for k in unknown]}")
        kwargs: dict[str, Any] = {}
        for k, v in d.items():
            tp = hints[k]
            if isinstance(tp, type) and issubclass(tp, Spec) and isinstance(v, dict):
                kwargs[k] = tp._build(v, where, prefix + k + ".")
            else:
                kwargs[k] = v
        obj = cls.__new__(cls)
        for k, f in names.items():
            if k in kwargs:
                val = kwargs[k]
            elif f.default is not MISSING:
                val = f.default
            else:
                val = f.default_factory()  # type: ignore[misc]
            object.__setattr__(obj, k, val)
        return obj

    @classmethod
    def draft(cls: type[S]) -> S:
        """The defaults, not yet validated: the start of a spec whose required fields come as overrides
        (`draft().with_overrides(...)` validates the result once)."""
        return cls._build({}, "defaults", "")

    def with_overrides(self: S, updates: dict[str, Any], where: str = "overrides") -> S:
        """A validated copy with dotted-path updates, e.g. `{"model.head.kind": "gaussian", "optim.lr": 3e-4}`.

        Raises:
            RewardlabError: an unknown path; ConfigError: the result breaks a rule.
        """
        d = self.to_dict()
        for path, value in updates.items():
            node = d
            parts = path.split(".")
            for p in parts[:-1]:
                if not isinstance(node.get(p), dict):
                    raise RewardlabError(f"{where}: unknown config field {path!r}")
                node = node[p]
            if parts[-1] not in node or isinstance(node[parts[-1]], dict):
                raise RewardlabError(f"{where}: unknown config field {path!r}")
            node[parts[-1]] = value
        return type(self).from_dict(d, where)

    def to_yaml(self, path: str | Path | None = None) -> str:
        """The config as YAML (written to `path` when given); `from_yaml` reads it back to an equal object."""
        import yaml

        text = yaml.safe_dump(self.to_dict(), sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @classmethod
    def read_yaml(cls, path: str | Path) -> dict[str, Any]:
        """The mapping in a YAML file, with a clear error for unreadable or non-mapping files."""
        import yaml

        p = Path(path)
        try:
            d = yaml.safe_load(p.read_text()) or {}
        except OSError as e:
            raise RewardlabError(f"{p}: cannot read config: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise RewardlabError(f"{p}: not valid YAML: {e}") from None
        if not isinstance(d, dict):
            raise RewardlabError(f"{p}: expected a mapping of config fields")
        return d

    @classmethod
    def from_yaml(cls: type[S], path: str | Path) -> S:
        """Read a YAML file written by `to_yaml` (or by hand). Unknown keys are an error naming the file."""
        return cls.from_dict(cls.read_yaml(path), where=str(path))

    # ---------------------------------------------------------------- the option table

    @classmethod
    def leaves(cls, prefix: str = "", section: str = "") -> Iterator[Leaf]:
        """Every leaf field of the tree, depth first, with its flag (for the CLI, docs and tests)."""
        hints = _hints(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            tp = hints[f.name]
            path = prefix + f.name
            if isinstance(tp, type) and issubclass(tp, Spec):
                yield from tp.leaves(path + ".", section or tp.section_title or f.name)
                continue
            meta = f.metadata
            plain, optional = _plain_type(tp)
            default = f.default if f.default is not MISSING else (
                f.default_factory() if f.default_factory is not MISSING else None)  # type: ignore[misc]
            flag = meta.get("flag") or "--" + f.name.replace("_", "-")
            yield Leaf(path, plain, optional, default, meta.get("help", ""), meta.get("choices") or literal_choices(tp),
                       flag, tuple(meta.get("aliases") or ()), section or cls.section_title or "options")

    @classmethod
    def from_options(cls: type[S], **options: Any) -> S:
        """Build from flat option names, the CLI flags without dashes (`lr=3e-4, head="gaussian"`); None means
        "the default". Convenient in Python and in flat YAML files.

        Raises:
            RewardlabError: an unknown option name; ConfigError: a broken rule.
        """
        return cls.draft().with_options(options)

    def with_options(self: S, options: dict[str, Any], where: str = "options") -> S:
        """A copy with flat option names (see `from_options`) set; None values are ignored."""
        by_name = {leaf.flag.lstrip("-").replace("-", "_"): leaf.path for leaf in type(self).leaves()}
        unknown = sorted(k for k in options if k not in by_name)
        if unknown:
            raise RewardlabError(f"{where}: unknown option(s) {unknown}; known: {sorted(by_name)}")
        return self.with_overrides({by_name[k]: v for k, v in options.items() if v is not None}, where)


def _shown(value: Any) -> str:
    """repr(value), safe inside a ConfigError template."""
    return repr(value).replace("{", "{{").replace("}", "}}")


def _check_value(path: str, value: Any, tp: Any, meta: Any) -> Any:
    """Validate (and lightly coerce: int -> float, tuple -> list) one leaf value."""
    plain, optional = _plain_type(tp)
    if value is None:
        if optional:
            return None
        raise ConfigError("{0} must be set (it has no 'none' value)", path)
    choices = meta.get("choices") or literal_choices(tp)
    if get_origin(plain) in (Union, types.UnionType):  # a number or a keyword, e.g. int | Literal["auto"]
        words = tuple(w for a in get_args(plain) if get_origin(a) is Literal for w in get_args(a))
        if value in words:
            return value
        if isinstance(value, str):  # the command line passes "256"
            try:
                value = int(value)
            except ValueError:
                raise ConfigError(f"{{0}} must be an integer or one of {list(words)}, got {_shown(value)}",
                                  path) from None
        plain = int
    if get_origin(plain) is Literal:
        plain = type(get_args(plain)[0])
    if get_origin(plain) is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{{0}} must be a list of strings, got {_shown(value)}", path)
        return list(value)
    if plain is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{{0}} must be true or false, got {_shown(value)}", path)
    elif plain is float:
        if isinstance(value, str):  # YAML 1.1 reads 3e-4 (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{{0}} must be a number, got {_shown(value)}", path)
        value = float(value)
    elif plain is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{{0}} must be an integer, got {_shown(value)}", path)
    elif plain is str:
        if not isinstance(value, str):
            raise ConfigError(f"{{0}} must be a string, got {_shown(value)}", path)
    if choices and value not in choices:
        raise ConfigError(f"{{0}} must be one of {list(choices)}, got {_shown(value)}", path)
    lo, hi = meta.get("min"), meta.get("max")
    if lo is not None and (value < lo or (meta.get("min_exclusive") and value == lo)):
        raise ConfigError(f"{{0}} must be {'>' if meta.get('min_exclusive') else '>='} {lo}, got {_shown(value)}", path)
    if hi is not None and value > hi:
        raise ConfigError(f"{{0}} must be <= {hi}, got {_shown(value)}", path)
    return value


# ---------------------------------------------------------------------------------------------- shared sections

DEVICE_HELP = ("auto (cuda when available, else cpu), cpu, cuda, cuda:N or mps. Under torchrun / accelerate launch "
               "each process takes its own GPU (or the CPU with --device cpu).")
MODEL_HELP = ("Checkpoint folder, ensemble folder (rewardlab train-ensemble), HF reward model (folder or hub id), "
              "http(s)://server/get_reward, file:scores.jsonl or py:module:function.")
RULE_HELP = ("Selection rule: mean, lcb:k (mean - k std), quantile:q (mu + Phi^-1(q) s), min (worst ensemble member) "
             "or uwo:lambda (mean - lambda * population variance of the members).")


@dataclass
class ScoringRunSpec(Spec):
    """The run section every scoring stage shares: where results go, the device and precision, and the bootstrap."""

    section_title = "run"

    output: str | None = option(None, flag="--output", aliases=("-o",), help="Where the results go (required).")
    device: str = option("auto", help=DEVICE_HELP)
    bf16: bool = option(False, help="bf16 autocast while scoring (fast on GPUs and AMX CPUs, about 1e-2 noise; "
                        "emulated and slow on CPUs without native bf16).")
    n_resamples: int = option(200, min=0, help="Bootstrap resamples over prompts for 95% CIs (0: no CIs).")
    seed: int = option(0, min=0, help="Bootstrap seed.")
