"""Time our SFT, DPO, RM and PPO entry points beside plain trl SFTTrainer / DPOTrainer, in one run.

A random Llama of the chosen size and a small BPE tokenizer are saved to OUT/model; synthetic rows
with Tulu-like lengths (training/synthetic.py: SFT conversations log-normal around the Tulu 2
mixture's mean of 1,097 tokens, cut at --max-length; preference pairs; PPO prompts) are written to
OUT/data. `--size tiny` shrinks lengths by max_length/8192 and runs on CPU in a few minutes.

Every run gets the same rows, model, batch (--batch rows per step, no accumulation), steps and
precision (bf16 where CUDA has it). Measured: the forwards of the trained model in training mode are
timed (CUDA synchronised) and their tokens counted: step time and tokens/s over steps 2..N-1 (step 1
warms up), padding share = padded tokens / tokens computed over all steps, MFU = 6 x parameters x
non-padding tokens/s over the GPU's dense bf16 peak, peak GPU memory per run. PPO: median over steps
2..N of its logged generation / scoring / update seconds, and generated tokens per generation second.

Usage: python bench/bench_train.py --size tiny|1b|7b [--steps 10] [--batch 8] [--out bench/out/train]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import LlamaForCausalLM  # noqa: E402
from transformers.models.llama.modeling_llama import LlamaModel  # noqa: E402

from training.modeling import TINY_SIZES, build_tiny_tokenizer, conversation_texts, tiny_config  # noqa: E402
from training.precision import llama_config, task_state_bytes  # noqa: E402
from training.synthetic import (  # noqa: E402
    sized_preference_rows,
    sized_prompt_rows,
    sized_sft_rows,
    write_rows,
)

GIB = 1024**3
BF16_PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "H800": 989e12, "A100": 312e12}  # dense
DEFAULTS = {  # max length, PPO response length, rows
    "tiny": {"max_length": 1024, "response_length": 48, "rows": 64},
    "1b": {"max_length": 8192, "response_length": 512, "rows": 256},
    "7b": {"max_length": 8192, "response_length": 512, "rows": 256},
}
COLUMNS = (
    "run", "step s", "non-pad tokens/s", "padding", "MFU", "peak GPU GiB",
    "PPO gen / score / update s", "generated tokens/s",
)  # fmt: skip


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class Meter:
    """Timestamps and token counts of every training-mode Llama backbone forward while active."""

    def __init__(self) -> None:
        self.events: dict[int, list[tuple[float, int, int]]] = {}

    @contextmanager
    def active(self) -> Iterator[None]:
        original = LlamaModel.forward

        def metered(module: LlamaModel, *args: Any, **kwargs: Any) -> Any:
            if module.training:
                self._record(module, kwargs.get("input_ids", args[0] if args else None), kwargs)
            return original(module, *args, **kwargs)

        LlamaModel.forward = metered
        try:
            yield
        finally:
            LlamaModel.forward = original

    def _record(self, module: LlamaModel, input_ids: torch.Tensor, kwargs: dict[str, Any]) -> None:
        mask = kwargs.get("attention_mask")
        computed = input_ids.numel()
        real = int(mask.sum()) if isinstance(mask, torch.Tensor) and mask.dim() == 2 else computed
        synchronize()
        self.events.setdefault(id(module), []).append((time.perf_counter(), computed, real))

    def trained(self) -> list[tuple[float, int, int]]:
        """The events of the first trained backbone (PPO also trains a value model on the same rows)."""
        return next(iter(self.events.values()), [])


def step_figures(events: list[tuple[float, int, int]], steps: int) -> dict[str, float]:
    """Step time and non-padding tokens/s over steps 2..N-1 (start of step 2 to start of step N), and
    the padding share over all forwards."""
    per_step = len(events) // steps
    if per_step == 0 or steps < 3:
        raise ValueError(f"{len(events)} forwards for {steps} steps: run at least 3 steps")
    first, last = per_step, per_step * (steps - 1)
    seconds = events[last][0] - events[first][0]
    real = sum(event[2] for event in events[first:last])
    computed_all, real_all = sum(e[1] for e in events), sum(e[2] for e in events)
    return {
        "step_s": seconds / (steps - 2),
        "tokens_per_s": real / seconds,
        "padding": 1 - real_all / computed_all,
    }


def peak_flops() -> float | None:
    """Dense bf16 peak of the GPU, if it is one we know."""
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((flops for key, flops in BF16_PEAK_FLOPS.items() if key in name), None)


def build_model(size: str, rows: list[dict[str, Any]], folder: Path) -> int:
    """Save a random Llama of ``size`` and a BPE tokenizer trained on ``rows``; return the parameter count."""
    tokenizer = build_tiny_tokenizer(conversation_texts(rows))
    ids = {
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": None,
    }
    config = tiny_config(tokenizer, **TINY_SIZES) if size == "tiny" else llama_config(size, **ids)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() and size != "tiny" else "cpu"):
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.to(torch.bfloat16 if size != "tiny" else torch.float32).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return sum(p.numel() for p in model.parameters())


def write_data(size: str, out: Path, rows: int, max_length: int) -> dict[str, Path]:
    """SFT, preference and prompt folders with Tulu-like lengths (shrunk for ``tiny``)."""
    scale = max_length / 8192 if size == "tiny" else 1.0
    sets = {
        "sft": sized_sft_rows(rows, max_length, scale),
        "pairs": sized_preference_rows(rows, max_length, scale),
        "prompts": sized_prompt_rows(rows, max_length // 2, scale),
    }
    return {name: write_rows(out / name, data) for name, data in sets.items()}


def common_flags(model: Path, data: Path, out: Path, args: argparse.Namespace) -> list[str]:
    return [
        "--mix", str(data), "--model", str(model), "--output_dir", str(out), "--max_steps", str(args.steps),
        "--effective_batch_size", "0", "--gradient_accumulation_steps", "1",
        "--per_device_train_batch_size", str(args.batch), "--save_strategy", "no", "--logging_steps", "1",
        "--disable_tqdm", "true", "--report_to", "none", "--seed", "0", "--dataloader_num_workers", "0",
    ]  # fmt: skip


def run_ours(task: str, paths: dict[str, Path], args: argparse.Namespace) -> Any:
    from training import dpo, rm, sft

    entry = {"sft": sft, "dpo": dpo, "rm": rm}[task]
    data = paths["sft"] if task == "sft" else paths["pairs"]
    flags = common_flags(paths["model"], data, args.out / "runs" / task, args)
    return entry.main(
        [*flags, "--max_length", str(args.max_length if task == "sft" else args.max_length // 4)]
    )


def run_trl(task: str, paths: dict[str, Path], args: argparse.Namespace) -> Any:
    """Plain trl on the same rows and settings: trl tokenizes with the chat template, pads every batch."""
    from datasets import load_dataset
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    from training.modeling import load_causal_lm, load_tokenizer

    tokenizer = load_tokenizer(str(paths["model"]))
    model = load_causal_lm(str(paths["model"]), tokenizer, 0)
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    settings = {
        "output_dir": str(args.out / "runs" / f"trl-{task}"), "max_steps": args.steps, "seed": 0,
        "per_device_train_batch_size": args.batch, "gradient_accumulation_steps": 1, "save_strategy": "no",
        "logging_steps": 1, "disable_tqdm": True, "report_to": "none", "bf16": bf16, "use_cpu": not bf16,
        "dataloader_num_workers": 0, "warmup_steps": 0.03,
        "lr_scheduler_type": "linear", "weight_decay": 0.0,
    }  # fmt: skip
    if task == "sft":
        rows = load_dataset(str(paths["sft"]))["train"].select_columns(["messages"])
        config = SFTConfig(
            **settings, learning_rate=2e-5, max_length=args.max_length, assistant_only_loss=True
        )
        trainer = SFTTrainer(model=model, args=config, train_dataset=rows, processing_class=tokenizer)
    else:
        rows = load_dataset(str(paths["pairs"]))["train"].select_columns(["chosen", "rejected"])
        ref = load_causal_lm(str(paths["model"]), tokenizer, 0)
        config = DPOConfig(**settings, learning_rate=5e-7, beta=0.1, max_length=args.max_length // 4)
        trainer = DPOTrainer(
            model=model, ref_model=ref, args=config, train_dataset=rows, processing_class=tokenizer
        )
    trainer.train()
    return trainer


def run_ppo(paths: dict[str, Path], args: argparse.Namespace, bf16: bool, *sharding: str) -> Any:
    """``sharding``: extra flags, e.g. ``--sharding fsdp`` (on one GPU: a process group of one, taken down
    after the run)."""
    import torch.distributed as dist

    from training import ppo

    name = f"ppo-{bf16}-{'-'.join(s.strip('-') for s in sharding) or 'ddp'}"
    try:
        return ppo.main(
            [
                "--mix", str(paths["prompts"]), "--model", str(paths["model"]),
                "--reward_model", str(paths["model"]), "--output_dir", str(args.out / "runs" / name),
                "--max_steps", str(args.steps), "--rollout_batch_size", str(args.batch),
                "--per_device_train_batch_size", str(args.batch), "--max_response_length", str(args.response_length),
                "--max_prompt_length", str(args.max_length // 2), "--learning_rate", "1e-6",
                "--bf16", str(bf16).lower(), "--seed", "0", *sharding,
            ]
        )  # fmt: skip
    finally:
        if sharding and dist.is_initialized():
            dist.destroy_process_group()


def ppo_figures(history: list[dict[str, float]]) -> dict[str, float]:
    """Medians over steps 2..N of the logged phase times, and generated tokens per generation second."""
    later = history[1:] or history

    def median(key: str) -> float:
        return statistics.median(step[key] for step in later)

    return {
        "generation_s": median("time/generation"),
        "scoring_s": median("time/scoring"),
        "update_s": median("time/update"),
        "generated_per_s": statistics.median(s["generated_tokens"] / s["time/generation"] for s in later),
    }


def measure(name: str, params: int, steps: int, work: Callable[[], Any]) -> dict[str, Any]:
    """Run ``work`` under a fresh accelerate state and the meter; return the row's figures."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    gc.collect()  # the previous run's trainer and models
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    meter = Meter()
    with meter.active():
        result = work()
    row: dict[str, Any] = {"run": name, **step_figures(meter.trained(), steps)}
    peak = peak_flops()
    row["mfu"] = 6 * params * row["tokens_per_s"] / peak if peak else None
    row["peak_gib"] = torch.cuda.max_memory_allocated() / GIB if torch.cuda.is_available() else None
    history = getattr(result, "history", None)
    if history:
        row.update(ppo_figures(history))
        row["step_s"] = row["generation_s"] + row["scoring_s"] + row["update_s"]
        row["mfu"] = None  # a PPO step mixes generation, scoring and training
    return row


