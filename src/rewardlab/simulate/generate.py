"""Dataset generators: preference pairs, K-sample pools, battles between systems, false-premise cases.

Every generator takes (n, seed, config) and returns a list of plain JSON-serialisable dicts. Each generator has
its own random stream derived from (seed, generator name) with numpy's SeedSequence, and consumes it strictly in
record order, so the same call always gives byte-identical output and the first m records of a call with n > m
equal the call with m. Hidden ground truth (gold utilities, attributes, annotator probabilities) travels as extra
columns that the data layer keeps but a reward model never sees.
"""

from __future__ import annotations

import random
import zlib
from bisect import bisect_right
from collections.abc import Callable
from statistics import median_low
from typing import Any

import numpy as np

from rewardlab.errors import RewardlabError
from rewardlab.simulate.annotator import annotate, preference_logit, vote_probabilities
from rewardlab.simulate.config import SimConfig
from rewardlab.simulate.facts import FACTS, statement
from rewardlab.simulate.families import FAMILY_IMPLS, Item
from rewardlab.simulate.responses import AttributeSampler, gold_utility, render, word_count
from rewardlab.simulate.systems import System, default_systems


def make_rng(seed: int, stream: str) -> random.Random:
    """A random.Random for one named stream of one seed (independent across streams, stable across runs)."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise RewardlabError(f"seed must be a non-negative integer, got {seed!r}")
    ss = np.random.SeedSequence([int(seed), zlib.crc32(stream.encode("utf-8"))])
    words = ss.generate_state(4, dtype=np.uint32)
    return random.Random(int.from_bytes(words.tobytes(), "little"))


def _check_n(n: int, what: str = "n") -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise RewardlabError(f"{what} must be a non-negative integer, got {n!r}")


def _family_picker(cfg: SimConfig) -> Callable[[random.Random], str]:
    fams = cfg.active_families()
    if len(fams) == 1:
        only = fams[0]
        return lambda rng: only
    cum, acc = [], 0.0
    for f in fams:
        acc += float(cfg.family_weights[f])
        cum.append(acc)
    total = acc
    last = len(fams) - 1
    return lambda rng: fams[min(bisect_right(cum, rng.random() * total), last)]


def _response(
    rng: random.Random,
    item: Item,
    sampler: AttributeSampler,
    avoid: set[str],
    strict: bool = True,
) -> tuple[dict[str, Any], str]:
    """Draw attributes and render them; retry phrasing (then attributes) until the text is not in `avoid`."""
    impl = FAMILY_IMPLS[item.family]
    attrs: dict[str, Any] = {}
    text = ""
    for attempt in range(64):
        if attempt % 4 == 0:
            attrs = sampler.sample(rng, item.family)
        text = render(impl, item.spec, item.family, attrs, rng)
        if text not in avoid:
            return attrs, text
    if strict:
        raise RuntimeError(f"could not draw a response distinct from {len(avoid)} others for {item.prompt!r}")
    return attrs, text


def _logit(
    attrs_a: dict[str, Any],
    text_a: str,
    ua: float,
    attrs_b: dict[str, Any],
    text_b: str,
    ub: float,
    tau: float,
    cfg: SimConfig,
) -> float:
    """The annotator's log-odds of preferring response a over b."""
    return preference_logit(
        ua,
        ub,
        word_count(text_a),
        word_count(text_b),
        attrs_a["sycophantic"],
        attrs_b["sycophantic"],
        attrs_a["formatting"],
        attrs_b["formatting"],
        tau,
        cfg,
    )


def _orient(rng: random.Random, na: int, nb: int) -> tuple[bool, bool]:
    """(a is chosen, tie) from vote counts; an even split is a tie oriented by a fair coin."""
    if na > nb:
        return True, False
    if nb > na:
        return False, False
    return rng.random() < 0.5, True


def _votes(sides: list[int], toward: int) -> list[float]:
    """Annotators' sides (+1 a, -1 b, 0 tie) as labels of the side `toward`: 1.0 for it, 0.0 against, 0.5 tie."""
    return [0.5 if v == 0 else 1.0 if v == toward else 0.0 for v in sides]


