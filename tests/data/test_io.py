"""rewardlab.data.io's whole-file readers: undecodable bytes are an error naming the file and line; a CSV's
byte-order mark is not part of its first column's name."""

from __future__ import annotations

import pytest

from rewardlab.data.io import iter_csv, iter_json
from rewardlab.errors import RewardlabError


@pytest.mark.parametrize(("name", "body", "reader", "line"), [
    ("d.json", b'[\n{"prompt": "x", "chosen": "a", "rejected": "b"},\n{"prompt": "\xff"}\n]\n', iter_json, 3),
    ("d.csv", b"prompt,chosen,rejected\nx,a,b\ny,a,b\nz,\xfe,b\n", iter_csv, 4),
])
def test_undecodable_bytes_name_their_line(tmp_path, name, body, reader, line):
    path = tmp_path / name
    path.write_bytes(body)
    with pytest.raises(RewardlabError) as err:
        list(reader(str(path)))
    assert str(err.value) == f"{path}:{line}: undecodable bytes (not UTF-8)"


def test_csv_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes("prompt,chosen,rejected\nx,a,b\n".encode("utf-8-sig"))
    rows = list(iter_csv(str(path)))
    assert [row for _, row in rows] == [{"prompt": "x", "chosen": "a", "rejected": "b"}]


def test_broken_csv_names_the_line_its_row_starts_on(tmp_path):
    """A cell over csv's field limit is a csv.Error: raised naming the file and the line the row starts on."""
    path = tmp_path / "big.csv"
    path.write_text("prompt,chosen,rejected\nx,a,b\n\ny,a,b\n" + "z," + "w" * 200_000 + ",b\n", encoding="utf-8")
    rows = iter_csv(str(path))
    assert [line for line, _ in (next(rows), next(rows))] == [2, 4]
    with pytest.raises(RewardlabError, match=rf"^{path}:5: broken CSV: field larger than field limit"):
        next(rows)
    header = tmp_path / "header.csv"
    header.write_text("w" * 200_000 + ",b\nx,y\n", encoding="utf-8")
    with pytest.raises(RewardlabError, match=rf"^{header}:1: broken CSV header: field larger"):
        list(iter_csv(str(header)))
