"""Training on `transformers.Trainer`: one forward for [chosen; rejected], every loss of the registry,
length-grouped batches, calibration metrics during evaluation, atomic checkpoints and exact resume.
"""

from __future__ import annotations

import json
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
from rewardlab.models.reward_model import HeadSpec, RewardModel
from rewardlab.render import RenderSpec
from rewardlab.runtime import resolve_device, warn_if_slow_bf16
from rewardlab.train.collate import PairCollator, encode_pairs
from rewardlab.train.config import TrainConfig
from rewardlab.train.losses import LOSSES, PairwiseLoss, anchor_labels, get_loss, pair_loss
from rewardlab.train.prefix import PackedPairCollator, packed_length

COMPLETE_MARKER = "rewardlab-checkpoint-complete"
CHECKPOINT_DIR = "checkpoints"


class RewardTrainingModule(nn.Module):
    """The reward model and its loss as one module, so the Trainer optimises learned tie parameters too."""

    def __init__(self, rm: RewardModel, loss_fn: PairwiseLoss, bootstrap_weights: torch.Tensor | None = None):
        super().__init__()
        self.rm = rm
        self.loss_fn = loss_fn
        if bootstrap_weights is not None:
            self.register_buffer("bootstrap_weights", bootstrap_weights, persistent=False)
        else:
            self.bootstrap_weights = None
        self.last_stats: dict[str, float] = {}

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, label: torch.Tensor | None = None,
                margin: torch.Tensor | None = None, tie: torch.Tensor | None = None, idx: torch.Tensor | None = None,
                anchor_chosen: torch.Tensor | None = None, anchor_rejected: torch.Tensor | None = None,
                segment_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None) -> dict[str, Any]:
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
                 "anchor_rejected": anchor_rejected}
        w = self.bootstrap_weights[:, idx] if self.bootstrap_weights is not None and idx is not None else None
        loss, stats = pair_loss(self.rm, self.loss_fn, out_chosen, out_rejected, batch, w)
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
    """Training and evaluation pairs plus where they came from."""

    train: list[PreferencePair]
    eval: list[PreferencePair]
    source: str
    eval_source: str


def split_by_prompt(pairs: list[PreferencePair], frac: float, seed: int) -> tuple[list, list]:
    """Hold out `frac` of the prompts (all their pairs), so no prompt is in both train and eval."""
    import hashlib

    def h(p: PreferencePair) -> float:
        key = json.dumps(p.prompt, sort_keys=True, ensure_ascii=False) + f"|{seed}"
        return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF

    tr = [p for p in pairs if h(p) >= frac]
    ev = [p for p in pairs if h(p) < frac]
    return tr, ev


def load_train_data(cfg: TrainConfig, log: Any = print) -> TrainData:
    """Pairs from --data (with --eval-data or a by-prompt --eval-split), or from the simulator by default."""
    from rewardlab.data import load_pairs
    from rewardlab.data.formats import detect_spec, parse_pair

    def read(src: str) -> list[PreferencePair]:
        res = load_pairs(src, kind=cfg.data_format, prompt_key=cfg.prompt_key, chosen_key=cfg.chosen_key,
                         rejected_key=cfg.rejected_key, on_invalid=cfg.on_invalid, limit=cfg.limit)
        if res.skipped:
            log(f"skipped {len(res.skipped)} invalid records of {src}:\n{res.skip_summary()}")
        return res.records  # type: ignore[return-value]

    if cfg.data is None:
        from rewardlab.simulate.cli_support import build_config
        from rewardlab.simulate.generate import simulate_pairs

        sim = build_config(cfg.sim_preset, length_bias=cfg.sim_length_bias)
        rows = simulate_pairs(cfg.sim_n, seed=cfg.sim_seed, config=sim)
        spec = detect_spec(rows[0])
        train = [parse_pair(r, spec) for r in rows]
        source = f"simulator(n={cfg.sim_n}, seed={cfg.sim_seed}, preset={cfg.sim_preset})"
        if cfg.eval_data:
            return TrainData(train, read(cfg.eval_data), source, cfg.eval_data)
        ev_rows = simulate_pairs(cfg.sim_eval_n, seed=cfg.sim_seed + 10_000, config=sim)
        ev = [parse_pair(r, spec) for r in ev_rows]
        return TrainData(train, ev, source, f"simulator(n={cfg.sim_eval_n}, seed={cfg.sim_seed + 10_000})")
    train = read(cfg.data)
    if cfg.eval_data:
        return TrainData(train, read(cfg.eval_data), cfg.data, cfg.eval_data)
    if cfg.eval_split and cfg.eval_split > 0:
        tr, ev = split_by_prompt(train, cfg.eval_split, cfg.seed)
        return TrainData(tr, ev, cfg.data, f"{cfg.data} (held-out {cfg.eval_split:.0%} of prompts)")
    return TrainData(train, [], cfg.data, "none")


