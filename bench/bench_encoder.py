"""Time the one-pass Tulu encoder against a prefix re-tokenizing encoder on the same 10,000 conversations.

The published Tulu encoders find where each message ends by tokenizing every prefix of the rendered
conversation (quadratic in turns). `reference_encode` below does the same, written from the rule in
RECIPES.md (BOS first; system/user turns and every `<|assistant|>\\n` header masked; assistant content,
eos and, in a non-final assistant turn, the `\\n` after eos trained). `training.chat_format`'s
`encode_batch_with_labels` tokenizes each batch once with offsets. Both run on the same conversations
with two BOS-defining tokenizers trained here: a byte-level BPE and a sentencepiece-style one (Llama 2's
normalizer: `▁` prepended, spaces as `▁`). The bench prints conversations per second for each, the
speedup, and how many conversations get identical ids and labels from both.

Conversations come from bench/gen_sft.py's pseudo-word corpus: 1-12 user/assistant pairs, some with a
system turn, some ending on a user turn; the same seed always gives the same conversations.

Usage: python bench/bench_encoder.py [--conversations 10000] [--repeat 3] [--max-length 8192]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # gen_sft; run with PYTHONPATH=<repo root> for training

from gen_sft import SYSTEM_PROMPTS, Text  # noqa: E402

from training.chat_format import encode_batch_with_labels  # noqa: E402

IGNORE_INDEX = -100
BATCH = 1000  # datasets.map's default batch size, as training/data.py tokenizes
SPECIALS = ["<unk>", "<s>", "</s>"]


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
    headers = "<|system|>\n<|user|>\n<|assistant|>\n"
    return [headers] + [m["content"] for messages in conversations[:2000] for m in messages]


def wrap(backend: Tokenizer) -> PreTrainedTokenizerFast:
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def byte_level_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=8000,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    return wrap(backend)


def sentencepiece_style_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    backend.pre_tokenizer = pre_tokenizers.Split("\n", behavior="isolated")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Strip(" ", 1, 0)])
    trainer = trainers.BpeTrainer(vocab_size=8000, special_tokens=SPECIALS, show_progress=False)
    backend.train_from_iterator(texts, trainer)
    return wrap(backend)


def reference_segments(messages: Sequence[dict[str, str]], eos: str) -> list[tuple[str, bool]]:
    """The rendered conversation as (text, trained) pieces, by the rule in RECIPES.md."""
    pieces: list[tuple[str, bool]] = []
    for message in messages:
        role, content = message["role"], message["content"].strip()
        if role == "assistant":
            pieces += [("<|assistant|>\n", False), (f"{content}{eos}\n", True)]
        else:
            pieces.append((f"<|{role}|>\n{content}\n", False))
    last_text, last_trained = pieces[-1]
    pieces[-1] = (last_text.rstrip(), last_trained)  # the whole string is stripped
    return pieces


def reference_encode(tokenizer: Any, messages: Sequence[dict[str, str]], max_length: int) -> dict[str, list]:
    """Labels by tokenizing every prefix that ends a piece (what the published encoders do)."""
    def ids_of(text: str) -> list[int]:
        return [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"]]

    prefix, start = "", 1
    input_ids: list[int] = []
    labels = [IGNORE_INDEX]
    for piece, trained in reference_segments(messages, tokenizer.eos_token):
        prefix += piece
        input_ids = ids_of(prefix)
        labels += input_ids[start:] if trained else [IGNORE_INDEX] * (len(input_ids) - start)
        start = len(input_ids)
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length]}


def time_best(run: Callable[[], list[dict[str, list]]], repeat: int) -> tuple[float, list[dict[str, list]]]:
    best, result = float("inf"), []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def bench(name: str, tokenizer: Any, conversations: list, max_length: int, repeat: int) -> None:
    def one_pass() -> list[dict[str, list]]:
        out: list[dict[str, list]] = []
        for i in range(0, len(conversations), BATCH):
            out += encode_batch_with_labels(tokenizer, conversations[i : i + BATCH], max_length)
        return out

    def prefixes() -> list[dict[str, list]]:
        return [reference_encode(tokenizer, messages, max_length) for messages in conversations]

    ours_s, ours = time_best(one_pass, repeat)
    ref_s, ref = time_best(prefixes, max(1, repeat - 1))
    same = sum(a == b for a, b in zip(ours, ref, strict=True))
    no_bos = sum(
        a["input_ids"] == b["input_ids"][1:] and a["labels"] == b["labels"][1:]
        for a, b in zip(ours, ref, strict=True)
    )
    n = len(conversations)
    tokens = sum(len(e["input_ids"]) for e in ref)
    print(
        f"{name}: one-pass {ours_s:.2f} s ({n / ours_s:,.0f} conv/s), prefix re-tokenizing {ref_s:.2f} s "
        f"({n / ref_s:,.0f} conv/s), speedup {ref_s / ours_s:.2f}x; identical ids+labels {same}/{n} "
        f"(identical after the reference's BOS {no_bos}/{n}); {tokens:,} tokens",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs of the one-pass encoder")
    parser.add_argument("--max-length", type=int, default=8192)
    args = parser.parse_args()
    started = time.perf_counter()
    conversations = make_conversations(args.conversations)
    texts = training_texts(conversations)
    tokenizers = {
        "byte-level BPE": byte_level_tokenizer(texts),
        "sentencepiece-style": sentencepiece_style_tokenizer(texts),
    }
    turns = sum(len(c) for c in conversations)
    print(f"{len(conversations):,} conversations, {turns:,} messages; setup {time.perf_counter() - started:.1f} s")
    for name, tokenizer in tokenizers.items():
        bench(name, tokenizer, conversations, args.max_length, args.repeat)


if __name__ == "__main__":
    main()
