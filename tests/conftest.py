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
