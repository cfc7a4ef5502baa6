"""The simulator's configuration is a spec of the config tree: validated field by field, errors naming the dotted
path (and the file a config came from), partial sections merged into the preset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rewardlab.config import ConfigError, Spec
from rewardlab.errors import RewardlabError
from rewardlab.simulate.config import DEFAULT_TAUS, Propensities, SimConfig, UtilityWeights, realistic
from rewardlab.simulate.stage import build_config


def test_the_simulator_config_is_a_spec_tree() -> None:
    assert issubclass(SimConfig, Spec) and issubclass(Propensities, Spec) and issubclass(UtilityWeights, Spec)
    paths = {leaf.path for leaf in SimConfig.leaves()}
    assert {"propensities.accuracy", "weights.correct", "length_bias", "flip_prob"} <= paths


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"flip_prob": 1.5}, "flip_prob must be <= 1.0, got 1.5"),
    ({"n_annotators": 0}, "n_annotators must be >= 1, got 0"),
    ({"length_norm": 0.0}, "length_norm must be > 0.0, got 0.0"),
    ({"tie_margin": -1.0}, "tie_margin must be >= 0.0, got -1.0"),
    ({"propensities": Propensities(accuracy=0.5, relevance=0.5)}, None),
    ({"taus": {"poetry": 1.0}}, "taus has an unknown family 'poetry'"),
    ({"taus": {"facts": 0.0}}, "taus['facts'] must be a positive number, got 0.0"),
    ({"family_weights": {"facts": -1.0}}, "family_weights['facts'] must be >= 0, got -1.0"),
    ({"family_weights": {"facts": 0.0}}, "family_weights selects no family"),
    ({"length_bias": float("nan")}, "length_bias must be a finite number"),
])
def test_each_rule_names_its_field(kwargs: dict, message: str | None) -> None:
    if message is None:
        assert SimConfig(**kwargs).propensities.accuracy == 0.5
        return
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        SimConfig(**kwargs)


def test_nested_errors_carry_the_dotted_path_and_config_errors_are_value_errors() -> None:
    with pytest.raises(ConfigError, match=r"propensities\.accuracy must be <= 1\.0, got 1\.5"):
        SimConfig.from_dict({"propensities": {"accuracy": 1.5}})
    with pytest.raises(ValueError, match=r"^hedging must be >= 0\.0, got -0\.5$"):
        Propensities(hedging=-0.5)
    with pytest.raises(RewardlabError, match=r"unknown config field\(s\) \['propensities.acc'\]"):
        SimConfig.from_dict({"propensities": {"acc": 0.9}})


def test_round_trip_and_partial_taus() -> None:
    cfg = realistic()
    assert SimConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    part = SimConfig(taus={"advice": 3.0})
    assert part.taus == {**DEFAULT_TAUS, "advice": 3.0}
    assert list(part.to_dict()["taus"]) == list(DEFAULT_TAUS)


def test_a_config_file_updates_the_preset_field_by_field_and_errors_name_the_file(tmp_path: Path) -> None:
    f = tmp_path / "sim.json"
    f.write_text(json.dumps({"propensities": {"accuracy": 0.9}, "length_bias": 2.0}))
    cfg = build_config("realistic", f)
    want = realistic().propensities
    # only accuracy changes: the preset's other propensities (completeness 2.0, coupling 2.0) stay
    assert cfg.propensities == Propensities(**{**want.to_dict(), "accuracy": 0.9})
    assert cfg.length_bias == 2.0 and cfg.taus == realistic().taus
    f.write_text(json.dumps({"propensities": {"accuracy": 1.9}}))
    with pytest.raises(RewardlabError, match=rf"^{f}: propensities\.accuracy must be <= 1\.0, got 1\.9$"):
        build_config("realistic", f)
    with pytest.raises(RewardlabError, match=r"^simulator config: flip_prob must be <= 1\.0, got 3\.0$"):
        build_config("neutral", None, flip_prob=3)
    assert build_config("neutral", None, flip_prob=0.25, annotators=3).n_annotators == 3
