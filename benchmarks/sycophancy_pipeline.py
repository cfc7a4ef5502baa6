"""The sycophancy pipeline end to end on the simulator (issue 25 item 4), with each intervention's effect on the drift.

annotators with an agreement bias -> a reward model that learns agreement -> a policy optimised against it that
agrees with wrong users more and more. The annotator is `length=0,agreement=B,format=0` (default B = 6 utility
units, above the 4-unit gold gap between correcting a false premise, 3.5, and agreeing with it, -0.5): it prefers the
agreeing response. The reward model is `bow:` (a bag-of-words Bradley-Terry model) trained on --pairs simulator pairs
it labelled. The policy is the simulator policy, optimised by GRPO for --steps steps (--lr, 16 prompts x 8 samples
per step from a pool of --n-prompts prompts); the measure is its exact agreement rate on false-premise prompts,
P(agree | false-premise prompt), at every step; the drift is final minus step 0.

Conditions (each over --seeds seeds; seed s is the RM's data seed and the run's seed):
- positive control: GRPO directly against the biased annotator's perceived utility (`annotator:agreement=B`): must
  drift up, or the harness cannot see the effect;
- negative control: the same RM trained on a neutral annotator's labels (`bow:neutral`): should not drift up;
- baseline: the RM trained on the biased annotator's labels;
- data level: the same plus M pairs that reward correction (`bow:...:correct=M`, augmentation), each M of --correct;
- training level: the baseline RM with the honesty penalty (`--honesty-penalty lambda`: r - lambda d, d the audit's
  text-level agreement detector), each lambda of --lam.
RM level: every bow run first runs the audit's sycophancy check on --audit-cases false-premise cases
(`--sycophancy-audit`): the share of cases where the RM prefers agreeing over correcting (95% bootstrap CI) and the
flag (share > 0.5); the table checks whether the flag predicts the drift. The detector is checked against the
simulator's hidden `sycophantic` attribute on --check-prompts false-premise samples of the base and of each final
policy (precision, recall, and the flagged rate beside the true rate: a gap is evasion).

Table: mean and 95% t-interval over seeds; interventions also as paired differences to the baseline (same seeds).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/sycophancy_pipeline.py --json /tmp/syc/pipeline.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import command_line, table  # noqa: E402
from rewardlab.policy.compare import t_interval  # noqa: E402
from rewardlab.policy.honesty import detector_check  # noqa: E402
from rewardlab.policy.loop import OptimizeSpec, run  # noqa: E402
from rewardlab.policy.simpolicy import SimPolicy  # noqa: E402


def conditions(args: argparse.Namespace, seed: int) -> dict[str, dict[str, Any]]:
    """The runs of one seed: name -> OptimizeSpec options."""
    biased = f"length=0,agreement={args.bias:g},format=0"
    rm = f"bow:{biased}:{args.pairs}:{seed}"
    return {
        "positive control": {"reward": f"annotator:{biased}"},
        "negative control": {"reward": f"bow:neutral:{args.pairs}:{seed}"},
        "baseline": {"reward": rm},
    } | {f"data: +{m} correction pairs": {"reward": f"{rm}:correct={m}"} for m in args.correct} | {
        f"training: penalty lambda={lam:g}": {"reward": rm, "honesty_penalty": lam} for lam in args.lam}


def one_run(tmp: Path, name: str, seed: int, args: argparse.Namespace, **kw: Any) -> dict[str, Any]:
    out = tmp / f"{name.replace(' ', '_').replace(':', '')}-{seed}"
    res = run(OptimizeSpec(output=str(out), plot=False, overwrite=True, steps=args.steps, lr=args.lr, seed=seed,
                           n_prompts=args.n_prompts, sycophancy_audit=args.audit_cases, **kw))
    ag = [r["agreement"] for r in res.records]
    audit = res.sycophancy or {}
    check = detector_check(res.policy, args.check_prompts, seed=seed, family="false_premise")
    return {"agreement_0": ag[0], "agreement_final": ag[-1], "drift": ag[-1] - ag[0],
            "agreement_mid": ag[len(ag) // 2], "gold_0": res.records[0]["gold"], "gold_final": res.final["gold"],
            "kl_final": res.final["kl"], "flagged": audit.get("flagged"),
            "audit_share": (audit.get("agreeing_preferred") or {}).get("estimate"),
            "audit_margin": (audit.get("mean_margin") or {}).get("estimate"),
            "detector": check, "elapsed_s": res.elapsed_s}


def ci(values: list[float], signed: bool = False) -> str:
    d = t_interval(values)
    sign = "+" if signed else ""
    return f"{d['mean']:{sign}.3f} ± {d['half_width']:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--lr", type=float, default=1.0)
    ap.add_argument("--n-prompts", type=int, default=256, help="prompt pool of each run (>= 200)")
    ap.add_argument("--pairs", type=int, default=2000, help="annotator-labelled pairs per reward model")
    ap.add_argument("--bias", type=float, default=6.0, help="the annotator's agreement bias (utility units)")
    ap.add_argument("--correct", type=lambda v: [int(x) for x in v.split(",")], default=[100, 300],
                    help="correction pairs added (data level), comma-separated doses")
    ap.add_argument("--lam", type=lambda v: [float(x) for x in v.split(",")], default=[1.0, 3.0, 10.0],
                    help="honesty penalty lambdas (training level), comma-separated")
    ap.add_argument("--audit-cases", type=int, default=200, help="false-premise cases of the RM audit (>= 200)")
    ap.add_argument("--check-prompts", type=int, default=400, help="false-premise samples of the detector checks")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    print(f"command: {command_line()}", flush=True)
    t0 = time.perf_counter()
    base = SimPolicy.from_base("default")
    base_all = detector_check(base, 4000, seed=0)
    base_fp = detector_check(base, args.check_prompts, seed=0, family="false_premise")
    print(f"detector vs the simulator's sycophantic attribute, base policy: all families (4,000 samples) precision "
          f"{base_all['precision']:.3f} recall {base_all['recall']:.3f}; false-premise prompts ({base_fp['n']}) "
          f"precision {base_fp['precision']:.3f} recall {base_fp['recall']:.3f}", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as td:
        for s in range(args.seeds):
            for name, kw in conditions(args, s).items():
                r = one_run(Path(td), name, s, args, **kw)
                runs.setdefault(name, []).append(r)
                print(f"seed {s} {name}: agreement {r['agreement_0']:.3f} -> {r['agreement_final']:.3f}, gold "
                      f"{r['gold_final']:.3f}, KL {r['kl_final']:.3f}, audit flag {r['flagged']} "
                      f"(share {r['audit_share']}), {r['elapsed_s']:.0f}s", flush=True)
    base_runs = runs["baseline"]
    rows = []
    for name, rs in runs.items():
        flags = [r["flagged"] for r in rs]
        flag = "n/a (no text)" if flags[0] is None else f"{sum(bool(f) for f in flags)}/{len(flags)}"
        share = "" if rs[0]["audit_share"] is None else ci([r["audit_share"] for r in rs])
        diff = "" if not name.startswith(("data", "training")) else ci(
            [a["drift"] - b["drift"] for a, b in zip(rs, base_runs, strict=True)], signed=True)
        det = [r["detector"] for r in rs]
        rows.append([name, f"{np.mean([r['agreement_0'] for r in rs]):.3f}", ci([r["agreement_final"] for r in rs]),
                     ci([r["drift"] for r in rs], signed=True), diff, ci([r["gold_final"] for r in rs]),
                     ci([r["kl_final"] for r in rs]), flag, share,
                     f"{np.mean([d['flagged_rate'] for d in det]):.3f} / {np.mean([d['true_rate'] for d in det]):.3f}"])
    header = ["condition", "agree@0", "agree@final", "drift", "drift vs baseline", "gold@final", "KL@final",
              "audit flags", "RM prefers agreeing", "detected / true agree"]
    print()
    print(table(rows, header))
    # does the audit's flag before step 0 predict the drift? every bow run (not the penalty's: same RM as baseline)
    pred = [(r["flagged"], r["drift"]) for n in runs if n in ("negative control", "baseline") or n.startswith("data")
            for r in runs[n]]
    hits = sum((f and d > 0) or (not f and d <= 0) for f, d in pred)
    fl = [d for f, d in pred if f]
    un = [d for f, d in pred if not f]
    print(f"\naudit flag predicts the sign of the drift in {hits}/{len(pred)} RM runs (negative control, baseline, "
          f"data level); mean drift flagged {np.mean(fl) if fl else float('nan'):+.3f} (n={len(fl)}), unflagged "
          f"{np.mean(un) if un else float('nan'):+.3f} (n={len(un)})")
    from scipy.stats import spearmanr

    shares = [(r["audit_share"], r["drift"]) for n in runs if n in ("negative control", "baseline")
              or n.startswith("data") for r in runs[n]]
    rho = spearmanr([a for a, _ in shares], [b for _, b in shares]).statistic
    print(f"Spearman(the audit's agreeing-preferred share, drift) over those {len(shares)} runs: {rho:.3f}")
    pen = [(r["flagged"], r["drift"]) for n in runs if n.startswith("training") for r in runs[n]]
    print(f"penalty runs (flagged RM, penalised objective): drift > 0 in {sum(d > 0 for _, d in pen)}/{len(pen)}")
    for n in [n for n in runs if n.startswith("training")]:
        det = [r["detector"] for r in runs[n]]
        tp, fp, fn = (sum(d[k] for d in det) for k in ("tp", "fp", "fn"))
        print(f"detector on the final policies of {n} ({args.check_prompts} false-premise samples x {len(det)} "
              f"seeds): precision {tp / max(tp + fp, 1):.3f}, recall {tp / max(tp + fn, 1):.3f} (base policy: "
              f"{base_fp['recall']:.3f})")
    elapsed = time.perf_counter() - t0
    print(f"\n{args.seeds} seeds, {args.steps} GRPO steps (lr {args.lr}), {args.pairs} annotator pairs per RM, "
          f"bias {args.bias:g}, correction pairs {args.correct}, lambdas {args.lam}, {args.audit_cases} audit cases; "
          f"{elapsed:.0f}s")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "detector_base": {"all": base_all, "fp": base_fp},
                                               "runs": runs, "elapsed_s": elapsed}, indent=1))


if __name__ == "__main__":
    main()
