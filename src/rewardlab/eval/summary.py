"""One-screen headline of an evaluation result, printed by `rewardlab eval` and `rewardlab demo`."""

from __future__ import annotations

from typing import Any


def _ci(d: dict[str, Any] | None) -> str:
    if not d or d.get("estimate") is None:
        return "n/a"
    return f"{d['estimate']:.3f} [{d['lo']:.3f}, {d['hi']:.3f}]"


def headline(result: dict[str, Any]) -> str:
    """Key figures per dataset with 95% CIs and any warnings."""
    lines = []
    for name, m in result["datasets"].items():
        if m["kind"] == "pairs":
            lb = m.get("length_baselines", {})
            line = (f"{name}: accuracy {_ci(m['accuracy'])} | longer-wins {_ci(lb.get('longer'))} | "
                    f"ECE {m['ece']['estimate']:.3f} -> {m['ece_calibrated']['estimate']:.3f} after T | "
                    f"NLL {m['nll']['estimate']:.3f}")
            if "gold_agreement" in m:
                line += f" | gold agreement {_ci(m['gold_agreement'].get('agreement'))}"
            lines.append(line)
            lines += [f"  warning: {w}" for w in m.get("warnings", [])]
        elif m["kind"] == "ksample":
            r = m["ranking"]
            line = f"{name}: Spearman within prompt {_ci(r.get('spearman_within_groups'))}"
            if "correctness" in m:
                c = m["correctness"]
                line += (f" | best-of-K end score {c['end_score']['estimate']:.3f} "
                         f"(max {c['max_score']['estimate']:.3f})")
            if "gold_best_of_k" in m:
                g = m["gold_best_of_k"]
                line += f" | gold utility best-of-{g['k'][-1]}: RM {g['rm'][-1]:.2f} vs oracle {g['oracle'][-1]:.2f}"
            lines.append(line)
        else:
            lines.append(f"{name}: system-ranking Spearman {m['spearman']:.3f} | separability "
                         f"{m['separability']:.3f} | accuracy vs judges {_ci(m['accuracy'])}")
    return "\n".join(lines)
