"""Mitigations of reward hacking on the simulator: each training/scoring option of issue 16 beside plain BT.

Training pairs come from annotators with a strong length bias (`--length-bias 2.0`: 50 more words are worth two
utility units to them), as in the issue's acceptance commands; the held-out pairs are judged by the same
annotators (a new seed), and the simulator's hidden gold utility says which response is really better.

Every model is a head on the same frozen MiniLM features (computed once and cached by text, as `rewardlab train
--freeze-backbone` does), so the options differ only in what the head is trained on or how it is read:
- plain: BT on the pairs (the baseline);
- balance: `--balance length` (resample, "longer wins" 50% in each length-difference bin);
- augment: `--augment probes,off-prompt` (the audit's probe edits and answers to other prompts);
- disentangled: `--head disentangled` (ODIN-style quality + length heads; the reward is the quality head);
- length-control: plain's rewards with `--length-control` (beta fitted on the training pairs, q used).

For each: label accuracy and gold agreement on the held-out pairs (95% CI over pairs), the paired gold-agreement
difference to plain BT (bootstrap CI and sign-flip p-value), the Pearson and Spearman correlation of the reward
with response length in tokens, across responses and within prompt, the length-balanced accuracy, the full audit's
flags (`rewardlab.audit` on its default data, with the model's tokenizer) and the head's training time.

    .venv/bin/python benchmarks/mitigations_sim.py --cache /tmp/mitig --json /tmp/mitig/summary.json

With `--data hh` (the shared HH-RLHF harmless-base file) or `--data FILE`, the pairs are real: split by prompt
(`--test-share` held out), no gold utility, so the table has accuracy, length correlations, length-balanced
accuracy and (with the audit) its flags:

    .venv/bin/python benchmarks/mitigations_sim.py --data hh --no-audit --cache /tmp/mitig --json /tmp/mitig/hh.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import add_run_args, backbone_path, command_line, load_bench_pairs, machine, start_run, table  # noqa: E402
from goodhart_sim import features  # noqa: E402

OPTIONS = ("plain", "balance", "augment", "disentangled", "length-control")


def _pair_texts(pairs):
    prompts = [p.prompt for p in pairs]
    return prompts + prompts, [p.chosen for p in pairs] + [p.rejected for p in pairs]


def train_head(kind: str, pairs, feat_fn, args, weights=None, spec=None):
    """A head of `kind` trained on cached features of `pairs`; returns (reward model, seconds of head training)."""
    import torch

    from rewardlab.models import HeadSpec, build_reward_model
    from rewardlab.train.collate import encode_pairs, pair_columns
    from rewardlab.train.config import LossSpec
    from rewardlab.train.frozen import train_head_on_features
    from rewardlab.train.losses import get_loss

    lm = build_reward_model(backbone_path("minilm"), HeadSpec("disentangled" if kind == "disentangled" else "scalar"),
                            seed=args.seed, freeze_backbone=True)
    prompts, responses = _pair_texts(pairs)
    f = feat_fn(prompts, responses)
    n = len(pairs)
    cols = pair_columns(encode_pairs(lm.renderer, pairs))
    boot = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)[None]
    # the --freeze-backbone defaults of the disentangled head unless a variant is given
    spec = (spec or LossSpec().disentangle_spec(frozen_backbone=True)) if kind == "disentangled" else None
    t0 = time.perf_counter()
    train_head_on_features(lm.model, get_loss("bt"), f[:n], f[n:], cols, epochs=args.epochs, lr=1e-3,
                           batch_size=64, seed=args.seed, bootstrap=boot, progress=False, disentangle=spec)
    return lm, time.perf_counter() - t0


def head_scorer(lm, feat_fn, name: str, transform=None):
    """A batched Scorer: cached features -> the head's reward (optionally length-controlled)."""
    import torch

    from rewardlab.scoring.base import CallableScorer

    def score(prompts, responses):
        with torch.no_grad():
            r = lm.model.split(lm.model.head_logits(feat_fn(prompts, responses)))["mean"].numpy()
        return r if transform is None else transform(r, responses)

    return CallableScorer(score, name=name, batched=True)


