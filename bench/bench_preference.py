"""Benchmark the big Tulu 2.5 preference builds from synthetic raw mirrors (bench/gen_preference_scale.py).

Every measurement runs in a fresh subprocess, which reports its own wall time (after imports) and its own
peak resident memory (getrusage maxrss of that process), so peaks are per run. Targets:

- `shp_2`, `stack_exchange_paired`: a full `tulu-data build` (source-file hashing for the fingerprint,
  keyed (file, row) draw, reading only the rows drawn, rules, cap, parquet shards, card, manifest);
- `preference_big_mixture`: the mixture and every part built from raw (helpsteer, prm800k_pairs_phase2,
  hh_rlhf, nectar, stack_exchange_paired, ultrafeedback_mean_aspects), one process, per-part seconds;
- `--baseline`: the naive reading for shp_2 and stack_exchange_paired: every file read whole with polars
  (all rows, the needed columns), then a seeded 500,000-row sample and the same pair building and ids;
  no rules, no output written, so compare it with the engine's recipe seconds (also printed), not the
  wall time. Skipped (and said so) when the source would need more than --baseline-max-gb in memory.

The machine's load average is printed with each run: on a shared machine it changes the times.

    python bench/gen_preference_scale.py --scale 1 --scale-for stack_exchange_paired=0.1   # once
    python bench/bench_preference.py [--mirror bench/data/pref] [--targets shp_2,stack_exchange_paired,preference_big_mixture] [--baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CAP = 500_000


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def child_build(target: str, mirror: Path, out: Path) -> dict:
    from tulu_data.build import Builder
    from tulu_data.catalog import load_catalog

    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    builder = Builder(catalog=load_catalog(), sources=str(mirror), out=out, force=True)
    folder = builder.build(target)
    wall = time.perf_counter() - started
    manifest = json.loads((folder / "manifest.json").read_text())
    parts = {e.name: {"seconds": e.manifest.get("build_seconds"), "rows": sum(e.manifest.get("rows_out", {}).values())}
             for e in builder.events}
    return {"wall_s": wall, "peak_gb": _peak_gb(), "rows_out": manifest["rows_out"], "rows_in": manifest.get("rows_in"),
            "notes": manifest.get("notes", {}), "parts": parts}


def child_baseline(target: str, mirror: Path) -> dict:
    """Read every file whole, then sample: what a build without the keyed (file, row) draw would do."""
    import numpy as np
    import polars as pl

    from tulu_data import ops

    started = time.perf_counter()
    if target == "shp_2":
        files = sorted(p for p in (mirror / "shp_2").rglob("train.json"))
        df = pl.concat([pl.read_ndjson(p).select("history", "human_ref_A", "human_ref_B", "labels") for p in files])
        prompt, a_wins = pl.col("history"), pl.col("labels") == 1
        chosen = pl.when(a_wins).then(pl.col("human_ref_A")).otherwise(pl.col("human_ref_B"))
        rejected = pl.when(a_wins).then(pl.col("human_ref_B")).otherwise(pl.col("human_ref_A"))
    else:
        files = sorted((mirror / "stack_exchange_paired").rglob("*.parquet"))
        df = pl.concat([pl.read_parquet(p, columns=["question", "response_j", "response_k"]) for p in files])
        prompt, chosen, rejected = pl.col("question"), pl.col("response_j"), pl.col("response_k")
    rows_in = df.height
    read_s = time.perf_counter() - started
    take = np.sort(np.random.default_rng(42).permutation(rows_in)[: min(CAP, rows_in)])
    df = df[take]
    user = ops.message("user", prompt)
    df = df.select(
        ops.conversation(user, ops.message("assistant", chosen)).alias("chosen"),
        ops.conversation(user, ops.message("assistant", rejected)).alias("rejected"),
    )
    df = df.with_columns(ops.content_ids(df, ["chosen", "rejected"]).alias("id"))
    return {"wall_s": time.perf_counter() - started, "read_s": read_s, "peak_gb": _peak_gb(), "rows_in": rows_in,
            "rows_out": df.height}


def run_child(args: list[str]) -> dict:
    load = os.getloadavg()[0]
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stdout[-2000:] + proc.stderr[-3000:]).strip(), "load": load}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load"] = (load, os.getloadavg()[0])
    return result


def mirror_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def generated(mirror: Path, key: str) -> str:
    info = mirror / key / ".generated.json"
    if not info.exists():
        return "not generated"
    data = json.loads(info.read_text())
    return f"{data['rows']:,} rows, scale {data['scale']}, {data['bytes'] / 1e9:.2f} GB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=HERE / "data" / "pref")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "pref")
    parser.add_argument("--targets", default="shp_2,stack_exchange_paired,preference_big_mixture")
    parser.add_argument("--baseline", action="store_true", help="also run the naive read-everything baseline")
    parser.add_argument("--baseline-max-gb", type=float, default=6.0)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        kind, target = args.child[0], args.child[1]
        result = child_build(target, args.mirror, args.out / target) if kind == "build" else child_baseline(target, args.mirror)
        print(json.dumps(result, default=str))
        return

    for key in ("shp_2", "stack_exchange_paired", "hh_rlhf", "nectar", "helpsteer", "prm800k_phase2", "ultrafeedback"):
        print(f"mirror {key}: {generated(args.mirror, key) if key != 'ultrafeedback' else f'{mirror_bytes(args.mirror / key) / 1e9:.2f} GB'}")
    common = ["--mirror", str(args.mirror), "--out", str(args.out)]
    for target in args.targets.split(","):
        result = run_child(["build", target, *common])
        if "error" in result:
            print(f"\n{target}: FAILED\n{result['error']}")
            continue
        print(f"\n{target}: {result['wall_s']:.1f} s wall, peak RSS {result['peak_gb']:.2f} GB, rows out {result['rows_out']}, "
              f"load avg {result['load'][0]:.1f} -> {result['load'][1]:.1f}")
        for key, value in result["notes"].items():
            print(f"  note: {key}: {value}")
        for name, part in result["parts"].items():
            what = "recipe (reading, rules, cap; not hashing sources or writing)" if name == target else "part"
            print(f"  {what} {name}: {part['seconds']} s, {part['rows']:,} rows")
        if args.baseline and target in ("shp_2", "stack_exchange_paired"):
            size = mirror_bytes(args.mirror / target)
            need = size * (1.0 if target == "shp_2" else 2.5) / 1e9  # JSON ~ its size in memory; parquet ~2.5x
            if need > args.baseline_max_gb:
                print(f"  baseline (read everything, then sample): skipped, would need ~{need:.1f} GB in memory "
                      f"(> --baseline-max-gb {args.baseline_max_gb})")
                continue
            base = run_child(["baseline", target, *common])
            if "error" in base:
                print(f"  baseline FAILED: {base['error'][-500:]}")
                continue
            print(f"  baseline (read everything, then sample): {base['wall_s']:.1f} s wall ({base['read_s']:.1f} s reading "
                  f"{base['rows_in']:,} rows), peak RSS {base['peak_gb']:.2f} GB, load avg {base['load'][0]:.1f} -> {base['load'][1]:.1f}")


if __name__ == "__main__":
    main()
