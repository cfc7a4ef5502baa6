"""RewardModel: a Hugging Face backbone with a scalar, Gaussian (mean + variance), ensemble or disentangled head.

The head is the backbone's own sequence-classification head with `num_labels` outputs: 1 (scalar), 2 (mean, raw
variance), K / 2K (an ensemble of K members) or 2 (disentangled: quality q and length l, ODIN-style; training fits
q + l, the reward is q). So a scalar checkpoint is a plain `*ForSequenceClassification` model, and the mean of an
ensemble or the quality row of a disentangled head (linear functions of the head) export exactly to one plain model.
Any head type can instead be an MLP (`HeadSpec.hidden` > 0, `MLPHead`): ReLU layers, then the same output rows. It
loads through rewardlab only: a plain `*ForSequenceClassification` has one linear layer there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from rewardlab.errors import RewardlabError

HEADS = ("scalar", "gaussian", "ensemble", "disentangled")
POOLINGS = ("auto", "last", "mean", "cls")
VAR_FLOOR = 1e-6
SOFTPLUS_ONE = math.log(math.e - 1.0)  # softplus(SOFTPLUS_ONE) = 1: variance heads start at s^2 = 1


@dataclass
class HeadSpec:
    """Which head: type, ensemble size, whether ensemble members are Gaussian, and the pooling.

    Args:
        head: 'scalar' (one reward), 'gaussian' (mean and variance), 'ensemble' (K members) or 'disentangled'
            (quality and length rows; the reward is the quality row, see `RewardModel.split`).
        n_members: K, the ensemble size (at least 2); other heads always get 1.
        member_gaussian: whether each ensemble member also predicts a variance; other heads get
            head == 'gaussian'.
        pooling: 'auto' (the architecture's native pooling), 'last' (last real token), 'mean' or 'cls'.
        hidden: 0 for a linear head; else an MLP head with `hidden_layers` ReLU layers of this width per
            ensemble member (`MLPHead`; members share no weights).
        hidden_layers: number of hidden ReLU layers of an MLP head (hidden > 0).

    Raises:
        RewardlabError: an unknown head or pooling, or an ensemble with fewer than 2 members.

    Example:
        >>> from rewardlab import HeadSpec
        >>> HeadSpec("gaussian").n_outputs
        2
        >>> spec = HeadSpec("ensemble", n_members=4, member_gaussian=True)
        >>> spec.n_outputs, spec.to_dict()["pooling"]
        (8, 'auto')
        >>> HeadSpec("scalar", n_members=4).n_members
        1
        >>> HeadSpec("disentangled").n_outputs
        2
        >>> HeadSpec("scalar", hidden=256).is_mlp
        True
        >>> HeadSpec("ensemble", n_members=1)
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: an ensemble head needs --members >= 2
    """

    head: str = "scalar"
    n_members: int = 1
    member_gaussian: bool = False
    pooling: str = "auto"
    hidden: int = 0
    hidden_layers: int = 1

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise RewardlabError(f"--head must be one of {HEADS}, got {self.head!r}")
        if self.hidden < 0 or self.hidden_layers < 1:
            raise RewardlabError(f"an MLP head needs --head-hidden >= 0 and --head-layers >= 1, got {self.hidden} "
                                 f"and {self.hidden_layers}")
        if self.pooling not in POOLINGS:
            raise RewardlabError(f"--pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.head != "ensemble":
            self.n_members = 1
            self.member_gaussian = self.head == "gaussian"
        elif self.n_members < 2:
            raise RewardlabError("an ensemble head needs --members >= 2")

    @property
    def n_outputs(self) -> int:
        """Number of head outputs: K means, then K raw variances for Gaussian members; 2 (q, l) disentangled."""
        if self.head == "disentangled":
            return 2
        return self.n_members * (2 if self.member_gaussian else 1)

    @property
    def is_mlp(self) -> bool:
        """Whether the head is an MLP (hidden > 0) rather than one linear layer."""
        return self.hidden > 0

    def to_dict(self) -> dict[str, Any]:
        return {"head": self.head, "n_members": self.n_members, "member_gaussian": self.member_gaussian,
                "pooling": self.pooling, "hidden": self.hidden, "hidden_layers": self.hidden_layers}


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask: the block-diagonal layers that keep the
    members of an MLP ensemble independent inside one module. Masked weights start at 0 and get no gradient, so
    they stay 0 and `weight` is the layer's true matrix (the mean-of-members row mix stays exact)."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask.to(self.weight.dtype), self.bias)


class MLPHead(nn.Module):
    """A ReLU MLP reward head: `layers` hidden layers of width `hidden` per group, then `out_proj`, a linear layer
    whose rows are the head's outputs (the same rows and order as a linear head's).

    Groups are independent sub-networks (ensemble members: member j owns hidden block j and output rows j and
    K + j); a scalar, Gaussian or disentangled head is one group, its rows reading one hidden vector. It reads a
    pooled vector [..., H] like the linear head it replaces, so it sits where the HF model has its `score` or
    `classifier` layer.

    Example:
        >>> head = MLPHead(8, hidden=4, layers=2, groups=3, outputs=6)
        >>> head(torch.zeros(5, 8)).shape, head.out_proj.in_features
        (torch.Size([5, 6]), 12)
    """

    def __init__(self, in_features: int, hidden: int, layers: int, groups: int, outputs: int):
        super().__init__()
        width = groups * hidden
        block = torch.block_diag(*[torch.ones(hidden, hidden)] * groups)
        self.hidden = nn.ModuleList([nn.Linear(in_features, width)] + [
            MaskedLinear(width, width, block) if groups > 1 else nn.Linear(width, width) for _ in range(layers - 1)])
        self.groups, self.width = groups, hidden
        if groups > 1:
            member = torch.arange(outputs) % groups
            rows = (member[:, None] == torch.arange(width)[None, :] // hidden).float()
            self.out_proj: nn.Linear = MaskedLinear(width, outputs, rows)
        else:
            self.out_proj = nn.Linear(width, outputs)

    @property
    def in_features(self) -> int:
        return self.hidden[0].in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.out_proj(x)


def attach_mlp_head(hf: nn.Module, spec: HeadSpec) -> None:
    """Replace the HF model's linear `score`/`classifier` layer by an `MLPHead` of the spec's width and depth.

    Raises:
        RewardlabError: the model's head is not one linear layer (e.g. RoBERTa's dense + out_proj head).
    """
    head = head_module(hf)
    if not isinstance(head, nn.Linear):
        raise RewardlabError(f"--head-hidden needs a backbone whose classification head is one linear layer; "
                             f"{type(hf).__name__} has {type(head).__name__}")
    groups = spec.n_members if spec.head == "ensemble" else 1
    mlp = MLPHead(head.in_features, spec.hidden, spec.hidden_layers, groups, spec.n_outputs)
    setattr(hf, head_module_name(hf), mlp.to(device=head.weight.device, dtype=head.weight.dtype))


def native_pooling(config: Any) -> str:
    """The pooling a plain `*ForSequenceClassification` of this architecture uses: cls (encoders) or last."""
    from transformers import MODEL_FOR_MASKED_LM_MAPPING

    return "cls" if type(config) in MODEL_FOR_MASKED_LM_MAPPING else "last"


def head_module(hf: nn.Module) -> nn.Module:
    """The sequence-classification head inside a HF model (`score` for decoders, `classifier` for encoders)."""
    for name in ("score", "classifier"):
        m = getattr(hf, name, None)
        if isinstance(m, nn.Module):
            return m
    raise RewardlabError(f"{type(hf).__name__} has no 'score' or 'classifier' head rewardlab knows")


def reads_vector(head: nn.Module) -> bool:
    """Whether a head maps a pooled vector [B, H] to outputs (a linear layer or an MLP head, or peft's wrapper
    of one), rather than a RoBERTa-style head that reads the first position of [B, T, H] itself."""
    head = getattr(head, "original_module", head)
    return isinstance(head, nn.Linear | MLPHead)


def head_linear(hf: nn.Module) -> nn.Linear | None:
    """The linear layer whose rows are the head's outputs: the head itself, its `out_proj` (RoBERTa-style heads),
    or the trained copy inside peft's modules_to_save wrapper; None when the head is not linear at its end."""
    m: Any = head_module(hf)
    saved = getattr(m, "modules_to_save", None)
    if isinstance(saved, nn.ModuleDict) and len(saved):
        active = getattr(m, "active_adapters", None) or list(saved.keys())
        m = saved[active[0]]
    if not isinstance(m, nn.Linear):
        m = getattr(m, "out_proj", None)
    return m if isinstance(m, nn.Linear) else None


