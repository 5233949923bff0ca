"""Shared fixtures: a small catalog with a test-only recipe, and mirror folders in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
import yaml

from tulu_data import ops, steps
from tulu_data.catalog import parse_catalog
from tulu_data.context import RecipeContext
from tulu_data.registry import recipe


@recipe("_test_qa_pairs", version="1", kind="preference")
def _test_qa_pairs(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Test-only recipe: question/good/bad records -> single-turn preference pairs."""
    fields = {"question": pl.String, "good": pl.String, "bad": pl.String}
    df = ctx.frame(next(iter(ctx.sources)), required=list(fields), fields=fields)
    user = ops.message("user", pl.col("question"))
    df = df.select(
        ops.conversation(user, ops.message("assistant", pl.col("good"))).alias("chosen"),
        ops.conversation(user, ops.message("assistant", pl.col("bad"))).alias("rejected"),
        pl.lit(ctx.param("label", "qa")).alias("source"),
    )
    df = df.with_columns(ops.content_ids(df, ["chosen", "rejected"]).alias("id"))
    return {"train": steps.finalize_preference(ctx, df, cap=ctx.param("cap"))}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def qa_rows(n: int, prefix: str = "q") -> list[dict]:
    return [{"question": f"{prefix} question {i}?", "good": f" good answer {i} ", "bad": f"bad answer {i}"} for i in range(n)]


@pytest.fixture
def qa_catalog():
    """A catalog with three test datasets over one or two mirrored sources."""
    raw = {
        "sources": {
            "qa": {"hub_id": "example/qa", "revision": "0" * 40, "format": "jsonl", "data_files": ["*.jsonl"]},
            "qa2": {"hub_id": "example/qa2", "revision": "1" * 40, "format": "jsonl", "data_files": ["*.jsonl"]},
        },
        "datasets": {
            "qa_small": {"recipe": "_test_qa_pairs", "sources": ["qa"], "description": "Test pairs.", "license": "mit",
                         "params": {"label": "qa_small"}},
            "qa_capped": {"recipe": "_test_qa_pairs", "sources": ["qa"], "description": "Capped.", "license": "mit",
                          "params": {"label": "qa_capped", "cap": 5}},
        },
    }
    return parse_catalog(yaml.safe_load(yaml.safe_dump(raw)))


@pytest.fixture
def qa_mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    rows = qa_rows(20) + [{"question": "empty answer?", "good": "   ", "bad": "x"}]
    write_jsonl(root / "qa" / "part-0.jsonl", rows[:10])
    write_jsonl(root / "qa" / "part-1.jsonl", rows[10:])
    return root


@pytest.fixture(scope="module")
def single_torch_thread():
    """Tiny models gain nothing from threads, and spinning threads crawl on a loaded 2-core machine."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def isolated_token_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tokenized-data cache of the training layer, private to one test."""
    cache = tmp_path / "tokenized_cache"
    monkeypatch.setenv("TULU_DATA_CACHE", str(cache))
    return cache


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``engine`` install an engine from PyPI (about a minute with a warm pip cache, more
    cold, and network): opt-in with TULU_DATA_ENGINE_TESTS=1."""
    import os

    if os.environ.get("TULU_DATA_ENGINE_TESTS", "") not in ("", "0"):
        return
    skip = pytest.mark.skip(reason="installs verl from PyPI: set TULU_DATA_ENGINE_TESTS=1 to run")
    for item in items:
        if "engine" in item.keywords:
            item.add_marker(skip)
