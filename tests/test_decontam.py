"""Decontamination: planted copies of sample eval prompts are found (and only they), at the rule's edges,
counted in manifest and card, whatever the row order; the column-wise scan equals a per-row Python scan."""

from __future__ import annotations

import json
import random
from collections import Counter

import polars as pl
import pytest
from decontam_support import (
    lightly_edited,
    make_catalog,
    mirror,
    near_miss,
    partial,
    sample_questions,
    write_mixture,
)

from tulu_data import ops
from tulu_data.build import Builder
from tulu_data.catalog import load_catalog
from tulu_data.decontam.apply import eval_instances
from tulu_data.decontam.index import build_index, match
from tulu_data.decontam.reference import reference_matches
from tulu_data.decontam.step import DecontamConfig, decontaminate
from tulu_data.decontam.text import py_tokens, row_segments
from tulu_data.errors import CatalogError

FILLER = "please answer the following question carefully and show your work"


def _sft(prompts: list[str], label: str = "src") -> pl.DataFrame:
    rows = [
        {"dataset": label, "id": f"row{i}", "messages": [{"role": "user", "content": p}, {"role": "assistant", "content": "ok"}]}
        for i, p in enumerate(prompts)
    ]
    return pl.DataFrame(rows, schema=ops.SFT_SCHEMA)


def _index(ngram: int = 8):
    builder = Builder(catalog=load_catalog(), sources="samples")
    return build_index(eval_instances(builder, ("gsm8k",)), ngram)


def test_planted_variants_match_exactly_the_expected_rows():
    q = sample_questions()
    prompts = [
        f"{FILLER}: {q[0]}",  # verbatim inside a longer prompt
        lightly_edited(q[1]),  # case, whitespace, punctuation
        partial(q[2], 0.3),  # only 30% of the tokens
        near_miss(q[3]),  # unrelated near-miss: words shared, no 8-gram
        "A baker bakes bread every morning before the shop opens.",  # unrelated
    ]
    df = _sft(prompts)
    kept, record = decontaminate(df, _index(), DecontamConfig(("gsm8k",)), drops := Counter())
    assert kept["id"].to_list() == ["row2", "row3", "row4"]
    assert record["rows_matched"] == 2
    assert record["evals"]["gsm8k"]["overlapped"] == 2 and record["evals"]["gsm8k"]["instances"] == len(q)
    assert drops == Counter({"decontamination: overlaps an eval set (src)": 2})
    example = record["examples"]["gsm8k"][0]
    assert example["row_id"] == "row0" and example["coverage"] == 1.0
    assert example["span"] == " ".join(py_tokens(q[0]))


