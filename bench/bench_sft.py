"""Time the full Tulu v2 SFT mixture build from the synthetic raw mirrors of bench/gen_sft.py.

The build runs in a fresh subprocess (so nothing is cached in memory and the peak RSS is the build's
own, read with resource.getrusage for the child). ShareGPT tokens are counted with the 32k BPE
tokenizer gen_sft.py trained (OUT/_tokenizer), since the Llama tokenizer cannot be downloaded here.
Prints the wall time, the peak RSS, the seconds and rows of each part, and the rows the filter dropped.

Usage: python bench/bench_sft.py [--mirror bench/data/sft] [--out bench/out/sft]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIXTURE = "tulu_v2_sft_mixture"


def child(mirror: Path, out: Path) -> None:
    """Build the mixture from `mirror` into `out` (run in the subprocess)."""
    import dataclasses

    from tulu_data.build import Builder
    from tulu_data.catalog import load_catalog

    catalog = load_catalog()
    spec = catalog.datasets["sharegpt"]
    params = {**spec.params, "tokenizer": str(mirror / "_tokenizer")}
    catalog = dataclasses.replace(catalog, datasets={**catalog.datasets, "sharegpt": dataclasses.replace(spec, params=params)})
    Builder(catalog=catalog, sources=str(mirror), out=out, force=True, report=lambda m: print(m, flush=True)).build(MIXTURE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mirror", type=Path, default=HERE / "data" / "sft")
    parser.add_argument("--out", type=Path, default=HERE / "out" / "sft")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.mirror, args.out)
        return
    if not (args.mirror / "_tokenizer").is_dir():
        sys.exit(f"{args.mirror} has no generated mirror: run python bench/gen_sft.py first")
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, __file__, "--child", "--mirror", str(args.mirror), "--out", str(args.out)],
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_gb = usage.ru_maxrss / 1024**2  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    if proc.returncode != 0:
        sys.exit(f"build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    print(f"{MIXTURE}: {wall:.1f} s wall, {cpu:.1f} s CPU (user+sys, all threads), peak RSS {peak_gb:.2f} GB")
    with open("/proc/loadavg") as fh:
        print(f"load average after the run (other processes share this machine): {fh.read().split()[:3]}")
    mix = json.loads((args.out / MIXTURE / "manifest.json").read_text())
    for part in mix["parts"]:
        m = json.loads((args.out / part["name"] / "manifest.json").read_text())
        print(f"  {part['name']:12s} {m['build_seconds']:7.1f} s  rows in {sum(m['rows_in'].values()):>9,}  built {part['available']:>8,}  given {part['given']:>8,}")
    print(f"  mixing       {mix['build_seconds']:7.1f} s  rows out {mix['rows_out']['train']:,}")
    for reason, n in mix["dropped"].items():
        print(f"    {reason}: {n:,}")


if __name__ == "__main__":
    main()
