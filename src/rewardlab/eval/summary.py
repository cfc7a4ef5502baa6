"""One-screen headline of an evaluation result, printed by `rewardlab eval` and `rewardlab demo`."""

from __future__ import annotations

from typing import Any

from rewardlab.errors import RewardlabError
from rewardlab.kinds import KindHooks, get_kind, kind_names
from rewardlab.results import metrics as rm


def _ci(d: rm.Estimate | None) -> str:
    return "n/a" if d is None else d.text()


def pairs_lines(name: str, m: rm.PairsMetrics) -> list[str]:
    lb = m.length_baselines or rm.LengthBaselines()
    if m.ece is None or m.ece_calibrated is None or m.nll is None:
        raise RewardlabError(f"dataset {name!r}: metrics without ece, ece_calibrated or nll")
    line = (f"{name}: accuracy {_ci(m.accuracy)} | longer-wins {_ci(lb.longer)} | "
            f"ECE {m.ece.estimate:.3f} -> {m.ece_calibrated.estimate:.3f} after T | "
            f"NLL {m.nll.estimate:.3f}")
    if m.gold_agreement is not None:
        line += f" | gold agreement {_ci(m.gold_agreement.agreement)}"
    out = [line]
    lc = m.length_controlled
    if lc:
        if lc.method == "cross-fit":
            fits = ", ".join(f"{f.beta:+.3g} [{f.beta_ci[0]:+.3g}, {f.beta_ci[1]:+.3g}]" for f in lc.folds)
            how = f"cross-fitted on prompt halves' labels, beta {fits}"
        else:
            f = lc.fits()[0]
            how = (f"beta {f.beta:+.3g} [{f.beta_ci[0]:+.3g}, {f.beta_ci[1]:+.3g}] fitted on "
                   f"{f.source}'s labels")
        cor = lc.corr_reward_diff_length_diff or {}
        r = " | r(reward diff, length diff) " + " -> ".join(
            "n/a" if (c := cor.get(k)) is None else f"{c:+.2f}" for k in ("raw", "controlled"))
        g = ""
        if lc.gold_agreement is not None:
            raw = m.gold_agreement.agreement if m.gold_agreement else None
            g = f" | gold agreement {_ci(lc.gold_agreement.agreement)} (raw {_ci(raw)})"
        out.append(f"  length-controlled accuracy {_ci(lc.accuracy)} (raw {_ci(m.accuracy)}; {how}){r}{g}")
        from rewardlab.eval.length_control import guard_lines

        out += [f"    {line}" for line in guard_lines(lc.to_dict())]
    return out + [f"  warning: {w}" for w in m.warnings]


def ksample_lines(name: str, m: rm.KSampleMetrics) -> list[str]:
    line = f"{name}: Spearman within prompt {_ci((m.ranking or rm.Ranking()).spearman_within_groups)}"
    c = m.correctness
    if c is not None and c.end_score is not None and c.max_score is not None:
        line += f" | best-of-K end score {c.end_score.estimate:.3f} (max {c.max_score.estimate:.3f})"
    g = m.gold_best_of_k
    if g is not None:
        line += f" | gold utility best-of-{g.k[-1]}: RM {g.rm[-1]:.2f} vs oracle {g.oracle[-1]:.2f}"
    h = m.harm_aware
    if h is not None:
        return [line, f"  harm-aware: harmful error mass {_ci(h.harmful_error_mass)} | ascent alignment "
                f"{_ci(h.ascent_alignment)} | ascent cosine {_ci(h.ascent_cosine)} (pi_0 {h.pi0})"]
    return [line]


def battles_lines(name: str, m: rm.BattlesMetrics) -> list[str]:
    return [f"{name}: system-ranking Spearman {m.spearman:.3f} | separability {m.separability:.3f} | "
            f"accuracy vs judges {_ci(m.accuracy)}"]


HEADLINES = KindHooks("summary_lines")  # record kind -> headline lines: a view of the kinds' registry


def headline(result: rm.EvalMetrics | dict[str, Any]) -> str:
    """Key figures per dataset with 95% CIs and any warnings.

    Args:
        result: what `rewardlab.eval.evaluate` returned (or metrics.json, loaded), or its typed
            `rewardlab.results.metrics.EvalMetrics`.

    Returns:
        A few lines of text, one block per dataset.

    Raises:
        RewardlabError: the result does not fit metrics.json's schema, or a dataset's record kind has no headline.
    """
    metrics = rm.EvalMetrics.coerce(result)
    out = []
    for name, m in metrics.datasets.items():
        lines = get_kind(m.kind).hook("summary_lines") if m.kind in kind_names() else None
        if lines is None:
            raise RewardlabError(f"dataset {name!r}: no headline for record kind {m.kind!r}")
        out += lines(name, m)
    return "\n".join(out)
