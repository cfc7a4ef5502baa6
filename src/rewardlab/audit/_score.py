"""One batched, checked Scorer call per audit stage."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rewardlab.data.schema import Text
from rewardlab.errors import RewardlabError
from rewardlab.scoring.base import Scorer


def score_finite(scorer: Scorer, prompts: Sequence[Text], responses: Sequence[Text], progress: bool,
                 stage: str) -> np.ndarray:
    """Mean rewards of one batched scorer call; a clear error when the scorer returns NaN/inf or a wrong count."""
    out = scorer.score(list(prompts), list(responses), progress=progress).mean
    if out.shape != (len(responses),):
        raise RewardlabError(f"{stage}: scorer {getattr(scorer, 'name', scorer)!r} returned {out.shape[0]} rewards "
                             f"for {len(responses)} responses")
    bad = ~np.isfinite(out)
    if bad.any():
        raise RewardlabError(f"{stage}: scorer {getattr(scorer, 'name', scorer)!r} returned {int(bad.sum())} "
                             f"non-finite rewards of {len(out)} (the audit needs a number for every response)")
    return out