def run_one(
    name: str, task: str, work: Callable[[], Any], params: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One row: measured, or skipped where the computed state does not fit or the GPU runs out of memory."""
    if not fits(task, args.size):
        return {"run": name, "skipped": "computed model state does not fit"}
    try:
        return measure(name, params, args.steps, work)
    except torch.cuda.OutOfMemoryError:
        return {"run": name, "skipped": "out of GPU memory"}


def fits(task: str, size: str) -> bool:
    """Whether the computed model state fits this GPU (tiny and CPU runs always try)."""
    if size == "tiny" or not torch.cuda.is_available():
        return True
    state = task_state_bytes(task.upper(), size, "1 GPU")
    return state is not None and state < 0.9 * torch.cuda.get_device_properties(0).total_memory


def cell(value: float | None, form: str) -> str:
    return "n/a" if value is None else format(value, form)


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table of the figures."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        if "skipped" in row:
            skipped = [f"skipped: {row['skipped']}"] + ["n/a"] * (len(COLUMNS) - 2)
            lines.append(f"| {row['run']} | " + " | ".join(skipped) + " |")
            continue
        split = (
            f"{row['generation_s']:.2f} / {row['scoring_s']:.2f} / {row['update_s']:.2f}"
            if "generation_s" in row
            else "n/a"
        )
        cells = [
            row["run"], cell(row["step_s"], ".3f"), cell(row["tokens_per_s"], ",.0f"), cell(row["padding"], ".1%"),
            cell(row["mfu"], ".1%"), cell(row["peak_gib"], ".1f"), split, cell(row.get("generated_per_s"), ",.0f"),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=sorted(DEFAULTS), default="tiny")
    parser.add_argument("--steps", type=int, default=10, help="optimizer (or PPO) steps per run, at least 3")
    parser.add_argument("--batch", type=int, default=8, help="rows (pairs, prompts) per step")
    parser.add_argument("--rows", type=int, help="rows per synthetic dataset (default: by size)")
    parser.add_argument("--max-length", type=int, help="SFT max length (DPO/RM: a quarter; default: by size)")
    parser.add_argument("--response-length", type=int, help="PPO max response tokens (default: by size)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "train")
    args = parser.parse_args(argv)
    for key, value in DEFAULTS[args.size].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def sft_lengths(paths: dict[str, Path], max_length: int) -> str:
    """Mean and max tokens of the SFT rows, as the Tulu encoder tokenizes them."""
    from training.chat_format import encode_batch_with_labels
    from training.modeling import load_tokenizer

    tokenizer = load_tokenizer(str(paths["model"]))
    encoded = encode_batch_with_labels(
        tokenizer, [row["messages"] for row in _read(paths["sft"])], max_length
    )
    lengths = [len(e["input_ids"]) for e in encoded]
    return f"SFT rows: mean {statistics.mean(lengths):,.0f} tokens, max {max(lengths):,}"


def speedups(results: list[dict[str, Any]]) -> str:
    """Ours over plain trl in non-padding tokens/s."""
    by_name = {row["run"]: row for row in results if "tokens_per_s" in row}
    parts = []
    for ours, theirs in (("ours SFT", "trl SFTTrainer"), ("ours DPO", "trl DPOTrainer")):
        if ours in by_name and theirs in by_name:
            parts.append(
                f"{ours} / {theirs}: {by_name[ours]['tokens_per_s'] / by_name[theirs]['tokens_per_s']:.2f}x"
            )
    return "non-padding tokens/s, " + "; ".join(parts)


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    args = parse(argv)
    os.environ.setdefault("TULU_DATA_CACHE", str(args.out / "token_cache"))
    paths = write_data(args.size, args.out / "data", args.rows, args.max_length)
    all_rows = [row for name in ("sft", "pairs", "prompts") for row in _read(paths[name])]
    params = build_model(args.size, all_rows, args.out / "model")
    paths["model"] = args.out / "model"
    plan: list[tuple[str, str, Callable[[], Any]]] = [
        ("ours SFT", "sft", lambda: run_ours("sft", paths, args)),
        ("trl SFTTrainer", "sft", lambda: run_trl("sft", paths, args)),
        ("ours DPO", "dpo", lambda: run_ours("dpo", paths, args)),
        ("trl DPOTrainer", "dpo", lambda: run_trl("dpo", paths, args)),
        ("ours RM", "rm", lambda: run_ours("rm", paths, args)),
        ("ours PPO", "ppo", lambda: run_ppo(paths, args, bf16=torch.cuda.is_available())),
    ]
    if torch.cuda.is_available():
        plan.append(("ours PPO, all fp32 (--bf16 false)", "ppo", lambda: run_ppo(paths, args, bf16=False)))
        fsdp = ("--sharding", "fsdp")
        plan.append(("ours PPO, --sharding fsdp", "ppo", lambda: run_ppo(paths, args, True, *fsdp)))
        offload = (*fsdp, "--offload_frozen", "true")
        plan.append(("ours PPO, fsdp, frozen offloaded", "ppo", lambda: run_ppo(paths, args, True, *offload)))
    results = [run_one(name, task, work, params, args) for name, task, work in plan]
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU (no GPU)"
    device += f", load average {os.getloadavg()[0]:.1f}"
    print(f"\nbench_train --size {args.size}: {params / 1e6:,.1f}M parameters, {device}, {args.steps} steps of "
          f"{args.batch} rows, max length {args.max_length}; {sft_lengths(paths, args.max_length)}\n")  # fmt: skip
    print(table(results))
    print(f"\n{speedups(results)}")
    (args.out / "bench_train.json").write_text(json.dumps(results, indent=2) + "\n")
    return results


def _read(folder: Path) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return pq.read_table(next((folder / "data").glob("*.parquet"))).to_pylist()


if __name__ == "__main__":
    main()
