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
