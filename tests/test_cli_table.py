"""The command line is a generated table (issue 24 item 1): no hand-written option outside the generator, every
command comes from a row of `rewardlab.cli.COMMANDS`, and each row's spec and run function exist."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import typer.main

from conftest import run_cli as cli
from rewardlab.cli import COMMANDS, app
from rewardlab.cli_spec import Command, command_function, resolve
from rewardlab.config import Spec

SRC = Path(__file__).resolve().parents[1] / "src" / "rewardlab"


def typer_declarations(root: Path = SRC) -> list[str]:
    """file:line of every `typer.Option(...)` / `typer.Argument(...)` call outside src/rewardlab/cli_spec.py."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if path.name == "cli_spec.py" and path.parent == root:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("Option", "Argument")
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "typer"):
                found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_no_typer_option_outside_the_generator():
    assert typer_declarations() == []


def test_the_scan_finds_a_hand_written_option(tmp_path):
    (tmp_path / "mod.py").write_text("import typer\n\ndef f(x: int = typer.Option(1, '--x')):\n    return x\n")
    assert typer_declarations(tmp_path) == ["mod.py:3"]


def _commands(group: typer.main.TyperGroup, prefix: str = "") -> dict[str, object]:
    out = {}
    for name, cmd in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(cmd, "commands"):  # a group (typer may ship its own click)
            out.update(_commands(cmd, full + " "))
        else:
            out[full] = cmd
    return out


def test_every_command_is_a_generated_row_of_the_table():
    registered = _commands(typer.main.get_command(app))
    rows = {c.name: c for c in COMMANDS}
    assert set(registered) == set(rows)
    assert len(rows) == len(COMMANDS)  # no name twice
    for name, cmd in registered.items():
        callback = cmd.callback
        assert callback.__module__ == "rewardlab.cli_spec", name  # made by command_function, no body of its own
        assert callback.__doc__ == rows[name].help


def test_every_row_names_a_spec_and_a_run_function_taking_it():
    for row in COMMANDS:
        assert issubclass(row.spec, Spec), row.name
        run = resolve(row.run)
        params = list(inspect.signature(run).parameters.values())
        assert params and all(p.default is not inspect.Parameter.empty for p in params[1:]), row.run
        assert row.help.strip() and callable(row.show)


def test_a_row_with_an_unknown_argument_is_refused():
    from rewardlab.demo import DemoSpec

    row = Command("demo", DemoSpec, "rewardlab.demo:run", "help", show=lambda r, s: None, arguments={"nope": None})
    try:
        command_function(row)
    except Exception as e:  # noqa: BLE001
        assert "nope" in str(e) and "DemoSpec" in str(e)
    else:
        raise AssertionError("an unknown argument path was accepted")


def test_positional_arguments_and_spec_rules_on_the_command_line(tmp_path):
    res = cli("report", str(tmp_path / "a"), str(tmp_path / "b"), check=False)
    assert res.returncode == 2 and "several folders make a comparison: give --output" in res.stderr
    res = cli("export", str(tmp_path / "a"), str(tmp_path / "b"), check=False)
    assert res.returncode == 2 and "pass --mean-only" in res.stderr
    res = cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), check=False)
    assert res.returncode == 2 and "no metrics.json" in res.stderr
    res = cli("serve", check=False)
    assert res.returncode == 2 and "--model is required" in res.stderr
    res = cli("logs", "eval", "--obs", "o.jsonl", check=False)
    assert res.returncode == 2 and "logs eval needs --exp, --sim, --output" in res.stderr


def test_data_commands_from_the_table(tmp_path):
    from rewardlab.data import write_records
    from rewardlab.simulate import simulate_pairs

    src = tmp_path / "p.jsonl"
    write_records(simulate_pairs(12, seed=1), str(src))
    assert cli("data", "check", str(src)).stdout.strip() == f"{src}: 12 valid preference pairs (explicit prompt)"
    out = cli("data", "convert", str(src), str(tmp_path / "q.jsonl")).stdout.strip()
    assert out == f"wrote 12 pairs records to {tmp_path / 'q.jsonl'}"
    stats = cli("data", "stats", str(src), "--tokenizer", "none", "-o", str(tmp_path / "s.json")).stdout
    assert "n_pairs: 12" in stats and stats.strip().endswith(f"wrote {tmp_path / 's.json'}")


def test_only_the_main_process_prints(monkeypatch, capsys):
    """Under torchrun every process runs the stage; a rank other than 0 prints nothing (regression: the table's
    show printed "scored 0 responses" on every rank of a sharded `rewardlab score`)."""
    from rewardlab.cli import show

    class Res:
        files = ["out.jsonl"]

        def lines(self):
            return ["scored 0 responses with x"]

    monkeypatch.setenv("RANK", "1")
    show(Res())
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("RANK", "0")
    show(Res())
    assert capsys.readouterr().out == "scored 0 responses with x\nwrote out.jsonl\n"


def test_python_runs_every_stage_through_the_same_rows(tmp_path) -> None:
    """`rewardlab.run(spec)` finds the command row of the spec's class: the same spec, the same run function and
    the same output as the command line."""
    import rewardlab
    from rewardlab.errors import RewardlabError
    from rewardlab.simulate.spec import SimulateSpec
    from rewardlab.stages import stage_of

    assert len({row.spec for row in COMMANDS}) == len(COMMANDS)  # one row per spec class: the lookup is exact
    assert all(stage_of(row.spec) == row.name for row in COMMANDS)
    res = rewardlab.run(SimulateSpec(output=str(tmp_path / "py.jsonl"), n=25, preset="realistic", seed=3))
    assert res.lines() == [f"wrote 25 simulated pairs records to {tmp_path / 'py.jsonl'}"]
    cli("data", "simulate", "-n", "25", "--preset", "realistic", "--seed", "3", "-o", tmp_path / "cli.jsonl")
    assert (tmp_path / "py.jsonl").read_bytes() == (tmp_path / "cli.jsonl").read_bytes()
    with pytest.raises(RewardlabError, match="no stage takes a dict; the stage specs are: DataCheckSpec"):
        rewardlab.run({"output": "x"})
