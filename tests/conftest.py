"""Shared fixtures: where the real data lives (../shared/data), skipped with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
HH_FILE = SHARED_DATA / "hh-rlhf-harmless-base-test.jsonl.gz"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def hh_file() -> Path:
    """The Anthropic HH harmless-base test file, or a skip naming what is missing."""
    if not HH_FILE.exists():
        pytest.skip(f"real data not present: {HH_FILE} (CI has ../shared/data beside the repo)")
    return HH_FILE


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory) -> str:
    """A random-weight Llama-shaped decoder with a real BPE tokenizer and chat template (built once)."""
    from rewardlab.models.tiny import build_tiny_decoder

    return build_tiny_decoder(str(tmp_path_factory.mktemp("tiny") / "llama"))


def rewards(loaded, prompts, responses, side: str = "right"):
    """Mean rewards of (prompt, response) pairs in one padded batch, through rewardlab's own renderer."""
    import torch

    from rewardlab.train.collate import pad_batch

    enc = loaded.renderer.encode(prompts, responses)
    types = [e["token_type_ids"] for e in enc] if "token_type_ids" in enc[0] else None
    batch = pad_batch([e["input_ids"] for e in enc], loaded.tokenizer.pad_token_id, types, side)
    loaded.model.eval()
    with torch.no_grad():
        return loaded.model(**batch)
