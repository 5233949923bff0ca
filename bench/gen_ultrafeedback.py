"""Generate a synthetic raw UltraFeedback mirror at upstream scale, for the UltraFeedback benchmark.

The layout and schema are those of `openbmb/UltraFeedback`: one JSON-lines file per upstream source
(evol_instruct, false_qa, flan, sharegpt, truthful_qa, ultrachat), 63,967 prompts x 4 completions at
`--scale 1`, with text lengths close to the real files (about 0.95 GB of JSON in all). A TruthfulQA
`generation/validation` parquet file (817 questions) goes beside it. The same rows are also written as
parquet, one file per source, to compare input formats:

    bench/data/uf_jsonl/ultrafeedback/<source>.jsonl     bench/data/uf_parquet/ultrafeedback/<source>.parquet
    bench/data/uf_jsonl/truthful_qa/generation/validation-00000-of-00001.parquet   (copied to uf_parquet/ too)

Everything is drawn from one seeded generator, so a given `--scale` always gives the same files.
Usage: python bench/gen_ultrafeedback.py [--scale 1.0] [--out bench/data]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import polars as pl

# upstream per-file row counts (openbmb/UltraFeedback README); flan rows carry four flan_v2_* sources
SOURCE_FILES = {
    "evol_instruct": 10_000,
    "false_qa": 2_339,
    "flan": 20_939,
    "sharegpt": 19_949,
    "truthful_qa": 811,
    "ultrachat": 9_929,
}
FLAN_SOURCES = ("flan_v2_cot", "flan_v2_flan2021", "flan_v2_niv2", "flan_v2_p3")
TRUTHFULQA_QUESTIONS = 817
TRUTHFULQA_COPIES = 30  # TruthfulQA questions that also appear in evol_instruct, as upstream
ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
MODELS = (
    "gpt-4", "gpt-3.5-turbo", "bard", "llama-2-70b-chat", "llama-2-13b-chat", "llama-2-7b-chat", "ultralm-65b",
    "ultralm-13b", "wizardlm-70b", "wizardlm-13b", "wizardlm-7b", "vicuna-33b", "alpaca-7b", "falcon-40b-instruct",
    "mpt-30b-chat", "starchat", "pythia-12b",
)
PRINCIPLES = ("helpfulness", "honesty", "truthfulness", "verbalized_calibration", "harmlessness")
_WORD_TEXT = (
    "the of and to a in is that for it as with was on be by this are or from at an which but not have has can "
    "model answer question data value result example system function number process time first use people "
    "information because between important however therefore provide response correct step following given "
    "consider approach python code list table summary explain describe translate sentence premise hypothesis"
)
WORDS = _WORD_TEXT.split()

# median text length (characters) and log-normal spread, per field, close to the upstream files
LENGTHS = {
    "instruction": (330, 0.9),
    "response": (1000, 0.7),
    "critique": (420, 0.4),
    "rationale": (190, 0.35),
    "rationale_for_rating": (150, 0.35),
}


class TextSource:
    """Random-looking English-ish text: slices of one long seeded word stream."""

    def __init__(self, rng: np.random.Generator, size: int = 8_000_000) -> None:
        words = np.array(WORDS)[rng.integers(0, len(WORDS), size // 5)]
        self.text = " ".join(words.tolist())
        self.rng = rng

    def take(self, field: str, n: int) -> list[str]:
        median, sigma = LENGTHS[field]
        lengths = np.clip(self.rng.lognormal(np.log(median), sigma, n).astype(int), 8, 12_000)
        starts = self.rng.integers(0, len(self.text) - 12_001, n)
        return [self.text[s : s + ln].strip().capitalize() + "." for s, ln in zip(starts.tolist(), lengths.tolist(), strict=True)]


def _ratings(rng: np.random.Generator, n: int) -> np.ndarray:
    """n x 4 string ratings: a per-completion quality plus aspect noise, some 'N/A'."""
    quality = rng.uniform(1.0, 5.4, n)[:, None]
    values = np.clip(np.rint(quality + rng.normal(0, 0.6, (n, 4))), 1, 5).astype(int).astype(str).astype(object)
    na = rng.random((n, 4)) < np.array([0.01, 0.04, 0.005, 0.02])
    values[na] = "N/A"
    values[rng.random(n) < 0.002] = "N/A"  # a few completions with every aspect N/A
    return values


def make_rows(name: str, n: int, text: TextSource, rng: np.random.Generator, tqa: list[str], row0: int) -> list[dict]:
    """The rows of one upstream file, in the upstream schema."""
    instructions = text.take("instruction", n)
    instructions = [f"{ins} (#{row0 + i})" for i, ins in enumerate(instructions)]  # unique prompts
    if name == "truthful_qa":
        instructions = tqa[:n]
    if name == "evol_instruct":
        for i in range(min(TRUTHFULQA_COPIES, n)):
            instructions[i * 7] = tqa[i]
    n_comp = np.where(rng.random(n) < 0.003, 3, 4)
    total = int(n_comp.sum())
    responses = text.take("response", total)
    critiques = text.take("critique", total)
    rationales = text.take("rationale", total * 4)
    rfr = text.take("rationale_for_rating", total * 2)
    ratings = _ratings(rng, total)
    empty = rng.random(total) < 0.001
    defect = rng.random(total) < 0.004  # the pre-2023-12-29 overall_score pattern: 10 with low aspects
    ratings[defect] = "1"
    model_ids = rng.integers(0, len(MODELS), total)
    principle_ids = rng.integers(0, len(PRINCIPLES), total)
    sources = [name] * n if name != "flan" else [FLAN_SOURCES[i] for i in rng.integers(0, 4, n)]
    rows, k = [], 0
    for i in range(n):
        completions = []
        for _ in range(int(n_comp[i])):
            rated = [float(r) for r in ratings[k] if r != "N/A"]
            fine = sum(rated) / len(rated) if rated else 0.0
            overall = 10.0 if defect[k] else float(np.clip(round(fine * 2 + rng.normal(0, 0.8)) , 1, 10))
            ann = {}
            for j, aspect in enumerate(ASPECTS):
                entry = {"Rating": ratings[k][j], "Rationale": rationales[k * 4 + j]}
                if aspect in ("helpfulness", "truthfulness"):
                    entry["Rationale For Rating"] = rfr[k * 2 + (aspect == "truthfulness")]
                    entry["Type"] = ["1", "2"] if aspect == "helpfulness" else ["0"]
                ann[aspect] = entry
            completions.append(
                {
                    "annotations": ann,
                    "critique": critiques[k],
                    "custom_system_prompt": f"As an AI assistant, keep to the principle of {PRINCIPLES[principle_ids[k]]}.",
                    "fine-grained_score": fine,
                    "model": MODELS[model_ids[k]],
                    "overall_score": overall,
                    "principle": PRINCIPLES[principle_ids[k]],
                    "response": "" if empty[k] else responses[k],
                }
            )
            k += 1
        truthful = name == "truthful_qa"
        rows.append(
            {
                "source": sources[i],
                "instruction": instructions[i],
                "models": [c["model"] for c in completions],
                "completions": completions,
                "correct_answers": ["A correct answer."] if truthful else ["None"],
                "incorrect_answers": ["An incorrect answer."] if truthful else ["None"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the upstream row counts (default 1.0)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    text = TextSource(rng)
    jsonl_root, parquet_root = args.out / "uf_jsonl", args.out / "uf_parquet"
    for root in (jsonl_root, parquet_root):
        shutil.rmtree(root, ignore_errors=True)
        (root / "ultrafeedback").mkdir(parents=True)
        (root / "truthful_qa" / "generation").mkdir(parents=True)

    tqa = [f"{q.rstrip('.')}? (truthfulqa #{i})" for i, q in enumerate(text.take("instruction", TRUTHFULQA_QUESTIONS))]
    tqa_frame = pl.DataFrame(
        {
            "type": ["Adversarial"] * len(tqa),
            "category": ["Misconceptions"] * len(tqa),
            "question": tqa,
            "best_answer": ["A correct answer."] * len(tqa),
            "correct_answers": [["A correct answer."]] * len(tqa),
            "incorrect_answers": [["An incorrect answer."]] * len(tqa),
            "source": ["https://example.org"] * len(tqa),
        }
    )
    for root in (jsonl_root, parquet_root):
        tqa_frame.write_parquet(root / "truthful_qa" / "generation" / "validation-00000-of-00001.parquet")

    row0, total_rows, total_bytes = 0, 0, 0
    for name, count in SOURCE_FILES.items():
        n = max(1, round(count * args.scale))
        rows = make_rows(name, n, text, rng, tqa, row0)
        row0 += n
        path = jsonl_root / "ultrafeedback" / f"{name}.jsonl"
        with open(path, "w") as fh:
            for row in rows:
                fh.write(json.dumps(row) + "\n")
        pl.read_ndjson(path, infer_schema_length=None).write_parquet(parquet_root / "ultrafeedback" / f"{name}.parquet")
        total_rows += n
        total_bytes += path.stat().st_size
        print(f"{path}: {n:,} rows, {path.stat().st_size / 1e6:,.1f} MB")
    print(f"{total_rows:,} prompts, {total_bytes / 1e9:.2f} GB of JSON lines in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
