"""Raw readers and writers: JSONL, JSON, CSV, Parquet, `datasets` folders and hub ids.

Readers yield `(line, row)` where `row` is a dict, or an `Issue` for a line that cannot even be parsed, so that
validation can report every bad record by `source:line` and nothing is dropped silently.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from rewardlab.errors import Issue, RewardlabError

FILE_FORMATS = ("jsonl", "json", "csv", "parquet", "arrow", "hub")
RawRow = tuple[int, dict[str, Any] | Issue]


def detect_file_format(source: str) -> str:
    """Guess the file format from the path (suffix, folder) or treat an unknown non-path as a hub id."""
    p = Path(source)
    name = p.name.lower()
    for suf in (".gz", ".gzip"):
        if name.endswith(suf):
            name = name[: -len(suf)]
    if p.is_dir():
        return "arrow"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if p.exists():
        raise RewardlabError(
            f"{source}: cannot tell the file format from its name; pass --file-format one of {FILE_FORMATS}"
        )
    if "/" in source and not source.startswith((".", "/")) and source.count("/") == 1:
        return "hub"
    raise RewardlabError(f"{source}: no such file or folder")


def _open_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise RewardlabError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise RewardlabError(f"{path}: is a folder, expected a file") from None
    except OSError as e:
        raise RewardlabError(f"{path}: cannot read: {e.strerror}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise RewardlabError(f"{path}: broken gzip stream: {e}") from None
    return raw


def _read_text(path: str, encoding: str) -> str:
    """The whole file decoded (`utf-8`, or `utf-8-sig` to drop a byte-order mark); undecodable bytes raise naming
    the line they stand on."""
    raw = _open_bytes(path)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise RewardlabError(f"{path}:{line}: undecodable bytes (not UTF-8)") from None


def iter_jsonl(path: str) -> Iterator[RawRow]:
    """Yield each JSON line's object with its 1-based line number; undecodable or broken lines as Issues."""
    raw = _open_bytes(path)
    for i, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            yield i, Issue(path, i, "<line>", f"undecodable bytes (not UTF-8) at byte {e.start}")
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            yield i, Issue(path, i, "<line>", f"broken JSON: {e.msg} at column {e.colno}")
            continue
        except RecursionError:
            yield i, Issue(path, i, "<line>", "broken JSON: nested too deeply")
            continue
        if not isinstance(obj, dict):
            yield i, Issue(path, i, "<line>", f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield i, obj


def iter_json(path: str) -> Iterator[RawRow]:
    """Yield the objects of a JSON array (or of the list under a single top-level key) with their line numbers."""
    text = _read_text(path, "utf-8")
    dec = json.JSONDecoder()
    n = len(text)

    def skip_ws(k: int) -> int:
        while k < n and text[k] in " \t\r\n":
            k += 1
        return k

    def line_of(k: int) -> int:
        return text.count("\n", 0, k) + 1

    k = skip_ws(0)
    if k < n and text[k] == "{":
        # {"data": [...]} or {"train": [...]}: find the single list-valued key
        try:
            top = json.loads(text)
        except json.JSONDecodeError as e:
            raise RewardlabError(f"{path}:{e.lineno}: broken JSON: {e.msg}") from None
        lists = [key for key, v in top.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise RewardlabError(f"{path}: expected a JSON array of records, or an object with one list of records")
        start = text.find("[", text.find(json.dumps(lists[0])))
        k = start
    if k >= n or text[k] != "[":
        raise RewardlabError(f"{path}:{line_of(k)}: expected a JSON array of records")
    k = skip_ws(k + 1)
    idx = 0
    if k < n and text[k] == "]":
        return
    while k < n:
        idx += 1
        line = line_of(k)
        try:
            obj, k = dec.raw_decode(text, k)
        except json.JSONDecodeError as e:
            raise RewardlabError(f"{path}:{e.lineno}: broken JSON: {e.msg} (record {idx})") from None
        if isinstance(obj, dict):
            yield line, obj
        else:
            yield line, Issue(path, line, "<record>", f"expected a JSON object, got {type(obj).__name__}")
        k = skip_ws(k)
        if k < n and text[k] == ",":
            k = skip_ws(k + 1)
            continue
        if k < n and text[k] == "]":
            return
        raise RewardlabError(f"{path}:{line_of(k)}: broken JSON: expected ',' or ']' after record {idx}")
    raise RewardlabError(f"{path}: broken JSON: unterminated array")


def _csv_value(v: str | None) -> Any:
    """CSV cells are text: decode JSON-looking cells (numbers, booleans, lists) and keep the rest as text."""
    if v is None:
        return None
    s = v.strip()
    if s == "":
        return v
    if s in ("true", "True", "TRUE"):
        return True
    if s in ("false", "False", "FALSE"):
        return False
    if s[0] in "[{" or s[0].isdigit() or s[0] in "-.":
        try:
            out = json.loads(s)
            if isinstance(out, float) and not math.isfinite(out):
                return v
            return out
        except (json.JSONDecodeError, RecursionError):
            return v
    return v


TEXT_COLUMNS = {
    "prompt", "question", "instruction", "query", "input", "chosen", "rejected", "response_chosen",
    "response_rejected", "chosen_response", "rejected_response", "response_a", "response_b", "model_a", "model_b",
    "winner", "category", "id", "agreeing", "correcting",
}


def _csv_cell(column: str, v: str) -> Any:
    """Text columns stay text (a JSON message list excepted); other columns decode numbers, booleans, lists."""
    if column in TEXT_COLUMNS:
        if v.lstrip().startswith("[{"):
            try:
                out = json.loads(v)
                if isinstance(out, list):
                    return out
            except (json.JSONDecodeError, RecursionError):
                pass
        return v
    return _csv_value(v)


def _next_row(reader: Any, where: str) -> list[str] | None:
    """The reader's next CSV row, None at the end; a broken row raises `where: the csv error`."""
    try:
        return next(reader)
    except StopIteration:
        return None
    except csv.Error as e:
        raise RewardlabError(f"{where}: {e}") from None


def iter_csv(path: str) -> Iterator[RawRow]:
    """Yield CSV rows (header = column names) with the line each row starts on; TSV by suffix."""
    text = _read_text(path, "utf-8-sig")
    delim = "\t" if ".tsv" in path.lower() else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim)
    header = _next_row(reader, f"{path}:1: broken CSV header")
    if header is None:
        return
    start = reader.line_num + 1
    while (row := _next_row(reader, f"{path}:{start}: broken CSV")) is not None:
        line, start = start, reader.line_num + 1
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            yield line, Issue(path, line, "<row>", f"has {len(row)} cells, the header has {len(header)}")
            continue
        yield line, {h: _csv_cell(h, c) for h, c in zip(header, row, strict=True)}


def _iter_table_rows(rows: Iterable[dict[str, Any]]) -> Iterator[RawRow]:
    # a columnar table has every column in every row: a null cell is an absent field
    for i, row in enumerate(rows, start=1):
        yield i, {k: v for k, v in row.items() if v is not None}


def iter_parquet(path: str) -> Iterator[RawRow]:
    """Yield Parquet rows with their 1-based row number."""
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except FileNotFoundError:
        raise RewardlabError(f"{path}: no such file") from None
    except Exception as e:  # pyarrow raises several types for a non-parquet file
        raise RewardlabError(f"{path}: not a readable Parquet file: {e}") from None

    def rows() -> Iterator[dict[str, Any]]:
        for batch in pf.iter_batches(batch_size=4096):
            yield from batch.to_pylist()

    yield from _iter_table_rows(rows())


def iter_datasets(source: str, split: str | None, hub: bool) -> Iterator[RawRow]:
    """Yield rows of a `datasets` folder (save_to_disk) or of a hub dataset id (through load_dataset)."""
    import datasets

    try:
        if hub:
            ds = datasets.load_dataset(source, split=split or "train")
        else:
            ds = datasets.load_from_disk(source)
    except Exception as e:  # offline hub, missing split, not a datasets folder
        raise RewardlabError(f"{source}: cannot load with the `datasets` library: {e}") from None
    if isinstance(ds, datasets.DatasetDict):
        names = list(ds.keys())
        pick = split or ("train" if "train" in ds else names[0] if len(names) == 1 else None)
        if pick is None or pick not in ds:
            raise RewardlabError(f"{source}: choose a split with --split, one of {names}")
        ds = ds[pick]
    yield from _iter_table_rows(ds)


def iter_rows(source: str, file_format: str | None = None, split: str | None = None) -> Iterator[RawRow]:
    """Dispatch to the reader for `source` (a path or hub id), detecting the format unless given."""
    fmt = file_format or detect_file_format(source)
    if fmt not in FILE_FORMATS:
        raise RewardlabError(f"unknown file format {fmt!r}; use one of {FILE_FORMATS}")
    if fmt not in ("hub",) and not os.path.exists(source):
        raise RewardlabError(f"{source}: no such file or folder")
    if fmt == "jsonl":
        return iter_jsonl(source)
    if fmt == "json":
        return iter_json(source)
    if fmt == "csv":
        return iter_csv(source)
    if fmt == "parquet":
        return iter_parquet(source)
    return iter_datasets(source, split, hub=fmt == "hub")


def write_records(rows: list[dict[str, Any]], path: str, file_format: str | None = None) -> None:
    """Write flat records to JSONL (optionally .gz), JSON or Parquet, chosen by suffix unless given."""
    name = path.lower()
    fmt = file_format or (
        "parquet" if name.endswith((".parquet", ".pq")) else "json" if name.endswith(".json") else "jsonl"
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    if fmt == "jsonl":
        payload = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
        if name.endswith(".gz"):
            payload = gzip.compress(payload, mtime=0)
        with open(tmp, "wb") as f:
            f.write(payload)
    elif fmt == "json":
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(rows, f, ensure_ascii=False, indent=1)
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns: dict[str, None] = {}
        for r in rows:
            columns.update(dict.fromkeys(r))
        try:
            table = pa.Table.from_pydict({c: [r.get(c) for r in rows] for c in columns})
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise RewardlabError(f"{path}: these records do not fit one Parquet schema ({e}); write JSONL") from None
        pq.write_table(table, tmp)
    else:
        raise RewardlabError(f"cannot write format {fmt!r}; use jsonl, json or parquet")
    os.replace(tmp, path)
