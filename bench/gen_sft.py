"""Generate synthetic raw mirrors of the 11 Tulu v2 SFT sources at upstream scale, for bench_sft.py.

Each source gets its upstream file name, format and schema under OUT/<source_key>/ (the layout
`--sources OUT` reads), with row counts and text lengths close to the real files at `--scale 1`:

    flan_v2      flan_v2_resampled_50k.jsonl          50,000 rows, ~124 MB
    cot_zsopt    cot_zsopt.jsonl                      75,000 rows (count estimated), ~83 MB
    cot_fsopt    cot_fsopt.jsonl                      75,000 rows (count estimated), ~590 MB
    oasst1       2023-04-12_oasst_ready.trees.jsonl.gz  10,364 trees, ~88,800 messages
    sharegpt     sg_90k_part{1,2}_html_cleaned.json   90,000 conversations, ~1.1 GB of JSON
    gpt4_alpaca  alpaca_gpt4_data.json                52,002 rows, ~43 MB
    code_alpaca  code_alpaca_20k.json                 20,022 rows, ~8 MB
    lima         train.jsonl                          1,030 rows
    wizardlm     WizardLM_evol_instruct_V2_143k.json  143,000 rows, ~375 MB
    open_orca    1M-GPT4-Augmented.parquet            994,896 rows, ~2 GB of text
    science      science_train.jsonl                  7,544 rows, ~60 MB
    hard_coded   hard_coded_examples.xlsx             14 rows (the bundled sample sheet)

Text is cut from one Zipf-distributed pseudo-word corpus (a few percent of texts name a model, so the
mixture filter has work). The real Llama tokenizer cannot be downloaded here, so a byte-level BPE
tokenizer with Llama's vocabulary size (32,000, plus a BOS token added like Llama's) is trained on the
corpus and saved in OUT/_tokenizer for the ShareGPT token counts. One seeded generator: a given
`--scale` always gives the same files.

Usage: python bench/gen_sft.py [--scale 1.0] [--out bench/data/sft]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

SAMPLES = Path(__file__).resolve().parent.parent / "tulu_data" / "samples"
MODEL_WORDS = ("ChatGPT", "OpenAI", "GPT-4", "Claude", "Bard")
SYSTEM_PROMPTS = [
    "",
    "You are an AI assistant. You will be given a task. You must generate a detailed and long answer.",
    "You are a helpful assistant, who always provide explanation. Think like you are answering to a five year old.",
    "You are an AI assistant that helps people find information.",
    "User will you give you a task with some instruction. Your job is follow the instructions as faithfully as you can.",
    "You are an AI assistant. Provide a detailed answer so user don't need to search outside to understand the answer.",
    "Explain how you used the definition to come up with the answer.",
    "You are a teacher. Given a task, you explain in simple steps what the task is asking.",
]
SCIENCE_TASKS = {
    "evidence_inference": 1678,
    "qasper_truncated_4000": 2255,
    "scierc_ner": 350,
    "scierc_relation": 350,
    "scifact_json": 919,
    "scitldr_aic": 1992,
}


class Text:
    """Snippets of a Zipf-distributed pseudo-word corpus, cut at seeded offsets and log-normal lengths."""

    def __init__(self, rng: np.random.Generator, chars: int = 48_000_000, vocab: int = 60_000) -> None:
        letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
        freq = 1.0 / np.arange(1, 27) ** 0.9
        lengths = np.clip(rng.poisson(4.2, vocab) + 1, 1, 14)
        words = ["".join(rng.choice(letters, n, p=freq / freq.sum())) for n in lengths]
        words[:12] = ["the", "of", "and", "to", "a", "in", "is", "that", "for", "it", "as", "with"]
        for i in range(0, vocab, 9):
            words[i] += "."
        for i in range(4, vocab, 11):
            words[i] += ","
        words += ["\n", "\n\n", *MODEL_WORDS]
        p = 1.0 / (np.arange(1, vocab + 1) + 2.7) ** 1.07
        p = np.concatenate([p / p.sum() * 0.97345, [0.02, 0.0065], np.full(len(MODEL_WORDS), 0.00005 / len(MODEL_WORDS))])
        draws = rng.choice(len(words), size=chars // 5, p=p / p.sum())
        self.corpus = " ".join(np.array(words, dtype=object)[draws].tolist())
        self.rng = rng

    def many(self, n: int, median: float, sigma: float, cap: int = 60_000) -> list[str]:
        lengths = np.clip(self.rng.lognormal(np.log(median), sigma, n).astype(np.int64), 1, cap)
        starts = self.rng.integers(0, len(self.corpus) - cap - 1, n)
        corpus = self.corpus
        return [corpus[s : s + n_].strip() or "x" for s, n_ in zip(starts.tolist(), lengths.tolist(), strict=True)]


def write_jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_json_array(path: Path, records, indent: int | None = None) -> None:
    """A JSON array written record by record (the upstream files are one big array)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fh.write("[\n")
        for i, r in enumerate(records):
            fh.write((",\n" if i else "") + json.dumps(r, ensure_ascii=False, indent=indent))
        fh.write("\n]\n")


