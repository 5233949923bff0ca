"""What a training run checks before any work (building data, tokenizing, loading a model).

- every model flag (``--model``, ``--ref_model``, ``--reward_model``, ``--value_model``) names 'tiny',
  a checkpoint folder (with ``config.json``) or a Hub model id;
- ``--mix`` gives the kind of rows the entry point trains on: read from the catalog or the mixture
  files for a catalog name (nothing is built), from ``manifest.json`` for a build folder;
- ``--max_length`` is positive.

Each failure is a ``TrainingInputError`` naming the flag, what was expected and what was found.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .front_door import TrainingInputError

ROW_COLUMNS = {"preference": ("chosen", "rejected"), "sft": ("messages",), "prompts": ("prompt",)}
MODEL_FLAGS = ("model", "ref_model", "reward_model", "value_model")
_PATH_STARTS = ("/", "./", "../", "~", ".\\")


def describe_rows(kind: str) -> str:
    """'preference rows (columns chosen, rejected)'."""
    columns = ROW_COLUMNS.get(kind)
    return f"{kind} rows (columns {', '.join(columns)})" if columns else f"{kind} rows"


def needs(expected: Sequence[str]) -> str:
    return " or ".join(describe_rows(k) for k in expected)


def _looks_like_path(value: str) -> bool:
    return value.startswith(_PATH_STARTS) or value.count("/") > 1 or value.endswith("/")


# ---- models -----------------------------------------------------------------------------------


def check_model(flag: str, value: str) -> None:
    """A model flag names 'tiny', a checkpoint folder, or a Hub model id (cached, when offline)."""
    if value == "tiny":
        return
    path = Path(value).expanduser()
    if path.is_file():
        raise TrainingInputError(f"--{flag} {value} is a file: give a checkpoint folder (with config.json) or a Hub model id")
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TrainingInputError(
                f"--{flag} {value}: this folder has no config.json, so it is not a model checkpoint "
                "(a training run saves one in its --output_dir)"
            )
        return
    if _looks_like_path(value):
        raise TrainingInputError(f"--{flag} {value}: no such folder")
    _check_hub_model(flag, value)


def _check_hub_model(flag: str, value: str) -> None:
    from huggingface_hub import constants, try_to_load_from_cache
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(value)
    except HFValidationError:
        raise TrainingInputError(f"--{flag} {value!r}: neither a local folder nor a Hub model id (owner/name)") from None
    if isinstance(try_to_load_from_cache(value, "config.json"), str):
        return
    if constants.HF_HUB_OFFLINE:
        raise TrainingInputError(
            f"--{flag} {value}: no such local folder, and not in the Hub cache while HF_HUB_OFFLINE is set"
        )
    from tulu_data.sources import hub_reachable

    if not hub_reachable():
        raise TrainingInputError(
            f"--{flag} {value}: no such local folder, not in the Hub cache, and the Hub ({constants.ENDPOINT}) "
            "is not reachable"
        )


def check_models(args: Any) -> None:
    for flag in MODEL_FLAGS:
        value = getattr(args, flag, None)
        if value:
            check_model(flag, value)


# ---- the mix ----------------------------------------------------------------------------------


def _folder_kind(folder: Path) -> str | None:
    """The row kind a build folder's manifest records (None for other folders)."""
    manifest = folder / "manifest.json"
    if not manifest.is_file():
        return None
    try:
        return json.loads(manifest.read_text()).get("kind")
    except (json.JSONDecodeError, OSError):
        return None


def catalog_kind(name: str) -> str:
    """The row kind of a catalog dataset or mixture, from the catalog and mixture files alone."""
    from tulu_data.catalog import load_catalog
    from tulu_data.mixture_check import check_mixture_tree
    from tulu_data.mixtures import find_mixture, known_filter, mixture_names
    from tulu_data.names import did_you_mean, plain_name_problem
    from tulu_data.registry import get_recipe

    problem = plain_name_problem(name)
    if problem:
        raise TrainingInputError(f"--mix {problem}")
    catalog = load_catalog()
    if name in catalog.datasets:
        return get_recipe(catalog.datasets[name].recipe).kind
    mixture = find_mixture(name, catalog=catalog)
    if mixture is not None:
        return check_mixture_tree(mixture, catalog, None, known_filter)
    if name in catalog.collections:
        raise TrainingInputError(f"--mix {name} is a collection: train on one of its members, e.g. {catalog.collections[name].datasets[0]}")
    hint = did_you_mean(name, [*catalog.datasets, *mixture_names(catalog=catalog)])
    raise TrainingInputError(
        f"--mix {name}: not a catalog dataset or mixture{hint}, nor a local folder (`tulu-data list` shows the names)"
    )


