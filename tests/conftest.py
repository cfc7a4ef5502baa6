"""Shared fixtures: where the real data lives (../shared/data), skipped with a reason when absent."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
HH_FILE = SHARED_DATA / "hh-rlhf-harmless-base-test.jsonl.gz"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@dataclass
class CliResult:
    """What a `rewardlab` command left: its exit code and what it wrote to stdout and stderr."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: object, check: bool = True) -> CliResult:
    """Run `rewardlab ARGS` in this process, through the console entry point `rewardlab.cli.main`, as
    `python -m rewardlab` would run it but without a new interpreter and its imports (seconds per call).

    stderr holds what the CLI's log handler prints (progress, `note: ...`, `error: ...`); the exit code comes from
    SystemExit (0 on success, 2 for a RewardlabError). An exception the CLI does not turn into a message propagates,
    so a traceback fails the test. Tests of the real entry point itself use a subprocess.
    """
    import contextlib
    import io
    import logging

    from rewardlab.cli import NoteFormatter, main

    out, err = io.StringIO(), io.StringIO()
    logger = logging.getLogger("rewardlab")
    handler = logging.StreamHandler(err)
    handler.setFormatter(NoteFormatter())
    level = logger.level
    logger.addHandler(handler)  # main() adds its own stderr handler only when the logger has none
    logger.setLevel(logging.INFO)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main([str(a) for a in args])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    result = CliResult(code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"exit {code}\n{result.stdout}\n{result.stderr}")
    return result


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


@pytest.fixture(scope="session")
def tiny_rm(tmp_path_factory, tiny_decoder) -> str:
    """A saved rewardlab checkpoint of the tiny decoder with a nudged head (rewards differ between items)."""
    from rewardlab.models.checkpoint import save_checkpoint

    path = str(tmp_path_factory.mktemp("tiny_rm") / "rm")
    save_checkpoint(perturbed_model(tiny_decoder, seed=2, scale=0.3), path, {})
    return path


def rewards(loaded, prompts, responses, side: str = "right"):
    """Mean rewards of (prompt, response) pairs in one padded batch, through rewardlab's own renderer."""
    import torch

    from rewardlab.batching import pad_batch

    enc = loaded.renderer.encode(prompts, responses)
    types = [e["token_type_ids"] for e in enc] if "token_type_ids" in enc[0] else None
    batch = pad_batch([e["input_ids"] for e in enc], loaded.tokenizer.pad_token_id, types, side)
    loaded.model.eval()
    with torch.no_grad():
        return loaded.model(**batch)


def perturbed_model(backbone: str, head=None, max_length: int = 512, seed: int = 1, scale: float = 0.2):
    """A reward model whose head weights are nudged off their init, so rewards differ between sequences."""
    from rewardlab.models import HeadSpec, build_reward_model
    from rewardlab.render import RenderSpec

    lm = build_reward_model(backbone, head or HeadSpec(), render=RenderSpec(max_length=max_length), seed=0)
    return nudge_head(lm, seed, scale)


def nudge_head(lm, seed: int = 1, scale: float = 0.2):
    """Add seeded Gaussian noise (times `scale`) to the head's weights of a loaded model, in place; returns it."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in lm.model.named_parameters():
            if "score" in n or "classifier" in n:
                p.add_(torch.randn(p.shape, generator=g) * scale)
    return lm


def pytest_collection_modifyitems(config, items) -> None:
    """Skip `extended` tests (minutes each) unless they were asked for with `-m extended`."""
    if "extended" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="extended check (minutes on 2 cores): run with `make test-extended`")
    for item in items:
        if "extended" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rewardlab_log(caplog):
    """The messages the library logs (INFO and up, logger `rewardlab`) during the test, as a live list."""
    import logging

    caplog.set_level(logging.INFO, logger="rewardlab")

    class _Messages:
        def __iter__(self):
            return iter([r.getMessage() for r in caplog.records if r.name.startswith("rewardlab")])

        def __repr__(self):
            return repr(list(self))

    return _Messages()
