"""Resolving upstream sources to local files (reading them is `readers`' job).

Three ways to resolve a source (`--sources`):

- `hub`: download the pinned revision's files with `huggingface_hub` (cached as usual);
- a folder `DIR`: a local mirror, the upstream file(s) for source key K under `DIR/K/`;
- `samples`: the small synthetic files shipped in `tulu_data/samples/K/`, in the upstream schema.

A source's files are those matching the catalog's `data_files` (paths relative to the source folder,
globs allowed; the same name in another supported format or gzip-compressed counts too: a mirror may hold
`train.parquet` for a declared `train.jsonl`; symbolic links to files and folders are followed). Every declared name must match a
file, unless the source says `data_files_required: any` (alternative forms of the same data). Other
data files in the folder are not read, and the build says so (a notice in its output and manifest).
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from .catalog import SourceSpec
from .errors import SourceError
from .readers import (  # noqa: F401  (re-exported: recipes read through these names)
    COMPRESSED,
    SUFFIXES,
    data_suffix,
    file_format,
    read_file,
    read_source,
    require_columns,
)

SAMPLES_DIR = Path(__file__).parent / "samples"


@dataclass(frozen=True)
class ResolvedSource:
    """A source resolved to concrete local files (sorted, so reading order is fixed)."""

    spec: SourceSpec
    mode: str  # hub | mirror | samples
    root: Path
    files: tuple[Path, ...]
    ignored: tuple[str, ...] = ()  # data files in the folder that match no declared name (not read)

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def file_records(self) -> list[dict]:
        return [{"path": self.relative(p), "bytes": p.stat().st_size, "sha256": file_sha256(p)} for p in self.files]

    @property
    def revision(self) -> str:
        if self.mode == "local":
            return "local files (hashed in the manifest)"
        return self.spec.revision if self.mode == "hub" else f"{self.mode} copy (pinned upstream: {self.spec.revision})"


_HASH_CACHE: dict[str, str] = {}
_HASH_CACHE_MIN_BYTES = 1 << 20  # small files are hashed again rather than remembered on disk


def _hash_cache_file() -> Path:
    return Path(os.environ.get("TULU_DATA_HASH_CACHE", Path.home() / ".cache" / "tulu-data" / "file-hashes.json"))


def _load_hash_cache() -> dict[str, str]:
    try:
        return json.loads(_hash_cache_file().read_text())
    except (OSError, ValueError):
        return {}


def _remember_hash(key: str, digest: str) -> None:
    """Add one entry to the on-disk cache (best effort, written atomically)."""
    path = _hash_cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = _load_hash_cache()
        entries[key] = digest
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps(entries))
        os.replace(tmp, path)
    except OSError:
        pass


def file_sha256(path: Path) -> str:
    """sha256 of a file, remembered by (path, inode, size, mtime) in-process and, for large files, on disk.

    Upstream files are big (UltraFeedback is ~1 GB, stack-exchange-paired tens of GB) and hashing them
    is part of every build's fingerprint, so an unchanged file is not hashed twice.
    """
    st = path.stat()
    key = f"{path.resolve()}|{st.st_ino}|{st.st_size}|{st.st_mtime_ns}"
    if key not in _HASH_CACHE and st.st_size >= _HASH_CACHE_MIN_BYTES:
        cached = _load_hash_cache().get(key)
        if cached:
            _HASH_CACHE[key] = cached
    if key not in _HASH_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                digest.update(block)
        _HASH_CACHE[key] = digest.hexdigest()
        if st.st_size >= _HASH_CACHE_MIN_BYTES:
            _remember_hash(key, _HASH_CACHE[key])
    return _HASH_CACHE[key]


def _walk(folder: Path) -> list[Path]:
    """Every non-hidden file under `folder`, following symbolic links (each real folder visited once)."""
    seen: set[str] = set()
    found: list[Path] = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(root) / f for f in files if not f.startswith(".")]
    return sorted(found)


def _base(name: str) -> str:
    """A file name without its compression and format suffixes: a declared file may come in another format."""
    path = Path(name)
    if path.suffix in COMPRESSED:
        path = path.with_suffix("")
    return path.with_suffix("").as_posix() if path.suffix in SUFFIXES else path.as_posix()


def _matches(relative: str, pattern: str) -> bool:
    return fnmatch.fnmatch(_base(relative), _base(pattern))


def _declared(relative: str, spec: SourceSpec) -> bool:
    return any(_matches(relative, pattern) for pattern in spec.data_files)


def select_files(folder: Path, spec: SourceSpec) -> tuple[tuple[Path, ...], tuple[str, ...]]:
    """The declared data files under `folder`, and the other data files found there (not read).

    Fails, listing what was expected and what was found, when no file matches a declared name, when a
    declared name matches nothing (unless the source accepts any of them), or on a broken link.
    """
    data = [p for p in _walk(folder) if data_suffix(p) in SUFFIXES]
    broken = [p for p in data if not p.exists()]
    if broken:
        raise SourceError(f"source {spec.key!r}: {broken[0]} is a broken symbolic link")
    relative = {p: p.relative_to(folder).as_posix() for p in data}
    if not spec.data_files:
        return tuple(data), ()
    files = [p for p in data if _declared(relative[p], spec)]
    ignored = tuple(relative[p] for p in data if p not in files)
    expected = ", ".join(spec.data_files)
    found = ", ".join(relative.values()) or "no .jsonl/.json/.csv/.parquet/.xlsx file (or .gz of one)"
    if not files:
        raise SourceError(
            f"source {spec.key!r}: none of the declared files under {folder}; expected {expected}; found {found}"
        )
    missing = [pat for pat in spec.data_files if not any(_matches(relative[p], pat) for p in files)]
    if missing and spec.data_files_required == "all":
        raise SourceError(
            f"source {spec.key!r}: declared file(s) {', '.join(missing)} missing under {folder}; found {found}"
        )
    return tuple(files), ignored


_GLOB_CHARS = "*?["


def _resolve_local(spec: SourceSpec, where: str) -> ResolvedSource:
    """A source of local files: `where` is a file, a folder (its declared or data files) or a glob."""
    if any(ch in where for ch in _GLOB_CHARS):
        parts = Path(where).parts
        fixed = next(i for i, part in enumerate(parts) if any(ch in part for ch in _GLOB_CHARS))
        root = Path(*parts[:fixed]) if fixed else Path(".")
        pattern = str(Path(*parts[fixed:]))
        files = tuple(sorted(p for p in root.glob(pattern) if p.is_file() and data_suffix(p) in SUFFIXES))
        if not files:
            raise SourceError(f"source {spec.key!r}: no .jsonl/.json/.csv/.parquet/.xlsx file matches {where}")
        return ResolvedSource(spec, "local", root, files)
    path = Path(where)
    if path.is_file():
        return ResolvedSource(spec, "local", path.parent, (path,))
    if path.is_dir():
        return ResolvedSource(spec, "local", path, *select_files(path, spec))
    raise SourceError(f"source {spec.key!r}: {path} does not exist (a file, a folder or a glob is expected)")


def resolve_source(spec: SourceSpec, sources: str, override: str | None = None) -> ResolvedSource:
    """Resolve `spec` the way `--sources` says: 'hub', 'samples', or a mirror folder.

    A local source (`path:`) is read from its path whatever `--sources` says; `override` (from
    `--source KEY=PATH`) replaces where this one source is read from: a file, a folder holding its files
    (under their declared names) or a glob.
    """
    if override is not None:
        return _resolve_local(spec, override)
    if spec.path is not None:
        return _resolve_local(spec, spec.path)
    if sources == "samples":
        folder = SAMPLES_DIR / spec.key
        if not folder.is_dir():
            raise SourceError(f"source {spec.key!r}: no bundled samples (expected {folder})")
        return ResolvedSource(spec, "samples", folder, *select_files(folder, spec))
    if sources == "hub":
        return _resolve_hub(spec)
    folder = Path(sources) / spec.key
    if not folder.is_dir():
        raise SourceError(
            f"source {spec.key!r}: mirror folder {folder} does not exist; put the upstream file(s) of "
            f"{spec.hub_id} there ({', '.join(spec.data_files) or 'any name'}) in their upstream format "
            "(jsonl, json, csv, parquet or xlsx; .gz-compressed text files are read too)"
        )
    return ResolvedSource(spec, "mirror", folder, *select_files(folder, spec))


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe of the Hub endpoint, so that an offline machine fails in seconds, not retries."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or (443 if url.scheme == "https" else 80)), timeout=timeout):
            return True
    except OSError:
        return False


def _resolve_hub(spec: SourceSpec) -> ResolvedSource:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    hint = (
        "Use --sources samples for the bundled sample data, or --sources DIR for a local mirror "
        f"(the upstream files of each source under DIR/<source_key>/, e.g. DIR/{spec.key}/)."
    )
    online = hub_reachable()
    try:
        path = snapshot_download(
            repo_id=spec.hub_id,
            repo_type=spec.repo_type,
            revision=spec.revision,
            allow_patterns=list(spec.data_files) or None,
            local_files_only=not online,  # offline: a cached copy of the pinned revision still works
        )
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, OSError) as err:
        raise SourceError(
            f"source {spec.key!r}: cannot download {spec.hub_id}@{spec.revision}: "
            + ("the Hugging Face Hub is not reachable from this machine (offline) and no cached copy of that revision exists. "
               if not online else f"{type(err).__name__}: {err}. ")
            + hint
        ) from err
    except Exception as err:  # HfHubHTTPError and friends: name the repo and revision
        raise SourceError(f"source {spec.key!r}: download of {spec.hub_id}@{spec.revision} failed: {err}. {hint}") from err
    root = Path(path)
    return ResolvedSource(spec, "hub", root, *select_files(root, spec))
