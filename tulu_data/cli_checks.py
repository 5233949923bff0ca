"""What the command line checks before any work starts, and how an error reaches the user.

Every error ends in one or two plain lines on stderr and a non-zero exit. The traceback is shown
only with `tulu-data --debug ...` or `TULU_DATA_DEBUG=1`.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import TuluDataError
from .names import plain_name_problem

DEBUG_ENV = "TULU_DATA_DEBUG"
SOURCES_WORDS = ("hub", "samples")


def debug_enabled() -> bool:
    """Whether errors should show their traceback ($TULU_DATA_DEBUG set to anything but 0 or empty)."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def error_lines(err: BaseException) -> list[str]:
    """The one or two lines an error is shown as: ours as they are, the rest with a hint to --debug."""
    if isinstance(err, TuluDataError):
        return [str(err)]
    if isinstance(err, OSError):  # a file that is missing, unreadable or cannot be written
        where = f": {err.filename}" if err.filename else ""
        return [f"{err.strerror}{where}" if err.strerror else " ".join(str(err).split())]
    text = " ".join(str(err).split()) or "(no message)"
    return [
        f"{type(err).__name__}: {text}",
        "this is unexpected: rerun with --debug (or TULU_DATA_DEBUG=1) for the traceback, and please report it",
    ]


def check_out_folder(out: Path, writing: bool = True, flag: str = "--out", holds: str = "the builds") -> None:
    """`--out` must be a folder (or not exist yet, when writing to it, under a folder we can write)."""
    if out.exists() and not out.is_dir():
        raise TuluDataError(f"{flag} {out} is a file, not a folder: give a folder for {holds}")
    if not writing:
        return
    existing = next((p for p in (out, *out.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise TuluDataError(f"{flag} {out}: {existing} is a file, so no folder can be made there")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        raise TuluDataError(f"{flag} {out}: no permission to write in {existing}")


def check_sources(sources: str) -> None:
    """`--sources` is hub, samples, or an existing mirror folder."""
    if sources in SOURCES_WORDS:
        return
    path = Path(sources).expanduser()
    if not path.exists():
        raise TuluDataError(f"--sources {sources}: no such folder (give 'hub', 'samples', or a mirror folder DIR)")
    if not path.is_dir():
        raise TuluDataError(f"--sources {sources} is a file: a mirror is a folder holding DIR/<source_key>/ files")


def check_name(name: str) -> None:
    """A dataset, mixture or collection name given on the command line is a plain name, not a path."""
    problem = plain_name_problem(name)
    if problem:
        raise TuluDataError(problem)


def check_repo_id(repo_id: str | None) -> None:
    """`--repo-id` is NAME or OWNER/NAME in the Hub's rules (checked without contacting it)."""
    if repo_id is None:
        return
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        raise TuluDataError(
            f"--repo-id {repo_id!r} is not a Hub repo id: write NAME or OWNER/NAME (letters, digits, '-', '_', "
            "'.'; not starting or ending with '-' or '.', no '--' or '..', at most 96 characters)"
        ) from None


def check_push_ready(repo_id: str | None) -> None:
    """Before a build that ends in a push: a valid repo id, and a Hub token to push with."""
    from .push import resolve_token

    check_repo_id(repo_id)
    resolve_token()


def parse_source_overrides(values: list[str], catalog) -> dict[str, str]:
    """`--source KEY=PATH` values as {key: path}; the key must be a catalog source and the path exist."""
    from .names import did_you_mean

    overrides: dict[str, str] = {}
    for value in values:
        key, sep, path = value.partition("=")
        if not sep or not key or not path:
            raise TuluDataError(f"--source {value!r}: expected KEY=PATH, e.g. --source helpsteer=/data/helpsteer")
        if key not in catalog.sources:
            raise TuluDataError(f"--source {value!r}: no source {key!r} in the catalog{did_you_mean(key, catalog.sources)}")
        if not any(ch in path for ch in "*?[") and not Path(path).expanduser().exists():
            raise TuluDataError(f"--source {value!r}: {path} does not exist")
        overrides[key] = str(Path(path).expanduser())
    return overrides
