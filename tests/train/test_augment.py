"""Counterfactual augmentation (`rewardlab.train.augment`): labels by hand, the audit's own transforms, held-out
pairs untouched, the checkpoint's trained-on probes and the audit's marking."""

from __future__ import annotations

import json

import pytest

import rewardlab.audit.perturb as perturb
from conftest import run_cli
from rewardlab import CallableScorer
from rewardlab.config import ConfigError
from rewardlab.data.schema import PreferencePair as P
from rewardlab.errors import RewardlabError
from rewardlab.probes.adversarial import off_prompt_answer
from rewardlab.probes.edits import Probe, append_filler, insert_hedges
from rewardlab.train.augment import AugmentSpec, augment_pairs, tie_labelling
from rewardlab.train.config import TrainConfig

PAIRS = [
    P("Capital of France?", "Paris is the capital.", "Lyon is the capital.", id="a"),
    P("Is 7 prime?", "No, it is even.", "Yes, 7 is prime.", label=0.2, id="b"),  # the rejected side is preferred
    P("Best colour?", "Blue.", "Red.", tie=True, id="c"),  # tied: no preferred side, never augmented
    P("Capital of France?", "It is Paris.", "Marseille.", margin=2.0, id="d"),  # the same prompt as "a"
]


def test_probe_and_tie_pairs_match_a_hand_computation() -> None:
    out, rep = augment_pairs(PAIRS, ["probes", "ties"], probes=["filler", "hedges"], seed=1)
    assert out[:4] == PAIRS  # the originals first, unchanged
    added = [(p.id, p.chosen, p.rejected, p.label, p.tie, p.margin) for p in out[4:]]
    # eligible: a, b, d (c is tied); probes dealt from (seed 1 + k) % 2: hedges, filler, hedges
    assert added == [
        ("a+probes:hedges", "Paris is the capital.", insert_hedges("Lyon is the capital."), None, False, None),
        ("b+probes:filler", append_filler("No, it is even."), "Yes, 7 is prime.", 0.2, False, None),  # worse side
        ("d+probes:hedges", "It is Paris.", insert_hedges("Marseille."), None, False, 2.0),
        ("a+ties:hedges", "Paris is the capital.", insert_hedges("Paris is the capital."), 0.5, True, None),
        ("b+ties:filler", "Yes, 7 is prime.", append_filler("Yes, 7 is prime."), 0.5, True, None),  # the better one
        ("d+ties:hedges", "It is Paris.", insert_hedges("It is Paris."), 0.5, True, None),
    ]
    assert [p.extra for p in out[4:6]] == [{"augment": "probes", "probe": "hedges"},
                                           {"augment": "probes", "probe": "filler"}]
    assert rep.counts == {"probes": 3, "ties": 3} and rep.n_before == 4 and rep.n_after == 10
    assert rep.per_probe == {"probes": {"hedges": 2, "filler": 1}, "ties": {"hedges": 2, "filler": 1}}
    assert rep.trained_on == {"probes": ["filler", "hedges"], "adversarial": []}
    # seed 0 starts the deal at filler instead
    assert [p.extra["probe"] for p in augment_pairs(PAIRS, ["probes"], ["filler", "hedges"], seed=0)[0][4:]] == \
        ["filler", "hedges", "filler"]


def test_off_prompt_pairs_take_another_prompts_answer_and_are_seeded() -> None:
    out, rep = augment_pairs(PAIRS, ["off-prompt"], seed=3)
    added = out[4:]
    assert rep.counts == {"off-prompt": 3} and rep.trained_on == {"probes": [], "adversarial": ["off_prompt"]}
    best = {"a": "Paris is the capital.", "b": "Yes, 7 is prime.", "d": "It is Paris."}
    prompt = {p.id: p.prompt for p in PAIRS}
    for p in added:
        own, other = p.id.split("+")[0], p.extra["probe"]
        assert p.chosen == best[own] and p.label is None and not p.tie
        assert prompt[other] != prompt[own]  # never the same prompt ("a" and "d" share one)
        assert p.rejected == off_prompt_answer(best[other])  # the audit's own off-prompt response
    assert augment_pairs(PAIRS, ["off-prompt"], seed=3)[0] == out  # the same seed, the same pairs
    assert {p.extra["probe"] for p in added if p.id.startswith("a")} == {"b"}  # a's only other prompt


def test_augmentation_uses_the_audit_transform_objects(monkeypatch) -> None:
    """The audit's probe table is what augmentation applies: swapping a probe there changes the training pairs."""
    monkeypatch.setitem(perturb.PROBES, "filler", Probe("filler", "test", lambda t: t + " [AUDITED EDIT]"))
    out, _ = augment_pairs(PAIRS[:1], ["probes"], probes=["filler"])
    assert out[1].rejected == "Lyon is the capital. [AUDITED EDIT]"


