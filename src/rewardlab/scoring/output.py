"""RewardOutput: rewards with optional uncertainty, and the pessimistic aggregates every consumer can ask for."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rewardlab.errors import RewardlabError


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
            raise RewardlabError("q must be in (0, 1)")
        if self.std is None:
            return self.mean.copy()
        from scipy.special import ndtri  # here, not at the top: importing RewardOutput stays free of scipy

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
        """One named aggregate, by the one pessimism function of rewardlab (`rewardlab.optimize.pessimistic_scores`,
        shared by best-of-N, the overoptimisation curves, the server and the RL adapters).

        Args:
            how: a selection rule: 'mean'; 'quantile:q' or 'q<q>' (mu + Phi^-1(q) s, q in (0, 1)); 'lcb:k' or
                'lcb<k>' (mean - k std, 'lcb' is k = 1); 'min' (worst ensemble member); 'uwo:lambda' or
                'uwo<lambda>' (mean - lambda * population variance of the ensemble members).

        Returns:
            np.ndarray: N rewards.

        Raises:
            RewardlabError: an unknown rule, a parameter out of range, or a rule whose input this output lacks (std for
                quantile and lcb, members for min and uwo): never a silent fall back to the mean.

        Example:
            >>> from rewardlab import RewardOutput
            >>> out = RewardOutput([1.0, 2.0], std=[0.5, 0.0], members=[[0.5, 1.5], [2.0, 2.0]])
            >>> out.pessimistic("lcb1")
            array([0.5, 2. ])
            >>> out.pessimistic("q0.1").round(3)
            array([0.359, 2.   ])
            >>> out.pessimistic("min")
            array([0.5, 2. ])
        """
        from rewardlab.rules import pessimistic_scores

        return pessimistic_scores(how, self.mean, std=self.std, members=self.members)

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
