"""Padding-free SFT and DPO batches: the rows of a batch laid end to end in one row, with per-sequence
``position_ids`` and no attention mask, so no compute is spent on padding.

This is exact only if attention cannot see across sequences. Flash attention's variable-length kernels
restart at every ``position_ids == 0``; for sdpa, eager and flex attention, transformers builds a
block-diagonal mask from ``position_ids`` when no attention mask and no KV cache are given (5.x; older
releases did not, and packed rows there silently attend to each other). Rather than trust a version
number, ``packed_attention_is_isolated`` checks the installed transformers: it runs two sequences packed
and alone through a tiny random Llama with the same attention implementation. Where the check fails,
training falls back to padded batches with a warning, or refuses when ``--padding_free true`` was asked.

The batch composition does not change (same rows per step, same recipe), unlike packing rows into
fixed-length blocks, which would change how many conversations make one optimizer step.

SFT uses trl's own padding-free collator. trl's DPO has none at present (its ``padding_free`` warns and
pads), so ``add_padding_free_forward`` wraps the policy's and reference's forward: a padded DPO batch is
flattened before the model and its per-token outputs are put back into the padded layout after, so the
rest of trl's DPO loss runs unchanged.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedModel

logger = logging.getLogger(__name__)

FLASH_PREFIX = "flash_attention"


def attention_implementation(model: PreTrainedModel) -> str:
    """The attention implementation the model will run with (``sdpa``, ``eager``, ``flash_attention_2``...)."""
    return str(getattr(model.config, "_attn_implementation", None) or "eager")


def with_flash_attention(init_kwargs: dict[str, Any] | None, bf16: bool) -> dict[str, Any]:
    """Model-loading kwargs asking for flash attention 2 where it is installed and usable (CUDA, bf16
    autocast), unless ``--model_init_kwargs`` already names an attention implementation."""
    kwargs = dict(init_kwargs or {})
    usable = bf16 and torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None
    if usable and "attn_implementation" not in kwargs:
        kwargs["attn_implementation"] = "flash_attention_2"
    return kwargs


def _probe_model(implementation: str) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=64, use_cache=False,
    )  # fmt: skip
    config._attn_implementation = implementation
    torch.manual_seed(0)
    return LlamaForCausalLM(config).eval()


@functools.cache
def packed_attention_is_isolated(implementation: str) -> bool:
    """Whether two sequences packed in one row (positions restarting, no mask) give the same outputs as
    each sequence alone, under ``implementation`` in the installed transformers (checked on CPU)."""
    with torch.random.fork_rng(devices=[]):  # the probe's seed must not move the run's random stream
        return _probe(implementation)


def _probe(implementation: str) -> bool:
    try:
        model = _probe_model(implementation)
        first, second = torch.arange(1, 6)[None], torch.arange(7, 15)[None]
        packed = torch.cat([first, second], dim=1)
        position_ids = torch.cat([torch.arange(5), torch.arange(8)])[None]
        with torch.no_grad():
            together = model(input_ids=packed, position_ids=position_ids, use_cache=False).logits
            alone = torch.cat([model(input_ids=first).logits, model(input_ids=second).logits], dim=1)
    except Exception as error:  # an implementation that cannot run here cannot be checked
        logger.info("packing check for %s attention could not run: %s", implementation, error)
        return False
    return torch.allclose(together, alone, atol=1e-5, rtol=1e-4)


def padding_free_decision(
    requested: bool | None, model: PreTrainedModel, reason_off: str = "", sequences_per_batch: int = 2
) -> bool:
    """Resolve ``--padding_free`` (None: on where exact and useful). Refuses an explicit request that is
    not exact; logs why it is off otherwise."""
    if requested is False:
        logger.info("padding-free batches: off (--padding_free false)")
        return False
    if requested is None and sequences_per_batch == 1:
        logger.info("padding-free batches: off (one sequence per batch has no padding to remove)")
        return False
    if reason_off:
        if requested:
            raise ValueError(f"--padding_free true is not possible here: {reason_off}")
        logger.warning("padding-free batches: off, padded batches instead (%s)", reason_off)
        return False
    implementation = attention_implementation(model)
    if implementation.startswith(FLASH_PREFIX) or packed_attention_is_isolated(implementation):
        logger.info("padding-free batches: on (%s attention keeps packed sequences apart)", implementation)
        return True
    message = (
        f"{implementation} attention in transformers {transformers.__version__} lets sequences packed in one "
        "row attend to each other"
    )
    if requested:
        raise ValueError(f"--padding_free true would mix sequences: {message}")
    logger.warning("padding-free batches: off, padded batches instead (%s)", message)
    return False


@contextmanager
def hidden_from_trl(args: Any, **values: Any) -> Iterator[None]:
    """Show trl's trainer constructor other values for some fields, and restore ours afterwards.

    Used for what we do instead of trl: the encoder has already cut rows to ``max_length`` (trl refuses
    padding-free SFT with a ``max_length`` it would have to enforce), and DPO's padding-free is ours.
    """
    saved = {name: getattr(args, name) for name in values}
    for name, value in values.items():
        setattr(args, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(args, name, value)


def _flatten(
    input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The real tokens of a right-padded batch in one row: ``(input_ids, position_ids, labels)``; the first
    token of each sequence gets no label, so no sequence is scored on predicting the next one."""
    keep = attention_mask.bool()
    lengths = keep.sum(dim=1)
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    flat_labels = labels[keep].clone()
    starts = lengths.cumsum(0) - lengths
    flat_labels[starts[lengths > 0]] = -100
    return input_ids[keep][None], positions[keep][None], flat_labels[None]


