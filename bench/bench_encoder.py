"""Time the one-pass Tulu encoder against a prefix re-tokenizing encoder on the same 10,000 conversations.

The published Tulu encoders find where each message ends by tokenizing every prefix of the rendered
conversation (quadratic in turns). `reference_encode` (tests/label_reference.py) does the same, written
from the rule in RECIPES.md (BOS first; system/user turns and every `<|assistant|>\\n` header masked;
assistant content, eos and, in a non-final assistant turn, the `\\n` after eos trained).
`training.chat_format`'s `encode_batch_with_labels` tokenizes each batch once with offsets. Both run on
the same conversations with the two BOS-defining tokenizers of the tests, trained here with 8,000-token
vocabularies: a byte-level BPE and a Llama 2-like sentencepiece-style one. The bench prints conversations
per second for each, the speedup, and how many conversations get identical ids and labels from both.

Conversations come from bench/gen_sft.py's pseudo-word corpus: 1-12 user/assistant pairs, some with a
system turn, some ending on a user turn; the same seed always gives the same conversations.

`--baseline DIR` also times an older encoder, DIR/training/chat_format.py (e.g. made with
`git archive <commit> training | tar -x -C DIR`), interleaved with the current one (run A, run B, A, B,
...) so both see the same machine load; the best run of each is reported.

Usage: PYTHONPATH=. python bench/bench_encoder.py [--conversations 10000] [--repeat 3] [--max-length 8192]
       [--baseline DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]  # gen_sft, label_reference; PYTHONPATH=<repo root>

from gen_sft import SYSTEM_PROMPTS, Text  # noqa: E402
from label_reference import byte_level_bos_tokenizer, reference_encode, sentencepiece_bos_tokenizer  # noqa: E402

from training.chat_format import encode_batch_with_labels  # noqa: E402

BATCH = 1000  # datasets.map's default batch size, as training/data.py tokenizes


def make_conversations(count: int, seed: int = 11) -> list[list[dict[str, str]]]:
    """Seeded multi-turn conversations: 15% start with a system turn, 5% end on a user turn."""
    rng = np.random.default_rng(seed)
    text = Text(rng, chars=6_000_000)
    pairs = np.clip(rng.geometric(1 / 2.5, count), 1, 12)
    kinds = rng.random(count)
    conversations = []
    for index in range(count):
        contents = text.many(2 * int(pairs[index]), 350, 1.0, cap=6_000)
        messages = [
            {"role": "user" if j % 2 == 0 else "assistant", "content": c} for j, c in enumerate(contents)
        ]
        if kinds[index] < 0.15:
            messages.insert(0, {"role": "system", "content": SYSTEM_PROMPTS[1 + index % 7]})
        elif kinds[index] > 0.95:
            messages.pop()
        conversations.append(messages)
    return conversations


def training_texts(conversations: Sequence[Sequence[dict[str, str]]]) -> list[str]:
    return [m["content"] for messages in conversations[:2000] for m in messages]


Run = Callable[[], list[dict[str, list]]]


def timed(run: Run) -> tuple[float, list[dict[str, list]]]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def best_of_interleaved(runs: dict[str, Run], repeat: int) -> dict[str, tuple[float, list[dict[str, list]]]]:
    """Run each of `runs` in turn, `repeat` rounds; keep each one's fastest time and its result."""
    best: dict[str, tuple[float, list[dict[str, list]]]] = {}
    for _ in range(repeat):
        for label, run in runs.items():
            seconds, result = timed(run)
            if label not in best or seconds < best[label][0]:
                best[label] = (seconds, result)
    return best


def one_pass(encode: Callable, tokenizer: Any, conversations: list, max_length: int) -> Run:
    def run() -> list[dict[str, list]]:
        out: list[dict[str, list]] = []
        for i in range(0, len(conversations), BATCH):
            out += encode(tokenizer, conversations[i : i + BATCH], max_length)
        return out

    return run


def agreement(ours: list[dict[str, list]], ref: list[dict[str, list]]) -> str:
    same = sum(a == b for a, b in zip(ours, ref, strict=True))
    no_bos = sum(
        a["input_ids"] == b["input_ids"][1:] and a["labels"] == b["labels"][1:]
        for a, b in zip(ours, ref, strict=True)
    )
    return f"identical ids+labels {same}/{len(ref)} (identical after the reference's BOS {no_bos}/{len(ref)})"


def bench(name: str, tokenizer: Any, conversations: list, max_length: int, repeat: int, baseline: Any) -> None:
    runs = {"one-pass": one_pass(encode_batch_with_labels, tokenizer, conversations, max_length)}
    if baseline is not None:
        runs["baseline one-pass"] = one_pass(baseline.encode_batch_with_labels, tokenizer, conversations, max_length)
    best = best_of_interleaved(runs, repeat)
    ref_s, ref = timed(lambda: [reference_encode(tokenizer, m, max_length) for m in conversations])
    n = len(conversations)
    print(f"{name}: {sum(len(e['input_ids']) for e in ref):,} tokens", flush=True)
    print(f"  prefix re-tokenizing: {ref_s:.2f} s ({n / ref_s:,.0f} conv/s)", flush=True)
    for label, (seconds, result) in best.items():
        print(
            f"  {label}: {seconds:.2f} s ({n / seconds:,.0f} conv/s), {ref_s / seconds:.2f}x the prefix "
            f"re-tokenizing encoder; {agreement(result, ref)}",
            flush=True,
        )


def load_baseline(folder: Path | None) -> Any:
    """`folder/training/chat_format.py` as a module of its own (it imports nothing from the project)."""
    if folder is None:
        return None
    spec = importlib.util.spec_from_file_location("baseline_chat_format", folder / "training" / "chat_format.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs of each one-pass encoder")
    parser.add_argument("--max-length", type=int, default=8192)
    parser.add_argument("--baseline", type=Path, help="a folder holding an older training/chat_format.py")
    args = parser.parse_args()
    baseline = load_baseline(args.baseline)
    started = time.perf_counter()
    conversations = make_conversations(args.conversations)
    texts = training_texts(conversations)
    tokenizers = {
        "byte-level BPE": byte_level_bos_tokenizer(texts, vocab_size=8000),
        "sentencepiece-style": sentencepiece_bos_tokenizer(texts, vocab_size=8000),
    }
    turns = sum(len(c) for c in conversations)
    print(f"{len(conversations):,} conversations, {turns:,} messages; setup {time.perf_counter() - started:.1f} s")
    for name, tokenizer in tokenizers.items():
        bench(name, tokenizer, conversations, args.max_length, args.repeat, baseline)


if __name__ == "__main__":
    main()
