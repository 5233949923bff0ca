"""Time the decontamination step against a per-row Python n-gram scan (the open-r1 way) on a
tulu-v2-sft-mixture-sized input with planted overlaps.

    python bench/bench_decontam.py [--rows 326154] [--ngram 8] [--threshold 0.5] [--plants 2000]

Generates (once, cached under bench/data/decontam/<rows>/) a training set shaped like the Tulu v2 SFT
mixture (the 11 sources with their row counts scaled to --rows, multi-turn ShareGPT/OASST rows,
word lengths drawn per source so the mean conversation is ~800 words) and the eval sets at their real
sizes (GSM8K 1,319; MATH 5,000; HumanEval 164; MMLU 14,042; IFEval 541; BBH 6,511; AlpacaEval 805;
TruthfulQA 817). Text is words from a 50,000-word vocabulary with Zipf-like frequencies. --plants rows
get an eval instance planted in their first user turn, a quarter each: verbatim inside other words,
lightly edited (upper case, punctuation and spacing changed), partial (30% of its words) and a near miss
(every third word replaced). The first two kinds must be found, the last two must not.

Each implementation runs in a fresh subprocess that reads the same parquet file, then times only its own
work: `engine` = build the eval index + `decontaminate(...)` (polars/numpy, the step builds run),
`baseline` = turn rows into Python lists + `reference_matches(...)` (a dict of n-gram tuples, a loop
per row and per window). Each reports wall time, CPU time and peak RSS (VmHWM); the parent
checks that both found the same (row, instance) pairs and scores both against the plants.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tulu_data import ops  # noqa: E402

DATA = ROOT / "bench" / "data" / "decontam"
FULL_ROWS = 326_154  # rows of the published mixture; the sources below sum to 330,490 before its filter
# source: (rows in the published mix, user turns per row (mean), user words per turn, assistant words per turn)
SOURCES = {
    "flan_v2": (50_000, 1.0, 110, 40),
    "cot": (50_000, 1.0, 90, 60),
    "oasst1": (7_708, 1.6, 45, 220),
    "sharegpt": (114_046, 3.2, 55, 260),
    "gpt4_alpaca": (20_000, 1.0, 22, 140),
    "code_alpaca": (20_022, 1.0, 25, 60),
    "lima": (1_030, 1.0, 60, 450),
    "wizardlm": (30_000, 1.0, 110, 350),
    "open_orca": (30_000, 1.0, 140, 170),
    "science": (7_544, 1.0, 600, 60),
    "hard_coded": (140, 1.0, 8, 30),
}
# eval: (instances, mean words)
EVALS = {
    "gsm8k": (1_319, 46),
    "hendrycks_math": (5_000, 32),
    "humaneval": (164, 70),
    "mmlu": (14_042, 45),
    "ifeval": (541, 38),
    "bbh": (6_511, 60),
    "alpaca_eval": (805, 28),
    "truthful_qa": (817, 11),
}


# --------------------------------------------------------------------------------------------
# data


def _vocab(rng: np.random.Generator, n: int = 50_000) -> tuple[pl.Series, np.ndarray]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    lengths = rng.integers(2, 10, n)
    words = ["".join(rng.choice(letters, k)) for k in lengths]
    p = 1.0 / (np.arange(n) + 10.0)
    return pl.Series(words), p / p.sum()


def _texts(rng: np.random.Generator, vocab: pl.Series, p: np.ndarray, lengths: np.ndarray) -> pl.Series:
    """One text per length: that many vocabulary words drawn by frequency, joined by spaces."""
    lengths = np.maximum(lengths.astype(np.int64), 1)
    words = vocab.gather(rng.choice(len(vocab), size=int(lengths.sum()), p=p))
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    lists = pa.ListArray.from_arrays(pa.array(offsets), words.to_arrow().cast(pa.string()))
    return pl.Series(pl.from_arrow(lists)).list.join(" ")


def _lognormal(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    return np.clip(rng.lognormal(np.log(mean) - 0.5, 1.0, n), 3, 20 * mean)


def make_evals(rng, vocab, p) -> pl.DataFrame:
    frames = []
    for name, (n, words) in EVALS.items():
        text = _texts(rng, vocab, p, np.clip(rng.normal(words, words / 3, n), 6, 4 * words))
        frames.append(pl.DataFrame({"eval": name, "instance": [f"{name}-{i}" for i in range(n)], "text": text}))
    return pl.concat(frames)


def make_train(rng, vocab, p, rows: int) -> pl.DataFrame:
    scale = rows / sum(n for n, *_ in SOURCES.values())
    turn_frames = []
    start = 0
    for name, (n, turns, uw, aw) in SOURCES.items():
        k = max(1, round(n * scale))
        per_row = np.maximum(1, rng.poisson(turns - 1, k) + 1) if turns > 1 else np.ones(k, dtype=np.int64)
        total = int(per_row.sum())
        row = np.repeat(np.arange(start, start + k), per_row)
        turn = np.concatenate([np.arange(c) for c in per_row])
        user = _texts(rng, vocab, p, _lognormal(rng, uw, total))
        assistant = _texts(rng, vocab, p, _lognormal(rng, aw, total))
        frame = pl.DataFrame({"row": row, "turn": turn, "source": name, "user": user, "assistant": assistant})
        turn_frames.append(frame)
        start += k
    turns = pl.concat(turn_frames)
    msgs = turns.select(
        "row", "source",
        pl.concat_list(ops.message("user", pl.col("user")), ops.message("assistant", pl.col("assistant"))).alias("pair"),
    )
    df = msgs.group_by("row", maintain_order=True).agg(pl.col("source").first(), pl.col("pair").list.explode(keep_nulls=False, empty_as_null=False).alias("messages"))
    return df.select(pl.col("source").alias("dataset"), pl.format("{}_{}", pl.col("source"), pl.col("row")).alias("id"), "messages")


def _edit(text: str) -> str:
    words = text.upper().split()
    return "  " + " ,".join(words) + " ?!"


def plant(rng, df: pl.DataFrame, evals: pl.DataFrame, plants: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Put eval instances into the first user turn of `plants` rows; returns the rows and the plants."""
    candidates = np.flatnonzero((df["dataset"] != "hard_coded").to_numpy())
    rows = rng.choice(candidates, size=plants, replace=False)
    insts = rng.choice(evals.height, size=plants, replace=False)
    kinds = np.array(["verbatim", "edited", "partial", "near_miss"])[np.arange(plants) % 4]
    texts = evals["text"].gather(insts).to_list()
    firsts = df["messages"].gather(rows).list.first().struct.field("content").to_list()
    new = []
    for kind, text, first in zip(kinds, texts, firsts, strict=True):
        words = text.split()
        if kind == "verbatim":
            body = text
        elif kind == "edited":
            body = _edit(text)
        elif kind == "partial":
            body = " ".join(words[: max(1, int(len(words) * 0.3))])
        else:
            body = " ".join("qqq" if i % 3 == 2 else w for i, w in enumerate(words))
        head = first.split()
        new.append(" ".join(head[:20]) + " " + body + " " + " ".join(head[20:40]))
    firsts_all = df["messages"].list.first().struct.field("content").to_list()
    for r, text in zip(rows.tolist(), new, strict=True):
        firsts_all[r] = text
    df = df.with_columns(
        pl.concat_list(pl.struct(pl.lit("user").alias("role"), pl.Series("c", firsts_all).alias("content")), pl.col("messages").list.slice(1)).alias("messages")
    )
    planted = pl.DataFrame({"row": rows.astype(np.uint32), "inst": insts.astype(np.uint32), "kind": kinds})
    return df, planted


