"""Training on `transformers.Trainer`: one forward for [chosen; rejected], every loss of the registry,
length-grouped batches, calibration metrics during evaluation, atomic checkpoints and exact resume.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainingArguments

from rewardlab.data.schema import PreferencePair
from rewardlab.errors import RewardlabError
from rewardlab.models.checkpoint import LoadedModel, build_reward_model, data_fingerprint, save_checkpoint
from rewardlab.models.reward_model import RewardModel
from rewardlab.runtime import resolve_device, warn_if_slow_bf16
from rewardlab.train.collate import PairCollator, encode_pairs
from rewardlab.train.config import TrainConfig
from rewardlab.train.losses import DisentangleSpec, PairwiseLoss, anchor_labels, get_loss, pair_loss
from rewardlab.train.prefix import PackedPairCollator, packed_length

logger = logging.getLogger(__name__)
COMPLETE_MARKER = "rewardlab-checkpoint-complete"
CHECKPOINT_DIR = "checkpoints"


class RewardTrainingModule(nn.Module):
    """The reward model and its loss as one module, so the Trainer optimises learned tie parameters too."""

    def __init__(self, rm: RewardModel, loss_fn: PairwiseLoss, bootstrap_weights: torch.Tensor | None = None,
                 disentangle: DisentangleSpec | None = None):
        super().__init__()
        self.rm = rm
        self.loss_fn = loss_fn
        self.disentangle = disentangle
        if bootstrap_weights is not None:
            self.register_buffer("bootstrap_weights", bootstrap_weights, persistent=False)
        else:
            self.bootstrap_weights = None
        self.last_stats: dict[str, float] = {}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, label: torch.Tensor | None = None,
                margin: torch.Tensor | None = None, tie: torch.Tensor | None = None, idx: torch.Tensor | None = None,
                anchor_chosen: torch.Tensor | None = None, anchor_rejected: torch.Tensor | None = None,
                segment_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                len_chosen: torch.Tensor | None = None, len_rejected: torch.Tensor | None = None) -> dict[str, Any]:
        """Loss and rewards for a batch whose first half are chosen rows and second half rejected rows, or of
        packed rows (one pair per row, `segment_ids` given; see `rewardlab.train.prefix`)."""
        if segment_ids is not None:
            out = self.rm.split(self.rm.packed_logits(input_ids, segment_ids, position_ids, token_type_ids))
            b = input_ids.shape[0]
        else:
            out = self.rm(input_ids, attention_mask, token_type_ids)
            b = input_ids.shape[0] // 2
        out_chosen = {k: v[:b] for k, v in out.items()}
        out_rejected = {k: v[b:] for k, v in out.items()}
        batch = {"label": label, "margin": margin, "tie": tie, "anchor_chosen": anchor_chosen,
                 "anchor_rejected": anchor_rejected, "len_chosen": len_chosen, "len_rejected": len_rejected}
        # per-pair training weights (bootstrap, --balance-method weights) index the training pairs: never eval batches
        use_w = self.training and self.bootstrap_weights is not None and idx is not None
        w = self.bootstrap_weights[:, idx] if use_w else None
        loss, stats = pair_loss(self.rm, self.loss_fn, out_chosen, out_rejected, batch, w, self.disentangle)
        self.last_stats = stats
        res = {"loss": loss, "chosen": out_chosen["mean"], "rejected": out_rejected["mean"]}
        if self.rm.head_spec.member_gaussian:  # probit probability; scalar ensembles keep sigmoid(mean delta)
            res["chosen_var"], res["rejected_var"] = out_chosen["var"], out_rejected["var"]
        return res


class GroupedSampler(torch.utils.data.Sampler[int]):
    """Random order, but consecutive batches hold pairs of similar length (less padding), own seeded RNG.

    Megabatches of 50 batches are sorted by length, cut into batches, and the batches are shuffled. The RNG
    depends only on (seed, epoch), so a resumed run sees exactly the batches an uninterrupted run would.
    """

    def __init__(self, lengths: list[int], batch_size: int, seed: int):
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        g = np.random.default_rng([self.seed, self.epoch])
        perm = g.permutation(len(self.lengths))
        mega = self.batch_size * 50
        batches = []
        for s in range(0, len(perm), mega):
            chunk = perm[s : s + mega]
            chunk = chunk[np.argsort(-self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        order = g.permutation(len(batches))
        for b in order:
            yield from (int(i) for i in batches[b])


class RewardTrainer(Trainer):
    """Trainer for pairwise reward losses: running pair metrics in the logs, calibration metrics at eval."""

    def __init__(self, *args: Any, train_lengths: list[int] | None = None, eval_lengths: list[int] | None = None,
                 group_by_length: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.train_lengths = train_lengths
        self.eval_lengths = eval_lengths
        self.group = group_by_length
        self._acc: dict[str, list[float]] = {}

    def _get_train_sampler(self, train_dataset=None):
        if self.group and self.train_lengths is not None:
            return GroupedSampler(self.train_lengths, self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                  self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def _get_eval_sampler(self, eval_dataset):
        if self.eval_lengths is not None and self.args.world_size == 1:
            order = np.argsort(-np.asarray(self.eval_lengths), kind="stable").tolist()
            return order  # a list of indices is a valid sampler; longest first shows memory problems early
        return super()._get_eval_sampler(eval_dataset)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        out = model(**inputs)
        core = model.module if hasattr(model, "module") else model
        for k, v in core.last_stats.items():
            if isinstance(v, float) and math.isfinite(v):
                self._acc.setdefault(k, []).append(v)
        return (out["loss"], out) if return_outputs else out["loss"]

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs and self._acc:
            for k, v in self._acc.items():
                if k != "loss":
                    logs[f"train_{k}"] = round(float(np.mean(v)), 4)
            self._acc = {}
        super().log(logs, *args, **kwargs)

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad():
            out = model(**inputs)
        cols = [out["chosen"], out["rejected"]]
        if "chosen_var" in out:
            cols += [out["chosen_var"], out["rejected_var"]]
        preds = torch.stack(cols, dim=1).float()
        return out["loss"].detach(), preds, inputs["label"]

    def _save_checkpoint(self, model, trial):
        super()._save_checkpoint(model, trial)
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            folder = os.path.join(self._get_output_dir(trial), f"checkpoint-{self.state.global_step}")
            with open(os.path.join(folder, COMPLETE_MARKER), "w") as f:
                f.write(str(self.state.global_step))


def pair_eval_metrics(preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy, preference NLL, Brier, ECE and reward gap from [N, 2 or 4] predictions (chosen, rejected, vars)."""
    from rewardlab.stats.calibration import brier_score, pairwise_ece, preference_nll

    preds = np.asarray(preds, dtype=np.float64)
    delta = raw_delta = preds[:, 0] - preds[:, 1]
    if preds.shape[1] == 4:
        # Gaussian head: P(chosen > rejected) = Phi(delta / sqrt(var_c + var_r)); express it as a logit so the
        # sigmoid-based metrics below score the model's own probability
        from scipy.special import logit, ndtr

        p = np.clip(ndtr(delta / np.sqrt(preds[:, 2] + preds[:, 3])), 1e-12, 1 - 1e-12)
        delta = logit(p)
    y = np.clip(np.asarray(labels, dtype=float), 0, 1)
    hard = np.where(y >= 0.5, 1.0, 0.0)
    acc = np.where(delta == 0, 0.5, ((delta > 0) == (hard > 0.5)).astype(float))
    m = {
        "accuracy": float(acc.mean()),
        "nll": preference_nll(delta, y),
        "brier": brier_score(delta, y),
        "ece": pairwise_ece(delta, y),
        "reward_gap": float(raw_delta.mean()),
        "reward_mean": float(preds[:, :2].mean()),
        "reward_std": float(preds[:, :2].std()),
    }
    if preds.shape[1] == 4:
        m["mean_std"] = float(np.sqrt(preds[:, 2:]).mean())
    return m


