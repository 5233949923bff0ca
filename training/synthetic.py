"""Tiny synthetic datasets in the catalog's row formats, for tests and CPU smoke runs.

Each writer lays rows out as the builds do (``data/train-00000-of-00001.parquet``), so the folder can
be passed as ``--mix``. The content is deliberately learnable in a few CPU steps: SFT replies follow
a fixed pattern, and chosen replies differ from rejected ones in a consistent way.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

COLOURS = ("red", "blue", "green", "yellow", "purple", "orange")
ANIMALS = ("cat", "dog", "bird", "fish", "horse", "mouse")


def write_rows(folder: Path, rows: list[dict[str, Any]], split: str = "train") -> Path:
    """Write rows as ``folder/data/<split>-00000-of-00001.parquet``; return ``folder``."""
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), data / f"{split}-00000-of-00001.parquet")
    return folder


def sft_rows(count: int = 32, seed: int = 0) -> list[dict[str, Any]]:
    """SFT rows (``dataset``, ``id``, ``messages``); some have a system turn, some two user turns."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        colour, animal = rng.choice(COLOURS), rng.choice(ANIMALS)
        messages = []
        if index % 3 == 0:
            messages.append({"role": "system", "content": "You answer briefly."})
        messages += [
            {"role": "user", "content": f"What colour is the {animal}?"},
            {"role": "assistant", "content": f"The {animal} is {colour}."},
        ]
        if index % 2 == 0:
            messages += [
                {"role": "user", "content": "And its name?"},
                {"role": "assistant", "content": f"Its name is {animal.title()} {colour.title()}."},
            ]
        rows.append({"dataset": "synthetic", "id": f"synthetic_{index}", "messages": messages})
    return rows


def preference_rows(count: int = 32, seed: int = 0) -> list[dict[str, Any]]:
    """Preference rows (``id``, ``source``, ``chosen``, ``rejected``, scores): chosen replies are polite
    sentences, rejected ones a curt refusal."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        colour, animal = rng.choice(COLOURS), rng.choice(ANIMALS)
        prompt = [{"role": "user", "content": f"Tell me about the {colour} {animal}."}]
        if index % 4 == 0:
            prompt = [{"role": "system", "content": "Be helpful."}, *prompt]
        chosen = [*prompt, {"role": "assistant", "content": f"Sure! The {colour} {animal} is lovely."}]
        rejected = [*prompt, {"role": "assistant", "content": "No. No. No."}]
        rows.append(
            {
                "id": f"pair_{index}",
                "source": "synthetic",
                "chosen": chosen,
                "rejected": rejected,
                "score_chosen": 8.0,
                "score_rejected": 2.0,
            }
        )
    return rows


def prompt_rows(count: int = 32, seed: int = 0) -> list[dict[str, Any]]:
    """Prompt rows as in ``ultrafeedback_prompts`` (``id``, ``source``, ``prompt`` with one user turn)."""
    rng = random.Random(seed)
    return [
        {
            "id": f"prompt_{index}",
            "source": "synthetic",
            "prompt": [{"role": "user", "content": f"What colour is the {rng.choice(ANIMALS)}?"}],
        }
        for index in range(count)
    ]


def write_sft(folder: Path, count: int = 32, seed: int = 0) -> Path:
    """A tiny SFT dataset folder."""
    return write_rows(folder, sft_rows(count, seed))


def write_preferences(folder: Path, count: int = 32, seed: int = 0) -> Path:
    """A tiny preference dataset folder."""
    return write_rows(folder, preference_rows(count, seed))


def write_prompts(folder: Path, count: int = 32, seed: int = 0) -> Path:
    """A tiny prompt dataset folder."""
    return write_rows(folder, prompt_rows(count, seed))


# Tulu 2's SFT mixture: mean 1,097 tokens, max length 8,192 (RECIPES.md). A log-normal with sigma 1 and
# this median has that mean and a long tail (about 0.6% of rows reach 8,192 and are cut there).
TULU_SFT_MEDIAN_TOKENS = 665
FILLER_WORDS = tuple(
    onset + vowel + coda for onset in "bdfgklmnprst" for vowel in "aeiou" for coda in ("", "n", "s")
)


def tulu_length(rng: random.Random, median: float, max_length: int, scale: float = 1.0) -> int:
    """A log-normal length (sigma 1) around ``median * scale`` tokens, at least 8, cut at ``max_length``."""
    return max(8, min(max_length, round(rng.lognormvariate(math.log(median * scale), 1.0))))


def filler_text(rng: random.Random, words: int) -> str:
    """``words`` short random words (about one token each with a tokenizer trained on such text)."""
    return " ".join(rng.choice(FILLER_WORDS) for _ in range(max(1, words)))


def sized_sft_rows(
    count: int, max_length: int = 8192, scale: float = 1.0, seed: int = 0
) -> list[dict[str, Any]]:
    """SFT rows whose lengths follow the Tulu 2 mixture's (``scale`` shrinks them for small runs): one to
    three user/assistant turns, the assistant writing about three quarters of each conversation."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        total = tulu_length(rng, TULU_SFT_MEDIAN_TOKENS, max_length, scale)
        turns = rng.choice((1, 1, 2, 3))
        messages = []
        for _ in range(turns):
            words = max(2, total // (turns * 4))
            messages.append({"role": "user", "content": filler_text(rng, words)})
            messages.append({"role": "assistant", "content": filler_text(rng, 3 * words)})
        rows.append({"dataset": "synthetic_sized", "id": f"sized_{index}", "messages": messages})
    return rows


def sized_preference_rows(
    count: int, max_length: int = 2048, scale: float = 1.0, seed: int = 0
) -> list[dict[str, Any]]:
    """Preference pairs with UltraFeedback-like lengths: a prompt around 150 tokens, replies around 250
    (log-normal, scaled by ``scale``), chosen and rejected of independent lengths."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        prompt = [
            {"role": "user", "content": filler_text(rng, tulu_length(rng, 150, max_length // 2, scale))}
        ]
        replies = [filler_text(rng, tulu_length(rng, 250, max_length // 2, scale)) for _ in range(2)]
        rows.append(
            {
                "id": f"sized_pair_{index}",
                "source": "synthetic_sized",
                "chosen": [*prompt, {"role": "assistant", "content": replies[0]}],
                "rejected": [*prompt, {"role": "assistant", "content": replies[1]}],
                "score_chosen": 8.0,
                "score_rejected": 2.0,
            }
        )
    return rows


def sized_prompt_rows(
    count: int, max_length: int = 1024, scale: float = 1.0, seed: int = 0
) -> list[dict[str, Any]]:
    """PPO prompts (``ultrafeedback_prompts`` format) around 150 tokens (log-normal, scaled)."""
    rng = random.Random(seed)
    return [
        {
            "id": f"sized_prompt_{index}",
            "source": "synthetic_sized",
            "prompt": [
                {"role": "user", "content": filler_text(rng, tulu_length(rng, 150, max_length, scale))}
            ],
        }
        for index in range(count)
    ]


if __name__ == "__main__":
    import sys

    root = Path(sys.argv[1] if len(sys.argv) > 1 else "synthetic_data")
    write_sft(root / "sft")
    write_preferences(root / "preferences")
    write_prompts(root / "prompts")
    print(f"wrote {root}/sft, {root}/preferences, {root}/prompts")
