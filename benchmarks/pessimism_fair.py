"""Pessimism tested fairly: does min / UWO / lcb / quantile keep more gold than the ensemble mean under best-of-n?

Issue 27's experiment. The README's earlier test could not have said yes (frozen-feature heads with no signal,
near-identical bootstrap members, no shift, 20 prompts). Here:
- members differ in what they can see: MiniLM fine-tuned at four depths (1, 2, 3 and 6 layers), each with its own
  seed and data order, trained by `rewardlab train-ensemble` and loaded back from its folder;
- annotators with human-like biases (length, agreement, formatting) and label noise 0 / 25 / 40% (flipped votes);
- training pairs from four task families; best-of-n pools from those families (in distribution) and from a fifth
  family the members never saw (shift);
- 300 in-distribution prompts: the first 100 choose each rule's parameter (k, lambda, q) by gold at the largest n,
  the other 200 test it; the shifted pools (200 prompts) use the parameters chosen in distribution;
- every setting reports the Spearman correlation between the members' spread and the ensemble's |error| against
  gold (both standardised within each prompt, averaged over prompts), and two controls built on the same pools
  and the same ensemble mean: positive (members = mean + |error| x fixed offsets: the spread equals |error|) and
  negative (the same spreads shuffled within the prompt: unrelated to the error).

The answer per setting and rule: gold of best-of-n at the largest n minus the mean rule's, with a paired bootstrap
95% CI over the test prompts (confirmed: CI above 0; refuted: CI below 0; else not shown), and the ratio of gold
gains over n = 1 (target: >= 1.5x with a CI above 1 in at least one setting).

    .venv/bin/python benchmarks/pessimism_fair.py --cache /tmp/pessimism_fair --json /tmp/pessimism_fair.json

The same ensemble from the command line (one noise level):
    rewardlab data simulate --kind pairs -n 1500 --preset human_like --flip-prob 0.25 --seed 101 -o pairs.jsonl
    rewardlab train-ensemble --data pairs.jsonl --models minilm:1,minilm:2,minilm:3,minilm:6 -o ens
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_run_args, command_line, start_run, table  # noqa: E402

FAMILIES_TRAIN = ("arithmetic", "facts", "advice", "false_premise")
FAMILIES_SHIFT = ("units",)


def sim_config(noise: float, families: tuple[str, ...]):
    from rewardlab.simulate import human_like

    cfg = human_like()
    cfg.flip_prob = noise
    cfg.family_weights = {f: 1.0 for f in families}
    return cfg


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def train_members(noise: float, args, cache: Path) -> Path:
    """The diverse ensemble for one noise level (resumes: finished members are reused)."""
    from rewardlab.ensemble import EnsembleSpec, train_ensemble
    from rewardlab.simulate import simulate_pairs
    from rewardlab.train.config import TrainConfig

    folder = cache / f"noise{round(noise * 100):02d}"
    pairs, held = folder / "pairs.jsonl", folder / "eval.jsonl"
    if not pairs.exists():
        write_jsonl(pairs, simulate_pairs(args.train_pairs, seed=101, config=sim_config(noise, FAMILIES_TRAIN)))
        write_jsonl(held, simulate_pairs(args.eval_pairs, seed=202, config=sim_config(0.0, FAMILIES_TRAIN)))
    opts = {"data": str(pairs), "eval_data": str(held), "seed": args.seed, "lr": args.lr, "epochs": args.epochs,
            "max_length": 192}
    if args.max_steps:
        opts["max_steps"] = args.max_steps
    spec = EnsembleSpec(output=str(folder / "ensemble"), members=args.members.split(","),
                        train=TrainConfig.from_options(**opts))
    t0 = time.perf_counter()
    res = train_ensemble(spec)
    print(f"noise {noise:.2f}: ensemble in {time.perf_counter() - t0:.0f} s", flush=True)
    for line in res.lines():
        print("  " + line, flush=True)
    return folder / "ensemble"


def member_scores(ens: Path, pools: list[dict], name: str, cache: Path) -> np.ndarray:
    """Raw rewards [P, m, K] of every member on the pools (each member's scores cached by text hash)."""
    from rewardlab.scoring import ModelScorer
    from rewardlab.scoring.ensemble import read_manifest

    meta = read_manifest(ens)
    prompts = [q["prompt"] for q in pools for _ in q["responses"]]
    responses = [r for q in pools for r in q["responses"]]
    key = hashlib.sha1(json.dumps([prompts, responses]).encode()).hexdigest()[:12]
    cols = []
    for m in meta["members"]:
        f = ens / m["path"] / f"scores-{name}-{key}.npy"
        if f.exists():
            cols.append(np.load(f))
            continue
        t0 = time.perf_counter()
        scorer = ModelScorer.from_path(str(ens / m["path"]), device="cpu")
        r = np.asarray(scorer.score(prompts, responses, progress=False).mean, dtype=float)
        np.save(f, r)
        print(f"  {ens.parent.name} {m['label']}: {len(r):,} {name} texts scored in {time.perf_counter() - t0:.0f} s",
              flush=True)
        cols.append(r)
    p, k = len(pools), len(pools[0]["responses"])
    return np.stack(cols, axis=1).reshape(p, k, -1)


def zscore_rows(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=1, keepdims=True)
    return (x - x.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)


def spread_error(mean: np.ndarray, std: np.ndarray, gold: np.ndarray) -> float:
    """Mean over prompts of Spearman(member std, |z(mean) - z(gold)|), z within the prompt (the library's
    `spread_error_spearman`, as `rewardlab goodhart` reports it)."""
    from rewardlab.optimize.curves import spread_error_spearman

    out = spread_error_spearman(mean, std, gold)["mean"]
    return float("nan") if out is None else out


def control_members(mean: np.ndarray, gold: np.ndarray, k: int, positive: bool, seed: int) -> np.ndarray:
    """Synthetic members [P, m, k] whose mean is exactly `mean` (each prompt's z-scored ensemble mean) and whose
    population std is |error| (positive) or |error| shuffled within the prompt (negative)."""
    z = zscore_rows(mean)
    err = np.abs(z - zscore_rows(gold))
    if not positive:
        rng = np.random.default_rng(seed)
        err = np.stack([rng.permutation(e) for e in err])
    offs = np.linspace(-1.0, 1.0, k)
    offs = (offs - offs.mean()) / offs.std()
    return z[:, :, None] + err[:, :, None] * offs[None, None, :]


def rule_scores(rule: str, members: np.ndarray) -> np.ndarray:
    from rewardlab.optimize import pessimistic_scores

    return pessimistic_scores(rule, members.mean(axis=2), std=members.std(axis=2), members=members)


def analyse(name: str, members: np.ndarray, gold: np.ndarray, tune: np.ndarray, test: np.ndarray, grids: dict,
            chosen: dict | None, args, single: int | None) -> dict:
    """Best-of-n gold of every rule on the test prompts, parameters chosen on the tune prompts (or given)."""
    from rewardlab.optimize import bon_expected, log2_n_grid

    m = gold.shape[1]
    ns = log2_n_grid(m)
    if chosen is None:
        chosen = {}
        for fam, grid in grids.items():
            best = max(grid, key=lambda r: bon_expected(rule_scores(r, members[tune]), gold[tune], ns[-1:]).mean())
            chosen[fam] = best
    rules = {"mean": "mean", **({"single": None} if single is not None else {}), "min": "min", **chosen}
    curves = {}
    for label, rule in rules.items():
        s = members[test][:, :, single] if rule is None else rule_scores(rule, members[test])
        curves[label] = bon_expected(s, gold[test], ns)  # [P, len(ns)]
    rng = np.random.default_rng(args.seed)
    p = len(test)
    boot = rng.integers(0, p, size=(args.resamples, p))
    ref = curves["mean"]
    ref_gain = ref[:, -1] - ref[:, 0]
    sd_gold = float(gold[test].std(axis=1).mean())
    k_peak = int(np.argmax(ref.mean(0)))
    out = {"setting": name, "n_max": int(ns[-1]), "chosen": chosen, "gold_sd": sd_gold,
           "mean_rule": {"n1": float(ref[:, 0].mean()), "peak_n": int(ns[k_peak]), "peak": float(ref[:, k_peak].mean()),
                         "rise_sd": float((ref[:, k_peak].mean() - ref[:, 0].mean()) / sd_gold),
                         "at_max": float(ref[:, -1].mean()), "gain": float(ref_gain.mean()),
                         "curve": ref.mean(0).tolist(), "n": ns.tolist()},
           "rules": {}}
    for label, c in curves.items():
        if label == "mean":
            continue
        diff = c[:, -1] - ref[:, -1]
        db = diff[boot].mean(1)
        gain = c[:, -1] - c[:, 0]
        ratio = gain[boot].mean(1) / ref_gain[boot].mean(1)
        lo, hi = float(np.quantile(db, 0.025)), float(np.quantile(db, 0.975))
        out["rules"][label] = {
            "rule": rules[label] or f"member {single} alone", "at_max": float(c[:, -1].mean()),
            "diff": float(diff.mean()), "diff_ci": [lo, hi],
            "ratio": float(gain.mean() / ref_gain.mean()) if ref_gain.mean() != 0 else float("nan"),
            "ratio_ci": [float(np.quantile(ratio, 0.025)), float(np.quantile(ratio, 0.975))],
            "verdict": "confirmed" if lo > 0 else ("refuted" if hi < 0 else "not shown"),
            "curve": c.mean(0).tolist()}
    return out


def paired_checks(members: np.ndarray, gold: np.ndarray, test: np.ndarray, k: int, args, single: int) -> dict:
    """Gold at the largest n of the min rule minus (a) min over the negative control's members (a spread of the
    same sizes, unrelated to the error: any gain both share is weaker selection, not pessimism) and (b) the
    deepest member alone; paired bootstrap over the test prompts."""
    from rewardlab.optimize import bon_expected

    m = gold.shape[1]

    def at_max(s: np.ndarray) -> np.ndarray:
        return bon_expected(s[test], gold[test], [m])[:, 0]

    real = at_max(rule_scores("min", members))
    neg = at_max(rule_scores("min", control_members(members.mean(2), gold, k, False, args.seed)))
    alone = at_max(members[:, :, single])
    boot = np.random.default_rng(args.seed).integers(0, len(test), size=(args.resamples, len(test)))
    out = {}
    for name, d in (("min - negative control's min", real - neg), ("min - deepest member alone", real - alone)):
        b = d[boot].mean(1)
        out[name] = [float(d.mean()), float(np.quantile(b, 0.025)), float(np.quantile(b, 0.975))]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-pairs", type=int, default=1500)
    ap.add_argument("--eval-pairs", type=int, default=400)
    ap.add_argument("--prompts", type=int, default=300, help="in-distribution pool prompts (first --tune choose)")
    ap.add_argument("--tune", type=int, default=100)
    ap.add_argument("--shift-prompts", type=int, default=200)
    ap.add_argument("--candidates", type=int, default=64)
    ap.add_argument("--noise", default="0,0.25,0.4", help="label-flip probabilities")
    ap.add_argument("--members", default="minilm:1,minilm:2,minilm:3,minilm:6")
    ap.add_argument("--lr", type=float, default=2e-4, help="members' peak learning rate (the demo's)")
    ap.add_argument("--epochs", type=float, default=2.0, help="members' passes over the training pairs")
    ap.add_argument("--max-steps", type=int, default=0, help="cap member training (0: one epoch; for smoke runs)")
    ap.add_argument("--uwo", default="0.1,0.3,1,3,10")
    ap.add_argument("--lcb", default="0.25,0.5,1,2,4")
    ap.add_argument("--quantile", default="0.05,0.1,0.25,0.4")
    add_run_args(ap)
    args = ap.parse_args()
    cache = start_run(args)
    if cache is None:
        ap.error("--cache is required (the ensembles and scores live there)")
    from rewardlab.simulate import simulate_pools

    noises = [float(x) for x in args.noise.split(",")]
    ensembles = {n: train_members(n, args, cache) for n in noises}
    pools = {"in-distribution": simulate_pools(args.prompts, k=args.candidates, seed=303,
                                               config=sim_config(0.0, FAMILIES_TRAIN)),
             "shifted": simulate_pools(args.shift_prompts, k=args.candidates, seed=404,
                                       config=sim_config(0.0, FAMILIES_SHIFT))}
    gold = {k: np.array([q["scores"] for q in v], dtype=float) for k, v in pools.items()}
    grids = {"uwo": [f"uwo:{x}" for x in args.uwo.split(",")], "lcb": [f"lcb:{x}" for x in args.lcb.split(",")],
             "quantile": [f"quantile:{x}" for x in args.quantile.split(",")]}
    tune_in = np.arange(args.tune)
    test_in = np.arange(args.tune, args.prompts)
    test_sh = np.arange(args.shift_prompts)
    results = []
    k = len(args.members.split(","))
    single = k - 1  # the last (deepest) member alone
    for noise, ens in ensembles.items():
        from rewardlab.scoring.ensemble import read_manifest

        scales = [(m["scale"]["offset"], m["scale"]["scale"]) for m in read_manifest(ens)["members"]]
        off = np.array([a for a, _ in scales])
        sc = np.array([b for _, b in scales])
        chosen = None
        ctl_chosen: dict[bool, dict] = {}
        for pname in ("in-distribution", "shifted"):
            raw = member_scores(ens, pools[pname], pname, cache)
            mem = (raw - off) / sc  # the EnsembleScorer's scaling
            g = gold[pname]
            tune, test = (tune_in, test_in) if pname == "in-distribution" else (None, test_sh)
            label = f"noise {noise:.2f}, {pname}"
            res = analyse(label, mem, g, tune, test, grids, chosen, args, single)
            if pname == "in-distribution":
                chosen = res["chosen"]
            res["spread_error_spearman"] = spread_error(mem[test].mean(2), mem[test].std(2), g[test])
            res["member_correlation"] = float(np.mean([np.corrcoef(mem[i].T)[np.triu_indices(k, 1)].mean()
                                                       for i in test]))
            res["kind"] = "ensemble"
            res["paired"] = paired_checks(mem, g, test, k, args, single)
            results.append(res)
            for positive in (True, False):
                ctl = control_members(mem.mean(2), g, k, positive, args.seed)
                cres = analyse(f"{label}, {'positive' if positive else 'negative'} control", ctl, g,
                               tune, test, grids, ctl_chosen.get(positive), args, None)  # no model to stand alone
                ctl_chosen.setdefault(positive, cres["chosen"])
                cres["spread_error_spearman"] = spread_error(ctl[test].mean(2), ctl[test].std(2), g[test])
                cres["kind"] = "positive control" if positive else "negative control"
                results.append(cres)
    print(f"\n{args.prompts} in-distribution prompts ({args.tune} tune, {args.prompts - args.tune} test) and "
          f"{args.shift_prompts} shifted prompts x {args.candidates} candidates; members {args.members}; "
          f"95% paired bootstrap CIs over test prompts ({args.resamples} resamples)\n")
    head = ["setting", "spread~|err|", "mean: n1 -> peak (n*, SD) -> n=max", "rule", "gold at n=max",
            "vs mean [95% CI]", "gain / mean's [95% CI]", "verdict"]
    body = []
    for r in results:
        mr = r["mean_rule"]
        first = True
        for label, x in r["rules"].items():
            body.append([r["setting"] if first else "", f"{r['spread_error_spearman']:+.2f}" if first else "",
                         (f"{mr['n1']:.2f} -> {mr['peak']:.2f} ({mr['peak_n']}, {mr['rise_sd']:+.2f}) -> "
                          f"{mr['at_max']:.2f}") if first else "",
                         f"{label} [{x['rule']}]", f"{x['at_max']:.3f}",
                         f"{x['diff']:+.3f} [{x['diff_ci'][0]:+.3f}, {x['diff_ci'][1]:+.3f}]",
                         f"{x['ratio']:.2f} [{x['ratio_ci'][0]:.2f}, {x['ratio_ci'][1]:.2f}]", x["verdict"]])
            first = False
    print(table(body, head))
    print("\npaired checks of the min rule at the largest n (95% CI over test prompts):")
    for r in results:
        for name, (d, lo, hi) in (r.get("paired") or {}).items():
            print(f"  {r['setting']}: {name}: {d:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    hits = [(r["setting"], lab) for r in results if r["kind"] == "ensemble" for lab, x in r["rules"].items()
            if lab != "single" and x["ratio"] >= 1.5 and x["ratio_ci"][0] > 1]
    print("\ntarget (a pessimistic rule >= 1.5x the mean rule's gain with a CI above 1, real ensembles): "
          + (f"met in {hits}" if hits else "not met in any setting"))
    if args.json:
        Path(args.json).write_text(json.dumps({"command": command_line(), "settings": vars(args),
                                               "results": results}, indent=1))


if __name__ == "__main__":
    main()
