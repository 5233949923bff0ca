"""The Human/Assistant transcript parser, and the hh_rlhf and nectar builds checked row by row.

Each build is compared with a plain-Python reading of the rule (a regex split of the raw transcripts),
written independently of the polars implementation.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import re
import shutil
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from tulu_data.build import Builder
from tulu_data.catalog import load_catalog
from tulu_data.recipes.transcripts import (
    HAS_NUL,
    MISSING,
    NOT_ALTERNATING,
    NOT_HUMAN_FIRST,
    first_difference,
    parse_transcripts,
)
from tulu_data.sources import SAMPLES_DIR

# --------------------------------------------------------------------------------------------
# parser on strings


def parse_one(text: str | None) -> tuple[list[tuple[str, str]] | None, str | None]:
    row = parse_transcripts([text]).row(0, named=True)
    turns = None if row["problem"] else [(m["role"], m["content"]) for m in row["turns"]]
    return turns, row["problem"]


@pytest.mark.parametrize(
    "text, turns",
    [
        ("\n\nHuman: hi\n\nAssistant: hello", [("user", "hi"), ("assistant", "hello")]),
        # markers without the blank line before them are text, not turns
        ("\n\nHuman: say 'Assistant: no'\nHuman: ok?\n\nAssistant: Human: is a label",
         [("user", "say 'Assistant: no'\nHuman: ok?"), ("assistant", "Human: is a label")]),
        # leading whitespace, or no blank line before the very first marker, is tolerated
        ("   \n\nHuman: a\n\nAssistant: b", [("user", "a"), ("assistant", "b")]),
        ("Human: a\n\nAssistant: b", [("user", "a"), ("assistant", "b")]),
        # no space after the colon still marks a turn; contents are stripped
        ("\n\nHuman:x  \n\nAssistant:\ty ", [("user", "x"), ("assistant", "y")]),
        # a transcript ending mid-turn gives an empty last turn (dropped later by the empty-message rule)
        ("\n\nHuman: q\n\nAssistant:", [("user", "q"), ("assistant", "")]),
        ("\n\nHuman: q\n\nAssistant: a\n\nHuman: q2\n\nAssistant: a2",
         [("user", "q"), ("assistant", "a"), ("user", "q2"), ("assistant", "a2")]),
        # a single Human turn is well formed (whether it makes a pair is the recipe's business)
        ("\n\nHuman: only", [("user", "only")]),
    ],
)
def test_parser_splits_only_at_blank_line_markers(text, turns):
    assert parse_one(text) == (turns, None)


@pytest.mark.parametrize(
    "text, problem",
    [
        (None, MISSING),
        ("", NOT_HUMAN_FIRST),
        ("   ", NOT_HUMAN_FIRST),
        ("no markers at all", NOT_HUMAN_FIRST),
        ("Preamble\n\nHuman: a\n\nAssistant: b", NOT_HUMAN_FIRST),
        ("\n\nAssistant: I start\n\nHuman: ok", NOT_HUMAN_FIRST),
        ("\n\nHuman: a\n\nHuman: b\n\nAssistant: c", NOT_ALTERNATING),
        ("\n\nHuman: a\n\nAssistant: b\n\nAssistant: c", NOT_ALTERNATING),
        ("\n\nHuman: a\u0000b\n\nAssistant: c", HAS_NUL),
    ],
)
def test_parser_reports_malformed_transcripts(text, problem):
    assert parse_one(text) == (None, problem)


def test_first_difference_finds_the_first_differing_turn():
    def conv(*contents: str) -> list[dict]:
        return [{"role": "user" if i % 2 == 0 else "assistant", "content": c} for i, c in enumerate(contents)]

    df = pl.DataFrame(
        {
            "a": [conv("q", "x"), conv("q", "a", "q2", "x"), conv("q", "a"), conv("q", "a"), conv("q")],
            "b": [conv("q", "y"), conv("q", "a", "q2", "y", "q3"), conv("q", "a", "more", "turns"), conv("q", "a"), conv("p")],
        }
    )
    assert first_difference(df, "a", "b").to_list() == [1, 3, 2, 2, 0]


# --------------------------------------------------------------------------------------------
# an independent reading of the rules

_MARK = re.compile(r"\n\n(Human|Assistant):")


def oracle_turns(text: str | None, check_alternation: bool = True) -> list[tuple[str, str]] | None:
    """Turns of a transcript by a plain regex split, or None when malformed."""
    if text is None or "\x00" in text:
        return None
    pieces = _MARK.split("\n\n" + text.lstrip())
    if pieces[0] != "" or len(pieces) < 3:
        return None
    turns = [("user" if role == "Human" else "assistant", pieces[i + 1].strip()) for i in range(1, len(pieces), 2)
             for role in [pieces[i]]]
    if turns[0][0] != "user" or (check_alternation and not oracle_alternates(turns)):
        return None
    return turns


def oracle_alternates(turns: list[tuple[str, str]]) -> bool:
    return all(role == ("user" if i % 2 == 0 else "assistant") for i, (role, _) in enumerate(turns))


def oracle_hh_pair(chosen: str | None, rejected: str | None):
    """The pair the rule gives: alternation is checked on the kept turns only (up to the first difference)."""
    c, r = oracle_turns(chosen, check_alternation=False), oracle_turns(rejected, check_alternation=False)
    if c is None or r is None:
        return None
    k = 0
    while k < min(len(c), len(r)) and c[k] == r[k]:
        k += 1
    if not (oracle_alternates(c[: k + 1]) and oracle_alternates(r[: k + 1])):
        return None
    if k == min(len(c), len(r)) or c[k][0] != "assistant":
        return None
    pair = (tuple(c[: k + 1]), tuple(r[: k + 1]))
    if any(content == "" for side in pair for _, content in side):
        return None
    return pair


def as_turns(messages: list[dict]) -> tuple[tuple[str, str], ...]:
    return tuple((m["role"], m["content"]) for m in messages)


def read_hh_raw(root: Path) -> list[dict]:
    rows = []
    for path in sorted(root.rglob("*.jsonl.gz")):
        with gzip.open(path, "rt") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return rows


def build(name: str, out: Path, sources: str = "samples", catalog=None) -> Path:
    return Builder(catalog=catalog or load_catalog(), sources=sources, out=out).build(name)


def output_rows(folder: Path) -> list[dict]:
    return pl.read_parquet(folder / "data" / "*.parquet").to_dicts()


def parquet_bytes(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((folder / "data").glob("*.parquet"))]


# --------------------------------------------------------------------------------------------
# hh_rlhf


def test_hh_rlhf_every_row_matches_the_raw_transcripts(tmp_path):
    folder = build("hh_rlhf", tmp_path)
    raw = read_hh_raw(SAMPLES_DIR / "hh_rlhf")
    expected = [p for row in raw if (p := oracle_hh_pair(row["chosen"], row["rejected"])) is not None]
    rows = output_rows(folder)
    assert sorted((as_turns(r["chosen"]), as_turns(r["rejected"])) for r in rows) == sorted(expected)
    for row in rows:
        chosen, rejected = as_turns(row["chosen"]), as_turns(row["rejected"])
        assert chosen[:-1] == rejected[:-1], "chosen and rejected share every turn but the last"
        assert chosen[-1][0] == rejected[-1][0] == "assistant"
        assert [role for role, _ in chosen] == ["user", "assistant"] * (len(chosen) // 2)
        assert chosen[-1] != rejected[-1]
        assert row["source"] == "hh_rlhf" and len(row["id"]) == 16
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["rows_in"]["hh_rlhf"] == len(raw)
    assert sum(manifest["dropped"].values()) == len(raw) - len(rows)
    # every malformed case of the samples is counted under its own reason
    for reason in (
        "chosen transcript: does not start with a 'Human:' turn",
        "chosen transcript: Human and Assistant turns do not alternate",
        "chosen: NUL character in text",  # counted by the typed reader, before the transcript parser
        "rejected transcript: missing",
        "chosen and rejected transcripts are identical",
        "one transcript is the other plus more turns (no differing turn)",
        "the first differing turn is a Human turn, not an Assistant response",
        "rejected: empty message",
        "chosen: empty message",
    ):
        assert manifest["dropped"].get(reason, 0) >= 1, reason
    assert manifest["notes"]["pairs cut after the first differing turn (upstream transcripts went on)"] >= 1


def test_hh_rlhf_is_byte_identical_and_independent_of_row_order_and_files(tmp_path):
    first = build("hh_rlhf", tmp_path / "a")
    second = build("hh_rlhf", tmp_path / "b")
    assert parquet_bytes(first) == parquet_bytes(second)
    rows = read_hh_raw(SAMPLES_DIR / "hh_rlhf")
    random.Random(3).shuffle(rows)
    mirror = tmp_path / "mirror" / "hh_rlhf"
    # the rows dealt anew into the four upstream files, plain instead of gzipped (another form of the same names)
    parts = ["harmless-base", "helpful-base", "helpful-online", "helpful-rejection-sampled"]
    for i, part in enumerate(parts):
        (mirror / part).mkdir(parents=True)
        (mirror / part / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[i :: len(parts)]))
    third = build("hh_rlhf", tmp_path / "c", sources=str(tmp_path / "mirror"))
    assert parquet_bytes(third) == parquet_bytes(first)


# --------------------------------------------------------------------------------------------
# nectar


def oracle_nectar(row: dict):
    turns = oracle_turns(row["prompt"], check_alternation=False)
    if turns is None or turns[-1] != ("assistant", ""):
        return None
    prompt = tuple(turns[:-1])
    if not oracle_alternates([*prompt, ("assistant", "answer")]):
        return None
    ranked = [a for a in row["answers"] if a["rank"] is not None]
    if not ranked:
        return None
    top = min(a["rank"] for a in ranked)
    best = [a for a in ranked if a["rank"] == top]
    if len(best) > 1:
        return None
    chosen = best[0]["answer"].strip()
    candidates = {
        a["answer"].strip(): a for a in ranked if a["rank"] > top and a["answer"].strip() and a["answer"].strip() != chosen
    }
    if not candidates or not chosen or any(content == "" for _, content in prompt):
        return None
    return prompt, chosen, candidates, best[0]


def test_nectar_every_row_matches_the_raw_rankings(tmp_path):
    folder = build("nectar", tmp_path)
    raw = pq.read_table(SAMPLES_DIR / "nectar" / "data" / "rlaif.parquet").to_pylist()
    expected = {o[0]: o for row in raw if (o := oracle_nectar(row)) is not None}
    rows = output_rows(folder)
    assert len(rows) == len(expected)
    for row in rows:
        chosen, rejected = as_turns(row["chosen"]), as_turns(row["rejected"])
        prompt, best, candidates, best_answer = expected[chosen[:-1]]
        assert rejected[:-1] == prompt
        assert chosen[-1] == ("assistant", best)
        assert rejected[-1][0] == "assistant" and rejected[-1][1] in candidates
        picked = candidates[rejected[-1][1]]
        assert row["rejected_rank"] == picked["rank"] > row["chosen_rank"] == best_answer["rank"]
        assert (row["chosen_model"], row["rejected_model"]) == (best_answer["model"], picked["model"])
    manifest = json.loads((folder / "manifest.json").read_text())
    assert sum(manifest["dropped"].values()) == len(raw) - len(rows)
    assert manifest["dropped"]["prompt: does not end with an open 'Assistant:' turn"] == 2
    assert manifest["dropped"]["several answers share the top rank"] == 1


def test_nectar_multi_turn_prompts_keep_their_turns(tmp_path):
    rows = output_rows(build("nectar", tmp_path))
    multi = [r for r in rows if len(r["chosen"]) > 2]
    assert multi, "the samples hold a multi-turn prompt"
    for row in multi:
        assert [m["role"] for m in row["chosen"]] == ["user", "assistant"] * (len(row["chosen"]) // 2)


def test_nectar_is_independent_of_row_and_answer_order(tmp_path):
    first = build("nectar", tmp_path / "a")
    assert parquet_bytes(first) == parquet_bytes(build("nectar", tmp_path / "b"))
    table = pq.read_table(SAMPLES_DIR / "nectar" / "data" / "rlaif.parquet")
    rows = table.to_pylist()
    rng = random.Random(5)
    rng.shuffle(rows)
    for row in rows:
        rng.shuffle(row["answers"])
    mirror = tmp_path / "mirror" / "nectar" / "data"
    mirror.mkdir(parents=True)
    buf = io.BytesIO()
    pq.write_table(pl.from_dicts(rows, schema=pl.from_arrow(table).schema).to_arrow(), buf)
    (mirror / "rlaif.parquet").write_bytes(buf.getvalue())
    third = build("nectar", tmp_path / "c", sources=str(tmp_path / "mirror"))
    assert parquet_bytes(third) == parquet_bytes(first)


def test_nectar_missing_answer_field_names_the_file(tmp_path):
    mirror = tmp_path / "mirror" / "nectar" / "data"
    mirror.mkdir(parents=True)
    pl.DataFrame({"prompt": ["\n\nHuman: hi\n\nAssistant:"], "answers": [[{"answer": "a", "model": "m"}]]}).write_parquet(
        mirror / "rlaif.parquet"
    )
    from tulu_data.errors import SourceFormatError

    with pytest.raises(SourceFormatError, match=r"rlaif\.parquet.*'rank'"):
        build("nectar", tmp_path / "out", sources=str(tmp_path / "mirror"))


# --------------------------------------------------------------------------------------------
# alternation is checked on what is kept (issue 11)

SHARED = "\n\nHuman: Can you help me?\n\nAssistant: Sure.\n\nHuman: What is 2+2?"
NOT_ALTERNATING_REASON = "chosen transcript: Human and Assistant turns do not alternate"


def test_hh_pairs_that_stop_alternating_after_the_cut_are_kept(tmp_path):
    """Transcripts that stop alternating only after the first differing turn (cut off anyway) give a pair;
    a transcript that stops alternating before it is still dropped."""
    tails = [
        ("\n\nAssistant: 4.\n\nHuman: Thanks\n\nHuman: Bye", "\n\nAssistant: 5."),
        ("\n\nAssistant: Four.", "\n\nAssistant: Five.\n\nAssistant: Sorry, four."),
        ("\n\nAssistant: 4\n\nAssistant: (four)\n\nHuman: ok", "\n\nAssistant: 22\n\nHuman: no\n\nHuman: ?"),
    ]
    kept = [{"chosen": SHARED + c, "rejected": SHARED + r} for c, r in tails]
    early = {"chosen": "\n\nHuman: a\n\nHuman: b\n\nAssistant: c", "rejected": "\n\nHuman: a\n\nHuman: b\n\nAssistant: d"}
    mirror = tmp_path / "mirror" / "hh_rlhf"
    shutil.copytree(SAMPLES_DIR / "hh_rlhf", mirror)
    (mirror / "harmless-base" / "train.jsonl.gz").unlink()  # the same name, plain: the samples' rows plus these
    rows = read_hh_raw(SAMPLES_DIR / "hh_rlhf" / "harmless-base") + kept + [early]
    (mirror / "harmless-base" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    folder = build("hh_rlhf", tmp_path / "out", sources=str(tmp_path / "mirror"))
    got = {(as_turns(r["chosen"]), as_turns(r["rejected"])) for r in output_rows(folder)}
    prompt = (("user", "Can you help me?"), ("assistant", "Sure."), ("user", "What is 2+2?"))
    for chosen, rejected in (("4.", "5."), ("Four.", "Five."), ("4", "22")):
        assert (prompt + (("assistant", chosen),), prompt + (("assistant", rejected),)) in got
    assert not any(c[0] == ("user", "a") for c, _ in got)
    before = json.loads((build("hh_rlhf", tmp_path / "samples") / "manifest.json").read_text())["dropped"]
    after = json.loads((folder / "manifest.json").read_text())["dropped"]
    assert after[NOT_ALTERNATING_REASON] == before[NOT_ALTERNATING_REASON] + 1  # only the early one


def test_nectar_checks_alternation_on_the_kept_prompt(tmp_path):
    answers = [{"answer": "Yes.", "model": "m1", "rank": 1.0}, {"answer": "No.", "model": "m2", "rank": 2.0}]
    prompts = {
        "\n\nHuman: a\n\nAssistant: b\n\nHuman: c\n\nAssistant:": "kept",
        "\n\nHuman: a\n\nAssistant: b\n\nAssistant:": "prompt: Human and Assistant turns do not alternate",
        "\n\nHuman: a\n\nHuman: b": "prompt: does not end with an open 'Assistant:' turn",
    }
    mirror = tmp_path / "mirror" / "nectar" / "data"
    mirror.mkdir(parents=True)
    pl.DataFrame({"prompt": list(prompts), "answers": [answers] * len(prompts)}).write_parquet(mirror / "rlaif.parquet")
    folder = build("nectar", tmp_path / "out", sources=str(tmp_path / "mirror"))
    rows = output_rows(folder)
    assert [as_turns(r["chosen"]) for r in rows] == [
        (("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "Yes."))
    ]
    dropped = json.loads((folder / "manifest.json").read_text())["dropped"]
    assert dropped == {reason: 1 for reason in prompts.values() if reason != "kept"}


def test_cards_state_the_departures_from_the_final_published_script(tmp_path):
    for name, outdated in (("hh_rlhf", "repeating the prompt"), ("nectar", "flattening")):
        card = (build(name, tmp_path / name) / "README.md").read_text()
        assert 'so an inline "Human:"' in card or "so an inline marker inside a turn splits it" in card, name
        assert "Stricter drop rules" in card, name
        assert outdated not in card, name
