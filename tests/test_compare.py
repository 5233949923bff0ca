"""`tulu-data compare`: two builds with planted differences, counted by category, per source, with examples."""

from __future__ import annotations

import json

import polars as pl
import pytest
from publish_helpers import msg, pair_row, pref_frame, write_pref_build
from typer.testing import CliRunner

from tulu_data import ops
from tulu_data.cli import app
from tulu_data.compare import compare_frames, run_compare
from tulu_data.errors import TuluDataError


def base_rows() -> list[dict]:
    """12 pairs: q0-q5 from s1, q6-q11 from s2."""
    return [pair_row(f"question {i}", f"good {i}", f"bad {i}", "s1" if i < 6 else "s2") for i in range(12)]


def planted_reference() -> list[dict]:
    """The reference: the base rows with planted differences, each counted once.

    - q0-q6 unchanged (7 pairs matched), q0 with extra whitespace (must still match after stripping);
    - q7: chosen and rejected swapped; q8: rejected differs; q9: chosen differs; q10: both differ
      (4 left rows whose prompt matches but pair differs);
    - q11 missing from the reference (1 left row whose prompt is not on the right);
    - n0-n2: 3 new prompts only in the reference (source s3);
    - q6 twice in the reference (a duplicate pair on the right).
    """
    base = base_rows()
    ref = [dict(r) for r in base[:7]]
    ref[0] = pair_row([msg("user", "  question 0 \n")], " good 0", "bad 0  ", "s1")
    ref.append(pair_row("question 7", "bad 7", "good 7", "s2"))
    ref.append(pair_row("question 8", "good 8", "another bad 8", "s2"))
    ref.append(pair_row("question 9", "better 9", "bad 9", "s2"))
    ref.append(pair_row("question 10", "x 10", "y 10", "s2"))
    ref += [pair_row(f"new {i}", f"g{i}", f"b{i}", "s3") for i in range(3)]
    ref.append(dict(base[6]))
    return ref


def test_planted_differences_are_counted():
    report = compare_frames(pref_frame(base_rows()), pref_frame(planted_reference()))
    left, right = report["left"], report["right"]
    assert left["rows"] == 12 and right["rows"] == 15
    assert left["pair_matched"] == 7
    assert left["prompt_matched_pair_differs"] == 4
    assert left["prompt_not_on_other_side"] == 1
    assert left["not_pair_matched"] == 5
    assert left["differences"] == {"swapped": 1, "rejected_differs": 1, "chosen_differs": 1, "both_differ": 1}
    # right side: 8 rows matched (q6 twice), the same 4 differing prompts, 3 only there
    assert right["pair_matched"] == 8 and right["prompt_matched_pair_differs"] == 4 and right["prompt_not_on_other_side"] == 3
    assert right["duplicate_pairs"] == {"repeated": 1, "rows": 2}
    assert left["duplicate_pairs"] == {"repeated": 0, "rows": 0}
    assert report["common_distinct_prompts"] == 11
    assert left["per_source"] == {
        "s1": {"rows": 6, "pair_matched": 6, "prompt_matched_pair_differs": 0, "prompt_not_on_other_side": 0},
        "s2": {"rows": 6, "pair_matched": 1, "prompt_matched_pair_differs": 4, "prompt_not_on_other_side": 1},
    }
    assert right["per_source"]["s3"] == {"rows": 3, "pair_matched": 0, "prompt_matched_pair_differs": 0, "prompt_not_on_other_side": 3}


def test_examples_show_each_kind_of_difference():
    report = compare_frames(pref_frame(base_rows()), pref_frame(planted_reference()), examples=10)
    ex = report["examples"]
    assert [r["prompt"] for r in ex["only_left"]] == ["question 11"]
    assert sorted(r["prompt"] for r in ex["only_right"]) == ["new 0", "new 1", "new 2"]
    differs = {item["left"]["prompt"]: item for item in ex["pair_differs"]}
    assert set(differs) == {"question 7", "question 8", "question 9", "question 10"}
    assert differs["question 7"]["difference"] == "swapped"
    assert differs["question 7"]["right"]["chosen"] == "bad 7"
    assert differs["question 9"]["difference"] == "chosen_differs" and differs["question 9"]["right"]["chosen"] == "better 9"
    assert len(compare_frames(pref_frame(base_rows()), pref_frame(planted_reference()), examples=2)["examples"]["pair_differs"]) == 2


