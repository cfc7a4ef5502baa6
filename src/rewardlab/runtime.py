"""Where models run and how the run is told: device choice, autocast, multi-process state, logging once.

Every path that runs a model (training, scoring, prefix scoring, evaluation, the audit, frozen-feature caching)
takes its device from here, so a checkpoint scores the same way on a laptop CPU, one GPU or several.
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

import torch

from rewardlab.errors import RewardlabError

logger = logging.getLogger("rewardlab")
_said: set[str] = set()


def log_once(key: str, message: str, level: int = logging.WARNING) -> None:
    """Log `message` through the `rewardlab` logger the first time `key` is seen in this process.

    Args:
        key: identity of the message (e.g. the reason a fast path is off), so a loop logs it once.
        message: what to say.
        level: a `logging` level.

    Example:
        >>> log_once("prefix-sharing:no cache", "prefix sharing off: the backbone takes no key/value cache")
    """
    if key in _said:
        return
    _said.add(key)
    logger.log(level, message)


def default_device() -> str:
    """'cuda' when a CUDA device is visible, else 'cpu' (`resolve_device` gives each launched process its GPU)."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_device(device: str | torch.device | None) -> torch.device:
    """A checked torch.device: None or 'auto' picks `default_device()`; 'cpu', 'cuda', 'cuda:N', 'mps', ...

    Args:
        device: what the user asked for (a `--device` flag, a `device=` argument) or None.

    Returns:
        The torch.device to put the model and its batches on.

    Raises:
        RewardlabError: the string is not a device torch knows, or the device is not available here.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None or (isinstance(device, str) and device.strip().lower() in ("", "auto")):
        device = default_device()
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise RewardlabError(f"--device {device!r} is not a device torch knows (cpu, cuda, cuda:N, mps): {e}") from None
    if dev.type == "cuda":
        if dev.index is None and int(os.environ.get("WORLD_SIZE", "1")) > 1 and "LOCAL_RANK" in os.environ:
            dev = torch.device("cuda", int(os.environ["LOCAL_RANK"]))  # one GPU per launched process
        if not torch.cuda.is_available():
            raise RewardlabError(f"--device {device}: no CUDA device is available on this machine (use --device cpu)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RewardlabError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise RewardlabError(f"--device {device}: MPS is not available on this machine")
    return dev


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's parameters (cpu for a model without parameters)."""
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """A batch dict with every tensor moved to `device` (non-tensors as they are)."""
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def autocast(device: torch.device, enabled: bool, dtype: torch.dtype = torch.bfloat16) -> contextlib.AbstractContextManager:
    """bf16 autocast on the device's own type (cpu, cuda, mps), or a no-op when not enabled."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def world() -> tuple[int, int]:
    """(rank, world size) of this process under torchrun / accelerate launch, (0, 1) otherwise."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True on rank 0 (and in a plain single-process run)."""
    return world()[0] == 0


def fast_bf16(device: str | torch.device | None = None) -> bool:
    """Whether bf16 autocast is fast on `device`: a CUDA GPU with bf16 support, or a CPU with native bf16 matmuls
    (AVX512-BF16 or AMX, as oneDNN reports). On other CPUs bf16 is emulated, about 10x slower than fp32
    (measured: a 384x1536 linear layer, 2 AVX2 cores, 12x), so defaults that want speed should ask this first.

    Example:
        >>> cfg_bf16 = fast_bf16("cpu")  # False on an AVX2-only CPU
    """
    dev = resolve_device(device)
    if dev.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if dev.type == "cpu":
        check = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
        return bool(check()) if check is not None else False
    return False


def warn_if_slow_bf16(device: torch.device, bf16: bool) -> None:
    """Log once when bf16 was asked for on a device that only emulates it."""
    if bf16 and not fast_bf16(device):
        log_once(f"slow-bf16:{device.type}", f"bf16 autocast on this {device.type} is emulated (no native bf16 "
                 "matmuls: AVX512-BF16/AMX on CPUs), typically several times slower than fp32; drop --bf16 here")
