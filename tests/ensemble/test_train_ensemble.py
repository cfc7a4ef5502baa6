"""Diverse ensembles (`rewardlab train-ensemble`): members on different backbones trained into one folder, and that
folder loaded by every consumer: get_scorer / load_scorer, the server (each member rendered by its own spec) and the
RL adapters. Every check compares with the members loaded and scored alone, then scaled by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rewardlab.errors import RewardlabError

PROMPTS = ["What is 2+2?", "What is 2+2?", "Name a colour.", "What is 7 times 6?"]
RESPONSES = ["4", "The answer is 5, I think.", "Blue.", "**42**"]


def _spec(out: Path, tiny_decoder: str, **over):
    from rewardlab.ensemble import EnsembleSpec
    from rewardlab.train.config import TrainConfig

    opts = {"sim_n": 48, "sim_eval_n": 24, "max_steps": 2, "batch_size": 8, "lr": 1e-3, "max_length": 128, **over}
    train = TrainConfig.from_options(**opts)
    return EnsembleSpec(output=str(out), members=[tiny_decoder, "minilm:1"], calibration_n=40, train=train)


@pytest.fixture(scope="module")
def ens(tmp_path_factory, tiny_decoder):
    """A two-member ensemble: the tiny Llama decoder (chat template) and MiniLM cut to one layer (plain text)."""
    from rewardlab.ensemble import train_ensemble

    out = tmp_path_factory.mktemp("ens") / "diverse"
    res = train_ensemble(_spec(out, tiny_decoder))
    return out, res


def _by_hand(folder: Path, prompts, responses) -> np.ndarray:
    """[N, K]: each member loaded alone as an ordinary checkpoint, scored, then scaled by its manifest entry."""
    from rewardlab.scoring import ModelScorer

    meta = json.loads((folder / "rewardlab.json").read_text())
    cols = []
    for m in meta["members"]:
        raw = ModelScorer.from_path(str(folder / m["path"]), device="cpu").score(prompts, responses, progress=False)
        cols.append((raw.mean - m["scale"]["offset"]) / m["scale"]["scale"])
    return np.stack(cols, axis=1)


def test_folder_holds_members_with_cost_and_distinct_seeds(ens):
    out, res = ens
    meta = json.loads((out / "rewardlab.json").read_text())
    assert meta["format"] == "rewardlab-ensemble" and len(meta["members"]) == 2
    assert [m["seed"] for m in meta["members"]] == [0, 1]
    assert meta["members"][1]["label"] == "minilm:1"
    for m in meta["members"]:
        assert (out / m["path"] / "rewardlab.json").exists()  # each member is an ordinary checkpoint
        assert m["train_s"] > 0 and m["params_trainable"] > 0 and m["scale"]["scale"] > 0
    # the two members really differ in what they can see: different architectures and sizes
    assert meta["members"][0]["params_total"] != meta["members"][1]["params_total"]
    assert res.metrics is not None and 0 <= res.metrics["accuracy"]["estimate"] <= 1
    assert -1 <= res.metrics["spread_error_spearman"] <= 1  # simulator data: gold is known
    assert {m["label"] for m in res.members} == {meta["members"][0]["label"], "minilm:1"}
    assert (out / "ensemble.json").exists()


def test_scaling_puts_members_on_one_scale(ens):
    """After scaling, a member's rewards on the training responses it was calibrated on have mean 0 and std 1."""
    from rewardlab.data.formats import detect_spec, parse_pair
    from rewardlab.ensemble.run import _calibration_items
    from rewardlab.simulate import simulate_pairs

    out, _ = ens
    rows = simulate_pairs(48, seed=0)
    pairs = [parse_pair(r, detect_spec(rows[0])) for r in rows]
    meta = json.loads((out / "rewardlab.json").read_text())
    for i, m in enumerate(meta["members"]):
        prompts, responses = _calibration_items(pairs, 40, m["seed"])
        z = _by_hand(out, prompts, responses)[:, i]
        assert abs(z.mean()) < 1e-6 and abs(z.std() - 1) < 1e-6


def test_load_scorer_equals_members_scored_alone(ens):
    from rewardlab.scoring import EnsembleScorer, get_scorer, load_scorer

    out, _ = ens
    want = _by_hand(out, PROMPTS, RESPONSES)
    for scorer in (load_scorer(str(out), device="cpu"), get_scorer(str(out), device="cpu")):
        assert isinstance(scorer, EnsembleScorer)
        got = scorer.score(PROMPTS, RESPONSES, progress=False)
        np.testing.assert_allclose(got.members, want, atol=1e-5)
        np.testing.assert_allclose(got.mean, want.mean(1), atol=1e-5)
        np.testing.assert_allclose(got.std, want.std(1), atol=1e-5)  # population std, as the ensemble head
        np.testing.assert_allclose(got.pessimistic("min"), want.min(1), atol=1e-5)
        np.testing.assert_allclose(got.pessimistic("uwo:2"), want.mean(1) - 2 * want.var(1), atol=1e-5)


