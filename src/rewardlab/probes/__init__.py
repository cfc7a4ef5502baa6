"""rewardlab.probes: the text transforms several stages share: counterfactual edits (`edits`), adversarial
responses (`adversarial`) and sentence splitting (`text`). Pure text, no scoring: the audit measures a reward
model's reaction to them, training augments pairs with them, the length-control guard and the sweep score them.
"""
