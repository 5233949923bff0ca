"""Benchmark: the twelve UltraFeedback members of `tulu_2.5_preference_data` built by one builder, with the
source-frame memo (the raw files parsed once) and without it (`TULU_DATA_FRAME_MEMO_GB=0`, parsed by every
member, as separate `tulu-data build` runs would).

Each measurement is a fresh subprocess reporting its own wall time, CPU time (user + system, all threads,
imports excluded) and peak RSS; source-file hashes are warmed first so both runs skip them alike. The
outputs of the two runs are compared byte for byte.

    python bench/gen_ultrafeedback.py          # once: bench/data/uf_jsonl
    python bench/bench_collection.py [--mirror bench/data/uf_jsonl] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLLECTION = "tulu_2.5_preference_data"


def members() -> list[str]:
    from tulu_data.catalog import load_catalog

    return [m for m in load_catalog().collections[COLLECTION].datasets if m.startswith("ultrafeedback_")]


def child(mirror: Path, out: Path, result: Path) -> None:
    from tulu_data.build import Builder
    from tulu_data.catalog import load_catalog

    names = members()
    cpu = sum(os.times()[:2])
    started = time.perf_counter()
    builder = Builder(catalog=load_catalog(), sources=str(mirror), out=out, force=True)
    for name in names:
        builder.build(name)
    report = {
        "wall_s": time.perf_counter() - started,
        "cpu_s": sum(os.times()[:2]) - cpu,
        "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
        "memo_hits": builder.frame_memo.hits,
        "members": len(names),
    }
    result.write_text(json.dumps(report))


def measure(mirror: Path, out: Path, memo: bool) -> dict:
    env = {**os.environ, "TULU_DATA_FRAME_MEMO_GB": "4" if memo else "0"}
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        load = os.getloadavg()[0]
        subprocess.run([sys.executable, __file__, "--child", str(mirror), str(out), str(result)], check=True, env=env)
        report = json.loads(result.read_text())
    report["load"] = (load + os.getloadavg()[0]) / 2
    return report


def data_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("*/data/*.parquet"))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mirror", type=Path, default=HERE / "data" / "uf_jsonl")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "collection")
    parser.add_argument("--repeat", type=int, default=1, help="keep the fastest of N runs per cell")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), Path(args.child[2]))
        return
    if not (args.mirror / "ultrafeedback").is_dir():
        sys.exit(f"no mirror at {args.mirror}: run python bench/gen_ultrafeedback.py first")
    from tulu_data.build import Builder
    from tulu_data.catalog import load_catalog

    for key in ("ultrafeedback", "truthful_qa"):  # warm the file-hash cache for both runs alike
        Builder(catalog=load_catalog(), sources=str(args.mirror)).resolve(key).file_records()
    rows, outputs = [], {}
    for memo in (False, True):
        out = args.out / ("memo" if memo else "no-memo")
        runs = [measure(args.mirror, out, memo) for _ in range(args.repeat)]
        rows.append((memo, min(runs, key=lambda r: r["wall_s"])))
        outputs[memo] = data_bytes(out)
    base = rows[0][1]
    print(f"{base['members']} UltraFeedback members of {COLLECTION}, one builder; {os.cpu_count()} CPUs")
    print("| source reads | wall s | CPU s | peak RSS (GB) | memo hits | speedup (wall) | load avg |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for memo, r in rows:
        label = "parsed once (memo)" if memo else "parsed per member"
        print(
            f"| {label} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | {r['peak_gb']:.2f} | {r['memo_hits']} "
            f"| {base['wall_s'] / r['wall_s']:.1f}x | {r['load']:.2f} |"
        )
    print(f"identical output bytes: {outputs[False] == outputs[True]} ({len(outputs[True])} parquet files)")


if __name__ == "__main__":
    main()
