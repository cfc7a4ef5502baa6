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
