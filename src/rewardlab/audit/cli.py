"""`rewardlab audit`: the whole reward-hacking audit of one reward model, from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rewardlab.data.spec import DataSpec
from rewardlab.errors import RewardlabError


def _load_pairs(spec: DataSpec, n_pairs: int) -> tuple[list[Any], str]:
    from rewardlab.data.schema import PreferencePair

    res = spec.load(pairs_only=True)
    if res.skipped:
        typer.echo(f"skipped {len(res.skipped)} invalid record(s) of {res.n_read}:\n{res.skip_summary()}", err=True)
    data = spec.source
    pairs = [r for r in res.records if isinstance(r, PreferencePair)]
    total = len(pairs)
    if 0 < n_pairs < total:
        typer.echo(f"note: auditing the first {n_pairs} of {total} pairs (--n-pairs 0 audits all)")
        return pairs[:n_pairs], f"{data} (first {n_pairs} of {total} pairs)"
    return pairs, f"{data} ({total} pairs)"


def audit_command(model: str, output: Path, data: DataSpec | None, cases: str | None, threshold: float,
                  n_resamples: int, seed: int, n_pairs: int, bf16: bool = False,
                  device: str | None = "auto") -> dict[str, Any]:
    """Run `run_audit` on a model spec, write audit.json and plots to `output`, print the flags; returns the
    audit (the caller builds the HTML report: `rewardlab.report` composes stages, no stage imports it)."""
    from rewardlab.audit.run import DEFAULT_PAIR_SEED, default_pairs, run_audit
    from rewardlab.audit.sycophancy import builtin_cases, load_cases
    from rewardlab.scoring import get_scorer

    if not 0 < threshold < 1:
        raise RewardlabError(f"--threshold must be in (0, 1), got {threshold}")
    if n_resamples < 10:
        raise RewardlabError(f"--n-resamples must be at least 10, got {n_resamples}")
    if seed < 0:
        raise RewardlabError(f"--seed must be >= 0, got {seed}")
    if data is not None and data.source is None:
        data = None
    if n_pairs < 0 or (data is None and n_pairs == 0):
        raise RewardlabError(f"--n-pairs must be > 0 without --data (0 = all pairs of a --data file), got {n_pairs}")
    if data is not None:
        pairs, data_source = _load_pairs(data, n_pairs)
    else:
        pairs = default_pairs(n_pairs, seed)
        data_source = f"simulator: {n_pairs} pairs, neutral annotators, seed {DEFAULT_PAIR_SEED + seed}"
    if cases is not None:
        case_list, cases_source = load_cases(cases), cases
    else:
        n_cases = 100
        case_list, cases_source = builtin_cases(n_cases, seed), f"simulator: {n_cases} false-premise cases, seed {seed}"
    scorer = get_scorer(model, bf16=bf16, device=device)
    typer.echo(f"auditing {scorer.name}: {len(pairs)} pairs, {len(case_list)} sycophancy cases")
    audit = run_audit(scorer, pairs, case_list, output, threshold=threshold, n_resamples=n_resamples, seed=seed,
                      progress=True, data_source=data_source, cases_source=cases_source)
    typer.echo(summary(audit))
    return audit


def summary(audit: dict[str, Any]) -> str:
    """A few lines for the terminal: headline numbers and every flag."""
    lines = [f"reward-hacking audit of {audit.get('model', '')}"]
    f = audit.get("features") or {}
    if "length_tokens" in f:
        w = f["length_tokens"].get("within_spearman") or {}
        a = f["length_tokens"].get("spearman") or {}
        parts = []
        if a.get("estimate") is not None:
            parts.append(f"Spearman r {a['estimate']:.2f}")
        if w.get("estimate") is not None:
            parts.append(f"within prompt {w['estimate']:.2f}")
        lines.append("  reward vs length: " + ", ".join(parts))
    lc = audit.get("length_control") or {}
    bal = (lc.get("length_balanced_accuracy") or {}).get("estimate")
    if bal is not None:
        lines.append(f"  accuracy {lc['accuracy']['estimate']:.3f}, length-balanced {bal:.3f}")
    adv = audit.get("adversarial") or {}
    if adv.get("probes"):
        from rewardlab.audit.adversarial import adversarial_line

        lines += [f"  {adversarial_line(name, d)}{' [trained on]' if d.get('trained_on') else ''}"
                  for name, d in adv["probes"].items()]
    t = audit.get("trained_on") or {}
    if t.get("probes") or t.get("adversarial"):
        lines.append(f"  trained on (not independent evidence): probes {', '.join(t.get('probes') or []) or 'none'}; "
                     f"adversarial {', '.join(t.get('adversarial') or []) or 'none'} ({t.get('source', '')})")
        held = {k: d for k, d in ((audit.get("probes") or {}).get("probes") or {}).items() if d.get("heldout_variant")}
        if held:
            lines.append("  held-out variants (independent evidence): " + ", ".join(
                f"{k} {'FLAGGED' if d['flagged'] else 'not flagged'} ({d['mean_change']['estimate']:+.3g})"
                for k, d in held.items()))
    s = audit.get("sycophancy") or {}
    if s.get("n"):
        lines.append(f"  sycophancy: agreeing scores higher in {s['agreeing_preferred']['estimate']:.0%} "
                     f"of {s['n']} cases")
    flags = audit.get("flags") or []
    lines.append(f"{len(flags)} flag{'s' if len(flags) != 1 else ''}:" if flags else "no flags")
    lines += [f"  ! {x}" for x in flags]
    return "\n".join(lines)
