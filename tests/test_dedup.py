"""Deduplication: exact copies after normalisation and near copies (MinHash LSH) are removed, one copy kept by
a keyed choice that does not depend on row order; counted in manifest and card, within a dataset and across
the parts of a mixture."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
from decontam_support import make_catalog, mirror, sample_questions, write_mixture

from tulu_data import ops
from tulu_data.build import Builder
from tulu_data.decontam import dedup
from tulu_data.decontam.dedup import DedupConfig, NearConfig, deduplicate


def _long_text() -> str:
    """About 100 words from the bundled eval samples."""
    words = " ".join(sample_questions() + sample_questions("hendrycks_math", "problem")).split()
    return " ".join(words[:100])


def _sft(prompts: list[str]) -> pl.DataFrame:
    rows = [
        {"dataset": f"src{i % 2}", "id": f"row{i}", "messages": [{"role": "user", "content": p}, {"role": "assistant", "content": "ok"}]}
        for i, p in enumerate(prompts)
    ]
    return pl.DataFrame(rows, schema=ops.SFT_SCHEMA)


def test_exact_duplicates_after_normalisation_keep_one_keyed_copy():
    q = sample_questions()
    prompts = [q[0], q[0].upper(), "  " + q[0].replace(" ", "\n") + " !!", q[1], q[2]]
    df = _sft(prompts)
    kept, rec = deduplicate(df, DedupConfig(field="user_turns"), seed=42, drops=(drops := Counter()))
    assert kept.height == 3 and rec["exact"]["dropped"] == 2
    assert sum(drops.values()) == 2 and all(k.startswith("dedup: exact duplicate (") for k in drops)
    survivor = (set(kept["id"]) & {"row0", "row1", "row2"}).pop()
    reversed_kept, _ = deduplicate(df.reverse(), DedupConfig(field="user_turns"), seed=42)
    assert set(reversed_kept["id"]) == set(kept["id"])
    assert {e["kept_id"] for e in rec["exact"]["examples"]} == {survivor}


def test_near_duplicates_found_unrelated_kept(monkeypatch):
    text = _long_text()
    words = text.split()
    edited = " ".join(words[:50] + ["zebra"] + words[51:])  # one word of 100 changed
    other = " ".join(reversed(words))  # same words, no shared 5-word shingle in order
    df = _sft([text, edited, other, "short one"])
    near = NearConfig(threshold=0.8, num_perm=128, bands=16, shingle=5)
    kept, rec = deduplicate(df, DedupConfig(field="user_turns", exact=True, near=near), seed=42)
    assert rec["near"]["dropped"] == 1 and rec["exact"]["dropped"] == 0
    assert kept.height == 3 and {"row2", "row3"} <= set(kept["id"])
    kept_rev, _ = deduplicate(df.reverse(), DedupConfig(field="user_turns", near=near), seed=42)
    assert set(kept_rev["id"]) == set(kept["id"])
    monkeypatch.setattr(dedup, "SIGNATURE_CHUNK_ROWS", 1)  # signatures made one row at a time: same groups
    kept_chunked, _ = deduplicate(df, DedupConfig(field="user_turns", near=near), seed=42)
    assert kept_chunked.equals(kept)


def test_dedup_as_dataset_parameter_counts_in_manifest_and_card(tmp_path):
    q = sample_questions()
    root = mirror(tmp_path, [q[0], q[0].lower(), q[1]])
    catalog = make_catalog(params={"dedup": {"field": "user_turns"}})
    path = Builder(catalog=catalog, sources=str(root), out=tmp_path / "out").build("qa_small")
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["rows_out"] == {"train": 2}
    assert manifest["dropped"]["dedup: exact duplicate (qa_small)"] == 1
    assert "## Deduplication" in (path / "README.md").read_text()


def test_dedup_across_mixture_parts(tmp_path):
    """The same pairs built as two catalog datasets with different labels: one copy of each survives."""
    q = sample_questions()
    root = mirror(tmp_path, q[:3])
    catalog = make_catalog()
    raw = {name: spec for name, spec in catalog.datasets.items()}
    from dataclasses import replace

    catalog.datasets = {**raw, "qa_other": replace(raw["qa_small"], name="qa_other", params={"label": "qa_other"})}
    body = {"description": "d", "license": "mit", "parts": [{"dataset": "qa_small"}, {"dataset": "qa_other"}], "dedup": {"field": "all_turns"}}
    folder = write_mixture(tmp_path / "mixtures", "both", body)
    path = Builder(catalog=catalog, sources=str(root), out=tmp_path / "out", mixtures=folder).build("both")
    manifest = json.loads((path / "manifest.json").read_text())
    df = pl.read_parquet(path / "data")
    assert df.height == 3 and sum(manifest["dropped"].values()) == 3
    assert manifest["dedup"]["splits"]["train"]["exact"]["dropped"] == 3
