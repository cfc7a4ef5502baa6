"""`rewardlab optimize --bf16 / --device`: how a reward-model folder is scored. The options reach the scorer loader
(defaults load exactly as before), one scorer is kept per folder and options, a resumed run may move to another
device but not change precision, and checkpoints written before the options existed still resume."""

from __future__ import annotations

import json

import pytest

import rewardlab.policy.rewards as rewards
import rewardlab.scoring.base as scoring_base
from rewardlab.errors import RewardlabError
from rewardlab.policy.loop import OptimizeSpec, run
from rewardlab.scoring.output import RewardOutput

SMALL = {"batch_prompts": 4, "group": 4, "n_prompts": 16, "plot": False}


class _Words:
    """Stands in for a loaded reward-model folder: rewards are word counts; it records the options it got."""

    def __init__(self, spec: str, **options):
        self.name, self.options = spec, options

    def score(self, prompts, responses, progress=True):
        return RewardOutput([float(len(r.split())) for r in responses])


@pytest.fixture
def loader(monkeypatch):
    """get_scorer replaced by a recorder; the process-wide scorer cache emptied before and after."""
    calls: list[tuple[str, dict]] = []

    def fake(spec, **options):
        calls.append((spec, options))
        return _Words(spec, **options)

    monkeypatch.setattr(scoring_base, "get_scorer", fake)
    monkeypatch.setattr(rewards, "_LOADED", {})
    return calls


def test_cli_flags_are_generated_from_the_spec():
    spec = OptimizeSpec.from_options(reward="rm", output="o", bf16=True, device="cpu")
    assert (spec.bf16, spec.device) == (True, "cpu")
    assert (OptimizeSpec(reward="rm", output="o").bf16, OptimizeSpec(reward="rm", output="o").device) == (False, "auto")


def test_options_reach_the_loader_and_defaults_load_as_before(tmp_path, loader):
    run(OptimizeSpec(reward="runs/rm", output=str(tmp_path / "a"), steps=1, **SMALL))
    assert loader == [("runs/rm", {})]  # the defaults (fp32, device auto): get_scorer(spec), as before the options
    res = run(OptimizeSpec(reward="runs/rm", output=str(tmp_path / "b"), steps=1, bf16=True, device="cpu", **SMALL))
    assert loader[1] == ("runs/rm", {"bf16": True, "device": "cpu"})  # a second scorer: the first stays fp32
    run(OptimizeSpec(reward="runs/rm", output=str(tmp_path / "c"), steps=1, bf16=True, device="cpu", **SMALL))
    assert len(loader) == 2  # loaded once per folder and options
    assert res.spec["bf16"] is True and res.spec["device"] == "cpu"


def test_resume_may_change_the_device_but_not_the_precision(tmp_path, loader):
    spec = {"reward": "runs/rm", "output": str(tmp_path), "steps": 4, "checkpoint_every": 2, **SMALL}
    run(OptimizeSpec(**spec))
    run(OptimizeSpec(**{**spec, "steps": 6}, resume=True, device="cpu"))
    with pytest.raises(RewardlabError, match=r"cannot resume with different settings \(bf16: None -> True\)"):
        run(OptimizeSpec(**{**spec, "steps": 8}, resume=True, bf16=True))


def test_a_checkpoint_from_before_the_options_still_resumes(tmp_path, loader):
    spec = {"reward": "runs/rm", "output": str(tmp_path), "steps": 4, "checkpoint_every": 2, **SMALL}
    full = run(OptimizeSpec(**{**spec, "output": str(tmp_path / "full"), "steps": 6}))
    run(OptimizeSpec(**spec))
    path = tmp_path / "checkpoint.json"
    ckpt = json.loads(path.read_text())
    ckpt["spec"].pop("bf16", None)
    ckpt["spec"].pop("device", None)
    path.write_text(json.dumps(ckpt))
    resumed = run(OptimizeSpec(**{**spec, "steps": 6}, resume=True))
    strip = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in resumed.records]
    assert strip == [{k: v for k, v in r.items() if k != "elapsed_s"} for r in full.records]