def _anchor_inputs(cfg: TrainConfig, data: TrainData) -> tuple[list | None, list | None, tuple | None]:
    if not cfg.anchor_columns:
        return None, None, None
    if len(cfg.anchor_columns) != 2:
        raise RewardlabError("--anchor-columns takes two columns: the chosen and the rejected external score")
    cc, cr = cfg.anchor_columns

    def scores(pairs: list[PreferencePair]) -> tuple[np.ndarray, np.ndarray]:
        try:
            return (np.array([float(p.extra[cc]) for p in pairs]), np.array([float(p.extra[cr]) for p in pairs]))
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


def resolve_loss(cfg: TrainConfig, head: HeadSpec, log: Any) -> str:
    """Pick the loss for the head: a Gaussian head trains with the Gaussian loss."""
    if cfg.loss not in LOSSES:
        raise RewardlabError(f"--loss must be one of {sorted(LOSSES)}, got {cfg.loss!r}")
    if head.member_gaussian and cfg.loss == "bt":
        log("note: a Gaussian head trains with --loss gaussian (mean and variance); using it")
        return "gaussian"
    if head.member_gaussian and cfg.loss != "gaussian":
        raise RewardlabError(f"--loss {cfg.loss} gives no signal to a variance head; use --loss gaussian")
    if cfg.loss == "gaussian" and not head.member_gaussian:
        raise RewardlabError("--loss gaussian needs a variance head: --head gaussian (or an ensemble with "
                             "--member-gaussian)")
    return cfg.loss


def resolve_pair_layout(cfg: TrainConfig, rm: RewardModel, log: Any = print) -> str:
    """How pairs are batched: 'prefix' (one row per pair, prompt once; causal decoders), 'packed' (one row per
    pair: chosen | rejected) or 'plain' ([chosen; rejected] rows, as TRL). Automatic choices are exact.

    Default: 'prefix' wherever the prompt can be shared, else 'plain'. Packing without sharing doubles the
    attention length for nothing saved but the pair's padding, which length grouping already removes: measured
    slower than plain on MiniLM + HH (benchmarks/train_throughput.py, docs/PERFORMANCE.md), so it is opt-in.
    """
    pack, share = cfg.pack_pairs, cfg.prefix_sharing
    if share and pack is False:
        raise RewardlabError("prefix sharing runs on packed rows: drop --no-pack-pairs or add --no-prefix-sharing")
    sharing_problem = rm.prefix_sharing_problem()
    if share and sharing_problem:
        raise RewardlabError(f"cannot share the prompt: {sharing_problem}")
    if share is None and sharing_problem and rm.is_causal_decoder():
        log(f"note: prompt sharing is off for this causal decoder (each pair runs its prompt twice): {sharing_problem}")
    if pack is None:
        pack = bool(share) or (share is None and sharing_problem is None)
    if pack:
        problem = rm.packing_problem()
        if problem:
            if cfg.pack_pairs or share:
                raise RewardlabError(f"cannot pack pairs for this model: {problem}")
            pack = False
    if not pack:
        log("pair layout: plain (chosen and rejected rows, grouped by length)")
        return "plain"
    if share is None:
        share = sharing_problem is None
    layout = "prefix" if share else "packed"
    log(f"pair layout: {layout} ({'one row per pair, prompt encoded once' if share else 'one row per pair'})")
    return layout


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


