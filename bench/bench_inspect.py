"""Time `tulu-data inspect` on a synthetic 300k-row preference build.

    python bench/bench_inspect.py [--rows 300000] [--tokenizer PATH_OR_ID] [--out bench/out]

Writes the build with the real writer (bench/out/inspect_bench/), then times each stage of
`run_inspect` separately (load, figures, rendering the tables) and the whole command in-process.
Rows are made with polars from a pool of generated paragraphs, so the data is varied (lengths from a
few words to a few thousand characters, one row in five a 4-turn conversation, scores on most rows,
some duplicated prompts) but building it takes seconds.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tulu_data import ops  # noqa: E402
from tulu_data.card import render_card  # noqa: E402
from tulu_data.catalog import Catalog  # noqa: E402
from tulu_data.inspect import inspect_figures, load_any, load_tokenizer, render_report, run_inspect  # noqa: E402
from tulu_data.writer import write_build  # noqa: E402

WORDS = ["data", "model", "train", "answer", "question", "prompt", "reply", "token", "length", "source", "pair", "chosen", "rejected", "score", "the", "a", "of", "to", "and", "in", "is", "for", "on", "with", "as", "by", "at", "from", "that", "this", "it", "be", "are", "was"]


def paragraphs(rng: np.random.Generator, n: int) -> list[str]:
    lengths = np.clip(rng.lognormal(mean=4.0, sigma=1.0, size=n).astype(int), 1, 900)
    return [" ".join(rng.choice(WORDS, size=k)) for k in lengths]


def make_rows(rows: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    pool = pl.Series(paragraphs(rng, 4000))
    idx = np.arange(rows)
    pick = lambda: pool.gather(rng.integers(0, len(pool), rows))  # noqa: E731
    prompt_no = np.where(rng.random(rows) < 0.02, idx // 2, idx)  # ~1% duplicated prompts
    df = pl.DataFrame(
        {
            "n": idx,
            "prompt": pool.gather(prompt_no % len(pool)),
            "prompt_no": prompt_no,
            "c": pick(),
            "r": pick(),
            "u1": pick(),
            "a1": pick(),
            "multi": rng.random(rows) < 0.2,
            "source": rng.choice(["hh_rlhf", "nectar", "stack_exchange", "ultrafeedback", "helpsteer"], rows),
            "sc": np.round(rng.uniform(1, 10, rows), 1),
            "sr": np.round(rng.uniform(1, 10, rows), 1),
        }
    )
    prompt_text = pl.col("prompt") + pl.lit(" #") + pl.col("prompt_no").cast(pl.String)
    user = ops.message("user", prompt_text)
    short = ops.conversation(user)
    long = ops.conversation(user, ops.message("assistant", pl.col("a1")), ops.message("user", pl.col("u1")))
    turns = pl.when(pl.col("multi")).then(long).otherwise(short)
    df = df.select(
        pl.col("source"),
        pl.concat_list([turns, ops.conversation(ops.message("assistant", pl.col("c") + pl.lit(" c") + pl.col("n").cast(pl.String)))]).alias("chosen"),
        pl.concat_list([turns, ops.conversation(ops.message("assistant", pl.col("r") + pl.lit(" r") + pl.col("n").cast(pl.String)))]).alias("rejected"),
        pl.when(pl.col("n") % 10 == 0).then(None).otherwise(pl.col("sc")).alias("score_chosen"),
        pl.when(pl.col("n") % 10 == 0).then(None).otherwise(pl.col("sr")).alias("score_rejected"),
    )
    df = df.with_columns(ops.content_ids(df, ["chosen", "rejected"]).alias("id"))
    return ops.schema_cast(df, ops.PREFERENCE_SCHEMA)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    parser.add_argument("--tokenizer", default=None, help="also time token counting with this fast tokenizer")
    args = parser.parse_args()

    name = "inspect_bench"
    t0 = time.perf_counter()
    df = make_rows(args.rows)
    manifest = {"name": name, "kind": "preference", "description": "Synthetic rows for timing inspect.", "license": "mit",
                "dropped": {"synthetic drop reason": 123}, "rows_in": {"synthetic": args.rows + 123}}
    write_build(args.out / name, {"train": df}, manifest, lambda m: render_card(m, Catalog({}, {})))
    make_s = time.perf_counter() - t0

    timings = []
    t = time.perf_counter()
    loaded = load_any(name, args.out)
    timings.append(("load the build (parquet -> polars)", time.perf_counter() - t))
    t = time.perf_counter()
    report = inspect_figures(loaded.splits, loaded.manifest)
    timings.append(("compute every figure", time.perf_counter() - t))
    t = time.perf_counter()
    render_report({"name": name, **report}, Console(file=io.StringIO(), width=120), name)
    timings.append(("render the tables", time.perf_counter() - t))
    if args.tokenizer:
        tok = load_tokenizer(args.tokenizer)
        t = time.perf_counter()
        inspect_figures(loaded.splits, None, tok)
        timings.append((f"figures + token counts ({args.tokenizer})", time.perf_counter() - t))
    t = time.perf_counter()
    run_inspect(name, args.out, show=2, console=Console(file=io.StringIO(), width=120))
    timings.append(("whole `inspect` command (--show 2), in-process", time.perf_counter() - t))

    table = Table(title=f"tulu-data inspect on {df.height:,} preference rows ({df.estimated_size() / 1e6:,.0f} MB in memory)")
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for stage, seconds in timings:
        table.add_row(stage, f"{seconds:.2f}")
    console = Console()
    console.print(f"(made and wrote the synthetic build in {make_s:.1f} s: {args.out / name})")
    console.print(table)


if __name__ == "__main__":
    main()
