"""HelpSteer and PRM800K pairs, checked row by row against the raw samples."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from pref_build_support import assert_rebuild_identical_and_order_free, build, raw_rows, sample_files

from tulu_data.errors import SourceFormatError

ASPECTS = ("helpfulness", "correctness", "coherence", "complexity")


# ---- HelpSteer ---------------------------------------------------------------------------------


def helpsteer_groups() -> tuple[dict[str, list[dict]], int, int]:
    """Valid raw responses grouped by stripped prompt, plus the counts of rows with bad ratings / empty text."""
    groups: dict[str, list[dict]] = defaultdict(list)
    bad_rating = empty = 0
    for row in raw_rows("helpsteer"):
        ratings = [row.get(a) for a in ASPECTS]
        if any(r is None or not 0 <= r <= 4 for r in ratings):
            bad_rating += 1
            continue
        prompt, response = (row.get("prompt") or "").strip(), (row.get("response") or "").strip()
        if not prompt or not response:
            empty += 1
            continue
        groups[prompt].append({"response": response, "mean": sum(ratings) / 4, "verbosity": row["verbosity"]})
    return groups, bad_rating, empty


def test_helpsteer_pairs_take_the_best_mean_against_a_strictly_lower_one(tmp_path: Path):
    out, manifest, _ = build(tmp_path, "helpsteer")
    groups, bad_rating, empty = helpsteer_groups()
    assert out.height > 0 and out["id"].n_unique() == out.height
    seen = set()
    for row in out.iter_rows(named=True):
        assert [m["role"] for m in row["chosen"]] == ["user", "assistant"] == [m["role"] for m in row["rejected"]]
        prompt = row["chosen"][0]["content"]
        assert row["rejected"][0]["content"] == prompt and prompt not in seen
        seen.add(prompt)
        group = groups[prompt]
        best = max(r["mean"] for r in group)
        chosen_text, rejected_text = row["chosen"][1]["content"], row["rejected"][1]["content"]
        assert row["score_chosen"] == best
        assert any(r["response"] == chosen_text and r["mean"] == best for r in group)
        assert rejected_text != chosen_text
        assert row["score_rejected"] < best
        assert any(r["response"] == rejected_text and r["mean"] == row["score_rejected"] for r in group)
        assert row["source"] == "helpsteer"

    def pairable(group: list[dict]) -> bool:
        best = max(r["mean"] for r in group)
        winners = {r["response"] for r in group if r["mean"] == best}
        return len(group) > 1 and any(r["mean"] < best and r["response"] not in winners for r in group)

    assert seen == {p for p, g in groups.items() if pairable(g)}
    dropped = manifest["dropped"]
    assert dropped["a rating (helpfulness, correctness, coherence, complexity) is missing or outside 0-4"] == bad_rating
    assert dropped["empty prompt or response"] == empty
    assert dropped["prompt has only one usable response (no pair possible)"] == sum(len(g) == 1 for g in groups.values())
    tied = [g for g in groups.values() if len(g) > 1 and len({r["mean"] for r in g}) == 1]
    assert dropped["every response of the prompt has the same mean rating (no preference)"] == sum(map(len, tied))
    assert manifest["notes"]["helpsteer_prompts"]["all responses tied"] == len(tied)


def test_helpsteer_ignores_verbosity_and_never_takes_the_lowest(tmp_path: Path):
    """The published script's ascending sort picked the lowest-rated response; verbosity is not in the score."""
    out, _, _ = build(tmp_path, "helpsteer")
    groups, _, _ = helpsteer_groups()
    verbosity_would_flip = 0
    for row in out.iter_rows(named=True):
        group = groups[row["chosen"][0]["content"]]
        lowest = min(r["mean"] for r in group)
        assert row["score_chosen"] > lowest
        with_verbosity = max(group, key=lambda r: r["mean"] * 4 + r["verbosity"])
        verbosity_would_flip += with_verbosity["response"] != row["chosen"][1]["content"]
    assert verbosity_would_flip >= 1  # the samples hold a prompt where counting verbosity would pick another winner


def test_helpsteer_rebuild_is_byte_identical_and_independent_of_row_order(tmp_path: Path):
    assert_rebuild_identical_and_order_free(tmp_path, "helpsteer", "helpsteer")


def test_helpsteer_missing_rating_field_names_file_and_field(tmp_path: Path):
    rows = [{k: v for k, v in row.items() if k != "correctness"} for row in raw_rows("helpsteer")]
    folder = tmp_path / "mirror" / "helpsteer"
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(SourceFormatError, match=r"train\.jsonl.*'correctness'"):
        build(tmp_path / "out", "helpsteer", sources=str(tmp_path / "mirror"))


# ---- PRM800K -----------------------------------------------------------------------------------


def usable_found_error(sample: dict) -> bool:
    question, steps = sample["question"], sample["question"].get("pre_generated_steps")
    return (
        sample["label"]["finish_reason"] == "found_error"
        and bool((question.get("ground_truth_solution") or "").strip())
        and bool(steps)
        and all(s is not None for s in steps)
        and bool("\n".join(steps).strip())
    )


def test_prm800k_pairs_ground_truth_against_a_found_error_sample(tmp_path: Path):
    out, manifest, _ = build(tmp_path, "prm800k_pairs_phase2")
    samples = raw_rows("prm800k_phase2")
    by_problem: dict[str, list[dict]] = defaultdict(list)
    for sample in samples:
        by_problem[sample["question"]["problem"].strip()].append(sample)
    assert out.height > 0
    seen = set()
    for row in out.iter_rows(named=True):
        problem = row["chosen"][0]["content"]
        assert row["chosen"][0] == row["rejected"][0] == {"role": "user", "content": problem}
        assert problem not in seen
        seen.add(problem)
        candidates = [s for s in by_problem[problem] if usable_found_error(s)]
        matches = [s for s in candidates if "\n".join(s["question"]["pre_generated_steps"]).strip() == row["rejected"][1]["content"]]
        assert matches, "rejected is not the joined steps of a usable found_error sample of this problem"
        assert row["chosen"][1]["content"] in {s["question"]["ground_truth_solution"].strip() for s in matches}
    expected = {p for p, group in by_problem.items() if any(usable_found_error(s) for s in group)}
    assert seen == expected
    skipped = set(by_problem) - expected
    notes = manifest["notes"]["prm800k_problems"]
    assert notes["skipped (no usable found_error sample)"] == len(skipped) > 0
    dropped = manifest["dropped"]
    assert dropped["found_error sample unusable: no ground-truth solution, no pre-generated steps, or a null step"] == sum(
        s["label"]["finish_reason"] == "found_error" and not usable_found_error(s) for s in samples
    )
    assert dropped["found_error sample not picked (one pair per problem)"] == sum(map(usable_found_error, samples)) - out.height


def test_prm800k_rebuild_is_byte_identical_and_independent_of_row_order(tmp_path: Path):
    assert_rebuild_identical_and_order_free(tmp_path, "prm800k_pairs_phase2", "prm800k_phase2")


def test_prm800k_missing_nested_field_names_file_and_field(tmp_path: Path):
    rows = raw_rows("prm800k_phase2")
    for row in rows:
        del row["question"]["ground_truth_solution"]
    folder = tmp_path / "mirror" / "prm800k_phase2"
    folder.mkdir(parents=True)
    (folder / sample_files("prm800k_phase2")[0].name).write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(SourceFormatError, match=r"phase2_train\.jsonl.*'question\.ground_truth_solution'"):
        build(tmp_path / "out", "prm800k_pairs_phase2", sources=str(tmp_path / "mirror"))
