"""SimulateSpec: the settings of `rewardlab data simulate` (what to generate, how many, the annotators), validated
in one place; no numpy here.

The annotator settings are spelled as in `SimConfig` (`length_bias`, `agreement_bias`, `format_bias`, `flip_prob`)
and override the preset, then the config file.

Example:
    >>> spec = SimulateSpec.from_options(kind="pools", n=20, k=64, preset="human_like", output="pools.jsonl")
    >>> spec.kind, spec.k, spec.length_bias
    ('pools', 64, None)
    >>> SimulateSpec.from_options(kind="triples")
    Traceback (most recent call last):
    rewardlab.config.ConfigError: kind must be one of ['pairs', 'pools', 'battles', 'sycophancy'], got 'triples'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rewardlab.config import Spec, option


@dataclass
class SimulateSpec(Spec):
    """`rewardlab data simulate`: preference data with known ground truth from the simulator."""

    section_title = "simulate"

    output: str | None = option(None, flag="--output", aliases=("-o",), help="Output file (.jsonl, .jsonl.gz, "
                                ".parquet) (required).")
    kind: Literal["pairs", "pools", "battles", "sycophancy"] = option("pairs", help=(
        "pairs, pools (K samples per prompt), battles or sycophancy."))
    n: int = option(2000, min=1, flag="-n", help="Number of pairs / prompts / battles / cases.")
    seed: int = option(0, min=0, help="Random seed: same seed, same bytes.")
    k: int = option(8, min=1, flag="-k", help="Responses per prompt for --kind pools.")
    preset: Literal["neutral", "human_like", "human-like", "realistic"] = option("neutral", help=(
        "neutral (no annotator bias), human_like (length only a bias) or realistic (length partly quality: details, "
        "and a judge's length bias)."))
    length_bias: float | None = option(None, aliases=("--sim-length-bias",), help="Annotator preference for longer "
                                       "responses (also spelled as on `rewardlab train`).")
    agreement_bias: float | None = option(None, help="Preference for agreeing with the user.")
    format_bias: float | None = option(None, help="Preference for markdown formatting.")
    flip_prob: float | None = option(None, min=0.0, max=1.0, help="Probability that a label is flipped.")
    annotators: int | None = option(None, min=1, help="Annotators per pair (soft labels, ties).")
    config: str | None = option(None, help="YAML/JSON simulator config (SimConfig fields).")
