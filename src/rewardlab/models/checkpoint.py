"""Build, save, load and export reward models; `rewardlab.json` makes every checkpoint self-describing.

Layout of a checkpoint folder: the Hugging Face files (config, weights, tokenizer) of a `*ForSequenceClassification`
model plus `rewardlab.json` (head, pooling, render spec, normalisation, data fingerprint, final metrics). With LoRA
the adapter is merged into the saved weights (so plain HF loading works) and also kept in `adapter/`.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rewardlab.errors import RewardlabError
from rewardlab.models.backbone import load_tokenizer, resolve_model_path
from rewardlab.models.reward_model import (
    HeadSpec,
    RewardModel,
    attach_mlp_head,
    head_linear,
    head_module,
    head_module_name,
    init_head,
    native_pooling,
)
from rewardlab.render import Renderer, RenderSpec
from rewardlab.runtime import resolve_device
from rewardlab.version import __version__

logger = logging.getLogger(__name__)

META_FILE = "rewardlab.json"
SCHEMA_VERSION = 1


@dataclass
class LoadedModel:
    """A reward model ready to use: module, tokenizer, renderer and its metadata."""

    model: RewardModel
    tokenizer: Any
    renderer: Renderer
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def render_spec(self) -> RenderSpec:
        return self.renderer.spec


def ensure_pad_token(tokenizer: Any, hf: nn.Module | None, renderer_mode: str | None = None) -> str | None:
    """Give the tokenizer a pad token distinct from EOS (HF last-token pooling finds the last non-pad id).

    Returns a note describing what was changed, for the log, or None.
    """
    note = None
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    if pad is None or (eos is not None and pad == eos):
        unk = tokenizer.unk_token_id
        if unk is not None and unk != eos:
            tokenizer.pad_token = tokenizer.unk_token
            note = f"pad token set to the unknown token {tokenizer.unk_token!r}"
        else:
            tokenizer.add_special_tokens({"pad_token": "<|rewardlab_pad|>"})
            if hf is not None:
                hf.resize_token_embeddings(len(tokenizer))
            note = "added a pad token <|rewardlab_pad|> (the tokenizer had none distinct from EOS)"
    if hf is not None:
        hf.config.pad_token_id = tokenizer.pad_token_id
    return note


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load reports and progress bars (we report what matters ourselves)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def truncate_config(config: Any, num_layers: int, where: str = "the backbone") -> Any:
    """Keep the first `num_layers` transformer layers in a model config (`num_hidden_layers`, and the per-layer
    `layer_types` list when the architecture has one), so that `from_pretrained` builds and loads only those.

    The saved model's config then says `num_hidden_layers = num_layers`, so plain HF loading rebuilds the same
    truncated model.

    Raises:
        RewardlabError: the config has no `num_hidden_layers`, or fewer layers than asked for.
    """
    have = getattr(config, "num_hidden_layers", None)
    if not isinstance(have, int):
        raise RewardlabError(f"--num-layers: {where} has no num_hidden_layers in its config, so it cannot be "
                             "truncated")
    if num_layers > have:
        raise RewardlabError(f"--num-layers {num_layers}: {where} has only {have} layers")
    config.num_hidden_layers = num_layers
    types = getattr(config, "layer_types", None)
    if isinstance(types, list | tuple) and len(types) >= num_layers:
        config.layer_types = list(types[:num_layers])
    return config


def _load_hf(path: str, n_outputs: int, dtype: torch.dtype | None = None,
             num_layers: int | None = None) -> tuple[nn.Module, str | None]:
    from transformers import AutoConfig, AutoModelForSequenceClassification

    try:
        config = AutoConfig.from_pretrained(path)
    except Exception as e:
        raise RewardlabError(f"cannot load a model config from {path!r}: {e}") from None
    if num_layers is not None:
        truncate_config(config, num_layers, path)
    note = None
    old = getattr(config, "num_labels", None)
    mismatched = old is not None and old != n_outputs and config.architectures and any(
        a.endswith("ForSequenceClassification") for a in config.architectures
    )
    if mismatched:
        note = (f"{path} has a {old}-label classification head; it is replaced by a fresh {n_outputs}-output "
                "reward head (a 2-label classifier is not a reward model)")
    config.num_labels = n_outputs
    config.problem_type = "regression"
    with warnings.catch_warnings(), quiet_transformers():
        warnings.simplefilter("ignore")
        try:
            hf = AutoModelForSequenceClassification.from_pretrained(
                path, config=config, ignore_mismatched_sizes=True, dtype=dtype or torch.float32
            )
        except Exception as e:
            raise RewardlabError(f"cannot load {path!r} as a sequence-classification backbone: {e}") from None
    return hf, note


def build_reward_model(
    backbone: str | None = None,
    head: HeadSpec | None = None,
    render: RenderSpec | None = None,
    seed: int = 0,
    lora: dict[str, Any] | None = None,
    freeze_backbone: bool = False,
    disable_dropout: bool = True,
    num_layers: int | None = None,
) -> LoadedModel:
    """A fresh reward model on `backbone` (alias, folder or hub id) with a newly initialised head.

    Args:
        backbone: 'minilm' (default), 'smollm2', a folder or a hub id.
        head: the head (default: scalar).
        render: how text becomes ids (default: RenderSpec(); 'auto' mode picks the chat template when the
            tokenizer has one).
        seed: seed of the head's initialisation.
        lora: LoRA settings ({'r', 'alpha', ...}) or None for full fine-tuning.
        freeze_backbone: train the head only.
        disable_dropout: set every dropout probability to 0 (pairwise losses compare two forward passes).
        num_layers: keep only the backbone's first k transformer layers (None: all); the config says k, so the
            saved model reloads (also with plain HF loading) as the same truncated model.

    Returns:
        LoadedModel: the model, its tokenizer, the renderer and the metadata saved with it.

    Raises:
        RewardlabError: the backbone cannot be loaded, or has fewer layers than `num_layers`.

    Example:
        >>> from rewardlab.models import build_reward_model
        >>> lm = build_reward_model("minilm", num_layers=2)  # doctest: +SKIP
        >>> lm.model.config.num_hidden_layers  # doctest: +SKIP
        2
    """
    head = head or HeadSpec()
    path = resolve_model_path(backbone)
    tokenizer = load_tokenizer(path)
    hf, note = _load_hf(path, head.n_outputs, num_layers=num_layers)
    if note:
        logger.warning(note)
    render = copy.deepcopy(render or RenderSpec())
    max_pos = getattr(hf.config, "max_position_embeddings", None)
    if max_pos and render.max_length > max_pos:
        logger.warning(f"max_length {render.max_length} > the backbone's {max_pos} positions; using {max_pos}")
        render.max_length = int(max_pos)
    pad_note = ensure_pad_token(tokenizer, hf)
    if pad_note:
        logger.warning(pad_note)
    renderer = Renderer(tokenizer, render)
    if head.is_mlp:
        attach_mlp_head(hf, head)
    rm = RewardModel(hf, head, native_pooling(hf.config))
    init_head(rm, seed)
    if disable_dropout:
        for m in rm.modules():
            if isinstance(m, nn.Dropout):
                m.p = 0.0
    if freeze_backbone:
        for p in rm.hf.base_model.parameters():
            p.requires_grad_(False)
    meta = {"base_model": backbone or "minilm", "base_model_path": path, "lora": None,
            "freeze_backbone": freeze_backbone, "num_layers": num_layers}
    if lora:
        rm = apply_lora(rm, lora)
        meta["lora"] = lora
    return LoadedModel(rm, tokenizer, renderer, meta)


def apply_lora(rm: RewardModel, lora: dict[str, Any]) -> RewardModel:
    """Wrap the backbone's linear layers with LoRA adapters; the head stays fully trainable (modules_to_save)."""
    from peft import LoraConfig, get_peft_model

    head_name = head_module_name(rm.hf)
    targets = lora.get("target_modules") or sorted({
        name.split(".")[-1] for name, m in rm.hf.base_model.named_modules() if isinstance(m, nn.Linear)
    } - {"pooler", "dense"} | ({"dense"} if lora.get("include_dense", False) else set()))
    cfg = LoraConfig(
        r=int(lora.get("r", 8)),
        lora_alpha=int(lora.get("alpha", 16)),
        lora_dropout=float(lora.get("dropout", 0.0)),
        target_modules=targets,
        modules_to_save=[head_name],
        bias="none",
    )
    rm.hf = get_peft_model(rm.hf, cfg)
    return rm