def _compute_metrics(ev) -> dict[str, float]:
    preds = ev.predictions if not isinstance(ev.predictions, tuple) else ev.predictions[0]
    return pair_eval_metrics(np.asarray(preds), np.asarray(ev.label_ids))


REPORTERS = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "comet_ml": "comet_ml",
             "trackio": "trackio"}


def _check_report_to(report_to: list[str]) -> None:
    """A clear error when a requested logger is not installed (instead of a deep Trainer exception)."""
    import importlib.util

    for r in report_to:
        mod = REPORTERS.get(r)
        if mod is None and r not in ("none", "all"):
            raise RewardlabError(f"--report-to {r!r} is not supported; use one of {sorted(REPORTERS)}")
        if mod and importlib.util.find_spec(mod) is None:
            raise RewardlabError(f"--report-to {r} needs the package {mod!r}: pip install {mod}")


def latest_complete_checkpoint(output: str) -> str | None:
    """The newest checkpoint folder whose completion marker exists (half-written ones are ignored)."""
    root = os.path.join(output, CHECKPOINT_DIR)
    if not os.path.isdir(root):
        return None
    best, best_step = None, -1
    for name in os.listdir(root):
        path = os.path.join(root, name)
        if name.startswith("checkpoint-") and os.path.exists(os.path.join(path, COMPLETE_MARKER)):
            step = int(name.split("-")[-1])
            if step > best_step:
                best, best_step = path, step
    return best


@dataclass
class TrainData:
    """Training and evaluation pairs plus where they came from; after `--balance length`, the per-pair training
    weights (`--balance-method weights`, else None) and the balance report (a dict, else None)."""

    train: list[PreferencePair]
    eval: list[PreferencePair]
    source: str
    eval_source: str
    train_weights: np.ndarray | None = None
    balance: dict[str, Any] | None = None
    augment: dict[str, Any] | None = None


