"""`tulu-data decontam` on both published mixtures from the samples, on a build folder and a file; the
decontaminated variants drop exactly the rows the report finds; user mistakes end in one line, exit 1."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from tulu_data.cli import app


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    return tmp_path_factory.mktemp("decontam_cli")


def _report(args: list[str]) -> dict:
    result = CliRunner().invoke(app, ["decontam", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("mixture", "expected"),
    [
        ("preference_big_mixture", {("helpsteer", "alpaca_eval"), ("prm800k_pairs_phase2", "hendrycks_math")}),
        ("tulu_v2_sft_mixture", None),
    ],
)
def test_report_on_published_mixtures_and_their_decontaminated_variants(out, mixture, expected):
    report = _report([mixture, "--sources", "samples", "--out", str(out)])
    rec = report["splits"]["train"]
    cells = {(label, name) for label, per in rec["by_source"].items() for name in per}
    if expected is not None:
        assert cells == expected
    else:  # the planted MBPP sentence recurs in many sample prompts of the SFT sources
        assert {name for _, name in cells} == {"mbpp"} and rec["evals"]["mbpp"]["overlapped"] == 1
    assert rec["rows_matched"] > 0 and rec["evals"]["bbh"]["too_short"] == 2
    published = pl.read_parquet(out / mixture / "data")
    variant = CliRunner().invoke(app, ["build", f"{mixture}_decontaminated", "--sources", "samples", "--out", str(out)])
    assert variant.exit_code == 0, variant.output
    kept = pl.read_parquet(out / f"{mixture}_decontaminated" / "data")
    assert published.height - kept.height == rec["rows_matched"]
    manifest = json.loads((out / f"{mixture}_decontaminated" / "manifest.json").read_text())
    assert sum(manifest["dropped"].values()) == rec["rows_matched"]
    assert manifest["decontamination"]["splits"]["train"]["by_source"] == rec["by_source"]


def test_report_on_a_build_folder_and_a_file_with_against_and_plot(out, tmp_path):
    CliRunner().invoke(app, ["build", "preference_big_mixture", "--sources", "samples", "--out", str(out)])
    folder = _report([str(out / "preference_big_mixture"), "--sources", "samples", "--against", "hendrycks_math"])
    assert set(folder["splits"]["train"]["evals"]) == {"hendrycks_math"}
    assert folder["splits"]["train"]["rows_matched"] == 1
    data = tmp_path / "rows.jsonl"
    pl.read_parquet(out / "preference_big_mixture" / "data").write_ndjson(data)
    plot = tmp_path / "overlap.png"
    result = CliRunner().invoke(app, ["decontam", str(data), "--sources", "samples", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "2 of 85 rows overlap an eval set" in " ".join(result.stdout.split())
    assert plot.stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no_such_thing"], "is not a catalog dataset, a mixture"),
        (["lima", "--against", "nope"], "unknown eval set 'nope'"),
        (["lima", "--threshold", "1"], "must be a number in [0, 1)"),
    ],
)
def test_user_mistakes_are_one_line_and_exit_1(out, args, message):
    result = CliRunner().invoke(app, ["decontam", *args, "--sources", "samples", "--out", str(out)])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split()) and "Traceback" not in result.output
