"""Damaged upstream inputs, built from the samples: each ends in a named error or a counted drop, never silently.

Row damage: the damaged row is dropped under its reason, and the build's data is byte-identical to a
build from the same mirror with that row removed. File damage: the build stops with an error that
names the file and says what it is. One family of recipes per entry of FAMILIES.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tulu_data.build import DUPLICATE_ID, Builder
from tulu_data.catalog import load_catalog
from tulu_data.errors import SourceError, SourceFormatError
from tulu_data.readers import DUPLICATE_ROW
from tulu_data.sources import SAMPLES_DIR
from tulu_data.writer import read_manifest


@dataclass(frozen=True)
class Family:
    dataset: str
    source: str
    file: str  # relative to the source folder
    field: str  # a text field the recipe reads
    wrong: Any  # a value of another kind for that field
    reason: str  # the drop reason the wrong value gives


FAMILIES = {
    "ultrafeedback": Family("ultrafeedback_mean_aspects", "ultrafeedback", "evol_instruct.jsonl", "instruction",
                            ["a", "list"], "instruction: a list where text is expected"),
    "transcripts": Family("hh_rlhf", "hh_rlhf", "harmless-base/train.jsonl.gz", "chosen", 3.14,
                          "chosen: a number where text is expected"),
    "large_pairs": Family("shp_2", "shp_2", "reddit/askscience/train.json", "history", {"x": 1},
                          "history: an object where text is expected"),
    "rated": Family("helpsteer", "helpsteer", "train.jsonl.gz", "response", ["a", "b"],
                    "response: a list where text is expected"),
    "pairs": Family("orca_dpo_pairs", "orca_dpo_pairs", "orca_rlhf.jsonl", "chosen", 3.14,
                    "chosen: a number where text is expected"),
    "pairs_json_array": Family("alpaca_farm_gpt4_pref", "alpaca_farm_gpt4_preference", "alpaca_gpt4_preference.json",
                               "output_1", True, "output_1: a boolean where text is expected"),
    "sft_json_lines": Family("flan_v2", "flan_v2", "flan_v2_resampled_50k.jsonl", "targets", 3.14,
                             "targets: a number where text is expected"),
    "sft_json_array": Family("code_alpaca", "code_alpaca", "code_alpaca_20k.json", "output", ["x"],
                             "output: a list where text is expected"),
}


# ---- reading and writing sample files in their own format ----------------------------------------


def is_array(path: Path) -> bool:
    return path.suffix == ".json" and path.read_bytes().lstrip().startswith(b"[")


def load(path: Path) -> list[dict]:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if is_array(path):
        return json.loads(data)
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def save(path: Path, rows: list[dict], array: bool) -> None:
    text = json.dumps(rows) if array else "".join(json.dumps(r) + "\n" for r in rows)
    path.write_bytes(gzip.compress(text.encode(), mtime=0) if path.suffix == ".gz" else text.encode())


def mirror_with(tmp: Path, name: str, family: Family, edit) -> Path:
    """A copy of every sample source, with `edit(rows) -> rows` applied to the family's file."""
    root = tmp / name
    shutil.copytree(SAMPLES_DIR, root)
    path = root / family.source / family.file
    array = is_array(path)
    save(path, edit(load(path)), array)
    return root


def build(tmp: Path, sources: Path | str, family: Family) -> Path:
    out = tmp / f"out-{Path(sources).name}"
    return Builder(catalog=load_catalog(), sources=str(sources), out=out).build(family.dataset)


def data_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((folder / "data").glob("*.parquet")))


def damaged_row(rows: list[dict], field: str, value: Any) -> list[dict]:
    rows = [dict(r) for r in rows]
    rows[0][field] = value
    return rows


# ---- row damage: a counted drop, everything else byte-identical -----------------------------------


ROW_DAMAGE = {
    "wrong type": lambda f: (f.wrong, f.reason),
    "NUL character": lambda f: ("text with a \u0000 inside", f"{f.field}: NUL character in text"),
    "lone surrogate": lambda f: ("text with a \ud800 inside", f"{f.field}: lone UTF-16 surrogate in text (invalid Unicode)"),
}


