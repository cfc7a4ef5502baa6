"""Ready-made simulator evaluation sets (parsed records): held-out pairs, K-sample pools and battles."""

from __future__ import annotations

from rewardlab.data.formats import detect_spec, parse_row
from rewardlab.data.schema import Record
from rewardlab.simulate.config import SimConfig
from rewardlab.simulate.generate import simulate_battles, simulate_pairs, simulate_pools


def parse_rows(rows: list[dict], source: str = "simulator") -> list[Record]:
    """Simulator rows -> validated records (the same parser as files use)."""
    spec = detect_spec(rows[0])
    return [parse_row(r, spec, source, i + 1) for i, r in enumerate(rows)]  # type: ignore[misc]


def simulator_eval_sets(n_pairs: int = 600, n_pools: int = 150, k: int = 8, n_battles: int = 600, seed: int = 20_000,
                        config: SimConfig | None = None) -> dict[str, list[Record]]:
    """Named evaluation sets: sim_pairs, sim_pools (K responses per prompt), sim_battles."""
    sets = {
        "sim_pairs": parse_rows(simulate_pairs(n_pairs, seed=seed, config=config)),
        "sim_pools": parse_rows(simulate_pools(n_pools, k=k, seed=seed + 1, config=config)),
        "sim_battles": parse_rows(simulate_battles(n_battles, seed=seed + 2, config=config)),
    }
    return {k2: v for k2, v in sets.items() if v}
