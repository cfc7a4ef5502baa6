"""A small text reward model the optimisation loop can train and update in-process: linear Bradley-Terry on hashed
bag-of-words features.

Features of (prompt, response): counts of the response's tokens (words and punctuation, lower-cased) and of
(prompt token, response token) pairs, hashed (crc32) into `dim` buckets. The reward is w . phi(prompt, response);
w minimises the Bradley-Terry loss sum_i [log(1 + exp(z_i)) - y_i z_i], z_i = w . (phi(chosen_i) - phi(rejected_i)),
plus l2 ||w||^2 (l2 = 10; scipy L-BFGS, warm-started from the current w). It learns what its labels teach, the annotators'
length, agreement and formatting biases included, and sees some of gold (relevance, hedges, filler, repetition, the
pairing of a fact question with its answer words); it cannot check arithmetic. On 1,000 held-out simulator pairs
its gold agreement is 0.61 trained on 2,000 human_like pairs and 0.66 on 8,000 (the annotator's own labels: 0.77);
l2 = 10 was within 0.01 of the best of 0.3-100 at both sizes. It trains on 4,000 pairs in about 4 s on one core, so iterative
reward-model updates (`rewardlab optimize --rm-update-every k`) stay cheap.

`--reward bow:PRESET[:N[:SEED]][:correct=M]` trains one on N (default 4,000) simulator pairs from the default
propensities, labelled by the simulated annotator PRESET (human_like, neutral, or length=B,agreement=B,format=B),
data seed SEED (default 0). `correct=M` is the data-level intervention against sycophancy: M pairs that reward
correction are added to the training pairs (:func:`correction_pairs`: on a false-premise prompt, the response that
corrects the user's false claim chosen over a response of the same style that agrees with it, label 1). They are
the simulator's false-premise cases (:func:`rewardlab.simulate.false_premise_cases`) drawn with seed
CORRECTION_SEED + SEED, so never the audit's own cases (seeds 0, 1, ...); they share its templates and its table of
66 facts, so the sycophancy audit of such a model is not independent evidence (the policy's drift is).

Example:
    >>> from rewardlab.policy.bow_rm import BowRewardModel
    >>> rm = BowRewardModel.from_spec("bow:human_like:300")
    >>> out = rm.score(["What is 2+2?"], ["The answer is 4."])
    >>> out.mean.shape, rm.n_pairs
    ((1,), 300)
"""

from __future__ import annotations

import logging
import re
import zlib
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import minimize

from rewardlab.errors import RewardlabError
from rewardlab.scoring.output import RewardOutput

log = logging.getLogger(__name__)

SCHEMA = "rewardlab.bow_rm/1"
_TOKEN = re.compile(r"\w+|[^\w\s]")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _hash(s: str, dim: int) -> int:
    return zlib.crc32(s.encode("utf-8")) % dim


def parse_bow_spec(spec: str) -> tuple[str, int, int]:
    """(annotator preset, number of pairs, data seed) of a 'bow:PRESET[:N[:SEED]][:correct=M]' reward.

    Raises:
        RewardlabError: a missing preset, or N / SEED that are not integers (N >= 2, SEED >= 0), or a bad correct=M.
    """
    return bow_spec_parts(spec)[:3]


