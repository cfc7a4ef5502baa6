"""RewardOutput: rewards with optional uncertainty, and the pessimistic aggregates every consumer can ask for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri


@dataclass
class RewardOutput:
    """Mean rewards [N], optional standard deviation [N] and per-member rewards [N, K] (ensembles).

    Args:
        mean: the N mean rewards (any array-like; stored as a float64 array).
        std: the N standard deviations of a Gaussian or ensemble head, or None.
        members: the [N, K] rewards of the K ensemble members, or None.

    Example:
        >>> from rewardlab import RewardOutput
        >>> out = RewardOutput([1.0, 2.0], std=[0.5, 0.0])
        >>> len(out), out.mean.dtype
        (2, dtype('float64'))
        >>> out.lower(k=2.0)
        array([0., 2.])
        >>> RewardOutput.concat([out, RewardOutput([3.0], std=[1.0])]).std
        array([0.5, 0. , 1. ])
    """

    mean: np.ndarray
    std: np.ndarray | None = None
    members: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.mean = np.asarray(self.mean, dtype=np.float64)
        if self.std is not None:
            self.std = np.asarray(self.std, dtype=np.float64)
        if self.members is not None:
            self.members = np.asarray(self.members, dtype=np.float64)

    def __len__(self) -> int:
        return int(self.mean.shape[0])

    def quantile(self, q: float) -> np.ndarray:
        """Gaussian quantile reward mu + Phi^-1(q) s (q = 0.1 gives mu - 1.2816 s); the mean when no std."""
        if not 0 < q < 1:
            raise ValueError("q must be in (0, 1)")
        if self.std is None:
            return self.mean.copy()
        return self.mean + ndtri(q) * self.std

    def lower(self, k: float = 1.0) -> np.ndarray:
        """mean - k std (the ensemble lower confidence bound)."""
        return self.mean if self.std is None else self.mean - k * self.std

    def worst_case(self) -> np.ndarray:
        """Minimum over ensemble members (WCO); the mean without members."""
        return self.mean.copy() if self.members is None else self.members.min(axis=1)

    def uncertainty_weighted(self, lam: float = 1.0) -> np.ndarray:
        """mean - lambda * variance (UWO)."""
        return self.mean if self.std is None else self.mean - lam * self.std**2

    def pessimistic(self, how: str = "mean") -> np.ndarray:
        """One named aggregate: 'mean', 'q0.1' (any quantile), 'lcb1' (mean - 1 std), 'min', 'uwo0.5'.

        Without std, the q, lcb and uwo aggregates are the mean; without members, 'min' is the mean.

        Args:
            how: 'mean'; 'q<level>' (Gaussian quantile, level in (0, 1)); 'lcb<k>' (mean - k std, 'lcb' is k = 1);
                'min' (worst ensemble member); 'uwo<lambda>' (mean - lambda variance, 'uwo' is lambda = 1).

        Returns:
            np.ndarray: N rewards.

        Raises:
            ValueError: an unknown name, a number that does not parse, or a quantile level outside (0, 1).

        Example:
            >>> from rewardlab import RewardOutput
            >>> out = RewardOutput([1.0, 2.0], std=[0.5, 0.0], members=[[0.5, 1.5], [2.0, 2.0]])
            >>> out.pessimistic("lcb1")
            array([0.5, 2. ])
            >>> out.pessimistic("q0.1").round(3)
            array([0.359, 2.   ])
            >>> out.pessimistic("min")
            array([0.5, 2. ])
            >>> out.pessimistic("median")
            Traceback (most recent call last):
            ValueError: unknown aggregate 'median': use mean, q<level>, lcb<k>, min or uwo<lambda>
        """
        if how == "mean":
            return self.mean
        if how.startswith("q"):
            return self.quantile(float(how[1:]))
        if how.startswith("lcb"):
            return self.lower(float(how[3:] or 1.0))
        if how == "min":
            return self.worst_case()
        if how.startswith("uwo"):
            return self.uncertainty_weighted(float(how[3:] or 1.0))
        raise ValueError(f"unknown aggregate {how!r}: use mean, q<level>, lcb<k>, min or uwo<lambda>")

    @staticmethod
    def concat(parts: list[RewardOutput]) -> RewardOutput:
        """Join outputs of several calls in order."""
        mean = np.concatenate([p.mean for p in parts]) if parts else np.zeros(0)
        std = np.concatenate([p.std for p in parts]) if parts and all(p.std is not None for p in parts) else None
        mem = (np.concatenate([p.members for p in parts])
               if parts and all(p.members is not None for p in parts) else None)
        return RewardOutput(mean, std, mem)

    def take(self, idx: np.ndarray | list[int]) -> RewardOutput:
        """The rows at `idx`."""
        idx = np.asarray(idx, dtype=int)
        return RewardOutput(self.mean[idx], None if self.std is None else self.std[idx],
                            None if self.members is None else self.members[idx])
