"""The simulate stage (`rewardlab data simulate`, SimulateSpec -> run_simulate -> SimulateResult) and what it shares
with every command that simulates data (training's `--sim-*` options): a SimConfig from a preset, a config file and
single settings (`build_config`), and one dataset of a kind (`simulate_kind`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab.errors import RewardlabError
from rewardlab.simulate.config import SimConfig, human_like, neutral, realistic
from rewardlab.simulate.generate import false_premise_cases, simulate_battles, simulate_pairs, simulate_pools

#: Simulator presets by name: neutral (no annotator bias), human_like (length is only a bias), realistic (length is
#: partly quality: responses carry details, and the judge keeps a length bias).
PRESETS = {"neutral": neutral, "human_like": human_like, "human-like": human_like, "realistic": realistic}
KINDS = ("pairs", "pools", "battles", "sycophancy")


def build_config(
    preset: str = "neutral",
    config_file: Path | str | None = None,
    length_bias: float | None = None,
    agreement_bias: float | None = None,
    format_bias: float | None = None,
    flip_prob: float | None = None,
    annotators: int | None = None,
) -> SimConfig:
    """Preset, then a config file (YAML or JSON with SimConfig fields), then single flags, later ones winning."""
    if preset not in PRESETS:
        raise RewardlabError(f"unknown simulator preset {preset!r}; use one of {sorted(set(PRESETS) - {'human-like'})}")
    cfg = PRESETS[preset]()
    if config_file:
        p = Path(config_file)
        try:
            text = p.read_text()
        except OSError as e:
            raise RewardlabError(f"{p}: cannot read simulator config: {e.strerror}") from None
        try:
            if p.suffix in (".yaml", ".yml"):
                import yaml

                d = yaml.safe_load(text) or {}
            else:
                d = json.loads(text)
        except Exception as e:
            raise RewardlabError(f"{p}: not valid YAML/JSON: {e}") from None
        if not isinstance(d, dict):
            raise RewardlabError(f"{p}: expected a mapping of simulator config fields, got {type(d).__name__}")
        base = cfg.to_dict()  # the file's nested sections update the preset's, field by field
        merged = {k: {**base[k], **v} if isinstance(base.get(k), dict) and isinstance(v, dict) else v
                  for k, v in {**base, **d}.items()}
        try:
            cfg = SimConfig.from_dict(merged, where=str(p))
        except RewardlabError as e:
            raise RewardlabError(str(e) if str(e).startswith(f"{p}:") else f"{p}: {e}") from None
    updates: dict[str, Any] = {
        "length_bias": length_bias, "agreement_bias": agreement_bias, "format_bias": format_bias,
        "flip_prob": flip_prob, "n_annotators": annotators,
    }
    try:
        cfg = cfg.with_overrides({k: v for k, v in updates.items() if v is not None}, where="simulator flags")
    except RewardlabError as e:
        raise RewardlabError(f"simulator config: {e}") from None
    return cfg


def simulate_kind(kind: str, n: int, seed: int, k: int = 8, config: SimConfig | None = None) -> list[dict[str, Any]]:
    """Records of one kind: pairs, pools (K responses per prompt), battles or sycophancy cases."""
    if n <= 0:
        raise RewardlabError("-n must be positive")
    if kind == "pairs":
        return simulate_pairs(n, seed=seed, config=config)
    if kind == "pools":
        return simulate_pools(n, k=k, seed=seed, config=config)
    if kind == "battles":
        return simulate_battles(n, seed=seed, config=config)
    if kind == "sycophancy":
        return false_premise_cases(n, seed=seed)
    raise RewardlabError(f"--kind must be one of {KINDS}, got {kind!r}")


def run_simulate(spec: Any) -> Any:
    """`rewardlab data simulate` from its spec: generate the records and write them.

    Args:
        spec: a `rewardlab.simulate.spec.SimulateSpec`.

    Returns:
        SimulateResult: how many records of which kind went where.

    Raises:
        RewardlabError: no output, an unknown preset, an unreadable or invalid config file.

    Example:
        >>> from rewardlab.simulate.spec import SimulateSpec
        >>> run_simulate(SimulateSpec.from_options(n=10, output="pairs.jsonl")).lines()  # doctest: +SKIP
        ['wrote 10 simulated pairs records to pairs.jsonl']
    """
    from rewardlab.data import write_records

    if not spec.output:
        raise RewardlabError("--output is required: the file the records go to")
    cfg = build_config(spec.preset, spec.config, spec.length_bias, spec.agreement_bias, spec.format_bias,
                       spec.flip_prob, spec.annotators)
    rows = simulate_kind(spec.kind, n=spec.n, seed=spec.seed, k=spec.k, config=cfg)
    write_records(rows, spec.output)
    return SimulateResult(len(rows), spec.kind, spec.output)


@dataclass
class SimulateResult:
    """What `run_simulate` wrote: how many records of which kind, and where."""

    n: int
    kind: str
    output: str

    @property
    def files(self) -> list[str]:
        return [self.output]

    def lines(self) -> list[str]:
        return [f"wrote {self.n} simulated {self.kind} records to {self.output}"]