def head_module_name(hf: nn.Module) -> str:
    """Attribute name of the head ('score' or 'classifier'), for LoRA's modules_to_save."""
    return "score" if isinstance(getattr(hf, "score", None), nn.Module) else "classifier"


def pool(hidden: torch.Tensor, mask: torch.Tensor, how: str) -> torch.Tensor:
    """Pool [B, T, H] to [B, H]: last non-pad token (left or right padding), masked mean, or first token."""
    if how == "last":
        pos = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = (pos * mask).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    if how == "mean":
        m = mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp_min(1.0)
    if how == "cls":
        first = mask.to(torch.long).argmax(dim=1)  # first real token, also under left padding
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), first]
    raise RewardlabError(f"unknown pooling {how!r}")


def position_ids_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """Positions that count only real tokens, so left padding does not shift absolute positions."""
    return (mask.long().cumsum(-1) - 1).clamp_min(0)


def right_align(input_ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor | None = None):
    """Re-pad a batch on the right (real tokens first), keeping each row's tokens in order."""
    order = torch.argsort((mask == 0).to(torch.int8), dim=1, stable=True)
    ids = torch.gather(input_ids, 1, order)
    m = torch.gather(mask, 1, order)
    t = torch.gather(types, 1, order) if types is not None else None
    return ids, m, t


