"""Reward-model training with the Tulu 2.5 recipe, on trl's RewardTrainer.

    python -m training.rm --mix preference_big_mixture --model runs/sft-tulu_v2_sft_mixture
    python -m training.rm --mix ./my_pairs --model tiny --output_dir runs/rm-smoke

The model is a one-output sequence classifier (``AutoModelForSequenceClassification``, ``num_labels=1``;
a causal-LM checkpoint gets a fresh score head). It scores the whole Tulu-formatted conversation at its
last token (the eos). ``training.ppo --reward_model OUTPUT_DIR`` loads the saved checkpoint.
"""

from __future__ import annotations

from .front_door import help_before_imports, prog, run_entry

help_before_imports(__name__, "rm")  # `--help` answers here, before trl and torch are imported

from collections.abc import Sequence

from transformers import set_seed
from trl import RewardTrainer, TrlParser

from .common import (
    TrainingRun,
    end_distributed,
    finish,
    load_training_rows,
    setup_logging,
    tokenize_for,
    tokenizer_for,
)
from .config import TuluRewardConfig
from .modeling import load_reward_model


def train(args: TuluRewardConfig) -> TrainingRun:
    """Train a reward model as configured and save it with its tokenizer to ``args.output_dir``."""
    set_seed(args.seed)
    _, rows, data_key = load_training_rows(args, ("preference",))
    tokenizer = tokenizer_for(args.model, rows, trust_remote_code=args.trust_remote_code)
    model = load_reward_model(args.model, tokenizer, args.seed, args.model_init_kwargs)
    tokenized = None
    if args.pretokenize:
        tokenized = tokenize_for("rm", args, rows, tokenizer, data_key)
        train_dataset = tokenized.dataset
    else:
        train_dataset = rows.select_columns(["chosen", "rejected"])
    trainer = RewardTrainer(model=model, args=args, train_dataset=train_dataset, processing_class=tokenizer)
    trainer.train()
    return finish(trainer, args, tokenized)


def parse_args(argv: Sequence[str] | None = None) -> TuluRewardConfig:
    """The flags (``--help``: the Tulu ones; ``--help-all``: every one), with the recipe's defaults."""
    (args,) = TrlParser((TuluRewardConfig,), prog=prog("rm")).parse_args_and_config(argv)
    return args


def main(argv: Sequence[str] | None = None) -> TrainingRun:
    """Parse flags and train."""
    setup_logging()
    return train(parse_args(argv))


if __name__ == "__main__":
    setup_logging()
    run_entry("rm", parse_args, train)  # the run is dropped inside, before the process group goes
    end_distributed()
