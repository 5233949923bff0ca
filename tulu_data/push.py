"""Publishing builds to the Hugging Face Hub, each push as ONE commit.

- A build folder (data shards, dataset card, manifest) is staged in a hidden temporary folder beside it
  (hard links, so no data is copied; the card is re-rendered to name the repo it is pushed to), then
  uploaded with `create_repo(exist_ok=True)` + one `create_commit`. The staged folder is removed
  afterwards, on success or failure.
- A catalog collection (several datasets as the named splits of one repo) is first assembled locally in
  the Hub layout (`data/<member>-*.parquet`, one card, `configs` mapping every split) with the writer,
  then uploaded the same way.
- The token comes from `HF_TOKEN` or the user's login (`huggingface_hub.get_token()`); it is never
  printed, and it is removed from any error text before that text reaches the user.
- Transient failures (connection errors, timeouts, HTTP 429 and 5xx) are retried with exponential
  backoff; anything else fails at once. A Hub commit is atomic, so a failed push leaves the remote as
  it was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import TuluDataError
from .names import did_you_mean

T = TypeVar("T")
Report = Callable[[str], None]
_SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")
_TRANSIENT_NAMES = {"TransportError", "TimeoutException", "NetworkError", "ConnectError", "ConnectTimeout", "ReadTimeout",
                    "RemoteProtocolError", "ConnectionError", "Timeout"}


# --------------------------------------------------------------------------------------------
# retries and secrets


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff: wait base_delay, then x factor each time, capped at max_delay."""

    attempts: int = 5
    base_delay: float = 2.0
    factor: float = 2.0
    max_delay: float = 60.0

    def delay(self, attempt: int) -> float:
        return min(self.max_delay, self.base_delay * self.factor ** (attempt - 1))

    @classmethod
    def from_env(cls) -> RetryPolicy:
        """Defaults, overridable with TULU_DATA_PUSH_RETRIES and TULU_DATA_PUSH_RETRY_WAIT (seconds)."""
        try:
            attempts = int(os.environ.get("TULU_DATA_PUSH_RETRIES", cls.attempts))
            wait = float(os.environ.get("TULU_DATA_PUSH_RETRY_WAIT", cls.base_delay))
        except ValueError as err:
            raise TuluDataError(f"TULU_DATA_PUSH_RETRIES / TULU_DATA_PUSH_RETRY_WAIT must be numbers: {err}") from None
        return cls(attempts=max(1, attempts), base_delay=max(0.0, wait))


def http_status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    status = getattr(response, "status_code", None)
    return int(status) if isinstance(status, int) else None


def is_transient(err: BaseException) -> bool:
    """Connection errors, timeouts, HTTP 429 and 5xx: worth another try."""
    status = http_status(err)
    if status is not None:
        return status == 429 or status >= 500
    if isinstance(err, ConnectionError | TimeoutError):
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(err).__mro__)