@pytest.mark.parametrize("damage", sorted(ROW_DAMAGE))
@pytest.mark.parametrize("family_name", sorted(FAMILIES))
def test_a_damaged_row_is_a_counted_drop_and_the_rest_is_byte_identical(tmp_path, family_name, damage):
    family = FAMILIES[family_name]
    value, reason = ROW_DAMAGE[damage](family)
    damaged = build(tmp_path, mirror_with(tmp_path, "damaged", family, lambda r: damaged_row(r, family.field, value)), family)
    removed = build(tmp_path, mirror_with(tmp_path, "removed", family, lambda r: r[1:]), family)
    assert read_manifest(damaged)["dropped"][reason] == read_manifest(removed)["dropped"].get(reason, 0) + 1
    assert data_bytes(damaged) == data_bytes(removed)


@pytest.mark.parametrize("family_name", sorted(FAMILIES))
def test_an_exact_duplicate_row_is_dropped_and_counted(tmp_path, family_name):
    family = FAMILIES[family_name]
    plain = build(tmp_path, mirror_with(tmp_path, "plain", family, lambda r: r), family)
    doubled = build(tmp_path, mirror_with(tmp_path, "doubled", family, lambda r: [*r, r[0]]), family)
    assert data_bytes(doubled) == data_bytes(plain)
    # large sources are never read whole: their duplicates are caught on the output ids
    reason = DUPLICATE_ID if family_name == "large_pairs" else DUPLICATE_ROW
    before = read_manifest(plain)["dropped"].get(reason, 0)
    assert read_manifest(doubled)["dropped"][reason] == before + 1
    ids = pl.read_parquet(next((doubled / "data").glob("*.parquet")))["id"]
    assert ids.is_unique().all()


@pytest.mark.parametrize("family_name", sorted(FAMILIES))
def test_a_field_wrong_in_every_row_stops_the_build_naming_file_field_and_line(tmp_path, family_name):
    family = FAMILIES[family_name]
    mirror = mirror_with(tmp_path, "m", family, lambda rows: [{**r, family.field: family.wrong} for r in rows])
    unit = "record" if family.file.endswith(".json") and family.source != "shp_2" else "line"
    with pytest.raises(SourceFormatError, match=rf"{family.file}: field '{family.field}' has the wrong type in every row "
                                                rf"that has it \(first at {unit} 1: {family.reason}"):
        build(tmp_path, mirror, family)


# ---- file damage: an error that names the file and what it is -------------------------------------

LFS = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"0" * 64 + b"\nsize 1234\n"


def replace_file(tmp: Path, family: Family, content: bytes | None) -> Path:
    root = tmp / "mirror"
    shutil.copytree(SAMPLES_DIR, root)
    path = root / family.source / family.file
    if content is None:
        path.unlink()
    else:
        path.write_bytes(content)
    return root


FILE_DAMAGE = {
    "git lfs pointer": (LFS, r"this is a Git LFS pointer.*git lfs pull"),
    "html page": (b"<!DOCTYPE html><html><body>Rate limited</body></html>", r"this is an HTML page"),
    "empty file": (b"", r"empty file \(0 bytes\)"),
}


# whole-file damage needs no row of a given shape: every format the catalog reads, arena and the rest too
FILE_TARGETS = {
    **FAMILIES,
    "arena_parquet": Family("chatbot_arena_2023", "chatbot_arena_conversations", "data/train-00000-of-00001.parquet",
                            "", None, ""),
    "arena_csv": Family("chatbot_arena_2024", "arena_human_preference_55k", "train.csv", "", None, ""),
    "sft_parquet": Family("open_orca", "open_orca", "1M-GPT4-Augmented.parquet", "", None, ""),
    "sft_xlsx": Family("hard_coded", "hard_coded", "hard_coded_examples.xlsx", "", None, ""),
    "sft_trees": Family("oasst1", "oasst1", "2023-04-12_oasst_ready.trees.jsonl.gz", "", None, ""),
}


@pytest.mark.parametrize("damage", sorted(FILE_DAMAGE))
@pytest.mark.parametrize("family_name", sorted(FILE_TARGETS))
def test_a_damaged_file_is_named_for_what_it_is(tmp_path, family_name, damage):
    family = FILE_TARGETS[family_name]
    content, message = FILE_DAMAGE[damage]
    with pytest.raises(SourceFormatError, match=rf"{family.file}: {message}"):
        build(tmp_path, replace_file(tmp_path, family, content), family)