@dataclass
class PromptCache:
    """Key/value cache of a batch of prompts (per layer [B, heads, P, dim]), their padding mask and lengths, and
    what pooling needs from the prompt (masked hidden-state sum for mean pooling, first token for cls)."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]
    mask: torch.Tensor
    lengths: torch.Tensor
    pooled: torch.Tensor | None


class RewardModel(nn.Module):
    """Backbone + head; forward returns {'mean' [B], 'var' [B] or absent, 'members' [B,K], 'member_var'}."""

    def __init__(self, hf_model: nn.Module, head: HeadSpec, native: str):
        super().__init__()
        self.hf = hf_model
        self.head_spec = head
        self.native = native
        self.pooling = native if head.pooling == "auto" else head.pooling
        self.is_native = self.pooling == native

    @property
    def config(self) -> Any:
        return self.hf.config

    def logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
               token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Raw head outputs [B, n_outputs] for one batch."""
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        if self.is_native and self.native == "cls" and not bool(attention_mask[:, 0].all()):
            # HF encoders read the first position: move left-padded rows to right padding first
            return self.logits(*right_align(input_ids, attention_mask, token_type_ids))
        pos = position_ids_from_mask(attention_mask)
        if self.is_native:
            if self.native == "last":
                kwargs["position_ids"] = pos
            return self.hf(**kwargs).logits.float()
        kwargs["position_ids"] = pos
        hidden = self.hf.base_model(**kwargs).last_hidden_state
        pooled = pool(hidden, attention_mask, self.pooling)
        head = head_module(self.hf)
        out = head(pooled) if reads_vector(head) else head(pooled.unsqueeze(1))
        return out.float()

    def supports_features(self) -> bool:
        """Whether features() + head_logits() reproduce logits() (a linear or MLP head on a pooled vector)."""
        head = head_module(self.hf)
        if not isinstance(head, nn.Linear | MLPHead):
            return False
        return not (self.is_native and self.native == "cls" and getattr(self.hf.base_model, "pooler", None) is None)

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The pooled vector [B, H] the head reads (frozen-backbone training caches these)."""
        if self.native == "cls" and not bool(attention_mask[:, 0].all()):
            input_ids, attention_mask, token_type_ids = right_align(input_ids, attention_mask, token_type_ids)
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask,
                                  "position_ids": position_ids_from_mask(attention_mask)}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        out = self.hf.base_model(**kwargs)
        if self.is_native and self.native == "cls":
            return out.pooler_output
        return pool(out.last_hidden_state, attention_mask, self.pooling)

    def prefix_sharing_problem(self) -> str | None:
        """Why a prompt cannot be computed once for several responses (`prompt_cache` + `continuation_logits`,
        and the shared prefix of `packed_logits`) for this model, or None when it can, exactly.

        It needs a causal decoder (in an encoder the prompt attends to the response, so its states differ between
        responses), full attention in every layer, an attention implementation that takes a 4-D mask, and a
        linear head on last, mean or first-token pooling.
        """
        if not self.is_causal_decoder():
            return "the backbone is not a causal decoder (bidirectional attention: the prompt sees the response)"
        problem = self.packing_problem()
        if problem:
            return problem
        if cache_argument(_unwrap_peft(self.hf).base_model) is None:
            return "the backbone's forward takes no key/value cache argument (neither `cache` nor `past_key_values`)"
        return None

    def prompt_cache(self, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor) -> PromptCache:
        """Run B right-padded prompts (each at least one token) once and keep what continuations need."""
        hf = _unwrap_peft(self.hf)
        b, p = prompt_ids.shape
        pos = torch.arange(p, device=prompt_ids.device).unsqueeze(0).expand(b, p)
        out = hf.base_model(input_ids=prompt_ids, attention_mask=prompt_mask, position_ids=pos, use_cache=True)
        # contiguous once here: gathering rows of the attention's strided key/value layout is ~20x slower
        kv = [(layer.keys.contiguous(), layer.values.contiguous()) for layer in returned_cache(out).layers]
        h = out.last_hidden_state
        pooled = None
        if self.pooling == "mean":
            pooled = (h * prompt_mask.unsqueeze(-1).to(h.dtype)).sum(1)
        elif self.pooling == "cls":
            pooled = h[:, 0]
        return PromptCache(kv, prompt_mask, prompt_mask.long().sum(1), pooled)

    def continuation_logits(self, cache: PromptCache, cont_ids: torch.Tensor, cont_mask: torch.Tensor,
                            group: torch.Tensor) -> torch.Tensor:
        """Head outputs [R, n_outputs] of prompt[group[r]] + cont[r] from a `prompt_cache` (any subset of its
        prompts, any number of continuations per prompt, in any order)."""
        from transformers import DynamicCache

        hf = _unwrap_peft(self.hf)
        body, head = hf.base_model, head_module(hf)
        r, c = cont_ids.shape
        dev = cont_ids.device
        p = cache.mask.shape[1]
        kv = DynamicCache(ddp_cache_data=[(k.index_select(0, group), v.index_select(0, group)) for k, v in cache.kv])
        plen = cache.lengths.index_select(0, group)
        pos = plen.unsqueeze(1) + torch.arange(c, device=dev).unsqueeze(0)
        see_prompt = cache.mask.bool().index_select(0, group)[:, None, None, :].expand(r, 1, c, p)
        causal = torch.ones(c, c, dtype=torch.bool, device=dev).tril()
        mask = torch.cat([see_prompt, causal[None, None] & cont_mask.bool()[:, None, None, :]], dim=-1)
        if (getattr(hf.config, "_attn_implementation", None) or "eager") == "eager":
            dtype = cache.kv[0][0].dtype
            mask = torch.zeros(mask.shape, dtype=dtype, device=dev).masked_fill(~mask, torch.finfo(dtype).min)
        cache_kw = {cache_argument(body) or "past_key_values": kv}
        hc = body(input_ids=cont_ids, attention_mask=mask, position_ids=pos, use_cache=True,
                  **cache_kw).last_hidden_state
        clen = cont_mask.long().sum(1)
        if self.pooling == "last":
            pooled = hc[torch.arange(r, device=dev), clen - 1]
        elif self.pooling == "cls":  # the sequence's first token is the prompt's
            pooled = cache.pooled.index_select(0, group)
        else:  # mean over the prompt's and the continuation's real tokens
            sc = (hc * cont_mask.unsqueeze(-1).to(hc.dtype)).sum(1)
            pooled = (cache.pooled.index_select(0, group) + sc) / (plen + clen).unsqueeze(1).to(hc.dtype)
        return head(pooled).float()

    def is_causal_decoder(self) -> bool:
        """A causal decoder (a token never sees later tokens), so a shared prompt can be computed once."""
        from transformers import MODEL_FOR_CAUSAL_LM_MAPPING

        cfg = _unwrap_peft(self.hf).config
        return (self.native == "last" and type(cfg) in MODEL_FOR_CAUSAL_LM_MAPPING
                and bool(getattr(cfg, "is_causal", True)))

    def packing_problem(self) -> str | None:
        """Why `packed_logits` cannot reproduce `logits` for this model, or None when it can (exactly)."""
        import inspect

        hf = _unwrap_peft(self.hf)
        cfg = hf.config
        impl = getattr(cfg, "_attn_implementation", None) or "eager"
        if impl not in ("sdpa", "eager"):
            return f"attention implementation {impl!r} (packing needs sdpa or eager)"
        head = head_module(hf)
        if not reads_vector(head):
            return "the head is not a linear layer or MLP on the pooled vector"
        if self.is_causal_decoder():
            types = getattr(cfg, "layer_types", None)
            if types is not None and any(t != "full_attention" for t in types):
                return "some layers use sliding-window or linear attention"
            if types is None and getattr(cfg, "sliding_window", None):
                return "the model uses sliding-window attention"
        elif getattr(cfg, "model_type", None) != "bert" or getattr(cfg, "is_decoder", False):
            # other encoders offset or derive their position ids in model-specific ways
            return f"encoder type {getattr(cfg, 'model_type', None)!r} (packing supports BERT-style encoders)"
        elif self.is_native and self.native == "cls" and getattr(hf.base_model, "pooler", None) is None:
            return "the encoder has no pooler"
        if "position_ids" not in inspect.signature(hf.base_model.forward).parameters:
            return "the backbone takes no position ids"
        return None

    def packed_logits(self, input_ids: torch.Tensor, segment_ids: torch.Tensor, position_ids: torch.Tensor,
                      token_type_ids: torch.Tensor | None = None, n_segments: int = 2) -> torch.Tensor:
        """Head outputs [n_segments * B, n_outputs] of several sequences packed into each of B rows.

        segment_ids [B, T]: 0 = a shared prefix every segment of the row sees (a prompt, decoders only),
        1..n_segments = the sequences' own tokens, -1 = padding. Segment k of row i is the sequence
        prefix + its own tokens; positions restart for each segment (`position_ids` as in the unpacked
        sequence). Attention is masked so no segment sees another's tokens (and is causal for decoders), so each
        output equals `logits` of the unpacked sequence. Rows come out segment-major: all rows' segment 1,
        then all rows' segment 2, ... (for pairs: chosen rows, then rejected rows).
        """
        hf = _unwrap_peft(self.hf)
        body, head = hf.base_model, head_module(hf)
        b, t = input_ids.shape
        dev = input_ids.device
        seg_q, seg_k = segment_ids[:, :, None], segment_ids[:, None, :]
        allowed = (seg_k >= 0) & ((seg_k == 0) | (seg_k == seg_q))
        causal = self.is_causal_decoder()
        if causal:
            allowed = allowed & torch.ones(t, t, dtype=torch.bool, device=dev).tril()
        allowed = allowed | torch.eye(t, dtype=torch.bool, device=dev)  # padding rows see themselves: no NaN
        mask = allowed[:, None]
        if (getattr(hf.config, "_attn_implementation", None) or "eager") == "eager":
            dtype = body.get_input_embeddings().weight.dtype
            if torch.is_autocast_enabled("cpu") or torch.is_autocast_enabled():
                dtype = torch.get_autocast_dtype("cpu" if dev.type == "cpu" else dev.type)
            mask = torch.zeros(mask.shape, dtype=dtype, device=dev).masked_fill(~mask, torch.finfo(dtype).min)
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": mask, "position_ids": position_ids}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        hidden = body(**kwargs).last_hidden_state
        pos = torch.arange(t, device=dev).expand(b, t)
        pooled = []
        for k in range(1, n_segments + 1):
            sel = (segment_ids == k) | (segment_ids == 0)
            if self.pooling == "mean":
                m = sel.unsqueeze(-1).to(hidden.dtype)
                pooled.append((hidden * m).sum(1) / m.sum(1).clamp_min(1.0))
                continue
            if self.pooling == "last":
                idx = torch.where(sel, pos, -1).max(dim=1).values
            else:  # cls: the segment's first token
                idx = torch.where(sel, pos, t).min(dim=1).values
            pooled.append(hidden[torch.arange(b, device=dev), idx])
        feats = torch.cat(pooled, dim=0)
        if self.is_native and self.native == "cls":
            feats = body.pooler(feats.unsqueeze(1))
        return head(feats).float()

    def head_logits(self, features: torch.Tensor) -> torch.Tensor:
        """Head outputs [B, n_outputs] from pooled features."""
        return head_module(self.hf)(features).float()

    def split(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Interpret head outputs: member means, member variances, and the aggregate mean and variance.

        A disentangled head gives {'mean': q, 'members': q [B, 1], 'length_reward': l}: the reward every user of
        the model sees is the quality row q alone; q + l is what training fits (`member_outputs`)."""
        if self.head_spec.head == "disentangled":
            q, length = logits[:, 0], logits[:, 1]
            return {"members": q.unsqueeze(1), "mean": q, "length_reward": length}
        k = self.head_spec.n_members
        means = logits[:, :k]
        out = {"members": means, "mean": means.mean(dim=1)}
        if self.head_spec.member_gaussian:
            mvar = F.softplus(logits[:, k : 2 * k]) + VAR_FLOOR
            out["member_var"] = mvar
            out["var"] = mvar.mean(dim=1) + (means.var(dim=1, unbiased=False) if k > 1 else 0.0)
        elif k > 1:
            out["var"] = means.var(dim=1, unbiased=False)  # epistemic spread of the ensemble
        return out

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Rewards of one batch of rendered sequences."""
        return self.split(self.logits(input_ids, attention_mask, token_type_ids))

    def member_outputs(self, out: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """Per-member {'mean', 'var'} dicts, the unit the pairwise losses train (a disentangled head: one member
        whose training reward is q + l)."""
        if "length_reward" in out:
            return [{"mean": out["mean"] + out["length_reward"]}]
        res = []
        for j in range(self.head_spec.n_members):
            d = {"mean": out["members"][:, j]}
            if "member_var" in out:
                d["var"] = out["member_var"][:, j]
            res.append(d)
        return res


CACHE_ARGUMENTS = ("cache", "past_key_values")  # transformers >= 5.24 names it `cache`; earlier releases did not


def cache_argument(body: nn.Module) -> str | None:
    """The name under which `body.forward` takes a key/value cache, found by looking at its signature (not at
    the transformers version): `cache` (transformers >= 5.24), `past_key_values` (earlier), or None."""
    import inspect

    params = inspect.signature(body.forward).parameters
    return next((name for name in CACHE_ARGUMENTS if name in params), None)


def returned_cache(out: Any) -> Any:
    """The key/value cache a backbone returned with use_cache=True, under either name."""
    for name in CACHE_ARGUMENTS:
        cache = out.get(name) if hasattr(out, "get") else getattr(out, name, None)
        if cache is not None:
            return cache
    raise RewardlabError(f"the backbone returned no key/value cache (looked for {CACHE_ARGUMENTS})")


def _unwrap_peft(hf: nn.Module) -> nn.Module:
    """The HF model inside a peft wrapper (its LoRA layers stay active), or `hf` itself."""
    get = getattr(hf, "get_base_model", None)
    return get() if callable(get) else hf


def _init_mlp_hidden(head: MLPHead, seed: int) -> None:
    """He-normal hidden layers, each member's block from its own seed, zero biases, masked weights 0."""
    with torch.no_grad():
        for i, layer in enumerate(head.hidden):
            fan_in = layer.in_features if i == 0 else head.width
            w = torch.zeros_like(layer.weight, dtype=torch.float32)
            for j in range(head.groups):
                g = torch.Generator().manual_seed(seed * 1000 + j + 7919 * (i + 1))
                rows = slice(j * head.width, (j + 1) * head.width)
                cols = slice(None) if i == 0 else rows
                shape = w[rows, cols].shape
                w[rows, cols] = torch.randn(shape, generator=g) * math.sqrt(2.0 / fan_in)
            layer.weight.copy_(w.to(layer.weight.dtype))
            layer.bias.zero_()