def with_retries(fn: Callable[[], T], policy: RetryPolicy, what: str, report: Report | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Call `fn`, retrying transient errors up to `policy.attempts` times in all; other errors pass through."""
    for attempt in range(1, policy.attempts + 1):
        try:
            return fn()
        except Exception as err:
            if not is_transient(err) or attempt == policy.attempts:
                raise
            wait = policy.delay(attempt)
            if report:
                status = http_status(err)
                why = f"HTTP {status}" if status else type(err).__name__
                report(f"{what}: {why}; retrying in {wait:g}s (attempt {attempt + 1} of {policy.attempts})")
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


def redact(text: str, token: str | None) -> str:
    """Remove the token (and anything shaped like a Hub token) from `text`."""
    if token:
        text = text.replace(token, "***")
    return re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)


def resolve_token(token: str | None = None) -> str:
    """The token to push with: given, else HF_TOKEN, else the stored login; a clear error if none."""
    if token:
        return token
    env = os.environ.get("HF_TOKEN")
    if env:
        return env
    try:
        from huggingface_hub import get_token

        stored = get_token()
    except Exception:  # a broken token file is the same as none
        stored = None
    if not stored:
        raise TuluDataError(
            "no Hugging Face token: set the HF_TOKEN environment variable or log in with `hf auth login` "
            "(the token needs write access to the target repo)"
        )
    return stored


def describe_failure(err: BaseException, endpoint: str, repo_id: str, attempts: int, token: str | None) -> TuluDataError:
    """Our error for a failed upload step: says which (network, token, server), never shows the token."""
    status = http_status(err)
    detail = redact(f"{type(err).__name__}: {err}".strip(), token).splitlines()[0][:300]
    if type(err).__name__ == "OfflineModeIsEnabled":
        return TuluDataError(f"cannot push to {repo_id}: HF_HUB_OFFLINE is set, so the Hub is not contacted; unset it to push")
    if status in (401, 403):
        return TuluDataError(
            f"the Hugging Face Hub refused the token (HTTP {status}) for {repo_id}: check HF_TOKEN or `hf auth login`, "
            "and that the token has write access to that namespace. Nothing was uploaded."
        )
    if status is not None and is_transient(err):
        return TuluDataError(
            f"the Hugging Face Hub at {endpoint} kept failing (HTTP {status}) after {attempts} attempts; "
            f"try again later. Nothing was committed. ({detail})"
        )
    if is_transient(err):
        return TuluDataError(
            f"cannot reach the Hugging Face Hub at {endpoint} (no network?) after {attempts} attempts: {detail}. "
            "Nothing was committed."
        )
    return TuluDataError(f"push to {repo_id} failed: {detail}. Nothing was committed.")


# --------------------------------------------------------------------------------------------
# what goes into the commit


def commit_paths(folder: Path) -> list[str]:
    """Every file of a staged folder, relative, in a fixed order (card and manifest first, then data)."""
    files = sorted(p.relative_to(folder).as_posix() for p in Path(folder).rglob("*") if p.is_file())
    return sorted(files, key=lambda rel: (rel.startswith("data/"), rel))


def commit_operations(folder: Path) -> list[Any]:
    """One `CommitOperationAdd` per file of the staged folder."""
    from huggingface_hub import CommitOperationAdd

    return [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(Path(folder) / rel)) for rel in commit_paths(folder)]


def upload_folder_as_commit(
    folder: Path,
    repo_id: str,
    *,
    token: str,
    api: Any = None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload with tulu-data",
    policy: RetryPolicy | None = None,
    report: Report | None = None,
) -> str:
    """Create the dataset repo if needed (and the branch), then upload `folder` as one commit; returns its URL."""
    from huggingface_hub import HfApi

    api = api if api is not None else HfApi()
    policy = policy or RetryPolicy.from_env()
    operations = commit_operations(folder)
    endpoint = getattr(api, "endpoint", "the Hub")
    try:
        with_retries(lambda: api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True, token=token),
                     policy, "create repo", report)
        if revision:
            with_retries(lambda: api.create_branch(repo_id, branch=revision, repo_type="dataset", exist_ok=True, token=token),
                         policy, "create branch", report)
        info = with_retries(
            lambda: api.create_commit(repo_id, operations, commit_message=commit_message, repo_type="dataset",
                                      revision=revision, token=token),
            policy,
            "commit",
            report,
        )
    except TuluDataError:
        raise
    except Exception as err:
        raise describe_failure(err, endpoint, repo_id, policy.attempts, token) from None
    return str(getattr(info, "commit_url", info))


# --------------------------------------------------------------------------------------------
# staging


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _staging_dir(parent: Path, name: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    return parent / f".{name}.push-{uuid.uuid4().hex[:8]}"


def stage_build(path: Path, target: Path, catalog: Any, repo_id: str | None = None) -> Path:
    """Put a build folder's data and manifest into `target` (hard links), with a card naming `repo_id`."""
    from .card import render_card
    from .writer import read_manifest

    manifest = read_manifest(path)
    if manifest is None:
        raise TuluDataError(f"{path} is not a build folder (no manifest.json); build it first with `tulu-data build`")
    target.mkdir(parents=True)
    files = [f for info in manifest.get("splits", {}).values() for f in info.get("files", [])]
    for rel in ["manifest.json", *files]:
        if not (path / rel).is_file():
            raise TuluDataError(f"{path}: {rel} is missing; the build folder is incomplete, rebuild it with --force")
        _link_or_copy(path / rel, target / rel)
    card = render_card(manifest | ({"hub_repo_id": repo_id} if repo_id else {}), catalog) if catalog is not None else None
    if card is None:
        shutil.copy2(path / "README.md", target / "README.md")
    else:
        (target / "README.md").write_text(card)
    return target


def stage_collection(name: str, out: Path, catalog: Any, target: Path, repo_id: str | None = None, split: str = "train") -> Path:
    """Assemble a catalog collection in the Hub layout in `target` (atomically): each member's `split`
    becomes split `<member>`, with the columns all members share, one manifest and one card."""
    from . import __version__, ops
    from .card import render_card
    from .writer import content_hash, read_manifest, read_splits, replace_dir, scratch_for, write_split

    if name not in catalog.collections:
        raise TuluDataError(f"{name!r} is not a collection in the catalog (collections: {', '.join(catalog.collections) or 'none'})")
    spec = catalog.collections[name]
    if not spec.datasets:
        raise TuluDataError(f"collection {name!r} lists no datasets")
    manifests = {member: read_manifest(Path(out) / member) for member in spec.datasets}
    missing = [m for m, man in manifests.items() if man is None]
    if missing:
        raise TuluDataError(
            f"collection {name!r}: not built in {out}: {', '.join(missing)}. Build them first, e.g. "
            f"`tulu-data build {missing[0]} --out {out}`"
        )
    bad = [m for m in spec.datasets if not _SPLIT_NAME.match(m)]
    if bad:
        raise TuluDataError(f"collection {name!r}: {', '.join(bad)} cannot be split names (letters, digits, '_' and '.')")
    kinds = {man.get("kind") for man in manifests.values()}
    if len(kinds) != 1 or next(iter(kinds)) not in ops.SCHEMAS:
        raise TuluDataError(f"collection {name!r}: members must all be of one kind, got {sorted(map(str, kinds))}")
    kind = next(iter(kinds))
    schema = ops.SCHEMAS[kind]

    tmp = scratch_for(target)
    try:
        (tmp / "data").mkdir(parents=True)
        split_info, members, sources, files_all = {}, [], [], []
        for member in spec.datasets:
            if split not in manifests[member].get("splits", {}):
                raise TuluDataError(f"collection {name!r}: {member} has no {split!r} split (has {sorted(manifests[member].get('splits', {}))})")
        for member in spec.datasets:
            man = manifests[member]
            df = read_splits(Path(out) / member)[split]
            df = ops.schema_cast(df, schema).select(list(schema))
            files, info = write_split(df, tmp / "data", member)
            split_info[member] = {"rows": df.height, "files": files, **info}
            files_all += files
            members.append(
                {
                    "name": member,
                    "rows": df.height,
                    "license": man.get("license"),
                    "description": man.get("description", ""),
                    "fingerprint": man.get("fingerprint"),
                    "content_hash": man.get("content_hash"),
                    "rows_in": man.get("rows_in", {}),
                    "dropped": man.get("dropped", {}),
                }
            )
            sources += [s for s in man.get("sources", []) if s not in sources]
        licenses = sorted({m["license"] or "unknown" for m in members})
        manifest = {
            "name": name,
            "kind": kind,
            "collection": True,
            "description": spec.description,
            "license": licenses[0] if len(licenses) == 1 else "mixed",  # each split keeps its member's license
            "tool": {"name": "tulu-data", "version": __version__},
            "members": members,
            "sources": sources,
            "rows_in": {m["name"]: sum(m["rows_in"].values()) for m in members},
            "dropped": {},
            "notes": {"columns": f"every split keeps the {kind} columns: {', '.join(schema)}"},
            "splits": split_info,
            "rows_out": {m: info["rows"] for m, info in split_info.items()},
            "content_hash": content_hash(tmp, files_all),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        (tmp / "README.md").write_text(render_card(manifest | ({"hub_repo_id": repo_id} if repo_id else {}), catalog))
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


# --------------------------------------------------------------------------------------------
# pushing


def _print(console: Any) -> Report:
    if console is None:
        return lambda msg: None
    return lambda msg: console.print(msg, markup=False, highlight=False)


def _describe_folder(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def _push_staged(folder: Path, repo_id: str, message: str, *, token: str | None, api: Any, private: bool,
                 revision: str | None, policy: RetryPolicy | None, console: Any, dry_run: bool) -> str | None:
    say = _print(console)
    count, size = _describe_folder(folder)
    where = f"{repo_id}" + (f"@{revision}" if revision else "")
    if dry_run:
        say(f"dry run: would commit {count} files ({size / 1e6:,.1f} MB) to dataset repo {where}:")
        for rel in commit_paths(folder):
            say(f"  {rel}")
        return None
    say(f"pushing {count} files ({size / 1e6:,.1f} MB) to dataset repo {where} as one commit")
    url = upload_folder_as_commit(folder, repo_id, token=token or "", api=api, private=private, revision=revision,
                                  commit_message=message, policy=policy, report=say)
    say(f"committed: {url}")
    return url


def push_build(
    path: Path,
    repo_id: str | None = None,
    private: bool = False,
    revision: str | None = None,
    catalog: Any = None,
    console: Any = None,
    *,
    api: Any = None,
    token: str | None = None,
    policy: RetryPolicy | None = None,
    dry_run: bool = False,
) -> str | None:
    """Upload one build folder as one commit (repo id default: the build's name, in your namespace)."""
    from .catalog import load_catalog
    from .writer import read_manifest

    path = Path(path)
    manifest = read_manifest(path)
    if manifest is None:
        raise TuluDataError(f"{path} is not a build folder (no manifest.json); build it first with `tulu-data build`")
    repo_id = repo_id or manifest["name"]
    token = None if dry_run else resolve_token(token)
    catalog = catalog if catalog is not None else load_catalog()
    staged = _staging_dir(path.parent, path.name)
    try:
        stage_build(path, staged, catalog, repo_id)
        rows = sum(manifest.get("rows_out", {}).values())
        message = f"{manifest['name']}: {rows:,} rows (tulu-data, content {str(manifest.get('content_hash'))[:12]})"
        return _push_staged(staged, repo_id, message, token=token, api=api, private=private, revision=revision,
                            policy=policy, console=console, dry_run=dry_run)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def push_collection(
    name: str,
    out: Path,
    repo_id: str | None = None,
    private: bool = False,
    revision: str | None = None,
    catalog: Any = None,
    console: Any = None,
    *,
    api: Any = None,
    token: str | None = None,
    policy: RetryPolicy | None = None,
    dry_run: bool = False,
) -> str | None:
    """Assemble a collection from its members' builds in `out` and upload it as one commit.

    With `dry_run`, the assembled folder is kept at OUT/NAME (loadable with `datasets.load_dataset`)
    and nothing is uploaded; otherwise it lives in a temporary folder removed afterwards.
    """
    from .catalog import load_catalog

    catalog = catalog if catalog is not None else load_catalog()
    if name not in catalog.collections:
        raise TuluDataError(f"{name!r} is not a collection in the catalog")
    repo_id = repo_id or catalog.collections[name].repo_id or name
    token = None if dry_run else resolve_token(token)
    target = Path(out) / name if dry_run else _staging_dir(Path(out), name)
    try:
        stage_collection(name, Path(out), catalog, target, repo_id)
        manifest = json.loads((target / "manifest.json").read_text())
        message = f"{name}: {len(manifest['members'])} datasets as splits, {sum(manifest['rows_out'].values()):,} rows (tulu-data)"
        return _push_staged(target, repo_id, message, token=token, api=api, private=private, revision=revision,
                            policy=policy, console=console, dry_run=dry_run)
    finally:
        if not dry_run:
            shutil.rmtree(target, ignore_errors=True)


def run_push(name: str, out: Path, repo_id: str | None = None, private: bool = False, revision: str | None = None,
             catalog: Any = None, console: Any = None, dry_run: bool = False, **kwargs: Any) -> str | None:
    """What `tulu-data push NAME` does: a catalog collection, or an existing build in OUT."""
    if catalog is not None and name in catalog.collections:
        return push_collection(name, out, repo_id, private, revision, catalog, console, dry_run=dry_run, **kwargs)
    path = Path(out) / name
    if not (path / "manifest.json").exists():
        built = [p.parent.name for p in Path(out).glob("*/manifest.json")]
        hint = did_you_mean(name, [*built, *(catalog.collections if catalog is not None else ())])
        raise TuluDataError(f"no build of {name!r} in {out}{hint}; build it first with `tulu-data build {name} --out {out}`")
    return push_build(path, repo_id, private, revision, catalog, console, dry_run=dry_run, **kwargs)
