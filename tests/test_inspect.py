"""`tulu-data inspect`: figures on a dataset with known answers, the Tulu rendering, and the command itself."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from publish_helpers import msg, pair_row, pref_frame, write_pref_build
from typer.testing import CliRunner

from tulu_data import ops
from tulu_data.chat import render_tulu, tulu_text_expr
from tulu_data.cli import app
from tulu_data.errors import TuluDataError
from tulu_data.inspect import (
    inspect_figures,
    list_builds,
    load_any,
    load_tokenizer,
    manifest_figures,
    token_figures,
)

CHOSEN_LENGTHS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]


def known_rows() -> dict[str, list[dict]]:
    """10 train pairs and 4 test pairs whose figures are known by construction:

    - chosen reply longer in exactly rows 0-2 (3 of 10); row 3 is an identical pair; rows 4-9 rejected longer;
    - chosen reply lengths 10, 20, ..., 100;
    - scores: chosen = row number, rejected = 2 -> margin 0 once (row 2), negative twice (rows 0, 1);
    - turns: row 5 has a system turn (3 turns), rows 8 and 9 are 4-turn conversations, the rest 2 turns;
    - prompts: rows 8 and 9 share their prompt turns (1 prompt repeated, covering 2 rows);
      test rows 0 and 1 reuse train prompts P0 and P1 (2 prompts in both splits);
    - sources: rows 0-5 src_a, rows 6-9 src_b.
    """
    train = []
    for i, length in enumerate(CHOSEN_LENGTHS):
        chosen = str(i) * length
        if i < 3:
            rejected = "r" * 5
        elif i == 3:
            chosen = rejected = "x" * length
        else:
            rejected = "r" * 200
        prompt: list[dict] | str = f"P{i}"
        if i == 5:
            prompt = [msg("system", "Be brief."), msg("user", "P5")]
        if i in (8, 9):
            prompt = [msg("user", "P8"), msg("assistant", "first answer"), msg("user", "and then?")]
        train.append(pair_row(prompt, chosen, rejected, "src_a" if i < 6 else "src_b", float(i), 2.0))
    test = [
        pair_row("P0", "test chosen 0", "test rejected 0", "src_a"),
        pair_row("P1", "test chosen 1", "test rejected 1", "src_a"),
        pair_row("Q2", "test chosen 2", "test rejected 2", "src_c"),
        pair_row("Q3", "test chosen 3", "test rejected 3", "src_c"),
    ]
    return {"train": train, "test": test}


@pytest.fixture
def known_build(tmp_path: Path) -> Path:
    return write_pref_build(
        tmp_path / "out", "known", known_rows(), rows_in={"raw": 19}, dropped={"empty message": 3, "over the cap": 2}
    )


def test_figures_have_the_known_answers(known_build):
    loaded = load_any("known", known_build.parent)
    report = inspect_figures(loaded.splits, loaded.manifest)
    train, test = report["splits"]["train"], report["splits"]["test"]
    assert report["kind"] == "preference" and report["rows"] == 14
    assert train["rows"] == 10 and test["rows"] == 4
    assert train["sources"] == {"src_a": 6, "src_b": 4} and test["sources"] == {"src_a": 2, "src_c": 2}

    pref = train["preference"]
    assert (pref["chosen_longer"], pref["same_length"], pref["rejected_longer"]) == (3, 1, 6)
    assert pref["chosen_longer_share"] == 0.3
    assert pref["identical"] == 1
    assert pref["duplicate_pairs"] == {"repeated": 0, "rows": 0}

    assert train["turns"]["histogram"] == {2: 7, 3: 1, 4: 2}
    assert train["turns"]["summary"]["max"] == 4 and train["turns"]["summary"]["min"] == 2

    reply = train["chars"]["chosen_reply"]
    assert reply["count"] == 10 and reply["min"] == 10 and reply["max"] == 100 and reply["mean"] == 55
    assert reply["p50"] == 55 and reply["p25"] == 32.5 and reply["p75"] == 77.5  # linear interpolation
    assert train["chars"]["rejected_reply"]["max"] == 200 and train["chars"]["rejected_reply"]["min"] == 5

    scores = pref["scores"]
    assert scores["score_chosen"]["min"] == 0 and scores["score_chosen"]["max"] == 9
    assert scores["margin"]["p50"] == 2.5 and scores["margin"]["min"] == -2
    assert scores["margin_zero"] == 1 and scores["margin_negative"] == 2
    assert test["preference"]["scores"] is None  # no scores in the test split

    assert train["duplicate_prompts"] == {"repeated": 1, "rows": 2}
    assert test["duplicate_prompts"] == {"repeated": 0, "rows": 0}
    assert report["cross_split"]["prompts_in_several_splits"] == 2
    assert report["cross_split"]["rows_with_prompt_elsewhere"] == {"train": 2, "test": 2}

    man = report["manifest"]
    assert man["dropped_total"] == 5 and man["rows_in"] == {"raw": 19} and man["rows_out"] == {"test": 4, "train": 10}


def test_character_quantiles_match_an_independent_computation(known_build):
    """Prompt and conversation lengths, recomputed in plain Python + numpy from the rows."""
    rows = known_rows()["train"]
    figures = inspect_figures(load_any(str(known_build)).splits)["splits"]["train"]["chars"]
    expected = {
        "prompt": [sum(len(m["content"]) for m in r["chosen"][:-1]) for r in rows],
        "chosen": [sum(len(m["content"]) for m in r["chosen"]) for r in rows],
        "rejected_reply": [len(r["rejected"][-1]["content"]) for r in rows],
    }
    for field, values in expected.items():
        for label, q in (("p5", 0.05), ("p25", 0.25), ("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            assert figures[field][label] == pytest.approx(float(np.quantile(values, q)), abs=1e-3), (field, label)


def test_sft_figures(tmp_path):
    conv = [msg("user", "hello"), msg("assistant", "hi there")]
    df = pl.DataFrame(
        {"dataset": ["a", "a", "b"], "id": ["1", "2", "3"], "messages": [conv, conv, conv + [msg("user", "more"), msg("assistant", "ok")]]},
        schema={"dataset": pl.String, "id": pl.String, "messages": ops.MESSAGES},
    )
    fig = inspect_figures({"train": df})["splits"]["train"]
    assert fig["kind"] == "sft" and fig["sources"] == {"a": 2, "b": 1}
    assert fig["turns"]["histogram"] == {2: 2, 4: 1}
    assert fig["chars"]["reply"]["max"] == len("hi there") and fig["chars"]["reply"]["min"] == len("ok")
    assert fig["chars"]["messages"]["max"] == len("hellohi theremoreok")
    assert fig["duplicate_prompts"] == {"repeated": 1, "rows": 2}
    assert "preference" not in fig


def test_manifest_figures_without_manifest():
    assert manifest_figures(None) == {}


def test_render_tulu_format():
    messages = [msg("system", " Be kind. "), msg("user", "\nHi\n"), msg("assistant", " Hello! "), msg("user", "Bye")]
    assert render_tulu(messages) == "<|system|>\nBe kind.\n<|user|>\nHi\n<|assistant|>\nHello!</s>\n<|user|>\nBye"
    assert render_tulu(messages[:3], eos="<eos>") == "<|system|>\nBe kind.\n<|user|>\nHi\n<|assistant|>\nHello!<eos>"
    assert render_tulu(messages[:2], add_generation_prompt=True).endswith("<|user|>\nHi\n<|assistant|>\n")
    with pytest.raises(ValueError, match="no role 'tool'"):
        render_tulu([msg("tool", "x")])


def test_polars_rendering_agrees_with_render_tulu():
    rows = [r["chosen"] for r in known_rows()["train"]] + [[msg("user", "  spaced  "), msg("assistant", "\tanswer\n")], []]
    df = pl.DataFrame({"c": rows}, schema={"c": ops.MESSAGES})
    for gen in (False, True):
        rendered = df.select(tulu_text_expr(pl.col("c"), "</s>", gen)).to_series().to_list()
        assert rendered == [render_tulu(r, "</s>", gen) for r in rows]


def test_render_tulu_agrees_with_the_training_template():
    chat_format = pytest.importorskip("training.chat_format")
    for conv in [r["chosen"] for r in known_rows()["train"]]:
        assert render_tulu(conv, "</s>") == chat_format.render_tulu(conv, "</s>")
        assert render_tulu(conv[:-1], "<|end|>", True) == chat_format.render_tulu(conv[:-1], "<|end|>", add_generation_prompt=True)


@pytest.fixture(scope="module")
def word_tokenizer(tmp_path_factory) -> Path:
    """A local fast tokenizer: one token per whitespace-separated word, '</s>' a special token."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "</s>": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", eos_token="</s>")
    path = tmp_path_factory.mktemp("tok") / "word-tokenizer"
    fast.save_pretrained(str(path))
    return path


