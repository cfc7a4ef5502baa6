"""Every training fast path gives the plain path's losses, rewards (1e-4) and gradients: packed pairs (one row per
pair) and prefix sharing (the prompt once per pair) on a Llama-shaped decoder, packed pairs on MiniLM."""

from __future__ import annotations

import pytest
import torch
from transformers import TrainerCallback

from conftest import perturbed_model
from rewardlab.data.formats import detect_spec, parse_pair
from rewardlab.errors import RewardlabError
from rewardlab.models import HeadSpec, build_reward_model
from rewardlab.simulate import simulate_pairs
from rewardlab.train.collate import PairCollator, encode_pairs
from rewardlab.train.config import TrainConfig
from rewardlab.train.losses import get_loss
from rewardlab.train.prefix import PackedPairCollator, pack_pair, padded_tokens, shared_prefix_len
from rewardlab.train.trainer import RewardTrainingModule, resolve_pair_layout

QUIET = {"progress": False, "logging_steps": 1}


def _pairs(n: int = 10, seed: int = 3):
    rows = simulate_pairs(n, seed=seed)
    pairs = [parse_pair(r, detect_spec(rows[0])) for r in rows]
    # a long multi-turn prompt, a pair whose responses share their first words, and an empty response
    p0 = pairs[0]
    pairs[0] = type(p0)(prompt="\n\nHuman: hi\n\nAssistant: hello, how can I help?\n\nHuman: " + str(p0.prompt) +
                        "\n\nAssistant:", chosen=p0.chosen, rejected=p0.rejected)
    pairs[1] = type(p0)(prompt=pairs[1].prompt, chosen="The answer is 12, I am sure.", rejected="The answer is 13.")
    pairs[2] = type(p0)(prompt=pairs[2].prompt, chosen="", rejected="Something.")
    return pairs


def _model(backbone: str, head: HeadSpec, max_length: int = 512):
    return perturbed_model(backbone, head, max_length)


def _run(module: RewardTrainingModule, batch: dict) -> tuple[dict, dict[str, torch.Tensor]]:
    module.zero_grad()
    out = module(**batch)
    out["loss"].backward()
    grads = {n: p.grad.detach().clone() for n, p in module.named_parameters() if p.grad is not None}
    return out, grads


def _check_same(lm, loss_name: str, shares: tuple[bool, ...], max_length: int = 512):
    ex = encode_pairs(lm.renderer, _pairs())
    module = RewardTrainingModule(lm.model, get_loss(loss_name))
    pad = lm.tokenizer.pad_token_id
    ref, ref_g = _run(module, PairCollator(pad)(ex))
    for share in shares:
        out, grads = _run(module, PackedPairCollator(pad, share)(ex))
        for key in ("loss", "chosen", "rejected"):
            torch.testing.assert_close(out[key], ref[key], atol=1e-4, rtol=0, msg=f"{key} (share={share})")
        assert set(grads) == set(ref_g)
        top = max(float(g.abs().max()) for g in ref_g.values())
        for n, g in grads.items():
            # relative to the parameter's own gradient, plus a floor relative to the largest gradient for those
            # that are ~0 in exact arithmetic (attention key biases, a bias every reward shares)
            err = float((g - ref_g[n]).abs().max())
            bound = 1e-3 * float(ref_g[n].abs().max()) + 1e-4 * top
            assert err <= bound, f"grad {n} (share={share}): max error {err:.3g} > {bound:.3g}"
        assert padded_tokens(ex, "prefix" if share else "packed") < padded_tokens(ex, "plain")


@pytest.mark.parametrize("head,loss", [(HeadSpec(), "bt"), (HeadSpec(pooling="mean"), "bt"),
                                       (HeadSpec("ensemble", 3, True), "gaussian")])
def test_decoder_packed_and_prefix_equal_plain(tiny_decoder, head, loss):
    lm = _model(tiny_decoder, head)
    assert lm.model.prefix_sharing_problem() is None
    _check_same(lm, loss, (False, True))


def test_decoder_prefix_with_truncated_pairs(tiny_decoder):
    """Truncation cuts the two prompts differently: the shared prefix shrinks, results stay exact."""
    lm = _model(tiny_decoder, HeadSpec(), max_length=40)
    ex = encode_pairs(lm.renderer, _pairs())
    assert any(e["truncated"] for e in ex)
    _check_same(lm, "bt", (True,), max_length=40)


@pytest.mark.parametrize("pooling", ["auto", "mean"])
def test_minilm_packed_equals_plain(pooling):
    lm = _model("minilm", HeadSpec(pooling=pooling))
    assert lm.model.packing_problem() is None
    assert lm.model.prefix_sharing_problem() is not None  # bidirectional: nothing to share
    _check_same(lm, "bt", (False,))


