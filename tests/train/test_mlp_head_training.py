"""MLP heads in training: on cached features they learn an XOR utility a linear head cannot, and they train and
save through the frozen-feature path, full fine-tuning and LoRA from the command line's options."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rewardlab.models.reward_model import (
    HeadSpec,
    MLPHead,
    RewardModel,
    attach_mlp_head,
    head_module,
    init_head,
)
from rewardlab.train.config import TrainConfig
from rewardlab.train.frozen import predict_pairs, train_head_on_features
from rewardlab.train.losses import get_loss

DIM = 8


def _xor_pairs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs of feature vectors where the chosen one has the higher XOR utility u(x) = sign(x0 * x1)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4 * n, DIM, generator=g)
    u = torch.sign(x[:, 0] * x[:, 1])
    good, bad = x[u > 0][:n], x[u < 0][:n]
    return good, bad


def _head_model(spec: HeadSpec) -> RewardModel:
    from transformers import BertConfig, BertForSequenceClassification

    hf = BertForSequenceClassification(BertConfig(vocab_size=8, hidden_size=DIM, num_hidden_layers=1,
                                                  num_attention_heads=2, intermediate_size=8, num_labels=spec.n_outputs))
    if spec.is_mlp:
        attach_mlp_head(hf, spec)
    rm = RewardModel(hf, spec, "cls")
    init_head(rm, 0)
    return rm


def _cols(n: int) -> dict[str, torch.Tensor]:
    return {"label": torch.ones(n), "margin": torch.zeros(n), "tie": torch.zeros(n, dtype=torch.bool),
            "idx": torch.arange(n)}


@pytest.mark.parametrize("kind", ["scalar", "ensemble"])
def test_an_mlp_head_learns_xor_on_cached_features_where_a_linear_head_cannot(kind):
    fc, fr = _xor_pairs(600, seed=0)
    tc, tr = _xor_pairs(400, seed=1)  # held out
    acc = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a head this small is 10x slower with 2 threads on a busy machine
    try:
        for hidden in (0, 32):
            rm = _head_model(HeadSpec(kind, n_members=3 if kind == "ensemble" else 1, hidden=hidden))
            train_head_on_features(rm, get_loss("bt"), fc, fr, _cols(len(fc)), epochs=60, lr=1e-2, progress=False)
            preds = predict_pairs(rm, tc, tr)
            acc[hidden] = float(np.mean(preds[:, 0] > preds[:, 1]))
    finally:
        torch.set_num_threads(threads)
    # ground truth: u(chosen) > u(rejected) for every held-out pair; no linear function of x tracks x0 * x1
    assert acc[32] >= 0.9, acc
    assert acc[0] <= 0.65, acc


@pytest.fixture(scope="module")
def small_bert(tmp_path_factory) -> str:
    """A 1-layer BERT (random weights) with MiniLM's tokenizer, saved as a backbone folder: the training paths
    in seconds."""
    from transformers import BertConfig, BertForSequenceClassification

    from rewardlab.models.backbone import load_tokenizer

    path = tmp_path_factory.mktemp("small_bert")
    tok = load_tokenizer("minilm")
    torch.manual_seed(0)
    BertForSequenceClassification(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1,
                                             num_attention_heads=2, intermediate_size=64,
                                             max_position_embeddings=128, num_labels=1)).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


def _run(tmp_path, backbone: str, name: str, **options) -> tuple[dict, object]:
    from rewardlab.models import load
    from rewardlab.train.trainer import train

    cfg = TrainConfig.from_options(model=backbone, sim_n=32, sim_eval_n=16, max_length=96, progress=False,
                                   output=str(tmp_path / name), **options)
    res = train(cfg)
    return json.loads((tmp_path / name / "rewardlab.json").read_text()), (res, load(tmp_path / name))


def test_frozen_backbone_trains_an_mlp_head_on_cached_features(tmp_path, small_bert):
    meta, (res, back) = _run(tmp_path, small_bert, "frozen", freeze_backbone=True, head="gaussian", head_hidden=16,
                             head_layers=2, head_epochs=2)
    assert meta["head_training"] == "cached_features" and meta["hidden"] == 16 and meta["hidden_layers"] == 2
    head = head_module(back.model.hf)
    assert isinstance(head, MLPHead) and len(head.hidden) == 2
    trained = head_module(res.loaded.model.hf)
    torch.testing.assert_close(head.out_proj.weight, trained.out_proj.weight.cpu())


@pytest.mark.parametrize("mode", ["full", "lora"])
def test_fine_tuning_trains_the_backbone_and_the_mlp_head(tmp_path, small_bert, mode):
    from rewardlab.models import build_reward_model

    fresh = build_reward_model(small_bert, HeadSpec("ensemble", n_members=2, hidden=8), seed=0)
    options = {"lora": True} if mode == "lora" else {}
    meta, (res, back) = _run(tmp_path, small_bert, mode, head="ensemble", members=2, head_hidden=8, max_steps=3,
                             batch_size=8, lr=1e-3, **options)
    assert meta["hidden"] == 8 and "head_training" not in meta
    head, start = head_module(back.model.hf), head_module(fresh.model.hf)
    assert not torch.allclose(head.hidden[0].weight, start.hidden[0].weight)  # the head trained
    body = dict(back.model.hf.base_model.named_parameters())
    body0 = dict(fresh.model.hf.base_model.named_parameters())
    name = "encoder.layer.0.attention.self.query.weight"
    assert not torch.allclose(body[name], body0[name])  # and the backbone (merged LoRA or full)