def split_by_prompt(pairs: list[PreferencePair], frac: float, seed: int) -> tuple[list, list]:
    """Hold out `frac` of the prompts (all their pairs), so no prompt is in both train and eval."""
    import hashlib

    def h(p: PreferencePair) -> float:
        key = json.dumps(p.prompt, sort_keys=True, ensure_ascii=False) + f"|{seed}"
        return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    tr = [p for p in pairs if h(p) >= frac]
    ev = [p for p in pairs if h(p) < frac]
    return tr, ev


def load_train_data(cfg: TrainConfig) -> TrainData:
    """Pairs from the data spec (with held-out pairs from --eval-data or a by-prompt --eval-split), or from the
    simulator when no --data is given.

    Args:
        cfg: the run's config (its `data`, `heldout`, `sim` and `run.seed` sections).
    Returns:
        TrainData: training and held-out pairs and where they came from.
    Raises:
        RewardlabError / DataValidationError: unreadable or invalid data (named by file, line and field).
    """
    def read(src: str) -> list[PreferencePair]:
        res = cfg.data.load(src, pairs_only=True)
        if res.skipped:
            logger.warning(f"skipped {len(res.skipped)} invalid records of {src}:\n{res.skip_summary()}")
        return res.records  # type: ignore[return-value]

    held = cfg.heldout
    if cfg.data.source is None:
        from rewardlab.simulate.datasets import parse_rows
        from rewardlab.simulate.generate import simulate_pairs
        from rewardlab.simulate.stage import build_config

        sim = cfg.sim
        sim_config = build_config(sim.preset, length_bias=sim.length_bias)
        train = parse_rows(simulate_pairs(sim.n, seed=sim.seed, config=sim_config))
        source = f"simulator(n={sim.n}, seed={sim.seed}, preset={sim.preset})"
        if held.data:
            return TrainData(train, read(held.data), source, held.data)
        ev = parse_rows(simulate_pairs(sim.eval_n, seed=sim.seed + 10_000, config=sim_config))
        return TrainData(train, ev, source, f"simulator(n={sim.eval_n}, seed={sim.seed + 10_000})")
    source = cfg.data.source
    train = read(source)
    if held.data:
        return TrainData(train, read(held.data), source, held.data)
    if held.split > 0:
        tr, ev = split_by_prompt(train, held.split, cfg.run.seed)
        return TrainData(tr, ev, source, f"{source} (held-out {held.split:.0%} of prompts)")
    return TrainData(train, [], source, "none")


def _anchor_inputs(cfg: TrainConfig, data: TrainData) -> tuple[list | None, list | None, tuple | None]:
    if not cfg.loss.anchor_columns:
        return None, None, None
    col_chosen, col_rejected = cfg.loss.anchor_columns

    def scores(pairs: list[PreferencePair]) -> tuple[np.ndarray, np.ndarray]:
        try:
            return (np.array([float(p.extra[col_chosen]) for p in pairs]),
                    np.array([float(p.extra[col_rejected]) for p in pairs]))
        except KeyError as e:
            raise RewardlabError(f"anchor column {e.args[0]!r} is missing from some pairs") from None

    sc, sr = scores(data.train)
    _, thresholds = anchor_labels(np.concatenate([sc, sr]))
    ac, _ = anchor_labels(sc, thresholds)
    ar, _ = anchor_labels(sr, thresholds)
    train_anchors = list(zip(ac.tolist(), ar.tolist(), strict=True))
    eval_anchors = None
    if data.eval:
        ec, er = scores(data.eval)
        eval_anchors = list(zip(anchor_labels(ec, thresholds)[0].tolist(), anchor_labels(er, thresholds)[0].tolist(),
                                strict=True))
    return train_anchors, eval_anchors, thresholds


def resolve_pair_layout(cfg: TrainConfig, rm: RewardModel) -> str:
    """How pairs are batched: 'prefix' (one row per pair, prompt once; causal decoders), 'packed' (one row per
    pair: chosen | rejected) or 'plain' ([chosen; rejected] rows, as TRL). Automatic choices are exact.

    Default: 'prefix' wherever the prompt can be shared, else 'plain'. Packing without sharing doubles the
    attention length for nothing saved but the pair's padding, which length grouping already removes: measured
    slower than plain on MiniLM + HH (benchmarks/train_throughput.py, docs/PERFORMANCE.md), so it is opt-in.

    Raises:
        RewardlabError: packing or sharing was asked for and this model cannot do it exactly.
    """
    pack, share = cfg.optim.pack_pairs, cfg.optim.prefix_sharing
    sharing_problem = rm.prefix_sharing_problem()
    if share and sharing_problem:
        raise RewardlabError(f"cannot share the prompt: {sharing_problem}")
    if share is None and sharing_problem and rm.is_causal_decoder():
        logger.warning(f"prompt sharing is off for this causal decoder (each pair runs its prompt twice): "
                       f"{sharing_problem}")
    if pack is None:
        pack = bool(share) or (share is None and sharing_problem is None)
    if pack:
        problem = rm.packing_problem()
        if problem:
            if cfg.optim.pack_pairs or share:
                raise RewardlabError(f"cannot pack pairs for this model: {problem}")
            pack = False
    if not pack:
        logger.info("pair layout: plain (chosen and rejected rows, grouped by length)")
        return "plain"
    if share is None:
        share = sharing_problem is None
    layout = "prefix" if share else "packed"
    logger.info(f"pair layout: {layout} ({'one row per pair, prompt encoded once' if share else 'one row per pair'})")
    return layout