def bow_spec_parts(spec: str) -> tuple[str, int, int, int]:
    """(annotator preset, number of pairs, data seed, correction pairs M) of 'bow:PRESET[:N[:SEED]][:correct=M]'.

    Args:
        spec: the reward spec; `correct=M` (M >= 0, default 0) may only come last.

    Returns:
        (preset, N, SEED, M).

    Raises:
        RewardlabError: a missing preset, N / SEED / M that are not integers, N < 2, SEED < 0 or M < 0.

    Example:
        >>> bow_spec_parts("bow:length=0,agreement=6,format=0:2000:3:correct=500")
        ('length=0,agreement=6,format=0', 2000, 3, 500)
    """
    parts = spec.split(":")
    correct = 0
    if len(parts) > 2 and parts[-1].strip().startswith("correct="):
        value = parts.pop().strip()[len("correct="):]
        try:
            correct = int(value)
        except ValueError:
            raise RewardlabError(f"--reward {spec!r}: correct=M needs an integer M, got {value!r}") from None
        if correct < 0:
            raise RewardlabError(f"--reward {spec!r}: correct=M must be >= 0, got {correct}")
    if parts[0] != "bow" or len(parts) < 2 or not parts[1].strip() or len(parts) > 4:
        raise RewardlabError(f"--reward {spec!r}: expected bow:PRESET[:N[:SEED]][:correct=M], e.g. "
                             "bow:human_like:2000")
    try:
        n = int(parts[2]) if len(parts) > 2 else 4000
        seed = int(parts[3]) if len(parts) > 3 else 0
    except ValueError:
        raise RewardlabError(f"--reward {spec!r}: N and SEED must be integers") from None
    if n < 2 or seed < 0:
        raise RewardlabError(f"--reward {spec!r}: N must be >= 2 and SEED >= 0, got N={n}, SEED={seed}")
    return parts[1].strip(), n, seed, correct


#: seed offset of the correction pairs (kept clear of the audit's false-premise cases, seeds 0, 1, ...)
CORRECTION_SEED = 1_000_003


def correction_pairs(m: int, seed: int = 0) -> list[dict[str, Any]]:
    """m preference pairs that reward correcting a user's false claim over agreeing with it (data-level
    augmentation against sycophancy).

    Each is one simulator false-premise case (:func:`rewardlab.simulate.false_premise_cases`, seed
    CORRECTION_SEED + seed): the prompt asserts a false claim, `chosen` corrects it, `rejected` agrees with it, both in
    the same style (formatting, elaborations, filler), label 1.0.

    Args:
        m: the number of pairs (>= 0).
        seed: the data seed (the bow spec's SEED).

    Returns:
        Records {prompt, chosen, rejected, label, category "false_premise", augment "correction"}.

    Example:
        >>> p = correction_pairs(1)[0]
        >>> p["label"], p["augment"], p["chosen"] != p["rejected"]
        (1.0, 'correction', True)
    """
    if m == 0:
        return []
    from rewardlab.simulate import false_premise_cases

    return [{"prompt": c["prompt"], "chosen": c["correcting"], "rejected": c["agreeing"], "label": 1.0,
             "category": "false_premise", "augment": "correction"}
            for c in false_premise_cases(m, seed=CORRECTION_SEED + seed)]


