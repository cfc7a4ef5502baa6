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
    load_scorer,
)
from rewardlab.scoring.distributed import CachedScorer, ShardedScorer, prescore
from rewardlab.scoring.ensemble import EnsembleScorer, is_ensemble_folder
from rewardlab.scoring.output import RewardOutput

__all__ = ["CachedScorer", "CallableScorer", "EnsembleScorer", "FileScorer", "HTTPScorer", "ModelScorer", "RewardOutput",
           "Scorer", "ShardedScorer", "get_scorer", "is_ensemble_folder", "item_key", "length_batches", "load_scorer",
           "prescore"]