def enable_gradient_checkpointing(rm: RewardModel) -> None:
    """Recompute the backbone's layer activations during the backward pass (non-reentrant checkpoints, so LoRA and
    a frozen embedding need no input gradients); the gradients are those of the plain forward.

    Raises:
        RewardlabError: the backbone does not support gradient checkpointing.
    """
    from rewardlab.models.reward_model import _unwrap_peft

    hf = _unwrap_peft(rm.hf)
    if not getattr(hf, "supports_gradient_checkpointing", False):
        raise RewardlabError(f"--gradient-checkpointing: {type(hf).__name__} does not support it")
    enable = getattr(hf, "activation_checkpointing_enable", None)  # transformers >= 5.24; the older name warns there
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        hf.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    logger.info("gradient checkpointing: layer activations are recomputed in the backward pass")


def pair_lengths(examples: list[dict[str, Any]], layout: str) -> list[int]:
    """Per-pair length for length grouping: the longer sequence (plain) or the packed row."""
    if layout == "plain":
        return [max(len(e["chosen_ids"]), len(e["rejected_ids"])) for e in examples]
    return [packed_length(e, layout == "prefix") for e in examples]


def train_device(device: str | None) -> torch.device:
    """The device type training runs on. The Trainer (accelerate) places the model and every batch itself, one
    device per process under a launcher, so a GPU index is chosen with CUDA_VISIBLE_DEVICES, not here."""
    dev = resolve_device(device)
    if dev.type == "cuda" and dev.index not in (None, 0) and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        raise RewardlabError(f"--device {device}: training picks its GPU through the launcher; run with "
                             f"CUDA_VISIBLE_DEVICES={dev.index} and --device cuda")
    return dev


@dataclass
class TrainResult:
    """Where the model went and what it measured."""

    output: str
    metrics: dict[str, float]
    n_train: int
    n_eval: int
    n_truncated: int
    loaded: LoadedModel
    data: TrainData | None = None  # the pairs trained and evaluated on (after balancing and augmentation)

    def lines(self) -> list[str]:
        """The held-out figures (when there was a held-out set) and where the model went."""
        m = self.metrics
        out = []
        if m:
            out.append(f"held-out: accuracy {m.get('accuracy', float('nan')):.3f}  nll {m.get('nll', float('nan')):.3f}  "
                       f"ece {m.get('ece', float('nan')):.3f}  ({self.n_eval} pairs)")
        return [*out, f"saved reward model to {self.output}"]


# ---------------------------------------------------------------- the recipe


@dataclass
class Prepared:
    """Everything a strategy needs: data, model, loss and the encoded pairs (the output of `setup`)."""

    cfg: TrainConfig
    data: TrainData
    loaded: LoadedModel
    loss_fn: PairwiseLoss
    loss_name: str
    train_ex: list[dict[str, Any]]
    eval_ex: list[dict[str, Any]] | None
    thresholds: tuple | None
    n_truncated: int
    bootstrap: torch.Tensor | None
    device: torch.device
    disentangle: DisentangleSpec | None = None  # the regularisers of --head disentangled
    length: Any = None  # LengthReport of the training pairs (--max-length auto, or heavy truncation)
    feature_cache: dict[Any, Any] | None = None  # pooled features shared by frozen runs (see FrozenFeatureStrategy)


def balance_train_data(cfg: TrainConfig, data: TrainData) -> TrainData:
    """`--balance length`: balance the training pairs (never the held-out ones) and log the per-bin report."""
    from rewardlab.data.balance import balance_pairs

    spec = cfg.balance
    res = balance_pairs(data.train, method=spec.method, bins=spec.bins, seed=cfg.run.seed)  # type: ignore[arg-type]
    for line in res.report.lines():
        logger.info(line)
    if not res.pairs:
        raise RewardlabError("--balance length left no training pairs (every bin had pairs in one direction only)")
    data.train, data.train_weights, data.balance = res.pairs, res.weights, res.report.to_dict()
    return data