def generate(rows: int, plants: int, seed: int = 0) -> Path:
    folder = DATA / f"{rows}_{plants}"
    if (folder / "done").exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocab, p = _vocab(rng)
    evals = make_evals(rng, vocab, p)
    train = make_train(rng, vocab, p, rows)
    train, planted = plant(rng, train, evals, plants)
    evals.write_parquet(folder / "evals.parquet")
    train.write_parquet(folder / "train.parquet")
    planted.write_parquet(folder / "plants.parquet")
    (folder / "done").write_text("ok\n")
    return folder


# --------------------------------------------------------------------------------------------
# one implementation, in a child process


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM, reset at exec; getrusage's maxrss is inherited from the parent)."""
    peak = _status_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    folder = Path(args.folder)
    df = pl.read_parquet(folder / "train.parquet")
    evals = pl.read_parquet(folder / "evals.parquet")
    loaded = _status_mb("VmRSS") or 0.0
    t0, c0 = time.perf_counter(), time.process_time()
    if args.impl == "engine":
        from tulu_data.decontam.index import build_index, match
        from tulu_data.decontam.step import DecontamConfig, decontaminate
        from tulu_data.decontam.text import row_segments

        config = DecontamConfig(("bench",), args.ngram, args.threshold, "user_turns", "drop")
        index = build_index(evals, args.ngram)
        kept, record = decontaminate(df, index, config)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        pairs, _ = match(index, row_segments(df, "user_turns"), args.threshold)  # the pairs, for the comparison (untimed)
        pairs = pairs.select("row", "inst")
        extra = {"rows_kept": kept.height, "rows_matched": record["rows_matched"]}
    else:
        from tulu_data.decontam.reference import reference_matches

        instances = list(evals.select("eval", "instance", "text").iter_rows())
        rows = [[m["content"] for m in conv if m["role"] == "user"] for conv in df["messages"].to_list()]
        found = reference_matches(rows, instances, args.ngram, args.threshold)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        pairs = pl.DataFrame({"row": [r for r, _ in found], "inst": [i for _, i in found]}, schema={"row": pl.UInt32, "inst": pl.UInt32})
        extra = {"rows_matched": pairs["row"].n_unique()}
    pairs.sort("row", "inst").write_parquet(folder / f"pairs_{args.impl}.parquet")
    peak = peak_rss_mb()
    print(json.dumps({"impl": args.impl, "wall": wall, "cpu": cpu, "peak_mb": peak, "loaded_mb": loaded, **extra}))