def test_rate_selects_a_seeded_share_and_bad_arguments_are_named() -> None:
    many = [P(f"q{i}", f"good answer {i}.", f"bad answer {i}.", id=str(i)) for i in range(200)]
    a, ra = augment_pairs(many, ["probes"], ["filler"], seed=5, rate=0.25)
    b, _ = augment_pairs(many, ["probes"], ["filler"], seed=5, rate=0.25)
    c, _ = augment_pairs(many, ["probes"], ["filler"], seed=6, rate=0.25)
    assert a == b and a != c and 30 <= ra.counts["probes"] <= 70
    for kwargs, match in ((dict(kinds=["typos"]), r"unknown kind\(s\) \['typos'\]"),
                          (dict(kinds=["probes", "probes"]), "names a kind twice"),
                          (dict(kinds=["probes"], probes=["glitter"]), r"unknown probe\(s\) \['glitter'\]"),
                          (dict(kinds=["ties"], probes=[]), "need at least one probe"),
                          (dict(kinds=["probes"], rate=0.0), "rate must be in")):
        with pytest.raises(RewardlabError, match=match):
            augment_pairs(PAIRS, **kwargs)
    with pytest.raises(ConfigError, match="rate applies with kinds"):
        AugmentSpec(rate=0.5)
    assert tie_labelling("soft") == "soft label 0.5" and tie_labelling("rao_kupper") == "tie (log P(tie))"
    with pytest.raises(ConfigError, match="augment.kinds ties needs a loss"):
        TrainConfig.from_options(augment="probes,ties", loss="bt")
    bad = run_cli("train", "--augment", "ties", "--loss", "margin", "-o", "unused", check=False)
    assert bad.returncode == 2 and "--augment ties needs a loss" in bad.stderr and "--loss 'margin'" in bad.stderr
    bad = run_cli("train", "--augment", "probes,glitter", "-o", "unused", check=False)
    assert bad.returncode == 2 and "--augment: unknown kind(s) ['glitter']" in bad.stderr


def test_training_augments_train_pairs_only_and_the_audit_marks_trained_probes(tmp_path, tiny_decoder,
                                                                               rewardlab_log, monkeypatch) -> None:
    import rewardlab.audit.plots as plots
    from rewardlab.audit.cli import summary
    from rewardlab.audit.run import run_audit
    from rewardlab.report.audit import audit_html
    from rewardlab.scoring import get_scorer

    rows = [{"prompt": f"Question {i}?", "chosen": f"A good answer {i}.", "rejected": f"Bad {i}."} for i in range(12)]
    data, held = tmp_path / "train.jsonl", tmp_path / "held.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows[:8]))
    held.write_text("".join(json.dumps(r) + "\n" for r in rows[8:]))
    out = tmp_path / "rm"
    run_cli("train", "--model", tiny_decoder, "--data", data, "--eval-data", held, "-o", out, "--max-steps", 2,
            "--batch-size", 4, "--max-length", 48, "--augment", "probes,off-prompt,ties", "--augment-probes",
            "filler,markdown", "--loss", "soft", "--device", "cpu", "--no-progress")
    assert any(m.startswith("augmentation (seed 0, rate 1): 8 -> 32 training pairs") for m in rewardlab_log)
    meta = json.loads((out / "rewardlab.json").read_text())
    assert meta["data"]["n_train"] == 32 and meta["data"]["n_eval"] == 4  # held-out pairs untouched
    aug = meta["augment"]
    assert aug["added"] == {"probes": 8, "off-prompt": 8, "ties": 8} and aug["tie_labelling"] == "soft label 0.5"
    assert aug["trained_on"] == {"probes": ["filler", "markdown"], "adversarial": ["off_prompt"]}

    for name in ("plot_features", "plot_probes", "plot_reward_length", "plot_length_control"):  # not under test
        monkeypatch.setattr(plots, name, lambda *args, _n=name, **kw: f"{_n}.png")
    pairs = [P(r["prompt"], r["chosen"], r["rejected"]) for r in rows]
    audit = run_audit(get_scorer(str(out), device="cpu"), pairs, [], tmp_path / "audit", n_resamples=20,
                      n_probe=4, progress=False, probes=["filler", "hedges"], adversarial=["off_prompt"])
    assert audit["trained_on"]["probes"] == ["filler", "markdown"]
    assert audit["trained_on"]["source"] == "checkpoint metadata (augment)"
    assert audit["probes"]["probes"]["filler"]["trained_on"] is True
    assert audit["probes"]["probes"]["hedges"]["trained_on"] is False
    # the trained-on probes' held-out variants run too (other words, same kind of edit): independent evidence
    assert list(audit["probes"]["probes"]) == ["filler", "hedges", "filler_alt", "markdown_alt"]
    assert [d["heldout_variant"] for d in audit["probes"]["probes"].values()] == [False, False, True, True]
    assert audit["probes"]["probes"]["filler_alt"]["trained_on"] is False
    assert audit["adversarial"]["probes"]["off_prompt"]["trained_on"] is True
    assert json.loads((tmp_path / "audit" / "audit.json").read_text())["trained_on"]["adversarial"] == ["off_prompt"]
    text = summary(audit)
    assert "trained on (not independent evidence): probes filler, markdown; adversarial off_prompt" in text
    assert "held-out variants (independent evidence): filler_alt " in text and "markdown_alt " in text
    html = audit_html(audit, tmp_path / "audit", lambda folder, name: "")
    assert html.count("(trained on: not independent evidence)") == 2  # the filler row and the off_prompt row
    assert html.count("(held-out variant of a trained-on probe: independent evidence)") == 2
    assert "Trained on (not independent evidence)" in html
    # a scorer that the filler probe fools: its flag carries the mark (trained_on given, no checkpoint needed)
    longer = CallableScorer(lambda prompt, response: float(len(response)), name="longer")
    flagged = run_audit(longer, pairs, [], tmp_path / "a2", n_resamples=20, n_probe=6, progress=False,
                        probes=["filler", "hedges"], adversarial=[], trained_on={"probes": ["filler"]})
    assert flagged["trained_on"]["source"] == "given"
    assert flagged["flagged"]["probes"] == ["filler", "hedges", "filler_alt"]
    marked = [f for f in flagged["flags"] if f.startswith("probe ")]
    assert [f.endswith("[trained on (not independent evidence)]") for f in marked] == [True, False, False]
    assert marked[2].startswith("probe filler_alt") and marked[2].endswith("[held-out variant of a trained-on probe]")


