"""The Tulu chat format: a jinja chat template with generation markers, and a one-pass label encoder.

Per message, content stripped: system ``<|system|>\\n{c}\\n``, user ``<|user|>\\n{c}\\n``, assistant
``<|assistant|>\\n{c}{eos}\\n``; the whole string is then stripped. A generation prompt ends with
``<|assistant|>\\n``. Loss is on each assistant content and its eos only.

Two implementations that must agree (tests check it):

- ``tulu_template()``: the jinja template set on the tokenizer. Its ``{% generation %}`` block covers
  assistant content + eos, so ``apply_chat_template(..., return_assistant_tokens_mask=True)`` (what trl's
  ``assistant_only_loss=True`` uses) masks exactly the right tokens.
- ``encode_with_labels()``: renders the same text in Python, tokenizes it once with offsets and marks
  every token overlapping an assistant span (the same rule transformers applies to the template mask).
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
ENCODER_VERSION = "tulu-v2"

_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- set content = message['content'] | trim -%}"
    "{%- set is_last = loop.last and not add_generation_prompt -%}"
    "{%- if message['role'] == 'system' or message['role'] == 'user' -%}"
    "{%- set turn = '<|' + message['role'] + '|>\n' + content -%}"
    "{%- if is_last -%}{{- turn | trim -}}{%- else -%}{{- turn + '\n' -}}{%- endif -%}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{- '<|assistant|>\n' -}}"
    "{%- generation -%}{{- content + eos_token -}}{%- endgeneration -%}"
    "{%- if not is_last -%}{{- '\n' -}}{%- endif -%}"
    "{%- else -%}"
    "{{- raise_exception('Tulu chat format has no role ' + message['role']) -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|assistant|>\n' -}}{%- endif -%}"
)

Message = dict[str, Any]


def tulu_template() -> str:
    """The Tulu chat template (jinja) with ``{% generation %}`` markers around assistant content + eos."""
    return _TEMPLATE


def render_with_spans(
    messages: Sequence[Message], eos_token: str, add_generation_prompt: bool = False
) -> tuple[str, list[tuple[int, int]]]:
    """Render a conversation in the Tulu format; also return the trained character spans.

    Each span is ``[start, end)`` over one assistant content plus its eos.
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
            start = length + len(header)
            spans.append((start, start + len(content) + len(eos_token)))
            turn = f"{header}{content}{eos_token}\n"
        else:
            turn = f"{header}{content}\n"
        parts.append(turn)
        length += len(turn)
    text = "".join(parts)
    if add_generation_prompt:
        return text + GENERATION_PROMPT, spans
    # The text starts with a role marker, so stripping only ever removes the trailing newline(s).
    return text.rstrip(), spans


def render_tulu(messages: Sequence[Message], eos_token: str, add_generation_prompt: bool = False) -> str:
    """Render a conversation in the Tulu format (the reference the template is tested against)."""
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
    """Tokenize conversations in one batched pass; labels train assistant content + eos only.

    Sequences longer than ``max_length`` keep their start. Nothing is dropped here (see callers).
    """
    rendered = [render_with_spans(messages, tokenizer.eos_token) for messages in conversations]
    encoded = tokenizer([text for text, _ in rendered], add_special_tokens=False, return_offsets_mapping=True)
    results = []
    for index, (_, spans) in enumerate(rendered):
        input_ids = list(encoded["input_ids"][index])
        labels = _labels_from_offsets(input_ids, encoded["offset_mapping"][index], spans)
        if max_length is not None:
            input_ids, labels = input_ids[:max_length], labels[:max_length]
        results.append({"input_ids": input_ids, "labels": labels})
    return results


def encode_with_labels(
    tokenizer: Any, messages: Sequence[Message], max_length: int | None = None
) -> dict[str, list[int]]:
    """Tokenize one conversation with labels (-100 outside assistant content + eos), in one pass."""
    return encode_batch_with_labels(tokenizer, [messages], max_length)[0]


def encode_prompt(tokenizer: Any, messages: Sequence[Message]) -> list[int]:
    """Token ids of a prompt rendered with the generation prompt (what the model sees at inference)."""
    text = render_tulu(messages, tokenizer.eos_token, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


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