def augment_train_data(cfg: TrainConfig, data: TrainData) -> TrainData:
    """`--augment`: add counterfactual pairs to the training pairs (never the held-out ones), built with the
    audit's probe transforms, and log what was added; balanced weights (if any) give added pairs weight 1."""
    from rewardlab.train.augment import augment_pairs, tie_labelling

    spec = cfg.augment
    how = tie_labelling(cfg.loss_name) if "ties" in spec.kinds else None
    n = len(data.train)
    pairs, report = augment_pairs(data.train, spec.kinds, spec.probes, seed=cfg.run.seed, rate=spec.rate,
                                  tie_label=how)
    for line in report.lines():
        logger.info(line)
    if data.train_weights is not None:
        data.train_weights = np.concatenate([data.train_weights, np.ones(len(pairs) - n)])
    data.train, data.augment = pairs, report.to_dict()
    return data


def setup_data(cfg: TrainConfig, loaded: TrainData | None = None) -> TrainData:
    """Step 1: read (or simulate) the pairs, balance the training pairs when asked (`--balance length`), and check
    that the loss can use them. `loaded`: pairs already read with `load_train_data` for the same data settings
    (a sweep reads them once for all its runs); balancing and augmenting work on a copy, never on it."""
    data = load_train_data(cfg) if loaded is None else dataclasses.replace(loaded)
    if not data.train:
        raise RewardlabError("no training pairs")
    if cfg.balance.enabled:
        data = balance_train_data(cfg, data)
    if cfg.augment.enabled:
        data = augment_train_data(cfg, data)
    if cfg.loss_name == "margin" and all(p.margin is None for p in data.train):
        raise RewardlabError("--loss margin needs a `margin` column; none of the training pairs has one")
    if cfg.loss_name in ("rao_kupper", "davidson") and not any(p.tie for p in data.train):
        logger.warning("no tied pairs in the training data; the tie parameter will shrink toward 0")
    return data


def encode_cached(loaded: LoadedModel, pairs: list[PreferencePair], anchors: list | None,
                  cache: dict[Any, list[dict[str, Any]]] | None) -> list[dict[str, Any]]:
    """`encode_pairs` through a cache shared by runs on the same tokenizer (a sweep's rungs on one backbone):
    keyed by the backbone's folder, the resolved RenderSpec and the pairs' fingerprint, so a hit gives exactly the
    ids encoding would give. Pairs with anchor columns are encoded afresh."""
    if cache is None or anchors is not None:
        return encode_pairs(loaded.renderer, pairs, anchors)
    key = (str(loaded.meta.get("base_model_path")), len(loaded.tokenizer),
           json.dumps(loaded.renderer.spec.to_dict(), sort_keys=True), data_fingerprint(pairs))
    if key in cache:
        logger.info(f"reusing the tokenised {len(pairs)} pairs of an earlier run on this tokenizer")
    else:
        cache[key] = encode_pairs(loaded.renderer, pairs, anchors)
    return cache[key]


def setup_model(cfg: TrainConfig, data: TrainData,
                encode_cache: dict[Any, list[dict[str, Any]]] | None = None) -> Prepared:
    """Step 2: build the model, the loss (with anchors) and the encoded pairs (through `encode_cache` when given,
    see `encode_cached`)."""
    render, length = cfg.render, None
    if render.max_length == "auto":
        from rewardlab.train.max_length import resolve_max_length

        render, length = resolve_max_length(cfg.model.backbone, render, data.train)
    loaded = build_reward_model(cfg.model.backbone, cfg.model.head.spec(), render, seed=cfg.run.seed,
                                lora=cfg.model.lora.as_dict(), freeze_backbone=cfg.model.freeze_backbone,
                                num_layers=cfg.model.num_layers)
    train_anchors, eval_anchors, thresholds = _anchor_inputs(cfg, data)
    loss_kwargs: dict[str, Any] = {"center_eta": cfg.loss.center_eta}
    if cfg.loss_name == "gaussian":
        loss_kwargs["anchor_lambda"] = cfg.loss.anchor_lambda if thresholds else 0.0
        loss_kwargs["anchor_thresholds"] = thresholds
    loss_fn = get_loss(cfg.loss_name, **loss_kwargs)
    train_ex = encode_cached(loaded, data.train, train_anchors, encode_cache)
    eval_ex = encode_cached(loaded, data.eval, eval_anchors, encode_cache) if data.eval else None
    n_trunc = sum(e["truncated"] for e in train_ex) + sum(e["truncated"] for e in eval_ex or [])
    length = _length_note(cfg, loaded, data, train_ex, length)
    if n_trunc:
        logger.warning(f"{n_trunc} pairs were longer than max_length={loaded.renderer.spec.max_length} tokens and "
                       "were truncated (end of prompt and start of response kept), none dropped")
    boot = None
    n_members = loaded.model.head_spec.n_members
    if n_members > 1 and cfg.optim.bootstrap:
        g = torch.Generator().manual_seed(cfg.run.seed + 7)
        boot = torch.poisson(torch.ones(n_members, len(train_ex)), generator=g)
    if data.train_weights is not None:  # --balance-method weights: the same per-pair weight for every member
        w = torch.as_tensor(data.train_weights, dtype=torch.float32).expand(n_members, -1)
        boot = w.clone() if boot is None else boot * w
    device = train_device(cfg.run.device)
    warn_if_slow_bf16(device, cfg.run.bf16)
    disentangle = (cfg.loss.disentangle_spec(frozen_backbone=cfg.model.freeze_backbone)
                   if cfg.model.head.kind == "disentangled" else None)
    return Prepared(cfg, data, loaded, loss_fn, cfg.loss_name, train_ex, eval_ex, thresholds, n_trunc, boot, device,
                    disentangle, length)


