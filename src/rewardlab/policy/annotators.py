"""Simulated annotator presets as rewards and labellers of the policy lab: `annotator:PRESET` specs, parsed into the
annotator's biases and the simulator config that labels pairs with them.

A module of its own so that `rewardlab.policy.rewards` and `rewardlab.policy.bow_rm` both use it without importing
each other.
"""

from __future__ import annotations

from rewardlab.errors import RewardlabError
from rewardlab.simulate.config import SimConfig

ANNOTATOR_PRESETS = {"human_like": {"length": 1.0, "agreement": 0.5, "format": 0.3},
                     "neutral": {"length": 0.0, "agreement": 0.0, "format": 0.0}}


def parse_annotator(spec: str) -> dict[str, float]:
    """The biases of an 'annotator:...' reward: a preset (human_like, neutral) or length=,agreement=,format=.

    Args:
        spec: 'annotator:PRESET' or just PRESET.

    Returns:
        {"length": B, "agreement": B, "format": B}.

    Raises:
        RewardlabError: an unknown preset or key, or a value that is not a number.

    Example:
        >>> parse_annotator("annotator:length=3")
        {'length': 3.0, 'agreement': 0.0, 'format': 0.0}
    """
    body = spec.split(":", 1)[1].strip() if spec.startswith("annotator:") else spec.strip()
    if body in ANNOTATOR_PRESETS:
        return dict(ANNOTATOR_PRESETS[body])
    out = {"length": 0.0, "agreement": 0.0, "format": 0.0}
    for item in filter(None, (s.strip() for s in body.split(","))):
        key, sep, val = item.partition("=")
        if not sep or key.strip() not in out:
            raise RewardlabError(f"--reward {spec!r}: expected a preset ({', '.join(ANNOTATOR_PRESETS)}) or "
                                 f"length=B,agreement=B,format=B; got {item!r}")
        try:
            out[key.strip()] = float(val)
        except ValueError:
            raise RewardlabError(f"--reward {spec!r}: {key.strip()} must be a number, got {val!r}") from None
    return out


def annotator_config(preset: str) -> SimConfig:
    """The simulator config of a simulated annotator preset (its biases; per-family noise as SimConfig's).

    Raises:
        RewardlabError: an unknown preset (see :func:`parse_annotator`).

    Example:
        >>> annotator_config("human_like").length_bias
        1.0
    """
    b = parse_annotator(preset)
    return SimConfig(length_bias=b["length"], agreement_bias=b["agreement"], format_bias=b["format"])
