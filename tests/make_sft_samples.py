"""Write the synthetic Tulu v2 SFT samples under tulu_data/samples/ (and the small ShareGPT tokenizer).

The committed files are what builds and tests read; this script documents how they were made and
regenerates them byte for byte: `python tests/make_sft_samples.py`. Every file is in its upstream
schema and format, small, and covers the edge cases the recipes handle.
"""

from __future__ import annotations

import gzip
import io
import json
import random
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape

import polars as pl

SAMPLES = Path(__file__).resolve().parent.parent / "tulu_data" / "samples"
TOKENIZER_DIR = SAMPLES / "sharegpt_tokenizer"

SENTENCES = [
    "The river bends twice before it reaches the old mill.",
    "Photosynthesis turns light, water and carbon dioxide into sugar.",
    "A prime number has exactly two divisors.",
    "She packed three notebooks and a pencil case for the trip.",
    "Glaciers carve U-shaped valleys over thousands of years.",
    "The committee postponed the vote until next Tuesday.",
    "Binary search halves the interval at every step.",
    "Bees communicate the direction of flowers with a waggle dance.",
    "The recipe calls for two cups of flour and one egg.",
    "Interest compounds when earnings are reinvested.",
    "Münster's cathedral square is busy on market days.",
    "A haiku has three lines of five, seven and five syllables.",
]


def text(rng: random.Random, n: int) -> str:
    """`n` sentences of plain English, chosen by `rng`."""
    return " ".join(rng.choice(SENTENCES) for _ in range(n))