def test_trainer_step_augments_after_balancing_and_extends_balance_weights() -> None:
    """`augment_train_data` (the trainer's step): balance weights stay on the original pairs, added pairs weigh 1,
    the held-out pairs are the same objects as before."""
    import numpy as np

    from rewardlab.train.trainer import TrainData, augment_train_data

    held = [P("Held-out question?", "Held answer.", "Wrong.")]
    data = TrainData(list(PAIRS), held, "train", "eval", train_weights=np.array([0.5, 2.0, 1.0, 1.5]))
    cfg = TrainConfig.from_options(augment="probes,off-prompt", augment_probes="filler", seed=2)
    out = augment_train_data(cfg, data)
    assert len(out.train) == 4 + 3 + 3 and out.eval is held and out.eval == [held[0]]
    assert out.train_weights.tolist() == [0.5, 2.0, 1.0, 1.5] + [1.0] * 6
    assert out.augment["seed"] == 2 and out.augment["added"] == {"probes": 3, "off-prompt": 3}


@pytest.mark.extended
def test_augmentation_clears_the_probes_and_their_heldout_variants_in_the_human_like_setting(tmp_path) -> None:
    """Issue 16's check: on the demo's human-like annotators (length, agreement and format biases), a MiniLM
    reward model trained with `--augment probes,off-prompt` is not flagged on the filler, markdown and flattery
    probes, nor on their held-out variants (the same kind of edit in words training never used), where plain BT on
    the same pairs is flagged on filler and its variant.

    The real path, with the backbone frozen to keep it to minutes: `rewardlab train --freeze-backbone` on 3,000
    simulator pairs (seed 8), then the audit on its default data with every probe and variant. Measured
    (2026-12-01, fp32, 2 cores): see docs/PERFORMANCE.md, "Augmentation against held-out probe variants"."""
    from rewardlab.audit import PROBES, VARIANTS, builtin_cases, default_pairs
    from rewardlab.audit.run import run_audit
    from rewardlab.data import write_records
    from rewardlab.scoring import get_scorer
    from rewardlab.simulate import human_like, simulate_pairs

    data = tmp_path / "human_like.jsonl"
    write_records(simulate_pairs(3000, seed=8, config=human_like()), str(data))
    flagged = {}
    for name, extra in (("plain", ()), ("augment", ("--augment", "probes,off-prompt"))):
        out = tmp_path / name
        run_cli("train", "--data", data, "-o", out, "--freeze-backbone", "--eval-split", 0, "--device", "cpu",
                "--no-progress", *extra)
        res = run_audit(get_scorer(str(out), device="cpu"), default_pairs(), builtin_cases(), tmp_path / f"{name}-a",
                        n_resamples=200, progress=False, probes=[*PROBES, *VARIANTS])
        flagged[name] = set(res["flagged"]["probes"])
    assert {"filler", "filler_alt"} <= flagged["plain"], flagged
    assert not {"filler", "markdown", "flattery", "filler_alt", "markdown_alt", "flattery_alt"} & flagged["augment"], \
        flagged