def test_token_lengths_with_a_fast_tokenizer(word_tokenizer):
    df = pref_frame(
        [
            pair_row("one two", "a b c", "d", "s"),
            pair_row([msg("system", "sys"), msg("user", "u v w x")], "a", "b c d e f", "s"),
        ]
    )
    tokens = token_figures({"train": df}, load_tokenizer(str(word_tokenizer)))["train"]
    # prompt: "<|user|>\none two\n<|assistant|>\n" = 4 words; row 2: <|system|> sys <|user|> u v w x <|assistant|> = 8
    assert (tokens["prompt"]["min"], tokens["prompt"]["max"]) == (4, 8)
    # replies: words + eos
    assert (tokens["chosen_reply"]["min"], tokens["chosen_reply"]["max"]) == (2, 4)
    assert (tokens["rejected_reply"]["min"], tokens["rejected_reply"]["max"]) == (2, 6)
    # whole conversations: "<|user|> one two <|assistant|> a b c </s>" = 8
    assert tokens["chosen"]["min"] == 8


def test_load_tokenizer_error_is_clear(tmp_path):
    with pytest.raises(TuluDataError, match="cannot load tokenizer"):
        load_tokenizer(str(tmp_path / "missing-tokenizer"))


def test_loads_files_and_plain_folders(tmp_path, known_build):
    rows = known_rows()["test"]
    pref_frame(rows).write_parquet(tmp_path / "ref.parquet")
    loaded = load_any(str(tmp_path / "ref.parquet"), tmp_path)
    assert list(loaded.splits) == ["train"] and loaded.splits["train"].height == 4
    folder = tmp_path / "plain"
    folder.mkdir()
    pref_frame(rows).write_ndjson(folder / "rows.jsonl")
    loaded = load_any(str(folder), tmp_path)
    assert loaded.splits["train"].height == 4 and loaded.manifest is None
    with pytest.raises(TuluDataError, match="no build of that name"):
        load_any("not_built", known_build.parent)
    with pytest.raises(TuluDataError, match="has no split 'nope'"):
        load_any("known", known_build.parent, split="nope")


