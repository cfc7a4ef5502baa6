"""Options generated from specs: every TrainConfig field can be set from the command line, the data-reading
options are the same on every command, and rule violations are reported with the flags' names."""

from __future__ import annotations

import typing

import pytest
import yaml
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.cli_spec import parse_set
from rewardlab.data.spec import DataSpec
from rewardlab.errors import RewardlabError
from rewardlab.train.config import TrainConfig

runner = CliRunner()


def _other_value(leaf):
    """A valid value different from the default, for any leaf type."""
    if leaf.choices:
        return next(c for c in leaf.choices if c != leaf.default)
    tp = leaf.type
    if tp is bool:
        return not leaf.default if leaf.default is not None else True
    if tp is int:
        return 7 if leaf.default in (None, -1) else leaf.default + 3
    if tp is float:
        return 0.25 if leaf.default in (None, 0.0) else leaf.default / 2
    if typing.get_origin(tp) is list:
        return ["colA", "colB"]
    return f"value-of-{leaf.path}"


# a consistent set in which every field differs from its default (some rules tie fields together)
FIXED = {"model.head.kind": "ensemble", "loss.name": "gaussian", "data.layout": "explicit", "run.device": "cpu",
         "run.report_to": ["tensorboard", "wandb"], "sim.preset": "human_like", "data.file_format": "jsonl",
         "render.separator": " || ", "augment.kinds": ["probes", "off-prompt"], "augment.probes": ["filler", "hedges"],
         "render.max_length": "auto"}


ODIN = {leaf.path for leaf in TrainConfig.leaves() if leaf.path.startswith("loss.odin_")}


def _cli_args(values: dict) -> list[str]:
    by_path = {leaf.path: leaf for leaf in TrainConfig.leaves()}
    args = []
    for path, v in values.items():
        flag = by_path[path].flag
        if v is None:  # not given: the field keeps its default (None)
            continue
        if isinstance(v, bool):
            args.append(flag if v else f"--no-{flag[2:]}")
        else:
            args += [flag, ",".join(v) if isinstance(v, list) else str(v)]
    return args


@pytest.mark.parametrize("toggle", ["model.lora.enabled", "model.freeze_backbone"])
def test_every_train_field_is_settable_from_the_command_line(toggle):
    default = TrainConfig().to_flat_dict()
    values = {}
    for leaf in TrainConfig.leaves():
        # the disentangled head's weights apply to that head only (the next test sets them)
        values[leaf.path] = default[leaf.path] if leaf.path in ODIN else FIXED.get(leaf.path, _other_value(leaf))
    # LoRA and a frozen backbone exclude each other: each run sets one of them
    values["model.lora.enabled"] = toggle == "model.lora.enabled"
    values["model.freeze_backbone"] = toggle == "model.freeze_backbone"
    res = runner.invoke(app, ["train", "--print-config", *_cli_args(values)])
    assert res.exit_code == 0, res.output
    got = TrainConfig.from_dict(yaml.safe_load(res.stdout)).to_flat_dict()
    assert got == values
    changed = {p for p in values if values[p] != default[p]}
    assert changed >= set(values) - {"model.lora.enabled", "model.freeze_backbone"} - ODIN  # nothing stayed default


def test_the_disentangled_heads_options_are_settable_from_the_command_line():
    default = TrainConfig().to_flat_dict()
    leaves = {leaf.path: leaf for leaf in TrainConfig.leaves()}
    values = {**default, "model.head.kind": "disentangled", **{p: _other_value(leaves[p]) for p in ODIN}}
    res = runner.invoke(app, ["train", "--print-config", *_cli_args({p: v for p, v in values.items()
                                                                       if v != default[p]})])
    assert res.exit_code == 0, res.output
    assert TrainConfig.from_dict(yaml.safe_load(res.stdout)).to_flat_dict() == values
    assert all(values[p] != default[p] for p in ODIN) and len(ODIN) == 5


@pytest.mark.parametrize(("given", "want"), [("auto", "auto"), ("300", 300)])
def test_max_length_is_a_number_or_auto_on_the_command_line(given, want):
    res = runner.invoke(app, ["train", "--print-config", "--max-length", given])
    assert res.exit_code == 0, res.output
    assert yaml.safe_load(res.stdout)["render"]["max_length"] == want
    bad = runner.invoke(app, ["train", "--print-config", "--max-length", "long"])
    assert bad.exit_code != 0 and "--max-length must be an integer or one of ['auto']" in str(bad.exception)


def test_config_file_then_flags_then_set(tmp_path):
    p = tmp_path / "c.yaml"
    TrainConfig.from_options(lr=1e-3, batch_size=4, head="gaussian").to_yaml(p)
    res = runner.invoke(app, ["train", "--config", str(p), "--batch-size", "8", "--set", "optim.lr=5e-5",
                              "--print-config"])
    assert res.exit_code == 0, res.output
    cfg = TrainConfig.from_dict(yaml.safe_load(res.stdout))
    assert (cfg.optim.lr, cfg.optim.batch_size, cfg.model.head.kind) == (5e-5, 8, "gaussian")


def test_rule_errors_name_the_flags_and_load_nothing(monkeypatch, capsys):
    import rewardlab.models.checkpoint as checkpoint

    def boom(*a, **k):
        raise AssertionError("a model was loaded before the config was validated")

    monkeypatch.setattr(checkpoint, "build_reward_model", boom)
    from rewardlab.cli import main

    for args, message in [
        (["--head", "scalar", "--loss", "gaussian"], "--loss 'gaussian' needs a variance head: --head gaussian"),
        (["--prefix-sharing", "--no-pack-pairs"], "--prefix-sharing runs on packed rows: drop --pack-pairs false"),
        (["--lr", "-1"], "--lr must be > 0.0, got -1.0"),
        (["--format", "ksample", "--prompt-key", "q"], "--prompt-key is a reading option for a data file, but no "
                                                       "--data was given"),
        (["--set", "optim.lr"], "--set 'optim.lr': expected path=value"),
    ]:
        with pytest.raises(SystemExit) as e:
            main(["train", *args])
        assert e.value.code == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", [["data", "check", "x"], ["data", "stats", "x"], ["data", "convert", "x", "y"],
                                     ["score", "-m", "m", "-d", "x", "-o", "o"], ["eval", "-m", "m", "-o", "o"],
                                     ["audit", "-m", "m", "-o", "o"], ["train"]])
def test_every_command_takes_the_same_reading_options(command):
    res = runner.invoke(app, [*command, "--help"], terminal_width=200)
    assert res.exit_code == 0
    for leaf in DataSpec.leaves():
        if leaf.path != "source":
            assert leaf.flag in res.stdout, (command, leaf.flag)


def test_parse_set():
    assert parse_set(["optim.lr=3e-4", "run.report_to=[a, b]", "model.backbone=x=y"]) == {
        "optim.lr": "3e-4", "run.report_to": ["a", "b"], "model.backbone": "x=y"}
    with pytest.raises(RewardlabError):
        parse_set(["=1"])
