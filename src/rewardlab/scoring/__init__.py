"""Scoring: RewardOutput, the Scorer protocol, and scorers for checkpoints, ensemble folders, HTTP servers,
callables and files; MemoScorer scores each distinct item once.

Names are imported on first use, so `rewardlab.scoring.output` (RewardOutput) loads no torch.
"""

from rewardlab._entry import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.batching": ("length_batches",),
    "rewardlab.scoring.base": ("CallableScorer", "FileScorer", "HTTPScorer", "ModelScorer", "Scorer", "get_scorer",
                               "item_key", "load_scorer"),
    "rewardlab.scoring.distributed": ("ShardedScorer", "prescore"),
    "rewardlab.scoring.ensemble": ("EnsembleScorer", "is_ensemble_folder"),
    "rewardlab.scoring.memo": ("MemoScorer", "RewardTable"),
    "rewardlab.scoring.output": ("RewardOutput",),
})