def test_shared_prefix_and_packed_row_layout():
    assert shared_prefix_len([1, 2, 3, 4], [1, 2, 5]) == 2
    assert shared_prefix_len([1, 2, 3], [1, 2, 3]) == 2  # each continuation keeps a token
    assert shared_prefix_len([7], [8, 9]) == 0
    row = pack_pair({"chosen_ids": [1, 2, 3, 4], "rejected_ids": [1, 2, 5]}, share_prefix=True)
    assert row == {"ids": [1, 2, 3, 4, 5], "seg": [0, 0, 1, 1, 2], "pos": [0, 1, 2, 3, 2]}
    row = pack_pair({"chosen_ids": [1, 2], "rejected_ids": [1, 3, 4]}, share_prefix=False)
    assert row == {"ids": [1, 2, 1, 3, 4], "seg": [1, 1, 2, 2, 2], "pos": [0, 1, 0, 1, 2]}


def test_layout_resolution(tiny_decoder):
    dec = _model(tiny_decoder, HeadSpec()).model
    enc = _model("minilm", HeadSpec()).model
    assert resolve_pair_layout(TrainConfig.from_options(), dec) == "prefix"
    assert resolve_pair_layout(TrainConfig.from_options(prefix_sharing=False), dec) == "plain"
    assert resolve_pair_layout(TrainConfig.from_options(pack_pairs=True, prefix_sharing=False), dec) == "packed"
    assert resolve_pair_layout(TrainConfig.from_options(pack_pairs=False), dec) == "plain"
    # encoders: packing shares nothing and doubles the attention length, so it is opt-in (measured slower)
    assert resolve_pair_layout(TrainConfig.from_options(), enc) == "plain"
    assert resolve_pair_layout(TrainConfig.from_options(pack_pairs=True), enc) == "packed"
    assert resolve_pair_layout(TrainConfig.from_options(pack_pairs=False), enc) == "plain"
    with pytest.raises(RewardlabError, match="causal decoder"):
        resolve_pair_layout(TrainConfig.from_options(prefix_sharing=True), enc)
    with pytest.raises(RewardlabError, match="packed rows"):
        resolve_pair_layout(TrainConfig.from_options(prefix_sharing=True, pack_pairs=False), dec)


class _LogLosses(TrainerCallback):
    """(step, training loss) of every logged step."""

    def __init__(self):
        self.losses: list[tuple[int, float]] = []

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.losses.append((state.global_step, float(logs["loss"])))


def test_train_prefix_layout_matches_plain_layout(tmp_path, tiny_decoder, rewardlab_log):
    """Whole runs: same batches (no length grouping), per-step losses and final rewards agree."""
    from conftest import rewards
    from rewardlab.train.trainer import train

    base = dict(model=tiny_decoder, sim_n=48, sim_eval_n=8, batch_size=8, max_steps=3, lr=1e-3, max_length=128,
                group_by_length=False, **QUIET)
    runs, losses = {}, {}
    for name, kw in (("plain", {"pack_pairs": False}), ("prefix", {})):
        rec = _LogLosses()
        res = train(TrainConfig.from_options(output=str(tmp_path / name), **kw, **base), callbacks=[rec])
        assert any(f"pair layout: {name}" in n for n in rewardlab_log)
        runs[name], losses[name] = res, rec.losses
    # the training loss of every step (logged each step), not only the end result
    assert [s for s, _ in losses["plain"]] == [s for s, _ in losses["prefix"]] == [1, 2, 3]
    assert [v for _, v in losses["prefix"]] == pytest.approx([v for _, v in losses["plain"]], abs=1e-4)
    assert len({round(v, 4) for _, v in losses["plain"]}) == 3  # the steps differ: a real per-step comparison
    ra = rewards(runs["plain"].loaded, ["What is 2+2?", "Hi"], ["4", "Hello!"])["mean"]
    rb = rewards(runs["prefix"].loaded, ["What is 2+2?", "Hi"], ["4", "Hello!"])["mean"]
    torch.testing.assert_close(ra, rb, atol=1e-3, rtol=0)
    assert runs["plain"].metrics["accuracy"] == pytest.approx(runs["prefix"].metrics["accuracy"], abs=1e-6)


def test_lora_packed_equals_plain(tiny_decoder):
    """LoRA adapters inside the backbone and a modules_to_save head: the packed path sees both."""
    lm = build_reward_model(tiny_decoder, HeadSpec(), seed=0, lora={"r": 4, "alpha": 8})
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for _n, p in lm.model.named_parameters():
            if p.requires_grad:
                p.add_(torch.randn(p.shape, generator=g) * 0.05)
    assert lm.model.prefix_sharing_problem() is None
    _check_same(lm, "bt", (True,))