def test_sft_rows_match_by_messages():
    def sft(rows):
        return pl.DataFrame(rows, schema={"dataset": pl.String, "id": pl.String, "messages": ops.MESSAGES})

    conv = [[msg("user", f"u{i}"), msg("assistant", f"a{i}")] for i in range(5)]
    left = sft([{"dataset": "d", "id": str(i), "messages": c} for i, c in enumerate(conv)])
    changed = [conv[0], conv[1], conv[2], [msg("user", "u3"), msg("assistant", "different")], [msg("user", "z"), msg("assistant", "z")]]
    right = sft([{"dataset": "d", "id": str(i), "messages": c} for i, c in enumerate(changed)])
    report = compare_frames(left, right)
    assert report["kind"] == "sft"
    assert (report["left"]["pair_matched"], report["left"]["prompt_matched_pair_differs"], report["left"]["prompt_not_on_other_side"]) == (3, 1, 1)
    assert "differences" not in report["left"]


def test_kinds_must_agree():
    sft = pl.DataFrame({"messages": [[msg("user", "u"), msg("assistant", "a")]]}, schema={"messages": ops.MESSAGES})
    with pytest.raises(TuluDataError, match="cannot compare preference rows with sft rows"):
        compare_frames(pref_frame(base_rows()), sft)


def test_compare_builds_and_files_through_the_command(tmp_path):
    out = tmp_path / "out"
    write_pref_build(out, "mine", {"train": base_rows()})
    write_pref_build(out, "released", {"mine": planted_reference(), "other": base_rows()[:2]})
    pref_frame(planted_reference()).write_ndjson(tmp_path / "ref.jsonl")

    # a jsonl file as the reference
    report = run_compare("mine", str(tmp_path / "ref.jsonl"), out, console=_quiet())
    assert report["left_figures"]["pair_matched"] == 7 and report["right"]["split"] == "train"
    # a multi-split reference: the split named like the build is picked by default
    report = run_compare("mine", "released", out, console=_quiet())
    assert report["right"]["split"] == "mine" and report["right_figures"]["rows"] == 15
    with pytest.raises(TuluDataError, match="has no split 'nope'"):
        run_compare("mine", "released", out, reference_split="nope", console=_quiet())

    runner = CliRunner()
    result = runner.invoke(app, ["compare", "mine", "--reference", str(tmp_path / "ref.jsonl"), "--out", str(out)], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "prompt there, pair differs" in result.output and "[swapped] prompt: question 7" in result.output
    assert "question 11" in result.output and "new 0" in result.output
    result = runner.invoke(app, ["compare", "mine", "-r", "released", "--reference-split", "other", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["left_figures"]["pair_matched"] == 2 and data["right_figures"]["prompt_not_on_other_side"] == 0


def _quiet():
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), width=160)


def test_compare_a_real_build_with_a_planted_copy(tmp_path):
    """ultrafeedback_mean_aspects from the samples vs. a copy: one pair swapped, one removed, one added."""
    from tulu_data.build import build

    path = build("ultrafeedback_mean_aspects", sources="samples", out=tmp_path / "out")
    df = pl.read_parquet(sorted((path / "data").glob("train-*.parquet"))[0]).sort("id")
    n = df.height
    swapped = df.head(1).with_columns(pl.col("rejected").alias("chosen"), pl.col("chosen").alias("rejected"))
    added = pref_frame([pair_row("a prompt that is not in the build", "yes", "no", "planted")]).select(df.columns)
    reference = pl.concat([swapped, df.slice(2), added])
    reference.write_parquet(tmp_path / "released.parquet")
    report = run_compare("ultrafeedback_mean_aspects", str(tmp_path / "released.parquet"), tmp_path / "out", console=_quiet())
    left, right = report["left_figures"], report["right_figures"]
    assert left["rows"] == n and right["rows"] == n
    assert left["pair_matched"] == n - 2 and left["differences"]["swapped"] == 1
    assert left["prompt_not_on_other_side"] + left["prompt_matched_pair_differs"] == 2
    assert right["prompt_not_on_other_side"] >= 1 and right["per_source"]["planted"]["prompt_not_on_other_side"] == 1
