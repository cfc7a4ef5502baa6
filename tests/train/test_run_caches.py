"""Caches shared by several training runs (a sweep's rungs): tokenised pairs and frozen-backbone features. A hit
gives exactly what computing afresh gives; pairs read once are not changed by a run that balances them."""

from __future__ import annotations

import torch

from rewardlab.train.config import TrainConfig
from rewardlab.train.trainer import load_train_data, train

QUIET = {"progress": False, "logging_steps": 1000}


def _head(res):
    return {n: p.detach().clone() for n, p in res.loaded.model.named_parameters() if "score" in n}


def test_feature_cache_hit_equals_fresh_features(tmp_path, tiny_decoder, rewardlab_log):
    base = dict(model=tiny_decoder, freeze_backbone=True, sim_n=48, sim_eval_n=16, head_epochs=3, max_length=128,
                **QUIET)
    cfg = TrainConfig.from_options(output=str(tmp_path / "a"), **base)
    mlp = TrainConfig.from_options(output=str(tmp_path / "b"), head_hidden=8, **base)
    data = load_train_data(cfg)
    n_pairs = len(data.train)
    cache: dict = {}
    enc: dict = {}
    train(cfg, data=data, feature_cache=cache, encode_cache=enc)
    assert len(cache) == 2 and not any("reusing the cached features" in m for m in rewardlab_log)
    hit = train(mlp, data=data, feature_cache=cache, encode_cache=enc)
    assert any("reusing the cached features of 48 training pairs" in m for m in rewardlab_log)
    assert any("reusing the tokenised 48 pairs" in m for m in rewardlab_log)
    fresh = train(mlp.with_overrides({"run.output": str(tmp_path / "c")}))
    for (n, a), (_, b) in zip(_head(hit).items(), _head(fresh).items(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=n)
    assert hit.metrics["accuracy"] == fresh.metrics["accuracy"]
    # a balancing run works on a copy of the pairs read once
    train(cfg.with_overrides({"balance.by": "length", "run.output": str(tmp_path / "d")}), data=data,
          feature_cache=cache)
    assert len(data.train) == n_pairs


def test_gradient_checkpointing_same_gradients_layers_run_twice(tiny_decoder):
    """--gradient-checkpointing: each decoder layer runs again in the backward pass, and the loss and every
    gradient (full fine-tuning and LoRA) equal the plain ones."""
    from rewardlab.data.schema import PreferencePair
    from rewardlab.models import build_reward_model
    from rewardlab.render import RenderSpec
    from rewardlab.train.collate import encode_pairs
    from rewardlab.train.losses import get_loss
    from rewardlab.train.prefix import PackedPairCollator
    from rewardlab.train.trainer import RewardTrainingModule, enable_gradient_checkpointing

    pairs = [PreferencePair(f"Question {i}: how are you?", "Fine, thanks. " * (i + 1), "Bad.") for i in range(4)]
    for lora in (None, {"r": 4, "alpha": 8}):
        grads, losses, calls = [], [], []
        for checkpointing in (False, True):
            torch.manual_seed(0)  # LoRA's A matrices start from the global generator
            lm = build_reward_model(tiny_decoder, render=RenderSpec(max_length=128), seed=0, lora=lora)
            with torch.no_grad():  # move LoRA's B off zero so the adapters matter
                for n, p in lm.model.named_parameters():
                    if "lora_B" in n:
                        p.normal_(0, 0.1)
            if checkpointing:
                enable_gradient_checkpointing(lm.model)
            layer = lm.model.hf.get_base_model().model.layers[0] if lora else lm.model.hf.model.layers[0]
            n_calls = [0]
            mlp_forward = layer.mlp.forward  # counted by wrapping: module hooks do not fire on the recomputation

            def counted(*a, f=mlp_forward, c=n_calls, **k):
                c[0] += 1
                return f(*a, **k)

            layer.mlp.forward = counted
            module = RewardTrainingModule(lm.model, get_loss("bt")).train()
            batch = PackedPairCollator(lm.tokenizer.pad_token_id)(encode_pairs(lm.renderer, pairs))
            loss = module(**batch)["loss"]
            loss.backward()
            losses.append(loss.detach())
            grads.append({n: p.grad.clone() for n, p in lm.model.named_parameters() if p.grad is not None})
            calls.append(n_calls[0])
        assert calls == [1, 2]  # the layer ran again in the backward pass
        torch.testing.assert_close(losses[1], losses[0], atol=1e-6, rtol=0)
        assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 2
        for n in grads[0]:
            torch.testing.assert_close(grads[1][n], grads[0][n], atol=1e-5, rtol=1e-4, msg=n)