GZ_FAMILIES = sorted(name for name, f in FAMILIES.items() if f.file.endswith(".gz"))


@pytest.mark.parametrize("family_name", GZ_FAMILIES)
def test_a_truncated_gzip_stream_names_the_file(tmp_path, family_name):
    family = FAMILIES[family_name]
    whole = (SAMPLES_DIR / family.source / family.file).read_bytes()
    with pytest.raises(SourceFormatError, match=rf"{family.file}: truncated gzip stream"):
        build(tmp_path, replace_file(tmp_path, family, whole[: len(whole) // 2]), family)


@pytest.mark.parametrize("family_name", GZ_FAMILIES)
def test_a_gz_file_that_is_not_gzip_names_the_file(tmp_path, family_name):
    family = FAMILIES[family_name]
    plain = gzip.decompress((SAMPLES_DIR / family.source / family.file).read_bytes())
    with pytest.raises(SourceFormatError, match=rf"{family.file}: named \.gz but not gzip-compressed"):
        build(tmp_path, replace_file(tmp_path, family, plain), family)


LINE_FAMILIES = sorted(name for name, f in FAMILIES.items() if not is_array(SAMPLES_DIR / f.source / f.file))


@pytest.mark.parametrize("family_name", LINE_FAMILIES)
def test_pretty_printed_json_in_a_json_lines_file_names_file_and_line(tmp_path, family_name):
    family = FAMILIES[family_name]
    rows = load(SAMPLES_DIR / family.source / family.file)
    text = "\n".join(json.dumps(r, indent=2) for r in rows).encode()
    content = gzip.compress(text) if family.file.endswith(".gz") else text
    with pytest.raises(SourceFormatError, match=rf"{family.file}, line 1: pretty-printed JSON"):
        build(tmp_path, replace_file(tmp_path, family, content), family)


# shp_2 declares its files by glob (reddit/*/train.json): one domain less still matches the declaration
@pytest.mark.parametrize("family_name", sorted(set(FAMILIES) - {"large_pairs"}))
def test_a_missing_declared_file_lists_what_was_expected_and_found(tmp_path, family_name):
    family = FAMILIES[family_name]
    declared = load_catalog().source(family.source).data_files
    others = [p for p in declared if p != family.file and "*" not in p]
    pattern = r"declared file\(s\) .* missing" if others or len(declared) > 1 else r"none of the declared files"
    with pytest.raises(SourceError, match=rf"source '{family.source}': {pattern}.*found"):
        build(tmp_path, replace_file(tmp_path, family, None), family)


@pytest.mark.parametrize("family_name", sorted(FAMILIES))
def test_an_extra_file_is_not_read_and_the_build_says_so(tmp_path, family_name):
    family = FAMILIES[family_name]
    plain = build(tmp_path, SAMPLES_DIR.parent / "samples", family)
    root = tmp_path / "mirror"
    shutil.copytree(SAMPLES_DIR, root)
    shutil.copy(root / family.source / family.file, root / family.source / "backup-copy.jsonl")
    extra = build(tmp_path, root, family)
    assert data_bytes(extra) == data_bytes(plain)
    assert read_manifest(extra)["notes"]["files not read"] == {family.source: ["backup-copy.jsonl"]}


@pytest.mark.parametrize("family_name", ["large_pairs", "transcripts"])
def test_files_in_a_symlinked_folder_are_read(tmp_path, family_name):
    family = FAMILIES[family_name]
    plain = build(tmp_path, SAMPLES_DIR, family)
    root = tmp_path / "mirror"
    shutil.copytree(SAMPLES_DIR, root)
    folder = (root / family.source / family.file).parent
    elsewhere = tmp_path / "elsewhere"
    shutil.move(folder, elsewhere)
    os.symlink(elsewhere, folder)
    assert data_bytes(build(tmp_path, root, family)) == data_bytes(plain)


def test_a_broken_symlink_is_named(tmp_path):
    family = FAMILIES["pairs"]
    root = replace_file(tmp_path, family, None)
    os.symlink(tmp_path / "nowhere.jsonl", root / family.source / family.file)
    with pytest.raises(SourceError, match=r"orca_rlhf\.jsonl is a broken symbolic link"):
        build(tmp_path, root, family)


# ---- columnar formats: parquet and CSV ------------------------------------------------------------


def test_parquet_text_with_nul_is_a_counted_drop(tmp_path):
    family = Family("chatbot_arena_2023", "chatbot_arena_conversations", "data/train-00000-of-00001.parquet",
                    "winner", None, "")
    path = SAMPLES_DIR / family.source / family.file
    table = pq.read_table(path)
    rows = table.to_pylist()
    rows[0]["judge"] = "x"  # an unread field: not checked
    rows[0]["winner"] = "model_a\u0000"

    def write(name: str, rows: list[dict]) -> Path:
        root = tmp_path / name
        shutil.copytree(SAMPLES_DIR, root)
        pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), root / family.source / family.file)
        return root

    damaged = build(tmp_path, write("damaged", rows), family)
    removed = build(tmp_path, write("removed", rows[1:]), family)
    assert read_manifest(damaged)["dropped"]["winner: NUL character in text"] == 1
    assert data_bytes(damaged) == data_bytes(removed)


def test_a_parquet_column_of_the_wrong_type_names_file_and_field(tmp_path):
    family = Family("chatbot_arena_2023", "chatbot_arena_conversations", "data/train-00000-of-00001.parquet",
                    "winner", None, "")
    root = tmp_path / "mirror"
    shutil.copytree(SAMPLES_DIR, root)
    path = root / family.source / family.file
    table = pq.read_table(path)
    table = table.set_column(table.schema.get_field_index("winner"), "winner", pa.array(range(table.num_rows)))
    pq.write_table(table, path)
    with pytest.raises(SourceFormatError, match=r"train-00000-of-00001\.parquet: field 'winner' is stored as int64 "
                                                r"where text is expected"):
        build(tmp_path, root, family)


def test_a_csv_number_that_is_text_is_a_counted_drop(tmp_path):
    family = Family("chatbot_arena_2024", "arena_human_preference_55k", "train.csv", "winner_model_a", None, "")
    df = pl.read_csv(SAMPLES_DIR / family.source / family.file, infer_schema=False)

    def write(name: str, frame: pl.DataFrame) -> Path:
        root = tmp_path / name
        shutil.copytree(SAMPLES_DIR, root)
        frame.write_csv(root / family.source / family.file)
        return root

    bad = df.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("yes")).otherwise(pl.col("winner_model_a"))
                          .alias("winner_model_a"))
    damaged = build(tmp_path, write("damaged", bad), family)
    removed = build(tmp_path, write("removed", df.slice(1)), family)
    assert read_manifest(damaged)["dropped"]["winner_model_a: text where a number is expected"] == 1
    assert data_bytes(damaged) == data_bytes(removed)


