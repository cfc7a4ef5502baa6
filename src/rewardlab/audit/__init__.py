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

Calling the package runs `run_audit`: `from rewardlab import audit; audit(scorer, pairs, cases, "out/audit")`.
"""

from rewardlab._entry import make_callable
from rewardlab.audit.adversarial import run_adversarial
from rewardlab.audit.features import FEATURE_NAMES, FEATURES, correlations, feature_matrix, response_features
from rewardlab.audit.length import length_control
from rewardlab.audit.perturb import run_probes
from rewardlab.audit.run import SCHEMA, default_audit_data, default_pairs, run_audit
from rewardlab.audit.sycophancy import builtin_cases, load_cases, sycophancy_audit
from rewardlab.probes.adversarial import ADVERSARIAL
from rewardlab.probes.edits import PROBES, VARIANTS, apply_probe, heldout_variants

__all__ = [
    "ADVERSARIAL",
    "FEATURES",
    "FEATURE_NAMES",
    "PROBES",
    "SCHEMA",
    "VARIANTS",
    "apply_probe",
    "builtin_cases",
    "correlations",
    "default_audit_data",
    "default_pairs",
    "feature_matrix",
    "heldout_variants",
    "length_control",
    "load_cases",
    "response_features",
    "run_adversarial",
    "run_audit",
    "run_probes",
    "sycophancy_audit",
]

make_callable(__name__, "rewardlab.audit.run", "run_audit")
