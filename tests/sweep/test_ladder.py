"""Rungs and variants of `rewardlab sweep`: parsing, the plan of runs, each run's TrainConfig, and the errors."""

from __future__ import annotations

import pytest

from rewardlab.config import ConfigError
from rewardlab.errors import RewardlabError
from rewardlab.sweep.ladder import DEFAULT_RUNGS, Rung, parse_rung, parse_rungs
from rewardlab.sweep.spec import SweepSpec


@pytest.mark.parametrize(("text", "want", "label"), [
    ("minilm:2", Rung("minilm", 2, "full", 0), "minilm:2"),
    ("minilm", Rung("minilm"), "minilm:full"),
    ("smollm2:lora", Rung("smollm2", None, "lora"), "smollm2:lora"),
    ("smollm2:full", Rung("smollm2"), "smollm2:full"),
    ("minilm:6:mlp", Rung("minilm", 6, "full", 256), "minilm:6:mlp"),
    ("minilm:MLP512:frozen:3", Rung("minilm", 3, "frozen", 512), "minilm:3:frozen:mlp512"),
    ("runs/x:lora:1", Rung("runs/x", 1, "lora"), "runs/x:1:lora"),
])
def test_parse_rung(text, want, label):
    r = parse_rung(text)
    assert r == want and r.label == label
    assert parse_rung(r.label) == r  # the label reads back as the same rung


@pytest.mark.parametrize(("text", "msg"), [
    ("minilm:two", "unknown part 'two'"), (":2", "no backbone"), ("minilm:0", "at least 1"),
    ("minilm:1:2", "two layer counts"), ("minilm:lora:full", "two training modes"), ("minilm:mlp:mlp9", "two heads"),
    ("minilm:mlp0", "at least one unit"),
])
def test_bad_rungs_are_named(text, msg):
    with pytest.raises(RewardlabError, match=msg):
        parse_rung(text)


def test_the_same_rung_twice_is_refused():
    with pytest.raises(RewardlabError, match="'minilm:6' and 'minilm:6:full' are the same model"):
        parse_rungs(["minilm:6", "minilm:6:full"])


def test_slugs_are_distinct_folder_names():
    rungs = [parse_rung(t) for t in (*DEFAULT_RUNGS, "minilm:6:mlp", "/a/b/tiny:1", "/c/b/tiny:1")]
    slugs = [r.slug for r in rungs]
    assert len(set(slugs)) == len(slugs)
    assert all("/" not in s and ":" not in s for s in slugs)
    assert slugs[:2] == ["minilm-1", "minilm-2"]


def test_plan_and_run_configs():
    spec = SweepSpec(output="o", rungs=["minilm:1", "minilm:6:mlp", "smollm2:lora"],
                     variants=["plain", "balance-length", "head-disentangled", "length-control"],
                     variant_rungs=["minilm:6:mlp", "smollm2:lora"])
    plan = [(r.label, v) for r, v in spec.runs()]
    assert plan == [("minilm:1", "plain"), ("minilm:6:mlp", "plain"), ("minilm:6:mlp", "balance-length"),
                    ("minilm:6:mlp", "head-disentangled"), ("minilm:6:mlp", "length-control"),
                    ("smollm2:lora", "plain"), ("smollm2:lora", "balance-length"),
                    ("smollm2:lora", "head-disentangled"), ("smollm2:lora", "length-control")]
    c = spec.run_config(parse_rung("minilm:6:mlp"), "head-disentangled", "out/x")
    assert (c.model.backbone, c.model.num_layers, c.model.head.hidden, c.model.head.kind) == ("minilm", 6, 256,
                                                                                               "disentangled")
    assert not c.model.lora.enabled and c.run.output == "out/x"
    c = spec.run_config(parse_rung("smollm2:lora"), "balance-length", "o2")
    assert c.model.lora.enabled and c.model.num_layers is None and c.balance.by == "length"
    assert spec.train.balance.by == "none"  # the shared settings are not changed
    # default: the variants go to the last rung
    assert SweepSpec(rungs=["minilm:1", "minilm:2"], variants=["length-control"]).variant_targets() == ["minilm:2"]


def test_shared_train_settings_reach_every_run_and_rules_cross_them():
    spec = SweepSpec(rungs=["minilm:1", "smollm2:frozen"]).with_overrides({"train.optim.lr": 3e-4})
    assert {spec.run_config(r, "plain", "o").optim.lr for r, _ in spec.runs()} == {3e-4}
    lora = SweepSpec(rungs=["minilm:lora"], variants=["head-disentangled"]).with_overrides(
        {"train.loss.name": "gaussian", "train.model.head.kind": "gaussian"})
    with pytest.raises(RewardlabError, match=r"sweep run minilm:lora \(head-disentangled\): .*gaussian"):
        lora.run_config(lora.ladder()[0], "head-disentangled", "o")


@pytest.mark.parametrize(("kw", "msg"), [
    ({"rungs": ["minilm:x"]}, "rungs: rung 'minilm:x': unknown part 'x'"),
    ({"variants": ["bigger"]}, "variants: unknown variant 'bigger'"),
    ({"variant_rungs": ["minilm:4"]}, "variant_rungs: 'minilm:4' is not one of the rungs"),
    ({"rungs": []}, "rungs: no rungs"),
])
def test_spec_errors_name_the_field(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        SweepSpec(**kw)


@pytest.mark.parametrize("module", ["rewardlab.sweep.ladder", "rewardlab.sweep.spec", "rewardlab.models.backbone"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0
