"""TrainConfig: a validated tree of specs. YAML round trips, flat and dotted overrides, rules checked when the
config is built (before any model loads), and every field reachable from the command line."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from rewardlab.config import ConfigError
from rewardlab.errors import RewardlabError
from rewardlab.train.config import BUILTIN_LOSSES, HEAD_KINDS, POOLINGS, REPORTERS, TrainConfig


def test_yaml_round_trip_nested_and_flat(tmp_path):
    cfg = TrainConfig.from_options(loss="soft", head="ensemble", members=3, lr=3e-4, report_to="tensorboard",
                                   anchor_columns=None, max_length=256, render_mode="plain", sim_n=123)
    p = tmp_path / "c.yaml"
    cfg.to_yaml(p)
    back = TrainConfig.from_yaml(p)
    assert back == cfg
    assert yaml.safe_load(p.read_text())["optim"]["lr"] == 3e-4  # nested sections on disk
    assert (back.loss.name, back.model.head.kind, back.model.head.members, back.run.report_to) == (
        "soft", "ensemble", 3, ["tensorboard"])
    # flat option names (the CLI flags without dashes) are accepted in YAML too; YAML 1.1's 3e-4 string is a number
    p.write_text("model: minilm\nloss: soft\nhead: ensemble\nmembers: 3\nlr: 3e-4\nreport_to: [tensorboard]\n")
    flat = TrainConfig.from_yaml(p)
    assert flat.optim.lr == 3e-4 and flat.model.head.members == 3 and flat.model.backbone == "minilm"


def test_overrides_dotted_and_flat():
    cfg = TrainConfig().with_overrides({"optim.lr": 1e-5, "model.head.kind": "gaussian"})
    assert cfg.optim.lr == 1e-5 and cfg.loss_name == "gaussian"  # a variance head asked for BT trains Gaussian
    assert cfg.with_options({"lr": None}).optim.lr == 1e-5  # None means "not given"
    with pytest.raises(RewardlabError, match="unknown config field 'optim.lx'"):
        cfg.with_overrides({"optim.lx": 1})
    with pytest.raises(RewardlabError, match="unknown option"):
        TrainConfig.from_options(learning_rate=1)


def test_unknown_key_and_bad_yaml_are_named(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("optim:\n  lerning_rate: 1\n")
    with pytest.raises(RewardlabError, match=r"c.yaml: unknown config field\(s\) \['optim.lerning_rate'\]"):
        TrainConfig.from_yaml(p)
    p.write_text("lerning_rate: 1\n")
    with pytest.raises(RewardlabError, match=r"c.yaml: unknown option\(s\) \['lerning_rate'\]"):
        TrainConfig.from_yaml(p)
    p.write_text("a: [1, 2\n")
    with pytest.raises(RewardlabError, match="not valid YAML"):
        TrainConfig.from_yaml(p)


@pytest.mark.parametrize("options, message", [
    # choices and ranges, named by the parameter's path
    ({"head": "mixture"}, r"model.head.kind must be one of \['scalar', 'gaussian', 'ensemble', 'disentangled'\], got 'mixture'"),
    ({"lr": 0}, r"optim.lr must be > 0.0, got 0.0"),
    ({"eval_split": 1.5}, r"heldout.split must be <= 0.9"),
    ({"members": 1}, r"model.head.members must be >= 2"),
    ({"batch_size": "8"}, r"optim.batch_size must be an integer, got '8'"),
    ({"on_invalid": "drop"}, r"data.on_invalid must be one of \['error', 'skip'\]"),
    ({"loss": "hinge"}, r"loss.name must be one of \["),
    ({"report_to": "neptune"}, r"run.report_to must name loggers"),
    # rules that cross fields and sections
    ({"head": "scalar", "loss": "gaussian"}, r"loss.name 'gaussian' needs a variance head: model.head.kind"),
    ({"head": "gaussian", "loss": "margin"}, r"loss.name 'margin' gives no signal to a variance head"),
    ({"prefix_sharing": True, "pack_pairs": False}, r"optim.prefix_sharing runs on packed rows"),
    ({"bootstrap": True}, r"optim.bootstrap resamples the pairs of each ensemble member; model.head.kind is 'scalar'"),
    ({"anchor_columns": "a,b"}, r"loss.anchor_columns are used by loss.name gaussian only"),
    ({"anchor_columns": "a", "head": "gaussian", "loss": "gaussian"}, r"loss.anchor_columns takes two columns"),
    ({"lora": True, "freeze_backbone": True}, r"model.lora.enabled and model.freeze_backbone together"),
    ({"member_gaussian": True}, r"model.head.member_gaussian applies to ensembles"),
    ({"odin_quality_corr": 2.0}, r"loss.odin_quality_corr applies to model.head.kind disentangled; .* 'scalar'"),
    ({"odin_within_pair": False, "head": "ensemble"}, r"loss.odin_within_pair applies to model.head.kind disentangled"),
    ({"head": "disentangled", "loss": "gaussian"}, r"loss.name 'gaussian' needs a variance head"),
    ({"prompt_key": "q"}, r"data.prompt_key is a reading option for a data file, but no data.source"),
    ({"data": "x.jsonl", "eval_data": "x.jsonl"}, r"heldout.data is the training file itself"),
])
def test_bad_configs_fail_when_built_naming_the_parameter(options, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_options(**options)


def test_choices_match_the_registries():
    """The config's literal choices are the model and loss registries' own lists (kept light for a fast CLI)."""
    from rewardlab.models.reward_model import HEADS
    from rewardlab.models.reward_model import POOLINGS as MODEL_POOLINGS
    from rewardlab.train.losses import LOSSES
    from rewardlab.train.trainer import REPORTERS as TRAINER_REPORTERS

    assert set(HEAD_KINDS) == set(HEADS) and set(POOLINGS) == set(MODEL_POOLINGS)
    assert set(BUILTIN_LOSSES) <= set(LOSSES) and set(REPORTERS) == set(TRAINER_REPORTERS)
    leaves = {leaf.path: leaf for leaf in TrainConfig.leaves()}
    assert set(leaves["model.head.kind"].choices) == set(HEADS)


def test_every_field_has_a_unique_flag_and_help():
    leaves = list(TrainConfig.leaves())
    flags = [leaf.flag for leaf in leaves] + [a for leaf in leaves for a in leaf.aliases]
    assert len(flags) == len(set(flags))
    assert all(leaf.help for leaf in leaves)
    n_fields = sum(1 for _ in leaves)
    assert n_fields == len(TrainConfig().to_flat_dict())
    assert dataclasses.is_dataclass(TrainConfig)


def test_the_disentangled_heads_orthogonality_weight_follows_the_backbone_unless_set():
    """lambda_O: ODIN's 1.0 when the backbone trains, FROZEN_ODIN_ORTHOGONAL (0.1) on frozen features; a value
    given by the user wins in both."""
    from rewardlab.train.config import FROZEN_ODIN_ORTHOGONAL

    full = TrainConfig.from_options(head="disentangled")
    frozen = TrainConfig.from_options(head="disentangled", freeze_backbone=True)
    assert full.loss.odin_orthogonal is None
    assert full.loss.disentangle_spec(frozen_backbone=False).orthogonal == 1.0
    assert frozen.loss.disentangle_spec(frozen_backbone=True).orthogonal == FROZEN_ODIN_ORTHOGONAL == 0.1
    mine = TrainConfig.from_options(head="disentangled", freeze_backbone=True, odin_orthogonal=0.5)
    assert mine.loss.disentangle_spec(frozen_backbone=True).orthogonal == 0.5
    assert TrainConfig.from_options(head="disentangled", odin_orthogonal=0.0).loss.disentangle_spec().orthogonal == 0
