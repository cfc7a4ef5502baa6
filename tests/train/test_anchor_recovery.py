"""Anchor exactness (ALGORITHMS.md section 2): pairs identify s only up to scale, pairs + anchors pin it.

Synthetic tabular set: 200 items with known mu_i ~ N(0, 1) and s_i in {0.5, 1, 2}. Every item pair (19,900) is
compared N_CMP times with P(a beats b) = Phi((mu_a - mu_b) / sqrt(s_a^2 + s_b^2)); every item gets N_DRAWS latent
draws U ~ N(mu_i, s_i), each turned into anchor labels A_k = 1[U >= tau_k] by ``anchor_labels``.
Both losses are linear in their labels, so each item pair enters once with y = its share of wins and each item
with A = its share of draws at or above tau_k: the objective is exactly the mean per-comparison / per-draw NLL of
the 398M comparisons and 80M draws, at the cost of 19,900 rows (the win counts are drawn as binomials, which is
the exact distribution of a sum of Bernoulli comparisons). The rows reuse each item's anchor shares 199 times,
so lambda = 0.1 gives the anchors weight 0.1 * 199 * N_CMP / N_DRAWS = 0.995 relative to the joint likelihood,
i.e. the fit is (almost exactly) the joint maximum-likelihood estimate.

Statistical size: at this size the worst of the 200 per-item relative errors of s is 0.4-1.0% over seeds 0-3
(median 0.1%); with 10x fewer comparisons and draws it is 1.5-3%, so the 2% bound is asserted here, where it has
a 2x margin.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from rewardlab.train.losses import GaussianLoss, anchor_labels

F64 = torch.float64
N_ITEMS = 200
N_CMP = 20_000  # comparisons per item pair
N_DRAWS = 400_000  # anchor draws per item
S_LEVELS = (0.5, 1.0, 2.0)


@pytest.fixture(scope="module")
def synthetic() -> dict[str, object]:
    """Known (mu, s) per item, win shares for all item pairs, anchor shares per item and the thresholds."""
    rng = np.random.default_rng(0)
    mu = rng.normal(size=N_ITEMS)
    s = np.resize(np.array(S_LEVELS), N_ITEMS)
    ia, ib = np.triu_indices(N_ITEMS, 1)
    wins = rng.binomial(N_CMP, norm.cdf((mu[ia] - mu[ib]) / np.sqrt(s[ia] ** 2 + s[ib] ** 2)))
    # the "training set" of external scores that fixes the thresholds: 1,000 latent draws per item
    _, tau = anchor_labels((mu[:, None] + s[:, None] * rng.standard_normal((N_ITEMS, 1000))).ravel())
    shares = np.empty((N_ITEMS, 2))
    for i in range(N_ITEMS):
        a, _ = anchor_labels(mu[i] + s[i] * rng.standard_normal(N_DRAWS), thresholds=tau)
        shares[i] = a.double().mean(0).numpy()
    return {"mu": mu, "s": s, "ia": torch.from_numpy(ia), "ib": torch.from_numpy(ib), "tau": tau,
            "label": torch.from_numpy(wins / N_CMP), "shares": torch.from_numpy(shares)}


def _batch(d: dict[str, object]) -> dict[str, torch.Tensor]:
    """Rows = item pairs (a, b) with a as 'chosen', soft labels and the anchor shares of both sides."""
    shares = d["shares"]
    return {"label": d["label"], "anchor_chosen": shares[d["ia"]], "anchor_rejected": shares[d["ib"]]}


def _loss(loss_fn: GaussianLoss, d: dict[str, object], mu: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Total loss of per-item (mu, s) on the synthetic rows."""
    ia, ib = d["ia"], d["ib"]
    var = s**2
    loss, _ = loss_fn({"mean": mu[ia], "var": var[ia]}, {"mean": mu[ib], "var": var[ib]}, _batch(d))
    return loss


