"""Device choice: 'auto' follows the machine, unknown or missing devices are clear errors, batches move."""

from __future__ import annotations

import pytest
import torch

from rewardlab.errors import RewardlabError
from rewardlab.runtime import autocast, default_device, model_device, resolve_device, to_device


def test_auto_and_explicit_devices():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(None).type == expected
    assert resolve_device("auto").type == expected
    assert default_device().startswith(expected)
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: the error case cannot happen")
def test_cuda_on_a_cpu_machine_is_a_clear_error():
    with pytest.raises(RewardlabError, match="no CUDA device"):
        resolve_device("cuda")


def test_unknown_device_names_the_flag():
    with pytest.raises(RewardlabError, match="--device 'gpu0' is not a device"):
        resolve_device("gpu0")


def test_to_device_moves_tensors_only_and_model_device():
    batch = to_device({"input_ids": torch.ones(2, 3, dtype=torch.long), "note": "x"}, torch.device("cpu"))
    assert batch["note"] == "x" and batch["input_ids"].device.type == "cpu"
    lin = torch.nn.Linear(2, 1)
    assert model_device(lin) == torch.device("cpu")
    with autocast(torch.device("cpu"), True):
        assert lin(torch.ones(1, 2)).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), False):
        assert lin(torch.ones(1, 2)).dtype == torch.float32


def test_slow_bf16_is_reported_once(monkeypatch, caplog):
    """bf16 on hardware that only emulates it (AVX2 CPUs: ~10x slower than fp32) is said once, not hidden."""
    import logging

    from rewardlab import runtime

    monkeypatch.setattr(runtime, "_said", set())
    monkeypatch.setattr(runtime, "fast_bf16", lambda device=None: False)
    with caplog.at_level(logging.INFO, logger="rewardlab"):
        for _ in range(3):
            runtime.warn_if_slow_bf16(torch.device("cpu"), True)
        runtime.warn_if_slow_bf16(torch.device("cpu"), False)
    assert [r.getMessage().startswith("bf16 autocast on this cpu is emulated") for r in caplog.records] == [True]
    monkeypatch.setattr(runtime, "fast_bf16", lambda device=None: True)
    monkeypatch.setattr(runtime, "_said", set())
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="rewardlab"):
        runtime.warn_if_slow_bf16(torch.device("cpu"), True)
    assert not caplog.records
