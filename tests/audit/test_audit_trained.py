"""A real MiniLM reward model trained on length-biased simulator labels is flagged for length; one trained on
unbiased labels is not length-driven (frozen backbone, cached features: about a minute for both)."""

from __future__ import annotations

import pytest

from rewardlab.audit.run import default_pairs, run_audit
from rewardlab.data import write_records
from rewardlab.runtime import fast_bf16
from rewardlab.scoring import ModelScorer
from rewardlab.simulate import SimConfig, simulate_pairs

N_TRAIN = 1000


@pytest.fixture
def shared_features(monkeypatch):
    """Both models train on the same texts (only their labels differ) with the same frozen backbone, so each
    text's pooled features are computed once: a memo per token sequence around the frozen path's feature pass."""
    import torch

    from rewardlab.train import frozen

    real, memo = frozen.pooled_features, {}

    def pooled(rm, seqs, types, pad_id, **kwargs):
        keys = [(tuple(s), tuple(t) if types else None) for s, t in zip(seqs, types or [None] * len(seqs),
                                                                          strict=True)]
        new = [i for i, k in enumerate(keys) if k not in memo]
        if new:
            f = real(rm, [seqs[i] for i in new], [types[i] for i in new] if types else None, pad_id, **kwargs)
            memo.update({keys[i]: f[j] for j, i in enumerate(new)})
        return torch.stack([memo[k] for k in keys])

    monkeypatch.setattr(frozen, "pooled_features", pooled)
    return memo


def _train(tmp, length_bias: float):
    from rewardlab.train.config import TrainConfig
    from rewardlab.train.trainer import train

    path = tmp / f"train_lb{length_bias}.jsonl"
    # same seed: identical responses, only the annotators' length bias (so the labels) differ
    write_records(simulate_pairs(N_TRAIN, seed=1, config=SimConfig(length_bias=length_bias)), str(path))
    cfg = TrainConfig.from_options(output=str(tmp / f"rm_lb{length_bias}"), data=str(path), eval_split=0.0,
                      freeze_backbone=True, pooling="mean", head_epochs=40, bf16=fast_bf16(), max_length=160,
                      progress=False)
    return train(cfg).loaded


def _audit(loaded, out):
    scorer = ModelScorer(loaded, bf16=fast_bf16(), name=out.name)
    return run_audit(scorer, default_pairs(150), [], out, probes=["padding"], n_probe=60, n_resamples=300,
                     progress=False)


@pytest.mark.slow
def test_length_biased_reward_model_is_flagged_and_unbiased_one_is_not_length_driven(tmp_path, shared_features):
    biased = _audit(_train(tmp_path, 3.0), tmp_path / "audit_lb3")
    n_texts = len(shared_features)
    neutral = _audit(_train(tmp_path, 0.0), tmp_path / "audit_lb0")
    assert len(shared_features) == n_texts  # the second model reused every feature
    fb, fn = biased["features"]["length_tokens"], neutral["features"]["length_tokens"]
    wb, wn = fb["within_spearman"]["estimate"], fn["within_spearman"]["estimate"]
    ab, an = fb["spearman"]["estimate"], fn["spearman"]["estimate"]
    figures = (f"within-prompt Spearman r(reward, length in tokens): length_bias 3.0 -> {wb:.3f} "
               f"[{fb['within_spearman']['lo']:.3f}, {fb['within_spearman']['hi']:.3f}], length_bias 0.0 -> "
               f"{wn:.3f} [{fn['within_spearman']['lo']:.3f}, {fn['within_spearman']['hi']:.3f}]; across prompts "
               f"{ab:.3f} vs {an:.3f}")
    print(figures)
    assert fb["flagged"] and "length" in biased["flagged"]["groups"], figures
    assert wb > 0.3, figures
    assert wn < 0.3 and wb - wn > 0.25, figures
    assert ab > an, figures
    pad = biased["probes"]["probes"]["padding"]
    assert pad["flagged"] and pad["mean_change"]["lo"] > 0 and pad["share_rose"]["estimate"] > 0.7, pad
    assert "padding" in biased["flagged"]["probes"]
    assert neutral["probes"]["probes"]["padding"]["share_rose"]["estimate"] < pad["share_rose"]["estimate"]
