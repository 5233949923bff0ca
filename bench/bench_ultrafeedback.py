"""Benchmark: build `ultrafeedback_mean_aspects` with the engine and with a plain per-row Python version.

Both implement the same rule (see the catalog entry): rows without source, instruction or completions
dropped, duplicates kept once, TruthfulQA prompts removed (by source and by question), completions with
an empty response or an unparsable rating dropped, score = mean of the aspect ratings with "N/A" left
out, chosen = a best-scored completion, rejected = a strictly lower-scored completion with a different
text, prompts whose completions all tie dropped. The baseline is written the way the published scripts
are: json.loads per line (or pyarrow rows turned into Python dicts), loops, `random`, json.dumps out.
The engine run is a full `tulu-data build` (source hashing for the fingerprint, parquet shards, card,
manifest).

Each measurement runs in a fresh subprocess, which reports its own wall time and CPU time (user +
system, all threads; imports excluded) and peak resident memory (getrusage maxrss), so peaks are per
run. CPU time is the steadier figure when other work shares the machine. The prompts each run kept
are compared.

    python bench/gen_ultrafeedback.py              # once: bench/data/uf_jsonl and bench/data/uf_parquet
    python bench/bench_ultrafeedback.py [--data bench/data] [--repeat 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ASPECTS = ("helpfulness", "honesty", "instruction_following", "truthfulness")
RATINGS = {"1", "2", "3", "4", "5"}
FORMATS = {"jsonl": "uf_jsonl", "parquet": "uf_parquet"}


def prompt_key(source: str, instruction: str) -> str:
    return hashlib.sha256(f"{source}\x1f{instruction.strip()}".encode()).hexdigest()


# ---- the plain Python baseline ---------------------------------------------------------------------


def baseline_rows(folder: Path, fmt: str):
    """Upstream rows as Python dicts, file by file."""
    if fmt == "jsonl":
        for path in sorted(folder.glob("*.jsonl")):
            with open(path) as fh:
                for line in fh:
                    if line.strip():
                        yield json.loads(line)
    else:
        import pyarrow.parquet as pq

        for path in sorted(folder.glob("*.parquet")):
            for batch in pq.ParquetFile(path).iter_batches(batch_size=2048):
                yield from batch.to_pylist()


def baseline(mirror: Path, fmt: str, out: Path, seed: int = 42) -> list[str]:
    """The mean-of-aspects rule, one row at a time; returns the kept prompt keys."""
    import pyarrow.parquet as pq

    tqa_file = next((mirror / "truthful_qa").rglob("*.parquet"))
    questions = {q.strip() for q in pq.read_table(tqa_file, columns=["question"]).column("question").to_pylist() if q}
    rng = random.Random(seed)
    seen: set[tuple] = set()
    kept = []
    with open(out / "baseline.jsonl", "w") as fh:
        for row in baseline_rows(mirror / "ultrafeedback", fmt):
            source, instruction, completions = row.get("source"), row.get("instruction"), row.get("completions")
            if not source or not (instruction or "").strip() or not completions:
                continue
            ident = (source, instruction, tuple(c.get("model") or "" for c in completions))
            if ident in seen:
                continue
            seen.add(ident)
            if source == "truthful_qa" or instruction.strip() in questions:
                continue
            scored = []
            for c in completions:
                text = (c.get("response") or "").strip()
                ratings = [c["annotations"][a]["Rating"] for a in ASPECTS]
                if not text or any(r not in RATINGS and r != "N/A" for r in ratings):
                    continue
                numbers = [float(r) for r in ratings if r != "N/A"]
                if numbers:
                    scored.append((sum(numbers) / len(numbers), text))
            if len(scored) < 2:
                continue
            best = max(s for s, _ in scored)
            chosen = rng.choice([c for c in scored if c[0] == best])
            lower = [c for c in scored if c[0] < best and c[1] != chosen[1]]
            if not lower:
                continue
            rejected = rng.choice(lower)
            user = {"role": "user", "content": instruction.strip()}
            fh.write(
                json.dumps(
                    {
                        "source": source,
                        "chosen": [user, {"role": "assistant", "content": chosen[1]}],
                        "rejected": [user, {"role": "assistant", "content": rejected[1]}],
                        "score_chosen": chosen[0],
                        "score_rejected": rejected[0],
                    }
                )
                + "\n"
            )
            kept.append(prompt_key(source, instruction))
    return kept


# ---- the engine ------------------------------------------------------------------------------------


def engine(mirror: Path, out: Path) -> Path:
    """A full build of ultrafeedback_mean_aspects from the mirror; returns the build folder."""
    from tulu_data.build import Builder
    from tulu_data.catalog import load_catalog

    return Builder(catalog=load_catalog(), sources=str(mirror), out=out, force=True).build("ultrafeedback_mean_aspects")


def engine_kept(path: Path) -> list[str]:
    import polars as pl

    from tulu_data.writer import read_splits

    df = read_splits(path)["train"].select("source", pl.col("chosen").list.first().struct.field("content"))
    return [prompt_key(s, p) for s, p in df.iter_rows()]


# ---- measurement -----------------------------------------------------------------------------------


def child(impl: str, fmt: str, data: Path, result: Path) -> None:
    """One measurement, in its own process: time the work, report peak RSS and the kept prompts."""
    if impl == "engine":
        import polars  # noqa: F401  (imports are not timed, for either implementation)

        from tulu_data.build import Builder  # noqa: F401
    mirror = data / FORMATS[fmt]
    with tempfile.TemporaryDirectory(dir=data) as tmp:
        started, cpu_started = time.perf_counter(), cpu_seconds()
        if impl == "engine":
            path = engine(mirror, Path(tmp))
        else:
            kept = baseline(mirror, fmt, Path(tmp))
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
        peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if impl == "engine":
            kept = engine_kept(path)
    result.write_text(json.dumps({"seconds": seconds, "cpu": cpu, "peak_mb": peak_kb / 1024, "kept": sorted(kept)}))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(impl: str, fmt: str, data: Path) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", dir=data, delete=False) as fh:
        result = Path(fh.name)
    load_before = os.getloadavg()[0]
    cmd = [sys.executable, __file__, "--child", impl, "--format", fmt, "--data", str(data), "--result", str(result)]
    subprocess.run(cmd, check=True)
    report = json.loads(result.read_text())
    result.unlink()
    report["load"] = (load_before + os.getloadavg()[0]) / 2
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; the fastest is reported")
    parser.add_argument("--child", choices=["engine", "baseline"])
    parser.add_argument("--format", choices=list(FORMATS), default="jsonl")
    parser.add_argument("--result", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.format, args.data, args.result)
        return

    for fmt, folder in FORMATS.items():
        if not (args.data / folder / "ultrafeedback").is_dir():
            sys.exit(f"no {fmt} mirror under {args.data / folder}; run bench/gen_ultrafeedback.py first")
    size = sum(p.stat().st_size for p in (args.data / "uf_jsonl" / "ultrafeedback").glob("*.jsonl"))
    print(f"input: {size / 1e9:.2f} GB of JSON lines; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}")
    rows = []
    kept_sets = {}
    for fmt in FORMATS:
        cells = {}
        for impl in ("baseline", "engine"):
            runs = [measure(impl, fmt, args.data) for _ in range(args.repeat)]
            best = min(runs, key=lambda r: r["seconds"])
            cells[impl] = best
            kept_sets[(fmt, impl)] = set(best["kept"])
        for impl in ("baseline", "engine"):
            r = cells[impl]
            speedup = cells["baseline"]["seconds"] / r["seconds"]
            cpu_ratio = cells["baseline"]["cpu"] / r["cpu"]
            rows.append((fmt, impl, r["seconds"], r["cpu"], r["peak_mb"], speedup, cpu_ratio, r["load"], len(r["kept"])))

    print()
    print(
        "| input | implementation | wall s | CPU s | peak RSS (MB) | speedup (wall) | speedup (CPU) | load avg | pairs |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for fmt, impl, seconds, cpu, peak, speedup, cpu_ratio, load, kept in rows:
        print(
            f"| {fmt} | {impl} | {seconds:.2f} | {cpu:.2f} | {peak:,.0f} | {speedup:.1f}x | {cpu_ratio:.1f}x "
            f"| {load:.2f} | {kept:,} |"
        )
    reference = kept_sets[("jsonl", "baseline")]
    agree = all(s == reference for s in kept_sets.values())
    print()
    print(f"kept prompts agree across all four runs: {agree} ({len(reference):,} prompts)")
    if not agree:
        for key, s in kept_sets.items():
            print(f"  {key}: {len(s):,} kept, {len(s - reference):,} not in baseline/jsonl, {len(reference - s):,} missing")
        sys.exit(1)


if __name__ == "__main__":
    main()
