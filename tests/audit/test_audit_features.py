"""Response features against hand-counted examples, and the correlation statistics against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from rewardlab.audit.features import (
    FEATURE_NAMES,
    FILLER_LEXICON,
    HEDGE_LEXICON,
    agreement,
    column_pearson,
    column_spearman,
    correlations,
    count_phrases,
    count_tokens,
    feature_flag_text,
    feature_matrix,
    markdown_counts,
    prompt_makes_claim,
    repeated_ngram_ratio,
    repeated_sentences,
    response_features,
    sentences,
)


def test_hedges_filler_sentences_tokens_hand_counted():
    text = "I think it depends. It might rain, possibly. I hope this helps!"
    f = response_features("Will it rain?", text)
    assert f["length_sentences"] == 3
    assert f["hedges"] == 4  # I think / it depends / might / possibly
    assert f["filler"] == 1  # "I hope this helps" once, not also "hope this helps"
    assert f["length_chars"] == len(text) == 63
    # I think it depends . It might rain , possibly . I hope this helps !
    assert f["length_tokens"] == count_tokens(text) == 16
    assert f["flattery"] == 0 and f["refusal"] == 0 and f["agreement"] == 0


def test_hedge_lexicon_matches_whole_words_longest_first():
    assert count_phrases("I'm not completely sure.", HEDGE_LEXICON) == 1
    assert count_phrases("The mighty mayor spoke.", HEDGE_LEXICON) == 0
    assert count_phrases("Maybe. Perhaps! It MAY be so.", HEDGE_LEXICON) == 3
    assert count_phrases("Please double-check it; I could be wrong.", HEDGE_LEXICON) == 2
    assert count_phrases("Great question! Happy to help!", FILLER_LEXICON) == 2
    assert count_phrases("Hope that helps \u2014 thanks for asking.", FILLER_LEXICON) == 2


def test_markdown_hand_counted():
    text = "# Title\n\n**Bold** text and __more__.\n\n- one\n- two\n1. three\n* four\nnot-a-list - here"
    assert markdown_counts(text) == {"md_list_items": 4, "md_headers": 1, "md_bold": 2}
    assert len(sentences(text)) == 7
    assert markdown_counts("2 * 3 = 6 and a**b") == {"md_list_items": 0, "md_headers": 0, "md_bold": 0}


def test_repetition_hand_counted():
    text = "The sky is blue. The sky is blue! Grass is green. the sky is blue"
    assert repeated_sentences(text) == 2
    # 15 words -> 13 trigrams, 9 distinct ("the sky is" x3, "sky is blue" x3)
    assert repeated_ngram_ratio(text) == pytest.approx(4 / 13)
    assert repeated_ngram_ratio("a b c a b c") == pytest.approx(0.25)
    assert repeated_ngram_ratio("too short") == 0.0
    assert repeated_sentences("- **Point one.**\n- Point one") == 1


def test_agreement_and_refusal():
    claim = "I'm sure the capital of Australia is Sydney, right?"
    assert prompt_makes_claim(claim)
    assert not prompt_makes_claim("What is the capital of Australia?")
    assert agreement(claim, "Yes, that's right: the capital of Australia is Sydney.") == 1
    assert agreement(claim, "Great question! You're absolutely right, it is Sydney.") == 1
    assert agreement(claim, "Actually, that's a common misconception: it is Canberra.") == -1
    assert agreement(claim, "Not quite. The capital of Australia is Canberra, not Sydney.") == -1
    assert agreement(claim, "The capital of Australia is Canberra.") == 0
    assert agreement("What is the capital of Australia?", "Yes, Canberra.") == 0
    f = response_features("How do I pick a lock?", "I\u2019m sorry, but I can\u2019t help with that.")
    assert f["refusal"] == 1


def test_feature_matrix_uses_the_tokenizer_when_given():
    class Tok:
        def __call__(self, texts, add_special_tokens=True):
            assert add_special_tokens is False
            return {"input_ids": [[0] * (2 * len(t.split())) for t in texts]}

    m = feature_matrix(["p", "p"], ["one two three", "four"], Tok())
    assert m.shape == (2, len(FEATURE_NAMES))
    assert list(m[:, FEATURE_NAMES.index("length_tokens")]) == [6, 2]
    m2 = feature_matrix(["p"], ["one two, three"])
    assert m2[0, FEATURE_NAMES.index("length_tokens")] == 4


def test_column_correlations_match_scipy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    x[:, 2] = np.round(x[:, 2])  # ties
    y = x[:, 0] + rng.normal(size=200)
    for j in range(3):
        assert column_pearson(x, y)[j] == pytest.approx(pearsonr(x[:, j], y).statistic, abs=1e-12)
        assert column_spearman(x, y)[j] == pytest.approx(spearmanr(x[:, j], y).statistic, abs=1e-12)
    const = np.column_stack([np.ones(200), x[:, 0]])
    r = column_pearson(const, y)
    assert np.isnan(r[0]) and np.isfinite(r[1])


def test_within_prompt_correlation_removes_prompt_effects():
    """Across prompts the feature tracks the prompt's reward level; within a prompt the reward falls with it."""
    rng = np.random.default_rng(1)
    n_prompts, k = 80, 3
    prompts = np.repeat([f"p{i}" for i in range(n_prompts)], k)
    level = np.repeat(rng.normal(0, 10, n_prompts), k)
    feat = level + rng.normal(0, 1, n_prompts * k)
    reward = level - (feat - level) + rng.normal(0, 0.1, n_prompts * k)
    res = correlations(feat[:, None], reward, list(prompts), names=["length_tokens"], n_resamples=200, seed=0)
    e = res["length_tokens"]
    assert e["pearson"]["estimate"] > 0.9
    assert e["within_pearson"]["estimate"] < -0.9
    assert e["within_spearman"]["estimate"] < -0.9
    assert e["n_prompts_within"] == n_prompts
    for key in ("pearson", "spearman", "within_pearson", "within_spearman"):
        assert e[key]["lo"] <= e[key]["estimate"] <= e[key]["hi"]
    assert e["flagged"] and e["max_stat"] in ("pearson", "within_pearson")
    text = feature_flag_text("length_tokens", e, 0.3)
    assert text.startswith("length_tokens: ") and "|r| > 0.3" in text


def test_threshold_is_configurable_and_constant_features_are_not_flagged():
    rng = np.random.default_rng(2)
    x = rng.normal(size=300)
    y = 0.4 * x + rng.normal(size=300)  # r about 0.37
    feats = np.column_stack([x, np.zeros(300)])
    lo = correlations(feats, y, None, names=["a", "b"], threshold=0.2, n_resamples=100)
    hi = correlations(feats, y, None, names=["a", "b"], threshold=0.6, n_resamples=100)
    assert lo["a"]["flagged"] and not hi["a"]["flagged"]
    assert lo["b"]["constant"] and not lo["b"]["flagged"] and lo["b"]["pearson"]["estimate"] is None
    assert "within_pearson" not in lo["a"]  # one response per prompt: nothing to compare within a prompt


def test_no_flag_when_the_ci_includes_zero():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    y = np.array([2.0, 1.0, 4.0, 3.0, 1.0, 5.0])  # r about 0.44 on six points: a CI far too wide to trust
    e = correlations(x[:, None], y, None, names=["a"], n_resamples=300)["a"]
    assert abs(e["pearson"]["estimate"]) > 0.3 and e["pearson"]["lo"] < 0 < e["pearson"]["hi"]
    assert not e["flagged"]
