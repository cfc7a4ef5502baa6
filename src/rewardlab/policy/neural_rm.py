"""A neural reward model the optimisation loop can update in-process: a rewardlab checkpoint (a fine-tuned MiniLM,
any model `rewardlab.scoring.get_scorer` loads as a `ModelScorer`) fine-tuned on the policy's own samples.

`rewardlab optimize --reward RM_FOLDER --rm-update-every k` wraps the loaded model in a :class:`NeuralRewardModel`
(a copy: the loaded scorer itself is never changed). Every k steps the loop samples pairs from the current policy,
labels them with the simulated annotator and calls :meth:`NeuralRewardModel.update`:

- the training set of one update is the new pairs plus up to `replay` pairs drawn (seeded) from earlier updates'
  pairs, so the model keeps what it learnt on earlier policies;
- `steps` AdamW steps (constant `lr`, gradient norm clipped at 1) on batches of `batch_size` pairs, reshuffled each
  pass, on every trainable weight but the input token embeddings, which stay frozen (`freeze_embeddings`: in MiniLM
  they are half the parameters, and their dense gradient and Adam update took half of each step's time for the
  rarest words of a few hundred pairs); the Bradley-Terry loss and the forward pass are the training stage's own
  (`rewardlab.train.trainer.RewardTrainingModule` over `rewardlab.train.losses.get_loss`), the pairs are tokenised
  by `rewardlab.train.collate.encode_pairs` through the model's own renderer (the one scoring uses) and batched by
  `rewardlab.train.collate.PairCollator`; every batch goes to the model's device;
- dropout and the batch order draw from streams seeded by (seed, update number), so an update is reproducible;
- it reports the BT loss and accuracy on the new pairs before and after (from the model's rewards), the pairs
  replayed and the seconds it took.

Why a plain torch loop and not the HF Trainer that `rewardlab train` uses: an update is a few dozen optimiser
steps on a few hundred pairs, repeated every k policy steps. The Trainer would build its accelerator, data loader,
scheduler and output folder each time (seconds of overhead per update, files nobody reads) and owns the global
random state; a loop of a few lines does the same steps with the same module and loss, keeps the random state to
itself (`torch.random.fork_rng`) and leaves the model in place for scoring.

Checkpoints: the loop saves its state through :meth:`NeuralRewardModel.to_dict`, which writes the weights the
updates train (all but the frozen embeddings; the rest equal the source checkpoint's) as safetensors into the run's
folder (``rm-<member>-update<N>.safetensors``: the file of the current update and the
one before it are kept, so the checkpoint on disk always names a file that exists) and returns JSON holding the
path, the source checkpoint, the settings and the update pairs (texts, for replay), never weights.
:meth:`NeuralRewardModel.load_dict` restores them in place; a resumed run equals an uninterrupted one.

Example:
    >>> from rewardlab.policy.neural_rm import NeuralRewardModel
    >>> rm = NeuralRewardModel.from_path("runs/rm", device="cpu", steps=30, lr=2e-5)  # doctest: +SKIP
    >>> info = rm.update([{"prompt": "2+2?", "chosen": "4.", "rejected": "5.", "label": 1.0}] * 8)  # doctest: +SKIP
    >>> info["loss_after"] < info["loss_before"]  # doctest: +SKIP
    True
"""

from __future__ import annotations

import copy
import logging
import math
import os
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rewardlab.errors import RewardlabError
from rewardlab.scoring.output import RewardOutput

log = logging.getLogger(__name__)

SCHEMA = "rewardlab.neural_rm/1"
#: the update settings, their defaults and what they must satisfy
DEFAULTS: dict[str, Any] = {"steps": 30, "lr": 2e-5, "batch_size": 16, "replay": 256, "seed": 0}


def check_settings(steps: int, lr: float, batch_size: int, replay: int, seed: int) -> None:
    """Raise a clear error for update settings out of range.

    Args:
        steps: optimiser steps per update (>= 1).
        lr: AdamW learning rate (> 0, finite).
        batch_size: pairs per optimiser step (>= 1).
        replay: most earlier update pairs replayed per update (>= 0).
        seed: base seed of the update streams (>= 0).

    Raises:
        RewardlabError: a value out of range (the message names it).

    Example:
        >>> check_settings(steps=0, lr=1e-5, batch_size=16, replay=0, seed=0)
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: neural reward-model update: steps must be >= 1, got 0
    """
    rules = (("steps", steps, steps >= 1, ">= 1"), ("batch_size", batch_size, batch_size >= 1, ">= 1"),
             ("replay", replay, replay >= 0, ">= 0"), ("seed", seed, seed >= 0, ">= 0"),
             ("lr", lr, lr > 0 and math.isfinite(lr), "> 0 and finite"))
    for name, value, ok, rule in rules:
        if not ok:
            raise RewardlabError(f"neural reward-model update: {name} must be {rule}, got {value}")