class BowRewardModel:
    """Linear Bradley-Terry reward on hashed bag-of-words and prompt-response token-pair features.

    Args:
        dim: number of hash buckets.
        l2: L2 penalty of the fit.
        name: shown in logs and results.

    Example:
        >>> rm = BowRewardModel(dim=64)
        >>> _ = rm.fit([{"prompt": "q", "chosen": "yes", "rejected": "no no no", "label": 1.0}])
        >>> float(rm.score(["q"], ["yes"]).mean[0]) > float(rm.score(["q"], ["no no no"]).mean[0])
        True
    """

    def __init__(self, dim: int = 1 << 14, l2: float = 10.0, name: str = "bow"):
        if dim < 2 or l2 <= 0:
            raise RewardlabError(f"bag-of-words reward model: dim must be >= 2 and l2 > 0, got {dim}, {l2}")
        self.dim, self.l2, self.name = int(dim), float(l2), name
        self.w = np.zeros(self.dim)
        self.pairs: list[dict[str, Any]] = []
        self.updates = 0

    @classmethod
    def from_spec(cls, spec: str) -> BowRewardModel:
        """Train one on simulator pairs as 'bow:PRESET[:N[:SEED]][:correct=M]' says (see the module docstring): the N
        annotator-labelled pairs, then the M correction pairs of :func:`correction_pairs`.

        Raises:
            RewardlabError: a malformed spec or an unknown annotator preset.
        """
        from rewardlab.policy.annotators import annotator_config
        from rewardlab.simulate.generate import simulate_pairs

        preset, n, seed, correct = bow_spec_parts(spec)
        cfg = annotator_config(preset)
        rm = cls(name=spec)
        rm.fit(simulate_pairs(n, seed=seed, config=cfg) + correction_pairs(correct, seed))
        return rm

    @property
    def n_pairs(self) -> int:
        """Pairs the model has been fitted on."""
        return len(self.pairs)

    def features(self, prompts: list[str], responses: list[str]) -> sparse.csr_matrix:
        """phi(prompt, response) for each row: [len(responses), dim] token and token-pair counts."""
        rows, cols = [], []
        for i, (p, r) in enumerate(zip(prompts, responses, strict=True)):
            rt = _tokens(r)
            pt = sorted(set(_tokens(p)))
            for t in rt:
                rows.append(i)
                cols.append(_hash(t, self.dim))
                for q in pt:
                    rows.append(i)
                    cols.append(_hash(q + "\x00" + t, self.dim))
        data = np.ones(len(rows))
        return sparse.csr_matrix((data, (rows, cols)), shape=(len(responses), self.dim))

    def _design(self, pairs: list[dict[str, Any]]) -> tuple[sparse.csr_matrix, np.ndarray]:
        prompts = [str(p["prompt"]) for p in pairs]
        x = (self.features(prompts, [str(p["chosen"]) for p in pairs])
             - self.features(prompts, [str(p["rejected"]) for p in pairs]))
        y = np.array([1.0 if p.get("label") is None else float(p["label"]) for p in pairs])
        return x.tocsr(), y

    def fit(self, pairs: list[dict[str, Any]]) -> dict[str, float]:
        """Fit w on `pairs` ({prompt, chosen, rejected, label}; label = P(chosen preferred), default 1), warm-started
        from the current w; the pairs become the model's training set.

        Returns:
            {"pairs": n, "loss": mean BT loss, "train_accuracy": share of pairs with w . x > 0 (soft labels
            counted by label)}.

        Raises:
            RewardlabError: no pairs.
        """
        if not pairs:
            raise RewardlabError("bag-of-words reward model: no pairs to fit")
        x, y = self._design(pairs)
        l2 = self.l2

        def nll(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = x @ w
            s = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid, stable
            loss = float(np.sum(np.logaddexp(0.0, z) - y * z)) + l2 * float(w @ w)
            return loss, x.T @ (s - y) + 2.0 * l2 * w

        res = minimize(nll, self.w, jac=True, method="L-BFGS-B", options={"maxiter": 500})
        self.w = np.asarray(res.x, dtype=float)
        self.pairs = list(pairs)
        z = x @ self.w
        return {"pairs": float(len(pairs)), "loss": float(np.mean(np.logaddexp(0.0, z) - y * z)),
                "train_accuracy": float(np.mean(np.where(z > 0, y, 1.0 - y)))}

    def update(self, new_pairs: list[dict[str, Any]]) -> dict[str, float]:
        """Refit on the old pairs plus `new_pairs` (warm start): one iterative reward-model update."""
        self.updates += 1
        return self.fit(self.pairs + list(new_pairs))

    def score(self, prompts: Any, responses: Any, progress: bool = False) -> RewardOutput:
        """Rewards w . phi(prompt, response) (the Scorer interface)."""
        return RewardOutput(self.features([str(p) for p in prompts], [str(r) for r in responses]) @ self.w)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready state (weights and training pairs): a round trip restores the model exactly."""
        return {"schema": SCHEMA, "dim": self.dim, "l2": self.l2, "name": self.name, "w": self.w.tolist(),
                "pairs": [{k: p[k] for k in ("prompt", "chosen", "rejected", "label") if k in p} for p in self.pairs],
                "updates": self.updates}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BowRewardModel:
        """Inverse of :meth:`to_dict`.

        Raises:
            RewardlabError: not a bag-of-words reward model state.
        """
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            raise RewardlabError(f"not a bag-of-words reward model state (schema {SCHEMA!r})")
        rm = cls(dim=int(d["dim"]), l2=float(d["l2"]), name=str(d["name"]))
        rm.w = np.asarray(d["w"], dtype=float)
        rm.pairs = list(d["pairs"])
        rm.updates = int(d.get("updates", 0))
        return rm
