"""BOS-defining tokenizers built offline, and a reference label encoder written from RECIPES.md.

The reference splits the rendered conversation into (text, trained) pieces by the rule and finds where
each piece ends by tokenizing every prefix (as the published encoders find span ends): BOS first;
system and user messages and every ``<|assistant|>\\n`` header masked (the header always: our
departure); assistant content, eos and, in a non-final assistant message, the ``\\n`` after eos
trained; the whole string stripped; truncation at ``max_length`` with BOS counted. It shares nothing
with ``training.chat_format`` but the rule, so the tests and bench/bench_encoder.py compare the one-pass
encoder against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

IGNORE_INDEX = -100
SPECIALS = ["<unk>", "<pad>", "<s>", "</s>"]
HEADERS = "<|system|>\n<|user|>\n<|assistant|>\n"


def _wrap(backend: Tokenizer) -> PreTrainedTokenizerFast:
    """Add Llama's post-processor (BOS added by default) and wrap; the Tulu template is set."""
    from training.chat_format import set_tulu_template

    bos_id = backend.token_to_id("<s>")
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", bos_id)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    tokenizer.model_max_length = 1_000_000
    return set_tulu_template(tokenizer)


def byte_level_bos_tokenizer(texts: Iterable[str], vocab_size: int = 600) -> PreTrainedTokenizerFast:
    """A byte-level BPE (GPT-2 / Llama 3 style) with ``<s>`` as BOS, added by default like Llama's."""
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator([HEADERS, *texts], trainer)
    return _wrap(backend)


def sentencepiece_bos_tokenizer(
    texts: Iterable[str], vocab_size: int = 600, prepend_scheme: str = "always"
) -> PreTrainedTokenizerFast:
    """A Llama 2-like tokenizer: Metaspace (``▁`` for spaces, prepended to each text segment, as Llama 2's
    converted tokenizer does), newlines kept as their own piece (Llama's byte fallback never merges them),
    ``<s>`` BOS added by default. ``prepend_scheme="first"`` gives the non-legacy conversion."""
    backend = Tokenizer(models.BPE(unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(prepend_scheme=prepend_scheme, split=False),
            pre_tokenizers.Split("\n", behavior="isolated"),
        ]
    )
    backend.decoder = decoders.Metaspace(prepend_scheme=prepend_scheme, split=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False)
    backend.train_from_iterator([HEADERS, *texts], trainer)
    return _wrap(backend)


def reference_pieces(messages: Sequence[dict[str, str]], eos: str) -> list[tuple[str, bool]]:
    """The rendered conversation as (text, trained) pieces, by the rule in RECIPES.md."""
    pieces: list[tuple[str, bool]] = []
    for message in messages:
        role, content = message["role"], message["content"].strip()
        if role == "assistant":
            pieces += [("<|assistant|>\n", False), (f"{content}{eos}\n", True)]
        else:
            pieces.append((f"<|{role}|>\n{content}\n", False))
    if pieces:  # the whole string is stripped; every piece starts with a non-space, so only the last changes
        pieces[-1] = (pieces[-1][0].rstrip(), pieces[-1][1])
    return pieces


def reference_encode(
    tokenizer: Any, messages: Sequence[dict[str, str]], max_length: int | None = None
) -> dict[str, list[int]]:
    """Ids and labels by tokenizing every prefix that ends a piece; BOS id first."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token is not None else []
    prefix, start = "", len(bos)
    input_ids = list(bos)
    labels = [IGNORE_INDEX] * len(bos)
    for piece, trained in reference_pieces(messages, tokenizer.eos_token):
        prefix += piece
        input_ids = bos + tokenizer(prefix, add_special_tokens=False)["input_ids"]
        labels += input_ids[start:] if trained else [IGNORE_INDEX] * (len(input_ids) - start)
        start = len(input_ids)
    return {"input_ids": input_ids[:max_length], "labels": labels[:max_length]}


def trained_runs(tokenizer: Any, input_ids: Sequence[int], labels: Sequence[int]) -> list[str]:
    """Decode each contiguous run of trained (non -100) tokens; a trained label must equal its id."""
    runs: list[list[int]] = []
    previous = False
    for token, label in zip(input_ids, labels, strict=True):
        trained = label != IGNORE_INDEX
        if trained:
            assert label == token
            if not previous:
                runs.append([])
            runs[-1].append(token)
        previous = trained
    return [tokenizer.decode(run) for run in runs]
