"""rewardlab.audit: find what a reward model really rewards.

- `features`: length, hedging, markdown, repetition, filler/flattery, agreement and refusal features of each
  response, and their Pearson/Spearman correlation with the reward (across and within prompt, bootstrap CIs);
- `perturb`: counterfactual probes (filler, padding, markdown, hedges, repetition, flattery) and the reward change
  they cause;
- `adversarial`: token soup, the prompt echoed, a confident answer to another prompt, and how often each outscores
  the real response;
- `sycophancy`: agreeing with vs correcting a false claim of the user;
- `length`: accuracy within bins of length difference, on chosen-shorter pairs, and length-balanced;
- `run_audit` ties them together and writes audit.json and PNG plots; `rewardlab.report` renders it.

Names are imported on first use (the command line reads `AuditSpec` without numpy or torch). Calling the
package runs `run_audit`: `from rewardlab import audit; audit(scorer, pairs, cases, "out/audit")`.
"""

from rewardlab._entry import lazy_package, make_callable

__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.audit.adversarial": ("run_adversarial",),
    "rewardlab.audit.features": ("FEATURE_NAMES", "FEATURES", "correlations", "feature_matrix", "response_features"),
    "rewardlab.audit.length": ("length_control",),
    "rewardlab.audit.perturb": ("run_probes",),
    "rewardlab.audit.run": ("SCHEMA", "default_audit_data", "default_pairs", "run_audit"),
    "rewardlab.audit.spec": ("AuditSpec",),
    "rewardlab.audit.sycophancy": ("builtin_cases", "load_cases", "sycophancy_audit"),
    "rewardlab.probes.adversarial": ("ADVERSARIAL",),
    "rewardlab.probes.edits": ("PROBES", "VARIANTS", "apply_probe", "heldout_variants"),
})

make_callable(__name__, "rewardlab.audit.run", "run_audit")
