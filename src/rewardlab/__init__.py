"""rewardlab: the whole life of a reward model."""

__version__ = "0.1.0"


def load(path: str, device: str | None = None):
    """Load a rewardlab checkpoint or any HF sequence-classification reward model (see rewardlab.models.load)."""
    from rewardlab.models.checkpoint import load as _load

    return _load(path, device)