def scaled(n: int, scale: float) -> int:
    return max(1, round(n * scale))


def flan(text: Text, rng: np.random.Generator, n: int, inputs: tuple[float, float], targets: tuple[float, float], template: str):
    ins, outs = text.many(n, *inputs), text.many(n, *targets)
    ends = rng.random(n)
    for i in range(n):
        prompt = ins[i] + ("\nAnswer:" if ends[i] < 0.3 else "\n" if ends[i] < 0.4 else "")
        yield {"inputs": prompt, "targets": "" if ends[i] > 0.9997 else outs[i], "task_source": "Flan2021", "task_name": f"task{i % 600}", "template_type": template}


def oasst_trees(text: Text, rng: np.random.Generator, n_trees: int):
    counter = 0

    def node(role: str, depth: int) -> dict:
        nonlocal counter
        counter += 1
        # about 8.6 messages per tree as upstream: 2.8 replies to the first prompt, then a thinning tree
        if depth == 0:
            n_replies = int(rng.choice([1, 2, 3, 4], p=[0.1, 0.25, 0.4, 0.25]))
        elif role == "prompter":
            n_replies = int(rng.choice([0, 1, 2, 3], p=[0.15, 0.55, 0.25, 0.05])) if depth < 20 else 0
        else:
            n_replies = int(rng.choice([0, 1, 2], p=[0.65, 0.3, 0.05])) if depth < 20 else 0
        labels = {"spam": {"value": 0.0, "count": 3}}
        if rng.random() < 0.95:
            labels["quality"] = {"value": round(float(rng.random()), 4), "count": 3}
        return {
            "message_id": f"{counter:08x}-0000-4000-8000-000000000000",
            "user_id": f"user-{int(rng.integers(0, 13000))}",
            "created_date": "2023-03-01T12:00:00.000000+00:00",
            "text": text.many(1, 200 if role == "prompter" else 700, 0.9)[0],
            "role": role,
            "lang": "en" if rng.random() < 0.6 else "es",
            "review_count": 3,
            "review_result": True,
            "deleted": bool(rng.random() < 0.02),
            "rank": None,
            "synthetic": False,
            "model_name": None,
            "emojis": {"+1": int(rng.integers(0, 5))},
            "replies": [node("assistant" if role == "prompter" else "prompter", depth + 1) for _ in range(n_replies)],
            "labels": labels,
        }

    for _ in range(n_trees):
        root = node("prompter", 0)
        yield {"message_tree_id": root["message_id"], "tree_state": "ready_for_export", "prompt": root, "origin": "human"}


def sharegpt(text: Text, rng: np.random.Generator, n: int):
    n_turns = np.clip(rng.geometric(1 / 7.0, n), 1, 120)
    kinds = rng.random(n)
    for i in range(n):
        values = text.many(int(n_turns[i]), 900, 1.0, cap=40_000)
        senders = ["human" if j % 2 == 0 else "gpt" for j in range(len(values))]
        if kinds[i] < 0.006:
            senders[0] = "system"
        elif kinds[i] < 0.01:
            senders[-1] = "bing"
        elif kinds[i] < 0.03 and len(senders) > 2:
            senders[1] = "human"
        elif kinds[i] < 0.033:
            values[-1] = ""
        yield {"id": f"sg{i:06d}_0", "conversations": [{"from": s, "value": v} for s, v in zip(senders, values, strict=True)]}


def alpaca(text: Text, rng: np.random.Generator, n: int, output: tuple[float, float]):
    instructions, inputs, outputs = text.many(n, 80, 0.5), text.many(n, 100, 0.8), text.many(n, *output)
    has_input = rng.random(n) < 0.4
    for i in range(n):
        yield {"instruction": instructions[i], "input": inputs[i] if has_input[i] else "", "output": outputs[i]}


