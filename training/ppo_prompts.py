"""PPO prompts: tokenizing them with the Tulu generation prompt, and the tokenizer the four models share."""

from __future__ import annotations

import logging
from typing import Any

from datasets import Dataset
from transformers import AutoTokenizer

from .chat_format import encode_prompts, prompt_messages, set_tulu_template
from .common import tokenizer_for
from .modeling import is_tiny

logger = logging.getLogger("training.ppo")


def tokenize_prompts(rows: Dataset, tokenizer: Any, max_prompt_length: int) -> tuple[Dataset, dict[str, int]]:
    """Render each row's prompt turns with the Tulu generation prompt and tokenize; drop long or empty ones."""

    def encode(batch: dict[str, list]) -> dict[str, list]:
        columns = list(batch)
        prompts = [
            prompt_messages({column: batch[column][index] for column in columns})
            for index in range(len(batch[columns[0]]))
        ]
        return {"prompt_ids": encode_prompts(tokenizer, prompts)}

    encoded = rows.map(encode, batched=True, remove_columns=rows.column_names, desc="Tokenizing prompts")
    kept = encoded.filter(lambda ids: 0 < len(ids) <= max_prompt_length, input_columns="prompt_ids")
    return kept, {"rows": len(rows), "dropped_empty_or_too_long": len(encoded) - len(kept), "kept": len(kept)}


def load_policy_tokenizer(config: Any, rows: Dataset) -> Any:
    """The policy's tokenizer; a tiny policy shares the reward model's tokenizer so their ids agree."""
    if is_tiny(config.model) and not is_tiny(config.reward_model):
        return set_tulu_template(AutoTokenizer.from_pretrained(config.reward_model))
    return tokenizer_for(config.model, rows)


def check_same_vocabulary(tokenizer: Any, checkpoint: str, role: str) -> None:
    """The reward and value models read the policy's token ids, so their tokenizer must be the same."""
    if is_tiny(checkpoint):
        return
    try:
        other = AutoTokenizer.from_pretrained(checkpoint)
    except (OSError, ValueError):
        logger.warning("%s %s has no tokenizer; assuming it shares the policy's vocabulary", role, checkpoint)
        return
    if other.get_vocab() != tokenizer.get_vocab():
        raise ValueError(
            f"{role} {checkpoint} uses a different vocabulary from the policy; PPO needs the same one"
        )
