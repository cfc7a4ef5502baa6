"""The command line generated from spec dataclasses (`rewardlab.config`): the only module that declares options.

A command is one row of a table, `Command(name, spec, run, help, show)`: `add_command` turns it into a typer
command with one option per leaf field of the spec tree (grouped by section in `--help`; some leaves taken as
positional arguments), builds and validates the spec from what the user set, calls `run(spec)` and hands the
result to `show`. Help text, choices and defaults come from the field declarations, so they live in one place and
every field is reachable.

Why generation and not one hand-written declaration per option: the train command had 43 hand-copied options and
a mirrored dict (12 fields reachable only through YAML); generation removed both and made a test possible that
sets every field from the command line (tests/test_cli_spec.py).
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
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
            start = base if base is not None else self.cls.draft()
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


def argument_parameter(leaf: Leaf, name: str, help: str | None = None) -> inspect.Parameter:
    """A positional typer argument for one leaf (required unless the leaf has a default); a list leaf takes every
    remaining value."""
    tp = list[str] if typing.get_origin(leaf.type) is list else str
    arg = typer.Argument(help=help or leaf.help, show_default=False)
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    if leaf.default in (None, []):
        return inspect.Parameter(name, kind, annotation=Annotated[tp, arg])
    return inspect.Parameter(name, kind, default=leaf.default, annotation=Annotated[tp, arg])


def _split_commas(v: Any) -> Any:
    """A repeatable flag's values, each split at commas (None when nothing is left)."""
    if isinstance(v, list):
        return [x.strip() for item in v for x in item.split(",") if x.strip()] or None
    return v


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


# ---------------------------------------------------------------------------------------------- the command table

Show = Callable[[Any, Any], None]


@dataclass(frozen=True)
class Command:
    """One row of the command table: a command's name, its spec, its run function and how its result is shown.

    Attributes:
        name: the command ("score"), or group and command ("data stats").
        spec: the spec class; its leaves become the options (spec modules import no torch, so `--help` is fast).
        run: "module:function" taking the spec and returning a result; imported only when the command runs.
        help: the command's help text.
        show: called with (result, spec) to print the result.
        arguments: leaf paths taken as positional arguments, in order, each with its help (None: the leaf's help).
        skip: leaf paths left off the command line (their spec default applies).
        config_file: add `--config FILE` (YAML settings the flags override) and `--print-config`.
        set_prefix: None: no `--set`; "": `--set` takes the spec's dotted paths; "train": paths that do not start
            with one of the spec's own fields are paths of its nested `train` section.
        epilog: text shown under the options.

    Example:
        >>> from rewardlab.demo import DemoSpec
        >>> cmd = Command("demo", DemoSpec, "rewardlab.demo:run", "Run the demo.", show=lambda res, spec: None)
        >>> [p.name for p in command_parameters(cmd)]
        ['output', 'quick', 'seed', 'bf16']
    """

    name: str
    spec: type[Spec]
    run: str
    help: str
    show: Show
    arguments: Mapping[str, str | None] = field(default_factory=dict)
    skip: tuple[str, ...] = ()
    config_file: bool = False
    set_prefix: str | None = None
    epilog: str | None = None


SET_HELP = "Dotted override path=value, e.g. optim.lr=3e-4 (repeatable; applied after the flags)."


def _meta_parameters(cmd: Command) -> list[inspect.Parameter]:
    """The options every spec-built command may have: --config, --set and --print-config."""
    kw = inspect.Parameter.KEYWORD_ONLY
    out = []
    if cmd.config_file:
        out.append(inspect.Parameter("config_", kw, default=None, annotation=Annotated[Path | None, typer.Option(
            "--config", help="YAML file of settings (nested sections as --print-config writes them, or flat option "
            "names); flags override it.")]))
    if cmd.set_prefix is not None:
        out.append(inspect.Parameter("set_", kw, default=None, annotation=Annotated[list[str] | None, typer.Option(
            "--set", help=SET_HELP)]))
    if cmd.config_file:
        out.append(inspect.Parameter("print_config_", kw, default=False, annotation=Annotated[bool, typer.Option(
            "--print-config", help="Print the resolved, validated settings as YAML and exit (nothing is loaded).")]))
    return out