def _unwrapped_hf(rm: RewardModel) -> tuple[nn.Module, nn.Module | None]:
    """(plain HF model to save, peft model or None); with LoRA, a merged copy is returned."""
    hf = rm.hf
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is a core dependency
        return hf, None
    if isinstance(hf, PeftModel):
        merged = copy.deepcopy(hf).merge_and_unload()
        return merged, hf
    return hf, None


def data_fingerprint(rows: list[Any]) -> str:
    """A short stable hash of training records, so a checkpoint says which data made it."""
    import hashlib

    h = hashlib.sha256()
    for r in rows:
        d = r.to_dict() if hasattr(r, "to_dict") else r
        h.update(json.dumps(d, sort_keys=True, ensure_ascii=False, default=str).encode())
    return h.hexdigest()[:16]


def replace_head_rows(hf: nn.Module, mix: torch.Tensor) -> None:
    """Replace the head's linear layer (or its `out_proj`) by one with the rows `mix @ W` and biases `mix @ b`.

    Exact for any linear combination of outputs: the mean of ensemble members (`mix` = [1/K, ..., 1/K, 0, ...]),
    a disentangled head's quality row ([1, 0]).

    Raises:
        RewardlabError: the head does not end in a linear layer.
    """
    head = head_module(hf)
    lin = head if isinstance(head, nn.Linear) else getattr(head, "out_proj", None)
    if not isinstance(lin, nn.Linear):
        raise RewardlabError(f"cannot export a head of type {type(head).__name__}")
    mix = mix.to(lin.weight.dtype).reshape(-1, lin.out_features)
    new = nn.Linear(lin.in_features, mix.shape[0], bias=lin.bias is not None, dtype=lin.weight.dtype,
                    device=lin.weight.device)
    with torch.no_grad():
        new.weight.copy_(mix @ lin.weight)
        if lin.bias is not None:
            new.bias.copy_(mix @ lin.bias)
    if isinstance(head, nn.Linear):
        setattr(hf, head_module_name(hf), new)
    else:
        head.out_proj = new
    hf.config.num_labels = mix.shape[0]