def train(cfg: TrainConfig, log: Any = print, callbacks: list[TrainerCallback] | None = None) -> TrainResult:
    """Train a reward model as `cfg` says and save it (atomically) to `cfg.output`."""
    from transformers import set_seed

    set_seed(cfg.seed)
    head = HeadSpec(cfg.head, cfg.members, cfg.member_gaussian, cfg.pooling)
    loss_name = resolve_loss(cfg, head, log)
    data = load_train_data(cfg, log)
    if not data.train:
        raise RewardlabError("no training pairs")
    if loss_name == "margin" and all(p.margin is None for p in data.train):
        raise RewardlabError("--loss margin needs a `margin` column; none of the training pairs has one")
    if loss_name in ("rao_kupper", "davidson") and not any(p.tie for p in data.train):
        log("note: no tied pairs in the training data; the tie parameter will shrink toward 0")
    render = RenderSpec(mode=cfg.render_mode, max_length=cfg.max_length, eos=cfg.eos)
    lora = {"r": cfg.lora_r, "alpha": cfg.lora_alpha} if cfg.lora else None
    loaded = build_reward_model(cfg.model, head, render, seed=cfg.seed, lora=lora,
                                freeze_backbone=cfg.freeze_backbone, log=log)
    train_anchors, eval_anchors, thresholds = _anchor_inputs(cfg, data)
    loss_kwargs: dict[str, Any] = {"center_eta": cfg.center_eta}
    if loss_name == "gaussian":
        loss_kwargs["anchor_lambda"] = cfg.anchor_lambda if thresholds else 0.0
        loss_kwargs["anchor_thresholds"] = thresholds
    loss_fn = get_loss(loss_name, **loss_kwargs)
    train_ex = encode_pairs(loaded.renderer, data.train, train_anchors)
    eval_ex = encode_pairs(loaded.renderer, data.eval, eval_anchors) if data.eval else None
    n_trunc = sum(e["truncated"] for e in train_ex) + sum(e["truncated"] for e in eval_ex or [])
    if n_trunc:
        log(f"note: {n_trunc} pairs were longer than max_length={loaded.renderer.spec.max_length} tokens and were "
            "truncated (end of prompt and start of response kept), none dropped")
    boot = None
    if head.n_members > 1 and cfg.bootstrap:
        g = torch.Generator().manual_seed(cfg.seed + 7)
        boot = torch.poisson(torch.ones(head.n_members, len(train_ex)), generator=g)
    device = train_device(cfg.device)
    warn_if_slow_bf16(device, cfg.bf16)
    if cfg.freeze_backbone and cfg.cache_features and not cfg.lora and loaded.model.supports_features():
        loaded.model.to(device)
        return _train_frozen(cfg, loaded, loss_fn, loss_name, data, train_ex, eval_ex, boot, thresholds, n_trunc,
                             log)
    layout = resolve_pair_layout(cfg, loaded.model, log)
    module = RewardTrainingModule(loaded.model, loss_fn, boot)

    _check_report_to(cfg.report_to)
    ckpt_root = os.path.join(cfg.output, CHECKPOINT_DIR)
    has_eval = eval_ex is not None and len(eval_ex) > 0
    args = TrainingArguments(
        output_dir=ckpt_root,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        learning_rate=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        bf16=cfg.bf16,
        seed=cfg.seed,
        logging_steps=cfg.logging_steps,
        eval_strategy=("steps" if cfg.eval_steps else "epoch") if has_eval else "no",
        eval_steps=cfg.eval_steps,
        save_strategy="steps" if cfg.save_steps else "epoch",
        save_steps=cfg.save_steps,
        save_total_limit=cfg.save_total_limit,
        report_to=cfg.report_to or "none",
        remove_unused_columns=False,
        label_names=["label"],
        disable_tqdm=not cfg.progress,
        dataloader_num_workers=0,
        dataloader_pin_memory=False,
        use_cpu=device.type == "cpu",
        ddp_find_unused_parameters=not loaded.model.is_native,
        ddp_backend="gloo" if int(os.environ.get("WORLD_SIZE", "1")) > 1 and device.type == "cpu" else None,
    )
    pad_id = loaded.tokenizer.pad_token_id
    collator = PairCollator(pad_id) if layout == "plain" else PackedPairCollator(pad_id, layout == "prefix")
    trainer = RewardTrainer(
        model=module,
        args=args,
        train_dataset=train_ex,
        eval_dataset=eval_ex if has_eval else None,
        data_collator=collator,
        compute_metrics=_compute_metrics,
        callbacks=callbacks,
        train_lengths=pair_lengths(train_ex, layout),
        eval_lengths=pair_lengths(eval_ex, layout) if has_eval else None,
        group_by_length=cfg.group_by_length,
    )
    resume_from = None
    if cfg.resume:
        resume_from = latest_complete_checkpoint(cfg.output)
        if resume_from is None:
            log(f"note: --resume given but no complete checkpoint in {ckpt_root}; starting from scratch")
        else:
            log(f"resuming from {resume_from}")
    trainer.train(resume_from_checkpoint=resume_from)
    metrics: dict[str, float] = {}
    last_eval = [h for h in trainer.state.log_history if "eval_accuracy" in h]
    if last_eval and last_eval[-1].get("step") == trainer.state.global_step:
        metrics = {k.removeprefix("eval_"): float(v) for k, v in last_eval[-1].items()
                   if k.startswith("eval_") and isinstance(v, int | float)}
    elif has_eval:
        ev = trainer.evaluate()
        metrics = {k.removeprefix("eval_"): float(v) for k, v in ev.items() if isinstance(v, int | float)}
    if trainer.is_world_process_zero():
        _save_run(cfg, loaded, loss_fn, loss_name, data, thresholds, n_trunc, metrics)
    trainer.accelerator.wait_for_everyone()
    return TrainResult(cfg.output, metrics, len(data.train), len(data.eval), n_trunc, loaded)


