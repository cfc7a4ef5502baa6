"""Moved: the selection rules live in `rewardlab.rules` (the foundation layer every stage imports). This name stays
so that code written against earlier releases keeps working."""

from rewardlab.rules import RULE_FORMS, Rule, parse_rule, pessimistic_scores, select_best

__all__ = ["RULE_FORMS", "Rule", "parse_rule", "pessimistic_scores", "select_best"]