LENGTH_HEAD_FILE = "length_head.safetensors"
MLP_PLAIN_HF_NOTE = ("an MLP head (ReLU layers before the output rows) is not the one linear layer of a plain "
                     "*ForSequenceClassification model: load this folder with rewardlab.load (or rewardlab score, "
                     "eval, serve); plain AutoModelForSequenceClassification would ignore the head's weights and "
                     "start a random linear head")


def _load_head_weights(hf: nn.Module, path: str) -> None:
    """Load the saved weights of the head module (an MLP head) from a checkpoint's safetensors file(s).

    Raises:
        RewardlabError: a head weight is missing from the folder or has another shape.
    """
    from safetensors import safe_open

    name = head_module_name(hf)
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted({v for k, v in json.load(f)["weight_map"].items() if k.startswith(name + ".")})
    else:
        files = ["model.safetensors"]
    state: dict[str, torch.Tensor] = {}
    for fn in files:
        with safe_open(os.path.join(path, fn), framework="pt") as f:
            state.update({k[len(name) + 1 :]: f.get_tensor(k) for k in f.keys() if k.startswith(name + ".")})
    try:
        head_module(hf).load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise RewardlabError(f"{path}: the MLP head's weights do not match rewardlab.json's head: {e}") from None


def save_checkpoint(loaded: LoadedModel, path: str | os.PathLike, extra_meta: dict[str, Any] | None = None) -> str:
    """Write the checkpoint folder atomically (temp folder, then rename); returns the path.

    A disentangled head is saved as what it serves: a plain scalar model whose reward is the quality row q; the
    length row (weight and bias) goes to `length_head.safetensors` beside it, for analysis, and rewardlab.json says
    `"head": "scalar", "trained_head": "disentangled"`."""
    path = str(path)
    tmp = f"{path.rstrip('/')}.tmp-{os.getpid()}"
    if os.path.exists(tmp):
        shutil.rmtree(tmp)
    hf, peft_model = _unwrapped_hf(loaded.model)
    spec = loaded.model.head_spec
    head_meta = spec.to_dict()
    length_head = None
    if spec.head == "disentangled":
        lin = head_linear(hf)
        if lin is None:
            raise RewardlabError("a disentangled head must end in a linear layer (rows q and l)")
        length_head = {"weight": lin.weight[1].detach().float().cpu().clone(),
                       "bias": (lin.bias[1:2] if lin.bias is not None else torch.zeros(1)).detach().float().cpu()}
        if peft_model is None:
            hf = copy.deepcopy(hf)  # the in-memory model keeps both rows (training may go on)
        replace_head_rows(hf, torch.tensor([[1.0, 0.0]]))
        head_meta = {**HeadSpec("scalar", pooling=spec.pooling, hidden=spec.hidden,
                                hidden_layers=spec.hidden_layers).to_dict(), "trained_head": "disentangled"}
    else:
        hf.config.num_labels = spec.n_outputs
    if spec.is_mlp:  # config.json says so too, for anyone who opens the folder without rewardlab
        hf.config.rewardlab_mlp_head = {"hidden": spec.hidden, "hidden_layers": spec.hidden_layers,
                                        "note": MLP_PLAIN_HF_NOTE}
    with quiet_transformers():
        hf.save_pretrained(tmp)
    loaded.tokenizer.save_pretrained(tmp)
    if length_head is not None:
        from safetensors.torch import save_file

        save_file(length_head, os.path.join(tmp, LENGTH_HEAD_FILE))
    if peft_model is not None:
        peft_model.save_pretrained(os.path.join(tmp, "adapter"))
    meta = {
        "rewardlab_version": __version__,
        "schema_version": SCHEMA_VERSION,
        **head_meta,
        "pooling": loaded.model.pooling,
        "native_pooling": loaded.model.native,
        "plain_hf_compatible": head_meta["head"] == "scalar" and loaded.model.is_native and not spec.is_mlp,
        **({"plain_hf_note": MLP_PLAIN_HF_NOTE} if spec.is_mlp else {}),
        "render": loaded.renderer.spec.to_dict(),
        "normalization": None,
        **{k: v for k, v in loaded.meta.items() if k not in ("render",)},
    }
    if extra_meta:
        meta.update(extra_meta)
    with open(os.path.join(tmp, META_FILE), "w") as f:
        json.dump(meta, f, indent=2, default=str)
    if os.path.exists(path):
        keep = os.path.join(path, "checkpoints")  # a training run's resumable trainer checkpoints stay
        if os.path.isdir(keep):
            os.replace(keep, os.path.join(tmp, "checkpoints"))
        old = f"{path.rstrip('/')}.old-{os.getpid()}"
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, path)
    loaded.meta = meta
    return path


