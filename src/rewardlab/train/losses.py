"""Pairwise reward-model losses (ALGORITHMS.md sections 1-2), as a registry of ``torch.nn.Module`` classes.

Every loss has the same call::

    loss_fn = get_loss("rao_kupper", center_eta=0.01)
    loss, stats = loss_fn(out_chosen, out_rejected, batch)

- ``out_chosen`` / ``out_rejected``: dicts with ``"mean"`` (tensor [B], the reward r or the Gaussian mean mu) and,
  for the Gaussian loss, ``"var"`` (tensor [B], the variance s^2 from a variance head; the head is responsible
  for positivity, e.g. ``softplus(h) + 1e-6``).
- ``batch``: a dict that may hold ``"margin"`` [B], ``"label"`` [B] (soft label y in [0, 1] = share preferring
  chosen), ``"tie"`` [B] bool, ``"anchor_chosen"`` / ``"anchor_rejected"`` [B, 2] (coarse anchor labels A_1, A_2).
  Keys a loss does not use are ignored (e.g. ``tie`` by the non-tie losses: the data layer decides whether tied
  pairs reach them), except that anchors in the batch of a Gaussian loss without thresholds are an error.
- returns ``loss`` (scalar tensor: mean per-pair NLL + regularisers) and ``stats`` (dict of python floats for
  logging: ``loss``, ``loss_pair``, ``accuracy`` (strict ``Delta > 0`` counts 1, ``Delta == 0`` counts 0.5,
  on non-tied pairs), ``reward_gap`` (mean Delta), ``mean_reward`` (mean of (r_c + r_r) / 2) and loss-specific
  entries: ``loss_center``, ``tie_a``, ``tie_nu``, ``tie_rate``, ``mean_std``, ``loss_anchor``).

Learned tie parameters (Rao-Kupper ``a``, Davidson ``nu``) are ``nn.Parameter``s of the loss module, so the
trainer must put ``loss_fn.parameters()`` into its optimiser. They are kept in float32 by default and cast to
the dtype of the rewards inside ``forward``.
"""

from __future__ import annotations

import math
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rewardlab.errors import RewardlabError

__all__ = [
    "LOSSES",
    "BTLoss",
    "DavidsonLoss",
    "GaussianLoss",
    "MarginLoss",
    "PairwiseLoss",
    "RaoKupperLoss",
    "SoftLabelLoss",
    "DisentangleSpec",
    "anchor_labels",
    "anchor_nll",
    "batch_pearson",
    "disentangle_penalty",
    "get_loss",
    "pair_loss",
    "register_loss",
]

LOSSES: dict[str, type[PairwiseLoss]] = {}

Z_CLAMP = 6.0  # Gaussian loss: z is clamped to [-Z_CLAMP, Z_CLAMP] (ALGORITHMS.md section 1)
ANCHOR_PROB_EPS = 1e-7  # anchor class probabilities are clamped to [eps, 1 - eps] (ALGORITHMS.md section 2)


def register_loss(name: str) -> Callable[[type[PairwiseLoss]], type[PairwiseLoss]]:
    """Class decorator that adds a loss class to ``LOSSES`` under ``name`` so configs can select it by name."""

    def deco(cls: type[PairwiseLoss]) -> type[PairwiseLoss]:
        if name in LOSSES:
            raise RewardlabError(f"loss {name!r} is already registered ({LOSSES[name].__name__})")
        LOSSES[name] = cls
        cls.name = name
        return cls

    return deco


def get_loss(name: str, **kwargs: Any) -> PairwiseLoss:
    """Build the registered loss ``name`` with constructor ``kwargs`` (the config-file entry point)."""
    try:
        cls = LOSSES[name]
    except KeyError:
        raise KeyError(f"unknown loss {name!r}; registered: {sorted(LOSSES)}") from None
    return cls(**kwargs)


def _inv_softplus(a: float) -> float:
    """Inverse of softplus for a >= 0 (``-inf`` for 0), used to initialise a softplus-parameterised scalar."""
    if a < 0:
        raise RewardlabError(f"softplus target must be >= 0, got {a}")
    if a == 0:
        return -math.inf
    if a > 30:
        return a
    return math.log(math.expm1(a))