def wizardlm(text: Text, rng: np.random.Generator, n: int):
    turns = np.where(rng.random(n) < 0.9, 2, 4)
    for i in range(n):
        values = text.many(int(turns[i]), 500, 0.8)
        longer = text.many(int(turns[i]) // 2, 1500, 0.7)
        conv = []
        for j in range(int(turns[i]) // 2):
            conv += [{"from": "human", "value": values[2 * j]}, {"from": "gpt", "value": longer[j]}]
        yield {"idx": f"wiz_{i}", "conversations": conv}


def open_orca(text: Text, rng: np.random.Generator, n: int, path: Path, chunk: int = 100_000) -> None:
    schema = pa.schema([("id", pa.string()), ("system_prompt", pa.string()), ("question", pa.string()), ("response", pa.string())])
    prefixes = np.array(["flan", "niv", "t0", "cot"])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            ids = [f"{p}.{start + k}" for p, k in zip(prefixes[rng.integers(0, 4, m)].tolist(), range(m), strict=True)]
            systems = [SYSTEM_PROMPTS[k] for k in rng.integers(0, len(SYSTEM_PROMPTS), m).tolist()]
            table = pa.table(
                {"id": ids, "system_prompt": systems, "question": text.many(m, 600, 0.9), "response": text.many(m, 700, 0.9)},
                schema=schema,
            )
            writer.write_table(table, row_group_size=20_000)


def train_tokenizer(text: Text, out: Path, vocab_size: int = 32_000) -> None:
    """A byte-level BPE of Llama's vocabulary size, adding a BOS token like Llama's tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    sample = text.corpus[:20_000_000]
    tok.train_from_iterator((sample[i : i + 100_000] for i in range(0, len(sample), 100_000)), trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    out.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / "sft")
    args = parser.parse_args()
    out, s = args.out, args.scale
    if out.exists():
        shutil.rmtree(out)
    rng = np.random.default_rng(4)
    started = time.perf_counter()
    text = Text(rng)
    steps = [
        ("flan_v2", lambda: write_jsonl(out / "flan_v2" / "flan_v2_resampled_50k.jsonl", flan(text, rng, scaled(50_000, s), (1500, 0.9), (60, 1.2), "zs_opt"))),
        ("cot_zsopt", lambda: write_jsonl(out / "cot_zsopt" / "cot_zsopt.jsonl", flan(text, rng, scaled(75_000, s), (500, 0.6), (300, 0.6), "zs_opt"))),
        ("cot_fsopt", lambda: write_jsonl(out / "cot_fsopt" / "cot_fsopt.jsonl", flan(text, rng, scaled(75_000, s), (6500, 0.4), (300, 0.6), "fs_opt"))),
        ("oasst1", lambda: _gzip_jsonl(out / "oasst1" / "2023-04-12_oasst_ready.trees.jsonl.gz", oasst_trees(text, rng, scaled(10_364, s)))),
        ("sharegpt", lambda: _sharegpt(out / "sharegpt", text, rng, scaled(90_000, s))),
        ("gpt4_alpaca", lambda: write_json_array(out / "gpt4_alpaca" / "alpaca_gpt4_data.json", alpaca(text, rng, scaled(52_002, s), (600, 0.7)), indent=4)),
        ("code_alpaca", lambda: write_json_array(out / "code_alpaca" / "code_alpaca_20k.json", alpaca(text, rng, scaled(20_022, s), (250, 0.8)), indent=4)),
        ("lima", lambda: write_jsonl(out / "lima" / "train.jsonl", ({"conversations": text.many(2, 1400, 0.7), "source": "stackexchange"} for _ in range(scaled(1_030, s))))),
        ("wizardlm", lambda: write_json_array(out / "wizardlm" / "WizardLM_evol_instruct_V2_143k.json", wizardlm(text, rng, scaled(143_000, s)), indent=4)),
        ("open_orca", lambda: _mkdir_then(out / "open_orca", lambda d: open_orca(text, rng, scaled(994_896, s), d / "1M-GPT4-Augmented.parquet"))),
        ("science", lambda: write_jsonl(out / "science" / "science_train.jsonl", _science(text, rng, s))),
        ("hard_coded", lambda: _mkdir_then(out / "hard_coded", lambda d: shutil.copy(SAMPLES / "hard_coded" / "hard_coded_examples.xlsx", d))),
        ("_tokenizer", lambda: train_tokenizer(text, out / "_tokenizer")),
    ]
    for name, step in steps:
        t = time.perf_counter()
        step()
        size = sum(p.stat().st_size for p in (out / name).rglob("*") if p.is_file())
        print(f"{name:12s} {size / 1e6:9.1f} MB  {time.perf_counter() - t:6.1f} s", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s -> {out}")


def _gzip_jsonl(path: Path, records) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", compresslevel=6) as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def _sharegpt(folder: Path, text: Text, rng: np.random.Generator, n: int) -> None:
    conversations = sharegpt(text, rng, n)
    half = n // 2
    write_json_array(folder / "HTML_cleaned_raw_dataset" / "sg_90k_part1_html_cleaned.json", (next(conversations) for _ in range(half)), indent=2)
    write_json_array(folder / "HTML_cleaned_raw_dataset" / "sg_90k_part2_html_cleaned.json", conversations, indent=2)


def _science(text: Text, rng: np.random.Generator, s: float):
    for task, n in SCIENCE_TASKS.items():
        for inp, outp in zip(text.many(scaled(n, s), 6000, 0.5), text.many(scaled(n, s), 200, 0.8), strict=True):
            yield {"dataset": task, "input": inp, "output": outp}


def _mkdir_then(folder: Path, fn) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    fn(folder)


if __name__ == "__main__":
    main()