def load(path: str | os.PathLike, device: str | torch.device | None = None) -> LoadedModel:
    """Load a rewardlab checkpoint, or any HF sequence-classification reward model (scalar, native pooling).

    Args:
        path: a checkpoint folder, the 'minilm' alias or a hub id.
        device: where to put the model: None leaves it on the CPU; 'auto' picks cuda when available; or 'cpu',
            'cuda', 'cuda:N', 'mps'.

    Returns:
        LoadedModel: the RewardModel (in eval mode), its tokenizer, the renderer and the checkpoint metadata.

    Raises:
        RewardlabError: the folder holds no loadable model, a 2-label classifier, an ensemble folder (use
            `load_scorer`), or the device is unavailable.
    """
    path = resolve_model_path(str(path))
    meta_path = os.path.join(path, META_FILE)
    meta: dict[str, Any] = {}
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
    if meta.get("format") == "rewardlab-ensemble":
        raise RewardlabError(f"{path} is an ensemble of {len(meta.get('members') or [])} reward models, not one "
                             "model: score it with rewardlab.load_scorer (or get_scorer), which loads every member")
    head = HeadSpec(head=meta.get("head", "scalar"), n_members=meta.get("n_members", 1),
                    member_gaussian=meta.get("member_gaussian", False), pooling=meta.get("pooling", "auto"),
                    hidden=meta.get("hidden", 0), hidden_layers=meta.get("hidden_layers", 1))
    if not meta:
        from transformers import AutoConfig

        try:
            cfg = AutoConfig.from_pretrained(path)
        except Exception as e:
            raise RewardlabError(f"cannot load a model from {path!r}: {e}") from None
        if getattr(cfg, "num_labels", 1) != 1:
            raise RewardlabError(
                f"{path} has num_labels={cfg.num_labels}: a reward model has one output. A 2-label classifier "
                "gives class logits, not a reward; retrain with `rewardlab train --model {path}` or export a scalar head"
            )
    tokenizer = load_tokenizer(path)
    hf, _ = _load_hf(path, head.n_outputs)
    if head.is_mlp:
        attach_mlp_head(hf, head)
        _load_head_weights(hf, path)
    ensure_pad_token(tokenizer, hf)
    render = RenderSpec.from_dict(meta["render"]) if "render" in meta else RenderSpec()
    rm = RewardModel(hf, head, native_pooling(hf.config))
    rm.eval()
    if device is not None:
        rm.to(resolve_device(device))
    return LoadedModel(rm, tokenizer, Renderer(tokenizer, render), meta)


