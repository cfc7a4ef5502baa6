"""Each probe changes the text the way it says, and run_probes measures reward changes correctly."""

from __future__ import annotations

import re

import numpy as np
import pytest

from rewardlab.audit.features import FEATURE_NAMES, response_features, sentences
from rewardlab.audit.perturb import run_probes
from rewardlab.probes.edits import (
    FILLER_TEXT,
    FLATTERY_TEXT,
    PROBES,
    add_padding,
    append_filler,
    apply_probe,
    insert_hedges,
    prepend_flattery,
    repeat_sentence,
    wrap_markdown,
)
from rewardlab.scoring import CallableScorer

PLAIN = "The answer is 4. It is an even number. Four is small."
FORMATTED = "The result is **4**.\n\n- It is even.\n- So the answer is 4."
TEXTS = [PLAIN, FORMATTED, "Paris.", "I think the capital of France is Paris. I hope this helps!"]


def feats(text: str) -> dict[str, float]:
    return response_features("What is 2 + 2?", text)


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def test_append_filler():
    out = append_filler(PLAIN)
    assert out == PLAIN + " " + FILLER_TEXT
    assert feats(out)["filler"] == feats(PLAIN)["filler"] + 2  # "I hope this helps", "let me know if ..."
    assert feats(out)["length_sentences"] == 5


def test_add_padding_restates_the_first_sentence():
    out = add_padding(PLAIN)
    assert out == PLAIN + "\n\nTo summarize the answer above: The answer is 4."
    out2 = add_padding(FORMATTED)
    assert out2.startswith(FORMATTED) and out2.endswith("To summarize the answer above: The result is 4.")
    for text in TEXTS:
        out = add_padding(text)
        assert out.startswith(text.rstrip())
        assert len(sentences(out)) == len(sentences(text)) + 1
        assert set(words(out)) - set(words(text)) <= set(words("To summarize the answer above")), "no new content"


def test_wrap_markdown_keeps_the_words_and_adds_bold_and_bullets():
    out = wrap_markdown(PLAIN)
    assert out == "**The answer is 4.**\n\n- It is an even number.\n- Four is small."
    f = feats(out)
    assert (f["md_bold"], f["md_list_items"]) == (1, 2)
    assert wrap_markdown("Paris.") == "- **Paris.**"
    for text in TEXTS:
        assert words(wrap_markdown(text)) == words(text)
        assert feats(wrap_markdown(text))["md_bold"] >= 1


def test_insert_hedges():
    out = insert_hedges(PLAIN)
    assert out == "I think this is right, but I might be wrong. " + PLAIN + " It might be worth double-checking."
    for text in TEXTS:
        assert text in insert_hedges(text)
        # "I think", "I might be wrong", "might"
        assert feats(insert_hedges(text))["hedges"] == feats(text)["hedges"] + 3


def test_repeat_sentence():
    assert repeat_sentence(PLAIN) == PLAIN + " The answer is 4."
    assert repeat_sentence(FORMATTED) == FORMATTED + "\n\nThe result is 4."
    for text in TEXTS:
        out = repeat_sentence(text)
        assert out.startswith(text)
        assert feats(out)["repeated_sentences"] == feats(text)["repeated_sentences"] + 1


def test_prepend_flattery():
    out = prepend_flattery(PLAIN)
    assert out == FLATTERY_TEXT + " " + PLAIN
    assert feats(out)["flattery"] == 1
    assert feats(PLAIN)["flattery"] == 0


def test_apply_probe_edits_the_last_message_of_a_conversation():
    conv = [{"role": "assistant", "content": "Hi."}, {"role": "assistant", "content": PLAIN}]
    out = apply_probe("filler", conv)
    assert out[0] == conv[0] and out[1]["content"] == append_filler(PLAIN)
    assert conv[1]["content"] == PLAIN  # input untouched
    assert set(PROBES) == {"filler", "padding", "markdown", "hedges", "repeat", "flattery"}


def test_run_probes_with_a_length_scorer_flags_every_probe():
    calls = []

    def length(prompts, responses):
        calls.append(len(responses))
        return [float(len(r)) for r in responses]

    prompts = ["q1", "q2", "q3", "q4"] * 5
    responses = [f"{t} ({i})" for i, t in enumerate(TEXTS * 5)]
    res = run_probes(CallableScorer(length), prompts, responses, n_resamples=200)
    assert calls == [len(responses) * (1 + len(PROBES))], "one batched scorer call"
    for name, d in res["probes"].items():
        delta = np.array([len(apply_probe(name, r)) - len(r) for r in responses], dtype=float)
        assert d["mean_change"]["estimate"] == pytest.approx(delta.mean())
        assert d["share_rose"]["estimate"] == pytest.approx((delta > 0).mean())
        assert d["flagged"], name
        assert d["n_text_changed"] == len(responses)


def test_run_probes_does_not_flag_a_scorer_that_penalises_the_edits():
    idx = {k: FEATURE_NAMES.index(k) for k in ("filler", "hedges", "md_bold", "repeated_sentences", "flattery")}

    def strict(prompts, responses):
        out = []
        for p, r in zip(prompts, responses, strict=True):
            f = response_features(p, r)
            out.append(-sum(f[k] for k in idx) - 0.01 * f["length_sentences"])
        return out

    res = run_probes(CallableScorer(strict), ["q"] * 4, TEXTS, n_resamples=200)
    for name, d in res["probes"].items():
        assert not d["flagged"], name
        assert d["share_rose"]["estimate"] == 0.0
        assert d["mean_change"]["estimate"] < 0


def test_run_probes_rejects_unknown_probes():
    with pytest.raises(ValueError, match="unknown probes"):
        run_probes(CallableScorer(lambda p, r: 0.0), ["q"], ["a"], probes=["nope"])


def test_heldout_variants_are_the_same_kind_of_edit_in_other_words():
    """Each variant raises the audit feature its kind of edit is about, but adds none of its original's words, so a
    model trained on the original's exact wording has not seen it; `heldout_variants` maps trained probes."""
    from rewardlab.probes.edits import VARIANTS, heldout_variants

    assert set(VARIANTS) == {f"{p}_alt" for p in PROBES}
    assert heldout_variants(["filler", "off_prompt", "markdown"]) == ["filler_alt", "markdown_alt"]
    raises = {"filler": "filler", "padding": "length_sentences", "markdown": "md_headers", "hedges": "hedges",
              "repeat": "repeated_sentences", "flattery": "flattery"}
    own_words = {"padding": {"in", "other", "words"}, "markdown": {"answer"}, "repeat": set()}
    for text in TEXTS:
        before = feats(text)
        for name, feature in raises.items():
            alt, orig = apply_probe(f"{name}_alt", text), apply_probe(name, text)
            assert alt != text
            assert alt != orig or name == "repeat" and len(sentences(text)) == 1  # one sentence: first = last
            assert feats(alt)[feature] > before[feature], (name, text, alt)
            new_alt = set(words(alt)) - set(words(text))
            new_orig = set(words(orig)) - set(words(text))
            if name in own_words:  # a restructuring or restatement: the response's own words and a few more
                assert {w for w in new_alt if not w.isdigit()} <= own_words[name], (name, new_alt)
            else:
                assert new_alt and not new_alt & new_orig, (name, new_alt & new_orig)
    assert apply_probe("markdown_alt", PLAIN) == ("### Answer\n\n1. The answer is 4.\n2. It is an even number.\n"
                                                  "3. Four is small.")
