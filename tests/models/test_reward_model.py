"""Reward models: padding invariance, plain-HF reload, LoRA save/reload, Gaussian/ensemble heads, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import rewards
from rewardlab.models import HeadSpec, build_reward_model, export_mean_only, load, save_checkpoint
from rewardlab.render import RenderSpec

PROMPTS = ["What is 2+2?", "Name the capital of France, please, and tell me something about it.", "Hi"]
RESPONSES = ["4", "Paris is the capital of France. It is known for the Eiffel Tower and its museums.", "Hello!"]


def _perturb_head(loaded, seed=1):
    g = torch.Generator().manual_seed(seed)
    for name, p in loaded.model.named_parameters():
        if "score" in name or "classifier" in name:
            with torch.no_grad():
                p.add_(torch.randn(p.shape, generator=g) * 0.1)


@pytest.fixture(scope="module")
def minilm():
    lm = build_reward_model("minilm", seed=0)
    _perturb_head(lm)
    return lm


@pytest.mark.parametrize("pooling", ["auto", "mean", "last"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_invariance_encoder(pooling, side):
    lm = build_reward_model("minilm", HeadSpec(pooling=pooling), seed=0)
    _perturb_head(lm)
    batch = rewards(lm, PROMPTS, RESPONSES, side)["mean"]
    alone = torch.cat([rewards(lm, [p], [r], side)["mean"] for p, r in zip(PROMPTS, RESPONSES, strict=True)])
    torch.testing.assert_close(batch, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("pooling", ["auto", "mean"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_padding_invariance_decoder(tiny_decoder, pooling, side):
    lm = build_reward_model(tiny_decoder, HeadSpec(pooling=pooling), seed=0)
    _perturb_head(lm)
    batch = rewards(lm, PROMPTS, RESPONSES, side)["mean"]
    alone = torch.cat([rewards(lm, [p], [r], side)["mean"] for p, r in zip(PROMPTS, RESPONSES, strict=True)])
    torch.testing.assert_close(batch, alone, atol=1e-5, rtol=0)


@pytest.mark.parametrize("backbone", ["minilm", "decoder"])
def test_scalar_checkpoint_reloads_with_plain_hf(tmp_path, tiny_decoder, backbone):
    from transformers import AutoModelForSequenceClassification

    from rewardlab.batching import pad_batch

    lm = build_reward_model("minilm" if backbone == "minilm" else tiny_decoder, seed=0)
    _perturb_head(lm)
    path = save_checkpoint(lm, tmp_path / "rm")
    ours = rewards(lm, PROMPTS, RESPONSES)["mean"]
    hf = AutoModelForSequenceClassification.from_pretrained(path).eval()
    enc = lm.renderer.encode(PROMPTS, RESPONSES)
    types = [e["token_type_ids"] for e in enc] if "token_type_ids" in enc[0] else None
    batch = pad_batch([e["input_ids"] for e in enc], lm.tokenizer.pad_token_id, types)
    with torch.no_grad():
        theirs = hf(**batch).logits[:, 0]
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)
    meta = json.loads((tmp_path / "rm" / "rewardlab.json").read_text())
    assert meta["head"] == "scalar" and meta["plain_hf_compatible"] is True
    assert meta["render"]["mode"] in ("pair", "chat")
    # and through rewardlab.load
    torch.testing.assert_close(rewards(load(path), PROMPTS, RESPONSES)["mean"], ours, atol=1e-5, rtol=0)


def test_lora_save_reload_same_rewards_and_head_trained(tmp_path):
    from transformers import AutoModelForSequenceClassification

    lm = build_reward_model("minilm", seed=0, lora={"r": 4, "alpha": 8})
    trainable = {n for n, p in lm.model.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trainable)
    assert any("classifier" in n and "lora_" not in n for n in trainable), "the head must be fully trainable"
    # move the adapters and the head away from their initial values, as training would
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _n, p in lm.model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    before = rewards(lm, PROMPTS, RESPONSES)["mean"]
    path = save_checkpoint(lm, tmp_path / "lora")
    assert (tmp_path / "lora" / "adapter" / "adapter_config.json").exists()
    torch.testing.assert_close(rewards(load(path), PROMPTS, RESPONSES)["mean"], before, atol=1e-5, rtol=0)
    hf = AutoModelForSequenceClassification.from_pretrained(path).eval()
    assert not any("lora" in n for n, _ in hf.named_parameters())


def test_gaussian_and_ensemble_heads_round_trip_and_export(tmp_path):
    for spec in (HeadSpec("gaussian"), HeadSpec("ensemble", n_members=3), HeadSpec("ensemble", 3, True)):
        lm = build_reward_model("minilm", spec, seed=0)
        _perturb_head(lm)
        out = rewards(lm, PROMPTS, RESPONSES)
        assert out["var"].shape == (3,) and bool((out["var"] > 0).all())
        if spec.head == "ensemble":
            assert out["members"].shape == (3, 3)
            # members start from different seeds: they disagree
            assert float(out["members"].std(dim=1).min()) > 0
        path = save_checkpoint(lm, tmp_path / spec.head)
        back = rewards(load(path), PROMPTS, RESPONSES)
        for key in out:
            torch.testing.assert_close(back[key], out[key], atol=1e-5, rtol=0)
        exported = export_mean_only(path, str(tmp_path / f"{spec.head}-mean"))
        torch.testing.assert_close(rewards(load(exported), PROMPTS, RESPONSES)["mean"], out["mean"], atol=1e-5,
                                   rtol=0)


def test_truncation_keeps_prompt_end_and_response_start():
    lm = build_reward_model("minilm", render=RenderSpec(max_length=16, min_response_tokens=6))
    prompt = "one two three four five six seven eight nine ten eleven twelve"
    response = "alpha beta gamma delta epsilon zeta eta theta"
    enc = lm.renderer.encode([prompt], [response])[0]
    assert len(enc["input_ids"]) == 16 and enc["truncated"]
    text = lm.tokenizer.decode(enc["input_ids"])
    assert text.startswith("[CLS] six seven") or "twelve [SEP] alpha" in text
    assert "twelve [SEP] alpha beta" in text and "theta" not in text
    assert lm.renderer.n_truncated == 1


def test_two_label_classifier_is_refused_for_scoring_and_replaced_for_training(tmp_path, rewardlab_log):
    from transformers import AutoModelForSequenceClassification

    from rewardlab.errors import RewardlabError
    from rewardlab.models.backbone import resolve_model_path

    clf = AutoModelForSequenceClassification.from_pretrained(resolve_model_path("minilm"), num_labels=2)
    clf.save_pretrained(tmp_path / "clf")
    from rewardlab.models.backbone import load_tokenizer

    load_tokenizer("minilm").save_pretrained(tmp_path / "clf")
    with pytest.raises(RewardlabError, match="num_labels=2"):
        load(str(tmp_path / "clf"))
    lm = build_reward_model(str(tmp_path / "clf"))
    assert lm.model.config.num_labels == 1
    assert any("2-label" in n for n in rewardlab_log)


# ---------------------------------------------------------------- head aggregation, by formula

def _softplus(x):
    return np.logaddexp(0.0, x)


@pytest.mark.parametrize("spec", [HeadSpec(), HeadSpec("gaussian"), HeadSpec("ensemble", 4),
                                  HeadSpec("ensemble", 3, True)], ids=["scalar", "gaussian", "ens", "ens-gauss"])
def test_head_aggregation_by_formula(tiny_decoder, spec):
    """Through a real forward pass: members are the head rows applied to the pooled last-token state; mean = mean
    of the members; var = mean member variance (softplus(raw) + 1e-6) + population variance of the member means
    (numpy, float64, from the raw head outputs)."""
    from rewardlab.models.reward_model import VAR_FLOOR

    lm = build_reward_model(tiny_decoder, spec, seed=0)
    _perturb_head(lm, seed=5)
    out = {k: v.double().numpy() for k, v in rewards(lm, PROMPTS, RESPONSES).items()}
    raw = _manual_logits(lm, "last")  # [B, n_outputs], independent of RewardModel.split / pool
    k = spec.n_members
    means = raw[:, :k]
    np.testing.assert_allclose(out["mean"], means.mean(1), atol=1e-5)
    if k > 1:
        np.testing.assert_allclose(out["members"], means, atol=1e-5)
    if spec.member_gaussian:
        mvar = _softplus(raw[:, k:]) + VAR_FLOOR
        spread = ((means - means.mean(1, keepdims=True)) ** 2).mean(1)  # ddof 0
        np.testing.assert_allclose(out["var"], mvar.mean(1) + spread, rtol=1e-5)
        assert k == 1 or float(spread.min()) > 1e-4  # the spread term is not negligible in this check
    elif k > 1:
        np.testing.assert_allclose(out["var"], np.var(means, axis=1, ddof=0), rtol=1e-5)
    else:
        assert "var" not in out


# ---------------------------------------------------------------- pooling, against a manual gather

def _manual_logits(lm, pooling: str) -> np.ndarray:
    """Head outputs of PROMPTS/RESPONSES computed by hand: each sequence alone (no padding) through the backbone,
    then its first token (cls), last token (last) or mean of all tokens (mean), then the head; float64 numpy."""
    from rewardlab.models.reward_model import head_module

    enc = lm.renderer.encode(PROMPTS, RESPONSES)
    hf = lm.model.hf
    rows = []
    with torch.no_grad():
        for e in enc:
            ids = torch.tensor([e["input_ids"]])
            kw = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
            if "token_type_ids" in e:
                kw["token_type_ids"] = torch.tensor([e["token_type_ids"]])
            h = hf.base_model(**kw).last_hidden_state[0]  # [T, H]
            vec = {"cls": h[0], "last": h[-1], "mean": h.mean(0)}[pooling]
            if pooling == "cls" and getattr(hf.base_model, "pooler", None) is not None and lm.model.is_native:
                vec = hf.base_model.pooler(vec[None, None])[0]  # BERT's own pooler on the first token
            head = head_module(hf)
            rows.append(head(vec[None]).double()[0].numpy())
    return np.stack(rows)


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("pooling", ["last", "mean", "cls"])
@pytest.mark.parametrize("backbone", ["minilm", "decoder"])
def test_pooling_equals_manual_gather(tiny_decoder, backbone, pooling, side):
    """Rewards of a padded batch (left or right) equal the head applied to a hand-picked hidden state of each
    unpadded sequence: first token, last token or token mean. Different poolings give different rewards, so a
    pooling that is ignored (or swapped for another) fails."""
    lm = build_reward_model("minilm" if backbone == "minilm" else tiny_decoder, HeadSpec(pooling=pooling), seed=0)
    _perturb_head(lm, seed=2)
    lm.model.eval()
    got = rewards(lm, PROMPTS, RESPONSES, side)["mean"].double().numpy()
    want = _manual_logits(lm, pooling)[:, 0]
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=0)
    others = [_manual_logits(lm, p)[:, 0] for p in ("last", "mean", "cls") if p != pooling]
    assert all(np.abs(o - want).max() > 1e-3 for o in others), "poolings must be distinguishable here"


@pytest.mark.parametrize("backbone", ["minilm", "decoder", "decoder-lora"])
def test_disentangled_head_serves_the_quality_row_and_saves_as_plain_hf(tmp_path, tiny_decoder, backbone):
    """--head disentangled: the model's reward is q (row 0) alone, training sees q + l; the saved checkpoint is a
    plain scalar HF model giving exactly q, with the length row kept beside it."""
    from safetensors.torch import load_file
    from transformers import AutoModelForSequenceClassification

    from rewardlab.batching import pad_batch
    from rewardlab.models.checkpoint import LENGTH_HEAD_FILE
    from rewardlab.models.reward_model import head_linear

    lora = {"r": 4, "alpha": 8} if backbone.endswith("lora") else None
    lm = build_reward_model("minilm" if backbone == "minilm" else tiny_decoder, HeadSpec("disentangled"), seed=0,
                            lora=lora)
    if lora:  # move the adapters and the (modules_to_save) head away from their initial values, as training would
        g = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for _n, p in lm.model.named_parameters():
                if p.requires_grad:
                    p.add_(torch.randn(p.shape, generator=g) * 0.05)
    else:
        _perturb_head(lm)
    w = head_linear(lm.model.hf).weight.detach().clone()
    assert w.shape[0] == 2 and not torch.allclose(w[0], w[1])  # two rows from their own seeds
    enc = lm.renderer.encode(PROMPTS, RESPONSES)
    types = [e["token_type_ids"] for e in enc] if "token_type_ids" in enc[0] else None
    batch = pad_batch([e["input_ids"] for e in enc], lm.tokenizer.pad_token_id, types)
    with torch.no_grad():
        raw = lm.model.logits(**batch)
        out = lm.model(**batch)
    torch.testing.assert_close(out["mean"], raw[:, 0])
    torch.testing.assert_close(out["length_reward"], raw[:, 1])
    (member,) = lm.model.member_outputs(out)
    torch.testing.assert_close(member["mean"], raw[:, 0] + raw[:, 1])
    path = save_checkpoint(lm, tmp_path / "odin")
    meta = json.loads((tmp_path / "odin" / "rewardlab.json").read_text())
    assert meta["head"] == "scalar" and meta["trained_head"] == "disentangled" and meta["plain_hf_compatible"]
    hf = AutoModelForSequenceClassification.from_pretrained(path).eval()
    assert hf.config.num_labels == 1
    with torch.no_grad():
        theirs = hf(**batch).logits[:, 0]
    torch.testing.assert_close(theirs, raw[:, 0], atol=1e-5, rtol=0)
    torch.testing.assert_close(rewards(load(path), PROMPTS, RESPONSES)["mean"], raw[:, 0], atol=1e-5, rtol=0)
    length_row = load_file(str(tmp_path / "odin" / LENGTH_HEAD_FILE))
    torch.testing.assert_close(length_row["weight"], w[1])
    # the in-memory model keeps both rows (saving does not collapse it)
    assert head_linear(lm.model.hf).weight.shape[0] == 2
