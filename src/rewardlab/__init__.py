"""rewardlab: the whole life of a reward model.

The public Python API; every name is imported on first use, so `import rewardlab` stays fast:

    from rewardlab import load, train, TrainConfig, evaluate, audit, get_scorer, RewardOutput

- `run(spec)`: any stage with the spec its command builds (`rewardlab.run(EvalSpec.from_options(model=...,
  output=...))` is `rewardlab eval -m ... -o ...` without the printing; `rewardlab.stages`);
- `load(path, device="auto")`: a checkpoint or any HF reward model, ready to score;
- `train(cfg)` with `TrainConfig` (a validated tree of specs; `TrainConfig.from_options(lr=3e-4)`, `from_yaml`):
  train and save a reward model (`rewardlab.train.trainer.train`);
- `best_of_n(scorer, prompts, candidates, select="lcb:1")`, `run_goodhart(...)`, `pessimistic_scores(rule, ...)`:
  use a reward model to choose, with pessimism, and trace overoptimisation curves (`rewardlab.optimize`);
- `DataSpec(source, layout, ...)`: where records come from and how to read them (`.load()`), as on every command;
- `get_scorer(spec)`: a Scorer from a checkpoint path, an http(s) reward server, `file:` scores or `py:module:fn`;
- `train_ensemble(EnsembleSpec(...))`: an ensemble of members that differ in backbone, depth, LoRA or full and
  seed, saved as one folder that `load_scorer(path)` (an `EnsembleScorer`) and every consumer load;
- `evaluate(scorer, datasets, out_dir)`: accuracy with CIs, calibration, PPE metrics, plots;
- `audit(scorer, pairs, cases, out_dir)`: the reward-hacking audit (`rewardlab.audit.run.run_audit`);
- `build_report(folder)`: one self-contained report.html; `build_comparison({name: folder}, out)`: models side by
  side, each beside the first;
- `RewardOutput`, `ModelScorer`, `CallableScorer`, `HTTPScorer`, `HeadSpec`, `RenderSpec`, `load_data`, `simulate_pairs`, `SimConfig`.

`rewardlab.train` and `rewardlab.audit` are also the subpackages of those stages; calling them runs the stage.
"""

from __future__ import annotations

from typing import Any

import rewardlab.record_kinds  # noqa: F401  (registers the built-in record kinds; imports no stage)
from rewardlab._entry import lazy_package
from rewardlab.version import __version__

_CALLABLE_PACKAGES = ("train", "audit")  # subpackages that run their stage when called
_names, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.train.config": ("TrainConfig",),
    "rewardlab.eval.evaluate": ("evaluate", "compare_runs"),
    "rewardlab.scoring.base": ("get_scorer", "load_scorer", "ModelScorer", "CallableScorer", "HTTPScorer"),
    "rewardlab.scoring.output": ("RewardOutput",),
    "rewardlab.scoring.ensemble": ("EnsembleScorer",),
    "rewardlab.ensemble.spec": ("EnsembleSpec",),
    "rewardlab.ensemble.run": ("train_ensemble",),
    "rewardlab.models.reward_model": ("HeadSpec",),
    "rewardlab.render": ("RenderSpec",),
    "rewardlab.data.load": ("load_data",),
    "rewardlab.data.spec": ("DataSpec",),
    "rewardlab.optimize.run": ("best_of_n", "run_goodhart"),
    "rewardlab.rules": ("pessimistic_scores",),
    "rewardlab.config": ("ConfigError",),
    "rewardlab.simulate": ("simulate_pairs", "SimConfig"),
    "rewardlab.report.page": ("build_report",),
    "rewardlab.report.compare": ("build_comparison",),
    "rewardlab.errors": ("RewardlabError",),
    "rewardlab.stages": ("run",),
}, subpackages=_CALLABLE_PACKAGES)
__all__ = ["__version__", "load", *_CALLABLE_PACKAGES, *_names]


def load(path: str, device: str | None = "auto") -> Any:
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
        >>> rewardlab.ModelScorer(lm).score(["2+2?"], ["4"]).mean  # doctest: +SKIP
    """
    from rewardlab.models.checkpoint import load as _load

    return _load(path, device)

