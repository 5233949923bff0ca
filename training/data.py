"""Resolving ``--mix`` to data, and tokenizing it once (cached by fingerprint).

``--mix`` may be a local dataset folder, a Hub dataset id (``owner/name``), or a catalog dataset or
mixture name, which ``tulu_data.build.build`` builds (reusing an earlier matching build).

Tokenized data is stored under ``$TULU_DATA_CACHE`` (default ``~/.cache/tulu-data/tokenized``) in a
folder named by a fingerprint of: the data's content hash, the split and any subsample, the task,
the tokenizer (vocab, merges, special tokens, template), the chat template, the max length and the
encoder version. A second run with the same inputs loads it without tokenizing; a change to any of
them tokenizes again, so a template fix never trains on stale tokens.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset, DatasetDict, load_dataset, load_from_disk

from .chat_format import (
    ENCODER_VERSION,
    bos_ids,
    encode_batch_with_labels,
    render_tulu,
    split_preference_pair,
    tulu_template,
)
from .front_door import TrainingInputError
from .modeling import tokenizer_fingerprint

logger = logging.getLogger(__name__)

TASKS = ("sft", "dpo", "rm")
DATA_SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".arrow")

# How many times each task actually tokenized (cache misses) in this process; tests read it.
TOKENIZATION_RUNS: Counter[str] = Counter()


@dataclass
class Mix:
    """A resolved ``--mix``: its splits, where it came from, and a hash of its content."""

    name: str
    datasets: DatasetDict
    content_hash: str
    folder: Path | None = None


def _folder_content_hash(folder: Path) -> str:
    """The build's ``manifest.json`` content hash, else a hash of the data files' bytes."""
    manifest = folder / "manifest.json"
    if manifest.is_file():
        content_hash = json.loads(manifest.read_text()).get("content_hash")
        if content_hash:
            return str(content_hash)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES):
        digest.update(str(path.relative_to(folder)).encode())
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _as_dataset_dict(loaded: Dataset | DatasetDict) -> DatasetDict:
    return loaded if isinstance(loaded, DatasetDict) else DatasetDict({"train": loaded})


def load_mix(mix: str, sources: str = "hub", out: Path | str = Path("builds"), seed: int = 42) -> Mix:
    """Resolve ``--mix``: a local folder, a Hub dataset id, or a catalog name built with tulu_data.

    ``sources`` (catalog names only) is passed to ``tulu_data.build.build``: 'hub', a mirror folder, or
    'samples' (the few bundled rows per source).
    """
    path = Path(mix).expanduser()
    if path.is_dir():
        return Mix(path.name, _as_dataset_dict(load_dataset(str(path))), _folder_content_hash(path), path)
    if "/" in mix:
        datasets = _as_dataset_dict(load_dataset(mix))
        content_hash = hashlib.sha256(
            json.dumps({split: ds._fingerprint for split, ds in sorted(datasets.items())}).encode()
        ).hexdigest()
        return Mix(mix, datasets, content_hash)
    from tulu_data.build import build  # the catalog: imported lazily, only for catalog names

    if sources == "samples":
        logger.warning(
            "building %s from the bundled samples (a few rows per source): a smoke run, not a recipe", mix
        )

    folder = Path(build(mix, sources=sources, out=Path(out), seed=seed))
    return Mix(mix, _as_dataset_dict(load_dataset(str(folder))), _folder_content_hash(folder), folder)


def resolve_mix(mix: str, sources: str = "hub", out: Path | str = Path("builds")) -> DatasetDict:
    """The splits of ``--mix`` (see ``load_mix``)."""
    return load_mix(mix, sources, out).datasets


def select_split(datasets: DatasetDict, split: str) -> Dataset:
    """The requested split; a dataset with a single split is used whatever it is named."""
    if split in datasets:
        return datasets[split]
    if len(datasets) == 1:
        only = next(iter(datasets))
        logger.warning("split %r not found; using the only split, %r", split, only)
        return datasets[only]
    raise TrainingInputError(f"--split {split}: no such split; the mix has {', '.join(sorted(datasets))}")


def row_format(dataset: Dataset) -> str:
    """``sft`` (messages), ``preference`` (chosen/rejected) or ``prompts`` (prompt)."""
    columns = set(dataset.column_names)
    if {"chosen", "rejected"} <= columns:
        return "preference"
    if "messages" in columns:
        return "sft"
    if "prompt" in columns:
        return "prompts"
    raise TrainingInputError(f"cannot tell the row format from columns {sorted(columns)}")


def subsample(dataset: Dataset, max_rows: int | None, seed: int) -> Dataset:
    """A seeded random sample of at most ``max_rows`` rows (never the first rows)."""
    if max_rows is None or max_rows >= len(dataset):
        return dataset
    return dataset.shuffle(seed=seed).select(range(max_rows))


def cache_root() -> Path:
    """Where tokenized data is stored: ``$TULU_DATA_CACHE`` or ``~/.cache/tulu-data/tokenized``."""
    env = os.environ.get("TULU_DATA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "tulu-data" / "tokenized"


def tokenization_fingerprint(data_key: str, task: str, tokenizer: Any, max_length: int | None) -> str:
    """The cache key: data content, task, tokenizer, template, max length and encoder version."""
    payload = {
        "data": data_key,
        "task": task,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "template": tulu_template(),
        "max_length": max_length,
        "encoder": ENCODER_VERSION,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


@dataclass
class TokenizedData:
    """Tokenized rows ready for a trl trainer, and what happened on the way."""

    dataset: Dataset
    fingerprint: str
    path: Path
    cache_hit: bool
    stats: dict[str, int] = field(default_factory=dict)


def _encode_sft(batch: dict[str, list], tokenizer: Any, max_length: int | None) -> dict[str, list]:
    encoded = encode_batch_with_labels(tokenizer, batch["messages"], max_length)
    return {"input_ids": [e["input_ids"] for e in encoded], "labels": [e["labels"] for e in encoded]}


def _common_prefix_length(first: list[int], second: list[int]) -> int:
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return length


def _encode_preference(batch: dict[str, list], tokenizer: Any, task: str) -> dict[str, list]:
    """Tokenize each pair as whole conversations, split after the prompt.

    The prompt is rendered with the generation prompt and tokenized alone (what the model sees at
    inference); like every sequence it starts with BOS when the tokenizer has one. Each full conversation is tokenized in one pass (as in SFT), so a reply keeps the
    tokens it has in context (a sentencepiece tokenizer would add a word-start marker to a reply
    tokenized alone). The split is where the prompt and both conversations stop agreeing, normally
    the whole prompt. A pair whose turns do not line up gets empty ids and is dropped by the caller;
    ``boundary_merges`` counts pairs whose last prompt token merged into the reply.
    """
    eos = tokenizer.eos_token
    prompts, chosen, rejected, valid = [], [], [], []
    for chosen_turns, rejected_turns in zip(batch["chosen"], batch["rejected"], strict=True):
        try:
            prompt, _, _ = split_preference_pair(chosen_turns, rejected_turns)
            valid.append(bool(prompt))
        except ValueError:
            prompt = []
            valid.append(False)
        ok = valid[-1]
        prompts.append(render_tulu(prompt, eos, add_generation_prompt=True) if ok else "")
        chosen.append(render_tulu(chosen_turns, eos) if ok else "")
        rejected.append(render_tulu(rejected_turns, eos) if ok else "")
    bos = bos_ids(tokenizer)
    prompt_ids, chosen_ids, rejected_ids = (
        [bos + list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
        for texts in (prompts, chosen, rejected)
    )
    columns: dict[str, list] = {"prompt_ids": [], "chosen_ids": [], "rejected_ids": [], "boundary_merges": []}
    for prompt_row, chosen_row, rejected_row, ok in zip(
        prompt_ids, chosen_ids, rejected_ids, valid, strict=True
    ):
        if not ok:
            prompt_row, chosen_row, rejected_row = [], [], []
        split = min(
            _common_prefix_length(prompt_row, chosen_row), _common_prefix_length(prompt_row, rejected_row)
        )
        columns["boundary_merges"].append(int(split < len(prompt_row)))
        if task == "dpo":
            prompt_row, chosen_row, rejected_row = (
                prompt_row[:split],
                chosen_row[split:],
                rejected_row[split:],
            )
        columns["prompt_ids"].append(prompt_row)
        columns["chosen_ids"].append(chosen_row)
        columns["rejected_ids"].append(rejected_row)
    return columns


def _tokenize(
    dataset: Dataset,
    task: str,
    tokenizer: Any,
    max_length: int | None,
    num_proc: int | None,
    fingerprint: str,
) -> tuple[Dataset, dict[str, int]]:
    # Our cache is the only one: datasets' own map cache is keyed by our fingerprint and could hand back
    # results of an older encoder, so it is never read (load_from_cache_file=False).
    stats = {"rows": len(dataset)}
    if task == "sft":
        encoded = dataset.map(
            _encode_sft,
            batched=True,
            fn_kwargs={"tokenizer": tokenizer, "max_length": max_length},
            remove_columns=dataset.column_names,
            num_proc=num_proc,
            new_fingerprint=f"{fingerprint}-encode",
            load_from_cache_file=False,
            desc="Tokenizing (Tulu format, one pass)",
        )
        kept = encoded.filter(
            lambda labels: any(label != -100 for label in labels),
            input_columns="labels",
            num_proc=num_proc,
            new_fingerprint=f"{fingerprint}-filter",
            load_from_cache_file=False,
        )
        stats["dropped_all_labels_masked"] = len(encoded) - len(kept)
    else:
        encoded = dataset.map(
            _encode_preference,
            batched=True,
            fn_kwargs={"tokenizer": tokenizer, "task": task},
            remove_columns=dataset.column_names,
            num_proc=num_proc,
            new_fingerprint=f"{fingerprint}-encode",
            load_from_cache_file=False,
            desc="Tokenizing preference pairs (Tulu format)",
        )
        well_formed = encoded.filter(
            lambda prompt_ids: len(prompt_ids) > 0,
            input_columns="prompt_ids",
            num_proc=num_proc,
            new_fingerprint=f"{fingerprint}-wellformed",
            load_from_cache_file=False,
        )
        stats["dropped_malformed_pairs"] = len(encoded) - len(well_formed)
        if max_length is None:
            kept = well_formed
        elif task == "dpo":
            # trl's rule: the collator truncates prompt + reply to max_length keeping the start, so a prompt
            # that fills max_length alone leaves nothing to train on.
            kept = well_formed.filter(
                lambda prompt_ids: len(prompt_ids) < max_length,
                input_columns="prompt_ids",
                num_proc=num_proc,
                new_fingerprint=f"{fingerprint}-length",
                load_from_cache_file=False,
            )
        else:
            # A reward model scores the last token, so a truncated sequence would be scored mid-reply.
            kept = well_formed.filter(
                lambda chosen_ids, rejected_ids: max(len(chosen_ids), len(rejected_ids)) <= max_length,
                input_columns=["chosen_ids", "rejected_ids"],
                num_proc=num_proc,
                new_fingerprint=f"{fingerprint}-length",
                load_from_cache_file=False,
            )
        stats["dropped_too_long"] = len(well_formed) - len(kept)
        stats["prompt_reply_boundary_merges"] = int(sum(well_formed["boundary_merges"]))
        kept = kept.remove_columns(["boundary_merges", "prompt_ids"] if task == "rm" else ["boundary_merges"])
    stats["kept"] = len(kept)
    return kept, stats


def tokenize_cached(
    dataset: Dataset,
    task: str,
    tokenizer: Any,
    max_length: int | None,
    data_key: str,
    num_proc: int | None = None,
    main_process_first: Callable[[], AbstractContextManager] | None = None,
) -> TokenizedData:
    """Tokenize ``dataset`` for ``task`` (sft, dpo or rm), or load the result of an earlier identical run.

    ``data_key`` identifies the rows (content hash, split, subsample). Under ``accelerate launch`` pass
    the training arguments' ``main_process_first`` so only the main process tokenizes and the others
    read its cache.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    fingerprint = tokenization_fingerprint(data_key, task, tokenizer, max_length)
    path = cache_root() / f"{task}-{fingerprint}"
    guard = main_process_first() if main_process_first is not None else contextlib.nullcontext()
    with guard:
        stats_file = path / "tulu_tokenization.json"
        if stats_file.is_file():
            stats = json.loads(stats_file.read_text())
            logger.info("tokenized %s data found in cache: %s", task, path)
            return TokenizedData(load_from_disk(str(path)), fingerprint, path, True, stats)
        TOKENIZATION_RUNS[task] += 1
        tokenized, stats = _tokenize(dataset, task, tokenizer, max_length, num_proc, fingerprint)
        staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tokenized.save_to_disk(str(staging))
        (staging / "tulu_tokenization.json").write_text(json.dumps(stats, indent=2) + "\n")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            staging.rename(path)
        except OSError:  # another process finished first: keep theirs
            shutil.rmtree(staging, ignore_errors=True)
        logger.info("tokenized %s data: %s -> %s", task, stats, path)
        return TokenizedData(load_from_disk(str(path)), fingerprint, path, False, stats)
