"""Benchmark: what typed reading costs, on UltraFeedback-shaped JSON lines (the biggest nested source).

Four ways to read the same file, each in a fresh subprocess (wall and CPU time, peak resident memory):

- `polars, inferred` (baseline): `pl.read_ndjson(..., infer_schema_length=None)`, every field, types
  inferred (and silently widened: a number among strings becomes text). What untyped reads did.
- `pyarrow, declared` (baseline): pyarrow's JSON reader with the recipe's declared schema, the speed
  hint reads used before; on any refused value they fell back to the polars read above.
- `typed, clean`: `readers.read_file(..., fields=UF_FIELDS)` on the clean file: the same pyarrow read,
  plus the checks (LFS/HTML/gzip sniffing, pretty-printed JSON, NUL scan).
- `typed, 1 bad row`: the same file with one row whose `instruction` is a list: pyarrow refuses the
  file, so every line is parsed and checked in Python and the bad row is dropped and counted.

    python bench/gen_ultrafeedback.py --scale 0.25      # once: bench/data/uf_jsonl/...
    python bench/bench_typed_read.py [--data bench/data] [--file evol_instruct.jsonl]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
METHODS = ("polars, inferred", "pyarrow, declared", "typed, clean", "typed, 1 bad row")


def measure(method: str, path: str) -> None:
    """Runs in the child: read `path` one way and print {rows, wall, cpu, peak_mb} as JSON."""
    import polars as pl
    import pyarrow.json as pj

    from tulu_data.readers import arrow_schema, read_file
    from tulu_data.recipes.ultrafeedback_read import UF_FIELDS
    from tulu_data.typed import ReadReport

    report = ReadReport()
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    if method == "polars, inferred":
        rows = pl.read_ndjson(path, infer_schema_length=None).height
    elif method == "pyarrow, declared":
        options = pj.ParseOptions(explicit_schema=arrow_schema(UF_FIELDS), unexpected_field_behavior="ignore")
        rows = pl.from_arrow(pj.read_json(path, parse_options=options)).height  # as the old hint path did
    else:
        rows = read_file(Path(path), "jsonl", fields=UF_FIELDS, report=report).height
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "dropped": sum(report.drops.values()), "wall": wall, "cpu": cpu, "peak_mb": peak_mb}))


def run(method: str, path: Path) -> dict:
    code = f"import sys; sys.path[:0] = [{str(HERE)!r}, {str(HERE.parent)!r}]; import bench_typed_read as b; " \
           f"b.measure({method!r}, {str(path)!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def damaged_copy(path: Path, folder: Path) -> Path:
    """The file with the `instruction` of its middle row turned into a list."""
    lines = path.read_bytes().splitlines(keepends=True)
    row = json.loads(lines[len(lines) // 2])
    row["instruction"] = [row["instruction"]]
    lines[len(lines) // 2] = (json.dumps(row) + "\n").encode()
    target = folder / path.name
    target.write_bytes(b"".join(lines))
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--file", default="evol_instruct.jsonl")
    args = parser.parse_args()
    clean = args.data / "uf_jsonl" / "ultrafeedback" / args.file
    if not clean.is_file():
        sys.exit(f"{clean} not found: run python bench/gen_ultrafeedback.py first")
    with tempfile.TemporaryDirectory() as tmp:
        bad = damaged_copy(clean, Path(tmp))
        results = {m: run(m, bad if m == "typed, 1 bad row" else clean) for m in METHODS}
    print(f"{clean.name}: {clean.stat().st_size / 1e6:,.0f} MB of JSON lines")
    print(f"| {'read':<18} | rows | dropped | wall s | CPU s | peak MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for method, r in results.items():
        print(f"| {method:<18} | {r['rows']:,} | {r['dropped']} | {r['wall']:.2f} | {r['cpu']:.2f} | {r['peak_mb']:,.0f} |")


if __name__ == "__main__":
    main()
