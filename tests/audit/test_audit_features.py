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
    sentiment,
    vader_compound,
)

#: VADER's README ("Output for the above example code", vaderSentiment 3.3.2): sentence -> published compound score.
#: Left out: the emoji example, whose README line (0.7003) predates the emoji lexicon 3.3.2 ships (0.875).
VADER_PUBLISHED = {
    "VADER is smart, handsome, and funny.": 0.8316,
    "VADER is smart, handsome, and funny!": 0.8439,
    "VADER is very smart, handsome, and funny.": 0.8545,
    "VADER is VERY SMART, handsome, and FUNNY.": 0.9227,
    "VADER is VERY SMART, handsome, and FUNNY!!!": 0.9342,
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!": 0.9469,
    "VADER is not smart, handsome, nor funny.": -0.7424,
    "The book was good.": 0.4404,
    "At least it isn't a horrible book.": 0.431,
    "The book was only kind of good.": 0.3832,
    "The plot was good, but the characters are uncompelling and the dialog is not great.": -0.7042,
    "Today SUX!": -0.5461,
    "Today only kinda sux! But I'll get by, lol": 0.5249,
    "Make sure you :) or :D today!": 0.8633,
    "Not bad at all": 0.431,
}


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


def test_sentiment_reproduces_vaders_published_examples():
    """VADER's own README examples, exactly; one-sentence responses get that score as the audit feature."""
    for text, compound in VADER_PUBLISHED.items():
        assert vader_compound(text) == compound, text
        parts = sentences(text)
        if len(parts) == 1:
            assert sentiment(text) == compound == response_features("Tell me.", text)["sentiment"], text
    # several sentences: the mean of the sentences' scores, so length alone does not push it toward +-1
    two = "Today only kinda sux! But I'll get by, lol"
    assert sentences(two) == ["Today only kinda sux!", "But I'll get by, lol"]
    assert sentiment(two) == pytest.approx((vader_compound("Today only kinda sux!")
                                           + vader_compound("But I'll get by, lol")) / 2, abs=1e-12)
    long_text = " ".join(["The book was good."] * 12)
    assert sentiment(long_text) == pytest.approx(0.4404) and vader_compound(long_text) > 0.95
    assert sentiment("") == 0.0 and sentiment("...") == 0.0


def test_sentiment_is_a_flagged_feature_when_the_reward_follows_it():
    """A reward that likes upbeat wording is flagged on sentiment (|r| > 0.3); one that ignores it is not."""
    rng = np.random.default_rng(3)
    upbeat = ["That is a great plan, I love it!", "Wonderful, this works well.", "Good idea, enjoy it!"]
    flat = ["The file is in the folder.", "It is stored in the table.", "It has four legs."]
    gloomy = ["That is a terrible plan and it will fail.", "Sadly this is broken and awful.", "Bad idea, sorry."]
    responses = [str(rng.choice(pool)) for pool in (upbeat, flat, gloomy) for _ in range(60)]
    prompts = [f"q{i}" for i in range(len(responses))]
    feats = feature_matrix(prompts, responses)
    col = FEATURE_NAMES.index("sentiment")
    assert feats[:60, col].min() > 0.3 and feats[120:, col].max() < -0.3 and not feats[60:120, col].any()
    likes = feats[:, col] + rng.normal(0, 0.3, len(responses))
    res = correlations(feats, likes, prompts, n_resamples=200, seed=0)
    assert res["sentiment"]["flagged"] and res["sentiment"]["group"] == "sentiment"
    assert res["sentiment"]["pearson"]["estimate"] > 0.8
    blind = correlations(feats, rng.normal(size=len(responses)), prompts, n_resamples=200, seed=0)
    assert not blind["sentiment"]["flagged"]
