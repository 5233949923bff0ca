"""The Tulu chat format (open-instruct, Tulu 2), for showing and measuring rows.

Per message, content stripped: system ``<|system|>\\n{c}\\n``, user ``<|user|>\\n{c}\\n``, assistant
``<|assistant|>\\n{c}{eos}\\n``; the whole string is then stripped. A prompt for generation ends with
``<|assistant|>\\n``. `render_tulu` renders one conversation; `tulu_text_expr` renders a whole polars
column of conversations at once (the two agree; tests check it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

HEADERS = {"system": "<|system|>\n", "user": "<|user|>\n", "assistant": "<|assistant|>\n"}
GENERATION_PROMPT = HEADERS["assistant"]


def render_tulu(messages: Sequence[Mapping[str, str]], eos: str = "</s>", add_generation_prompt: bool = False) -> str:
    """One conversation in the Tulu format; with `add_generation_prompt`, ends with the assistant header."""
    parts = []
    for message in messages:
        role = message["role"]
        if role not in HEADERS:
            raise ValueError(f"the Tulu chat format has no role {role!r}")
        content = (message["content"] or "").strip()
        parts.append(f"{HEADERS[role]}{content}{eos if role == 'assistant' else ''}\n")
    text = "".join(parts)
    return text + GENERATION_PROMPT if add_generation_prompt else text.strip()


def tulu_text_expr(conversation: pl.Expr, eos: str = "</s>", add_generation_prompt: bool = False) -> pl.Expr:
    """`render_tulu` as a polars expression over a list-of-messages column (no Python per row)."""
    el = pl.element()
    role = el.struct.field("role")
    content = el.struct.field("content").fill_null("").str.strip_chars()
    turn = (
        pl.when(role == "assistant")
        .then(pl.concat_str([pl.lit(HEADERS["assistant"]), content, pl.lit(eos + "\n")]))
        .otherwise(pl.concat_str([pl.lit("<|"), role, pl.lit("|>\n"), content, pl.lit("\n")]))
    )
    text = conversation.list.eval(turn).list.join("")
    return text + pl.lit(GENERATION_PROMPT) if add_generation_prompt else text.str.strip_chars()