def _save_run(cfg: TrainConfig, loaded: LoadedModel, loss_fn: PairwiseLoss, loss_name: str, data: TrainData,
              thresholds: tuple | None, n_trunc: int, metrics: dict[str, float], **more: Any) -> None:
    loss_params = {n: float(p.detach().reshape(-1)[0]) for n, p in loss_fn.named_parameters()}
    extra = {
        "train_config": cfg.to_dict(),
        "loss": loss_name,
        "loss_params": loss_params,
        "anchor_thresholds": list(thresholds) if thresholds else None,
        "data": {"train": data.source, "eval": data.eval_source, "n_train": len(data.train),
                 "n_eval": len(data.eval), "fingerprint": data_fingerprint(data.train), "n_truncated": n_trunc},
        "metrics": metrics,
        **more,
    }
    if "reward_mean" in metrics:
        # statistics of held-out rewards, for users who want z-scored rewards (not applied to the weights)
        extra["normalization"] = {"mean": metrics["reward_mean"], "std": metrics.get("reward_std"),
                                  "from": "rewards of the held-out pairs (chosen and rejected)"}
    save_checkpoint(loaded, cfg.output, extra)


def _train_frozen(cfg: TrainConfig, loaded: LoadedModel, loss_fn: PairwiseLoss, loss_name: str, data: TrainData,
                  train_ex: list, eval_ex: list | None, boot: torch.Tensor | None, thresholds: tuple | None,
                  n_trunc: int, log: Any) -> TrainResult:
    """Frozen backbone: cache pooled features once, train the head (all ensemble members) on them."""
    from rewardlab.train.frozen import batch_columns, example_features, predict_pairs, train_head_on_features

    rm, pad_id = loaded.model, loaded.tokenizer.pad_token_id
    log(f"frozen backbone: caching features of {len(train_ex)} training pairs")
    fc, fr = example_features(rm, train_ex, pad_id, progress=cfg.progress, bf16=cfg.bf16)
    history = train_head_on_features(rm, loss_fn, fc, fr, batch_columns(train_ex), epochs=cfg.head_epochs,
                                     lr=cfg.head_lr, batch_size=max(cfg.batch_size, 64), seed=cfg.seed,
                                     weight_decay=cfg.weight_decay, bootstrap=boot, progress=cfg.progress, log=log)
    metrics: dict[str, float] = {"train_loss": history[-1]}
    if eval_ex:
        ec, er = example_features(rm, eval_ex, pad_id, progress=cfg.progress, bf16=cfg.bf16)
        labels = np.array([e["label"] for e in eval_ex])
        metrics.update(pair_eval_metrics(predict_pairs(rm, ec, er), labels))
    _save_run(cfg, loaded, loss_fn, loss_name, data, thresholds, n_trunc, metrics, head_training="cached_features")
    return TrainResult(cfg.output, metrics, len(data.train), len(data.eval), n_trunc, loaded)


def clean_checkpoints(output: str) -> None:
    """Remove the intermediate trainer checkpoints of a finished run."""
    shutil.rmtree(os.path.join(output, CHECKPOINT_DIR), ignore_errors=True)
