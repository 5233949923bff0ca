"""Pieces the entry points share: load the mix and the tokenizer, tokenize with the cache, report."""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset

from .data import Mix, TokenizedData, load_mix, select_split, subsample, tokenize_cached
from .modeling import conversation_texts, is_tiny, load_tokenizer
from .preflight import check_columns, check_run, require_rows

logger = logging.getLogger("training")

# Rows the tiny tokenizer is trained on: enough for a useful vocabulary, quick on any mixture.
TINY_TOKENIZER_ROWS = 5000


@dataclass
class TrainingRun:
    """What an entry point returns: where the checkpoint is, the trainer, and data statistics."""

    output_dir: Path
    trainer: Any = None
    tokenized: TokenizedData | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def setup_logging() -> None:
    """Plain INFO logging for command-line runs."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)


def end_distributed() -> None:
    """Tear distributed training down in order before the interpreter exits: first the trainer's
    objects (the DDP wrapper holds the process group), then the process group itself.

    Left to interpreter shutdown, the two go in no set order and a worker can abort after training
    has finished ("terminate called without an active exception", SIGABRT: 2 runs in 10 of 2-process
    CPU SFT here). Destroying the group while the trainer still holds it hung instead (4 runs in 12).
    Call it once the run's result is no longer referenced.
    """
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def load_training_rows(args: Any, expected_formats: tuple[str, ...]) -> tuple[Mix, Dataset, str]:
    """Check the run's flags, resolve ``--mix``, pick the split, subsample; return the mix, the rows and
    the data cache key. A mix of the wrong kind is refused before anything is built or loaded."""
    check_run(args, expected_formats)
    mix = load_mix(args.mix, args.sources, args.builds_dir, seed=args.seed)
    rows = select_split(mix.datasets, args.split)
    found = check_columns(args.mix, rows.features, expected_formats)
    rows = subsample(rows, getattr(args, "max_train_samples", None), args.seed)
    data_key = f"{mix.content_hash}:{args.split}:{getattr(args, 'max_train_samples', None)}:{args.seed}"
    logger.info("mix %s: %d %s rows from split %s", mix.name, len(rows), found, args.split)
    return mix, rows, data_key


def tokenizer_for(model_name: str, rows: Dataset, **kwargs: Any) -> Any:
    """The tokenizer of ``model_name``, or the tiny one trained on (the first rows of) ``rows``."""
    if is_tiny(model_name):
        sample = itertools.islice(iter(rows), TINY_TOKENIZER_ROWS)
        return load_tokenizer(model_name, texts=conversation_texts(sample))
    return load_tokenizer(model_name, **kwargs)


def tokenize_for(task: str, args: Any, rows: Dataset, tokenizer: Any, data_key: str) -> TokenizedData:
    """Tokenize ``rows`` for ``task`` through the fingerprint cache (main process first)."""
    tokenized = tokenize_cached(
        rows,
        task,
        tokenizer,
        args.max_length,
        data_key,
        num_proc=args.dataset_num_proc,
        main_process_first=lambda: args.main_process_first(desc=f"tokenize {task}", local=True),
    )
    source = "cache" if tokenized.cache_hit else "tokenized now"
    logger.info("%s data (%s, %s): %s", task, source, tokenized.path, json.dumps(tokenized.stats))
    require_rows(tokenized.stats, args.mix, f"--max_length {args.max_length}")
    return tokenized


def finish(trainer: Any, args: Any, tokenized: TokenizedData | None) -> TrainingRun:
    """Save the final model and tokenizer to ``output_dir`` and write the data statistics beside them."""
    trainer.save_model(args.output_dir)
    output_dir = Path(args.output_dir)
    if trainer.is_world_process_zero() and tokenized is not None:
        report = {"fingerprint": tokenized.fingerprint, "cache_hit": tokenized.cache_hit, **tokenized.stats}
        (output_dir / "tulu_data_stats.json").write_text(json.dumps(report, indent=2) + "\n")
    return TrainingRun(
        output_dir,
        trainer,
        tokenized,
        dict(trainer.state.log_history[-1]) if trainer.state.log_history else {},
    )
