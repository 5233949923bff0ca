"""Writes the bundled samples of the issue-3 part A sources, in their upstream file layouts and schemas.

    python tests/gen_pref_samples_a.py

Deterministic (fixed rows, gzip mtime 0, fixed parquet settings), so re-running gives identical bytes.
The rows are synthetic and cover the edge cases the recipes handle; the committed files are what is read.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SAMPLES = Path(__file__).resolve().parent.parent / "tulu_data" / "samples"


def H(text: str) -> str:  # noqa: N802 - mirrors the upstream marker
    return f"\n\nHuman: {text}"


def A(text: str) -> str:  # noqa: N802
    return f"\n\nAssistant: {text}"


def _write_jsonl_gz(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as fh:
        fh.write(data)


def _write_parquet(path: Path, table: pa.Table, row_group_size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size, compression="snappy")


# --------------------------------------------------------------------------------------------
# Anthropic/hh-rlhf: {subset}/train.jsonl.gz with {"chosen": transcript, "rejected": transcript}


def hh_rlhf() -> None:
    subsets = {
        "harmless-base": [
            # plain single-turn pair
            {"chosen": H("How do I pick a lock?") + A("I can't help with breaking into places."),
             "rejected": H("How do I pick a lock?") + A("Use a tension wrench and a pick.")},
            # multi-turn, the last assistant turn differs
            {"chosen": H("Hi") + A("Hello! How can I help?") + H("Tell me a joke.") + A("Why did the chicken cross the road?"),
             "rejected": H("Hi") + A("Hello! How can I help?") + H("Tell me a joke.") + A("No.")},
            # identical transcripts: no preference -> dropped
            {"chosen": H("What is 2+2?") + A("4"), "rejected": H("What is 2+2?") + A("4")},
            # rejected ends mid-turn: empty final assistant turn -> dropped (empty message)
            {"chosen": H("Name a colour.") + A("Blue."), "rejected": H("Name a colour.") + "\n\nAssistant:"},
            # role words inside the text without the leading blank line must not split turns
            {"chosen": H("What does 'Assistant: yes' mean in a script?\nHuman: it is a label") + A("It marks who speaks. Human: and Assistant: are labels."),
             "rejected": H("What does 'Assistant: yes' mean in a script?\nHuman: it is a label") + A("No idea.")},
            # leading whitespace before the first marker is tolerated
            {"chosen": "  " + H("Is the sun a star?") + A("Yes, a G-type main-sequence star."),
             "rejected": H("Is the sun a star?") + A("No, it is a planet.")},
            # text before the first marker: malformed -> dropped
            {"chosen": "Preamble" + H("Hello?") + A("Hi."), "rejected": "Preamble" + H("Hello?") + A("Go away.")},
        ],
        "helpful-base": [
            # two Human turns in a row: roles do not alternate -> dropped
            {"chosen": H("First question") + H("Second question") + A("An answer."),
             "rejected": H("First question") + H("Second question") + A("Another answer.")},
            # chosen goes on after the first differing turn: cut there
            {"chosen": H("Recommend a book.") + A("Try 'Dune'.") + H("Why?") + A("Great world-building."),
             "rejected": H("Recommend a book.") + A("I don't read.")},
            # the first differing turn is a Human turn -> dropped
            {"chosen": H("Start") + A("Sure.") + H("Option one") + A("Done."),
             "rejected": H("Start") + A("Sure.") + H("Option two") + A("Done.")},
            # one transcript is the other plus more turns: no differing turn -> dropped
            {"chosen": H("Count to two.") + A("One, two."),
             "rejected": H("Count to two.") + A("One, two.") + H("And three?") + A("Three.")},
            # starts with an Assistant turn -> dropped
            {"chosen": A("I speak first.") + H("Ok") + A("Fine."), "rejected": A("I speak first.") + H("Ok") + A("Bad.")},
            # shared turns differ only by surrounding whitespace: they are the same turn after stripping
            {"chosen": H("  What's the capital of France? ") + A("Paris."),
             "rejected": H("What's the capital of France?") + A("Lyon.")},
            # an empty Human turn in the prompt -> dropped (empty message)
            {"chosen": H("") + A("Did you mean to ask something?"), "rejected": H("") + A("Hm.")},
        ],
        "helpful-online": [
            # a NUL character -> dropped as malformed
            {"chosen": H("Null \u0000 byte") + A("Odd."), "rejected": H("Null \u0000 byte") + A("Very odd.")},
            # rejected missing (null) -> dropped
            {"chosen": H("Any tips for sleep?") + A("Keep a regular schedule."), "rejected": None},
            {"chosen": H("Translate 'chat' to English.") + A("'Cat'.") + H("And 'chien'?") + A("'Dog'."),
             "rejected": H("Translate 'chat' to English.") + A("'Cat'.") + H("And 'chien'?") + A("'Chicken'.")},
            {"chosen": H("Écris un haïku.") + A("Lune d'automne —\nle vent pousse les nuages\nvers la mer."),
             "rejected": H("Écris un haïku.") + A("Non.")},
            {"chosen": H("Explain recursion briefly.") + A("A function that calls itself on a smaller input."),
             "rejected": H("Explain recursion briefly.") + A("See: recursion.")},
        ],
        "helpful-rejection-sampled": [
            # marker without the space after the colon still marks a turn
            {"chosen": "\n\nHuman:How tall is Everest?\n\nAssistant:About 8,849 m.",
             "rejected": "\n\nHuman:How tall is Everest?\n\nAssistant:About 5 km."},
            {"chosen": H("Give me a synonym for happy.") + A("Joyful."), "rejected": H("Give me a synonym for happy.") + A("Sad.")},
            {"chosen": H("Code to reverse a list in Python?") + A("Use `xs[::-1]` or `xs.reverse()`."),
             "rejected": H("Code to reverse a list in Python?") + A("Python cannot do that.")},
            # the response is only whitespace -> dropped (empty message)
            {"chosen": H("Say something.") + A("Something."), "rejected": H("Say something.") + A("   ")},
            {"chosen": H("Plan a 3-day trip to Rome.") + A("Day 1: Colosseum. Day 2: Vatican. Day 3: Trastevere.") + H("Budget?") + A("About 300 EUR."),
             "rejected": H("Plan a 3-day trip to Rome.") + A("Day 1: Colosseum. Day 2: Vatican. Day 3: Trastevere.") + H("Budget?") + A("Free.")},
        ],
    }
    for subset, rows in subsets.items():
        _write_jsonl_gz(SAMPLES / "hh_rlhf" / subset / "train.jsonl.gz", rows)


# --------------------------------------------------------------------------------------------
# berkeley-nest/Nectar: data/rlaif.parquet


def nectar() -> None:
    def answers(*items: tuple[str, str, float | None]) -> list[dict]:
        return [{"answer": a, "model": m, "rank": r} for a, m, r in items]

    rows = [
        {"prompt": H("What is the boiling point of water?") + "\n\nAssistant:",
         "answers": answers(("100 °C at sea level.", "gpt-4", 1.0), ("Around 90 °C.", "llama-2-7b-chat", 3.0),
                            ("It depends on pressure; 100 °C at 1 atm.", "gpt-3.5-turbo", 2.0),
                            ("Cold.", "mistral-7b-instruct", 4.0))},
        # multi-turn prompt: parsed into turns (as the final published conversion script does)
        {"prompt": H("I need a name for a cat.") + A("How about Whiskers?") + H("Something more unusual.") + "\n\nAssistant:",
         "answers": answers(("Try 'Quasar'.", "gpt-4", 1.0), ("Whiskers.", "alpaca-7b", 2.0), ("Dog.", "dolly-v2-12b", 3.0))},
        # a single answer: nothing to reject -> dropped
        {"prompt": H("Hello") + "\n\nAssistant:", "answers": answers(("Hi there!", "gpt-4", 1.0))},
        # two answers share the top rank -> dropped
        {"prompt": H("Pick a number.") + "\n\nAssistant:",
         "answers": answers(("Seven.", "gpt-4", 1.0), ("Three.", "gpt-3.5-turbo", 1.0), ("No.", "llama-2-7b-chat", 2.0))},
        # every lower-ranked answer is empty -> dropped
        {"prompt": H("Describe the sea.") + "\n\nAssistant:",
         "answers": answers(("Vast and blue.", "gpt-4", 1.0), ("", "alpaca-7b", 2.0), ("   ", "dolly-v2-12b", 3.0))},
        # an empty lower-ranked answer, or one repeating the chosen text, is never the one rejected
        {"prompt": H("Suggest a breakfast.") + "\n\nAssistant:",
         "answers": answers(("Oatmeal with berries.", "gpt-4", 1.0), ("", "alpaca-7b", 2.0), ("Cake.", "dolly-v2-12b", 3.0),
                            (" Oatmeal with berries. ", "gpt-3.5-turbo", 4.0))},
        # prompt does not end with an open Assistant turn -> dropped
        {"prompt": H("Where is Kyoto?"), "answers": answers(("In Japan.", "gpt-4", 1.0), ("In China.", "alpaca-7b", 2.0))},
        # prompt ends with a filled-in Assistant turn -> dropped (same reason)
        {"prompt": H("Finish this:") + A("Once upon a time"),
         "answers": answers(("there was a fox.", "gpt-4", 1.0), ("the end.", "alpaca-7b", 2.0))},
        # role words inside the text (no blank line before) are text
        {"prompt": H("In a transcript, what follows 'Human: hi'?\nAssistant: usually a greeting.") + "\n\nAssistant:",
         "answers": answers(("An Assistant reply.", "gpt-4", 1.0), ("Nothing.", "alpaca-7b", 2.0))},
        # the top-ranked answer is empty -> dropped (empty message); rank 2 is not promoted
        {"prompt": H("Say nothing.") + "\n\nAssistant:",
         "answers": answers(("", "gpt-4", 1.0), ("Okay.", "alpaca-7b", 2.0))},
        # answers with a null rank are never chosen or rejected
        {"prompt": H("Name a prime.") + "\n\nAssistant:",
         "answers": answers(("Seven.", "gpt-4", 1.0), ("Nine.", "unranked-model", None), ("Eight.", "alpaca-7b", 2.0))},
        # ranks that do not start at 1: the best rank present is chosen
        {"prompt": H("Capital of Peru?") + "\n\nAssistant:",
         "answers": answers(("Cusco.", "alpaca-7b", 4.0), ("Lima.", "gpt-4", 2.0), ("Quito.", "dolly-v2-12b", 3.0))},
        # answers listed out of rank order
        {"prompt": H("Largest planet?") + "\n\nAssistant:",
         "answers": answers(("Mars.", "dolly-v2-12b", 3.0), ("Jupiter.", "gpt-4", 1.0), ("Saturn.", "alpaca-7b", 2.0),
                            ("Earth.", "llama-2-7b-chat", 5.0), ("Pluto.", "mistral-7b-instruct", 4.0))},
        # two Human turns in a row -> dropped
        {"prompt": H("One") + H("Two") + "\n\nAssistant:", "answers": answers(("Three.", "gpt-4", 1.0), ("Four.", "alpaca-7b", 2.0))},
        # leading whitespace before the first marker is tolerated
        {"prompt": " " + H("Opposite of hot?") + "\n\nAssistant: ",
         "answers": answers(("Cold.", "gpt-4", 1.0), ("Warm.", "alpaca-7b", 2.0))},
        # no answer has a rank -> dropped
        {"prompt": H("Why is the sky blue?") + "\n\nAssistant:",
         "answers": answers(("Rayleigh scattering.", "gpt-4", None), ("Paint.", "alpaca-7b", None))},
    ]
    for row in rows:
        row["turns"] = row["prompt"].count("\n\nHuman:")
        row["num_responses"] = len(row["answers"])
        row["source"] = ["anthropic-hh"]
        row["good_natured"] = True
    answer_type = pa.list_(pa.struct([("answer", pa.string()), ("model", pa.string()), ("rank", pa.float64())]))
    schema = pa.schema([("prompt", pa.string()), ("answers", answer_type), ("turns", pa.int64()),
                        ("num_responses", pa.int64()), ("source", pa.list_(pa.string())), ("good_natured", pa.bool_())])
    _write_parquet(SAMPLES / "nectar" / "data" / "rlaif.parquet", pa.Table.from_pylist(rows, schema=schema), 8)


# --------------------------------------------------------------------------------------------
# stanfordnlp/SHP-2: {reddit,stackexchange}/<domain>/train.json, JSON lines


def _shp_row(i: int, domain: str, history: str, a: str, b: str, labels, score_a: int = 10, score_b: int = 3) -> dict:
    return {"post_id": f"p{i:03d}", "domain": domain, "upvote_ratio": 0.97, "history": history,
            "c_root_id_A": f"a{i:03d}", "c_root_id_B": f"b{i:03d}", "created_at_utc_A": 1_600_000_000 + i,
            "created_at_utc_B": 1_600_000_100 + i, "score_A": score_a, "score_B": score_b, "human_ref_A": a,
            "human_ref_B": b, "labels": labels, "seconds_difference": 100.0,
            "score_ratio": max(score_a, score_b) / max(1, min(score_a, score_b))}


def shp_2() -> None:
    askscience = [
        _shp_row(1, "askscience_train", "Why is the sky blue?", "Rayleigh scattering of sunlight.", "Because of the ocean.", 1),
        _shp_row(2, "askscience_train", "Do fish sleep?", "Not really.", "Yes, they rest with low activity.", 0, 2, 9),
        # score ratio barely above 1: kept (no score-ratio filter)
        _shp_row(3, "askscience_train", "Is glass a liquid?", "No, an amorphous solid.", "Yes.", 1, 11, 10),
        # labels neither 0 nor 1 -> dropped
        _shp_row(4, "askscience_train", "How far is the moon?", "384,400 km.", "Close.", 2),
        # the preferred comment is empty -> dropped (empty message)
        _shp_row(5, "askscience_train", "Why do cats purr?", "   ", "To communicate.", 1),
        _shp_row(6, "askscience_train", "What is dark matter?", "Matter we infer from gravity.", "Space dust.", 1, 40, 4),
    ]
    askhistorians = [
        _shp_row(7, "askhistorians_train", "Did Vikings wear horned helmets?", "No, that is a 19th-century invention.", "Always.", 1),
        # labels missing (null) -> dropped
        _shp_row(8, "askhistorians_train", "When did Rome fall?", "476 CE in the West.", "Never.", None),
        # the post is only whitespace -> dropped (empty message)
        _shp_row(9, "askhistorians_train", "  \n ", "An answer.", "Another.", 0),
        _shp_row(10, "askhistorians_train", "Who built Petra?", "The Nabataeans.", "The Romans.", 1, 25, 5),
        _shp_row(11, "askhistorians_train", "Why did the Bronze Age collapse?", "Many causes at once.", "Nobody knows anything.", 0, 4, 30),
    ]
    cooking = [
        _shp_row(12, "cooking_train", "How do I stop pasta sticking?", "Plenty of boiling water and stir early.", "Add oil.", 1),
        _shp_row(13, "cooking_train", "Can I freeze cooked rice?", "Yes, cool it fast and freeze flat.", "No.", 1),
        _shp_row(14, "cooking_train", "Why rest a steak?", "Juices redistribute.", "It gets tired.", 1, 12, 2),
        _shp_row(15, "cooking_train", "Cast iron and tomatoes?", "Short cooking is fine.", "Never ever.", 0, 3, 14),
    ]
    files = {
        "reddit/askscience/train.json": (askscience, "\n"),
        "reddit/askhistorians/train.json": (askhistorians, ""),  # no newline after the last line
        "stackexchange/stack_cooking/train.json": (cooking, "\n\n"),  # a trailing blank line is not a row
    }
    for rel, (rows, tail) in files.items():
        path = SAMPLES / "shp_2" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(r, ensure_ascii=False) for r in rows]
        if rel.startswith("stackexchange"):
            lines.insert(2, "")  # a blank line in the middle is not a row either
        path.write_text("\n".join(lines) + tail)


# --------------------------------------------------------------------------------------------
# lvwerra/stack-exchange-paired: data/{finetune,reward,rl,evaluation}/train-*.parquet


def stack_exchange_paired() -> None:
    schema = pa.schema([("qid", pa.int64()), ("question", pa.string()), ("date", pa.string()),
                        ("metadata", pa.list_(pa.string())), ("response_j", pa.string()), ("response_k", pa.string())])
    topics = ["sorting a dict by value", "git undo last commit", "python virtualenv", "regex for email",
              "CSS centering a div", "SQL join types", "bash loop over files", "C pointer arithmetic",
              "rust borrow checker", "JavaScript closures"]
    for part, offset in (("finetune", 0), ("reward", 100), ("rl", 200), ("evaluation", 300)):
        rows = []
        for i in range(10):
            qid = offset + i
            topic = topics[i]
            rows.append({"qid": qid, "question": f"How do I handle {topic}? ({part})", "date": f"2015/0{1 + i % 9}/1{i}",
                         "metadata": [f"https://stackoverflow.com/questions/{qid}", "https://stackoverflow.com",
                                      f"https://stackoverflow.com/users/{1000 + qid}/"],
                         "response_j": f"<p>Here is a careful answer about {topic}.</p>",
                         "response_k": f"<p>A weaker answer about {topic}.</p>"})
        if part == "reward":
            rows[3]["response_k"] = ""  # empty rejected answer -> dropped
            rows[4]["question"] = "   "  # whitespace question -> dropped
            rows[5]["response_j"] = None  # missing chosen answer -> dropped
        if part == "rl":
            rows[6]["response_k"] = " " + rows[6]["response_j"]  # same text both sides: no preference -> dropped
            rows[7]["question"] = "Human: is this a marker?\n\nAssistant: no, plain text"  # kept verbatim
        _write_parquet(SAMPLES / "stack_exchange_paired" / "data" / part / "train-00000-of-00001.parquet",
                       pa.Table.from_pylist(rows, schema=schema), 4)


if __name__ == "__main__":
    hh_rlhf()
    nectar()
    shp_2()
    stack_exchange_paired()
    print(f"wrote samples under {SAMPLES}")
