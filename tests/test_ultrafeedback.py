"""The UltraFeedback family, built from the bundled samples and checked row by row against the raw rows.

Each rule is re-read here in plain Python (json.loads, loops) straight from the sample files, and every
output row is checked against it; the planted edge cases (tests/make_ultrafeedback_samples.py) fix the
drop counts.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from make_ultrafeedback_samples import PLANTED, PLANTED_DEFECTS, TRUTHFULQA, completion, r
from make_ultrafeedback_samples import row as raw_row

from tulu_data.build import Builder
from tulu_data.catalog import load_catalog
from tulu_data.errors import SourceFormatError
from tulu_data.sources import SAMPLES_DIR
from tulu_data.writer import read_manifest, read_splits

UF_SAMPLES = SAMPLES_DIR / "ultrafeedback"
TQA_SAMPLES = SAMPLES_DIR / "truthful_qa"
ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
PER_SOURCE = ("evol_instruct", "false_qa", "flan_v2", "sharegpt", "truthful_qa", "ultrachat")
UF_DATASETS = (
    "ultrafeedback_mean_aspects",
    "ultrafeedback_overall",
    *(f"ultrafeedback_{a}" for a in ASPECTS),
    *(f"ultrafeedback_{s}" for s in PER_SOURCE),
    "ultrafeedback_binarized_cleaned",
    "ultrafeedback_prompts",
)
Score = Callable[[dict], float | None]


# ---- the rules, read again in plain Python ---------------------------------------------------------


def raw_rows(folder: Path = UF_SAMPLES) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("*.jsonl")) for line in f.read_text().splitlines() if line]


TQA_QUESTIONS = {q.strip() for q in pl.read_parquet(next(TQA_SAMPLES.rglob("*.parquet")))["question"]}


def group_of(source: str) -> str:
    return "flan_v2" if source.startswith("flan") else source


def is_truthfulqa(row: dict) -> bool:
    return row["source"] == "truthful_qa" or row["instruction"].strip() in TQA_QUESTIONS


def prompts_of(rows: list[dict], keep: Callable[[dict], bool]) -> dict[tuple[str, str], dict]:
    """(source, stripped instruction) -> raw row, for rows with an instruction, completions and `keep`."""
    out: dict[tuple[str, str], dict] = {}
    for row in rows:
        if row["instruction"].strip() and row["completions"] and keep(row):
            key = (row["source"], row["instruction"].strip())
            assert key not in out or out[key] == row, "samples should repeat a prompt only as an exact duplicate"
            out[key] = row
    return out


def mean_score(c: dict) -> float | None:
    ratings = [float(c["annotations"][a]["Rating"]) for a in ASPECTS if c["annotations"][a]["Rating"] != "N/A"]
    return sum(ratings) / len(ratings) if ratings else None


def aspect_score(aspect: str) -> Score:
    def score(c: dict) -> float | None:
        rating = c["annotations"][aspect]["Rating"]
        return None if rating == "N/A" else float(rating)

    return score


def overall_score(c: dict) -> float | None:
    return c["overall_score"]


def usable(row: dict, score: Score) -> list[tuple[float, str, dict]]:
    """(score, stripped text, completion) of the completions the rules may use."""
    out = []
    for c in row["completions"]:
        text = (c["response"] or "").strip()
        ratings_ok = all(c["annotations"][a]["Rating"] in ("1", "2", "3", "4", "5", "N/A") for a in ASPECTS)
        if text and ratings_ok and score(c) is not None:
            out.append((score(c), text, c))
    return out


def gives_pair(row: dict, score: Score, strict: bool) -> bool:
    """Whether the rule gives this prompt a pair, whichever tied-best completion the draw picks."""
    scored = usable(row, score)
    if len(scored) < 2:
        return False
    best = max(s for s, _, _ in scored)
    outcomes = set()
    for i, (s_i, chosen, _) in enumerate(scored):
        if s_i == best:
            others = [(s, t) for j, (s, t, _) in enumerate(scored) if j != i and (s < best or not strict)]
            outcomes.add(any(t != chosen for _, t in others))
    assert len(outcomes) == 1, "the samples keep the expected set independent of the draw"
    return outcomes.pop()


def check_pair(row: dict, pair: dict, score: Score, strict: bool) -> None:
    """One output row against its raw row: chosen is best-scored, rejected a lower (or other) completion."""
    scored = usable(row, score)
    best = max(s for s, _, _ in scored)
    chosen, rejected = pair["chosen"][-1]["content"], pair["rejected"][-1]["content"]
    assert pair["chosen"][:-1] == pair["rejected"][:-1] == [{"role": "user", "content": row["instruction"].strip()}]
    assert pair["chosen"][-1]["role"] == pair["rejected"][-1]["role"] == "assistant"
    assert (best, chosen) in {(s, t) for s, t, _ in scored}, "chosen must be a highest-scored completion"
    assert pair["score_chosen"] == pytest.approx(best)
    assert (pair["score_rejected"], rejected) in {(s, t) for s, t, _ in scored}
    assert rejected != chosen
    if strict:
        assert pair["score_rejected"] < pair["score_chosen"]


def check_dataset(rows: pl.DataFrame, expected: dict[tuple[str, str], dict], score: Score, strict: bool) -> None:
    """Every output row obeys the rule, and the output holds exactly the prompts that can give a pair."""
    got = {}
    for pair in rows.iter_rows(named=True):
        key = (pair["source"], pair["chosen"][0]["content"])
        assert key not in got, f"two pairs for {key}"
        got[key] = pair
        assert key in expected, f"{key} should have been dropped"
        check_pair(expected[key], pair, score, strict)
    want = {k for k, row in expected.items() if gives_pair(row, score, strict)}
    assert set(got) == want
    assert rows["id"].n_unique() == rows.height
    assert rows["id"].str.contains(r"^[0-9a-f]{16}$").all()


# ---- builds -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, tuple[dict[str, pl.DataFrame], dict]]:
    out = tmp_path_factory.mktemp("uf_builds")
    builder = Builder(catalog=load_catalog(), sources="samples", out=out)
    result = {}
    for name in UF_DATASETS:
        path = builder.build(name)
        result[name] = (read_splits(path), read_manifest(path))
    return result


def test_mean_aspects_follows_the_rule_row_by_row(built):
    splits, _ = built["ultrafeedback_mean_aspects"]
    expected = prompts_of(raw_rows(), lambda r: not is_truthfulqa(r))
    check_dataset(splits["train"], expected, mean_score, strict=True)


def test_mean_aspects_counts_every_planted_drop(built):
    _, manifest = built["ultrafeedback_mean_aspects"]
    assert manifest["dropped"] == PLANTED
    raw = raw_rows()
    assert manifest["rows_in"] == {"ultrafeedback": len(raw), "truthful_qa": len(TRUTHFULQA)}
    kept = manifest["rows_out"]["train"]
    prompt_drops = sum(n for reason, n in PLANTED.items() if not reason.startswith("completion:"))
    assert kept + prompt_drops == len(raw)


@pytest.mark.parametrize("aspect", ASPECTS)
def test_aspect_splits_follow_the_rule_row_by_row(built, aspect):
    splits, manifest = built[f"ultrafeedback_{aspect}"]
    expected = prompts_of(raw_rows(), lambda r: not is_truthfulqa(r))
    check_dataset(splits["train"], expected, aspect_score(aspect), strict=True)
    na = sum(
        1
        for row in expected.values()
        for c in row["completions"]
        if (c["response"] or "").strip()
        and all(c["annotations"][a]["Rating"] in ("1", "2", "3", "4", "5", "N/A") for a in ASPECTS)
        and c["annotations"][aspect]["Rating"] == "N/A"
    )
    assert manifest["dropped"].get(f"completion: {aspect} rating is N/A", 0) == na


@pytest.mark.parametrize("group", PER_SOURCE)
def test_per_source_splits_follow_the_rule_row_by_row(built, group):
    splits, manifest = built[f"ultrafeedback_{group}"]
    if group == "truthful_qa":
        expected = prompts_of(raw_rows(), lambda r: r["source"] == "truthful_qa")
    else:
        expected = prompts_of(raw_rows(), lambda r: group_of(r["source"]) == group and not is_truthfulqa(r))
    check_dataset(splits["train"], expected, mean_score, strict=True)
    unique = {json.dumps(r, sort_keys=True): r for r in raw_rows()}.values()  # exact duplicates are read once
    other = sum(1 for r in unique if group_of(r["source"]) != group)
    assert manifest["dropped"][f"other UltraFeedback source (this split is {group} only)"] == other


def test_per_source_splits_partition_mean_aspects(built):
    """Same rule, same keyed draws: the per-source pairs (TruthfulQA aside) are exactly the mean-aspects pairs."""
    mean = built["ultrafeedback_mean_aspects"][0]["train"].sort("id")
    parts = [built[f"ultrafeedback_{g}"][0]["train"] for g in PER_SOURCE if g != "truthful_qa"]
    assert pl.concat(parts).sort("id").equals(mean)


def test_overall_follows_the_h4_rule_within_the_mean_aspects_prompts(built):
    splits, manifest = built["ultrafeedback_overall"]
    mean = built["ultrafeedback_mean_aspects"][0]["train"]
    mean_keys = {(s, c[0]["content"]) for s, c in mean.select("source", "chosen").iter_rows()}
    candidates = prompts_of(raw_rows(), lambda r: not is_truthfulqa(r))
    expected = {k: r for k, r in candidates.items() if k in mean_keys}
    # A defective completion is never chosen while a sound one ties with it; if all best are defective,
    # the prompt is dropped.
    defective = {k for k, r in expected.items() if all(is_defect(c) for c in best_completions(r, overall_score))}
    assert defective, "the samples plant a defective best completion"
    check_dataset(splits["train"], {k: r for k, r in expected.items() if k not in defective}, overall_score, strict=False)
    assert not any(chosen_is_defective(expected[(p["source"], p["chosen"][0]["content"])], p)
                   for p in splits["train"].iter_rows(named=True))
    assert manifest["dropped"]["prompt not in ultrafeedback_mean_aspects"] == len(candidates) - len(expected)
    assert sum(v for k, v in manifest["dropped"].items() if "overall_score defect" in k) == len(defective)


def is_defect(c: dict) -> bool:
    return c["overall_score"] == 10 and c["fine-grained_score"] <= 2


def chosen_is_defective(raw: dict, pair: dict) -> bool:
    text = pair["chosen"][-1]["content"]
    return any(is_defect(c) for c in raw["completions"] if (c["response"] or "").strip() == text)


def best_completions(row: dict, score: Score) -> list[dict]:
    scored = usable(row, score)
    best = max(s for s, _, _ in scored)
    return [c for s, _, c in scored if s == best]


def test_binarized_cleaned_splits(built):
    splits, manifest = built["ultrafeedback_binarized_cleaned"]
    assert set(splits) == {"train_prefs", "train_sft", "train_gen", "test_prefs", "test_sft", "test_gen"}
    train, test = splits["train_prefs"], splits["test_prefs"]
    n = train.height + test.height
    assert test.height == min(2000, max(2, n // 10)) and splits["test_sft"].height == test.height // 2
    assert set(train["id"]).isdisjoint(test["id"])
    assert splits["test_sft"]["id"].to_list() == test["id"].to_list()[: test.height // 2]
    for name in ("train_sft", "train_gen"):
        assert splits[name]["id"].to_list() == train["id"].to_list()
    for name, df in splits.items():
        for row in df.iter_rows(named=True):
            assert row["prompt"] == row["chosen"][0]["content"]
            assert row["prompt_id"] == hashlib.sha256(row["prompt"].encode()).hexdigest()
            assert row["messages"] == (row["chosen"][:-1] if name.endswith("_gen") else row["chosen"])
    expected = prompts_of(raw_rows(), lambda r: not is_truthfulqa(r))
    pairs = pl.concat([train, test])
    for pair in pairs.iter_rows(named=True):
        row = expected[(pair["source"], pair["prompt"])]
        check_pair(row, pair, overall_score, strict=False)
        assert not chosen_is_defective(row, pair)
    assert manifest["notes"]["test_rows"] == {"test_prefs": test.height, "test_sft": test.height // 2}


def test_prompts_one_user_turn_per_distinct_prompt(built):
    splits, _ = built["ultrafeedback_prompts"]
    df = splits["train"]
    texts = [p[0]["content"] for p in df["prompt"]]
    assert all(len(p) == 1 and p[0]["role"] == "user" for p in df["prompt"])
    want = {r["instruction"].strip() for r in raw_rows() if r["instruction"].strip() and not is_truthfulqa(r)}
    assert sorted(texts) == sorted(want)
    assert df["id"].n_unique() == df.height


def test_no_truthfulqa_prompt_anywhere_but_its_own_split(built):
    for name in UF_DATASETS:
        splits, _ = built[name]
        for df in splits.values():
            column = "prompt" if name == "ultrafeedback_prompts" else "chosen"
            users = {conv[0]["content"] for conv in df[column]}
            if name == "ultrafeedback_truthful_qa":
                assert users and users <= TQA_QUESTIONS
                continue
            assert not users & TQA_QUESTIONS, name
            assert "truthful_qa" not in set(df["source"]), name


def test_defect_count_is_noted_in_every_manifest(built):
    for name in UF_DATASETS:
        assert built[name][1]["notes"]["overall_score_defect_completions"] == PLANTED_DEFECTS, name


def test_ties_at_the_top_are_a_keyed_draw(tmp_path):
    """The three tied best completions of a sample prompt: different seeds pick different ones."""
    prompt = "Give three tips for writing clear commit messages."
    chosen = set()
    for seed in range(8):
        builder = Builder(catalog=load_catalog(), sources="samples", out=tmp_path / str(seed), seed=seed)
        df = read_splits(builder.build("ultrafeedback_mean_aspects"))["train"]
        row = df.filter(pl.col("chosen").list.first().struct.field("content") == prompt)
        chosen.add(row["chosen"][0][-1]["content"])
    assert len(chosen) > 1


# ---- reproducibility ----------------------------------------------------------------------------


def data_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "data").iterdir())}


def test_rebuild_is_byte_identical(tmp_path, built):
    for name in ("ultrafeedback_mean_aspects", "ultrafeedback_binarized_cleaned"):
        first = Builder(catalog=load_catalog(), sources="samples", out=tmp_path / "a").build(name)
        second = Builder(catalog=load_catalog(), sources="samples", out=tmp_path / "b", force=True).build(name)
        assert data_bytes(first) == data_bytes(second)
        assert read_manifest(first)["content_hash"] == read_manifest(second)["content_hash"]


def test_shuffled_input_gives_identical_output(tmp_path):
    """Rows shuffled and dealt into the six upstream files differently: the same bytes out."""
    rows = raw_rows()
    random.Random(7).shuffle(rows)
    mirror = tmp_path / "mirror"
    names = sorted(p.name for p in UF_SAMPLES.glob("*.jsonl"))
    for i, name in enumerate(names):
        part = mirror / "ultrafeedback" / name
        part.parent.mkdir(parents=True, exist_ok=True)
        part.write_text("".join(json.dumps(r) + "\n" for r in rows[i :: len(names)]))
    shutil.copytree(TQA_SAMPLES, mirror / "truthful_qa")
    catalog = load_catalog()
    for name in ("ultrafeedback_mean_aspects", "ultrafeedback_overall", "ultrafeedback_binarized_cleaned",
                 "ultrafeedback_prompts", "ultrafeedback_honesty"):
        ours = Builder(catalog=catalog, sources="samples", out=tmp_path / "samples").build(name)
        theirs = Builder(catalog=catalog, sources=str(mirror), out=tmp_path / "mirror_out").build(name)
        assert data_bytes(ours) == data_bytes(theirs), name


# ---- bad input ----------------------------------------------------------------------------------


def broken_mirror(tmp_path: Path, edit: Callable[[dict], dict], file: str) -> Path:
    mirror = tmp_path / "broken"
    shutil.copytree(UF_SAMPLES, mirror / "ultrafeedback")
    shutil.copytree(TQA_SAMPLES, mirror / "truthful_qa")
    path = mirror / "ultrafeedback" / file
    path.write_text("".join(json.dumps(edit(json.loads(line))) + "\n" for line in path.read_text().splitlines()))
    return mirror


def test_file_without_completions_fails_naming_file_and_field(tmp_path):
    mirror = broken_mirror(tmp_path, lambda r: {k: v for k, v in r.items() if k != "completions"}, "flan.jsonl")
    builder = Builder(catalog=load_catalog(), sources=str(mirror), out=tmp_path / "out")
    with pytest.raises(SourceFormatError, match=r"flan\.jsonl.*'completions'"):
        builder.build("ultrafeedback_mean_aspects")


def test_completions_without_ratings_fail_naming_file_and_field(tmp_path):
    def drop_annotations(row: dict) -> dict:
        return {**row, "completions": [{k: v for k, v in c.items() if k != "annotations"} for c in row["completions"]]}

    mirror = broken_mirror(tmp_path, drop_annotations, "sharegpt.jsonl")
    builder = Builder(catalog=load_catalog(), sources=str(mirror), out=tmp_path / "out")
    with pytest.raises(SourceFormatError, match=r"sharegpt\.jsonl.*completions\[\]\.annotations\.helpfulness\.Rating"):
        builder.build("ultrafeedback_mean_aspects")


def test_parquet_mirror_and_off_type_values_give_identical_output(tmp_path):
    """The same rows as parquet files give the same bytes as the bundled JSON lines; scores written as
    strings in every row of a file are never coerced: the file has the wrong shape, and the error names
    the file, the field and the first line."""
    parquet = tmp_path / "parquet"
    (parquet / "ultrafeedback").mkdir(parents=True)
    for path in sorted(UF_SAMPLES.glob("*.jsonl")):
        pl.read_ndjson(path, infer_schema_length=None).write_parquet(parquet / "ultrafeedback" / f"{path.stem}.parquet")
    shutil.copytree(TQA_SAMPLES, parquet / "truthful_qa")

    def score_as_text(row: dict) -> dict:
        return {**row, "completions": [{**c, "overall_score": str(c["overall_score"])} for c in row["completions"]]}

    off_type = broken_mirror(tmp_path, score_as_text, "evol_instruct.jsonl")
    catalog = load_catalog()
    for name in ("ultrafeedback_mean_aspects", "ultrafeedback_binarized_cleaned"):
        ours = Builder(catalog=catalog, sources="samples", out=tmp_path / "samples").build(name)
        theirs = Builder(catalog=catalog, sources=str(parquet), out=tmp_path / "out_parquet").build(name)
        assert data_bytes(ours) == data_bytes(theirs), name
        with pytest.raises(SourceFormatError, match=r"evol_instruct\.jsonl: field 'completions' .* line 1: "
                           r"completions\[\]\.overall_score: text where a number is expected"):
            Builder(catalog=catalog, sources=str(off_type), out=tmp_path / "out_off").build(name)


# ---- the old overall_score defect among tied best completions (issue 11) ----------------------------

DEFECT_DROP = "chosen completion has the old overall_score defect (overall_score 10, fine-grained_score <= 2)"


def tied_with_a_defect(i: int) -> dict:
    """The issue's rows: overall scores [10 with fine-grained 1.0, 10 with fine-grained 5.0, 8, 6]."""
    return raw_row("evol_instruct", f"Name a prime number greater than {i}.", [
        completion("pythia-12b", r(1, 1, 1, 1), f"Defective answer {i}.", overall=10.0),
        completion("gpt-4", r(5, 5, 5, 5), f"The prime {i} answer.", overall=10.0),
        completion("alpaca-7b", r(4, 4, 4, 4), f"An eight answer {i}.", overall=8.0),
        completion("vicuna-33b", r(3, 3, 3, 3), f"A six answer {i}.", overall=6.0),
    ])  # fmt: skip