# ---- OpenAssistant trees (read as whole trees, checked message by message) --------------------------

OASST = Family("oasst1", "oasst1", "2023-04-12_oasst_ready.trees.jsonl.gz", "text", None, "")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (["a", "list"], "prompt.replies[].text: a list where text is expected"),
        (7, "prompt.replies[].text: a number where text is expected"),
        ("a \ud800 b", "prompt.replies[].text: lone UTF-16 surrogate in text (invalid Unicode)"),
    ],
)
def test_an_oasst_tree_with_a_damaged_reply_is_a_counted_drop(tmp_path, value, reason):
    rows = load(SAMPLES_DIR / OASST.source / OASST.file)
    target = next(i for i, tree in enumerate(rows) if tree["prompt"].get("replies"))

    def damage(trees: list[dict]) -> list[dict]:
        trees = json.loads(json.dumps(trees))
        trees[target]["prompt"]["replies"][0]["text"] = value
        return trees

    damaged = build(tmp_path, mirror_with(tmp_path, "damaged", OASST, damage), OASST)
    removed = build(tmp_path, mirror_with(tmp_path, "removed", OASST, lambda t: t[:target] + t[target + 1 :]), OASST)
    assert read_manifest(damaged)["dropped"][reason] == 1
    assert data_bytes(damaged) == data_bytes(removed)
    assert read_manifest(damaged)["rows_in"]["oasst1"] == len(rows)