def _leaf_names(cmd: Command) -> dict[str, Leaf]:
    """{python parameter name: leaf} of the command's arguments and options."""
    leaves = {leaf.path: leaf for leaf in cmd.spec.leaves() if leaf.path not in cmd.skip}
    unknown = [p for p in cmd.arguments if p not in leaves]
    if unknown:
        raise RewardlabError(f"command {cmd.name!r}: arguments {unknown} are not fields of {cmd.spec.__name__}")
    names = {path.rsplit(".", 1)[-1]: leaves[path] for path in cmd.arguments}  # SOURCE in the usage line
    return {**names, **{path.replace(".", "__"): leaf for path, leaf in leaves.items() if path not in cmd.arguments}}


def command_parameters(cmd: Command) -> list[inspect.Parameter]:
    """The generated signature of a command: its positional arguments, the meta options, then one option per leaf."""
    names = _leaf_names(cmd)
    return [*(argument_parameter(leaf, name, cmd.arguments[leaf.path]) for name, leaf in names.items()
              if leaf.path in cmd.arguments),
            *_meta_parameters(cmd),
            *(option_parameter(leaf, name) for name, leaf in names.items() if leaf.path not in cmd.arguments)]


def set_overrides(cmd: Command, items: list[str] | None) -> dict[str, Any]:
    """`--set` items as dotted paths of the command's spec (see `Command.set_prefix`)."""
    parsed = parse_set(items)
    if not cmd.set_prefix:
        return parsed
    own = cmd.spec.__dataclass_fields__  # type: ignore[attr-defined]
    return {(k if k.split(".")[0] in own else f"{cmd.set_prefix}.{k}"): v for k, v in parsed.items()}


def resolve(target: str) -> Callable[..., Any]:
    """The function named "module:function"."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def build_spec(cmd: Command, kwargs: dict[str, Any]) -> tuple[Any, bool]:
    """(the validated spec, whether to only print it) from a generated command's keyword arguments."""
    names = _leaf_names(cmd)
    values = {}
    for name, leaf in names.items():
        v = kwargs.pop(name, None)
        if leaf.path not in cmd.arguments:
            v = _split_commas(v)  # a positional list keeps its commas (NAME=FOLDER,FOLDER)
        if v is not None and v != []:
            values[leaf.path] = v
    flags = {leaf.path: (leaf.path.rsplit(".", 1)[-1].upper() if leaf.path in cmd.arguments else leaf.flag)
             for leaf in names.values()}
    config = kwargs.pop("config_", None)
    base = cmd.spec.from_yaml(config) if config else None
    spec = FlagValues(cmd.spec, values, flags).build(base, overrides=set_overrides(cmd, kwargs.pop("set_", None)))
    return spec, bool(kwargs.pop("print_config_", False))


def command_function(cmd: Command) -> Callable[..., None]:
    """The typer command of one table row: build the spec, run it, show the result."""

    def command(**kwargs: Any) -> None:
        spec, print_only = build_spec(cmd, kwargs)
        if print_only:
            typer.echo(spec.to_yaml(), nl=False)
            return
        cmd.show(resolve(cmd.run)(spec), spec)

    params = command_parameters(cmd)
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__name__ = cmd.name.replace(" ", "_").replace("-", "_") + "_command"
    command.__doc__ = cmd.help
    return command


def add_commands(app: typer.Typer, commands: list[Command], groups: Mapping[str, typer.Typer]) -> None:
    """Register every row of the table: "GROUP NAME" rows go to `groups[GROUP]`, the others to `app`."""
    for cmd in commands:
        group, _, name = cmd.name.rpartition(" ")
        target = groups[group] if group else app
        target.command(name, help=cmd.help, epilog=cmd.epilog)(command_function(cmd))
