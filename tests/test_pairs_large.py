"""shp_2 and stack_exchange_paired: every row against the raw files, the keyed (file, row) cap, and the
block-wise JSON-lines reader; plus the chunked hash those builds rely on."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import random
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from tulu_data import ops
from tulu_data.build import Builder
from tulu_data.catalog import load_catalog
from tulu_data.errors import SourceFormatError
from tulu_data.recipes import pairs_large_rows
from tulu_data.sources import SAMPLES_DIR
from tulu_data.typed import ReadReport

# --------------------------------------------------------------------------------------------
# helpers: an independent reading of the raw files


def shp_raw() -> list[tuple[str, int, dict]]:
    """(file relative to the source root, row index among non-blank lines, record) for every SHP-2 row."""
    out = []
    root = SAMPLES_DIR / "shp_2"
    for path in sorted(root.rglob("*.json")):
        lines = [line for line in path.read_text().split("\n") if line.strip()]
        out += [(path.relative_to(root).as_posix(), i, json.loads(line)) for i, line in enumerate(lines)]
    return out


def shp_expected(record: dict):
    """The pair the rules make of one SHP-2 record, or None when it is dropped."""
    if record["labels"] not in (0, 1) or isinstance(record["labels"], bool):
        return None
    a_wins = record["labels"] == 1
    chosen = (record["human_ref_A"] if a_wins else record["human_ref_B"]).strip()
    rejected = (record["human_ref_B"] if a_wins else record["human_ref_A"]).strip()
    prompt = record["history"].strip()
    if not (prompt and chosen and rejected) or chosen == rejected:
        return None
    scores = (record["score_A"], record["score_B"]) if a_wins else (record["score_B"], record["score_A"])
    return prompt, chosen, rejected, float(scores[0]), float(scores[1])


def se_raw() -> list[tuple[str, int, dict]]:
    out = []
    root = SAMPLES_DIR / "stack_exchange_paired"
    for path in sorted(root.rglob("*.parquet")):
        rows = pq.read_table(path).to_pylist()
        out += [(path.relative_to(root).as_posix(), i, r) for i, r in enumerate(rows)]
    return out


def se_expected(record: dict):
    texts = [(record[k] or "").strip() for k in ("question", "response_j", "response_k")]
    if not all(texts) or texts[1] == texts[2]:
        return None
    return texts[0], texts[1], texts[2]


def pair_of(row: dict) -> tuple[str, str, str]:
    assert [m["role"] for m in row["chosen"]] == ["user", "assistant"] == [m["role"] for m in row["rejected"]]
    assert row["chosen"][0] == row["rejected"][0]
    return row["chosen"][0]["content"], row["chosen"][1]["content"], row["rejected"][1]["content"]


def catalog_with(**params_by_dataset):
    catalog = load_catalog()
    for name, params in params_by_dataset.items():
        spec = catalog.datasets[name]
        catalog.datasets[name] = dataclasses.replace(spec, params={**spec.params, **params})
    return catalog


def build(name: str, out: Path, sources: str = "samples", catalog=None) -> Path:
    return Builder(catalog=catalog or load_catalog(), sources=sources, out=out).build(name)


def output_rows(folder: Path) -> list[dict]:
    return pl.read_parquet(folder / "data" / "*.parquet").to_dicts()


def manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def parquet_bytes(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))]


def keyed_rank(raw: list[tuple[str, int, dict]], seed: int = 42) -> list[tuple[str, int, dict]]:
    """Raw rows in the documented draw order: splitmix64(row XOR H(seed, 'row-order:' + file))."""
    keys = {}
    for rel in {r[0] for r in raw}:
        idx = np.array([r[1] for r in raw if r[0] == rel], dtype=np.uint64)
        for i, k in zip(idx.tolist(), ops.keyed_uint64(idx, seed, f"row-order:{rel}").tolist(), strict=True):
            keys[(rel, i)] = k
    return sorted(raw, key=lambda r: (keys[(r[0], r[1])], r[0], r[1]))


# --------------------------------------------------------------------------------------------
# every row


def test_shp_2_every_row_matches_the_raw_records(tmp_path):
    folder = build("shp_2", tmp_path)
    raw = shp_raw()
    expected = sorted(e for _, _, rec in raw if (e := shp_expected(rec)) is not None)
    rows = output_rows(folder)
    got = sorted((*pair_of(r), r["score_chosen"], r["score_rejected"]) for r in rows)
    assert got == expected
    assert {r["source"] for r in rows} == {"shp_2"}
    m = manifest(folder)
    assert m["rows_in"]["shp_2"] == len(raw) == 15  # blank lines are not rows
    assert sum(m["dropped"].values()) == len(raw) - len(rows)
    assert m["dropped"]["labels is neither 1 (A preferred) nor 0 (B preferred)"] == 2


def test_stack_exchange_every_row_matches_the_raw_records(tmp_path):
    folder = build("stack_exchange_paired", tmp_path)
    raw = se_raw()
    rows = output_rows(folder)
    assert sorted(pair_of(r) for r in rows) == sorted(e for _, _, rec in raw if (e := se_expected(rec)) is not None)
    by_question = {rec["question"].strip(): rec["qid"] for _, _, rec in raw if rec["question"] and rec["question"].strip()}
    assert all(by_question[r["chosen"][0]["content"]] == r["qid"] for r in rows)
    m = manifest(folder)
    assert m["rows_in"]["stack_exchange_paired"] == len(raw)
    assert sum(m["dropped"].values()) == len(raw) - len(rows)
    assert m["dropped"]["chosen and rejected answers are the same text (no preference)"] == 1


# --------------------------------------------------------------------------------------------
# the keyed (file, row) cap


@pytest.mark.parametrize("cap", [5, 20, 33, 36, 100])
def test_stack_exchange_cap_keeps_the_first_valid_rows_in_keyed_order(tmp_path, cap):
    folder = build("stack_exchange_paired", tmp_path, catalog=catalog_with(stack_exchange_paired={"cap": cap}))
    ordered = keyed_rank(se_raw())
    valid = [e for _, _, rec in ordered if (e := se_expected(rec)) is not None]
    rows = output_rows(folder)
    assert sorted(pair_of(r) for r in rows) == sorted(valid[:cap])
    m = manifest(folder)
    assert sum(m["dropped"].values()) == len(ordered) - len(rows)
    read = m["notes"]["rows read (keyed random order of file and row)"]
    assert read >= min(len(ordered), math.ceil(cap * 1.03))
    # drop reasons count exactly the rows read; rows never read are counted as over the cap
    rule_drops = sum(v for k, v in m["dropped"].items() if not k.startswith("over the"))
    assert rule_drops == sum(1 for _, _, rec in ordered[:read] if se_expected(rec) is None)


def test_shp_2_cap_keeps_the_first_valid_rows_in_keyed_order(tmp_path):
    folder = build("shp_2", tmp_path, catalog=catalog_with(shp_2={"cap": 6}))
    valid = [e for _, _, rec in keyed_rank(shp_raw()) if (e := shp_expected(rec)) is not None]
    assert sorted((*pair_of(r), r["score_chosen"], r["score_rejected"]) for r in output_rows(folder)) == sorted(valid[:6])


def test_capped_builds_are_byte_identical_and_order_is_keyed_on_ids(tmp_path):
    catalog = catalog_with(stack_exchange_paired={"cap": 20}, shp_2={"cap": 6})
    for name in ("stack_exchange_paired", "shp_2"):
        first = build(name, tmp_path / "a", catalog=catalog)
        assert parquet_bytes(first) == parquet_bytes(build(name, tmp_path / "b", catalog=catalog))
        ids = pl.read_parquet(first / "data" / "*.parquet")["id"]
        order = ops.keyed_uniform(ids, 42, "shuffle").to_list()
        assert order == sorted(order), "rows are in the keyed order of their ids"


@pytest.mark.parametrize("workers", [1, 3])
def test_output_does_not_depend_on_the_number_of_reader_threads(tmp_path, monkeypatch, workers):
    catalog = catalog_with(stack_exchange_paired={"cap": 20}, shp_2={"cap": 6})
    for name in ("stack_exchange_paired", "shp_2"):
        default = build(name, tmp_path / "default", catalog=catalog)
        with monkeypatch.context() as patch:
            patch.setattr(pairs_large_rows, "WORKERS", workers)
            other = build(name, tmp_path / f"workers-{workers}", catalog=catalog)
        assert parquet_bytes(other) == parquet_bytes(default)


def test_uncapped_output_does_not_depend_on_row_order(tmp_path):
    """Without the cap biting, shuffling rows inside the files changes nothing (the draw only decides what is read)."""
    mirror = tmp_path / "mirror"
    rng = random.Random(11)
    for path in sorted((SAMPLES_DIR / "shp_2").rglob("*.json")):
        lines = [line for line in path.read_text().split("\n") if line.strip()]
        rng.shuffle(lines)
        target = mirror / "shp_2" / path.relative_to(SAMPLES_DIR / "shp_2")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
    for path in sorted((SAMPLES_DIR / "stack_exchange_paired").rglob("*.parquet")):
        table = pq.read_table(path)
        perm = list(range(table.num_rows))
        rng.shuffle(perm)
        target = mirror / "stack_exchange_paired" / path.relative_to(SAMPLES_DIR / "stack_exchange_paired")
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table.take(perm), target, row_group_size=3)
    for name in ("shp_2", "stack_exchange_paired"):
        assert parquet_bytes(build(name, tmp_path / "s", sources=str(mirror))) == parquet_bytes(build(name, tmp_path / "o"))


# --------------------------------------------------------------------------------------------
# readers


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_jsonl_rows_are_gathered_across_blocks(tmp_path, monkeypatch, block):
    monkeypatch.setattr(pairs_large_rows, "BLOCK_BYTES", block)
    records = [{"i": i, "text": "x" * (i * 13 % 50) + "é"} for i in range(40)]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines.insert(5, "")
    lines.insert(17, "")
    for name, data in (("plain.jsonl", "\n".join(lines)), ("gz.jsonl.gz", "\n".join(lines) + "\n\n")):
        path = tmp_path / name
        raw = data.encode()
        path.write_bytes(gzip.compress(raw, mtime=0) if name.endswith(".gz") else raw)
        starts, ends = pairs_large_rows.jsonl_row_spans(path)
        assert len(starts) == len(records)
        file = pairs_large_rows.FileRows(path, name, "jsonl", len(starts), starts, ends)
        wanted = np.array(sorted(random.Random(block).sample(range(40), 15)), dtype=np.int64)
        got, kept = pairs_large_rows._jsonl_rows(file, wanted, {"i": pl.Int64, "text": pl.String}, ReadReport())
        assert got.to_dicts() == [records[i] for i in wanted] and kept.all()


def test_parquet_rows_read_only_the_drawn_rows(tmp_path):
    df = pl.DataFrame({"a": list(range(100)), "b": [f"t{i}" for i in range(100)]})
    path = tmp_path / "x.parquet"
    df.write_parquet(path, row_group_size=7)
    file = pairs_large_rows.FileRows(path, "x.parquet", "parquet", 100)
    rows = np.array([0, 6, 7, 50, 99], dtype=np.int64)
    assert pairs_large_rows._parquet_table(file, rows, ["b", "missing"]).to_pylist() == [{"b": f"t{i}"} for i in rows]


def test_drawn_rows_with_a_wrong_typed_field_are_counted_and_their_ranks_follow(tmp_path):
    records = [{"i": i, "text": f"t{i}"} for i in range(10)]
    records[4]["text"] = ["a", "list"]
    records[7]["text"] = "NUL\u0000inside"
    path = tmp_path / "x.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    starts, ends = pairs_large_rows.jsonl_row_spans(path)
    file = pairs_large_rows.FileRows(path, "x.jsonl", "jsonl", len(starts), starts, ends)
    rows = np.array([1, 4, 7, 9], dtype=np.int64)
    df, report = pairs_large_rows._drawn_rows_of(file, rows, np.array([10, 11, 12, 13]), {"i": pl.Int64, "text": pl.String})
    assert df.to_dicts() == [{"i": 1, "text": "t1", "__rank": 10}, {"i": 9, "text": "t9", "__rank": 13}]
    assert report.drops == {"text: a list where text is expected": 1, "text: NUL character in text": 1}
    assert report.examples["text: a list where text is expected"][0]["line"] == 5


def test_missing_field_names_the_file(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(SAMPLES_DIR / "shp_2", mirror / "shp_2")
    bad = mirror / "shp_2" / "reddit" / "askscience" / "train.json"
    bad.write_text("".join(json.dumps({k: v for k, v in rec.items() if k != "labels"}) + "\n"
                           for rel, _, rec in shp_raw() if rel.startswith("reddit/askscience")))
    with pytest.raises(SourceFormatError, match=r"askscience/train\.json: missing field\(s\) 'labels'"):
        build("shp_2", tmp_path / "out", sources=str(mirror))
    pl.DataFrame({"question": ["q"], "response_j": ["a"]}).write_parquet(tmp_path / "se.parquet")
    (mirror / "stack_exchange_paired" / "data" / "reward").mkdir(parents=True)
    shutil.copy(tmp_path / "se.parquet", mirror / "stack_exchange_paired" / "data" / "reward" / "train-0.parquet")
    with pytest.raises(SourceFormatError, match=r"train-0\.parquet: missing field\(s\) 'response_k'"):
        build("stack_exchange_paired", tmp_path / "out", sources=str(mirror))


def test_a_line_that_is_not_one_record_is_an_error_naming_the_file(tmp_path):
    mirror = tmp_path / "mirror" / "shp_2" / "reddit" / "x"
    mirror.mkdir(parents=True)
    rec = shp_raw()[0][2]
    (mirror / "train.json").write_text(json.dumps(rec) + "\n" + json.dumps(rec)[:-5] + "\n")
    other = tmp_path / "mirror" / "shp_2" / "stackexchange" / "y"  # every declared family of files is present
    other.mkdir(parents=True)
    (other / "train.json").write_text(json.dumps(rec) + "\n")
    with pytest.raises(SourceFormatError, match=r"x/train\.json"):
        build("shp_2", tmp_path / "out", sources=str(tmp_path / "mirror"))


# --------------------------------------------------------------------------------------------
# the hash behind ids and keyed draws (rewritten for big texts)


def test_stable_hash_matches_its_definition_on_long_and_odd_strings():
    def reference(text: str) -> int:
        data = text.encode()
        h = 0
        for byte in data:
            h = (h * 1099511628211 + byte + 1) % (1 << 64)
        return int(ops._splitmix64(np.array([h ^ (len(data) * 0x100000001B3 % (1 << 64))], dtype=np.uint64))[0])

    rng = random.Random(0)
    values = ["", "a", "ünïcode ✓", "z" * (ops._HASH_CHUNK_BYTES + 5)]
    values += ["".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 200))) for _ in range(200)]
    got = ops.stable_hash64(pl.Series(values + [None]))
    assert got.tolist() == [reference(v) for v in values] + [reference("")]