def _column(batch: Mapping[str, Any], key: str, like: Tensor) -> Tensor | None:
    """Fetch ``batch[key]`` as a tensor on the device/dtype of ``like`` (None when absent)."""
    v = batch.get(key)
    if v is None:
        return None
    t = torch.as_tensor(v, device=like.device)
    return t if t.dtype == torch.bool else t.to(like.dtype)


def _required_column(batch: Mapping[str, Any], key: str, like: Tensor, message: str) -> Tensor:
    """`_column`, or a KeyError with `message` when the batch lacks it."""
    col = _column(batch, key, like)
    if col is None:
        raise KeyError(message)
    return col


def _tie_mask(batch: Mapping[str, Any], like: Tensor) -> Tensor:
    """The boolean tie column of the batch, all False when the batch has none."""
    t = batch.get("tie")
    if t is None:
        return torch.zeros(like.shape, dtype=torch.bool, device=like.device)
    t = torch.as_tensor(t, device=like.device)
    if t.shape != like.shape:
        raise RewardlabError(f"tie has shape {tuple(t.shape)}, expected {tuple(like.shape)}")
    return t.to(torch.bool)


class PairwiseLoss(nn.Module, metaclass=ABCMeta):
    """Base class: mean per-pair NLL (from ``pair_nll``) plus the optional centering regulariser."""

    name: str = "base"

    def __init__(self, center_eta: float = 0.0) -> None:
        super().__init__()
        if center_eta < 0:
            raise RewardlabError(f"center_eta must be >= 0, got {center_eta}")
        self.center_eta = float(center_eta)

    @abstractmethod
    def pair_nll(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                 batch: Mapping[str, Any]) -> Tensor:
        """Per-pair negative log-likelihood [B]; implemented by each loss."""

    def extra_loss(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                   batch: Mapping[str, Any], stats: dict[str, float]) -> Tensor | None:
        """Additional loss terms beyond the pair NLL and centering (Gaussian anchors); None by default."""
        return None

    def extra_stats(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                    batch: Mapping[str, Any]) -> dict[str, float]:
        """Loss-specific logging values (tie parameters, mean std); empty by default."""
        return {}

    def forward(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                batch: Mapping[str, Any] | None = None) -> tuple[Tensor, dict[str, float]]:
        """Return (scalar loss, detached stats) for one batch of pairs."""
        batch = {} if batch is None else batch
        r_c, r_r = out_chosen["mean"], out_rejected["mean"]
        if r_c.shape != r_r.shape or r_c.dim() != 1:
            raise RewardlabError(f"mean rewards must both be [B], got {tuple(r_c.shape)} and {tuple(r_r.shape)}")
        nll = self.pair_nll(out_chosen, out_rejected, batch)
        loss_pair = nll.mean()
        loss = loss_pair
        stats: dict[str, float] = {"loss_pair": float(loss_pair.detach())}
        if self.center_eta > 0:
            center = ((r_c + r_r) ** 2).mean()
            loss = loss + self.center_eta * center
            stats["loss_center"] = float(center.detach())
        extra = self.extra_loss(out_chosen, out_rejected, batch, stats)
        if extra is not None:
            loss = loss + extra
        with torch.no_grad():
            delta = (r_c - r_r).detach()
            keep = ~_tie_mask(batch, delta)
            if bool(keep.any()):
                d = delta[keep]
                acc = ((d > 0).to(d.dtype) + 0.5 * (d == 0).to(d.dtype)).mean()
                stats["accuracy"] = float(acc)
            else:
                stats["accuracy"] = float("nan")
            stats["reward_gap"] = float(delta.mean())
            stats["mean_reward"] = float(((r_c + r_r) / 2).mean())
            stats.update(self.extra_stats(out_chosen, out_rejected, batch))
        stats["loss"] = float(loss.detach())
        return loss, stats


@register_loss("bt")
class BTLoss(PairwiseLoss):
    """Bradley-Terry: -log sigma(r_c - r_r), the default reward-model loss."""

    def pair_nll(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                 batch: Mapping[str, Any]) -> Tensor:
        """Per-pair -log sigma(Delta)."""
        return -F.logsigmoid(out_chosen["mean"] - out_rejected["mean"])


