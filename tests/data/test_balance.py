"""Length-balanced pairs (`--balance length`): 50% longer-wins in every length-difference bin on strongly
length-biased simulator data, balanced data left untouched, determinism by seed, a hand-computed example, the
config field and its flags on `train` and `data stats`, and the trainer balancing the training pairs only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from rewardlab.cli import app
from rewardlab.config import ConfigError
from rewardlab.data import write_records
from rewardlab.data.balance import BalanceSpec, balance_pairs, balance_report
from rewardlab.data.schema import PreferencePair
from rewardlab.data.stats import data_stats
from rewardlab.errors import RewardlabError
from rewardlab.simulate import SimConfig, simulate_pairs
from rewardlab.simulate.datasets import parse_rows
from rewardlab.train.config import TrainConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def biased_rows() -> list[dict]:
    return simulate_pairs(3000, seed=8, config=SimConfig(length_bias=2.0))


@pytest.fixture(scope="module")
def biased(biased_rows) -> list[PreferencePair]:
    return parse_rows(biased_rows)  # type: ignore[return-value]


def _binned_rates(pairs, weights, edges) -> list[float]:
    """Longer-wins per bin recomputed from the returned pairs (not from the report), weighted when weights are given;
    a difference on the last edge belongs to the last bin."""
    lc = np.array([len(p.chosen) for p in pairs])
    lr = np.array([len(p.rejected) for p in pairs])
    w = np.ones(len(pairs)) if weights is None else np.asarray(weights)
    d = np.abs(lc - lr)
    rates = []
    for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        last = i == len(edges) - 2
        m = (lc != lr) & (d >= lo) & ((d <= hi) if last else (d < hi))
        rates.append(float((w[m] * (lc[m] > lr[m])).sum() / w[m].sum()))
    return rates


def _mirrored(pairs: list[PreferencePair]) -> list[PreferencePair]:
    """Each pair and its mirror (chosen and rejected swapped): exactly 50% longer-wins at every length difference."""
    out = []
    for p in pairs:
        out += [p, PreferencePair(p.prompt, p.rejected, p.chosen, id=f"{p.id}-mirror")]
    return out


@pytest.mark.parametrize("method", ["resample", "weights"])
def test_balanced_longer_wins_is_half_in_every_bin_on_length_biased_data(biased, method):
    before = data_stats(biased)["longer_wins"]["chars"]["rate"]
    res = balance_pairs(biased, method=method, seed=3)
    rep = res.report
    edges = [b.lo for b in rep.bins] + [rep.bins[-1].hi]
    assert len(rep.bins) == 5 and before > 0.57  # the simulator's length bias shows in the data
    assert max(_binned_rates(biased, None, edges)) > 0.65  # strongest in the widest differences
    after = _binned_rates(res.pairs, res.weights, edges)
    assert all(abs(r - 0.5) <= 0.02 for r in after), after
    assert [b.longer_wins_after for b in rep.bins] == pytest.approx(after)
    assert [b.longer_wins_before for b in rep.bins] == pytest.approx(_binned_rates(biased, None, edges))
    kept_ids = [p.id for p in res.pairs]
    assert kept_ids == [p.id for p in biased if p.id in set(kept_ids)]  # original order
    if method == "resample":
        assert res.weights is None and len(res.pairs) == rep.n_after < len(biased)
        assert sum(b.dropped for b in rep.bins) == rep.dropped == len(biased) - len(res.pairs)
        assert data_stats(res.pairs)["longer_wins"]["chars"]["rate"] == pytest.approx(0.5, abs=0.01)
    else:
        assert res.pairs == biased and len(res.weights) == len(biased) and rep.dropped == 0
        assert res.weights.sum() == pytest.approx(len(biased))  # each bin keeps its total weight
    text = "\n".join(rep.lines())
    assert f"{len(biased)} -> {rep.n_after}" in text and text.count("|len diff|") == 5
    assert all(f"dropped {b.dropped}" in text for b in rep.bins)


def test_balanced_data_is_left_untouched(biased):
    balanced = _mirrored(biased[:400])
    for method in ("resample", "weights"):
        res = balance_pairs(balanced, method=method, seed=1)
        assert res.pairs == balanced and all(a is b for a, b in zip(res.pairs, balanced, strict=True))
        assert res.report.untouched and res.report.dropped == 0
        assert all(b.longer_wins_before == 0.5 == b.longer_wins_after for b in res.report.bins)
        assert res.weights is None if method == "resample" else np.all(res.weights == 1.0)
        assert "untouched" in res.report.lines()[0]
    # within the tolerance counts as balanced too: one extra chosen-longer pair in a bin of 200
    near = _mirrored(biased[:100]) + [PreferencePair("q", "x" * 60, "x" * 10)]
    res = balance_pairs(near, bins=[0, 1000], seed=0)
    assert res.report.bins[0].longer_wins_before == pytest.approx(101 / 201) and res.pairs == near


def test_resampling_is_deterministic_by_seed(biased):
    a = balance_pairs(biased, seed=5)
    b = balance_pairs(biased, seed=5)
    c = balance_pairs(biased, seed=6)
    assert [p.id for p in a.pairs] == [p.id for p in b.pairs]
    assert [p.id for p in a.pairs] != [p.id for p in c.pairs]
    assert a.report.to_dict() == b.report.to_dict()
    assert [x.n_longer_after for x in a.report.bins] == [x.n_longer_after for x in c.report.bins]  # same counts


def test_hand_computed_example():
    P = PreferencePair

    def pair(i, c, r, **kw):
        return P(f"prompt {i}", "c" * c, "r" * r, id=str(i), **kw)

    pairs = [
        pair(0, 5, 2), pair(1, 9, 1), pair(2, 4, 1),  # diff 3, 8, 3: chosen longer
        pair(3, 2, 6),                                  # diff 4: chosen shorter          -> bin [1, 10): 3 vs 1
        pair(4, 30, 10), pair(5, 10, 40),               # diff 20, 30: one each way       -> bin [10, 100): 1 vs 1
        pair(6, 300, 100), pair(7, 400, 100),           # diff 200, 300: chosen longer only -> bin [100, 1000]
        pair(8, 7, 7),                                  # equal length: neither direction, kept
        pair(9, 1, 50, tie=True),                       # a tie: no preference, kept
    ]
    edges = [1, 10, 100, 1000]
    res = balance_pairs(pairs, bins=edges, seed=0)
    b1, b2, b3 = res.report.bins
    assert (b1.n_longer, b1.n_shorter, b1.longer_wins_before) == (3, 1, 0.75)
    assert (b1.n_longer_after, b1.n_shorter_after, b1.longer_wins_after, b1.dropped) == (1, 1, 0.5, 2)
    assert (b2.n_longer, b2.n_shorter, b2.dropped, b2.longer_wins_after) == (1, 1, 0, 0.5)
    assert (b3.n_longer, b3.n_shorter, b3.dropped) == (2, 0, 2) and "cannot be balanced" in b3.note
    ids = [p.id for p in res.pairs]
    assert len(ids) == 6 and {"3", "4", "5", "8", "9"} <= set(ids) and len({"0", "1", "2"} & set(ids)) == 1
    assert (res.report.n_equal_length, res.report.n_ties, res.report.dropped) == (1, 1, 4)
    # overall as `data stats` counts it (ties out, equal length 1/2): before (3+1+2 + 0.5) / 9, after (1+1+0.5) / 5
    assert res.report.overall(after=False) == pytest.approx(6.5 / 9) == data_stats(pairs)["longer_wins"]["chars"]["rate"]
    assert res.report.overall(after=True) == pytest.approx(2.5 / 5)

    w = balance_pairs(pairs, method="weights", bins=edges)
    by_id = dict(zip([p.id for p in w.pairs], w.weights, strict=True))
    # bin [1, 10): n = 4, chosen longer 4 / (2 * 3) = 2/3 each, chosen shorter 4 / (2 * 1) = 2
    assert [by_id[k] for k in "0123"] == pytest.approx([2 / 3, 2 / 3, 2 / 3, 2.0])
    assert [by_id[k] for k in "4589"] == [1.0, 1.0, 1.0, 1.0]
    assert "6" not in by_id and "7" not in by_id and w.report.bins[2].dropped == 2
    # one pair of each direction at the same difference: a single quantile bin, already 50%
    two = [pair(0, 5, 2), pair(1, 2, 5)]
    assert balance_pairs(two).pairs == two and len(balance_pairs(two).report.bins) == 1
    # quantile bins hold at least 20 pairs with a direction each: 59 pairs make 2 bins, 100 make the 5 asked for
    many = [pair(i, 10 + i if i % 2 else 10, 10 if i % 2 else 10 + i) for i in range(1, 101)]
    assert [len(balance_pairs(many[:n], bins=5).report.bins) for n in (10, 59, 100)] == [1, 2, 5]


def test_bad_arguments_name_the_argument():
    pairs = [PreferencePair("q", "aa", "a")]
    for kwargs, name in ((dict(method="tokens"), "method"), (dict(tolerance=0.5), "tolerance"),
                         (dict(bins=0), "bins"), (dict(bins=[5, 1]), "bins")):
        with pytest.raises(RewardlabError, match=name):
            balance_pairs(pairs, **kwargs)


def test_config_field_and_rules(tmp_path):
    assert TrainConfig().balance.by == "none" and not TrainConfig().balance.enabled
    cfg = TrainConfig.from_options(balance="length", balance_method="weights", balance_bins=3)
    assert (cfg.balance.by, cfg.balance.method, cfg.balance.bins) == ("length", "weights", 3)
    cfg.to_yaml(tmp_path / "c.yaml")
    assert TrainConfig.from_yaml(tmp_path / "c.yaml") == cfg
    with pytest.raises(ConfigError, match=r"balance\.method applies when balance\.by is 'length'"):
        TrainConfig.from_options(balance_method="weights")
    with pytest.raises(ConfigError, match=r"balance\.by must be one of \['none', 'length'\]"):
        TrainConfig.from_options(balance="tokens")
    with pytest.raises(ConfigError, match=r"balance\.bins must be >= 1"):
        TrainConfig.from_options(balance="length", balance_bins=0)
    # a training option only: the shared reading spec (every command's --data options) has no balance field
    from rewardlab.data.spec import DataSpec

    assert not any("balance" in leaf.path for leaf in DataSpec.leaves())
    assert BalanceSpec(by="length").bins == 5


def test_train_and_data_stats_take_the_flags(tmp_path, biased_rows):
    res = runner.invoke(app, ["train", "--print-config", "--balance", "length", "--balance-method", "weights"])
    assert res.exit_code == 0, res.output
    assert "balance:\n  by: length\n  method: weights\n  bins: 5\n" in res.stdout
    res = runner.invoke(app, ["train", "--print-config", "--balance-bins", "3"])
    assert res.exit_code != 0 and "--balance-bins applies when --balance is 'length'" in str(res.exception)

    data = tmp_path / "lb.jsonl"
    write_records(biased_rows[:1000], str(data))
    out = tmp_path / "stats.json"
    res = runner.invoke(app, ["data", "stats", str(data), "--tokenizer", "none", "--balance", "length",
                              "-o", str(out)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    head = next(i for i, x in enumerate(lines) if x.startswith("length balance (resample, chars, seed 0): 1000 -> "))
    assert sum(x.lstrip().startswith("|len diff|") for x in lines[head:]) == 5
    rates = [float(x.split(" -> ")[1].split(",")[0]) for x in lines[head + 1 : head + 6]]
    assert all(abs(r - 0.5) <= 0.01 for r in rates), rates  # balanced, or within the tolerance and untouched
    saved = json.loads(out.read_text())
    expected = balance_pairs(parse_rows(biased_rows[:1000]), seed=0).report.to_dict()
    assert saved["balance"] == expected and saved["longer_wins"]["chars"]["rate"] == expected["longer_wins_before"]
    plain = runner.invoke(app, ["data", "stats", str(data), "--tokenizer", "none"])
    assert plain.exit_code == 0 and "length balance" not in plain.stdout
    ks = tmp_path / "k.jsonl"
    ks.write_text(json.dumps({"prompt": "p", "responses": ["a", "bb"], "scores": [1, 2]}) + "\n")
    res = runner.invoke(app, ["data", "stats", str(ks), "--tokenizer", "none", "--balance", "length"])
    assert res.exit_code != 0 and "balances preference pairs" in str(res.exception)
    with pytest.raises(RewardlabError, match="nothing to balance"):
        balance_report(parse_rows(biased_rows[:10]), BalanceSpec())


def test_trainer_balances_training_pairs_only_and_logs_each_bin(tmp_path, biased_rows, rewardlab_log):
    from rewardlab.train.trainer import setup_data

    data = tmp_path / "lb.jsonl"
    write_records(biased_rows[:1200], str(data))
    common = dict(data=str(data), eval_split=0.2, seed=4)
    plain = setup_data(TrainConfig.from_options(**common))
    assert plain.balance is None and plain.train_weights is None
    assert not any(m.startswith("length balance") for m in rewardlab_log)
    bal = setup_data(TrainConfig.from_options(balance="length", **common))
    assert [p.id for p in bal.eval] == [p.id for p in plain.eval]  # held-out pairs untouched
    expected = balance_pairs(plain.train, seed=4)  # the run's seed
    assert [p.id for p in bal.train] == [p.id for p in expected.pairs] and len(bal.train) < len(plain.train)
    assert bal.balance == expected.report.to_dict() and bal.train_weights is None
    notes = [m for m in rewardlab_log if "length balance" in m or "|len diff|" in m]
    assert notes == expected.report.lines()[:-1]  # the totals and one line per bin, each with its dropped count
    assert any(m.startswith("  kept as they are:") for m in rewardlab_log)
    w = setup_data(TrainConfig.from_options(balance="length", balance_method="weights", **common))
    assert [p.id for p in w.train] == [p.id for p in plain.train]
    assert w.train_weights is not None and not np.all(w.train_weights == 1.0)


def test_training_weights_weight_the_loss_and_never_the_eval_batches():
    """The per-pair weights (--balance-method weights) reach the loss as a weighted mean in training; evaluation
    batches, whose `idx` numbers held-out pairs, are never weighted (they used to index the training weights)."""
    from torch import nn

    from rewardlab.models import HeadSpec
    from rewardlab.models.reward_model import RewardModel
    from rewardlab.train.losses import get_loss
    from rewardlab.train.trainer import RewardTrainingModule

    class Fixed(nn.Module):
        """A 'model' whose reward is the first input id; stands in for the backbone and head."""

        head_spec = HeadSpec()
        member_outputs = RewardModel.member_outputs

        def forward(self, input_ids, attention_mask=None, token_type_ids=None):
            r = input_ids[:, 0].float()
            return {"mean": r, "members": r[:, None]}

    weights = torch.tensor([[0.5, 2.0, 1.0]])
    module = RewardTrainingModule(Fixed(), get_loss("bt"), weights)
    ids = torch.tensor([[3], [1], [2], [2], [2], [0]])  # chosen 3, 1, 2 vs rejected 2, 2, 0
    nll = torch.nn.functional.softplus(-torch.tensor([1.0, -1.0, 2.0]))
    module.train()
    loss = module(ids, idx=torch.tensor([0, 1, 2]))["loss"]
    assert float(loss) == pytest.approx(float((weights[0] * nll).sum() / weights.sum()))
    module.eval()
    loss = module(ids, idx=torch.tensor([5, 6, 7]))["loss"]  # held-out indices beyond the training weights
    assert float(loss) == pytest.approx(float(nll.mean()))
