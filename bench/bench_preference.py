"""Benchmark the big Tulu 2.5 preference builds from synthetic raw mirrors (bench/gen_preference_scale.py).

Every measurement runs in a fresh subprocess, which reports its own wall time (after imports) and its own
peak resident memory (getrusage maxrss of that process), so peaks are per run. Targets:

- `shp_2`, `stack_exchange_paired`: a full `tulu-data build` (source-file hashing for the fingerprint,
  keyed (file, row) draw, reading only the rows drawn, rules, cap, parquet shards, card, manifest);
- `preference_big_mixture`: the mixture and every part built from raw (helpsteer, prm800k_pairs_phase2,
  hh_rlhf, nectar, stack_exchange_paired, ultrafeedback_mean_aspects), one process, per-part seconds;
- `--baseline`: the reading alone, two ways, for shp_2 and stack_exchange_paired: the engine's (count rows,
  keyed (file, row) draw, read only the 515,000 drawn rows) and the naive one (every file read whole with
  polars, the needed columns, then a seeded sample of the same size). The naive read is skipped (and
  said so) when the source would need more than --baseline-max-gb in memory.

Source files are hashed for the build fingerprint; by default each run gets an empty file-hash cache, so
that cost is included as in a first build (--warm-hashes reuses the cache). The machine's load average is
printed with each run: on a shared machine it changes the times.

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
import tempfile
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


def child_read(kind: str, target: str, mirror: Path) -> dict:
    """Only the reading: the 500,000 (+3%) drawn rows in memory, by the engine's draw or by reading everything.

    `engine`: scan row counts, keyed (file, row) draw, read only the drawn rows (pairs_large).
    `naive`: read every file whole with polars (the needed columns), then a seeded sample of the same size.
    """
    import math

    import numpy as np
    import polars as pl

    from tulu_data.catalog import load_catalog
    from tulu_data.recipes import pairs_large, pairs_large_rows
    from tulu_data.sources import resolve_source
    from tulu_data.typed import ReadReport

    source = resolve_source(load_catalog().source(target), str(mirror))
    required = pairs_large.SHP_REQUIRED if target == "shp_2" else pairs_large.STACK_EXCHANGE_REQUIRED
    fields = {f: pairs_large.SHP_FIELDS[f] if target == "shp_2" else pairs_large.STACK_EXCHANGE_FIELDS[f] for f in required}
    want = math.ceil(CAP * 1.03)
    started = time.perf_counter()
    if kind == "engine":
        files = pairs_large_rows.scan_rows(source, required, fields, ReadReport())
        file_idx, row_idx = pairs_large_rows.keyed_order(files, 42, want)
        frames = list(pairs_large_rows.iter_drawn_rows(files, file_idx, row_idx, np.arange(len(file_idx)), fields))
        rows_in, rows = sum(f.count for f in files), sum(f.height for f in frames)
    else:
        if target == "shp_2":
            frames = [pl.read_ndjson(p).select(required) for p in source.files]
        else:
            frames = [pl.read_parquet(p, columns=required) for p in source.files]
        df = pl.concat(frames)
        del frames
        rows_in = df.height
        take = np.sort(np.random.default_rng(42).permutation(rows_in)[: min(want, rows_in)])
        rows = df[take].height
        del df
    return {"wall_s": time.perf_counter() - started, "peak_gb": _peak_gb(), "rows_in": rows_in, "rows_out": rows}


def run_child(args: list[str], warm_hashes: bool = False) -> dict:
    load = os.getloadavg()[0]
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as tmp:
        if not warm_hashes:  # a fresh file-hash cache: the build hashes every source file, as a first build does
            env["TULU_DATA_HASH_CACHE"] = str(Path(tmp) / "file-hashes.json")
        proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
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
    parser.add_argument("--warm-hashes", action="store_true", help="reuse the on-disk file-hash cache (default: hash sources anew)")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        kind, target = args.child[0], args.child[1]
        result = child_build(target, args.mirror, args.out / target) if kind == "build" else child_read(kind, target, args.mirror)
        print(json.dumps(result, default=str))
        return

    for key in ("shp_2", "stack_exchange_paired", "hh_rlhf", "nectar", "helpsteer", "prm800k_phase2", "ultrafeedback"):
        print(f"mirror {key}: {generated(args.mirror, key) if key != 'ultrafeedback' else f'{mirror_bytes(args.mirror / key) / 1e9:.2f} GB'}")
    common = ["--mirror", str(args.mirror), "--out", str(args.out)]
    for target in args.targets.split(","):
        result = run_child(["build", target, *common], args.warm_hashes)
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
            engine = run_child(["engine", target, *common], True)
            if "error" in engine:
                print(f"  engine read FAILED: {engine['error'][-800:]}")
                continue
            print(f"  read only, engine (count rows, keyed draw, read drawn rows): {engine['wall_s']:.1f} s, "
                  f"peak RSS {engine['peak_gb']:.2f} GB, {engine['rows_out']:,} of {engine['rows_in']:,} rows")
            size = mirror_bytes(args.mirror / target)
            need = size * (1.0 if target == "shp_2" else 2.5) / 1e9  # JSON ~ its size in memory; parquet ~2.5x
            if need > args.baseline_max_gb:
                print(f"  read only, naive (read everything, then sample): skipped, would need ~{need:.1f} GB in memory "
                      f"(> --baseline-max-gb {args.baseline_max_gb})")
                continue
            base = run_child(["naive", target, *common], True)
            if "error" in base:
                print(f"  naive read FAILED: {base['error'][-800:]}")
                continue
            print(f"  read only, naive (read everything, then sample): {base['wall_s']:.1f} s, peak RSS {base['peak_gb']:.2f} GB, "
                  f"{base['rows_out']:,} of {base['rows_in']:,} rows, load avg {base['load'][0]:.1f} -> {base['load'][1]:.1f}")

if __name__ == "__main__":
    main()