def _unflatten(value: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Put a ``[1, tokens - 1]`` next-token output of the flattened row back as ``[batch, width - 1]`` (zeros
    where the padded layout has no next token)."""
    keep = attention_mask.bool()
    flat_index = keep.flatten().long().cumsum(0).view_as(keep) - 1
    has_next = keep[:, 1:]
    source = value[0, flat_index[:, :-1][has_next]]
    return value.new_zeros(has_next.shape).masked_scatter(has_next, source)


def is_right_padded(attention_mask: torch.Tensor) -> bool:
    """Every row's real tokens come first."""
    lengths = attention_mask.sum(dim=1, keepdim=True)
    expected = torch.arange(attention_mask.shape[1], device=attention_mask.device)[None] < lengths
    return bool(torch.equal(attention_mask.bool(), expected))


def _padding_free_call(forward: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Call ``forward`` on the flattened batch and return its output in the padded layout."""
    attention_mask = kwargs.pop("attention_mask")
    input_ids, position_ids, labels = _flatten(kwargs.pop("input_ids"), attention_mask, kwargs.pop("labels"))
    output = forward(input_ids=input_ids, position_ids=position_ids, labels=labels, **kwargs)
    width = input_ids.shape[1] - 1
    for name, value in list(output.items()):
        if isinstance(value, torch.Tensor) and value.dim() == 2 and value.shape == (1, width):
            output[name] = _unflatten(value, attention_mask)
    return output


def add_padding_free_forward(model: PreTrainedModel) -> PreTrainedModel:
    """Wrap ``model.forward`` (after trl's fused LM head) so that scoring calls on a right-padded batch
    (``labels`` and ``fused_lm_head=True``) run padding-free; any other call is passed through."""
    inner = model.forward

    @functools.wraps(inner)
    def forward(*args: Any, **kwargs: Any) -> Any:
        mask = kwargs.get("attention_mask")
        if (
            args
            or not kwargs.get("fused_lm_head")
            or kwargs.get("labels") is None
            or mask is None
            or kwargs.get("position_ids") is not None
            or not is_right_padded(mask)
        ):
            return inner(*args, **kwargs)
        return _padding_free_call(inner, dict(kwargs))

    model.forward = forward
    model.config.use_cache = False  # a KV cache would switch off transformers' packed-sequence mask
    return model
