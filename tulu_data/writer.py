"""Writing a build folder in the Hub's layout, atomically and byte-reproducibly.

    OUT/NAME/data/<split>-00000-of-0000N.parquet
    OUT/NAME/README.md        dataset card; its YAML `configs` make `load_dataset("OUT/NAME")` work
    OUT/NAME/manifest.json    provenance: sources, revisions, file hashes, recipe, counts, content hash

Everything is first written to a hidden temporary folder beside the target and moved into place
with a rename, so an interrupted build leaves the previous output intact, or none at all.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import EmptyBuildError

TARGET_SHARD_BYTES = 256 * 1024 * 1024
ROW_GROUP_ROWS = 50_000


def _plain_types(dtype: pa.DataType) -> pa.DataType:
    """large_string/large_list -> string/list, recursively (the types `datasets` writes itself)."""
    if pa.types.is_large_string(dtype):
        return pa.string()
    if pa.types.is_large_list(dtype) or pa.types.is_list(dtype):
        return pa.list_(pa.field("item", _plain_types(dtype.value_type)))
    if pa.types.is_struct(dtype):
        return pa.struct([pa.field(f.name, _plain_types(f.type)) for f in dtype])
    return dtype


def to_arrow(df: pl.DataFrame) -> pa.Table:
    table = df.to_arrow()
    schema = pa.schema([pa.field(f.name, _plain_types(f.type)) for f in table.schema])
    return table.cast(schema)


def shard_count(df: pl.DataFrame) -> int:
    return max(1, math.ceil(df.estimated_size() / TARGET_SHARD_BYTES))


_PRIMITIVES = {
    pa.string(): "string",
    pa.float64(): "float64",
    pa.float32(): "float32",
    pa.int64(): "int64",
    pa.int32(): "int32",
    pa.bool_(): "bool",
    pa.null(): "null",
}


def _feature(dtype: pa.DataType) -> object:
    """The YAML form `datasets` uses for one arrow type (KeyError for types we do not write)."""
    if pa.types.is_struct(dtype):
        return {"struct": [{"name": f.name, **_named(f.type)} for f in dtype]}
    if pa.types.is_list(dtype):
        inner = dtype.value_type
        if pa.types.is_struct(inner):
            return {"list": [{"name": f.name, **_named(f.type)} for f in inner]}
        return {"list": _PRIMITIVES[inner] if inner in _PRIMITIVES else _feature(inner)}
    return {"dtype": _PRIMITIVES[dtype]}


def _named(dtype: pa.DataType) -> dict:
    feature = _feature(dtype)
    return feature if isinstance(feature, dict) else {"dtype": feature}


def features_yaml(table: pa.Table) -> list:
    """The `datasets` features of a table, in the YAML form dataset cards use.

    Written here for the types builds produce (importing `datasets` costs a second per build);
    anything else is handed to `datasets` itself.
    """
    try:
        return [{"name": f.name, **_named(f.type)} for f in table.schema]
    except KeyError:
        from datasets import DatasetInfo, Features

        return DatasetInfo(features=Features.from_arrow_schema(table.schema))._to_yaml_dict()["features"]


def write_split(df: pl.DataFrame, data_dir: Path, split: str) -> tuple[list[str], dict]:
    """Write one split as deterministic parquet shards; returns their relative paths and size info.

    Each shard is converted to Arrow on its own, so a big split never needs a second full copy in memory.
    """
    n_shards = shard_count(df)
    per_shard = math.ceil(df.height / n_shards) if df.height else 0
    names, num_bytes, schema_table = [], 0, None
    for i in range(n_shards):
        name = f"{split}-{i:05d}-of-{n_shards:05d}.parquet"
        # gathered rather than sliced: a slice's list children would be exported (and converted) whole
        rows = pl.int_range(i * per_shard, min(df.height, (i + 1) * per_shard), eager=True)
        part = to_arrow(df[rows] if per_shard else df)
        pq.write_table(part, data_dir / name, compression="zstd", row_group_size=ROW_GROUP_ROWS)
        names.append(f"data/{name}")
        num_bytes += part.nbytes
        schema_table = schema_table if schema_table is not None else part.slice(0, 0)
        del part
    info = {
        "num_bytes": num_bytes,
        "parquet_bytes": sum((data_dir / n.split("/", 1)[1]).stat().st_size for n in names),
        "features": features_yaml(schema_table),
    }
    return names, info


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def content_hash(folder: Path, files: list[str]) -> str:
    """One hash over the data files (name + bytes), independent of when or where they were written."""
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0" + sha256_file(folder / rel).encode() + b"\n")
    return digest.hexdigest()


def _scratch_name(target: Path, kind: str) -> Path:
    """A hidden folder beside `target` for one write: `.NAME.tmp-PID-XXXXXXXX` (or `.old-`)."""
    return target.with_name(f".{target.name}.{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_scratch(target: Path) -> list[Path]:
    """Remove the scratch folders that interrupted writes of `target` left behind; returns them.

    A folder whose writer process is still running (a concurrent build) is kept.
    """
    removed = []
    for kind in ("tmp", "old"):
        for path in target.parent.glob(f".{glob.escape(target.name)}.{kind}-*"):
            pid = path.name.rsplit(f".{kind}-", 1)[1].split("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and _process_alive(int(pid)):
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def scratch_for(target: Path) -> Path:
    """A fresh temporary folder name for writing `target`, once stale ones of earlier writes are gone."""
    remove_stale_scratch(target)
    return _scratch_name(target, "tmp")


def replace_dir(tmp: Path, target: Path) -> None:
    """Move `tmp` to `target`; an existing target is swapped out first and removed only afterwards."""
    old = None
    if target.exists():
        old = _scratch_name(target, "old")
        os.replace(target, old)
    try:
        os.replace(tmp, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def check_not_empty(splits: dict[str, pl.DataFrame], manifest: dict) -> None:
    """Fail, naming the drop reasons that took the rows, when there is no split or a split has 0 rows."""
    empty = [split for split, df in splits.items() if df.height == 0]
    if splits and not empty:
        return
    dropped = manifest.get("dropped") or {}
    reasons = "; ".join(f"{reason} ({n:,})" for reason, n in list(dropped.items())[:4])
    raise EmptyBuildError(
        f"{manifest.get('name', 'build')}: split(s) {', '.join(empty) or '(none)'} would have 0 rows; "
        + (f"rows dropped by: {reasons}" if reasons else "the sources gave no rows")
        + ". Nothing was written (set `allow_empty: true` in the catalog entry to leave empty splits out)"
    )


def write_build(
    target: Path,
    splits: dict[str, pl.DataFrame],
    manifest: dict,
    render_card: Callable[[dict], str],
) -> dict:
    """Write splits, manifest and card to `target` atomically; returns the completed manifest.

    A split with 0 rows is never written (`datasets` cannot load one): `EmptyBuildError` names the drops.
    """
    check_not_empty(splits, manifest)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = scratch_for(target)
    try:
        (tmp / "data").mkdir(parents=True)
        split_info = {}
        all_files: list[str] = []
        for split in sorted(splits):
            files, info = write_split(splits[split], tmp / "data", split)
            split_info[split] = {"rows": splits[split].height, "files": files, **info}
            all_files += files
        manifest = dict(manifest)
        manifest["splits"] = split_info
        manifest["rows_out"] = {split: info["rows"] for split, info in split_info.items()}
        manifest["content_hash"] = content_hash(tmp, all_files)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n")
        (tmp / "README.md").write_text(render_card(manifest))
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def read_manifest(folder: Path) -> dict | None:
    path = folder / "manifest.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def read_splits(folder: Path) -> dict[str, pl.DataFrame]:
    """The splits of a build folder as polars frames, from its manifest."""
    manifest = read_manifest(folder)
    if manifest is None:
        raise FileNotFoundError(f"{folder} is not a build folder (no manifest.json)")
    return {
        split: pl.concat([pl.read_parquet(folder / f) for f in info["files"]]) if info["files"] else pl.DataFrame()
        for split, info in manifest["splits"].items()
    }
