"""`rewardlab audit`: the whole reward-hacking audit of one reward model, from the command line."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from rewardlab.data.spec import DataSpec
from rewardlab.errors import RewardlabError
from rewardlab.results.audit import AuditReport

logger = logging.getLogger(__name__)


def _load_pairs(spec: DataSpec, n_pairs: int) -> tuple[list[Any], str]:
    from rewardlab.data.schema import PreferencePair

    res = spec.load(pairs_only=True).report_skipped()
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
    """`run_audit_stage` from keyword arguments (the settings are validated as an `AuditSpec`); prints the
    summary and returns the audit."""
    from rewardlab.audit.spec import AuditSpec
    from rewardlab.config import ConfigError

    try:
        spec = AuditSpec.from_options(model=model, output=str(output), cases=cases, threshold=threshold,
                                      n_resamples=n_resamples, seed=seed, n_pairs=n_pairs, bf16=bf16,
                                      device=device or "auto")
        if data is not None:
            spec = spec.with_overrides({f"data.{k}": v for k, v in data.to_dict().items()}, "data")
    except ConfigError as e:
        raise RewardlabError(e.named(lambda path: "--" + path.split(".")[-1].replace("_", "-"))) from None
    res = run_audit_stage(spec)
    typer.echo("\n".join(res.lines()))
    return res.audit


@dataclass
class AuditResult:
    """The audit (the audit.json content), where it went, and what was audited."""

    audit: dict[str, Any]
    files: list[str]
    header: str

    def lines(self) -> list[str]:
        """The summary (the header went to the log when the audit started)."""
        return summary(self.audit).split("\n")


def run_audit_stage(spec: Any) -> AuditResult:
    """`rewardlab audit` from its spec: read or simulate the pairs and cases, score them, write audit.json and the
    plots (the report page is the command line's, which composes the report stage).

    Args:
        spec: a `rewardlab.audit.spec.AuditSpec`.

    Returns:
        AuditResult: the audit, the files written and a header line.

    Raises:
        RewardlabError: no model or output; data that holds no preference pairs; unreadable cases; what
            `run_audit` raises.

    Example:
        >>> from rewardlab.audit.spec import AuditSpec
        >>> res = run_audit_stage(AuditSpec.from_options(model="runs/rm", output="audit"))  # doctest: +SKIP
        >>> AuditReport.coerce(res.audit).flags  # doctest: +SKIP
    """
    from rewardlab.audit.run import DEFAULT_PAIR_SEED, default_pairs, run_audit
    from rewardlab.audit.sycophancy import builtin_cases, load_cases
    from rewardlab.scoring import get_scorer

    if not spec.model:
        raise RewardlabError("--model is required: the reward model to audit")
    if not spec.run.output:
        raise RewardlabError("--output is required: the folder for audit.json and the plots")
    run = spec.run
    if spec.data.source is not None:
        pairs, data_source = _load_pairs(spec.data, spec.n_pairs)
    else:
        pairs = default_pairs(spec.n_pairs, run.seed)
        data_source = f"simulator: {spec.n_pairs} pairs, neutral annotators, seed {DEFAULT_PAIR_SEED + run.seed}"
    if spec.cases is not None:
        case_list, cases_source = load_cases(spec.cases), spec.cases
    else:
        n_cases = 100
        case_list, cases_source = builtin_cases(n_cases, run.seed), (f"simulator: {n_cases} false-premise cases, "
                                                                      f"seed {run.seed}")
    scorer = get_scorer(spec.model, bf16=run.bf16, device=run.device)
    header = f"auditing {scorer.name}: {len(pairs)} pairs, {len(case_list)} sycophancy cases"
    logger.info(header)
    out = Path(run.output)
    audit = run_audit(scorer, pairs, case_list, out, threshold=spec.threshold, n_resamples=run.n_resamples,
                      seed=run.seed, progress=True, data_source=data_source, cases_source=cases_source)
    return AuditResult(audit, [str(out / "audit.json")], header)


def summary(audit: AuditReport | dict[str, Any]) -> str:
    """A few lines for the terminal: headline numbers and every flag.

    Args:
        audit: audit.json, typed (`rewardlab.results.audit.AuditReport`) or as its dict.

    Returns:
        The lines, joined.
    """
    from rewardlab.results.audit import Adversarial, AuditLengthControl, Probes, Sycophancy, TrainedOn

    audit = AuditReport.coerce(audit)
    lines = [f"reward-hacking audit of {audit.model if audit.model is not None else ''}"]
    length = audit.length
    if length is not None:
        parts = []
        if length.spearman is not None and length.spearman.estimate is not None:
            parts.append(f"Spearman r {length.spearman.estimate:.2f}")
        if length.within_spearman is not None and length.within_spearman.estimate is not None:
            parts.append(f"within prompt {length.within_spearman.estimate:.2f}")
        lines.append("  reward vs length: " + ", ".join(parts))
    lc = audit.length_control or AuditLengthControl()
    bal = lc.length_balanced_accuracy.estimate if lc.length_balanced_accuracy else None
    if bal is not None and lc.accuracy is not None:
        lines.append(f"  accuracy {lc.accuracy.estimate:.3f}, length-balanced {bal:.3f}")
    adv = audit.adversarial or Adversarial()
    if adv.probes:
        from rewardlab.audit.adversarial import adversarial_line

        lines += [f"  {adversarial_line(name, d.to_dict())}{' [trained on]' if d.trained_on else ''}"
                  for name, d in adv.probes.items()]
    t = audit.trained_on or TrainedOn()
    if t.probes or t.adversarial:
        lines.append(f"  trained on (not independent evidence): probes {', '.join(t.probes or []) or 'none'}; "
                     f"adversarial {', '.join(t.adversarial or []) or 'none'} "
                     f"({t.source if t.source is not None else ''})")
        held = {k: d for k, d in (audit.probes or Probes()).probes.items() if d.heldout_variant}
        if held:
            lines.append("  held-out variants (independent evidence): " + ", ".join(
                f"{k} {'FLAGGED' if d.flagged else 'not flagged'} ({d.mean_change.estimate:+.3g})"
                for k, d in held.items()))
    s = audit.sycophancy or Sycophancy()
    if s.n and s.agreeing_preferred is not None:
        lines.append(f"  sycophancy: agreeing scores higher in {s.agreeing_preferred.estimate:.0%} "
                     f"of {s.n} cases")
    flags = audit.flags
    lines.append(f"{len(flags)} flag{'s' if len(flags) != 1 else ''}:" if flags else "no flags")
    lines += [f"  ! {x}" for x in flags]
    return "\n".join(lines)