# ---- empty results and unique ids -------------------------------------------------------------------


def test_an_empty_build_whose_rows_are_all_dropped_fails_naming_the_reasons_and_writes_nothing(qa_catalog, tmp_path):
    from conftest import write_jsonl

    from tulu_data.errors import EmptyBuildError

    rows = [{"question": f"q{i}?", "good": f"good {i}", "bad": " "} for i in range(3)] + [
        {"question": "q?", "good": "  ", "bad": "x"}
    ]
    write_jsonl(tmp_path / "mirror" / "qa" / "part-0.jsonl", rows)
    builder = Builder(catalog=qa_catalog, sources=str(tmp_path / "mirror"), out=tmp_path / "out")
    with pytest.raises(EmptyBuildError, match=r"qa_small: split\(s\) train would have 0 rows; rows dropped by: "
                                              r"rejected: empty message \(3\); chosen: empty message \(1\)"):
        builder.build("qa_small")
    assert not (tmp_path / "out" / "qa_small").exists()
    assert not list((tmp_path / "out").glob(".*tmp*"))


def test_allow_empty_leaves_an_empty_split_out_and_the_rest_loads(tmp_path):
    import datasets
    import yaml
    from conftest import write_jsonl

    from tulu_data.catalog import parse_catalog

    raw = {
        "sources": {"pairs": {"hub_id": "example/pairs", "revision": "0" * 40, "format": "jsonl"}},
        "datasets": {"both": {"recipe": "_test_publish_pairs", "sources": ["pairs"], "description": "x",
                              "license": "mit", "allow_empty": True}},
    }
    import publish_helpers  # noqa: F401  (registers _test_publish_pairs)

    catalog = parse_catalog(yaml.safe_load(yaml.safe_dump(raw)))
    rows = [{"question": f"q{i}?", "good": f"good {i}", "bad": f"bad {i}", "split": "train"} for i in range(3)]
    rows.append({"question": "t?", "good": " ", "bad": "bad", "split": "test"})  # every test row is dropped
    write_jsonl(tmp_path / "mirror" / "pairs" / "data.jsonl", rows)
    folder = Builder(catalog=catalog, sources=str(tmp_path / "mirror"), out=tmp_path / "out").build("both")
    manifest = read_manifest(folder)
    assert manifest["rows_out"] == {"train": 3}
    assert manifest["notes"]["empty splits left out (allow_empty)"] == ["test"]
    assert datasets.load_dataset(str(folder))["train"].num_rows == 3


def test_ids_are_unique_in_every_split_of_every_catalog_dataset_built_from_the_samples(tmp_path):
    catalog = load_catalog()
    builder = Builder(catalog=catalog, sources="samples", out=tmp_path / "out")
    for name in catalog.datasets:
        folder = builder.build(name)
        for split, info in read_manifest(folder)["splits"].items():
            ids = pl.concat([pl.read_parquet(folder / f) for f in info["files"]])["id"]
            assert ids.is_unique().all() and ids.null_count() == 0, (name, split)


@pytest.mark.parametrize("family_name", ["arena_parquet", "arena_csv", "sft_parquet"])
def test_an_exact_duplicate_row_in_a_columnar_file_is_dropped_and_counted(tmp_path, family_name):
    family = FILE_TARGETS[family_name]
    source = SAMPLES_DIR / family.source / family.file
    frame = pl.read_csv(source, infer_schema=False) if source.suffix == ".csv" else pl.read_parquet(source)
    root = tmp_path / "doubled"
    shutil.copytree(SAMPLES_DIR, root)
    doubled = pl.concat([frame, frame.head(1)])
    if source.suffix == ".csv":
        doubled.write_csv(root / family.source / family.file)
    else:
        doubled.write_parquet(root / family.source / family.file)
    plain = build(tmp_path, SAMPLES_DIR, family)
    twice = build(tmp_path, root, family)
    assert data_bytes(twice) == data_bytes(plain)
    before = read_manifest(plain)["dropped"].get(DUPLICATE_ROW, 0)
    assert read_manifest(twice)["dropped"][DUPLICATE_ROW] == before + 1