def _fit(loss_fn: GaussianLoss, d: dict[str, object], log_s0: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit free per-item (mu, log s) with LBFGS from mu = 0, log s = log_s0."""
    mu = torch.zeros(N_ITEMS, dtype=F64, requires_grad=True)
    log_s = torch.full((N_ITEMS,), log_s0, dtype=F64, requires_grad=True)
    opt = torch.optim.LBFGS([mu, log_s], max_iter=1000, tolerance_grad=1e-11, tolerance_change=1e-15,
                            history_size=50, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = _loss(loss_fn, d, mu, log_s.exp())
        loss.backward()
        return loss

    opt.step(closure)
    return mu.detach(), log_s.detach().exp()


def test_pairs_only_scale_is_not_identified(synthetic: dict[str, object]) -> None:
    d = synthetic
    pairs_only = GaussianLoss(anchor_lambda=0.0)
    mu_t, s_t = torch.from_numpy(d["mu"]), torch.from_numpy(d["s"])
    base = _loss(pairs_only, d, mu_t, s_t)
    assert torch.equal(_loss(pairs_only, d, 2 * mu_t, 2 * s_t), base)  # exactly invariant to 2x scaling
    assert _loss(pairs_only, d, 3 * mu_t + 1, 3 * s_t).item() == pytest.approx(base.item(), rel=1e-13)
    # two pairs-only fits from different starting scales: same loss, different s scales
    mu1, s1 = _fit(pairs_only, d, log_s0=0.0)
    mu2, s2 = _fit(pairs_only, d, log_s0=float(np.log(3.0)))
    l1, l2 = _loss(pairs_only, d, mu1, s1).item(), _loss(pairs_only, d, mu2, s2).item()
    assert l1 == pytest.approx(l2, rel=1e-9)
    scale1 = float(torch.exp(torch.log(s1 / s_t).mean()))
    scale2 = float(torch.exp(torch.log(s2 / s_t).mean()))
    assert abs(scale2 / scale1 - 1) > 0.2, (scale1, scale2)
    # ... yet the shape of s (s up to one common factor) is recovered by the pairs
    rel_shape = (s1 / scale1 / s_t - 1).abs().max().item()
    assert rel_shape < 0.05, f"pairs-only s up to scale: max relative error {rel_shape:.4f}"
    assert torch.equal(_loss(pairs_only, d, 2 * mu1, 2 * s1), _loss(pairs_only, d, mu1, s1))


def test_pairs_plus_anchors_recover_s(synthetic: dict[str, object]) -> None:
    d = synthetic
    loss_fn = GaussianLoss(anchor_thresholds=d["tau"])  # lambda = 0.1 default
    assert loss_fn.anchor_lambda == 0.1
    mu_hat, s_hat = _fit(loss_fn, d)
    mu_t, s_t = torch.from_numpy(d["mu"]), torch.from_numpy(d["s"])
    rel = (s_hat / s_t - 1).numpy()
    global_scale = float(np.exp(np.mean(np.log(s_hat.numpy() / d["s"]))) - 1)
    msg = (f"s relative error: max {np.abs(rel).max():.4f}, median {np.median(np.abs(rel)):.4f}, "
           f"rms {np.sqrt(np.mean(rel**2)):.4f}, global scale {global_scale:+.4f}; "
           f"mu max abs error {(mu_hat - mu_t).abs().max().item():.4f}")
    print(msg)
    assert np.abs(rel).max() < 0.02, msg  # every item's s within 2%
    assert abs(global_scale) < 0.005, msg  # the scale pairs alone cannot see is pinned
    assert (mu_hat - mu_t).abs().max().item() < 0.03, msg  # and so is mu, on the external score's scale
    # the anchors break the invariance: scaling the fit by 2 now costs
    assert _loss(loss_fn, d, 2 * mu_hat, 2 * s_hat).item() > _loss(loss_fn, d, mu_hat, s_hat).item() + 1e-3