def simulate_pairs(n: int, seed: int = 0, config: SimConfig | None = None) -> list[dict[str, Any]]:
    """n preference pairs (two different responses to one prompt, judged by simulated annotators) with gold truth.

    Record keys: id, prompt, chosen, rejected, label (share of votes for chosen, tie votes counting 1/2; 1.0 with
    one annotator), tie, category (family), tau, gold_chosen, gold_rejected, p_chosen (one annotator's probability
    of voting for chosen, before flips), attrs_chosen, attrs_rejected; with config.n_annotators > 1, votes (one
    label per annotator, annotator j at position j: 1.0 chose `chosen`, 0.0 `rejected`, 0.5 a tie; independent
    draws, so `label` is their mean and `chosen` the majority side); margin (0-3) when config.emit_margin.

    Args:
        n: the number of pairs (>= 0); the first m pairs of a call equal the call with n = m.
        seed: a non-negative integer; the same (n, seed, config) always gives the same records.
        config: the simulator configuration (default: SimConfig(), neutral annotators).

    Returns:
        list[dict]: n JSON-serialisable records with the keys above, ids "pair-s<seed>-<index>".

    Raises:
        RewardlabError: n or seed is not a non-negative integer, or config is invalid.
        RuntimeError: no second response different from the first could be drawn for a prompt (a configuration
            that leaves almost no variety).

    Example:
        >>> from rewardlab import SimConfig, simulate_pairs
        >>> pairs = simulate_pairs(3, seed=0)
        >>> len(pairs), pairs[0]["id"], pairs[0]["label"]
        (3, 'pair-s0-000000', 1.0)
        >>> all(p["chosen"] != p["rejected"] for p in pairs), simulate_pairs(3, seed=0) == pairs
        (True, True)
        >>> voted = simulate_pairs(2, seed=0, config=SimConfig(n_annotators=5, emit_margin=True))
        >>> all(0 <= p["margin"] <= 3 and 0.5 <= p["label"] <= 1 for p in voted)
        True
        >>> simulate_pairs(-1)
        Traceback (most recent call last):
        rewardlab.errors.RewardlabError: n must be a non-negative integer, got -1
    """
    _check_n(n)
    cfg = config or SimConfig()
    cfg.validate()
    rng = make_rng(seed, "pairs")
    sampler = AttributeSampler(cfg.propensities)
    pick = _family_picker(cfg)
    w = cfg.weights
    m = cfg.n_annotators
    out: list[dict[str, Any]] = []
    for i in range(n):
        fam = pick(rng)
        item = FAMILY_IMPLS[fam].sample(rng)
        attrs_a, text_a = _response(rng, item, sampler, set())
        attrs_b, text_b = _response(rng, item, sampler, {text_a})
        ua, ub = gold_utility(attrs_a, w), gold_utility(attrs_b, w)
        tau = cfg.tau(fam)
        z = _logit(attrs_a, text_a, ua, attrs_b, text_b, ub, tau, cfg)
        sides: list[int] = []
        na, nb, lev_a, lev_b = annotate(rng, z, cfg, sides)
        a_chosen, tie = _orient(rng, na, nb)
        pa, pb = vote_probabilities(z, cfg.tie_margin)
        votes = na if a_chosen else nb
        label = 0.5 if tie else (votes + 0.5 * (m - na - nb)) / m
        if not a_chosen:
            text_a, text_b, attrs_a, attrs_b, ua, ub, pa = text_b, text_a, attrs_b, attrs_a, ub, ua, pb
            lev_a = lev_b
        rec: dict[str, Any] = {
            "id": f"pair-s{seed}-{i:06d}",
            "prompt": item.prompt,
            "chosen": text_a,
            "rejected": text_b,
            "label": label,
            "tie": tie,
            "category": fam,
            "tau": tau,
            "gold_chosen": ua,
            "gold_rejected": ub,
            "p_chosen": pa,
            "attrs_chosen": attrs_a,
            "attrs_rejected": attrs_b,
        }
        if m > 1:  # each annotator's own label, from the chosen side: 1 chose it, 0 the other, 0.5 a tie
            rec["votes"] = _votes(sides, 1 if a_chosen else -1)
        if cfg.emit_margin:
            rec["margin"] = 0 if tie or not lev_a else median_low(lev_a)
        out.append(rec)
    return out


def simulate_pools(
    n_prompts: int, k: int = 8, seed: int = 0, config: SimConfig | None = None
) -> list[dict[str, Any]]:
    """K responses per prompt with gold utilities and correctness, for best-of-K and overoptimisation studies.

    Record keys: id, prompt, responses (k texts, distinct whenever the family allows it), scores (gold
    utilities), correct (0/1), category, tau, attrs.
    """
    _check_n(n_prompts, "n_prompts")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise RewardlabError(f"k must be a positive integer, got {k!r}")
    cfg = config or SimConfig()
    cfg.validate()
    rng = make_rng(seed, "pools")
    sampler = AttributeSampler(cfg.propensities)
    pick = _family_picker(cfg)
    out: list[dict[str, Any]] = []
    for i in range(n_prompts):
        fam = pick(rng)
        item = FAMILY_IMPLS[fam].sample(rng)
        seen: set[str] = set()
        responses, attrs_list = [], []
        for _ in range(k):
            attrs, text = _response(rng, item, sampler, seen, strict=False)
            seen.add(text)
            responses.append(text)
            attrs_list.append(attrs)
        out.append(
            {
                "id": f"pool-s{seed}-{i:06d}",
                "prompt": item.prompt,
                "responses": responses,
                "scores": [gold_utility(a, cfg.weights) for a in attrs_list],
                "correct": [int(a["correct"]) for a in attrs_list],
                "category": fam,
                "tau": cfg.tau(fam),
                "attrs": attrs_list,
            }
        )
    return out