def gibberish(rng: random.Random, chars: int) -> str:
    """Random lowercase 'words' (about `chars` characters): costly to tokenize, so long turns stay small on disk."""
    words, total = [], 0
    while total < chars:
        word = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9)))
        words.append(word)
        total += len(word) + 1
    return " ".join(words)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def write_json(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")


# --------------------------------------------------------------------------------------------
# FLAN v2 and CoT (inputs/targets)


def flan_rows(rng: random.Random, kind: str) -> list[dict]:
    """FLAN-style rows, covering each branch of the newline rule and the drop reasons."""
    rows = [
        # no newline, no colon: gets "\n"
        (f"Premise: {text(rng, 1)}\nHypothesis: {text(rng, 1)}\nDoes the premise entail the hypothesis?\nOPTIONS:\n- yes\n- no", "no"),
        (f"Summarize this: {text(rng, 3)}", text(rng, 1)),
        # already ends in a newline: unchanged
        (f"Translate to French:\n{text(rng, 1)}\n", "La rivière tourne deux fois."),
        # ends in a colon: unchanged
        (f"Q: {text(rng, 1)} Is this true?\nA:", "yes"),
        # colon then trailing spaces: unchanged (the colon test looks past trailing whitespace)
        (f"Write a title for this article: {text(rng, 2)}\nTitle:   ", "Rivers and mills"),
        # colon then a newline: ends in a newline, unchanged
        (f"Context: {text(rng, 2)}\nQuestion: what bends twice?\nAnswer:\n", "The river."),
        # newline then a space: not a newline ending, gets "\n"
        (f"{text(rng, 2)}\nWhat is the topic? \n ", "nature"),
        # a colon inside the text but not at the end: gets "\n"
        (f"Note: {text(rng, 1)} Rewrite it more formally", text(rng, 1)),
        # empty and whitespace-only answers: dropped as empty turns
        (f"Complete the sentence: {text(rng, 1)}", ""),
        (f"Classify the sentiment: {text(rng, 1)}", "   \n"),
        # model names anywhere in the row: removed by the mixture's filter
        (f"Who founded OpenAI? {text(rng, 1)}", "A group of researchers."),
        (f"{text(rng, 1)} What is napalm made of?", "It is a gelling agent mixed with fuel."),
        (f"The castle was bombarded for weeks. {text(rng, 1)} Why?", "It was under siege."),
        (f"Does gpt4 appear in this question? {text(rng, 1)}", "It does."),
        # unicode and multi-line text
        (f"Übersetze ins Englische: {text(rng, 1)}\n\n(ein Satz)", text(rng, 1)),
    ]
    for i in range(8):  # ordinary rows
        rows.append((f"{text(rng, rng.randint(1, 4))} Question {i}: what is the main idea?", text(rng, rng.randint(1, 2))))
    if kind == "fs":  # few-shot prompts: exemplars, then the question, ending in "A:"
        for i in range(4):
            shots = "\n\n".join(f"Q: {text(rng, 1)}\nA: {text(rng, 1)}" for _ in range(2))
            rows.append((f"{shots}\n\nQ: {text(rng, 1)} (#{i})\nA:", f"Let's think step by step. {text(rng, 2)} So the answer is yes."))
    out = [
        {
            "inputs": inputs,
            "targets": targets,
            "task_source": "Flan2021" if kind == "flan" else "CoT",
            "task_name": f"{kind}_task_{i % 5}",
            "template_type": "fs_opt" if kind == "fs" else "zs_opt",
        }
        for i, (inputs, targets) in enumerate(rows)
    ]
    out.append(dict(out[1]))  # an exact duplicate row: both kept, with distinct ids
    out.append({"inputs": None, "targets": "orphan answer", "task_source": "Flan2021", "task_name": "x", "template_type": "zs_opt"})
    return out


# --------------------------------------------------------------------------------------------
# OpenAssistant trees


class Trees:
    """Builds oasst1 trees in the export's shape: nested `replies`, `labels` keyed by label name."""

    def __init__(self) -> None:
        self.counter = 0

    def node(self, role: str, text_: str, quality: float | None = None, deleted: bool = False, replies=(), labels=True, lang="en") -> dict:
        self.counter += 1
        label_map = {"spam": {"value": 0.0, "count": 3}}
        if quality is not None:
            label_map["quality"] = {"value": quality, "count": 3}
        return {
            "message_id": f"00000000-0000-4000-8000-{self.counter:012d}",
            "user_id": f"user-{self.counter % 7}",
            "created_date": f"2023-02-{1 + self.counter % 27:02d}T10:00:00.000000+00:00",
            "text": text_,
            "role": role,
            "lang": lang,
            "review_count": 3,
            "review_result": True,
            "deleted": deleted,
            "rank": None,
            "synthetic": False,
            "model_name": None,
            "emojis": {"+1": 2},
            "replies": list(replies),
            "labels": label_map if labels else None,
        }


def oasst_trees(rng: random.Random) -> list[dict]:
    t = Trees()
    q = lambda: text(rng, 2) + " What do you think?"  # noqa: E731
    a = lambda: text(rng, 3)  # noqa: E731
    trees = [
        # best reply at every turn; the best first-level reply has a follow-up with two answers
        t.node("prompter", q(), replies=[
            t.node("assistant", a(), 0.4),
            t.node("assistant", a(), 0.9, replies=[
                t.node("prompter", q(), 0.2, replies=[t.node("assistant", a(), 0.3)]),
                t.node("prompter", q(), 0.8, replies=[
                    t.node("assistant", a(), 0.1),
                    t.node("assistant", a(), 0.7, replies=[t.node("prompter", q(), 0.5, replies=[t.node("assistant", a(), 0.6)])]),
                ]),
            ]),
            t.node("assistant", a(), 0.5),
        ]),
        # the highest-quality reply is deleted: the next best is taken
        t.node("prompter", q(), replies=[
            t.node("assistant", "DELETED " + a(), 0.99, deleted=True),
            t.node("assistant", a(), 0.6),
            t.node("assistant", a(), 0.2),
        ]),
        # a tie: the first of the tied replies wins; a missing quality label counts as 0
        t.node("prompter", q(), replies=[
            t.node("assistant", a(), None),
            t.node("assistant", a(), 0.75),
            t.node("assistant", a(), 0.75),
        ]),
        # no quality labels at all (and labels null): the first reply wins
        t.node("prompter", q(), replies=[
            t.node("assistant", a(), labels=False),
            t.node("assistant", a(), labels=False),
        ]),
        # a deleted root: the tree gives nothing
        t.node("prompter", "DELETED " + q(), deleted=True, replies=[t.node("assistant", a(), 0.8)]),
        # the best path ends in a prompter turn nobody answered: no conversation
        t.node("prompter", q(), replies=[
            t.node("assistant", a(), 0.9, replies=[t.node("prompter", q(), 0.9)]),
            t.node("assistant", a(), 0.1),
        ]),
        # an assistant whose only follow-up is deleted is a leaf
        t.node("prompter", q(), replies=[
            t.node("assistant", a(), 0.8, replies=[t.node("prompter", "DELETED " + q(), 0.9, deleted=True, replies=[t.node("assistant", a(), 0.9)])]),
        ]),
        # a prompt with no replies: nothing
        t.node("prompter", q()),
        # a model name in the best reply (removed later by the mixture's filter)
        t.node("prompter", "Are you Open Assistant? " + q(), replies=[t.node("assistant", "I am a language model trained by LAION volunteers.", 0.9)]),
        # an empty best reply: an empty turn, dropped
        t.node("prompter", q(), replies=[t.node("assistant", "  ", 0.9), t.node("assistant", a(), 0.1)]),
        # non-English tree, deeper
        t.node("prompter", "¿Qué es la fotosíntesis?", lang="es", replies=[
            t.node("assistant", "Es el proceso por el que las plantas producen azúcar.", 0.7, lang="es", replies=[
                t.node("prompter", "¿Y la respiración?", 0.6, lang="es", replies=[
                    t.node("assistant", "Es el proceso inverso.", 0.5, lang="es"),
                    t.node("assistant", "Libera energía del azúcar.", 0.8, lang="es"),
                ]),
            ]),
        ]),
    ]
    return [
        {"message_tree_id": tree["message_id"], "tree_state": "ready_for_export", "prompt": tree, "origin": "human"}
        for tree in trees
    ]


# --------------------------------------------------------------------------------------------
# ShareGPT


def turn(who: str, value: str) -> dict:
    return {"from": who, "value": value}


def sharegpt_parts(rng: random.Random) -> tuple[list[dict], list[dict]]:
    """Two files like the upstream's part 1 and part 2."""
    short = lambda: text(rng, rng.randint(1, 3))  # noqa: E731
    long_pairs = [turn(w, gibberish(rng, n)) for _ in range(12) for w, n in (("human", 300), ("gpt", 1500))]
    part1 = [
        {"id": "sg1", "conversations": [turn("human", short()), turn("gpt", short())]},
        {"id": "sg2", "conversations": [turn("human", short()), turn("gpt", short()), turn("human", short()), turn("gpt", short())]},
        # long: split into several chunks of whole pairs
        {"id": "sglong", "conversations": long_pairs},
        # one pair over the limit in the middle: skipped, the others kept
        {"id": "sgbigpair", "conversations": [
            turn("human", short()), turn("gpt", short()),
            turn("human", gibberish(rng, 200)), turn("gpt", gibberish(rng, 6000)),
            turn("human", short()), turn("gpt", short()),
        ]},
        # the last pair does not fit with the ones before: it becomes a chunk of its own
        {"id": "sglastsplit", "conversations": [
            turn("human", gibberish(rng, 100)), turn("gpt", gibberish(rng, 2600)),
            turn("human", gibberish(rng, 100)), turn("gpt", gibberish(rng, 2600)),
        ]},
        # a system turn or a bing turn: dropped
        {"id": "sgsystem", "conversations": [turn("system", "You are helpful."), turn("human", short()), turn("gpt", short())]},
        {"id": "sgbing", "conversations": [turn("human", short()), turn("bing", short())]},
        # odd trailing human turn: cut off, the rest kept
        {"id": "sgodd", "conversations": [turn("human", short()), turn("gpt", short()), turn("human", "And one more thing?")]},
        # empty conversation and a lone human turn: nothing to keep
        {"id": "sgempty", "conversations": []},
        {"id": "sglone", "conversations": [turn("human", short())]},
    ]
    part2 = [
        # non-alternating roles: dropped
        {"id": "sggptfirst", "conversations": [turn("gpt", short()), turn("human", short())]},
        {"id": "sgtwohumans", "conversations": [turn("human", short()), turn("human", short()), turn("gpt", short()), turn("gpt", short())]},
        {"id": "sguser", "conversations": [turn("user", short()), turn("chatgpt", short())]},
        # an empty turn: dropped as an empty turn
        {"id": "sgemptyturn", "conversations": [turn("human", short()), turn("gpt", "")]},
        # a model name (removed by the mixture's filter)
        {"id": "sgmodel", "conversations": [turn("human", "Are you ChatGPT?"), turn("gpt", "I am an AI assistant. " + short())]},
        # the same id as a part-1 conversation with different content (ids are not unique upstream)
        {"id": "sg1", "conversations": [turn("human", short() + " (again)"), turn("gpt", short())]},
        {"id": "sg3", "conversations": [turn("human", "Hi"), turn("gpt", "Hello! " + short()), turn("human", short()), turn("gpt", short()), turn("human", short()), turn("gpt", short())]},
    ]
    return part1, part2


def train_tokenizer(texts: list[str], out: Path) -> None:
    """A tiny byte-level BPE tokenizer trained on the sample text, saved as a PreTrainedTokenizerFast folder."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=["<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.iterdir():
        old.unlink()
    fast.save_pretrained(str(out))


# --------------------------------------------------------------------------------------------
# instruction data, LIMA, WizardLM, OpenOrca, science, hard-coded


def alpaca_rows(rng: random.Random, code: bool) -> list[dict]:
    rows = []
    for i in range(24):
        with_input = i % 3 != 0
        instruction = (f"Write a function that {text(rng, 1).lower()}" if code else f"Explain this: {text(rng, 1)}") + f" ({i})"
        rows.append({
            "instruction": instruction,
            "input": (f"  {text(rng, 1)}\n" if with_input else ""),
            "output": ("def f(x):\n    return x\n" if code else text(rng, 2)),
        })
    rows.append({"instruction": "Say nothing.", "input": "", "output": ""})  # empty answer: dropped
    rows.append({"instruction": "Describe the weather.", "input": "   ", "output": text(rng, 1)})  # blank input: template without input
    rows.append({"instruction": "Compare GPT-4 with a calculator.", "input": "", "output": "They differ."})  # filtered later
    rows.append({"instruction": "   ", "input": "", "output": "An answer to nothing."})  # blank instruction: empty turn
    return rows


def lima_rows(rng: random.Random) -> list[dict]:
    return [
        {"conversations": [text(rng, 1), text(rng, 3)], "source": "stackexchange"},
        {"conversations": [text(rng, 1), text(rng, 2), text(rng, 1), text(rng, 2)], "source": "multi_turn"},
        {"conversations": [text(rng, 1), text(rng, 2), "A trailing question nobody answered?"], "source": "multi_turn"},
        {"conversations": ["Only a question?"], "source": "wikihow"},
        {"conversations": [text(rng, 1), ""], "source": "nlp"},
        {"conversations": ["Tell me about Claude Monet.", text(rng, 2)], "source": "wikihow"},
        {"conversations": [text(rng, 2), text(rng, 4)], "source": "wikihow"},
        {"conversations": [text(rng, 1), text(rng, 2)], "source": "stackexchange"},
    ]


def wizardlm_rows(rng: random.Random) -> list[dict]:
    rows = [
        {"idx": f"wiz_{i}", "conversations": [turn("human", text(rng, 2)), turn("gpt", text(rng, 3))]} for i in range(8)
    ]
    rows += [
        {"idx": "wiz_multi", "conversations": [turn("human", text(rng, 1)), turn("gpt", text(rng, 1)), turn("human", text(rng, 1)), turn("gpt", text(rng, 2))]},
        {"idx": "wiz_gptfirst", "conversations": [turn("gpt", text(rng, 1)), turn("human", text(rng, 1))]},
        {"idx": "wiz_odd", "conversations": [turn("human", text(rng, 1)), turn("gpt", text(rng, 1)), turn("human", text(rng, 1))]},
        {"idx": "wiz_empty", "conversations": [turn("human", text(rng, 1)), turn("gpt", " ")]},
        {"idx": "wiz_bard", "conversations": [turn("human", "Is Bard better than you?"), turn("gpt", text(rng, 1))]},
        {"idx": "wiz_0", "conversations": [turn("human", "A repeated idx with other content."), turn("gpt", text(rng, 1))]},
    ]
    return rows


def orca_frame(rng: random.Random) -> pl.DataFrame:
    systems = ["", "You are an AI assistant. Provide a detailed answer.", "   ", "You are a helpful assistant, who always provides explanation."]
    rows = []
    for i in range(20):
        rows.append({"id": f"{['flan', 'niv', 't0', 'cot'][i % 4]}.{1000 + i}", "system_prompt": systems[i % 4], "question": text(rng, 2), "response": text(rng, 3)})
    rows.append({"id": "flan.2000", "system_prompt": systems[1], "question": text(rng, 1), "response": ""})  # empty: dropped
    rows.append({"id": "niv.2001", "system_prompt": "", "question": "Write like Anthropic's assistant.", "response": text(rng, 1)})
    return pl.DataFrame(rows, schema={"id": pl.String, "system_prompt": pl.String, "question": pl.String, "response": pl.String})


def science_rows(rng: random.Random) -> list[dict]:
    tasks = ["evidence_inference", "qasper_truncated_4000", "scierc_ner", "scierc_relation", "scifact_json", "scitldr_aic"]
    rows = []
    for i in range(14):
        task = tasks[i % len(tasks)]
        rows.append({"dataset": task, "input": f"Read the abstract and answer.\n\nAbstract: {text(rng, 3)}\n\nQuestion {i}:", "output": text(rng, 1)})
    rows.append({"dataset": "scifact_json", "input": f"Claim: {text(rng, 1)}", "output": ""})  # empty: dropped
    rows.append({"dataset": "scitldr_aic", "input": f"{text(rng, 2)} We compare with PaLM.", "output": "A summary."})
    return rows


HARD_CODED = [
    ("Who are you?", "I am Tulu, a language model assistant trained by researchers at AI2."),
    ("What is your name?", "My name is Tulu."),
    ("Who created you?", "I was trained by researchers at the Allen Institute for AI (AI2)."),
    ("Are you ChatGPT?", "No. I am Tulu, trained by AI2; I am not ChatGPT and was not made by OpenAI."),
    ("Which model are you based on?", "I am fine-tuned from an open base language model."),
    ("What can you do?", "I can answer questions, write and edit text, and help with reasoning."),
    ("Do you have feelings?", "No, I am a language model and do not have feelings."),
    ("Are you Claude?", "No, I am Tulu, not Claude by Anthropic."),
    ("Tell me about yourself.", "I am Tulu, an open assistant model built for research."),
    ("Can you browse the internet?", "No, I cannot browse the internet."),
    ("What data were you trained on?", "A mixture of public instruction datasets."),
    ("Are you open source?", "Yes: my training data and code are public."),
    ("What is Tulu?", "Tulu is a family of instruction-tuned models from AI2."),
    ("Hello!", "Hello! How can I help you today?"),
]


def write_xlsx(path: Path, header: list[str], rows: list[tuple[str, ...]]) -> None:
    """A minimal Excel workbook (shared strings, like Excel writes them), with a trailing blank row."""
    strings: list[str] = []
    index: dict[str, int] = {}

    def sid(value: str) -> int:
        if value not in index:
            index[value] = len(strings)
            strings.append(value)
        return index[value]

    sheet_rows = []
    for r, values in enumerate([tuple(header), *rows], start=1):
        cells = "".join(f'<c r="{chr(65 + c)}{r}" t="s"><v>{sid(v)}</v></c>' for c, v in enumerate(values))
        sheet_rows.append(f'<row r="{r}">{cells}</row>')
    sheet_rows.append(f'<row r="{len(rows) + 2}"><c r="A{len(rows) + 2}"/></row>')  # an empty, formatted row
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    files = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
            "</Types>"
        ),
        "_rels/.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
            "</Relationships>"
        ),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="{main}" xmlns:r="{rel}">'
            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
            '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>'
            "</Relationships>"
        ),
        "xl/worksheets/sheet1.xml": (
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="{main}"><sheetData>'
            + "".join(sheet_rows)
            + "</sheetData></worksheet>"
        ),
    }
    shared = "".join(f'<si><t xml:space="preserve">{escape(s)}</t></si>' for s in strings)
    files["xl/sharedStrings.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="{main}" count="{len(strings)}" '
        f'uniqueCount="{len(strings)}">{shared}</sst>'
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, body in files.items():
            info = zipfile.ZipInfo(name, date_time=(2023, 9, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, body.encode())
    path.write_bytes(buf.getvalue())


def main() -> None:
    rng = random.Random(20231120)
    write_jsonl(SAMPLES / "flan_v2" / "flan_v2_resampled_50k.jsonl", flan_rows(rng, "flan"))
    write_jsonl(SAMPLES / "cot_zsopt" / "cot_zsopt.jsonl", flan_rows(rng, "zs"))
    write_jsonl(SAMPLES / "cot_fsopt" / "cot_fsopt.jsonl", flan_rows(rng, "fs"))

    trees = oasst_trees(rng)
    path = SAMPLES / "oasst1" / "2023-04-12_oasst_ready.trees.jsonl.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = "".join(json.dumps(t, ensure_ascii=False) + "\n" for t in trees).encode()
    path.write_bytes(gzip.compress(raw, mtime=0))

    part1, part2 = sharegpt_parts(rng)
    write_json(SAMPLES / "sharegpt" / "HTML_cleaned_raw_dataset" / "sg_90k_part1_html_cleaned.json", part1)
    write_json(SAMPLES / "sharegpt" / "HTML_cleaned_raw_dataset" / "sg_90k_part2_html_cleaned.json", part2)
    train_tokenizer([t["value"] for c in part1 + part2 for t in c["conversations"]], TOKENIZER_DIR)

    write_json(SAMPLES / "gpt4_alpaca" / "alpaca_gpt4_data.json", alpaca_rows(rng, code=False))
    write_json(SAMPLES / "code_alpaca" / "code_alpaca_20k.json", alpaca_rows(rng, code=True))
    write_jsonl(SAMPLES / "lima" / "train.jsonl", lima_rows(rng))
    write_json(SAMPLES / "wizardlm" / "WizardLM_evol_instruct_V2_143k.json", wizardlm_rows(rng))
    path = SAMPLES / "open_orca" / "1M-GPT4-Augmented.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    orca_frame(rng).write_parquet(path, compression="zstd", statistics=False)
    write_jsonl(SAMPLES / "science" / "science_train.jsonl", science_rows(rng))
    write_xlsx(SAMPLES / "hard_coded" / "hard_coded_examples.xlsx", ["Prompt", "Output"], HARD_CODED)


if __name__ == "__main__":
    main()