def export_mean_only(src: str, dst: str) -> str:
    """Write a plain scalar HF model whose output is the mean reward of a Gaussian or ensemble checkpoint.

    Exact: the mean of linear head rows is one linear row. Needs the architecture's native pooling and a linear
    head.

    Raises:
        RewardlabError: the checkpoint pools otherwise, or has an MLP head (no plain HF model reproduces it).
    """
    loaded = load(src)
    rm = loaded.model
    if rm.head_spec.is_mlp:
        raise RewardlabError(f"{src} has an MLP head (--head-hidden {rm.head_spec.hidden}, --head-layers "
                             f"{rm.head_spec.hidden_layers}); a plain HF sequence-classification model has one "
                             "linear layer there, so no mean-only plain model reproduces it. Use the checkpoint "
                             "through rewardlab (rewardlab.load, score, eval, serve); the ensemble's mean reward is "
                             "its 'mean' output")
    if not rm.is_native:
        raise RewardlabError(f"{src} pools with {rm.pooling!r}, not the architecture's native {rm.native!r}: "
                             "a plain HF model cannot reproduce it")
    k = rm.head_spec.n_members
    mix = torch.zeros(1, rm.head_spec.n_outputs)
    mix[0, :k] = 1.0 / k
    replace_head_rows(rm.hf, mix)
    rm.head_spec = HeadSpec()
    meta = {k2: v for k2, v in loaded.meta.items() if k2 not in ("head", "n_members", "member_gaussian")}
    meta["exported_from"] = os.path.abspath(src)
    loaded.meta = meta
    return save_checkpoint(loaded, dst, {"head": "scalar", "n_members": 1, "member_gaussian": False})