def _gold(pairs) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([p.extra["gold_chosen"] for p in pairs], dtype=float),
            np.array([p.extra["gold_rejected"] for p in pairs], dtype=float))


def evaluate(scorer, test, tokenizer, args) -> dict:
    """Held-out accuracy, gold agreement, length correlations and length-balanced accuracy of one scorer."""
    from rewardlab.audit.features import correlations, token_counts
    from rewardlab.audit.length import length_control
    from rewardlab.stats.metrics import gold_agreement, pairwise_metrics

    prompts, responses = _pair_texts(test)
    r = scorer.score(prompts, responses, progress=False).mean
    n = len(test)
    rc, rr = r[:n], r[n:]
    labels = np.array([1.0 if p.label is None else p.label for p in test], dtype=float)
    ln = np.array(token_counts(responses, tokenizer), dtype=float)
    corr = correlations(ln[:, None], r, prompts, names=["length_tokens"], n_resamples=args.resamples,
                        seed=args.seed)["length_tokens"]
    lc = length_control(rc, rr, ln[:n], ln[n:], labels, n_resamples=args.resamples, seed=args.seed)
    gold = None
    if all("gold_chosen" in p.extra for p in test):
        gc, gr = _gold(test)
        gold = gold_agreement(rc, rr, gc, gr, n_resamples=args.resamples, seed=args.seed)["agreement"]
    return {
        "rewards": (rc, rr),
        "accuracy": pairwise_metrics(rc, rr, labels, n_resamples=args.resamples, seed=args.seed)["accuracy"],
        "gold_agreement": gold,
        "length_corr": {k: corr[k] for k in ("pearson", "spearman", "within_pearson", "within_spearman")
                        if k in corr},
        "length_balanced_accuracy": lc.get("length_balanced_accuracy"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=3000, help="training pairs (seed 8, as the acceptance commands)")
    ap.add_argument("--test-pairs", type=int, default=1000, help="held-out pairs (seed 9)")
    ap.add_argument("--length-bias", type=float, default=2.0)
    ap.add_argument("--preset", choices=("neutral", "human_like"), default="neutral",
                    help="annotators (then --length-bias overrides theirs); human_like is the demo's setting: "
                         "use --preset human_like --length-bias 1.0")
    ap.add_argument("--data", default=None, help="real pairs instead of the simulator: 'hh' or a file")
    ap.add_argument("--test-share", type=float, default=0.25, help="with --data: share of prompts held out")
    ap.add_argument("--write-split", default=None, help="with --data: also write the split to DIR/train.jsonl and "
                    "DIR/test.jsonl (to train the same split with the backbone, `rewardlab train`)")
    ap.add_argument("--epochs", type=int, default=30, help="epochs of head training (the --head-epochs default)")
    ap.add_argument("--options", default=",".join(OPTIONS))
    ap.add_argument("--odin-variants", default="", help=(
        "extra disentangled heads, ';'-separated 'lambda_Q,lambda_L,lambda_O[,batch][,slope]' (batch: no "
        "within-pair term; slope: the slope measure), e.g. '0.03,0.03,0.03;1,1,1,batch;1,1,1,slope'"))
    ap.add_argument("--no-audit", action="store_true", help="skip the audit of each model")
    ap.add_argument("--audit-variants", action="store_true", help=(
        "run the probes' held-out variants in every audit (not only for models trained on the probes), so each "
        "option is compared on them"))
    add_run_args(ap)
    args = ap.parse_args()


    import rewardlab
    from rewardlab.audit import PROBES, VARIANTS, builtin_cases, default_pairs
    from rewardlab.data.balance import balance_pairs
    from rewardlab.eval.length_control import fit_length_control
    from rewardlab.models import build_reward_model
    from rewardlab.simulate import SimConfig, simulate_pairs
    from rewardlab.simulate.datasets import parse_rows
    from rewardlab.stats.metrics import compare_models
    from rewardlab.train.augment import augment_pairs

    cache = start_run(args)
    if args.data:
        from rewardlab.train.trainer import split_by_prompt

        train, test = split_by_prompt(load_bench_pairs(args.data), args.test_share, args.seed)
        print(f"{args.data}: {len(train)} training and {len(test)} held-out pairs (split by prompt)")
        if args.write_split:  # the same split as files, for `rewardlab train` / `eval` (full fine-tuning)
            from rewardlab.data import write_records

            out = Path(args.write_split)
            out.mkdir(parents=True, exist_ok=True)
            for name, part in (("train", train), ("test", test)):
                write_records([p.to_dict() for p in part], str(out / f"{name}.jsonl"))
            print(f"wrote {out / 'train.jsonl'} and {out / 'test.jsonl'}")
    else:
        from rewardlab.simulate import human_like

        sim = human_like() if args.preset == "human_like" else SimConfig()
        sim.length_bias = args.length_bias
        train = parse_rows(simulate_pairs(args.pairs, seed=8, config=sim))
        test = parse_rows(simulate_pairs(args.test_pairs, seed=9, config=sim))
    base = build_reward_model(backbone_path("minilm"), seed=args.seed, freeze_backbone=True)

    def feat_fn(prompts, responses):
        return features(base, list(prompts), list(responses), cache, "mitigations")

    options = [o for o in args.options.split(",") if o]
    variants: dict[str, object] = {}
    for v in filter(None, args.odin_variants.split(";")):
        parts = v.split(",")
        from rewardlab.train.losses import DisentangleSpec

        spec = DisentangleSpec(*(float(x) for x in parts[:3]), within_pair="batch" not in parts[3:],
                               measure="slope" if "slope" in parts[3:] else "corr")
        variants[f"disentangled({v})"] = spec
        options.append(f"disentangled({v})")
    results: dict[str, dict] = {}
    models: dict[str, object] = {}
    for opt in options:
        if opt == "length-control":
            if "plain" not in models:
                raise SystemExit("length-control reads plain's rewards: list plain before it")
            plain_lm = models["plain"]
            pr, ps = _pair_texts(train)
            r = head_scorer(plain_lm, feat_fn, "plain").score(pr, ps, progress=False).mean
            n = len(train)
            lc = fit_length_control(r[:n], r[n:], [len(x) for x in ps[:n]], [len(x) for x in ps[n:]],
                                    source="training pairs")
            scorer = head_scorer(plain_lm, feat_fn, opt,
                                 transform=lambda rew, resp, lc=lc: lc.apply(rew, [len(x) for x in resp]))
            seconds, n_train, note = results["plain"]["train_seconds"], n, f"beta {lc.beta:+.3f}"
            trained_on = None
        else:
            pairs, weights, note, trained_on = train, None, "", None
            if opt == "balance":
                res = balance_pairs(train, method="resample", seed=args.seed)
                pairs = res.pairs
                note = f"{len(pairs)} of {len(train)} pairs kept"
            elif opt == "augment":
                pairs, rep = augment_pairs(train, ["probes", "off-prompt"], seed=args.seed)
                note = f"+{len(pairs) - len(train)} pairs"
                trained_on = rep.trained_on  # the audit marks these and runs the probes' held-out variants
            feat_fn(*_pair_texts(pairs))  # encode new texts outside the timed head training
            kind = "disentangled" if opt.startswith("disentangled") else "scalar"
            lm, seconds = train_head(kind, pairs, feat_fn, args, weights, variants.get(opt))
            models[opt] = lm
            scorer = head_scorer(lm, feat_fn, opt)
            n_train = len(pairs)
        ev = evaluate(scorer, test, base.tokenizer, args)
        ev.update(train_seconds=seconds, n_train=n_train, note=note)
        if opt != "plain" and "plain" in results:
            (ac, ar), (bc, br) = ev["rewards"], results["plain"]["rewards"]
            labels = np.array([1.0 if p.label is None else p.label for p in test], dtype=float)
            ev["acc_vs_plain"] = compare_models(ac, ar, bc, br, labels=labels, n_resamples=args.resamples,
                                                seed=args.seed)
            if ev["gold_agreement"] is not None:
                gc, gr = _gold(test)
                keep = gc != gr
                ev["gold_vs_plain"] = compare_models(ac[keep], ar[keep], bc[keep], br[keep],
                                                     labels=(gc[keep] > gr[keep]).astype(float),
                                                     n_resamples=args.resamples, seed=args.seed)
        if not args.no_audit:
            with tempfile.TemporaryDirectory() as tmp:
                a = rewardlab.audit(scorer, default_pairs(), builtin_cases(), tmp, tokenizer=base.tokenizer,
                                    n_resamples=args.resamples, seed=args.seed, progress=False,
                                    trained_on=trained_on or {},
                                    probes=[*PROBES, *VARIANTS] if args.audit_variants else None)
            ev["flags"] = {k: v for k, v in a["flagged"].items() if v}
            ev["n_flags"] = len(a["flags"])
            ev["probes"] = {k: {"flagged": d["flagged"], "mean_change": d["mean_change"],
                                "trained_on": d.get("trained_on"), "heldout_variant": d.get("heldout_variant")}
                            for k, d in a.get("probes", {}).get("probes", {}).items()}
            ev["adversarial"] = {k: d["share_outscores"] for k, d in a.get("adversarial", {}).get("probes", {}).items()}
        results[opt] = ev
        print(f"{opt}: done ({seconds:.1f} s head training) {note}", flush=True)

    def ci(d, digits=3):
        return "-" if not d else f"{d['estimate']:.{digits}f} [{d['lo']:.{digits}f}, {d['hi']:.{digits}f}]"

    def diff(g):
        return "-" if not g else (f"{g['difference']['estimate']:+.3f} [{g['difference']['lo']:+.3f}, "
                                  f"{g['difference']['hi']:+.3f}] p={g['p_value']:.3g}")

    rows = []
    for opt, ev in results.items():
        lcorr = ev["length_corr"]
        rows.append([opt, ci(ev["accuracy"]), diff(ev.get("acc_vs_plain")), ci(ev["gold_agreement"]),
                     diff(ev.get("gold_vs_plain")),
                     ci(lcorr.get("within_pearson"), 2), ci(lcorr.get("spearman"), 2),
                     ci(ev["length_balanced_accuracy"]),
                     str(ev.get("n_flags", "-")),
                     "; ".join(f"{k}: {','.join(map(str, v)) if isinstance(v, list) else v}"
                               for k, v in ev.get("flags", {}).items()) or "-",
                     f"{ev['train_seconds']:.1f} ({ev['train_seconds'] / results['plain']['train_seconds']:.2f}x)"
                     if "plain" in results else f"{ev['train_seconds']:.1f}",
                     ev["note"] or "-"])
    for opt, ev in results.items():
        held = {k: d for k, d in ev.get("probes", {}).items() if k.endswith("_alt")}
        if held:
            print(f"{opt}: held-out probe variants (wording never used in training): " + ", ".join(
                f"{k} {'FLAGGED' if d['flagged'] else 'not flagged'} {ci(d['mean_change'])}" for k, d in held.items()))
    print(table(rows, ["option", "label acc", "acc vs plain", "gold agreement", "gold vs plain", "within-prompt r(len)",
                       "spearman(len)", "len-balanced acc", "flags", "flagged", "head train s", "note"]))
    if args.json:
        out = {k: {kk: vv for kk, vv in v.items() if kk != "rewards"} for k, v in results.items()}
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"command": command_line(), "machine": machine(), "results": out},
                                              indent=2, default=str))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
