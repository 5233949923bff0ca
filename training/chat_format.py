"""The Tulu chat format: a jinja chat template with generation markers, and a one-pass label encoder.

Per message, content stripped: system ``<|system|>\\n{c}\\n``, user ``<|user|>\\n{c}\\n``, assistant
``<|assistant|>\\n{c}{eos}\\n``; the whole string is then stripped. A generation prompt ends with
``<|assistant|>\\n``. As in the encoders that trained Tulu 2 and 2.5 (RECIPES.md), the sequence starts
with the tokenizer's BOS token when it defines one, and the trained tokens are each assistant message
but its header: content, eos and, in a non-final assistant message, the ``\\n`` after eos.

Departure (deliberate): the ``<|assistant|>\\n`` header is always masked. The published encoders mask
it only as the tail of a preceding system/user message, so they train it when a conversation starts
with an assistant turn or has two assistant turns in a row.

Two implementations that must agree (tests check it):

- ``tulu_template()``: the jinja template set on the tokenizer. It renders ``bos_token`` first when the
  tokenizer has one, and its ``{% generation %}`` block covers what is trained, so
  ``apply_chat_template(..., return_assistant_tokens_mask=True)`` (what trl's ``assistant_only_loss=True``
  uses) masks exactly the right tokens.
- ``encode_with_labels()``: renders the same text in Python, tokenizes it once with offsets, puts the BOS
  id first and marks every token overlapping a trained span (the rule transformers applies to the
  template mask). Prefixing the id equals tokenizing the BOS text for byte-level BPE and for Llama 2's
  sentencepiece-style tokenizer; a tokenizer that adds its word-start marker only at the very start of a
  string (Metaspace ``prepend_scheme="first"``) tokenizes the first word differently after a BOS in text,
  and there the encoder follows the published encoders (BOS id + the text tokenized alone).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

IGNORE_INDEX = -100
ROLE_HEADERS = {"system": "<|system|>\n", "user": "<|user|>\n", "assistant": "<|assistant|>\n"}
ROLE_MARKERS = ("<|system|>", "<|user|>", "<|assistant|>")
GENERATION_PROMPT = ROLE_HEADERS["assistant"]

# Bump when the rendering or the label rule changes: it is part of the tokenized-data cache key.
# tulu-v2.1: BOS first; the \n after a non-final eos is trained (both as in the published encoders).
ENCODER_VERSION = "tulu-v2.1"

_TEMPLATE = (
    "{%- if bos_token -%}{{- bos_token -}}{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- set content = message['content'] | trim -%}"
    "{%- set is_last = loop.last and not add_generation_prompt -%}"
    "{%- if message['role'] == 'system' or message['role'] == 'user' -%}"
    "{%- set turn = '<|' + message['role'] + '|>\n' + content -%}"
    "{%- if is_last -%}{{- turn | trim -}}{%- else -%}{{- turn + '\n' -}}{%- endif -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- '<|assistant|>\n' -}}"
    "{%- generation -%}{{- content + eos_token -}}"
    "{%- if not is_last -%}{{- '\n' -}}{%- endif -%}{%- endgeneration -%}"
    "{%- else -%}"
    "{{- raise_exception('Tulu chat format has no role ' + message['role']) -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>\n' -}}{%- endif -%}"
)

Message = dict[str, Any]


def tulu_template() -> str:
    """The Tulu chat template (jinja): BOS first, ``{% generation %}`` markers around the trained text."""
    return _TEMPLATE


def bos_ids(tokenizer: Any) -> list[int]:
    """``[bos_token_id]`` when the tokenizer defines a BOS token, else ``[]``: what every sequence starts with."""
    if getattr(tokenizer, "bos_token", None) is None or tokenizer.bos_token_id is None:
        return []
    return [tokenizer.bos_token_id]


def render_with_spans(
    messages: Sequence[Message], eos_token: str, add_generation_prompt: bool = False
) -> tuple[str, list[tuple[int, int]]]:
    """Render a conversation in the Tulu format; also return the trained character spans.

    Each span is ``[start, end)`` over one assistant content, its eos and the ``\\n`` after it (absent
    in the last message, where the whole string is stripped). The text has no BOS (see ``bos_ids``).
    """
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    for message in messages:
        role = message["role"]
        if role not in ROLE_HEADERS:
            raise ValueError(f"Tulu chat format has no role {role!r}")
        header = ROLE_HEADERS[role]
        content = message["content"].strip()
        if role == "assistant":
            turn = f"{header}{content}{eos_token}\n"
            spans.append((length + len(header), length + len(turn)))
        else:
            turn = f"{header}{content}\n"
        parts.append(turn)
        length += len(turn)
    text = "".join(parts)
    if add_generation_prompt:
        return text + GENERATION_PROMPT, spans
    # The text starts with a role marker, so stripping only ever removes the trailing newline(s).
    text = text.rstrip()
    return text, [(start, min(end, len(text))) for start, end in spans]


def render_tulu(messages: Sequence[Message], eos_token: str, add_generation_prompt: bool = False) -> str:
    """Render a conversation in the Tulu format, without BOS (the template writes ``bos_token`` first)."""
    return render_with_spans(messages, eos_token, add_generation_prompt)[0]


def _labels_from_offsets(
    input_ids: list[int], offsets: list[tuple[int, int]], spans: list[tuple[int, int]]
) -> list[int]:
    """Copy ``input_ids`` into labels where a token overlaps a trained span, else ``IGNORE_INDEX``."""
    if not input_ids:
        return []
    offset_array = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    starts, ends = offset_array[:, 0], offset_array[:, 1]
    trained = np.zeros(len(input_ids), dtype=bool)
    for span_start, span_end in spans:
        trained |= (starts < span_end) & (ends > span_start)
    labels = np.where(trained, np.asarray(input_ids, dtype=np.int64), IGNORE_INDEX)
    return labels.tolist()


def encode_batch_with_labels(
    tokenizer: Any, conversations: Sequence[Sequence[Message]], max_length: int | None = None
) -> list[dict[str, list[int]]]:
    """Tokenize conversations in one batched pass: BOS (if any) first, labels on the trained spans only.

    Sequences longer than ``max_length`` (BOS included) keep their start. Nothing is dropped here (see
    callers).
    """
    rendered = [render_with_spans(messages, tokenizer.eos_token) for messages in conversations]
    encoded = tokenizer([text for text, _ in rendered], add_special_tokens=False, return_offsets_mapping=True)
    bos = bos_ids(tokenizer)
    bos_labels = [IGNORE_INDEX] * len(bos)
    results = []
    for index, (_, spans) in enumerate(rendered):
        ids = encoded["input_ids"][index]
        input_ids = bos + list(ids)
        labels = bos_labels + _labels_from_offsets(ids, encoded["offset_mapping"][index], spans)
        if max_length is not None:
            input_ids, labels = input_ids[:max_length], labels[:max_length]
        results.append({"input_ids": input_ids, "labels": labels})
    return results


def encode_with_labels(
    tokenizer: Any, messages: Sequence[Message], max_length: int | None = None
) -> dict[str, list[int]]:
    """Tokenize one conversation with labels (-100 outside the trained spans), in one pass."""
    return encode_batch_with_labels(tokenizer, [messages], max_length)[0]


def encode_prompts(tokenizer: Any, prompts: Sequence[Sequence[Message]]) -> list[list[int]]:
    """Token ids of prompts rendered with the generation prompt (what the model sees at inference).

    BOS (if any) first; an empty prompt gives ``[]``.
    """
    texts = [render_tulu(messages, tokenizer.eos_token, add_generation_prompt=True) for messages in prompts]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    bos = bos_ids(tokenizer)
    return [bos + list(ids) if messages else [] for ids, messages in zip(encoded, prompts, strict=True)]


def encode_prompt(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """Token ids of one prompt rendered with the generation prompt (see ``encode_prompts``)."""
    return encode_prompts(tokenizer, [messages])[0]


def encode_completion(tokenizer: Any, content: str) -> list[int]:
    """Token ids of an assistant completion: stripped content followed by eos."""
    text = content.strip() + tokenizer.eos_token
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def split_preference_pair(
    chosen: Sequence[Message], rejected: Sequence[Message]
) -> tuple[list[Message], str, str]:
    """Split a preference pair into shared prompt turns and the two final assistant replies."""
    if not chosen or not rejected or chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        raise ValueError("chosen and rejected must both end in an assistant turn")
    prompt = list(chosen[:-1])
    if _strip_turns(prompt) != _strip_turns(rejected[:-1]):
        raise ValueError("chosen and rejected must share every turn but the last assistant turn")
    return prompt, chosen[-1]["content"], rejected[-1]["content"]


def _strip_turns(messages: Sequence[Message]) -> list[tuple[str, str]]:
    return [(message["role"], message["content"].strip()) for message in messages]


def prompt_messages(row: dict[str, Any]) -> list[Message]:
    """The prompt turns of a prompt, preference or SFT row (everything before the last assistant turn)."""
    if row.get("prompt") is not None and not isinstance(row["prompt"], str):
        messages = list(row["prompt"])
    elif row.get("chosen") is not None:
        messages = list(row["chosen"])
    elif row.get("messages") is not None:
        messages = list(row["messages"])
    else:
        raise ValueError(f"row has no prompt, chosen or messages column: {sorted(row)}")
    while messages and messages[-1]["role"] == "assistant":
        messages.pop()
    return messages


def set_tulu_template(tokenizer: Any) -> Any:
    """Put the Tulu chat template on a tokenizer (in place) and return it."""
    tokenizer.chat_template = tulu_template()
    return tokenizer