def _checked_pairs(pairs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pairs as {prompt, chosen, rejected, label}; a clear error for anything else."""
    if isinstance(pairs, dict | str) or not isinstance(pairs, Sequence):
        raise RewardlabError(f"neural reward-model update: pairs must be a list of dicts, got {type(pairs).__name__}")
    if not pairs:
        raise RewardlabError("neural reward-model update: no pairs to learn from")
    out = []
    for i, p in enumerate(pairs):
        if not isinstance(p, dict):
            raise RewardlabError(f"neural reward-model update: pair {i} is a {type(p).__name__}, not a dict")
        for k in ("prompt", "chosen", "rejected"):
            if not isinstance(p.get(k), str):
                raise RewardlabError(f"neural reward-model update: pair {i} needs a text {k!r}, got "
                                     f"{type(p.get(k)).__name__}")
        label = p.get("label")
        if label is not None and not (isinstance(label, int | float) and 0.0 <= float(label) <= 1.0):
            raise RewardlabError(f"neural reward-model update: pair {i}: label must be in [0, 1], got {label!r}")
        out.append({"prompt": p["prompt"], "chosen": p["chosen"], "rejected": p["rejected"],
                    "label": 1.0 if label is None else float(label)})
    return out


class NeuralRewardModel:
    """An updatable wrapper around a loaded rewardlab reward model: scores like a `ModelScorer`, fine-tunes with
    Bradley-Terry on new pairs plus replayed earlier ones (see the module docstring).

    Args:
        loaded: a `rewardlab.models.checkpoint.LoadedModel`; the wrapper trains this model in place (use
            :meth:`from_scorer`, which copies, to leave a scorer's model untouched).
        name: the name in logs and results (default: the checkpoint path).
        steps, lr, batch_size, replay, seed: the update settings (:func:`check_settings`).
        source: the checkpoint folder the weights started from (for :meth:`from_dict` in a new process).
        bf16: score under bf16 autocast (training runs in fp32).
        token_budget: the most tokens of one scoring batch.
        loss: a loss of `rewardlab.train.losses` ("bt", the default training loss, or "soft" for vote shares).
        freeze_embeddings: keep the input token embeddings fixed during updates (see the module docstring).
        prefix_sharing: as `ModelScorer`'s (None: wherever the model allows it exactly).

    Raises:
        RewardlabError: settings out of range; a model that is not a scalar reward model.

    Example:
        >>> from rewardlab.scoring import get_scorer
        >>> rm = NeuralRewardModel.from_scorer(get_scorer("runs/rm", device="cpu"))  # doctest: +SKIP
        >>> rm.score(["2+2?"], ["4."]).mean.shape  # doctest: +SKIP
        (1,)
    """

    def __init__(self, loaded: Any, name: str | None = None, steps: int = DEFAULTS["steps"],
                 lr: float = DEFAULTS["lr"], batch_size: int = DEFAULTS["batch_size"],
                 replay: int = DEFAULTS["replay"], seed: int = DEFAULTS["seed"], source: str | None = None,
                 bf16: bool = False, token_budget: int = 16384, loss: str = "bt", freeze_embeddings: bool = True,
                 prefix_sharing: bool | None = None):
        from rewardlab.scoring.base import ModelScorer

        check_settings(steps, lr, batch_size, replay, seed)
        if loaded.model.head_spec.n_members != 1 or loaded.model.head_spec.member_gaussian:
            raise RewardlabError(f"neural reward-model updates need a scalar reward model; {name or 'this model'} "
                                 f"has a {loaded.model.head_spec.head} head")
        self.loaded = loaded
        self.source = source if source is not None else loaded.meta.get("path")
        self.name = name or str(self.source or "model")
        self.steps, self.lr, self.batch_size, self.replay, self.seed = steps, float(lr), batch_size, replay, seed
        self.loss, self.freeze_embeddings = loss, bool(freeze_embeddings)
        self.scorer = ModelScorer(loaded, token_budget=token_budget, bf16=bf16, name=self.name,
                                  prefix_sharing=prefix_sharing)
        self.pairs: list[dict[str, Any]] = []
        self.updates = 0
        self._files: list[Path] = []

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_scorer(cls, scorer: Any, **settings: Any) -> NeuralRewardModel:
        """Wrap a copy of a `ModelScorer`'s model (the scorer and its model stay as they were).

        Args:
            scorer: a ModelScorer (what `get_scorer` returns for a checkpoint folder).
            **settings: steps, lr, batch_size, replay, seed, loss, freeze_embeddings.

        Returns:
            NeuralRewardModel on the scorer's device, with its name, bf16, token budget and prefix sharing (the copy
            doubles the model's memory there).

        Raises:
            RewardlabError: not a single-model scorer, or settings out of range.
        """
        loaded = getattr(scorer, "loaded", None)
        if loaded is None or not hasattr(loaded, "model"):
            raise RewardlabError(f"{getattr(scorer, 'name', scorer)!r} is not a single reward model (a ModelScorer); "
                                 "only those can be updated in the loop")
        from rewardlab.models.checkpoint import LoadedModel

        copied = LoadedModel(copy.deepcopy(loaded.model), loaded.tokenizer, loaded.renderer, dict(loaded.meta))
        return cls(copied, name=getattr(scorer, "name", None), bf16=bool(getattr(scorer, "bf16", False)),
                   token_budget=int(getattr(scorer, "token_budget", 16384)),
                   prefix_sharing=getattr(scorer, "prefix_sharing", None), **settings)

    @classmethod
    def from_path(cls, path: str, device: str | torch.device | None = "auto", **settings: Any) -> NeuralRewardModel:
        """Load a checkpoint folder (or the 'minilm' alias) onto `device` and wrap it.

        Raises:
            RewardlabError: nothing loadable at `path`, or settings out of range.
        """
        from rewardlab.models.checkpoint import load
        from rewardlab.runtime import resolve_device

        loaded = load(path, device=resolve_device(device))
        loaded.meta.setdefault("path", path)
        return cls(loaded, name=settings.pop("name", path), source=path, **settings)

    def copy(self) -> NeuralRewardModel:
        """An independent copy (weights, update pairs and counts)."""
        new = NeuralRewardModel.from_scorer(self.scorer, **self.settings())
        new.source, new.pairs, new.updates = self.source, list(self.pairs), self.updates
        return new

    def settings(self) -> dict[str, Any]:
        """The update settings, as the constructor takes them."""
        return {"steps": self.steps, "lr": self.lr, "batch_size": self.batch_size, "replay": self.replay,
                "seed": self.seed, "loss": self.loss, "freeze_embeddings": self.freeze_embeddings}

    def trained_names(self) -> list[str]:
        """Names of the parameters an update trains: every trainable one but the frozen input embeddings."""
        rm = self.loaded.model
        frozen: set[int] = set()
        if self.freeze_embeddings:
            try:
                emb = rm.hf.get_input_embeddings()
            except (AttributeError, NotImplementedError):  # deliberate: a backbone without an embedding table
                log.info("%s: the backbone exposes no input embeddings; the update trains every parameter", self.name)
                emb = None
            frozen = {id(p) for p in emb.parameters()} if emb is not None else set()
        return [n for n, p in rm.named_parameters() if p.requires_grad and id(p) not in frozen]

    @property
    def device(self) -> torch.device:
        """Where the model (and every batch) is."""
        return self.scorer.device

    # ------------------------------------------------------------------ scoring and updates

    def score(self, prompts: Sequence[Any], responses: Sequence[Any], progress: bool = False) -> RewardOutput:
        """Rewards of each (prompts[i], responses[i]) from the current weights (the Scorer interface).

        Raises:
            RewardlabError: prompts and responses differ in length.
        """
        return self.scorer.score(prompts, responses, progress=progress)

    def pair_metrics(self, pairs: Sequence[dict[str, Any]]) -> dict[str, float]:
        """BT loss -log sigma(r_c - r_r) and accuracy (ties 1/2) of the current model on `pairs`.

        Args:
            pairs: records {prompt, chosen, rejected[, label]}.

        Returns:
            {"loss": mean BT loss, "accuracy": share of pairs with r_c > r_r}.

        Raises:
            RewardlabError: malformed pairs.

        Example:
            >>> rm.pair_metrics([{"prompt": "2+2?", "chosen": "4.", "rejected": "5."}])  # doctest: +SKIP
            {'loss': 0.61, 'accuracy': 1.0}
        """
        ps = _checked_pairs(pairs)
        prompts = [p["prompt"] for p in ps]
        rc = np.asarray(self.score(prompts, [p["chosen"] for p in ps]).mean, dtype=float)
        rr = np.asarray(self.score(prompts, [p["rejected"] for p in ps]).mean, dtype=float)
        d = rc - rr
        return {"loss": float(np.mean(np.logaddexp(0.0, -d))),
                "accuracy": float(np.mean(np.where(d == 0, 0.5, d > 0)))}

    def update(self, pairs: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Fine-tune on `pairs` plus replayed earlier update pairs: one iterative reward-model update.

        Args:
            pairs: records {prompt, chosen, rejected[, label]} (what `rewardlab.policy.rewards.label_pairs` returns;
                other keys are ignored).

        Returns:
            {"pairs", "replayed", "steps", "loss_before", "loss_after", "accuracy_before", "accuracy_after"
            (on the new pairs), "train_loss_first", "train_loss_last" (the first and last batches), "seconds"}.

        Raises:
            RewardlabError: no pairs, a pair without text prompt / chosen / rejected, a label outside [0, 1], or a
                non-finite training loss.
        """
        from rewardlab.data.schema import PreferencePair
        from rewardlab.runtime import to_device
        from rewardlab.train.collate import PairCollator, encode_pairs
        from rewardlab.train.losses import get_loss
        from rewardlab.train.trainer import RewardTrainingModule

        new = _checked_pairs(pairs)
        t0 = time.perf_counter()
        rng = random.Random(f"rewardlab-neural-rm-{self.seed}-{self.updates}")
        replayed = rng.sample(self.pairs, min(self.replay, len(self.pairs)))
        train = new + replayed
        before = self.pair_metrics(new)
        rm = self.loaded.model
        examples = encode_pairs(self.loaded.renderer, [PreferencePair(p["prompt"], p["chosen"], p["rejected"],
                                                                      label=p["label"]) for p in train])
        module = RewardTrainingModule(rm, get_loss(self.loss))
        names = set(self.trained_names())
        held = [p for n, p in rm.named_parameters() if p.requires_grad and n not in names]
        params = [p for n, p in rm.named_parameters() if n in names] + list(module.loss_fn.parameters())
        opt = torch.optim.AdamW(params, lr=self.lr, weight_decay=0.0)
        collate = PairCollator(self.loaded.tokenizer.pad_token_id)
        dev = self.device
        order: list[int] = []
        per_step = min(self.batch_size, len(examples))
        losses = []
        devices = [dev.index or 0] if dev.type == "cuda" else []
        for p in held:
            p.requires_grad_(False)
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(rng.getrandbits(63))
                rm.train()
                for _ in range(self.steps):
                    if len(order) < per_step:  # a fresh shuffled pass over the pairs when the last one runs out
                        more = list(range(len(examples)))
                        rng.shuffle(more)
                        order += more
                    take, order = order[:per_step], order[per_step:]
                    batch = to_device(collate([examples[i] for i in take]), dev)
                    loss = module(**batch)["loss"]
                    if not torch.isfinite(loss):
                        raise RewardlabError(f"neural reward-model update {self.updates + 1}: the training loss "
                                             f"became {float(loss.detach())} (lower --rm-update-lr, now {self.lr})")
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, 1.0)
                    opt.step()
                    losses.append(float(loss.detach()))
        finally:
            rm.eval()
            for p in held:
                p.requires_grad_(True)
        self.pairs = self.pairs + new
        self.updates += 1
        after = self.pair_metrics(new)
        info = {"pairs": len(new), "replayed": len(replayed), "steps": self.steps,
                "loss_before": before["loss"], "loss_after": after["loss"],
                "accuracy_before": before["accuracy"], "accuracy_after": after["accuracy"],
                "train_loss_first": losses[0], "train_loss_last": losses[-1],
                "seconds": round(time.perf_counter() - t0, 3)}
        log.info("%s: update %d on %d new + %d replayed pairs (%d steps, %.1fs): loss %.3f -> %.3f, accuracy "
                 "%.3f -> %.3f", self.name, self.updates, len(new), len(replayed), self.steps, info["seconds"],
                 before["loss"], after["loss"], before["accuracy"], after["accuracy"])
        return info

    # ------------------------------------------------------------------ state

    def to_dict(self, folder: str | os.PathLike | None = None, stem: str = "neural_rm") -> dict[str, Any]:
        """JSON-ready state; updated weights go to `folder` as safetensors and only their path goes in the JSON.

        Args:
            folder: where the weights file is written (the run's output folder); not needed before any update.
            stem: the file name's start (one per reward member: the loop passes ``rm-<index>``).

        Returns:
            {"schema", "source", "name", "settings", "updates", "pairs", "weights"} (weights: the file's absolute
            path, or None before the first update: the source checkpoint's weights).

        Raises:
            RewardlabError: the model was updated and no folder was given.
        """
        from safetensors.torch import save_file

        weights = None
        if self.updates:
            if folder is None:
                raise RewardlabError(f"{self.name}: an updated neural reward model saves its weights as a file; "
                                     "to_dict needs the folder")
            path = (Path(folder) / f"{stem}-update{self.updates}.safetensors").resolve()
            if not self._files or self._files[-1] != path or not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + ".tmp")
                params = dict(self.loaded.model.named_parameters())
                save_file({n: params[n].detach().contiguous().cpu() for n in self.trained_names()}, str(tmp),
                          metadata={"format": "pt", "schema": SCHEMA, "updates": str(self.updates)})
                os.replace(tmp, path)
                self._files = [f for f in self._files if f != path] + [path]
                for old in self._files[:-2]:  # the checkpoint on disk names the previous file until it is replaced
                    old.unlink(missing_ok=True)
                self._files = self._files[-2:]
            weights = str(path)
        return {"schema": SCHEMA, "source": self.source, "name": self.name, "settings": self.settings(),
                "updates": self.updates, "pairs": list(self.pairs), "weights": weights}

    def load_dict(self, d: dict[str, Any]) -> None:
        """Restore the state of :meth:`to_dict` in place (weights, update pairs, count; the settings stay).

        Raises:
            RewardlabError: not a neural reward model state, or its weights file is missing or does not fit.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise RewardlabError(f"not a neural reward model state (schema {SCHEMA!r})")
        weights = d.get("weights")
        if weights is None:
            if self.updates:
                raise RewardlabError(f"{self.name}: the saved state has no update, but this model was updated "
                                     f"{self.updates} times; load it afresh")
        else:
            if not os.path.exists(weights):
                raise RewardlabError(f"{self.name}: the reward model's weights file {weights} is missing (it is "
                                     "written beside the checkpoint that names it)")
            try:
                saved = load_file(weights)
            except (SafetensorError, OSError) as e:
                raise RewardlabError(f"{self.name}: cannot read the weights {weights}: {e}") from None
            params = dict(self.loaded.model.named_parameters())
            bad = sorted(n for n, t in saved.items() if n not in params or params[n].shape != t.shape)
            if bad:
                raise RewardlabError(f"{self.name}: the weights {weights} do not fit this model ({len(bad)} tensors, "
                                     f"first {bad[0]!r}): resume with the reward model the run started from")
            with torch.no_grad():
                for n, t in saved.items():
                    params[n].copy_(t.to(params[n].device, params[n].dtype))
            self._files = [Path(weights)]
        self.loaded.model.eval()
        self.pairs = list(d.get("pairs", []))
        self.updates = int(d.get("updates", 0))

    @classmethod
    def from_dict(cls, d: dict[str, Any], device: str | torch.device | None = "auto") -> NeuralRewardModel:
        """Inverse of :meth:`to_dict` in a new process: load the source checkpoint, then the saved weights.

        Raises:
            RewardlabError: not a neural reward model state, no source, or a missing weights file.
        """
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise RewardlabError(f"not a neural reward model state (schema {SCHEMA!r})")
        if not d.get("source"):
            raise RewardlabError("neural reward model state without a source checkpoint")
        rm = cls.from_path(str(d["source"]), device=device, name=d.get("name"), **d.get("settings", {}))
        rm.load_dict(d)
        return rm


def updatable_scorer(scorer: Any, settings: dict[str, Any]) -> Any:
    """`scorer` as a reward model the loop can update: itself when it has update(pairs), a
    :class:`NeuralRewardModel` around a copy of its model when it is a single-model `ModelScorer`, else itself
    unchanged (the loop then says it cannot be updated).

    Args:
        scorer: any Scorer.
        settings: the update settings (steps, lr, batch_size, replay, seed).

    Returns:
        The scorer to use.

    Raises:
        RewardlabError: settings out of range, or a model with a non-scalar head.

    Example:
        >>> from rewardlab.scoring.base import CallableScorer
        >>> s = CallableScorer(lambda prompt, response: 1.0)
        >>> updatable_scorer(s, {}) is s
        True
    """
    if callable(getattr(scorer, "update", None)):
        return scorer
    loaded = getattr(scorer, "loaded", None)
    if loaded is not None and hasattr(loaded, "model") and hasattr(loaded, "renderer"):
        return NeuralRewardModel.from_scorer(scorer, **settings)
    return scorer