def _length_note(cfg: TrainConfig, loaded: LoadedModel, data: TrainData, train_ex: list[dict[str, Any]],
                 length: Any) -> Any:
    """The LengthReport of the training pairs when `--max-length auto` made one or when more than 10% of them are
    truncated (measured then, to name the length that keeps 95% whole); logs the note. None otherwise."""
    from rewardlab.train.max_length import NOTE_ABOVE, length_report, pair_token_lengths, position_limit

    share = sum(e["truncated"] for e in train_ex) / max(1, len(train_ex))
    if length is None and share > NOTE_ABOVE:
        lengths = pair_token_lengths(loaded.tokenizer, loaded.renderer.spec, data.train)
        length = length_report(lengths, loaded.renderer.spec.max_length,
                               position_limit(loaded.meta.get("base_model_path") or cfg.model.backbone),
                               floor=loaded.renderer.n_special + 3)
    if length is not None:
        length.resolved = loaded.renderer.spec.max_length
        length.share_truncated = share
        note = length.note()
        if note:
            logger.warning(note)
    return length


class TrainerStrategy:
    """Full fine-tuning (or LoRA) on `transformers.Trainer`: the pair layout, checkpoints and exact resume."""

    name = "trainer"
    extra: dict[str, Any] = {}  # nothing to add to the checkpoint's metadata

    def __init__(self, prep: Prepared, callbacks: list[TrainerCallback] | None = None):
        self.prep = prep
        self.trainer = self._build(prep, callbacks)

    @staticmethod
    def _build(prep: Prepared, callbacks: list[TrainerCallback] | None) -> RewardTrainer:
        cfg, optim, run = prep.cfg, prep.cfg.optim, prep.cfg.run
        layout = resolve_pair_layout(cfg, prep.loaded.model)
        if optim.gradient_checkpointing:
            enable_gradient_checkpointing(prep.loaded.model)
        module = RewardTrainingModule(prep.loaded.model, prep.loss_fn, prep.bootstrap, prep.disentangle)
        _check_report_to(run.report_to)
        eval_ex = prep.eval_ex if prep.eval_ex else None
        args = TrainingArguments(
            output_dir=os.path.join(run.output, CHECKPOINT_DIR),
            num_train_epochs=optim.epochs,
            max_steps=optim.max_steps,
            learning_rate=optim.lr,
            weight_decay=optim.weight_decay,
            warmup_steps=optim.warmup_ratio,
            per_device_train_batch_size=optim.batch_size,
            per_device_eval_batch_size=optim.eval_batch_size,
            gradient_accumulation_steps=optim.grad_accum,
            bf16=run.bf16,
            seed=run.seed,
            logging_steps=run.logging_steps,
            eval_strategy=("steps" if run.eval_steps else "epoch") if eval_ex else "no",
            eval_steps=run.eval_steps,
            save_strategy="steps" if run.save_steps else "epoch",
            save_steps=run.save_steps,
            save_total_limit=run.save_total_limit,
            report_to=run.report_to or "none",
            remove_unused_columns=False,
            label_names=["label"],
            disable_tqdm=not run.progress,
            dataloader_num_workers=0,
            dataloader_pin_memory=False,
            use_cpu=prep.device.type == "cpu",
            ddp_find_unused_parameters=not prep.loaded.model.is_native,
            ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", "1")) > 1 and prep.device.type == "cpu" else None,
        )
        pad_id = prep.loaded.tokenizer.pad_token_id
        collator = PairCollator(pad_id) if layout == "plain" else PackedPairCollator(pad_id, layout == "prefix")
        return RewardTrainer(
            model=module,
            args=args,
            train_dataset=prep.train_ex,
            eval_dataset=eval_ex,
            data_collator=collator,
            compute_metrics=_compute_metrics,
            callbacks=callbacks,
            train_lengths=pair_lengths(prep.train_ex, layout),
            eval_lengths=pair_lengths(eval_ex, layout) if eval_ex else None,
            group_by_length=optim.group_by_length,
        )

    def fit(self) -> dict[str, float]:
        """Train (resuming from the newest complete checkpoint when asked) and return held-out metrics."""
        run, trainer = self.prep.cfg.run, self.trainer
        resume_from = None
        if run.resume:
            resume_from = latest_complete_checkpoint(run.output)
            if resume_from is None:
                logger.warning(f"--resume given but no complete checkpoint in "
                               f"{os.path.join(run.output, CHECKPOINT_DIR)}; starting from scratch")
            else:
                logger.info(f"resuming from {resume_from}")
        trainer.train(resume_from_checkpoint=resume_from)
        last_eval = [h for h in trainer.state.log_history if "eval_accuracy" in h]
        if last_eval and last_eval[-1].get("step") == trainer.state.global_step:
            return {k.removeprefix("eval_"): float(v) for k, v in last_eval[-1].items()
                    if k.startswith("eval_") and isinstance(v, int | float)}
        if self.prep.eval_ex:
            ev = trainer.evaluate()
            return {k.removeprefix("eval_"): float(v) for k, v in ev.items() if isinstance(v, int | float)}
        return {}

    def is_main(self) -> bool:
        return self.trainer.is_world_process_zero()

    def finish(self) -> None:
        self.trainer.accelerator.wait_for_everyone()


