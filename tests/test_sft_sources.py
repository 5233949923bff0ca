"""The Tulu v2 SFT sources, built from the bundled samples and checked row by row against the raw files."""

from __future__ import annotations

import shutil
import string
from collections import Counter
from pathlib import Path

import pytest
from sft_support import (
    SAMPLES_TOKENIZER,
    builder,
    catalog_with,
    conversation,
    is_blank,
    load_tokenizer,
    manifest,
    raw_json,
    raw_jsonl,
    raw_sharegpt,
    raw_trees,
    rows,
    train_tokenizer,
    turn_cost,
)

from tulu_data.recipes.sft import TEMPLATES_WITH_INPUT, TEMPLATES_WITHOUT_INPUT
from tulu_data.sources import SAMPLES_DIR


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Every SFT source dataset built once from the samples (through the mixture, which builds its parts)."""
    out = tmp_path_factory.mktemp("sft")
    builder(out).build("tulu_v2_sft_mixture")
    return out


def assert_sft_rows(df, label: str | None = None) -> None:
    assert df.height > 0
    assert df.columns[:3] == ["dataset", "id", "messages"]
    assert df["id"].n_unique() == df.height
    if label is not None:
        assert set(df["dataset"]) == {label}


# ---- FLAN v2 and CoT ------------------------------------------------------------------------------


def newline_rule(prompt: str) -> str:
    return prompt if prompt.endswith("\n") or prompt.rstrip().endswith(":") else prompt + "\n"


def flan_expected(*keys: str) -> Counter:
    """The raw rows of each source, exact duplicates (equal inputs and targets) once, blank ones left out."""
    unique = [dict.fromkeys((r["inputs"], r["targets"]) for r in raw_jsonl(key)) for key in keys]
    return Counter(
        (("user", newline_rule(inputs)), ("assistant", targets))
        for rows in unique
        for inputs, targets in rows
        if not is_blank(inputs) and not is_blank(targets)
    )


def test_flan_rows_are_the_raw_rows_with_the_newline_rule(built: Path):
    df = rows(built / "flan_v2")
    assert_sft_rows(df, "flan_v2")
    assert Counter(conversation(m) for m in df["messages"].to_list()) == flan_expected("flan_v2")
    prompts = [r["inputs"] for r in raw_jsonl("flan_v2") if not is_blank(r["inputs"]) and not is_blank(r["targets"])]
    # the samples exercise every branch of the rule: newline end, colon end, colon + spaces, and plain text
    assert any(p.endswith("\n") for p in prompts)
    assert any(p.endswith(":") for p in prompts)
    assert any(p != p.rstrip() and p.rstrip().endswith(":") and not p.endswith("\n") for p in prompts)
    assert sum(newline_rule(p) != p for p in prompts) >= 3
    assert manifest(built / "flan_v2")["dropped"] == {
        "empty turn (a message is blank)": 3, "exact duplicate of an earlier upstream row": 1
    }


def test_cot_takes_both_halves(built: Path):
    df = rows(built / "cot")
    assert_sft_rows(df, "cot")
    assert Counter(conversation(m) for m in df["messages"].to_list()) == flan_expected("cot_zsopt", "cot_fsopt")


def test_cot_samples_the_requested_count_from_each_half(tmp_path: Path):
    catalog = catalog_with({"cot": {"samples": {"cot_zsopt": 5, "cot_fsopt": 4}}})
    df = rows(builder(tmp_path, catalog=catalog).build("cot"))
    zero, few = flan_expected("cot_zsopt"), flan_expected("cot_fsopt")
    got = [conversation(m) for m in df["messages"].to_list()]
    assert sum(c in zero for c in got) == 5 and sum(c in few for c in got) == 4 and len(got) == 9


# ---- OpenAssistant ----------------------------------------------------------------------------


def best_path(tree: dict) -> list[dict] | None:
    """Recomputed from the raw tree: the best not-deleted reply at every turn (missing quality = 0, first on ties)."""
    node = tree["prompt"]
    if node.get("deleted"):
        return None
    path = []
    while node is not None:
        path.append({"role": {"prompter": "user"}.get(node["role"], node["role"]), "content": node["text"]})
        best, best_quality = None, None
        for reply in node.get("replies") or []:
            if reply.get("deleted"):
                continue
            quality = ((reply.get("labels") or {}).get("quality") or {}).get("value") or 0.0
            if best is None or quality > best_quality:
                best, best_quality = reply, quality
        node = best
    if path[-1]["role"] != "assistant" or any(is_blank(m["content"]) for m in path):
        return None
    return path


def deleted_texts(node: dict) -> list[str]:
    own = [node["text"]] if node.get("deleted") else []
    return own + [t for r in node.get("replies") or [] for t in deleted_texts(r)]


def test_oasst_follows_the_best_reply_at_every_turn(built: Path):
    df = rows(built / "oasst1")
    assert_sft_rows(df, "oasst1")
    expected = Counter(conversation(p) for t in raw_trees() if (p := best_path(t)) is not None)
    assert Counter(conversation(m) for m in df["messages"].to_list()) == expected
    assert any(len(p) >= 6 for p in expected), "the samples include a deep path"
    assert manifest(built / "oasst1")["dropped"]["best-reply path ends in an unanswered prompter turn"] == 2


def test_oasst_never_shows_a_deleted_message(built: Path):
    deleted = {t for tree in raw_trees() for t in deleted_texts(tree["prompt"])}
    assert len(deleted) >= 3
    shown = {m["content"] for msgs in rows(built / "oasst1")["messages"].to_list() for m in msgs}
    assert not deleted & shown


# ---- ShareGPT ---------------------------------------------------------------------------------


def clean_sharegpt() -> dict[str, list[dict]]:
    """Raw conversations that pass the role rules, odd trailing turn cut, keyed by their first turns' text."""
    kept = {}
    for conv in raw_sharegpt():
        turns = conv["conversations"]
        senders = [t["from"] for t in turns]
        if "system" in senders or "bing" in senders:
            continue
        turns = turns[: len(turns) // 2 * 2]
        if not turns or any(t["from"] != ("human", "gpt")[i % 2] for i, t in enumerate(turns)):
            continue
        if any(is_blank(t["value"]) for t in turns):
            continue
        kept[conv["id"] + "|" + turns[0]["value"]] = turns
    return kept


def chunks_of(df) -> dict[tuple, tuple]:
    return {conversation(m): m for m in df["messages"].to_list()}


def pair_cost(tokenizer, turns: list[dict], i: int) -> int:
    return turn_cost(tokenizer, turns[2 * i]["value"]) + turn_cost(tokenizer, turns[2 * i + 1]["value"])


def check_sharegpt_chunks(df, tokenizer, budget: int) -> None:
    """Each chunk is a run of whole pairs of exactly one clean raw conversation, within the budget; a
    conversation's chunks cover exactly its pairs that fit the budget on their own, each once; and a
    chunk followed by the next pair closes only because that pair would not fit."""
    clean = clean_sharegpt()
    covered: dict[str, list[tuple[int, int]]] = {key: [] for key in clean}
    for row_id, msgs in zip(df["id"], df["messages"].to_list(), strict=True):
        assert msgs and [m["role"] for m in msgs] == ["user", "assistant"] * (len(msgs) // 2)
        assert sum(turn_cost(tokenizer, m["content"]) for m in msgs) <= budget
        start = int(row_id.rsplit("_", 1)[1])
        assert start % 2 == 0
        owners = [
            key
            for key, turns in clean.items()
            if [t["value"] for t in turns[start : start + len(msgs)]] == [m["content"] for m in msgs]
        ]
        assert len(owners) == 1, f"chunk {row_id} is not a slice of exactly one clean conversation"
        covered[owners[0]].append((start // 2, len(msgs) // 2))
    for key, turns in clean.items():
        pairs = sorted(covered[key])
        flat = [first + k for first, count in pairs for k in range(count)]
        fitting = [i for i in range(len(turns) // 2) if pair_cost(tokenizer, turns, i) <= budget]
        assert flat == fitting, key
        for (first, count), (nxt, _) in zip(pairs, pairs[1:], strict=False):
            if nxt == first + count:
                used = sum(pair_cost(tokenizer, turns, i) for i in range(first, first + count))
                assert used + pair_cost(tokenizer, turns, nxt) > budget


def test_sharegpt_chunks_fit_the_budget_and_split_at_pair_boundaries(built: Path):
    df = rows(built / "sharegpt")
    assert_sft_rows(df, "sharegpt")
    tokenizer = load_tokenizer(SAMPLES_TOKENIZER)
    check_sharegpt_chunks(df, tokenizer, 4096)
    clean = clean_sharegpt()
    long_turns = next(turns for key, turns in clean.items() if key.startswith("sglong|"))
    pieces = sorted((int(i.rsplit("_", 1)[1]), m) for i, m in zip(df["id"], df["messages"].to_list(), strict=True) if m[0]["content"] in {t["value"] for t in long_turns})
    assert len(pieces) >= 3, "the long conversation is split into several chunks"
    rejoined = [m["content"] for _, msgs in pieces for m in msgs]
    assert rejoined == [t["value"] for t in long_turns], "no pair lost: the chunks are the whole conversation in order"
    total = sum(turn_cost(tokenizer, t["value"]) for t in long_turns)
    assert total > 4096
    for (_, first), (_, second) in zip(pieces, pieces[1:], strict=False):
        # a chunk closes only when the next pair would not fit
        nxt = second[:2]
        assert sum(turn_cost(tokenizer, m["content"]) for m in first + nxt) > 4096


def test_sharegpt_skips_a_single_pair_over_the_budget(built: Path):
    df = rows(built / "sharegpt")
    tokenizer = load_tokenizer(SAMPLES_TOKENIZER)
    turns = next(t for key, t in clean_sharegpt().items() if key.startswith("sgbigpair|"))
    pair_costs = [turn_cost(tokenizer, turns[i]["value"]) + turn_cost(tokenizer, turns[i + 1]["value"]) for i in range(0, len(turns), 2)]
    assert pair_costs[1] > 4096 >= pair_costs[0] + pair_costs[2]
    shown = {m["content"] for msgs in df["messages"].to_list() for m in msgs}
    assert turns[2]["value"] not in shown and turns[3]["value"] not in shown
    assert {turns[0]["value"], turns[1]["value"], turns[4]["value"], turns[5]["value"]} <= shown
    # the last pair starting a chunk of its own is kept (the published script lost it)
    last = next(t for key, t in clean_sharegpt().items() if key.startswith("sglastsplit|"))
    assert {t["value"] for t in last} <= shown


def test_sharegpt_drops_system_bing_and_non_alternating_conversations(built: Path):
    df = rows(built / "sharegpt")
    shown = {m["content"] for msgs in df["messages"].to_list() for m in msgs}
    bad = [c for c in raw_sharegpt() if c["id"] in {"sgsystem", "sgbing", "sggptfirst", "sgtwohumans", "sguser"}]
    assert len(bad) == 5
    for conv in bad:
        own = {t["value"] for t in conv["conversations"]} - {t["value"] for c in raw_sharegpt() if c not in bad for t in c["conversations"]}
        assert own and not own & shown, conv["id"]
    dropped = manifest(built / "sharegpt")["dropped"]
    assert dropped["has a system turn"] == 1 and dropped["has a bing turn"] == 1
    assert dropped["turns do not alternate human/gpt"] == 3
    odd = next(c for c in raw_sharegpt() if c["id"] == "sgodd")["conversations"]
    assert conversation([{"role": r, "content": t["value"]} for r, t in zip(["user", "assistant"], odd[:2], strict=True)]) in chunks_of(df)


def test_sharegpt_with_another_tokenizer_and_budget(tmp_path: Path):
    """A mirror build with a freshly trained tokenizer and a smaller budget: every chunk fits, counted with it."""
    texts = [t["value"] for c in raw_sharegpt() for t in c["conversations"]]
    tok_dir = train_tokenizer(texts, tmp_path / "tok", vocab_size=400)
    shutil.copytree(SAMPLES_DIR / "sharegpt", tmp_path / "mirror" / "sharegpt")
    catalog = catalog_with({"sharegpt": {"tokenizer": str(tok_dir), "max_tokens": 1500}})
    out = builder(tmp_path / "out", sources=str(tmp_path / "mirror"), catalog=catalog).build("sharegpt")
    df = rows(out)
    check_sharegpt_chunks(df, load_tokenizer(tok_dir), 1500)
    assert df.height > len(clean_sharegpt()) + 2, "a smaller budget splits more conversations"
    assert manifest(out)["notes"]["tokenizer used to count turns"] == str(tok_dir)


def test_sharegpt_names_an_unloadable_tokenizer(tmp_path: Path):
    from tulu_data.errors import TuluDataError

    shutil.copytree(SAMPLES_DIR / "sharegpt", tmp_path / "mirror" / "sharegpt")
    catalog = catalog_with({"sharegpt": {"tokenizer": str(tmp_path / "no-such-tokenizer")}})
    with pytest.raises(TuluDataError, match="no-such-tokenizer.*params.tokenizer"):
        builder(tmp_path / "out", sources=str(tmp_path / "mirror"), catalog=catalog).build("sharegpt")


# ---- instruction data -------------------------------------------------------------------------


def render(template: str, fields: dict[str, str]) -> str:
    return string.Formatter().vformat(template, (), fields)


@pytest.mark.parametrize("name", ["gpt4_alpaca", "code_alpaca"])
def test_instruction_rows_use_a_template_of_the_right_set(built: Path, name: str):
    df = rows(built / name)
    assert_sft_rows(df, name)
    raw = [r for r in raw_json(name) if not is_blank(r["instruction"]) and not is_blank(r["output"])]
    assert df.height == len(raw)  # n >= the sample size: every usable row
    renderings = {}
    for n, r in enumerate(raw):
        fields = {k: (r.get(k) or "").strip() for k in ("instruction", "input", "output")}
        templates = TEMPLATES_WITH_INPUT if fields["input"] else TEMPLATES_WITHOUT_INPUT
        for t, (p, c, _) in enumerate(templates):
            renderings.setdefault((render(p, fields), render(c, fields)), set()).add((n, bool(fields["input"]), t))
    used = Counter()
    for msgs in df["messages"].to_list():
        assert [m["role"] for m in msgs] == ["user", "assistant"]
        matches = {n for n, _, _ in renderings.get((msgs[0]["content"], msgs[1]["content"]), set())}
        assert len(matches) == 1, msgs
        used[matches.pop()] += 1
    assert sorted(used) == list(range(len(raw))) and set(used.values()) == {1}
    templates_used = {
        (has_input, t)
        for msgs in df["messages"].to_list()
        for _, has_input, t in renderings[(msgs[0]["content"], msgs[1]["content"])]
    }
    assert len(templates_used) >= 5 and {has_input for has_input, _ in templates_used} == {True, False}


# ---- LIMA, WizardLM, OpenOrca, science, hard-coded ------------------------------------------------


def test_lima_cuts_an_odd_trailing_turn(built: Path):
    df = rows(built / "lima")
    assert_sft_rows(df, "lima")
    expected = Counter()
    for r in raw_jsonl("lima"):
        turns = r["conversations"][: len(r["conversations"]) // 2 * 2]
        if turns and not any(is_blank(t) for t in turns):
            expected[tuple((("user", "assistant")[i % 2], t) for i, t in enumerate(turns))] += 1
    assert Counter(conversation(m) for m in df["messages"].to_list()) == expected
    assert any(len(r["conversations"]) % 2 == 1 and len(r["conversations"]) > 1 for r in raw_jsonl("lima"))
    assert manifest(built / "lima")["notes"]["odd trailing turn cut off (conversations)"] == 2


def test_wizardlm_rows_alternate_and_map_roles(built: Path):
    df = rows(built / "wizardlm")
    assert_sft_rows(df, "wizardlm")
    expected = Counter()
    for r in raw_json("wizardlm"):
        turns = r["conversations"][: len(r["conversations"]) // 2 * 2]
        if turns and all(t["from"] == ("human", "gpt")[i % 2] for i, t in enumerate(turns)) and not any(is_blank(t["value"]) for t in turns):
            expected[tuple((("user", "assistant")[i % 2], t["value"]) for i, t in enumerate(turns))] += 1
    assert Counter(conversation(m) for m in df["messages"].to_list()) == expected


def test_open_orca_keeps_a_system_message_only_when_there_is_one(built: Path):
    import polars as pl

    df = rows(built / "open_orca")
    assert_sft_rows(df, "open_orca")
    raw = pl.read_parquet(SAMPLES_DIR / "open_orca" / "1M-GPT4-Augmented.parquet").to_dicts()
    expected = Counter()
    for r in raw:
        if is_blank(r["question"]) or is_blank(r["response"]):
            continue
        system = [] if is_blank(r["system_prompt"]) else [("system", r["system_prompt"])]
        expected[tuple(system + [("user", r["question"]), ("assistant", r["response"])])] += 1
    got = Counter(conversation(m) for m in df["messages"].to_list())
    assert got == expected
    assert any(c[0][0] == "system" for c in got) and any(c[0][0] == "user" for c in got)


def test_science_rows_are_labelled_by_task(built: Path):
    df = rows(built / "science")
    expected = Counter(
        (f"science.{r['dataset']}", (("user", r["input"]), ("assistant", r["output"])))
        for r in raw_jsonl("science")
        if not is_blank(r["input"]) and not is_blank(r["output"])
    )
    got = Counter((d, conversation(m)) for d, m in zip(df["dataset"], df["messages"].to_list(), strict=True))
    assert got == expected
    assert len({d for d, _ in got}) == 6


def test_hard_coded_rows_are_repeated_ten_times_with_distinct_ids(built: Path):
    from make_sft_samples import HARD_CODED

    df = rows(built / "hard_coded")
    assert_sft_rows(df, "hard_coded")
    got = Counter(conversation(m) for m in df["messages"].to_list())
    assert got == Counter({(("user", p), ("assistant", o)): 10 for p, o in HARD_CODED})
    assert df.height == 140 == df["id"].n_unique()


def test_open_orca_sample_with_repeated_upstream_ids_is_order_free(tmp_path: Path):
    """When upstream ids repeat, the sample is keyed on content instead: still the same rows in any order."""
    import polars as pl

    raw = pl.read_parquet(SAMPLES_DIR / "open_orca" / "1M-GPT4-Augmented.parquet")
    raw = raw.with_columns(pl.when(pl.int_range(pl.len()) < 6).then(pl.lit("flan.1")).otherwise(pl.col("id")).alias("id"))
    assert not raw["id"].is_unique().all()
    catalog = catalog_with({"open_orca": {"n": 5}})
    hashes = []
    for k, frame in enumerate([raw, raw.reverse(), raw.sample(fraction=1.0, shuffle=True, seed=1)]):
        folder = tmp_path / f"m{k}" / "open_orca"
        folder.mkdir(parents=True)
        frame.write_parquet(folder / "1M-GPT4-Augmented.parquet")
        out = builder(tmp_path / f"o{k}", sources=str(tmp_path / f"m{k}"), catalog=catalog).build("open_orca")
        df = rows(out)
        assert df.height == 5 and df["id"].n_unique() == 5
        hashes.append(manifest(out)["content_hash"])
    assert len(set(hashes)) == 1


@pytest.mark.parametrize("budget", [300, 1500, 4096])
def test_sharegpt_byte_bound_shortcut_gives_the_same_chunks_as_counting_every_turn(tmp_path: Path, budget: int):
    """Conversations that fit by their byte-count bound are not tokenized; the chunks must not change."""
    shortcut = builder(tmp_path / "a", catalog=catalog_with({"sharegpt": {"max_tokens": budget}})).build("sharegpt")
    counted = builder(tmp_path / "b", catalog=catalog_with({"sharegpt": {"max_tokens": budget, "count_all_tokens": True}})).build("sharegpt")
    assert rows(shortcut).equals(rows(counted))
    notes = manifest(shortcut)["notes"]
    assert notes["turns tokenized (the others fit by their byte-count bound)"] <= manifest(counted)["notes"][
        "turns tokenized (the others fit by their byte-count bound)"]
