"""TrainConfig from YAML: fields are read, unknown keys are named, flags override the file."""

from __future__ import annotations

import pytest

from rewardlab.errors import RewardlabError
from rewardlab.train.config import TrainConfig


def test_yaml_round_trip_and_flags_win(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: minilm\nloss: soft\nhead: ensemble\nmembers: 3\nlr: 3.0e-4\nreport_to: [tensorboard]\n")
    cfg = TrainConfig.from_yaml(p)
    assert (cfg.loss, cfg.head, cfg.members, cfg.lr, cfg.report_to) == ("soft", "ensemble", 3, 3e-4, ["tensorboard"])
    cfg2 = cfg.updated({"lr": 1e-5, "members": None})
    assert cfg2.lr == 1e-5 and cfg2.members == 3


def test_unknown_key_and_bad_yaml_are_named(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("lerning_rate: 1\n")
    with pytest.raises(RewardlabError, match=r"c.yaml: unknown config field\(s\) \['lerning_rate'\]"):
        TrainConfig.from_yaml(p)
    p.write_text("a: [1, 2\n")
    with pytest.raises(RewardlabError, match="not valid YAML"):
        TrainConfig.from_yaml(p)
