"""Supervised fine-tuning with the Tulu 2 recipe, on trl's SFTTrainer.

    python -m training.sft --mix tulu_v2_sft_mixture --model meta-llama/Llama-2-7b-hf
    python -m training.sft --mix ./my_sft_folder --model tiny --output_dir runs/sft-smoke

Rows are SFT rows (``messages``). With ``--pretokenize`` (default) rows are tokenized once by the Tulu
encoder (labels on assistant content + eos only) and cached; otherwise trl tokenizes them with the Tulu
chat template and ``assistant_only_loss``.
"""

from __future__ import annotations

from .front_door import help_before_imports, prog, run_entry

help_before_imports(__name__, "sft")  # `--help` answers here, before trl and torch are imported

from collections.abc import Sequence
from contextlib import nullcontext

from transformers import set_seed
from trl import SFTTrainer, TrlParser

from .common import (
    TrainingRun,
    end_distributed,
    finish,
    load_training_rows,
    setup_logging,
    tokenize_for,
    tokenizer_for,
)
from .config import TuluSFTConfig
from .modeling import load_causal_lm
from .packing import hidden_from_trl, padding_free_decision, with_flash_attention

NEEDS_PRETOKENIZE = "with --pretokenize false trl tokenizes, and only truncates padded or packed rows"


def train(args: TuluSFTConfig) -> TrainingRun:
    """Run SFT as configured and save the model and tokenizer to ``args.output_dir``."""
    set_seed(args.seed)
    _, rows, data_key = load_training_rows(args, ("sft",))
    tokenizer = tokenizer_for(args.model, rows, trust_remote_code=args.trust_remote_code)
    init_kwargs = with_flash_attention(args.model_init_kwargs, args.bf16)
    model = load_causal_lm(args.model, tokenizer, args.seed, init_kwargs)
    tokenized = None
    if args.pretokenize:
        tokenized = tokenize_for("sft", args, rows, tokenizer, data_key)
        train_dataset = tokenized.dataset
        # Labels already carry the assistant-only mask; trl rejects the flag on non-conversational rows.
        args.assistant_only_loss = False
    else:
        train_dataset = rows.select_columns(["messages"])
    args.padding_free = padding_free_decision(
        args.padding_free,
        model,
        "" if args.pretokenize else NEEDS_PRETOKENIZE,
        args.per_device_train_batch_size,
    )
    if args.padding_free:
        model.config.use_cache = False  # a KV cache would switch off transformers' packed-sequence mask
    # Rows are already cut to max_length by the encoder; trl refuses padding-free with a length to enforce.
    with hidden_from_trl(args, max_length=None) if args.padding_free else nullcontext():
        trainer = SFTTrainer(model=model, args=args, train_dataset=train_dataset, processing_class=tokenizer)
    trainer.train()
    return finish(trainer, args, tokenized)


def parse_args(argv: Sequence[str] | None = None) -> TuluSFTConfig:
    """The flags (``--help``: the Tulu ones; ``--help-all``: every one), with the recipe's defaults."""
    (args,) = TrlParser((TuluSFTConfig,), prog=prog("sft")).parse_args_and_config(argv)
    return args


def main(argv: Sequence[str] | None = None) -> TrainingRun:
    """Parse flags and train."""
    setup_logging()
    return train(parse_args(argv))


if __name__ == "__main__":
    setup_logging()
    run_entry("sft", parse_args, train)  # the run is dropped inside, before the process group goes
    end_distributed()
