"""--head disentangled on simulator pairs from annotators with length bias 2.0, compared with plain BT on the
same pairs and the same features: the quality reward stops tracking length, the length row takes it over.

The features are a hashed bag of words (64 buckets, counts), computed here: length is linear in them and they
cost nothing to compute, so the test runs the real training path (`train_head_on_features`, `pair_loss`, the
disentangled penalty, `RewardModel.split`) in seconds. The correlations are the audit's own
(`rewardlab.audit.features.correlations`, checked against scipy in tests/audit)."""

from __future__ import annotations

import re
import zlib

import numpy as np
import pytest
import torch

from rewardlab.audit.features import correlations, token_counts
from rewardlab.models import HeadSpec, build_reward_model
from rewardlab.simulate import SimConfig, simulate_pairs
from rewardlab.simulate.datasets import parse_rows
from rewardlab.stats.metrics import gold_agreement
from rewardlab.train.collate import encode_pairs, pair_columns
from rewardlab.train.config import LossSpec
from rewardlab.train.frozen import train_head_on_features
from rewardlab.train.losses import get_loss

N_TRAIN, N_TEST = 1200, 400
# a head on fixed features is the --freeze-backbone path: its default weights (lambda_O = 0.1 there)
FROZEN = LossSpec().disentangle_spec(frozen_backbone=True)


def bag_of_words(texts: list[str], dim: int) -> torch.Tensor:
    out = np.zeros((len(texts), dim), np.float32)
    for i, t in enumerate(texts):
        for w in re.findall(r"\w+|[^\w\s]", t.lower()):
            out[i, zlib.crc32(w.encode()) % dim] += 1
    return torch.from_numpy(out / 10)


@pytest.fixture(scope="module")
def trained(tiny_decoder):
    sim = SimConfig(length_bias=2.0)
    train = parse_rows(simulate_pairs(N_TRAIN, seed=8, config=sim))
    test = parse_rows(simulate_pairs(N_TEST, seed=9, config=sim))
    out = {}
    for kind in ("scalar", "disentangled"):
        lm = build_reward_model(tiny_decoder, HeadSpec(kind), seed=0)
        dim = lm.model.hf.score.in_features
        f = bag_of_words([p.chosen for p in train] + [p.rejected for p in train], dim)
        cols = pair_columns(encode_pairs(lm.renderer, train))
        train_head_on_features(lm.model, get_loss("bt"), f[:N_TRAIN], f[N_TRAIN:], cols, epochs=30, lr=1e-2,
                               batch_size=64, progress=False,
                               disentangle=FROZEN if kind == "disentangled" else None)
        responses = [p.chosen for p in test] + [p.rejected for p in test]
        with torch.no_grad():
            out[kind] = lm.model.split(lm.model.head_logits(bag_of_words(responses, dim)))
    lengths = np.array(token_counts(responses, lm.tokenizer), dtype=float)
    return test, lengths, out


def _length_corr(test, lengths, rewards) -> dict:
    prompts = [p.prompt for p in test] * 2
    return correlations(lengths[:, None], np.asarray(rewards), prompts, names=["length_tokens"],
                        n_resamples=200)["length_tokens"]


def test_quality_reward_is_blind_to_length_where_plain_bt_tracks_it(trained):
    test, lengths, out = trained
    plain = _length_corr(test, lengths, out["scalar"]["mean"].numpy())
    odin = _length_corr(test, lengths, out["disentangled"]["mean"].numpy())
    assert plain["within_pearson"]["estimate"] >= 0.5, plain["within_pearson"]
    assert abs(odin["within_pearson"]["estimate"]) < 0.1, odin["within_pearson"]
    assert abs(odin["pearson"]["estimate"]) < 0.1, odin["pearson"]
    # the length preference went to the length row
    length_row = out["disentangled"]["length_reward"].numpy()
    assert np.corrcoef(length_row, lengths)[0, 1] > 0.5


def test_quality_reward_agrees_with_gold_more_than_plain_bt(trained):
    """Gold agreement (the simulator's hidden utility) on the held-out pairs where gold is not tied: the quality
    reward beats plain BT's reward, with the 95% bootstrap CI of the paired difference above 0 (and the sign-flip
    test's p-value below 0.05). Plain BT follows the annotators' length bias, which runs against gold here."""
    from rewardlab.stats.metrics import compare_models

    test, _, out = trained
    gc = np.array([p.extra["gold_chosen"] for p in test])
    gr = np.array([p.extra["gold_rejected"] for p in test])
    keep = gc != gr
    a, b = out["disentangled"]["mean"].numpy(), out["scalar"]["mean"].numpy()
    n = len(test)
    cmp = compare_models(a[:n][keep], a[n:][keep], b[:n][keep], b[n:][keep], labels=(gc > gr)[keep].astype(float),
                         n_resamples=1000, n_permutations=2000, seed=0)
    assert cmp["difference"]["lo"] > 0, cmp["difference"]
    assert cmp["p_value"] < 0.05, cmp
    # the same figure as gold_agreement's (which counts gold ties as half)
    g = gold_agreement(a[:n], a[n:], gc, gr, n_resamples=50)["agreement"]["estimate"]
    assert g > gold_agreement(b[:n], b[n:], gc, gr, n_resamples=50)["agreement"]["estimate"]