def test_threshold_edges():
    q = next(x for x in sample_questions() if len(py_tokens(x)) % 2 == 0)
    toks = py_tokens(q)
    n = len(toks)
    half = " ".join(toks[: n // 2])  # exactly half covered when n is even
    assert n % 2 == 0 and n // 2 >= 8
    over = " ".join(toks[: n // 2 + 1])
    df = _sft([half, over, " ".join(toks[:8]), " ".join(toks[:7])])
    index = _index()
    kept, rec = decontaminate(df, index, DecontamConfig(("gsm8k",), threshold=0.5))
    assert sorted(set(df["id"]) - set(kept["id"])) == ["row1"]  # > 50%, not >= 50%
    kept, rec = decontaminate(df, index, DecontamConfig(("gsm8k",), threshold=0.0))
    assert sorted(set(df["id"]) - set(kept["id"])) == ["row0", "row1", "row2"]  # any shared 8-gram; 7 words are not one
    kept, rec = decontaminate(df, _index(7), DecontamConfig(("gsm8k",), ngram=7, threshold=0.0))
    assert len(kept) == 0


def test_flag_keeps_rows_and_names_the_evals():
    q = sample_questions()
    df = _sft([q[0], "nothing to see here at all today my friend"])
    flagged, rec = decontaminate(df, _index(), DecontamConfig(("gsm8k",), action="flag"))
    assert flagged.height == 2 and flagged["contaminated_by"].to_list() == [["gsm8k"], []]


def test_column_scan_equals_per_row_python_scan():
    rng = random.Random(7)
    q = sample_questions() + sample_questions("hendrycks_math", "problem") + sample_questions("tydiqa", "question")
    q += ["Combien de CAFÉS a-t-elle bus avant l'Épreuve finale du marathon de Paris hier soir ?"]
    vocab = [w for text in q for w in text.split()] + [f"w{i}" for i in range(50)] + ["ﬁne", "Ｈello", "naïve"]
    rows = []
    for _ in range(300):
        turns = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 30)))]
        if rng.random() < 0.3:
            words = rng.choice(q).split()
            a = rng.randint(0, len(words))
            turns.append(" ".join(words[a : a + rng.randint(1, len(words))]))
        rows.append(turns)
    instances = pl.DataFrame([("e", str(i), t) for i, t in enumerate(q)], schema=["eval", "instance", "text"], orient="row")
    segments = pl.DataFrame([(r, t) for r, ts in enumerate(rows) for t in ts], schema={"row": pl.UInt32, "text": pl.String}, orient="row")
    for ngram, threshold in ((8, 0.5), (5, 0.0), (3, 0.3)):
        pairs, _ = match(build_index(instances, ngram), segments, threshold)
        got = {(r, i): c for r, i, c in pairs.select("row", "inst", "coverage").iter_rows()}
        ref = reference_matches(rows, list(instances.iter_rows()), ngram, threshold)
        assert got.keys() == ref.keys() and len(ref) > 0
        assert all(abs(got[k] - ref[k]) < 1e-12 for k in ref)


def test_fields_user_turns_and_all_turns():
    df = pl.DataFrame(
        [{"id": "a", "source": "s", "chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yes"}],
          "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "no"}]}]
    )
    assert row_segments(df, "user_turns")["text"].to_list() == ["hi"]
    assert row_segments(df, "all_turns")["text"].to_list() == ["hi", "yes", "no"]


def _build_mixture(tmp_path, root, step: dict, seed: int = 42):
    folder = write_mixture(tmp_path / "mixtures", "mix", {"description": "d", "license": "mit", "parts": [{"dataset": "qa_small"}], "decontaminate": step})
    builder = Builder(catalog=make_catalog(), sources=str(root), out=tmp_path / f"out-{root.name}", mixtures=folder, seed=seed)
    path = builder.build("mix")
    return path, json.loads((path / "manifest.json").read_text()), (path / "README.md").read_text()


def _planted_questions() -> list[str]:
    q = sample_questions()
    m = sample_questions("hendrycks_math", "problem")
    return [q[0], lightly_edited(q[1]), partial(q[2]), near_miss(q[3]), m[0], "How do I bake bread at home without yeast?"]


def test_mixture_step_counts_in_manifest_and_card_and_is_order_independent(tmp_path):
    questions = _planted_questions()
    step = {"against": ["default"], "ngram": 8, "threshold": 0.5}
    path, manifest, card = _build_mixture(tmp_path, mirror(tmp_path, questions), step)
    assert manifest["rows_out"] == {"train": 3}
    assert manifest["dropped"] == {"decontamination: overlaps an eval set (qa_small)": 3}
    rec = manifest["decontamination"]["splits"]["train"]
    assert rec["by_source"] == {
        "qa_small": {
            "gsm8k": {"rows_matched": 2, "instances_overlapped": 2, "share": 0.4, "contaminated": True},
            "hendrycks_math": {"rows_matched": 1, "instances_overlapped": 1, "share": 0.25, "contaminated": True},
        }
    }
    assert {s["key"] for s in rec["eval_sources"]} == {"gsm8k", "hendrycks_math"}
    assert "## Decontamination against eval sets" in card
    assert "| qa_small | gsm8k | 2 | 2 | 40.00% | yes |" in card
    kept = pl.read_parquet(path / "data")
    assert sorted(c[0]["content"] for c in kept["chosen"].to_list()) == sorted([questions[2], questions[3], questions[5]])

    path2, manifest2, _ = _build_mixture(tmp_path, mirror(tmp_path, questions, "mirror-reversed", reverse=True), step)
    assert manifest2["content_hash"] == manifest["content_hash"]
    assert manifest2["decontamination"]["splits"]["train"]["examples"] == rec["examples"]


