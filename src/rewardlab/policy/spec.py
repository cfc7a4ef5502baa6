"""The policy lab's specs, in a module that imports no numpy: OptimizeSpec (`rewardlab optimize`) and CompareSpec
(`rewardlab compare-methods`). The runs are `rewardlab.policy.loop.run` and `rewardlab.policy.compare.run`, which
re-export them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rewardlab.config import DEVICE_HELP, ConfigError, Spec, option
from rewardlab.errors import RewardlabError

Method = Literal["grpo", "reinforce", "best-of-n", "expert-iteration", "drro", "dro", "feedme",
                 "reward-conditioning", "sft"]
Advantage = Literal["group", "tea"]

#: AlpacaFarm (Dubois et al. 2023), simulated win rates (%) against davinci-003; grpo stands for PPO
ALPACAFARM = {"grpo": 46.8, "best-of-n": 45.0, "expert-iteration": 41.9, "sft": 39.2, "feedme": 36.6,
              "reward-conditioning": 32.4}
METHODS = ("grpo", "reinforce", "best-of-n", "expert-iteration", "drro", "dro", "feedme", "reward-conditioning",
           "sft")


@dataclass
class OptimizeSpec(Spec):
    """What `rewardlab optimize` optimises, how, and where it writes.

    Example:
        >>> OptimizeSpec(reward="gold", output="runs/opt").group
        8
        >>> OptimizeSpec(reward="gold", output="o", method="grpo", group=1)
        Traceback (most recent call last):
        rewardlab.config.ConfigError: group must be >= 2 for grpo (advantages are relative within a group), got 1
    """

    section_title = "optimization"

    method: Method = option("grpo", flag="--method", help="grpo, reinforce, best-of-n (distil the best of "
                            "--group base samples), expert-iteration (best of --group current samples), drro "
                            "(grpo with the DRRO sampled bonus, --drro-eps), dro (grpo with standard DRO's penalty), "
                            "feedme (binary FeedME: fit the winners of base-sample pairs), reward-conditioning "
                            "(binary reward conditioning) or sft (fit samples of --sft-reference).")
    reward: str | None = option(None, flag="--reward", help="The reward optimised: a reward-model folder, "
                                "http(s)://server/get_reward, py:module:function, 'gold' (the simulator's gold "
                                "utility), 'annotator:human_like' / 'annotator:length=1,agreement=0.5,format=0.3' "
                                "(the simulated annotator's biased perceived utility), 'bow:human_like[:N[:SEED]][:correct=M]' "
                                "(a bag-of-words reward model trained on N simulated pairs, plus M pairs rewarding "
                                "the correction of a false premise), or several separated "
                                "by ';' (an ensemble, combined by --select).")
    output: str | None = option(None, flag="--output", aliases=("-o",), help="Output folder (steps.jsonl, "
                                "checkpoint.json, optimize.json, optimize.png).")
    steps: int = option(50, min=0, help="Optimisation steps.")
    base: str = option("default", help="Base policy: 'default' (the simulator's default propensities, those of "
                       "simulated training data) or a system, sys-a (best) .. sys-f (worst).")
    kl_beta: float = option(0.0, min=0.0, flag="--kl-beta", help="KL penalty beta: the loss adds beta KL(pi || pi0) "
                            "(in units of the group-normalised advantage: on the simulator with a length-biased proxy, "
                            "0.1 barely slowed the drift and 0.5 kept gold at its peak).")
    lr: float = option(0.5, min=0.0, min_exclusive=True, help="Step size of the logit updates (plain gradient "
                       "descent).")
    group: int = option(8, min=1, help="Samples per prompt (G of GRPO, n of best-of-n and expert iteration).")
    batch_prompts: int = option(16, min=1, help="Prompts per step.")
    n_prompts: int = option(256, min=1, help="Size of the prompt pool the steps draw from.")
    seed: int = option(0, min=0, help="Random seed (prompts, samples and renderings).")
    checkpoint_every: int = option(10, min=1, help="Write a checkpoint every this many steps.")
    resume: bool = option(False, help="Continue the run in --output from its last checkpoint.")
    overwrite: bool = option(False, help="Start afresh in an --output that holds an earlier run.")
    plot: bool = option(True, help="Write optimize.png (proxy and gold against step and KL, attribute drift).")
    drro_eps: float = option(0.5, min=0.0, flag="--drro-eps", help="drro: the sampled bonus eps as a multiple of "
                             "each group's std(r) (ALGORITHMS.md section 4; sweep 0.1, 0.5, 1).")
    advantage: Advantage = option("group", flag="--advantage", help="grpo's advantages: 'group' ((r - mean) / std "
                                  "per group) or 'tea' (best-of-N-aware: exact U-statistic for --bon-n <= --group, "
                                  "Tail-Extrapolated Advantage above).")
    bon_n: int = option(1, min=1, flag="--bon-n", help="N of --advantage tea (the best-of-N served at test time).")
    select: str = option("mean", help="How the reward's mean, std and ensemble members become the reward optimised: "
                         "mean, min, uwo:lam (mean - lam Var(members)), lcb:k (mean - k std) or quantile:q (the "
                         "Gaussian quantile of a heteroscedastic model), as in `rewardlab bon`.")
    sft_reference: str = option("sys-b", help="sft: the system whose samples are the reference demonstrations "
                                "(sys-a .. sys-f; sys-b, accurate, verbose and formatted, stands in for AlpacaFarm's "
                                "davinci-003 demonstrations).")
    rm_update_every: int = option(0, min=0, help="Update the reward model every this many steps on pairs of the "
                                  "current policy's samples labelled by --rm-annotator (0: never; needs a reward the "
                                  "loop can train: bow:... or a reward-model folder, fine-tuned in the loop).")
    rm_update_pairs: int = option(64, min=1, help="Pairs labelled per reward-model update (as many more, held out, "
                                  "measure its gold agreement before and after).")
    rm_annotator: str = option("human_like", help="The simulated annotator labelling the update pairs: human_like, "
                               "neutral or length=B,agreement=B,format=B.")
    rm_update_steps: int = option(30, min=1, help="Neural reward models (a checkpoint folder as --reward): AdamW "
                                  "steps of Bradley-Terry fine-tuning per update.")
    rm_update_lr: float = option(2e-5, min=0.0, min_exclusive=True, help="Neural reward models: learning rate of "
                                 "the update steps (constant).")
    rm_update_batch: int = option(16, min=1, help="Neural reward models: pairs per update step.")
    rm_replay: int = option(256, min=0, help="Neural reward models: at most this many pairs of earlier updates are "
                            "replayed (drawn at random) beside each update's new pairs.")
    honesty_penalty: float = option(0.0, min=0.0, help="Honesty penalty lambda: optimise r - lambda d, d = 1 when "
                                    "the response opens by agreeing with a claim the prompt asserts (the audit's "
                                    "text-level agreement detector); the logged proxy stays r.")
    sycophancy_audit: int = option(0, min=0, help="Before step 0, run the audit's sycophancy check on this many "
                                   "false-premise cases against the reward and record whether it flags it (0: "
                                   "off; rewards that read text only).")
    device: str = option("auto", help="Where a reward-model folder (--reward) runs: " + DEVICE_HELP)
    bf16: bool = option(False, help="Score a reward-model folder (--reward) under bf16 autocast: about twice as fast "
                        "where the hardware has native bf16 (GPUs; CPUs with AVX512-BF16 or AMX), emulated and "
                        "several times slower elsewhere; rewards move by about 1e-2, so the run is not the fp32 "
                        "run. A scorer passed to `run(scorer=...)` keeps its own setting.")

    def check(self) -> None:
        if self.method in ("grpo", "best-of-n", "expert-iteration") and self.group < 2:
            raise ConfigError(f"{{0}} must be >= 2 for {self.method} (advantages are relative within a group), "
                              f"got {self.group}" if self.method == "grpo" else
                              f"{{0}} must be >= 2 for {self.method} (best of a group), got {self.group}", "group")
        if self.method in ("drro", "dro") and self.group < 2:
            raise ConfigError(f"{{0}} must be >= 2 for {self.method} (the bonus is relative within a group), "
                              f"got {self.group}", "group")
        from rewardlab.policy.rewards import parse_annotator
        from rewardlab.policy.simpolicy import resolve_base

        try:
            resolve_base(self.sft_reference)
        except RewardlabError as e:
            raise ConfigError(f"{{0}}: {e}", "sft_reference") from None
        try:
            from rewardlab.rules import parse_rule

            parse_rule(self.select)
        except RewardlabError as e:
            raise ConfigError(f"{{0}}: {e}", "select") from None
        try:
            parse_annotator(self.rm_annotator)
        except RewardlabError as e:
            raise ConfigError(f"{{0}}: {e}", "rm_annotator") from None
        if self.honesty_penalty and self.method == "sft":
            raise ConfigError("{0} has no effect with --method sft (the reward is only logged)", "honesty_penalty")
        if self.advantage == "tea" and self.method != "grpo":
            raise ConfigError(f"{{0}} tea needs --method grpo, got {self.method}", "advantage")
        if self.resume and self.overwrite:
            raise ConfigError("{0} and {1} exclude each other", "resume", "overwrite")


@dataclass
class CompareSpec(Spec):
    """What `rewardlab compare-methods` runs and where it writes.

    Example:
        >>> CompareSpec(reward="gold", output="o", seeds=5).seeds
        5
        >>> CompareSpec(reward="gold", output="o", methods=["grpo", "ppo"])
        Traceback (most recent call last):
        rewardlab.config.ConfigError: methods: unknown method 'ppo'; choose from grpo, reinforce, best-of-n, expert-iteration, drro, dro, feedme, reward-conditioning, sft
    """

    section_title = "comparison"

    reward: str | None = option(None, flag="--reward", help="The reward every method optimises (as in `rewardlab "
                                "optimize --reward`: annotator:human_like, bow:human_like, a reward-model folder, "
                                "...).")
    output: str | None = option(None, flag="--output", aliases=("-o",), help="Output folder (compare.json, "
                                "compare.md, compare.png and one run folder per method and seed).")
    methods: list[str] = option(default_factory=lambda: list(ALPACAFARM), help="Methods, comma-separated (default: "
                                "AlpacaFarm's set: grpo for PPO, best-of-n, expert-iteration, sft, feedme, "
                                "reward-conditioning).")
    seeds: int = option(5, min=2, help="Seeds per method (the CIs are over seeds).")
    seed: int = option(0, min=0, help="First seed; the runs use seed, seed + 1, ...")
    steps: int = option(200, min=1, help="Optimisation steps of every method.")
    lr: float = option(1.0, min=0.0, min_exclusive=True, help="Step size of every method.")
    group: int = option(8, min=2, help="Samples per prompt (grpo's G, best-of-n's and expert iteration's n).")
    batch_prompts: int = option(16, min=1, help="Prompts per step.")
    n_prompts: int = option(256, min=1, help="Size of the prompt pool.")
    kl_beta: float = option(0.1, min=0.0, flag="--kl-beta", help="grpo's KL penalty (AlpacaFarm's PPO has one; "
                            "the fine-tuning methods have none).")
    base: str = option("default", help="Base policy (AlpacaFarm's SFT 10k): 'default' or sys-a .. sys-f.")
    sft_reference: str = option("sys-b", help="sft's reference system (see `rewardlab optimize --sft-reference`).")
    select: str = option("mean", help="Selection rule of an ensemble reward (see `rewardlab optimize --select`).")
    overwrite: bool = option(False, help="Replace the runs of an earlier comparison in --output.")
    plot: bool = option(True, help="Write compare.png.")

    def check(self) -> None:
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ConfigError(f"{{0}}: unknown method {bad[0]!r}; choose from {', '.join(METHODS)}", "methods")
        if not self.methods or len(set(self.methods)) != len(self.methods):
            raise ConfigError("{0}: give each method once (at least one)", "methods")
