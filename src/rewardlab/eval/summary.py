"""One-screen headline of an evaluation result, printed by `rewardlab eval` and `rewardlab demo`."""

from __future__ import annotations

from typing import Any


def _ci(d: dict[str, Any] | None) -> str:
    if not d or d.get("estimate") is None:
        return "n/a"
    return f"{d['estimate']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}]"


def _pairs(name: str, m: dict[str, Any]) -> list[str]:
    lb = m.get("length_baselines", {})
    line = (f"{name}: accuracy {_ci(m['accuracy'])} | longer-wins {_ci(lb.get('longer'))} | "
            f"ECE {m['ece']['estimate']:.3f} -> {m['ece_calibrated']['estimate']:.3f} after T | "
            f"NLL {m['nll']['estimate']:.3f}")
    if "gold_agreement" in m:
        line += f" | gold agreement {_ci(m['gold_agreement'].get('agreement'))}"
    out = [line]
    lc = m.get("length_controlled")
    if lc:
        if lc.get("method") == "cross-fit":
            fits = ", ".join(f"{f['beta']:+.3g} [{f['beta_ci'][0]:+.3g}, {f['beta_ci'][1]:+.3g}]" for f in lc["folds"])
            how = f"cross-fitted on prompt halves' labels, beta {fits}"
        else:
            f = lc["fit"]
            how = (f"beta {f['beta']:+.3g} [{f['beta_ci'][0]:+.3g}, {f['beta_ci'][1]:+.3g}] fitted on "
                   f"{f['source']}'s labels")
        cor = lc.get("corr_reward_diff_length_diff") or {}
        r = " | r(reward diff, length diff) " + " -> ".join("n/a" if cor.get(k) is None else f"{cor[k]:+.2f}"
                                                             for k in ("raw", "controlled"))
        g = ""
        if "gold_agreement" in lc:
            g = (f" | gold agreement {_ci(lc['gold_agreement'].get('agreement'))} "
                 f"(raw {_ci(m['gold_agreement'].get('agreement'))})")
        out.append(f"  length-controlled accuracy {_ci(lc['accuracy'])} (raw {_ci(m['accuracy'])}; {how}){r}{g}")
        from rewardlab.eval.length_control import guard_lines

        out += [f"    {line}" for line in guard_lines(lc)]
    return out + [f"  warning: {w}" for w in m.get("warnings", [])]


def _ksample(name: str, m: dict[str, Any]) -> list[str]:
    line = f"{name}: Spearman within prompt {_ci(m['ranking'].get('spearman_within_groups'))}"
    if "correctness" in m:
        c = m["correctness"]
        line += f" | best-of-K end score {c['end_score']['estimate']:.3f} (max {c['max_score']['estimate']:.3f})"
    if "gold_best_of_k" in m:
        g = m["gold_best_of_k"]
        line += f" | gold utility best-of-{g['k'][-1]}: RM {g['rm'][-1]:.2f} vs oracle {g['oracle'][-1]:.2f}"
    if "harm_aware" in m:
        h = m["harm_aware"]
        return [line, f"  harm-aware: harmful error mass {_ci(h['harmful_error_mass'])} | ascent alignment "
                f"{_ci(h['ascent_alignment'])} | ascent cosine {_ci(h['ascent_cosine'])} (pi_0 {h['pi0']})"]
    return [line]


def _battles(name: str, m: dict[str, Any]) -> list[str]:
    return [f"{name}: system-ranking Spearman {m['spearman']:.3f} | separability {m['separability']:.3f} | "
            f"accuracy vs judges {_ci(m['accuracy'])}"]


HEADLINES = {"pairs": _pairs, "ksample": _ksample, "battles": _battles}  # record kind -> headline lines


def headline(result: dict[str, Any]) -> str:
    """Key figures per dataset with 95% CIs and any warnings.

    Args:
        result: what `rewardlab.eval.evaluate` returned (or metrics.json, loaded).

    Returns:
        A few lines of text, one block per dataset.
    """
    return "\n".join(line for name, m in result["datasets"].items() for line in HEADLINES[m["kind"]](name, m))