class FrozenFeatureStrategy:
    """Frozen backbone: pooled features computed once (exact with dropout off), then the head (all ensemble
    members) trains on them in seconds. Chosen when the backbone is frozen, LoRA is off and the model exposes its
    pooled features."""

    name = "cached_features"
    extra = {"head_training": "cached_features"}

    def __init__(self, prep: Prepared, callbacks: list[TrainerCallback] | None = None):
        """`callbacks` are Trainer callbacks: this strategy runs no Trainer, so it takes them only to keep one
        constructor shape for both strategies."""
        self.prep = prep
        prep.loaded.model.to(prep.device)

    @staticmethod
    def applies(cfg: TrainConfig, loaded: LoadedModel) -> bool:
        return (cfg.model.freeze_backbone and cfg.optim.cache_features and not cfg.model.lora.enabled
                and loaded.model.supports_features())

    def fit(self) -> dict[str, float]:
        from rewardlab.train.collate import pair_columns
        from rewardlab.train.frozen import predict_pairs, train_head_on_features

        prep, optim, run = self.prep, self.prep.cfg.optim, self.prep.cfg.run
        rm = prep.loaded.model
        fc, fr = self.features(prep.train_ex, "training")
        history = train_head_on_features(rm, prep.loss_fn, fc, fr, pair_columns(prep.train_ex),
                                         epochs=optim.head_epochs, lr=optim.head_lr,
                                         batch_size=max(optim.batch_size, 64), seed=run.seed,
                                         weight_decay=optim.weight_decay, bootstrap=prep.bootstrap,
                                         progress=run.progress, disentangle=prep.disentangle)
        metrics: dict[str, float] = {"train_loss": history[-1]}
        if prep.eval_ex:
            ec, er = self.features(prep.eval_ex, "held-out")
            labels = np.array([e["label"] for e in prep.eval_ex])
            metrics.update(pair_eval_metrics(predict_pairs(rm, ec, er), labels))
        return metrics

    def features(self, examples: list[dict[str, Any]], which: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features of the chosen and rejected sequences, through `prep.feature_cache` when given: keyed by
        the backbone folder, its depth, the pooling, bf16 and the token ids, so a hit is what computing would give
        (the backbone is the frozen pretrained one in every run)."""
        from rewardlab.train.frozen import example_features

        prep, run = self.prep, self.prep.cfg.run
        rm = prep.loaded.model
        key = None
        if prep.feature_cache is not None:
            ids = hashlib.sha256(json.dumps([[e["chosen_ids"], e["rejected_ids"], e.get("chosen_tt"),
                                              e.get("rejected_tt")] for e in examples]).encode()).hexdigest()
            key = (str(prep.loaded.meta.get("base_model_path")), rm.config.num_hidden_layers, rm.pooling,
                   rm.is_native, bool(run.bf16), ids)
            if key in prep.feature_cache:
                logger.info(f"frozen backbone: reusing the cached features of {len(examples)} {which} pairs")
                return prep.feature_cache[key]
        logger.info(f"frozen backbone: caching features of {len(examples)} {which} pairs")
        out = example_features(rm, examples, prep.loaded.tokenizer.pad_token_id, progress=run.progress,
                               bf16=run.bf16)
        if key is not None:
            prep.feature_cache[key] = out
        return out

    def is_main(self) -> bool:
        return True

    def finish(self) -> None:
        pass


def train(cfg: TrainConfig, callbacks: list[TrainerCallback] | None = None, *, data: TrainData | None = None,
          encode_cache: dict[Any, list[dict[str, Any]]] | None = None,
          feature_cache: dict[Any, Any] | None = None) -> TrainResult:
    """Train a reward model as `cfg` says and save it (atomically) to `cfg.run.output`.

    The recipe: set up the data, set up the model (and loss), pick the strategy (the Trainer, or cached features
    for a frozen backbone), fit, save. Progress and notes go to the `rewardlab` logger.

    Args:
        cfg: a validated TrainConfig (bad combinations were already refused when it was built).
        callbacks: extra `transformers.TrainerCallback`s (Trainer strategy only).
        data: pairs already read by `load_train_data(cfg)` (None: read them); balancing and augmentation still
            apply, on a copy.
        encode_cache: a dict shared by several runs, so runs on the same tokenizer and pairs tokenise them once.
        feature_cache: a dict shared by several frozen-backbone runs, so runs on the same backbone, depth and
            pooling compute the pooled features of the same pairs once.
    Returns:
        TrainResult: the output folder, held-out metrics, pair counts and the trained model.
    Raises:
        RewardlabError: unusable data or model (e.g. --loss margin without margins); DataValidationError:
            invalid records.

    Example:
        >>> from rewardlab import TrainConfig, train
        >>> res = train(TrainConfig.from_options(output="runs/rm", sim_n=400, max_steps=20))  # doctest: +SKIP
        >>> res.metrics["accuracy"]  # doctest: +SKIP
    """
    from transformers import set_seed

    set_seed(cfg.run.seed)
    if cfg.loss_name != cfg.loss.name:
        logger.warning("a Gaussian head trains with --loss gaussian (mean and variance); using it")
    data = setup_data(cfg, data)
    prep = setup_model(cfg, data, encode_cache)
    prep.feature_cache = feature_cache
    strategy_cls = FrozenFeatureStrategy if FrozenFeatureStrategy.applies(cfg, prep.loaded) else TrainerStrategy
    strategy = strategy_cls(prep, callbacks)
    metrics = strategy.fit()
    if strategy.is_main():
        _save_run(prep, metrics, **strategy.extra)
    strategy.finish()
    return TrainResult(cfg.run.output, metrics, len(data.train), len(data.eval), prep.n_truncated, prep.loaded,
                       data)


def run_train(cfg: TrainConfig) -> TrainResult:
    """The `rewardlab train` stage: `train(cfg)`, then every process leaves the launcher's process group.

    Under `torchrun` a process that exits with its gloo/NCCL group still up can be aborted by the group's threads
    ('terminate called without an active exception', exit -6) after the model was saved, which fails the whole
    launch. `train()` itself leaves the group up, so a Python caller can go on with collective work.

    Args:
        cfg: a validated TrainConfig.
    Returns:
        TrainResult: as `train`.
    Raises:
        RewardlabError, DataValidationError: as `train`.

    Example:
        >>> from rewardlab.train.trainer import run_train
        >>> res = run_train(TrainConfig.from_options(output="runs/rm", sim_n=400, max_steps=20))  # doctest: +SKIP
    """
    from rewardlab.scoring.distributed import finish_distributed

    result = train(cfg)
    finish_distributed()
    return result


def _save_run(prep: Prepared, metrics: dict[str, float], **more: Any) -> None:
    """Step 5: save the model with its config, loss parameters, data provenance and metrics."""
    loss_params = {n: float(p.detach().reshape(-1)[0]) for n, p in prep.loss_fn.named_parameters()}
    data = prep.data
    extra = {
        "train_config": prep.cfg.to_dict(),
        "loss": prep.loss_name,
        "loss_params": loss_params,
        "anchor_thresholds": list(prep.thresholds) if prep.thresholds else None,
        "data": {"train": data.source, "eval": data.eval_source, "n_train": len(data.train),
                 "n_eval": len(data.eval), "fingerprint": data_fingerprint(data.train),
                 "n_truncated": prep.n_truncated, "balance": data.balance},
        # what the audit must not count as independent evidence (`rewardlab audit` marks these probes)
        "augment": data.augment,
        # --head disentangled: the regularisers' weights (the saved reward is the quality head alone)
        "disentangle": prep.disentangle.to_dict() if prep.disentangle else None,
        # --max-length auto (or > 10% of the training pairs truncated): what was asked, what was used, and why
        "max_length": prep.length.to_dict() if prep.length is not None else None,
        "metrics": metrics,
        **more,
    }
    if "reward_mean" in metrics:
        # statistics of held-out rewards, for users who want z-scored rewards (not applied to the weights)
        extra["normalization"] = {"mean": metrics["reward_mean"], "std": metrics.get("reward_std"),
                                  "from": "rewards of the held-out pairs (chosen and rejected)"}
    save_checkpoint(prep.loaded, prep.cfg.run.output, extra)


def clean_checkpoints(output: str) -> None:
    """Remove the intermediate trainer checkpoints of a finished run."""
    shutil.rmtree(os.path.join(output, CHECKPOINT_DIR), ignore_errors=True)