@register_loss("margin")
class MarginLoss(PairwiseLoss):
    """BT with a per-pair margin: -log sigma(Delta - m) (Llama 2 style); the batch must carry ``margin``."""

    def pair_nll(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                 batch: Mapping[str, Any]) -> Tensor:
        """Per-pair -log sigma(Delta - m)."""
        delta = out_chosen["mean"] - out_rejected["mean"]
        m = _required_column(batch, "margin", delta, "loss 'margin' needs a 'margin' column in the batch")
        return -F.logsigmoid(delta - m)


@register_loss("soft")
class SoftLabelLoss(PairwiseLoss):
    """Soft-label BT: -[y log sigma(Delta) + (1-y) log sigma(-Delta)], y = share preferring chosen (required)."""

    def pair_nll(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                 batch: Mapping[str, Any]) -> Tensor:
        """Per-pair soft cross-entropy with the ``label`` column."""
        delta = out_chosen["mean"] - out_rejected["mean"]
        y = _required_column(batch, "label", delta, "loss 'soft' needs a 'label' column (soft labels in [0, 1]) in "
                             "the batch")
        return -(y * F.logsigmoid(delta) + (1 - y) * F.logsigmoid(-delta))


class TieLoss(PairwiseLoss):
    """A pairwise loss with a tie outcome: subclasses give `outcome_log_probs(delta)` and their tie parameter."""

    @abstractmethod
    def outcome_log_probs(self, delta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(log P(c>r), log P(tie), log P(r>c)) for reward differences ``delta``."""

    @abstractmethod
    def tie_parameter(self) -> tuple[str, Tensor]:
        """(log name, value) of the tie parameter."""

    def pair_nll(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                 batch: Mapping[str, Any]) -> Tensor:
        """Per-pair -log P(observed outcome): P(tie) for tied pairs, P(c>r) otherwise."""
        delta = out_chosen["mean"] - out_rejected["mean"]
        log_win, log_tie, _ = self.outcome_log_probs(delta)
        return -torch.where(_tie_mask(batch, delta), log_tie, log_win)

    def extra_stats(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                    batch: Mapping[str, Any]) -> dict[str, float]:
        """Log the tie parameter and the share of tied pairs."""
        tie = _tie_mask(batch, out_chosen["mean"])
        name, value = self.tie_parameter()
        return {name: float(value), "tie_rate": float(tie.float().mean())}


@register_loss("rao_kupper")
class RaoKupperLoss(TieLoss):
    """Rao-Kupper ties: P(c>r)=sigma(Delta-a), P(r>c)=sigma(-Delta-a), P(tie)=rest; a = softplus(learned) >= 0.

    ``a_init`` is the initial a (0 gives -inf for the raw parameter: exactly BT, and it then stays 0);
    ``learn_tie=False`` keeps a fixed (a buffer instead of a parameter). Tied pairs (``batch["tie"]``) use
    log P(tie), computed in log space as log sigma(a-Delta) + log sigma(a+Delta) + log(1 - e^(-2a)); non-tied
    pairs use log P(c>r). A batch without a ``tie`` column counts as all non-tied (a is then driven to 0).
    """

    def __init__(self, center_eta: float = 0.0, a_init: float = 0.5, learn_tie: bool = True) -> None:
        super().__init__(center_eta=center_eta)
        raw = torch.tensor(_inv_softplus(float(a_init)), dtype=torch.float32)
        if learn_tie:
            self.raw_a = nn.Parameter(raw)
        else:
            self.register_buffer("raw_a", raw)

    def tie_a(self) -> Tensor:
        """The tie threshold a = softplus(raw_a) >= 0."""
        return F.softplus(self.raw_a)

    def outcome_log_probs(self, delta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(log P(c>r), log P(tie), log P(r>c)) for reward differences ``delta``; they sum to 1 in prob space."""
        a = self.tie_a().to(delta.dtype)
        log_win = F.logsigmoid(delta - a)
        log_loss = F.logsigmoid(-delta - a)
        # 1 - sigma(D-a) - sigma(-D-a) = sigma(a-D) sigma(a+D) (1 - e^{-2a}); clamp keeps a = 0 finite for grads
        tiny = torch.finfo(delta.dtype).tiny
        log_gap = torch.log((-torch.expm1(-2 * a)).clamp_min(tiny))
        log_tie = F.logsigmoid(a - delta) + F.logsigmoid(a + delta) + log_gap
        return log_win, log_tie, log_loss

    def tie_parameter(self) -> tuple[str, Tensor]:
        return "tie_a", self.tie_a()


@register_loss("davidson")
class DavidsonLoss(TieLoss):
    """Davidson ties: P(c>r)=e^rc/Z, P(tie)=nu e^((rc+rr)/2)/Z, Z=e^rc+e^rr+nu e^((rc+rr)/2); nu = exp(log_nu).

    Computed in log space via x = log nu - log(2 cosh(Delta/2)): log P(tie) = log sigma(x) and
    log P(c>r) = log sigma(Delta) + log sigma(-x), so nu = 0 (``nu_init=0`` -> log_nu = -inf) gives BT bit for bit.
    ``learn_tie=False`` keeps nu fixed. A batch without a ``tie`` column counts as all non-tied.
    """

    def __init__(self, center_eta: float = 0.0, nu_init: float = 0.5, learn_tie: bool = True) -> None:
        super().__init__(center_eta=center_eta)
        if nu_init < 0:
            raise RewardlabError(f"nu_init must be >= 0, got {nu_init}")
        raw = torch.tensor(math.log(nu_init) if nu_init > 0 else -math.inf, dtype=torch.float32)
        if learn_tie:
            self.log_nu = nn.Parameter(raw)
        else:
            self.register_buffer("log_nu", raw)

    def tie_nu(self) -> Tensor:
        """The tie parameter nu = exp(log_nu) >= 0."""
        return torch.exp(self.log_nu)

    def outcome_log_probs(self, delta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(log P(c>r), log P(tie), log P(r>c)) for reward differences ``delta``; they sum to 1 in prob space."""
        log_nu = self.log_nu.to(delta.dtype)
        x = log_nu - torch.logaddexp(delta / 2, -delta / 2)
        not_tie = F.logsigmoid(-x)
        return F.logsigmoid(delta) + not_tie, F.logsigmoid(x), F.logsigmoid(-delta) + not_tie

    def tie_parameter(self) -> tuple[str, Tensor]:
        return "tie_nu", self.tie_nu()


def anchor_nll(mu: Tensor, s: Tensor, anchors: Tensor, thresholds: Tensor | Sequence[float]) -> Tensor:
    """Ordered-probit anchor NLL per response [N] (ALGORITHMS.md section 2, RECONSTRUCTED).

    p_k = Phi((mu - tau_k) / s); pi_0 = 1 - p_1, pi_1 = p_1 - p_2, pi_2 = p_2, each clamped to [1e-7, 1 - 1e-7];
    L = -[(1 - A_1) log pi_0 + (A_1 - A_2) log pi_1 + A_2 log pi_2]. The tails are computed as Phi(-z_1) and
    Phi(z_2) and the middle as a difference of the smaller tails, which is the same value with less
    cancellation. L is linear in A, so fractional A (the share of several draws at or above each threshold) gives
    exactly the mean NLL of those draws. Note the clamp: a class with pi < 1e-7 gets no gradient.
    """
    tau = torch.as_tensor(thresholds, dtype=mu.dtype, device=mu.device)
    anchors = anchors.to(mu.dtype)
    if anchors.shape != (*mu.shape, 2):
        raise RewardlabError(f"anchors must have shape {(*mu.shape, 2)}, got {tuple(anchors.shape)}")
    z1 = (mu - tau[0]) / s
    z2 = (mu - tau[1]) / s
    pi0 = torch.special.ndtr(-z1)
    pi2 = torch.special.ndtr(z2)
    upper = z1 + z2 > 0  # mu above the midpoint: p_1 - p_2 = Phi(-z_2) - Phi(-z_1) is the precise form
    pi1 = torch.where(upper, torch.special.ndtr(-z2) - torch.special.ndtr(-z1),
                      torch.special.ndtr(z1) - torch.special.ndtr(z2))
    lo, hi = ANCHOR_PROB_EPS, 1 - ANCHOR_PROB_EPS
    a1, a2 = anchors[..., 0], anchors[..., 1]
    return -((1 - a1) * pi0.clamp(lo, hi).log() + (a1 - a2) * pi1.clamp(lo, hi).log()
             + a2 * pi2.clamp(lo, hi).log())


@register_loss("gaussian")
class GaussianLoss(PairwiseLoss):
    """Heteroscedastic probit loss: z = (mu_c - mu_r)/sqrt(s_c^2 + s_r^2) clamped to [-6, 6], y = label or 1.

    Per pair: -[y log Phi(z) + (1-y) log Phi(-z)] with the stable ``torch.special.log_ndtr``. Pairs alone fit
    (mu, s) and (c mu + b, c s) identically, so s is identified only up to scale.

    Anchor guidance (RECONSTRUCTED, ALGORITHMS.md section 2): with ``anchor_thresholds=(tau_1, tau_2)`` and
    ``anchor_lambda > 0`` (0.1 default) the loss adds lambda * mean(L_anchor(c) + L_anchor(r)) using the batch
    columns ``anchor_chosen`` / ``anchor_rejected`` ([B, 2] with A_k = 1[external score >= tau_k], see
    ``anchor_labels``; fractions in [0, 1] are allowed). The thresholds are FIXED, not learned, and live on the
    external score's scale: they are stored as a buffer (saved in the state dict) and never updated. That is what
    identifies the model: P(A_k = 1) = Phi((mu - tau_k)/s) with two known tau_k pins both the location and the
    scale of (mu, s) to the external score, whereas learned tau_k would only add the free affine map
    (mu, s, tau) -> (c mu + b, c s, c tau + b) back and leave s as unidentified as with pairs alone. Consequences:
    mu is trained toward the external score's units (so reward normalisation must not be applied before this loss),
    and s is read as the spread of the latent utility on that scale, the same s that enters the pair likelihood.
    Without thresholds the anchor term is off; with ``anchor_lambda=0`` it is off and anchor columns are ignored.
    """

    def __init__(self, center_eta: float = 0.0, anchor_lambda: float = 0.1,
                 anchor_thresholds: Sequence[float] | Tensor | None = None) -> None:
        super().__init__(center_eta=center_eta)
        if anchor_lambda < 0:
            raise RewardlabError(f"anchor_lambda must be >= 0, got {anchor_lambda}")
        self.anchor_lambda = float(anchor_lambda)
        if anchor_thresholds is not None:
            tau = torch.as_tensor(anchor_thresholds, dtype=torch.float64).flatten()
            if tau.numel() != 2 or not bool(tau[0] < tau[1]) or not bool(torch.isfinite(tau).all()):
                raise RewardlabError(f"anchor_thresholds must be two finite values tau_1 < tau_2, got {tau.tolist()}")
            self.register_buffer("anchor_thresholds", tau)
        else:
            self.anchor_thresholds = None

    @property
    def uses_anchors(self) -> bool:
        """Whether the anchor term is active (thresholds set and lambda > 0)."""
        return self.anchor_thresholds is not None and self.anchor_lambda > 0

    @staticmethod
    def _std(out: Mapping[str, Tensor]) -> Tensor:
        """The standard deviation s = sqrt(var) of one side (``var`` required)."""
        if "var" not in out:
            raise KeyError("loss 'gaussian' needs a 'var' entry (s^2 from a variance head) in the model outputs")
        return out["var"].sqrt()

    def pair_nll(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                 batch: Mapping[str, Any]) -> Tensor:
        """Per-pair probit cross-entropy with y = ``label`` (or 1)."""
        mu_c, mu_r = out_chosen["mean"], out_rejected["mean"]
        if "var" not in out_chosen or "var" not in out_rejected:
            raise KeyError("loss 'gaussian' needs a 'var' entry (s^2 from a variance head) in the model outputs")
        z = ((mu_c - mu_r) / torch.sqrt(out_chosen["var"] + out_rejected["var"])).clamp(-Z_CLAMP, Z_CLAMP)
        y = _column(batch, "label", z)
        if y is None:
            return -torch.special.log_ndtr(z)
        return -(y * torch.special.log_ndtr(z) + (1 - y) * torch.special.log_ndtr(-z))

    def extra_loss(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                   batch: Mapping[str, Any], stats: dict[str, float]) -> Tensor | None:
        """lambda * mean(L_anchor(chosen) + L_anchor(rejected)) when anchors are configured."""
        has = "anchor_chosen" in batch or "anchor_rejected" in batch
        if not self.uses_anchors:
            if has and self.anchor_lambda > 0:
                raise RewardlabError("batch has anchor labels but the gaussian loss has no anchor_thresholds; "
                                 "pass anchor_thresholds (see anchor_labels) or anchor_lambda=0")
            return None
        if "anchor_chosen" not in batch or "anchor_rejected" not in batch:
            raise KeyError("anchor-guided gaussian loss needs 'anchor_chosen' and 'anchor_rejected' in the batch")
        mu_c, mu_r = out_chosen["mean"], out_rejected["mean"]
        a_c = torch.as_tensor(batch["anchor_chosen"], device=mu_c.device)
        a_r = torch.as_tensor(batch["anchor_rejected"], device=mu_c.device)
        l_c = anchor_nll(mu_c, self._std(out_chosen), a_c, self.anchor_thresholds)
        l_r = anchor_nll(mu_r, self._std(out_rejected), a_r, self.anchor_thresholds)
        term = (l_c + l_r).mean()
        stats["loss_anchor"] = float(term.detach())
        return self.anchor_lambda * term

    def extra_stats(self, out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                    batch: Mapping[str, Any]) -> dict[str, float]:
        """Log the mean predicted standard deviation over both sides."""
        s = torch.cat([self._std(out_chosen), self._std(out_rejected)])
        return {"mean_std": float(s.mean())}


def anchor_labels(scores: Tensor | np.ndarray | Sequence[float],
                  thresholds: Sequence[float] | None = None) -> tuple[Tensor, tuple[float, float]]:
    """Coarse anchor labels A_k = 1[score >= tau_k] ([N, 2] float) and the thresholds (tau_1, tau_2) used.

    Default thresholds are the 25th and 75th percentiles (linear interpolation, as ``numpy.percentile``) of
    ``scores``; compute them once on the training set and reuse the returned pair for validation data and for
    ``GaussianLoss(anchor_thresholds=...)``, since the thresholds fix the scale the model's mu is learned on.
    """
    arr = scores.detach().cpu().double().numpy() if isinstance(scores, Tensor) else np.asarray(scores, np.float64)
    arr = arr.reshape(-1)
    if not np.isfinite(arr).all():
        raise RewardlabError("anchor scores must be finite")
    if thresholds is None:
        if arr.size == 0:
            raise RewardlabError("cannot take percentiles of an empty score array")
        t1, t2 = (float(v) for v in np.percentile(arr, [25.0, 75.0]))
    else:
        t1, t2 = (float(v) for v in thresholds)
    if not t1 < t2:
        raise RewardlabError(f"anchor thresholds need tau_1 < tau_2, got ({t1}, {t2})")
    a = np.stack([arr >= t1, arr >= t2], axis=1).astype(np.float32)
    return torch.from_numpy(a), (t1, t2)


def batch_slope(x: Tensor, y: Tensor, eps: float = 1e-6) -> Tensor:
    """cov(x, y / sd(y)): how much x changes per standard deviation of y (population moments), differentiable; 0
    when y is constant. Unlike the correlation, its gradient in x does not grow as x's spread shrinks."""
    x = x.float()
    y = y.float()
    if x.numel() < 2:
        return x.new_zeros(())
    yc = y - y.mean()
    ys = yc / (yc.pow(2).mean().sqrt() + eps)
    return ((x - x.mean()) * ys).mean()


def batch_pearson(x: Tensor, y: Tensor, eps: float = 1e-6) -> Tensor:
    """Pearson correlation of two [N] tensors, differentiable: cov(x, y) / sqrt((var x + eps)(var y + eps)) with
    population moments of x and y standardised first (so eps is relative); 0 when either is constant."""
    x = x.float()
    y = y.float()
    xc, yc = x - x.mean(), y - y.mean()
    if x.numel() < 2:
        return x.new_zeros(())
    sx, sy = xc.pow(2).mean().sqrt(), yc.pow(2).mean().sqrt()
    xs, ys = xc / (sx + eps), yc / (sy + eps)
    return (xs * ys).mean() / torch.sqrt((xs.pow(2).mean() + eps) * (ys.pow(2).mean() + eps))


class DisentangleSpec:
    """Weights of the disentangled (ODIN-style) head's regularisers (docs/ALGORITHMS.md, "Disentangled head").

    Args:
        quality_corr: lambda_Q, weight of |rho(q, L)|: the quality reward must not track response length.
        length_corr: lambda_L, weight of -rho(l, L): the length reward must track it.
        orthogonal: lambda_O, weight of |cos(w_q, w_l)|: the two rows read different directions of the features.
        within_pair: also penalise |rho(q_c - q_r, L_c - L_r)| with lambda_Q (length differences within a pair,
            the view the audit's within-prompt correlation takes); ODIN itself uses the batch correlation only.
        measure: how q's dependence on length is measured in the lambda_Q terms: "slope" (the default;
            `batch_slope`: reward units per standard deviation of length, whose gradient stays bounded while q's
            spread is small) or "corr" (Pearson, ODIN's own form; measured to leave q near chance, see
            docs/PERFORMANCE.md).

    Raises:
        RewardlabError: a negative weight.

    Example:
        >>> DisentangleSpec().to_dict()
        {'quality_corr': 1.0, 'length_corr': 1.0, 'orthogonal': 1.0, 'within_pair': True, 'measure': 'slope'}
    """

    def __init__(self, quality_corr: float = 1.0, length_corr: float = 1.0, orthogonal: float = 1.0,
                 within_pair: bool = True, measure: str = "slope") -> None:
        if measure not in ("corr", "slope"):
            raise RewardlabError(f"measure must be 'corr' or 'slope', got {measure!r}")
        self.measure = measure
        for name, v in (("quality_corr", quality_corr), ("length_corr", length_corr), ("orthogonal", orthogonal)):
            if v < 0:
                raise RewardlabError(f"{name} must be >= 0, got {v}")
        self.quality_corr, self.length_corr, self.orthogonal = float(quality_corr), float(length_corr), float(orthogonal)
        self.within_pair = bool(within_pair)

    def to_dict(self) -> dict[str, Any]:
        return {"quality_corr": self.quality_corr, "length_corr": self.length_corr, "orthogonal": self.orthogonal,
                "within_pair": self.within_pair, "measure": self.measure}


def disentangle_penalty(out_chosen: Mapping[str, Tensor], out_rejected: Mapping[str, Tensor],
                        len_chosen: Tensor, len_rejected: Tensor, head_weight: Tensor,
                        spec: DisentangleSpec) -> tuple[Tensor, dict[str, float]]:
    """The disentangled head's regularisers on one batch of B pairs (2B responses).

    lambda_Q |rho(q, L)| - lambda_L rho(l, L) + lambda_O |cos(w_q, w_l)| (+ lambda_Q |rho(q_c - q_r, L_c - L_r)|
    with `spec.within_pair`), where rho is the Pearson correlation over the batch (`batch_pearson`), q and l the
    quality and length rows' outputs (`out[...]["mean"]`, `out[...]["length_reward"]`), L the response lengths in
    tokens, and w_q, w_l the two rows of the head's weight [2, H].

    Returns:
        (penalty, stats): stats log q's dependence on length (`rho_...` or `slope_...` by the measure), over the
        batch and within pairs, rho_l and the cosine.
    """
    q = torch.cat([out_chosen["mean"], out_rejected["mean"]])
    length_r = torch.cat([out_chosen["length_reward"], out_rejected["length_reward"]])
    lengths = torch.cat([len_chosen, len_rejected]).to(q.device, torch.float32)
    dep = batch_pearson if spec.measure == "corr" else batch_slope
    rho_q = dep(q, lengths)
    rho_l = batch_pearson(length_r, lengths)
    w = head_weight.float()
    cos = F.cosine_similarity(w[0], w[1], dim=0)
    penalty = spec.quality_corr * rho_q.abs() - spec.length_corr * rho_l + spec.orthogonal * cos.abs()
    name = "rho" if spec.measure == "corr" else "slope"
    stats = {f"{name}_quality_length": float(rho_q.detach()), "rho_length_head": float(rho_l.detach()),
             "head_cosine": float(cos.detach())}
    if spec.within_pair:
        rho_pair = dep(out_chosen["mean"] - out_rejected["mean"],
                       (len_chosen - len_rejected).to(q.device, torch.float32))
        penalty = penalty + spec.quality_corr * rho_pair.abs()
        stats[f"{name}_quality_length_pair"] = float(rho_pair.detach())
    return penalty, stats


def _member_loss(loss_fn: PairwiseLoss, out_chosen: dict, out_rejected: dict, batch: dict,
                 w: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
    if w is None:
        return loss_fn(out_chosen, out_rejected, batch)
    # bootstrap: this member sees pair i with weight w_i ~ Poisson(1) (0 = left out of its resample)
    nll = loss_fn.pair_nll(out_chosen, out_rejected, batch)
    loss = (w * nll).sum() / w.sum().clamp_min(1.0)
    stats: dict[str, float] = {}
    if loss_fn.center_eta > 0:
        loss = loss + loss_fn.center_eta * ((out_chosen["mean"] + out_rejected["mean"]) ** 2).mean()
    extra = loss_fn.extra_loss(out_chosen, out_rejected, batch, stats)
    if extra is not None:
        loss = loss + extra
    return loss, stats


def pair_loss(rm: Any, loss_fn: PairwiseLoss, out_chosen: dict[str, torch.Tensor], out_rejected: dict[str, torch.Tensor],
              batch: dict[str, Any], weights: torch.Tensor | None = None,
              disentangle: DisentangleSpec | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Sum over ensemble members of each member's pairwise loss (optionally bootstrap-weighted), plus stats.

    Args:
        rm: the RewardModel (its `member_outputs` splits the head's outputs into members).
        loss_fn: a loss of the registry.
        out_chosen: `RewardModel.split` outputs of the chosen responses.
        out_rejected: the same for the rejected responses.
        batch: per-pair columns (label, margin, tie, anchors, len_chosen / len_rejected); None values are ignored.
        weights: [members, batch] bootstrap weights, or None.
        disentangle: the regularisers of a disentangled head (default weights when None); only used when `rm`
            has one, whose training reward is q + l and which needs `len_chosen` / `len_rejected` in the batch.

    Returns:
        (loss, stats): the summed loss and floats for logging (first member's stats, accuracy and reward gap of
        the model's reward, and the disentangled head's correlations).

    Raises:
        KeyError: a disentangled head without response lengths in the batch.
    """
    batch = {k: v for k, v in batch.items() if v is not None}
    losses, stats = [], {}
    for j, (mc, mr) in enumerate(zip(rm.member_outputs(out_chosen), rm.member_outputs(out_rejected), strict=True)):
        lj, sj = _member_loss(loss_fn, mc, mr, batch, None if weights is None else weights[j])
        losses.append(lj)
        if j == 0:
            stats = dict(sj)
    loss = torch.stack(losses).sum()
    if "length_reward" in out_chosen:
        if "len_chosen" not in batch or "len_rejected" not in batch:
            raise KeyError("a disentangled head needs the response lengths 'len_chosen' and 'len_rejected' in the "
                           "batch (encode_pairs writes them)")
        from rewardlab.models.reward_model import head_linear

        lin = head_linear(rm.hf)
        if lin is None:
            raise RewardlabError("a disentangled head needs a linear head layer (its two rows are q and l)")
        extra, dstats = disentangle_penalty(out_chosen, out_rejected, batch["len_chosen"], batch["len_rejected"],
                                            lin.weight, disentangle or DisentangleSpec())
        loss = loss + extra
        stats.update(dstats)
    with torch.no_grad():
        delta = out_chosen["mean"] - out_rejected["mean"]
        stats["accuracy"] = float(((delta > 0).float() + 0.5 * (delta == 0).float()).mean())
        stats["reward_gap"] = float(delta.mean())
    return loss, stats