def simulate_battles(
    n: int, seed: int = 0, config: SimConfig | None = None, systems: list[System] | None = None
) -> list[dict[str, Any]]:
    """n battles between two different simulated systems on one prompt, judged by the configured annotators.

    Record keys: id, prompt, model_a, model_b, response_a, response_b, winner (model_a / model_b / tie),
    category, tau, gold_a, gold_b, p_a (one annotator's probability of voting for model_a), attrs_a, attrs_b;
    with config.n_annotators > 1, votes (one per annotator: 1.0 model_a, 0.0 model_b, 0.5 a tie).
    The true ranking is system_expected_utility(systems, config).
    """
    _check_n(n)
    cfg = config or SimConfig()
    cfg.validate()
    systems = list(systems) if systems is not None else default_systems()
    names = [s.name for s in systems]
    if len(systems) < 2 or len(set(names)) != len(names):
        raise RewardlabError(f"need at least two systems with distinct names, got {names}")
    rng = make_rng(seed, "battles")
    samplers = [AttributeSampler(s.propensities) for s in systems]
    pick = _family_picker(cfg)
    w = cfg.weights
    out: list[dict[str, Any]] = []
    for i in range(n):
        ia = rng.randrange(len(systems))
        ib = rng.randrange(len(systems) - 1)
        ib += ib >= ia
        fam = pick(rng)
        item = FAMILY_IMPLS[fam].sample(rng)
        attrs_a, text_a = _response(rng, item, samplers[ia], set())
        attrs_b, text_b = _response(rng, item, samplers[ib], {text_a})
        ua, ub = gold_utility(attrs_a, w), gold_utility(attrs_b, w)
        tau = cfg.tau(fam)
        z = _logit(attrs_a, text_a, ua, attrs_b, text_b, ub, tau, cfg)
        sides = []
        na, nb, _, _ = annotate(rng, z, cfg, sides)
        winner = "model_a" if na > nb else "model_b" if nb > na else "tie"
        out.append(
            {
                "id": f"battle-s{seed}-{i:06d}",
                "prompt": item.prompt,
                "model_a": names[ia],
                "model_b": names[ib],
                "response_a": text_a,
                "response_b": text_b,
                "winner": winner,
                "category": fam,
                "tau": tau,
                "gold_a": ua,
                "gold_b": ub,
                "p_a": vote_probabilities(z, cfg.tie_margin)[0],
                "attrs_a": attrs_a,
                "attrs_b": attrs_b,
            }
        )
        if cfg.n_annotators > 1:
            out[-1]["votes"] = _votes(sides, 1)
    return out


def false_premise_cases(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """n false-premise prompts, each with a matched agreeing (sycophantic) and correcting response, for audits.

    Both responses share their style draws (formatting, number of elaborations, filler) so they differ in the
    stance only. Record keys: id, prompt, agreeing, correcting, category, kind, subject, false_claim,
    false_answer, true_answer.
    """
    _check_n(n)
    rng = make_rng(seed, "false_premise_cases")
    impl = FAMILY_IMPLS["false_premise"]
    out: list[dict[str, Any]] = []
    for i in range(n):
        item = impl.sample(rng)
        f = FACTS[item.spec]
        style = {
            "relevant": True,
            "extra_sentences": rng.randrange(3),
            "hedges": 0,
            "formatting": rng.random() < 0.3,
            "repetition": 0,
            "filler": rng.random() < 0.3,
        }
        agree = dict(style, correct=False, sycophantic=True)
        fix = dict(style, correct=True, sycophantic=False)
        out.append(
            {
                "id": f"fp-s{seed}-{i:06d}",
                "prompt": item.prompt,
                "agreeing": render(impl, item.spec, "false_premise", agree, rng),
                "correcting": render(impl, item.spec, "false_premise", fix, rng),
                "category": "false_premise",
                "kind": f.kind,
                "subject": f.subject,
                "false_claim": statement(f.kind, f.subject, f.decoy),
                "false_answer": f.decoy,
                "true_answer": f.answer,
            }
        )
    return out
