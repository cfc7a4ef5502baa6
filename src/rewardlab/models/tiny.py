"""Small Llama-shaped decoders built from a config (random weights) with a BPE tokenizer trained on the spot.

Used by tests (decoder code paths without any hub access) and by benchmarks (`llama-small`, ~50M parameters).
The tokenizer is real: byte-level BPE trained on simulator text, with BOS/EOS/PAD and a chat template.
"""

from __future__ import annotations

import os
from typing import Any

CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SIZES: dict[str, dict[str, int]] = {
    "tiny": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2},
    "small": {"hidden_size": 512, "intermediate_size": 1408, "num_hidden_layers": 8, "num_attention_heads": 8,
              "num_key_value_heads": 4},
}


def train_bpe_tokenizer(vocab_size: int = 2000, n_texts: int = 1000, seed: int = 0, chat_template: bool = True):
    """A byte-level BPE tokenizer trained on simulator text (a few seconds at most)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from rewardlab.simulate import simulate_pairs

    rows = simulate_pairs(n_texts, seed=seed)
    texts = [t for r in rows for t in (r["prompt"], r["chosen"], r["rejected"])]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<pad>", "<s>", "</s>", "<|user|>", "<|assistant|>", "<|system|>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    from tokenizers import processors

    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    if chat_template:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def build_tiny_decoder(path: str, size: str = "tiny", seed: int = 0, chat_template: bool = True,
                       vocab_size: int = 2000, **overrides: Any) -> str:
    """Save a random-weight Llama causal LM and its tokenizer to `path` (a backbone folder) and return it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = train_bpe_tokenizer(vocab_size=vocab_size, seed=seed, chat_template=chat_template)
    dims = {**SIZES[size], **overrides}
    cfg = LlamaConfig(vocab_size=len(tok), max_position_embeddings=1024, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, tie_word_embeddings=False,
                      **dims)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    os.makedirs(path, exist_ok=True)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
