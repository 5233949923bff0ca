"""Building a collection: every member into OUT/<member>/, each shared source parsed once per build."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tulu_data.build import Builder
from tulu_data.catalog import load_catalog
from tulu_data.cli import app
from tulu_data.context import SourceFrameMemo
from tulu_data.errors import TuluDataError
from tulu_data.sources import SAMPLES_DIR, resolve_source
from tulu_data.typed import ReadReport

UF_FAMILY = ["ultrafeedback_mean_aspects", "ultrafeedback_overall", "ultrafeedback_honesty", "ultrafeedback_flan_v2"]


def data_bytes(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))]


def test_one_builder_parses_a_shared_source_once_and_builds_the_same_bytes(tmp_path: Path) -> None:
    catalog = load_catalog()
    shared = Builder(catalog=catalog, sources="samples", out=tmp_path / "shared")
    together = [shared.build(name) for name in UF_FAMILY]
    # ultrafeedback_overall also builds ultrafeedback_mean_aspects (reused), so every UF recipe after the
    # first reads the raw files from memory
    assert shared.frame_memo.hits >= len(UF_FAMILY) - 1
    for name, folder in zip(UF_FAMILY, together, strict=True):
        alone = Builder(catalog=catalog, sources="samples", out=tmp_path / "alone" / name, frame_memo=SourceFrameMemo(0))
        assert data_bytes(alone.build(name)) == data_bytes(folder), name
        assert alone.frame_memo.hits == 0


def test_memo_hands_out_clones_and_notices_changed_files(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(SAMPLES_DIR / "helpsteer", mirror / "helpsteer")
    source = resolve_source(load_catalog().source("helpsteer"), str(mirror))
    memo = SourceFrameMemo()
    reads = []

    def reader() -> tuple[pl.DataFrame, ReadReport]:
        reads.append(1)
        report = ReadReport()
        report.drop("x: text where a number is expected", "f.jsonl", 7)
        return pl.DataFrame({"x": [1, 2, 3]}), report

    first, _ = memo.read(source, reader, "opts")
    first.insert_column(1, pl.Series("y", [0, 0, 0]))  # an in-place change by a recipe...
    second, report = memo.read(source, reader, "opts")
    assert second.columns == ["x"] and len(reads) == 1  # ...does not reach the kept frame
    assert report.drops == {"x: text where a number is expected": 1}, "what reading dropped is kept with the frame"
    memo.read(source, reader, "other options")
    assert len(reads) == 2
    path = next(p for p in sorted((mirror / "helpsteer").rglob("*")) if p.is_file())
    path.write_bytes(path.read_bytes() + b"\n")
    memo.read(source, reader, "opts")
    assert len(reads) == 3, "a changed file is read again"


def test_memo_budget_evicts_least_recently_used(tmp_path: Path) -> None:
    source = resolve_source(load_catalog().source("helpsteer"), "samples")
    frame = pl.DataFrame({"x": list(range(1000))})
    memo = SourceFrameMemo(budget_gb=2.5 * frame.estimated_size() / 1e9)
    for options in ("a", "b", "c"):
        memo.read(source, lambda: (frame, ReadReport()), options)
    assert [key[-1] for key in memo.frames] == [repr(("b",)), repr(("c",))]
    assert SourceFrameMemo(0).read(source, lambda: (frame, ReadReport()), "a")[0].equals(frame)


def test_build_command_builds_every_member_of_a_collection(tmp_path: Path) -> None:
    out = tmp_path / "builds"
    result = CliRunner().invoke(
        app, ["build", "tulu_2.5_preference_data", "--sources", "samples", "--out", str(out)], env={"COLUMNS": "160"}
    )
    assert result.exit_code == 0, result.output
    members = load_catalog().collections["tulu_2.5_preference_data"].datasets
    assert all((out / member / "manifest.json").is_file() for member in members)
    assert f"collection tulu_2.5_preference_data: {len(members)} members" in result.output
    assert "source reads served from memory" in result.output
    staged = CliRunner().invoke(app, ["push", "tulu_2.5_preference_data", "--out", str(out), "--dry-run"])
    assert staged.exit_code == 0, staged.output
    assert "data/hh_rlhf-00000-of-00001.parquet" in staged.output


def test_a_collection_is_not_a_single_build() -> None:
    builder = Builder(catalog=load_catalog(), sources="samples")
    with pytest.raises(TuluDataError, match="is a collection"):
        builder.build("tulu_2.5_preference_data")
    with pytest.raises(TuluDataError, match="not a catalog collection"):
        builder.build_collection("preference_big_mixture")
