"""`--max-length auto` and the truncation note, on a word-level tokenizer where every word is one token, so each
pair's length is known exactly: prompt words + response words + [CLS] + [SEP] + [SEP]."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from rewardlab.config import ConfigError
from rewardlab.data.schema import PreferencePair
from rewardlab.render import Renderer, RenderSpec
from rewardlab.train.config import TrainConfig
from rewardlab.train.max_length import length_keeping, length_report, pair_token_lengths

WORDS = [f"w{i}" for i in range(50)]
SPECIAL = 3  # [CLS] prompt [SEP] response [SEP]


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]")


def _pairs(seed: int = 0, n: int = 120) -> tuple[list[PreferencePair], np.ndarray]:
    """Pairs with known word counts, and each pair's exact token length (the longer of its two sequences)."""
    rng = np.random.default_rng(seed)
    pairs, lengths = [], []
    for _ in range(n):
        p, c, r = (int(x) for x in rng.integers(1, 40, size=3))
        c = c * 3 if rng.random() < 0.3 else c  # a long tail
        words = lambda k: " ".join(rng.choice(WORDS, size=k))  # noqa: E731
        pairs.append(PreferencePair(words(p), words(c), words(r)))
        lengths.append(p + max(c, r) + SPECIAL)
    return pairs, np.array(lengths)


def _brute_force_keeping(lengths: np.ndarray, share: float) -> int:
    return next(L for L in range(int(lengths.max()) + 1) if np.mean(lengths <= L) >= share)


def test_pair_lengths_are_the_rendered_lengths_and_auto_keeps_95_percent_whole():
    tok = _tokenizer()
    pairs, truth = _pairs()
    spec = RenderSpec(mode="pair", max_length="auto")
    got = pair_token_lengths(tok, spec, pairs)
    np.testing.assert_array_equal(got, truth)
    for share in (0.5, 0.9, 0.95, 1.0):
        assert length_keeping(got, share) == _brute_force_keeping(truth, share)
    rep = length_report(got, "auto", cap=None)
    keeps = _brute_force_keeping(truth, 0.95)
    assert rep.keeps_95 == keeps and rep.suggested == rep.resolved == 8 * math.ceil(keeps / 8)
    assert rep.share_truncated == pytest.approx(np.mean(truth > rep.resolved)) and rep.share_truncated <= 0.05
    assert rep.note() is None
    # at the resolved length the renderer truncates exactly the pairs the report counts
    renderer = Renderer(tok, RenderSpec(mode="pair", max_length=rep.resolved))
    prompts = [p.prompt for p in pairs]
    cut = [a["truncated"] or b["truncated"] for a, b in zip(renderer.encode(prompts, [p.chosen for p in pairs]),
                                                          renderer.encode(prompts, [p.rejected for p in pairs]),
                                                          strict=True)]
    assert np.mean(cut) == pytest.approx(rep.share_truncated)


def test_the_backbone_cap_and_the_note_name_the_length_that_keeps_95_percent():
    _, truth = _pairs()
    keeps = _brute_force_keeping(truth, 0.95)
    capped = length_report(truth, "auto", cap=32)
    assert capped.resolved == 32 and capped.keeps_95 == keeps
    assert f"needs {keeps} tokens, beyond the backbone's 32 positions" in capped.note()
    fixed = length_report(truth, 40, cap=512)
    share = float(np.mean(truth > 40))
    assert share > 0.1 and fixed.share_truncated == pytest.approx(share)
    assert f"{share:.1%} of the 120 training pairs" in fixed.note()
    assert f"--max-length {8 * math.ceil(keeps / 8)} keeps 95% whole" in fixed.note()


def test_max_length_takes_a_number_or_auto_and_nothing_else():
    assert TrainConfig.from_options(max_length="auto").render.max_length == "auto"
    assert TrainConfig.from_options(max_length="256").render.max_length == 256  # the command line's string
    with pytest.raises(ConfigError, match="render.max_length must be an integer or one of \\['auto'\\]"):
        TrainConfig.from_options(max_length="long")
    with pytest.raises(ConfigError, match=">= 8"):
        TrainConfig.from_options(max_length=4)


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    """A 2-layer BERT with the word-level tokenizer and 96 positions, saved as a backbone folder."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    path = tmp_path_factory.mktemp("tiny_bert")
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(WORDS) + 4, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=96, num_labels=1)
    BertForSequenceClassification(cfg).save_pretrained(path)
    _tokenizer().save_pretrained(path)
    return str(path)


def _write(pairs, path):
    path.write_text("".join(json.dumps({"prompt": p.prompt, "chosen": p.chosen, "rejected": p.rejected}) + "\n"
                            for p in pairs))
    return str(path)


def test_train_resolves_auto_records_it_and_notes_heavy_truncation(tmp_path, tiny_bert, caplog):
    from rewardlab.train.trainer import train

    pairs, truth = _pairs(n=150)
    data = _write(pairs, tmp_path / "pairs.jsonl")
    common = {"model": tiny_bert, "data": data, "eval_split": 0.0, "freeze_backbone": True, "head_epochs": 1,
              "progress": False, "render_mode": "pair"}
    train(TrainConfig.from_options(**common, max_length="auto", output=str(tmp_path / "auto")))
    meta = json.loads((tmp_path / "auto" / "rewardlab.json").read_text())
    keeps = _brute_force_keeping(truth, 0.95)
    want = min(96, 8 * math.ceil(keeps / 8))
    assert meta["render"]["max_length"] == want and meta["train_config"]["render"]["max_length"] == "auto"
    assert meta["max_length"]["requested"] == "auto" and meta["max_length"]["keeps_95"] == keeps
    assert meta["max_length"]["share_truncated"] == pytest.approx(np.mean(truth > want))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rewardlab"):
        train(TrainConfig.from_options(**common, max_length=24, output=str(tmp_path / "short")))
    share = float(np.mean(truth > 24))
    notes = [r.getMessage() for r in caplog.records if "keeps 95% whole" in r.getMessage()]
    assert len(notes) == 1 and f"{share:.1%} of the 150 training pairs" in notes[0], notes
    assert f"--max-length {want}" in notes[0]
