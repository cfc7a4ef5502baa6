"""rewardlab: the whole life of a reward model."""

__version__ = "0.1.0"


def load(path: str, device: str | None = "auto"):
    """Load a rewardlab checkpoint or any HF sequence-classification reward model onto a device.

    Args:
        path: a checkpoint folder, the 'minilm' alias or a hub id.
        device: 'auto' (default: cuda when available, else cpu), 'cpu', 'cuda', 'cuda:N', 'mps', or None to leave
            the model on the CPU.

    Returns:
        rewardlab.models.checkpoint.LoadedModel: model, tokenizer, renderer and metadata.

    Raises:
        rewardlab.errors.RewardlabError: nothing loadable at `path`, or the device is not available.

    Example:
        >>> import rewardlab
        >>> lm = rewardlab.load("runs/rm", device="cpu")  # doctest: +SKIP
        >>> from rewardlab.scoring import ModelScorer
        >>> ModelScorer(lm).score(["2+2?"], ["4"]).mean  # doctest: +SKIP
    """
    from rewardlab.models.checkpoint import load as _load

    return _load(path, device)
