"""Loading models and tokenizers, and building the tiny random ones (``--model tiny``) used on CPU.

``tiny`` means: a byte-level BPE tokenizer trained with ``tokenizers`` on the mixture's own text plus
the special tokens, and a small random Llama (hidden 64, 2 layers, 4 heads) over that vocabulary.
Everything runs on CPU in seconds; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from .chat_format import ROLE_MARKERS, set_tulu_template

TINY = "tiny"
EOS_TOKEN = "</s>"
PAD_TOKEN = "<pad>"
TINY_VOCAB_SIZE = 640
TINY_SIZES = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
}


def is_tiny(name: str | None) -> bool:
    """Whether a ``--model`` value asks for the tiny random model."""
    return name == TINY


def conversation_texts(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """Every message content in SFT, preference or prompt rows (for training a tiny tokenizer)."""
    for row in rows:
        for column in ("messages", "chosen", "rejected", "prompt"):
            value = row.get(column)
            if isinstance(value, str):
                yield value
            elif value:
                for message in value:
                    yield message["content"]


def build_tiny_tokenizer(texts: Iterable[str], vocab_size: int = TINY_VOCAB_SIZE) -> PreTrainedTokenizerFast:
    """Train a small byte-level BPE tokenizer on ``texts``; eos ``</s>``, pad ``<pad>``, Tulu template set.

    Training is deterministic for the same texts, so the tokenized-data cache key stays stable.
    """
    special_tokens = [PAD_TOKEN, EOS_TOKEN, *ROLE_MARKERS]
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=list(ROLE_MARKERS),
    )
    tokenizer.model_max_length = 1_000_000
    return set_tulu_template(tokenizer)


def load_tokenizer(name_or_path: str, texts: Iterable[str] | None = None, **kwargs: Any) -> Any:
    """Load a tokenizer (or train the tiny one on ``texts``) and set the Tulu chat template.

    A tokenizer without a pad token gets ``<pad>`` added (as Tulu 2 did); the model is resized to match.
    """
    if is_tiny(name_or_path):
        if texts is None:
            raise ValueError("the tiny tokenizer is trained on the data: pass its texts")
        return build_tiny_tokenizer(texts)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    if tokenizer.eos_token is None:
        raise ValueError(f"tokenizer of {name_or_path} has no eos token; the Tulu format needs one")
    if tokenizer.pad_token is None:
        tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return set_tulu_template(tokenizer)


def tiny_config(tokenizer: Any, **overrides: Any) -> LlamaConfig:
    """A small Llama config over the tokenizer's vocabulary."""
    settings = {
        **TINY_SIZES,
        "vocab_size": len(tokenizer),
        "max_position_embeddings": 8192,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": None,
        "tie_word_embeddings": False,
        **overrides,
    }
    return LlamaConfig(**settings)


def build_tiny_causal_lm(tokenizer: Any, seed: int = 42) -> LlamaForCausalLM:
    """A random tiny Llama causal LM; the same tokenizer and seed give the same weights."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM(tiny_config(tokenizer))
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def build_tiny_reward_model(tokenizer: Any, seed: int = 42) -> LlamaForSequenceClassification:
    """A random tiny Llama sequence classifier with one output (a reward model)."""
    torch.manual_seed(seed)
    return LlamaForSequenceClassification(tiny_config(tokenizer, num_labels=1))


def _match_tokenizer(model: PreTrainedModel, tokenizer: Any) -> PreTrainedModel:
    """Resize embeddings to the tokenizer (a pad token may have been added) and record pad/eos ids."""
    if model.get_input_embeddings().weight.shape[0] < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    text_config = model.config.get_text_config()
    text_config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def load_causal_lm(
    name_or_path: str, tokenizer: Any, seed: int = 42, init_kwargs: dict[str, Any] | None = None
) -> PreTrainedModel:
    """Load a causal LM from the Hub or a local path, or build the tiny random one."""
    if is_tiny(name_or_path):
        return build_tiny_causal_lm(tokenizer, seed)
    model = AutoModelForCausalLM.from_pretrained(
        name_or_path, **{"dtype": torch.float32, **(init_kwargs or {})}
    )
    return _match_tokenizer(model, tokenizer)


def load_reward_model(
    name_or_path: str, tokenizer: Any, seed: int = 42, init_kwargs: dict[str, Any] | None = None
) -> PreTrainedModel:
    """Load a one-output sequence classifier (a reward model, or a causal LM given a fresh head)."""
    if is_tiny(name_or_path):
        return build_tiny_reward_model(tokenizer, seed)
    torch.manual_seed(seed)  # the score head of a causal-LM checkpoint is initialised randomly
    model = AutoModelForSequenceClassification.from_pretrained(
        name_or_path, **{"dtype": torch.float32, "num_labels": 1, **(init_kwargs or {})}
    )
    return _match_tokenizer(model, tokenizer)


def build_token_rate_reward_model(
    tokenizer: Any, token_id: int, scale: float = 1.0
) -> LlamaForSequenceClassification:
    """A hand-set one-layer Llama reward model whose score rises with the share of ``token_id`` tokens.

    Deterministic, no training: embeddings put the target token on axis 0 and every other token on
    axis 1; zero queries and keys make attention a uniform average over the prefix; the value/output
    projections copy axis 0 onto axis 2; the score head reads axis 2 after the final norm. The score at
    the last token is ``scale * H * r / sqrt(c^2 + H * r^2)`` for target rate ``r`` (hidden size ``H``,
    embedding norm ``c``), which increases with ``r``. Used to show PPO learns through the real RM path.
    """
    config = tiny_config(tokenizer, num_labels=1, num_hidden_layers=1)
    model = LlamaForSequenceClassification(config)
    embedding_norm = 8.0
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        for norm in (
            model.model.norm,
            model.model.layers[0].input_layernorm,
            model.model.layers[0].post_attention_layernorm,
        ):
            norm.weight.fill_(1.0)
        embeddings = model.model.embed_tokens.weight
        embeddings[:, 1] = embedding_norm
        embeddings[token_id, 1] = 0.0
        embeddings[token_id, 0] = embedding_norm
        attention = model.model.layers[0].self_attn
        attention.v_proj.weight[0, 0] = 1.0
        attention.o_proj.weight[2, 0] = 1.0
        model.score.weight[0, 2] = scale
    return model


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """A hash of everything about a tokenizer that changes token ids (vocab, merges, specials, template)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    payload = {
        "backend": backend.to_str() if backend is not None else sorted(tokenizer.get_vocab().items()),
        "special": tokenizer.special_tokens_map,
        "template": tokenizer.chat_template,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
