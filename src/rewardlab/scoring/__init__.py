"""Scoring: RewardOutput, the Scorer protocol, and scorers for checkpoints, HTTP servers, callables and files."""

from rewardlab.batching import length_batches
from rewardlab.scoring.base import (
    CallableScorer,
    FileScorer,
    HTTPScorer,
    ModelScorer,
    Scorer,
    get_scorer,
    item_key,
)
from rewardlab.scoring.distributed import CachedScorer, ShardedScorer, prescore
from rewardlab.scoring.output import RewardOutput

__all__ = ["CachedScorer", "CallableScorer", "FileScorer", "HTTPScorer", "ModelScorer", "RewardOutput", "Scorer",
           "ShardedScorer", "get_scorer", "item_key", "length_batches", "prescore"]
