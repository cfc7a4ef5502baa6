"""rewardlab.simulate: the built-in, deterministic preference simulator (embedded default data, test ground truth).

Prompts come from five task families, each with its own annotator noise temperature tau (SimConfig.taus):
arithmetic 0.25, facts 0.5 (a built-in table of 64 facts), units 1.0, advice 2.0 (subjective), false_premise 0.5
("I'm sure the capital of Australia is Sydney, right?"). Each response has visible attributes: correct, relevant,
extra_sentences, hedges, formatting, repetition, filler, sycophantic, and, when Propensities.completeness > 0,
details (substantive supporting sentences, which make an answer both longer and better; see Propensities for the
law and its coupling to correctness). Gold utility u = sum of UtilityWeights times attributes (a missing details
count is 0). Annotators prefer a over b with probability
    sigmoid((u_a - u_b + length_bias (len_a - len_b) / length_norm + agreement_bias (syc_a - syc_b)
             + format_bias (fmt_a - fmt_b)) / tau_family)
with len in words and length_norm 50 words by default; then optional Rao-Kupper ties (tie_margin), label flips
(flip_prob) and several annotators per pair (soft labels). neutral() has every bias 0; human_like() has length 1.0,
agreement 0.5, format 0.3 (length is only a bias: no response is longer because it is better); realistic() adds
details and keeps a judge's length bias, calibrated on real judge data (the longer response chosen in about 0.89 of
pairs, 0.78 when the lengths differ by less than the median: lengthstats.length_stats).

Generators (each returns a list of JSON-serialisable dicts; same seed -> byte-identical output):
- simulate_pairs(n, seed, config): id, prompt, chosen, rejected, label, tie, category, tau, gold_chosen,
  gold_rejected, p_chosen, attrs_chosen, attrs_rejected (+ margin when config.emit_margin)
- simulate_pools(n_prompts, k, seed, config): id, prompt, responses, scores, correct, category, tau, attrs
- simulate_battles(n, seed, config, systems): id, prompt, model_a, model_b, response_a, response_b, winner,
  category, tau, gold_a, gold_b, p_a, attrs_a, attrs_b; system_expected_utility() gives the true ranking
- false_premise_cases(n, seed): id, prompt, agreeing, correcting, category, kind, subject, false_claim,
  false_answer, true_answer

Quick start::

    from rewardlab.simulate import simulate_pairs, human_like
    pairs = simulate_pairs(10_000, seed=0, config=human_like())
"""

from rewardlab._entry import lazy_package

# names are imported on first use, so `rewardlab.simulate.spec` (the data simulate command's spec) loads no numpy
__all__, __getattr__, __dir__ = lazy_package(__name__, {
    "rewardlab.simulate.annotator": ("MARGIN_THRESHOLDS", "preference_logit", "sigmoid", "vote_probabilities"),
    "rewardlab.simulate.config": ("ALL_ATTRIBUTES", "ATTRIBUTES", "DEFAULT_TAUS", "FAMILIES", "MAX_DETAILS",
                                  "Propensities", "SimConfig", "UtilityWeights", "human_like", "neutral", "realistic"),
    "rewardlab.simulate.facts": ("FACTS", "Fact"),
    "rewardlab.simulate.generate": ("false_premise_cases", "make_rng", "simulate_battles", "simulate_pairs",
                                    "simulate_pools"),
    "rewardlab.simulate.lengthstats": ("format_length_stats", "length_stats"),
    "rewardlab.simulate.responses": ("AttributeSampler", "gold_utility", "word_count"),
    "rewardlab.simulate.systems": ("System", "default_systems", "expected_attributes", "expected_utility",
                                   "system_expected_utility"),
})