# --------------------------------------------------------------------------------------------
# the parent


def score(pairs: pl.DataFrame, planted: pl.DataFrame, testable: pl.Series) -> tuple[float, float]:
    """Recall over the plants that must match (instances with at least n words), precision over every pair found."""
    positives = planted.filter(pl.col("kind").is_in(["verbatim", "edited"]) & pl.col("inst").is_in(testable.implode()))
    positives = positives.select("row", "inst")
    hit = pairs.join(positives, on=["row", "inst"]).height
    return hit / positives.height, (hit / pairs.height if pairs.height else 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=FULL_ROWS)
    parser.add_argument("--plants", type=int, default=2000)
    parser.add_argument("--ngram", type=int, default=8)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--impl", choices=["engine", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.impl:
        child(args)
        return
    started = time.perf_counter()
    folder = generate(args.rows, args.plants)
    train = pl.scan_parquet(folder / "train.parquet")
    n_rows = train.select(pl.len()).collect().item()
    users = train.select(pl.col("messages").list.eval(pl.element().filter(pl.element().struct.field("role") == "user").struct.field("content").str.split(" ").list.len()).list.sum()).collect()
    print(f"data: {n_rows:,} rows, {int(users.sum().item()):,} user-turn words; eval instances {sum(n for n, _ in EVALS.values()):,}; "
          f"ready in {time.perf_counter() - started:.1f} s ({folder})")
    results = {}
    for impl in ("engine", "baseline"):
        cmd = [sys.executable, __file__, "--impl", impl, "--folder", str(folder), "--ngram", str(args.ngram), "--threshold", str(args.threshold)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        results[impl] = json.loads(out.stdout.strip().splitlines()[-1])
    planted = pl.read_parquet(folder / "plants.parquet")
    words = pl.read_parquet(folder / "evals.parquet")["text"].str.split(" ").list.len()
    testable = (words >= args.ngram).arg_true().cast(pl.UInt32)
    pairs = {impl: pl.read_parquet(folder / f"pairs_{impl}.parquet") for impl in results}
    same = pairs["engine"].equals(pairs["baseline"])
    load = os.getloadavg()[0]
    print(f"\nrows {n_rows:,}, word {args.ngram}-grams, threshold {args.threshold}, {args.plants:,} plants; load average {load:.2f}\n")
    print("| implementation | wall s | CPU s | RSS with the data loaded (MB) | peak RSS (MB) | speedup (wall) | pairs found | rows matched | recall | precision |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = results["baseline"]["wall"]
    for impl in ("baseline", "engine"):
        r = results[impl]
        recall, precision = score(pairs[impl], planted, testable)
        print(f"| {impl} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['loaded_mb']:,.0f} | {r['peak_mb']:,.0f} | {base / r['wall']:.1f}x | "
              f"{pairs[impl].height:,} | {r['rows_matched']:,} | {recall:.3f} | {precision:.3f} |")
    print(f"\nidentical (row, instance) pairs: {same}")


if __name__ == "__main__":
    main()
