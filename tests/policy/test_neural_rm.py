"""Iterative updates of a neural reward model inside the optimisation loop (rewardlab.policy.neural_rm): an update
moves the model toward its labels on held-out pairs (measured here with a separately loaded model, against a
label-flipped control), the loop's runs with updates resume exactly from weights saved as files, and bad inputs
stop with clear errors.

The model is MiniLM cut to one layer and trained for 4 steps on 64 simulator pairs by `rewardlab train` (about
15 s on 2 cores); updates run a few optimiser steps."""

from __future__ import annotations

import json

import numpy as np
import pytest
from safetensors.torch import load_file

from rewardlab.config import ConfigError
from rewardlab.errors import RewardlabError
from rewardlab.models import load
from rewardlab.policy.annotators import annotator_config
from rewardlab.policy.loop import OptimizeSpec, run
from rewardlab.policy.neural_rm import NeuralRewardModel, check_settings, updatable_scorer
from rewardlab.policy.rewards import load_reward_model
from rewardlab.scoring.base import ModelScorer
from rewardlab.simulate.generate import simulate_pairs

pytestmark = pytest.mark.slow  # trains a small real model (about 2 minutes for the file on 2 shared cores)

#: an annotator whose labels a one-layer model can learn in a few steps: the longer answer wins
LENGTH = "length=5,agreement=0,format=0"
TINY_LOOP = {"batch_prompts": 4, "group": 2, "n_prompts": 32, "plot": False}


@pytest.fixture(scope="module")
def minilm1(tmp_path_factory) -> str:
    """A rewardlab checkpoint: MiniLM truncated to 1 layer, 4 training steps on 64 simulator pairs."""
    from rewardlab.train.config import TrainConfig
    from rewardlab.train.trainer import train

    out = str(tmp_path_factory.mktemp("neural_rm") / "minilm1")
    train(TrainConfig.from_options(model="minilm", num_layers=1, sim_n=64, sim_eval_n=16, max_steps=4,
                                   batch_size=16, lr=1e-4, max_length=128, output=out, progress=False,
                                   logging_steps=1000, seed=0))
    return out


def _reference(path: str, weights: str | None, pairs: list[dict]) -> dict[str, float]:
    """BT loss and label accuracy on `pairs` of the checkpoint at `path`, with the tensors of `weights` (a file the
    wrapper wrote) put in place here, scored through a plain ModelScorer: independent of the wrapper's metrics."""
    loaded = load(path, device="cpu")
    if weights is not None:
        params = dict(loaded.model.named_parameters())
        for n, t in load_file(weights).items():
            params[n].data.copy_(t)
    s = ModelScorer(loaded, prefix_sharing=False)
    prompts = [p["prompt"] for p in pairs]
    d = (s.score(prompts, [p["chosen"] for p in pairs], progress=False).mean
         - s.score(prompts, [p["rejected"] for p in pairs], progress=False).mean)
    return {"loss": float(np.mean(np.logaddexp(0.0, -d))), "accuracy": float(np.mean(np.where(d == 0, 0.5, d > 0)))}


def test_an_update_moves_the_model_toward_its_labels_on_held_out_pairs(minilm1, tmp_path):
    cfg = annotator_config(LENGTH)
    train, held = simulate_pairs(64, seed=1, config=cfg), simulate_pairs(120, seed=2, config=cfg)
    flipped = [{**p, "chosen": p["rejected"], "rejected": p["chosen"]} for p in train]
    start = _reference(minilm1, None, held)
    settings = {"steps": 8, "lr": 3e-4, "batch_size": 16, "replay": 0, "seed": 0}
    after = {}
    for name, pairs in (("labels", train), ("flipped", flipped)):
        rm = load_reward_model(minilm1, update=settings)
        assert isinstance(rm, NeuralRewardModel)
        info = rm.update(pairs)
        # the wrapper's own before/after figures are the reference's on the same pairs
        assert info["loss_before"] == pytest.approx(_reference(minilm1, None, pairs)["loss"], abs=1e-6)
        state = rm.to_dict(tmp_path / name)
        ref_train = _reference(minilm1, state["weights"], pairs)
        assert info["loss_after"] == pytest.approx(ref_train["loss"], abs=1e-6)
        assert info["accuracy_after"] == pytest.approx(ref_train["accuracy"])
        assert info["pairs"] == 64 and info["replayed"] == 0 and info["seconds"] > 0
        after[name] = _reference(minilm1, state["weights"], held)
    # held-out pairs the update never saw: trained on the labels, the model agrees with them more and its loss
    # falls; trained on the same pairs flipped (the control), it does not
    assert after["labels"]["accuracy"] >= start["accuracy"] + 0.1, (start, after)
    assert after["labels"]["accuracy"] >= after["flipped"]["accuracy"] + 0.1, (start, after)
    assert after["labels"]["loss"] < start["loss"] < after["flipped"]["loss"], (start, after)
    # the process-wide loaded scorer was copied, never trained
    assert _reference(minilm1, None, held) == start
    assert load_reward_model(minilm1).score([held[0]["prompt"]], [held[0]["chosen"]]).mean[0] == pytest.approx(
        ModelScorer(load(minilm1), prefix_sharing=False).score([held[0]["prompt"]], [held[0]["chosen"]]).mean[0])


def _strip(records: list[dict]) -> list[dict]:
    """Records without wall-clock times (elapsed_s, and each update's seconds)."""
    out = []
    for r in records:
        r = {k: v for k, v in r.items() if k != "elapsed_s"}
        if "rm_update" in r:
            r["rm_update"] = {**r["rm_update"], "members": [{k: v for k, v in m.items() if k != "seconds"}
                                                            for m in r["rm_update"]["members"]]}
        out.append(r)
    return out


