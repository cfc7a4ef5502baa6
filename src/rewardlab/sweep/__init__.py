"""rewardlab.sweep: a backbone ladder trained and evaluated on one split (`rewardlab sweep`): MiniLM truncated to
1, 2, 3 and 6 layers up to SmolLM2-135M (LoRA and full), MLP-head rungs, and mitigation variants beside plain
Bradley-Terry at the top; the scaling table (parameters, held-out accuracy with CIs, gold agreement, length
correlation, train accuracy and gap, adversarial probes, wall time) and its plot. Resumable.

Names are imported on first use, so importing the package loads no numpy.
"""

from rewardlab._entry import lazy_package

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.sweep.ladder": ("Rung", "parse_rung"),
    "rewardlab.sweep.spec": ("SweepSpec",),
    "rewardlab.sweep.run": ("SweepResult", "run_sweep=run"),
})