def only_defects_at_the_top(i: int) -> dict:
    """Every best completion is defective (one alone, or two tied): no usable chosen, the prompt is dropped."""
    top = [completion("pythia-12b", r(1, 2, 1, 2), f"Broken top {i}.", overall=10.0)]
    if i % 2:
        top.append(completion("falcon-40b", r(2, 2, 2, 2), f"Second broken top {i}.", overall=10.0))
    return raw_row("sharegpt", f"Explain item {i} of the list.", [
        *top,
        completion("alpaca-7b", r(4, 4, 4, 4), f"Plain answer {i}.", overall=8.0),
        completion("vicuna-33b", r(3, 3, 3, 3), f"Weak answer {i}.", overall=6.0),
    ])  # fmt: skip


def test_a_defective_completion_is_left_out_of_the_tied_best_draw(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(UF_SAMPLES, mirror / "ultrafeedback")
    shutil.copytree(TQA_SAMPLES, mirror / "truthful_qa")
    tied = [tied_with_a_defect(i) for i in range(12)]
    broken = [only_defects_at_the_top(i) for i in range(4)]
    for raw in tied + broken:  # appended to the upstream files they name as source
        with (mirror / "ultrafeedback" / f"{raw['source']}.jsonl").open("a") as handle:
            handle.write(json.dumps(raw) + "\n")
    builder = Builder(catalog=load_catalog(), sources=str(mirror), out=tmp_path / "out")
    for name, split in (("ultrafeedback_overall", "train"), ("ultrafeedback_binarized_cleaned", None)):
        path = builder.build(name)
        splits, manifest = read_splits(path), read_manifest(path)
        pairs = pl.concat([splits[split]] if split else [splits["train_prefs"], splits["test_prefs"]])
        by_prompt = {c[0]["content"]: (c, rej, sc) for c, rej, sc in pairs.select("chosen", "rejected", "score_chosen").iter_rows()}
        for i, raw in enumerate(tied):
            chosen, rejected, score = by_prompt[raw["instruction"]]  # every prompt of the issue keeps its pair
            assert chosen[-1]["content"] == f"The prime {i} answer." and score == 10.0, name
            assert rejected[-1]["content"] != chosen[-1]["content"]
        assert not {raw["instruction"] for raw in broken} & set(by_prompt), name
        assert manifest["dropped"][DEFECT_DROP] == len(broken) + 1, name  # + the sample's defective best