def catalog_name(mix: str) -> bool:
    """Whether ``--mix`` names a catalog dataset or mixture (not a folder or a Hub id)."""
    return not Path(mix).expanduser().exists() and "/" not in mix


def mix_kind(mix: str) -> str | None:
    """The kind of rows ``--mix`` gives, when it can be told without building or downloading anything."""
    path = Path(mix).expanduser()
    if path.is_dir():
        return _folder_kind(path)
    if path.is_file():
        raise TrainingInputError(f"--mix {mix} is a file: give the dataset folder that holds it")
    if _looks_like_path(mix):
        raise TrainingInputError(f"--mix {mix}: no such folder")
    if "/" in mix:
        return None  # a Hub dataset id: its columns are checked once loaded
    return catalog_kind(mix)


def check_mix(mix: str | None, expected: Sequence[str]) -> None:
    """``--mix`` gives one of the ``expected`` kinds of rows (when that can be told before loading it)."""
    if not mix:
        raise TrainingInputError("--mix is required (a catalog name, a local dataset folder or a Hub dataset id)")
    kind = mix_kind(mix)
    if kind is not None and kind not in expected:
        raise TrainingInputError(f"--mix {mix} gives {describe_rows(kind)}; this entry point needs {needs(expected)}")


def _is_conversation(feature: Any) -> bool:
    """A `datasets` feature holding a list of {role, content} messages."""
    inner = feature[0] if isinstance(feature, list) and feature else getattr(feature, "feature", None)
    return isinstance(inner, dict) and {"role", "content"} <= set(inner)


def check_columns(mix: str, features: dict[str, Any], expected: Sequence[str]) -> str:
    """The kind of rows the loaded columns hold; an error naming both sides when it is not expected,
    or when a conversation column holds something else (plain text, say)."""
    found = sorted(features)
    kind = next((k for k, need in ROW_COLUMNS.items() if set(need) <= set(found)), None)
    if kind is None or kind not in expected:
        raise TrainingInputError(
            f"--mix {mix} has {kind or 'no known kind of'} rows (columns found: {', '.join(found)}); "
            f"this entry point needs {needs(expected)}"
        )
    for column in ROW_COLUMNS[kind]:
        if not _is_conversation(features[column]):
            raise TrainingInputError(
                f"--mix {mix}: column {column!r} holds {features[column]}, not a conversation (a list of "
                "{role, content} messages)"
            )
    return kind


def check_folders(args: Any) -> None:
    """``--output_dir`` and ``--builds_dir`` are folders we can write (or can be made)."""
    from tulu_data.cli_checks import check_out_folder

    check_out_folder(Path(args.output_dir), flag="--output_dir", holds="the checkpoints")
    check_out_folder(Path(args.builds_dir), flag="--builds_dir", holds="the builds")


def check_run(args: Any, expected: Sequence[str]) -> None:
    """Everything checked before work starts."""
    max_length = getattr(args, "max_length", None)
    if max_length is not None and max_length < 1:
        raise TrainingInputError(f"--max_length must be at least 1, got {max_length}")
    check_folders(args)
    check_models(args)
    check_mix(args.mix, expected)
    if catalog_name(args.mix):
        from tulu_data.cli_checks import check_sources

        check_sources(args.sources)


def require_rows(stats: dict[str, int], mix: str, length_flag: str) -> None:
    """Stop when tokenizing left nothing to train on, naming what dropped the rows.

    ``length_flag`` is the limit that may be to blame, as typed: '--max_length 1'.
    """
    if stats.get("kept", 1) > 0:
        return
    reasons = ", ".join(f"{k}: {v}" for k, v in stats.items() if k.startswith("dropped") and v)
    hint = f"; {length_flag} may be too short" if "too_long" in reasons or "masked" in reasons else ""
    raise TrainingInputError(
        f"no rows left to train on: all {stats.get('rows', 0)} rows of --mix {mix} were dropped ({reasons}){hint}"
    )