def test_changed_eval_file_changes_the_fingerprint(tmp_path):
    root = mirror(tmp_path, _planted_questions())
    _, first, _ = _build_mixture(tmp_path, root, {"against": ["math_only"]})
    _, again, _ = _build_mixture(tmp_path, root, {"against": ["math_only"]})
    assert again["fingerprint"] == first["fingerprint"]
    target = next((root / "hendrycks_math").rglob("*.parquet"))
    pl.read_parquet(target).head(1).write_parquet(target)
    _, changed, _ = _build_mixture(tmp_path, root, {"against": ["math_only"]})
    assert changed["fingerprint"] != first["fingerprint"]


def test_dataset_parameter_runs_the_step(tmp_path):
    root = mirror(tmp_path, _planted_questions())
    catalog = make_catalog(params={"decontaminate": {"against": ["gsm8k"], "action": "flag"}})
    path = Builder(catalog=catalog, sources=str(root), out=tmp_path / "out").build("qa_small")
    manifest = json.loads((path / "manifest.json").read_text())
    df = pl.read_parquet(path / "data")
    assert df.height == 6 and sum(bool(x) for x in df["contaminated_by"].to_list()) == 2
    assert manifest["decontamination"]["splits"]["train"]["rows_matched"] == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"decontaminate": {"against": ["nope"]}}, "unknown eval set 'nope'"),
        ({"decontaminate": {"threshold": 1.5}}, "'decontaminate.threshold' must be a number in [0, 1)"),
        ({"decontaminate": {"action": "delete"}}, "'decontaminate.action' must be drop or flag"),
        ({"decontaminate": {"ngrams": 8}}, "unknown field(s) ['ngrams']"),
        ({"dedup": {"near": {"bands": 7}}}, "must divide num_perm"),
    ],
)
def test_bad_step_parameters_name_the_entry_and_field(params, message):
    with pytest.raises(CatalogError) as err:
        make_catalog(params=params)
    assert "datasets.qa_small" in str(err.value) and message in str(err.value)


def test_every_default_eval_set_reads_from_the_samples():
    catalog = load_catalog()
    instances = eval_instances(Builder(catalog=catalog, sources="samples"), catalog.eval_sets["default"])
    counts = dict(instances.group_by("eval").len().iter_rows())
    assert set(counts) == set(catalog.eval_sets["default"]) and all(n >= 2 for n in counts.values())
    assert instances.filter(pl.col("eval") == "humaneval")["instance"].to_list()[0] == "HumanEval/0"
    mmlu = instances.filter(pl.col("eval") == "mmlu")["text"].to_list()[0]
    assert mmlu.endswith("\nTroposphere\nStratosphere\nMesosphere\nThermosphere")  # question + choices


def test_tokens_are_pinned_and_the_byte_level_path_agrees():
    from tulu_data.decontam.text import token_hashes

    assert py_tokens("Ｈello,  WORLD!! it's ﬁne_2\tx²") == ["hello", "world", "it", "s", "fine", "2", "x2"]
    texts = ["Ｈello, WORLD!!", "", "plain ascii text, with punctuation...", "café naïve ΣΑΣ", None, "a_b-c"]
    hashes, seg = token_hashes(pl.Series(texts, dtype=pl.String))
    for i, text in enumerate(texts):
        assert hashes[seg == i].tolist() == ops.stable_hash64(py_tokens(text)).tolist()


def test_unknown_eval_set_in_a_mixture_names_the_mixture(tmp_path):
    with pytest.raises(CatalogError) as err:
        _build_mixture(tmp_path, mirror(tmp_path, _planted_questions()), {"against": ["nope"]})
    assert "mixture mix" in str(err.value) and "unknown eval set 'nope'" in str(err.value)
