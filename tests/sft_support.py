"""Helpers shared by the Tulu v2 SFT tests: building from the bundled samples, reading raw sample rows,
catalog variants, shuffled mirrors, and a token counter independent of the recipe's batched one."""

from __future__ import annotations

import dataclasses
import gzip
import json
import random
from pathlib import Path
from typing import Any

import polars as pl

from tulu_data.build import Builder
from tulu_data.catalog import Catalog, load_catalog
from tulu_data.sources import SAMPLES_DIR
from tulu_data.writer import read_manifest, read_splits

SFT_DATASETS = (
    "flan_v2", "cot", "oasst1", "sharegpt", "gpt4_alpaca", "code_alpaca",
    "lima", "wizardlm", "open_orca", "science", "hard_coded",
)  # fmt: skip
SOURCE_KEYS = (
    "flan_v2", "cot_zsopt", "cot_fsopt", "oasst1", "sharegpt", "gpt4_alpaca", "code_alpaca",
    "lima", "wizardlm", "open_orca", "science", "hard_coded",
)  # fmt: skip
SAMPLES_TOKENIZER = SAMPLES_DIR / "sharegpt_tokenizer"
MODEL_NAMES = (
    "OpenAI", "Open AI", "ChatGPT", "Chat GPT", "GPT-3", "GPT3", "GPT 3", "GPT-4", "GPT4", "GPT 4", "GPT-3.5",
    "GPT3.5", "GPT 3.5", "BingChat", "Bing Chat", "BARD", "Palm", "Anthropic", "Claude", "LAION",
    "Open Assistant", "OpenAssistant",
)  # fmt: skip


def catalog_with(params: dict[str, dict[str, Any]] | None = None) -> Catalog:
    """The project catalog with some datasets' params replaced (merged into the existing ones)."""
    catalog = load_catalog()
    datasets = dict(catalog.datasets)
    for name, extra in (params or {}).items():
        datasets[name] = dataclasses.replace(datasets[name], params={**datasets[name].params, **extra})
    return dataclasses.replace(catalog, datasets=datasets)


def builder(out: Path, sources: str = "samples", seed: int = 42, catalog: Catalog | None = None) -> Builder:
    return Builder(catalog=catalog or load_catalog(), sources=sources, out=out, seed=seed, force=True)


def rows(folder: Path) -> pl.DataFrame:
    return read_splits(folder)["train"]


def manifest(folder: Path) -> dict:
    return read_manifest(folder) or {}


def conversation(messages: list[dict]) -> tuple[tuple[str, str], ...]:
    """A conversation as a hashable tuple of (role, content)."""
    return tuple((m["role"], m["content"]) for m in messages)


def is_blank(text: str | None) -> bool:
    return text is None or not text.strip()


# ---- raw sample rows, read without the project's reader ----------------------------------------


def sample_file(key: str) -> Path:
    files = sorted(p for p in (SAMPLES_DIR / key).iterdir() if p.is_file())
    assert len(files) == 1, files
    return files[0]


def raw_jsonl(key: str) -> list[dict]:
    return [json.loads(line) for line in sample_file(key).read_text().splitlines() if line.strip()]


def raw_json(key: str) -> list[dict]:
    return json.loads(sample_file(key).read_text())


def raw_trees() -> list[dict]:
    with gzip.open(sample_file("oasst1"), "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def raw_sharegpt() -> list[dict]:
    return [row for path in sorted((SAMPLES_DIR / "sharegpt").rglob("*.json")) for row in json.loads(path.read_text())]


# ---- shuffled mirrors ---------------------------------------------------------------------------


def shuffled_mirror(root: Path, seed: int = 3) -> Path:
    """Every SFT source's sample rows in a new order (ShareGPT re-split across its two files)."""
    from make_sft_samples import HARD_CODED, write_xlsx

    rng = random.Random(seed)
    for key in SOURCE_KEYS:
        target = root / key
        target.mkdir(parents=True, exist_ok=True)
        if key == "sharegpt":
            convs = raw_sharegpt()
            rng.shuffle(convs)
            half = len(convs) // 3
            (target / "HTML_cleaned_raw_dataset").mkdir()
            (target / "HTML_cleaned_raw_dataset" / "sg_90k_part1_html_cleaned.json").write_text(json.dumps(convs[:half]))
            (target / "HTML_cleaned_raw_dataset" / "sg_90k_part2_html_cleaned.json").write_text(json.dumps(convs[half:]))
            continue
        source = sample_file(key)
        if key == "hard_coded":
            shuffled = list(HARD_CODED)
            rng.shuffle(shuffled)
            write_xlsx(target / source.name, ["Prompt", "Output"], shuffled)
        elif key == "open_orca":
            df = pl.read_parquet(source)
            df.sample(fraction=1.0, shuffle=True, seed=seed).write_parquet(target / source.name)
        elif key == "oasst1":
            lines = gzip.decompress(source.read_bytes()).decode().splitlines(keepends=True)
            rng.shuffle(lines)
            (target / source.name).write_bytes(gzip.compress("".join(lines).encode()))
        elif source.suffix == ".json":
            records = json.loads(source.read_text())
            rng.shuffle(records)
            (target / source.name).write_text(json.dumps(records))
        else:
            lines = source.read_text().splitlines(keepends=True)
            rng.shuffle(lines)
            (target / source.name).write_text("".join(lines))
    return root


# ---- an independent token counter ---------------------------------------------------------------


def turn_cost(tokenizer: Any, text: str, overhead: int = 6) -> int:
    """One turn's cost, counted one text at a time through the tokenizer's ordinary call."""
    return len(tokenizer(text)["input_ids"]) + overhead


def load_tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def train_tokenizer(texts: list[str], out: Path, vocab_size: int) -> Path:
    """A small byte-level BPE trained with `tokenizers`, saved as a PreTrainedTokenizerFast folder."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(texts, trainer=trainer)
    PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(str(out))
    return out
