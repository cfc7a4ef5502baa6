"""MLP heads (--head-hidden / --head-layers): every head type takes one, members stay independent, checkpoints
round-trip through rewardlab.load, and the plain-HF routes say clearly what they cannot do."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import rewards
from rewardlab.errors import RewardlabError
from rewardlab.models import HeadSpec, build_reward_model, export_mean_only, load, save_checkpoint
from rewardlab.models.reward_model import MLPHead, head_module

PROMPTS = ["What is 2+2?", "Name the capital of France.", "Hi"]
RESPONSES = ["4", "Paris is the capital of France. It is known for the Eiffel Tower.", "Hello!"]
HEADS = {"scalar": HeadSpec("scalar", hidden=16, hidden_layers=2),
         "gaussian": HeadSpec("gaussian", hidden=16, hidden_layers=1),
         "ensemble": HeadSpec("ensemble", n_members=3, member_gaussian=True, hidden=8, hidden_layers=2),
         "disentangled": HeadSpec("disentangled", hidden=16, hidden_layers=1)}


def _perturb(loaded, seed=1):
    """Move every trainable head weight (masked ones stay 0), so a round trip is not tested on the init."""
    head = head_module(loaded.model.hf)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in head.modules():
            if isinstance(m, torch.nn.Linear):
                mask = getattr(m, "mask", torch.ones_like(m.weight))
                m.weight.add_(torch.randn(m.weight.shape, generator=g) * 0.1 * mask)
                m.bias.add_(torch.randn(m.bias.shape, generator=g) * 0.1)


def _manual_member(head: MLPHead, x: torch.Tensor, j: int, rows: list[int]) -> torch.Tensor:
    """Member j's outputs computed from its own blocks only, in numpy (an independent reference)."""
    h = x.double().numpy()
    w = head.width
    blk = slice(j * w, (j + 1) * w)
    for i, layer in enumerate(head.hidden):
        wt = layer.weight.detach().double().numpy()
        wt = wt[blk] if i == 0 else wt[blk, blk]
        h = np.maximum(h @ wt.T + layer.bias.detach().double().numpy()[blk], 0.0)
    out = head.out_proj.weight.detach().double().numpy()[rows][:, blk]
    return torch.from_numpy(h @ out.T + head.out_proj.bias.detach().double().numpy()[rows])


@pytest.mark.parametrize("kind", list(HEADS))
def test_every_head_type_takes_an_mlp_and_reloads_with_identical_rewards(tmp_path, kind):
    spec = HEADS[kind]
    lm = build_reward_model("minilm", spec, seed=0)
    head = head_module(lm.model.hf)
    assert isinstance(head, MLPHead) and len(head.hidden) == spec.hidden_layers
    assert head.out_proj.out_features == spec.n_outputs
    _perturb(lm)
    before = rewards(lm, PROMPTS, RESPONSES)
    assert before["mean"].shape == (3,)
    if spec.member_gaussian:
        assert before["var"].shape == (3,) and bool((before["var"] > 0).all())
    save_checkpoint(lm, tmp_path / "ck")
    meta = json.loads((tmp_path / "ck" / "rewardlab.json").read_text())
    assert meta["hidden"] == spec.hidden and meta["hidden_layers"] == spec.hidden_layers
    assert meta["plain_hf_compatible"] is False and "rewardlab.load" in meta["plain_hf_note"]
    back = load(tmp_path / "ck")
    after = rewards(back, PROMPTS, RESPONSES)
    torch.testing.assert_close(after["mean"], before["mean"], atol=1e-6, rtol=0)
    if "var" in before:
        torch.testing.assert_close(after["var"], before["var"], atol=1e-6, rtol=0)


def test_ensemble_members_are_independent_mlps():
    spec = HEADS["ensemble"]
    lm = build_reward_model("minilm", spec, seed=0)
    _perturb(lm)
    head = head_module(lm.model.hf)
    k = spec.n_members
    x = torch.randn(5, head.in_features, generator=torch.Generator().manual_seed(3))
    got = head(x).detach().double()
    for j in range(k):  # member j: mean row j and variance row k + j, from its own hidden block only
        torch.testing.assert_close(got[:, [j, k + j]], _manual_member(head, x, j, [j, k + j]), atol=1e-5, rtol=0)
    # fresh members differ (own seeds), and a different run seed gives a different first member
    fresh = build_reward_model("minilm", spec, seed=0)
    h0 = head_module(fresh.model.hf).hidden[0].weight
    w = head.width
    assert not torch.allclose(h0[:w], h0[w : 2 * w])
    other = head_module(build_reward_model("minilm", spec, seed=1).model.hf).hidden[0].weight
    assert not torch.allclose(h0[:w], other[:w])


def test_gradients_never_cross_member_blocks():
    spec = HEADS["ensemble"]
    lm = build_reward_model("minilm", spec, seed=0)
    head = head_module(lm.model.hf)
    x = torch.randn(4, head.in_features)
    head(x)[:, 0].sum().backward()  # member 0's mean only
    w = head.width
    for layer in head.hidden[1:]:
        assert float(layer.weight.grad[w:].abs().sum()) == 0.0 and float(layer.weight.grad[:w, w:].abs().sum()) == 0
    assert float(head.out_proj.weight.grad[0, w:].abs().sum()) == 0.0


def test_export_mean_only_refuses_an_mlp_head_with_the_reason(tmp_path):
    lm = build_reward_model("minilm", HEADS["ensemble"], seed=0)
    save_checkpoint(lm, tmp_path / "ens")
    with pytest.raises(RewardlabError, match="MLP head.*one linear layer.*rewardlab.load"):
        export_mean_only(str(tmp_path / "ens"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_a_linear_head_is_unchanged_by_the_option():
    lm = build_reward_model("minilm", HeadSpec("scalar"), seed=0)
    assert isinstance(head_module(lm.model.hf), torch.nn.Linear)
    with pytest.raises(RewardlabError, match="--head-hidden >= 0"):
        HeadSpec("scalar", hidden=-1)