def test_a_run_with_neural_updates_resumes_exactly(minilm1, tmp_path):
    spec = {"reward": minilm1, "steps": 6, "rm_update_every": 2, "rm_update_pairs": 8, "rm_update_steps": 2,
            "rm_update_batch": 4, "rm_update_lr": 1e-3, "checkpoint_every": 3, **TINY_LOOP}
    full = run(OptimizeSpec(output=str(tmp_path / "full"), **spec))
    assert [u["step"] for u in full.rm_updates] == [2, 4, 6]
    assert [u["members"][0]["replayed"] for u in full.rm_updates] == [0, 8, 16]  # earlier pairs come back
    assert any(u["gold_agreement_after"] != u["gold_agreement_before"] for u in full.rm_updates)
    # the checkpoint holds a path to the weights, never the weights
    ckpt = json.loads((tmp_path / "full" / "checkpoint.json").read_text())
    model = ckpt["rewards"]["members"][0]["model"]
    assert model["updates"] == 2 and model["weights"].endswith("rm-0-update2.safetensors")
    assert len((tmp_path / "full" / "checkpoint.json").read_text()) < 100_000
    # stop at step 3 (after the first update), resume to 6: equal to the uninterrupted run
    run(OptimizeSpec(output=str(tmp_path / "cut"), **{**spec, "steps": 3}))
    cut = json.loads((tmp_path / "cut" / "checkpoint.json").read_text())
    resumed = run(OptimizeSpec(output=str(tmp_path / "cut"), resume=True, **spec))
    assert _strip(resumed.records) == _strip(full.records)
    # a resume that ignores the saved reward model (the checkpoint's updated weights) gives another run
    (tmp_path / "cut" / "checkpoint.json").write_text(json.dumps(cut))
    ignored = json.loads(json.dumps(cut))
    ignored["rewards"]["members"][0].pop("model")
    (tmp_path / "cut" / "checkpoint.json").write_text(json.dumps(ignored))
    other = run(OptimizeSpec(output=str(tmp_path / "cut"), resume=True, **spec))
    assert _strip(other.records)[:3] == _strip(full.records)[:3]
    assert _strip(other.records)[3:] != _strip(full.records)[3:]
    # a checkpoint whose weights file is gone stops with an error naming it
    weights = cut["rewards"]["members"][0]["model"]["weights"]
    (tmp_path / "cut" / "checkpoint.json").write_text(json.dumps(cut))
    (tmp_path / "cut" / weights.rsplit("/", 1)[1]).unlink()
    with pytest.raises(RewardlabError, match=r"weights file .*rm-0-update1.safetensors is missing"):
        run(OptimizeSpec(output=str(tmp_path / "cut"), resume=True, **spec))


def test_an_update_that_diverges_stops_naming_the_step(minilm1, tmp_path):
    spec = OptimizeSpec(reward=minilm1, output=str(tmp_path), steps=3, rm_update_every=2, rm_update_pairs=4,
                        rm_update_steps=3, rm_update_batch=2, rm_update_lr=1e30, checkpoint_every=1, **TINY_LOOP)
    with pytest.raises(RewardlabError, match=r"^step 2: the reward-model update failed: .*update 1: the training loss "
                       r"became (nan|inf).*the last checkpoint is .*checkpoint.json"):
        run(spec)
    assert json.loads((tmp_path / "checkpoint.json").read_text())["step"] == 2


def test_bad_inputs_give_clear_errors(minilm1, tmp_path):
    rm = NeuralRewardModel.from_path(minilm1, device="cpu", steps=1, batch_size=2)
    pair = {"prompt": "What is 2+2?", "chosen": "4.", "rejected": "5.", "label": 1.0}
    with pytest.raises(RewardlabError, match="no pairs to learn from"):
        rm.update([])
    with pytest.raises(RewardlabError, match="pair 1 needs a text 'chosen', got int"):
        rm.update([pair, {**pair, "chosen": 4}])
    with pytest.raises(RewardlabError, match=r"pair 0: label must be in \[0, 1\], got 2"):
        rm.update([{**pair, "label": 2}])
    with pytest.raises(RewardlabError, match="pairs must be a list of dicts"):
        rm.update(pair)
    assert rm.updates == 0 and rm.pairs == []  # nothing half-done
    with pytest.raises(RewardlabError, match="lr must be > 0 and finite, got nan"):
        check_settings(steps=1, lr=float("nan"), batch_size=1, replay=0, seed=0)
    with pytest.raises(RewardlabError, match="not a neural reward model state"):
        rm.load_dict({"schema": "rewardlab.bow_rm/1"})
    rm.update([pair])
    with pytest.raises(RewardlabError, match="to_dict needs the folder"):
        rm.to_dict()
    with pytest.raises(ConfigError, match="rm_update_lr"):
        OptimizeSpec(reward=minilm1, output=str(tmp_path), rm_update_every=2, rm_update_lr=0.0)
    # a scorer without a model of its own is left as it is, and the loop says it cannot update it
    from rewardlab.scoring.base import CallableScorer

    words = CallableScorer(lambda prompt, response: float(len(response.split())), name="words")
    assert updatable_scorer(words, {}) is words
    with pytest.raises(RewardlabError, match="--rm-update-every 2: the reward words cannot be updated"):
        run(OptimizeSpec(reward="words", output=str(tmp_path / "w"), steps=2, rm_update_every=2, **TINY_LOOP),
            scorer=words)