def test_inspect_command_tables_json_samples_plot(known_build, tmp_path):
    out = known_build.parent
    runner = CliRunner()
    result = runner.invoke(app, ["inspect", "known", "--out", str(out), "--show", "1"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    text = result.output
    for title in ("rows per source", "lengths in characters", "preference pairs", "scores and margins", "duplicated prompts"):
        assert title in text
    assert "3 (30.0%)" in text  # chosen longer in the train split
    assert "dropped: empty message" in text
    assert "<|user|>" in text and "</s>" in text and "rejected reply" in text

    result = runner.invoke(app, ["inspect", "known", "--out", str(out), "--json", "--plot", str(tmp_path / "h.png")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["splits"]["train"]["preference"]["chosen_longer"] == 3
    assert report["cross_split"]["prompts_in_several_splits"] == 2
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    result = runner.invoke(app, ["inspect", "--out", str(out)], env={"COLUMNS": "160"})
    assert result.exit_code == 0 and "known" in result.output
    assert [b["name"] for b in list_builds(out)] == ["known"] and list_builds(out)[0]["rows"] == {"test": 4, "train": 10}

    result = runner.invoke(app, ["inspect", "missing", "--out", str(out)])
    assert result.exit_code == 1 and "no build of that name" in result.output


@pytest.fixture(scope="module")
def big_mixture(tmp_path_factory) -> Path:
    """preference_big_mixture (and its parts) built from the bundled samples with the real catalog."""
    from tulu_data.build import build

    out = tmp_path_factory.mktemp("pbm")
    build("preference_big_mixture", sources="samples", out=out)
    return out


def test_inspect_preference_big_mixture_from_samples(big_mixture):
    from collections import Counter

    from tulu_data.inspect import part_manifests_for

    loaded = load_any("preference_big_mixture", big_mixture)
    report = inspect_figures(loaded.splits, loaded.manifest, part_manifests=part_manifests_for(loaded.manifest, big_mixture))
    fig = report["splits"]["train"]
    rows = loaded.splits["train"].to_dicts()
    assert fig["rows"] == len(rows) == sum(p["given"] for p in loaded.manifest["parts"])
    assert fig["sources"] == dict(Counter(r["source"] for r in rows))
    replies = [(len(r["chosen"][-1]["content"]), len(r["rejected"][-1]["content"])) for r in rows]
    assert fig["preference"]["chosen_longer"] == sum(c > r for c, r in replies)
    assert fig["preference"]["rejected_longer"] == sum(c < r for c, r in replies)
    assert fig["preference"]["identical"] == sum(r["chosen"][-1]["content"].strip() == r["rejected"][-1]["content"].strip() for r in rows)
    prompts = Counter(json.dumps([(m["role"], m["content"].strip()) for m in r["chosen"][:-1]]) for r in rows)
    assert fig["duplicate_prompts"] == {"repeated": sum(n > 1 for n in prompts.values()), "rows": sum(n for n in prompts.values() if n > 1)}
    assert fig["turns"]["histogram"] == dict(sorted(Counter(len(r["chosen"]) for r in rows).items()))
    assert set(report["manifest"]["parts_dropped"]) == {p["name"] for p in loaded.manifest["parts"]}
    result = CliRunner().invoke(app, ["inspect", "preference_big_mixture", "--out", str(big_mixture)], env={"COLUMNS": "120"})
    assert result.exit_code == 0 and "dropped inside the parts" in result.output


def test_a_hub_id_with_the_hub_unreachable_fails_fast_and_says_so(tmp_path, monkeypatch):
    import time

    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    started = time.perf_counter()
    with pytest.raises(TuluDataError, match=r"Hugging Face Hub \(http://127.0.0.1:9\) is not reachable.*HF_HUB_OFFLINE=1"):
        load_any("some-org/some-dataset", tmp_path)
    assert time.perf_counter() - started < 10