def init_head(rm: RewardModel, seed: int) -> None:
    """Fresh head: each ensemble member (or disentangled) row from its own seed; variance rows start at s^2 = 1.
    An MLP head's hidden layers are seeded per member too, and each output row reads its own member's block."""
    head = head_module(rm.hf)
    lin = head if isinstance(head, nn.Linear) else getattr(head, "out_proj", None)
    if not isinstance(lin, nn.Linear):
        return
    spec = rm.head_spec
    k = spec.n_members
    fan_in, block = lin.in_features, None
    if isinstance(head, MLPHead):
        _init_mlp_hidden(head, seed)
        fan_in = head.width
        if head.groups > 1:
            block = head.width
    std = 1.0 / math.sqrt(fan_in + 1)
    variance_rows = spec.member_gaussian
    if spec.head == "disentangled":  # quality and length rows: two plain reward rows
        k = spec.n_outputs
    with torch.no_grad():
        for j in range(spec.n_outputs):
            g = torch.Generator().manual_seed(seed * 1000 + (j % k))
            w = torch.randn(fan_in, generator=g) * std
            if variance_rows and j >= k:  # variance rows: small weights, bias at softplus^-1(1)
                w = w * 0.1
            if block is not None:  # member j % k reads its own hidden block only
                full = torch.zeros(lin.in_features)
                full[(j % k) * block : (j % k + 1) * block] = w
                w = full
            lin.weight[j].copy_(w.to(lin.weight.dtype))
            if lin.bias is not None:
                lin.bias[j] = SOFTPLUS_ONE if variance_rows and j >= k else 0.0
