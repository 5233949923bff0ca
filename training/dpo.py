"""DPO with the Tulu 2 / 2.5 recipe, on trl's DPOTrainer.

    python -m training.dpo --mix uf_mean --model runs/sft-tulu_v2_sft_mixture
    python -m training.dpo --mix ./my_pairs --model tiny --output_dir runs/dpo-smoke

Rows are preference rows (``chosen``/``rejected`` conversations sharing all but the last assistant
turn). The prompt is rendered with the Tulu generation prompt and each reply as content + eos; both
are tokenized once and cached. The reference model is the starting model, frozen (or ``--ref_model``).
"""

from __future__ import annotations

from .front_door import help_before_imports, prog, run_entry

help_before_imports(__name__, "dpo")  # `--help` answers here, before trl and torch are imported

from collections.abc import Sequence
from typing import Any

from datasets import Dataset
from transformers import set_seed
from trl import DPOTrainer, TrlParser

from .common import (
    TrainingRun,
    end_distributed,
    finish,
    load_training_rows,
    setup_logging,
    tokenize_for,
    tokenizer_for,
)
from .config import TuluDPOConfig
from .modeling import load_causal_lm
from .packing import add_padding_free_forward, hidden_from_trl, padding_free_decision, with_flash_attention
from .precision import frozen_dtype


class PretokenizedDPOTrainer(DPOTrainer):
    """DPOTrainer that takes rows already holding ``prompt_ids``/``chosen_ids``/``rejected_ids`` as they are.

    trl always re-derives those from text; our cached, Tulu-formatted ids are used instead.
    """

    def _prepare_dataset(
        self, dataset: Dataset, processing_class: Any, args: Any, dataset_name: str
    ) -> Dataset:
        if {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(dataset.column_names):
            return dataset
        return super()._prepare_dataset(dataset, processing_class, args, dataset_name)


def train(args: TuluDPOConfig) -> TrainingRun:
    """Run DPO as configured and save the policy and tokenizer to ``args.output_dir``."""
    set_seed(args.seed)
    _, rows, data_key = load_training_rows(args, ("preference",))
    tokenizer = tokenizer_for(args.model, rows, trust_remote_code=args.trust_remote_code)
    init_kwargs = with_flash_attention(args.model_init_kwargs, args.bf16)
    model = load_causal_lm(args.model, tokenizer, args.seed, init_kwargs)
    # The tiny model is rebuilt from the same seed, so the reference starts identical to the policy.
    ref_model = load_causal_lm(args.ref_model or args.model, tokenizer, args.seed, init_kwargs)
    ref_model.to(frozen_dtype(args.bf16))
    tokenized = None
    if args.pretokenize:
        tokenized = tokenize_for("dpo", args, rows, tokenizer, data_key)
        train_dataset = tokenized.dataset
    else:
        train_dataset = rows.select_columns(["chosen", "rejected"])
    # chosen and rejected rows make two sequences per pair
    padding_free = padding_free_decision(args.padding_free, model, "", 2 * args.per_device_train_batch_size)
    with hidden_from_trl(args, padding_free=False):  # trl's DPO padding-free is off; ours wraps the forwards
        trainer = PretokenizedDPOTrainer(
            model=model,
            ref_model=ref_model,
            args=args,
            train_dataset=train_dataset,
            processing_class=tokenizer,
        )
    args.padding_free = padding_free
    if padding_free:
        for scored in (trainer.model, trainer.ref_model):
            if scored is not None:
                add_padding_free_forward(trainer.accelerator.unwrap_model(scored))
    trainer.train()
    return finish(trainer, args, tokenized)


def parse_args(argv: Sequence[str] | None = None) -> TuluDPOConfig:
    """The flags (``--help``: the Tulu ones; ``--help-all``: every one), with the recipe's defaults."""
    (args,) = TrlParser((TuluDPOConfig,), prog=prog("dpo")).parse_args_and_config(argv)
    return args


def main(argv: Sequence[str] | None = None) -> TrainingRun:
    """Parse flags and train."""
    setup_logging()
    return train(parse_args(argv))


if __name__ == "__main__":
    setup_logging()
    run_entry("dpo", parse_args, train)  # the run is dropped inside, before the process group goes
    end_distributed()
