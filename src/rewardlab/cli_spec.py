"""Command-line options generated from spec dataclasses (`rewardlab.config`).

`@spec_options("cfg", TrainConfig)` adds one typer option per leaf field of the spec tree to a command, grouped
by section in `--help`, and passes the command a `FlagValues` holding what the user set. Help text, choices and
defaults come from the field declarations, so they live in one place and every field is reachable.

Why generation and not one hand-written declaration per option: the train command had 43 hand-copied options and
a mirrored dict (12 fields reachable only through YAML); generation removed both and made a test possible that
sets every field from the command line (tests/test_cli_spec.py).
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from rewardlab.config import ConfigError, Leaf, Spec
from rewardlab.errors import RewardlabError


@dataclass
class FlagValues:
    """The options a user set on the command line for one spec (dotted path -> value) and their flags."""

    cls: type[Spec]
    values: dict[str, Any]
    flags: dict[str, str] = field(default_factory=dict)

    def flag_of(self, path: str) -> str:
        """The flag of a dotted path (the path itself when it has none)."""
        return self.flags.get(path, path)

    def build(self, base: Spec | None = None, overrides: dict[str, Any] | None = None, **fixed: Any) -> Any:
        """The spec: `base` (default: the class defaults) with the set flags, then `overrides` and `fixed`
        (dotted path -> value) applied, validated once.

        Raises:
            RewardlabError: a broken rule, named with the command-line flags.
        """
        updates = {**self.values, **(overrides or {}), **fixed}
        try:
            start = base if base is not None else self.cls.from_dict({}, "defaults")
            return start.with_overrides(updates, "command line")
        except ConfigError as e:
            raise RewardlabError(e.named(self.flag_of)) from None


def _cli_type(leaf: Leaf) -> Any:
    origin = typing.get_origin(leaf.type)
    if origin is list:
        return list[str]  # the flag repeats, and each value may hold several, comma-separated
    if origin is typing.Literal:
        return type(typing.get_args(leaf.type)[0])
    if origin in (typing.Union, types.UnionType):
        if [a for a in typing.get_args(leaf.type) if a is not type(None)] == [bool]:
            return bool  # on, off, or not given (None: the code decides)
        return str  # a number or a keyword (`--max-length auto`), checked by the spec
    return leaf.type


def _help(leaf: Leaf) -> str:
    text = leaf.help
    if leaf.choices and "," not in text:
        text += f" One of: {', '.join(map(str, leaf.choices))}."
    default = leaf.default
    if isinstance(default, bool):
        default = "on" if default else "off"
    if default not in (None, [], "") and "default" not in text:
        text += f" (default: {default})"
    return text


def option_parameter(leaf: Leaf, name: str) -> inspect.Parameter:
    """A keyword-only typer parameter for one leaf (default None: "not given", so YAML values stay)."""
    tp = _cli_type(leaf)
    if tp is bool:
        decls = [f"{leaf.flag}/--no-{leaf.flag[2:]}"]
    else:
        decls = [leaf.flag, *leaf.aliases]
    opt = typer.Option(*decls, help=_help(leaf), rich_help_panel=leaf.section.capitalize(), show_default=False)
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                             annotation=Annotated[tp | None, opt])


def spec_options(param: str, cls: type[Spec], *, skip: tuple[str, ...] = ()) -> Callable:
    """Decorator: replace the command's `param` argument by one option per leaf of `cls` (minus `skip`); the
    command receives a `FlagValues` in `param`.

    Example:
        >>> @app.command("train")  # doctest: +SKIP
        ... @spec_options("flags", TrainConfig)
        ... def train_cmd(flags: FlagValues) -> None:
        ...     cfg = flags.build()
    """
    leaves = [leaf for leaf in cls.leaves() if leaf.path not in skip]
    names = {f"{param}__{leaf.path.replace('.', '__')}": leaf for leaf in leaves}
    flags = {leaf.path: leaf.flag for leaf in cls.leaves()}

    def deco(fn: Callable) -> Callable:
        hints = typing.get_type_hints(fn, include_extras=True)
        own = [p.replace(annotation=hints.get(p.name, p.annotation), kind=inspect.Parameter.KEYWORD_ONLY)
               for p in inspect.signature(fn).parameters.values() if p.name != param]
        params = own + [option_parameter(leaf, name) for name, leaf in names.items()]

        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            values = {}
            for name, leaf in names.items():
                v = kwargs.pop(name, None)
                if isinstance(v, list):  # a repeatable flag: every value, each split at commas
                    v = [x.strip() for item in v for x in item.split(",") if x.strip()] or None
                if v is not None:
                    values[leaf.path] = v
            kwargs[param] = FlagValues(cls, values, flags)
            return fn(**kwargs)

        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in params}
        del wrapper.__wrapped__  # typer must see the generated signature, not the original one
        return wrapper

    return deco


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """`--set a.b=value` items as {dotted path: value}; values are read as YAML scalars (3e-4, true, [a, b]).

    Raises:
        RewardlabError: an item without '='.
    """
    import yaml

    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise RewardlabError(f"--set {item!r}: expected path=value, e.g. --set optim.lr=3e-4")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out