def test_load_refuses_an_ensemble_folder_with_a_pointer(ens):
    import rewardlab

    with pytest.raises(RewardlabError, match="ensemble of 2 reward models.*load_scorer"):
        rewardlab.load(str(ens[0]), device="cpu")


def test_adapters_load_the_folder(ens, monkeypatch):
    from rewardlab.integrations.openrlhf import reward_func
    from rewardlab.integrations.trl import RewardFunction

    out, _ = ens
    want = _by_hand(out, PROMPTS, RESPONSES)
    reward = RewardFunction(str(out), select="min", device="cpu")
    got = reward(prompts=PROMPTS, completions=RESPONSES, completion_ids=[[1]] * 4)
    np.testing.assert_allclose(got, want.min(1), atol=1e-5)
    # OpenRLHF in process: prompt + response queries, split back and scored by every member
    monkeypatch.setenv("REWARDLAB_MODEL", str(out))
    monkeypatch.setenv("REWARDLAB_DEVICE", "cpu")
    monkeypatch.delenv("REWARDLAB_URL", raising=False)
    monkeypatch.setenv("REWARDLAB_SELECT", "lcb:1")
    res = reward_func([p + r for p, r in zip(PROMPTS, RESPONSES, strict=True)], PROMPTS)
    lcb = want.mean(1) - want.std(1)
    np.testing.assert_allclose(res["rewards"].numpy(), lcb, atol=1e-4)
    np.testing.assert_allclose(res["extra_logs"]["reward_std"].numpy(), want.std(1), atol=1e-4)


def test_server_renders_each_member_by_its_own_spec(ens):
    import httpx

    from rewardlab.serve import BackgroundServer, ServeSpec, create_app

    out, _ = ens
    want = _by_hand(out, PROMPTS, RESPONSES)
    long_text = "word " * 400
    with BackgroundServer(create_app(str(out), ServeSpec(max_wait_ms=5.0, device="cpu",
                                                         max_tokens_per_item=300))) as server, \
            httpx.Client(base_url=server.url, timeout=30.0) as c:
        info = c.get("/info").json()
        assert info["head"]["n_members"] == 2 and info["revision"].startswith("ensemble:")
        items = [{"prompt": p, "response": r} for p, r in zip(PROMPTS, RESPONSES, strict=True)]
        body = c.post("/v1/rewards", json={"items": items, "select": "min"}).json()
        res = body["results"]
        np.testing.assert_allclose([x["reward"] for x in res], want.mean(1), atol=1e-4)
        np.testing.assert_allclose([x["std"] for x in res], want.std(1), atol=1e-4)
        np.testing.assert_allclose([x["members"] for x in res], want, atol=1e-4)
        np.testing.assert_allclose([x["pessimistic"] for x in res], want.min(1), atol=1e-4)
        # an item too long for one member fails alone, naming the member; its neighbour is scored
        bad = c.post("/v1/rewards", json={"items": [{"prompt": "q", "response": long_text}, items[0]]}).json()
        assert "ensemble member" in bad["results"][0]["error"] and "max_tokens_per_item" in bad["results"][0]["error"]
        assert bad["results"][1]["reward"] == pytest.approx(want[0].mean(), abs=1e-4)


def test_resume_reuses_members_and_refuses_other_settings(ens, tiny_decoder):
    from rewardlab.ensemble import train_ensemble

    out, first = ens
    again = train_ensemble(_spec(out, tiny_decoder))
    assert len(again.reused) == 2
    assert again.members[0]["train_s"] == first.members[0]["train_s"]  # not retrained
    with pytest.raises(RewardlabError, match="other settings"):
        train_ensemble(_spec(out, tiny_decoder, lr=5e-4))


def test_spec_refuses_bad_members():
    from rewardlab.config import ConfigError
    from rewardlab.ensemble import EnsembleSpec

    with pytest.raises(ConfigError, match="at least two members"):
        EnsembleSpec(members=["minilm:2"])
    with pytest.raises(ConfigError, match="members.*unknown part 'deep'"):
        EnsembleSpec(members=["minilm:2", "minilm:deep"])


def test_cli_trains_and_prints_each_member(tmp_path):
    from conftest import run_cli

    out = tmp_path / "cli-ens"
    res = run_cli(*["train-ensemble", "--models", "minilm:1,minilm:1", "--sim-n", "32", "--sim-eval-n", "16",
                   "--max-steps", "1", "--batch-size", "8", "--calibration-n", "20", "-o", str(out)])
    assert "ensemble (mean)" in res.stdout and (out / "rewardlab.json").exists()
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("minilm:1 ")]
    assert len(lines) == 2  # one line per member, with its seed
