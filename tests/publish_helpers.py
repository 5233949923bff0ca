"""Helpers for the inspect / card / compare / push tests: small datasets built with the real code paths.

- `pair_row` / `write_pref_build`: preference rows written with the real writer (`write_build`) and the
  real card, for figures with known answers.
- `_test_publish_pairs`: a test-only recipe (jsonl records `question, good, bad, split?, label?`), so a
  small catalog + mirror in tmp_path can be built with the real `Builder` without depending on the
  project's own recipes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from tulu_data import ops, steps
from tulu_data.card import render_card
from tulu_data.catalog import Catalog, parse_catalog
from tulu_data.context import RecipeContext
from tulu_data.registry import recipe
from tulu_data.writer import write_build

PREF_SCHEMA = {
    "id": pl.String,
    "source": pl.String,
    "chosen": ops.MESSAGES,
    "rejected": ops.MESSAGES,
    "score_chosen": pl.Float64,
    "score_rejected": pl.Float64,
}


def msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def pair_row(prompt: list[dict] | str, chosen: str, rejected: str, source: str = "src", score_chosen: float | None = None,
             score_rejected: float | None = None, row_id: str | None = None) -> dict[str, Any]:
    """A preference row; `prompt` is a user text or a list of prompt turns."""
    turns = [msg("user", prompt)] if isinstance(prompt, str) else list(prompt)
    return {
        "id": row_id or hashlib.sha256(json.dumps([turns, chosen, rejected]).encode()).hexdigest()[:16],
        "source": source,
        "chosen": turns + [msg("assistant", chosen)],
        "rejected": turns + [msg("assistant", rejected)],
        "score_chosen": score_chosen,
        "score_rejected": score_rejected,
    }


def pref_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=PREF_SCHEMA)


def empty_catalog() -> Catalog:
    return Catalog(sources={}, datasets={})


def write_pref_build(out: Path, name: str, splits: dict[str, list[dict]], **manifest: Any) -> Path:
    """Write rows as a build folder with the real writer and card."""
    frames = {split: pref_frame(rows) for split, rows in splits.items()}
    base = {"name": name, "kind": "preference", "description": f"Test data {name}.", "license": "mit"}
    write_build(out / name, frames, base | manifest, lambda m: render_card(m, empty_catalog()))
    return out / name


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@recipe("_test_publish_pairs", version="1", kind="preference")
def _test_publish_pairs(ctx: RecipeContext) -> dict[str, pl.DataFrame]:
    """Test-only recipe: question/good/bad records -> single-turn pairs, split by an optional `split` field."""
    fields = {"question": pl.String, "good": pl.String, "bad": pl.String, "split": pl.String}
    df = ctx.frame(ctx.param("source", "pairs"), required=["question", "good", "bad"], fields=fields)
    df = df.with_columns(pl.col("split").fill_null("train"))  # a file without the field: every row in train
    user = ops.message("user", pl.col("question"))
    df = df.select(
        ops.conversation(user, ops.message("assistant", pl.col("good"))).alias("chosen"),
        ops.conversation(user, ops.message("assistant", pl.col("bad"))).alias("rejected"),
        pl.lit(ctx.param("label", ctx.name)).alias("source"),
        pl.col("split").fill_null("train"),
    )
    df = df.with_columns(ops.content_ids(df, ["chosen", "rejected"]).alias("id"))
    out = {}
    for (split,), part in sorted(df.group_by("split"), key=lambda kv: kv[0]):
        out[str(split)] = steps.finalize_preference(ctx, part.drop("split"))
    return out


def publish_catalog(datasets: dict[str, dict], collections: dict | None = None) -> Catalog:
    """A catalog over sources `pairs` and `pairs2` whose datasets use the test recipe."""
    raw = {
        "citations": {"testcite": "@misc{test2024, title={A Test Citation}}"},
        "sources": {
            "pairs": {"hub_id": "example/pairs", "revision": "a" * 40, "format": "jsonl", "license": "cc-by-4.0",
                      "homepage": "https://example.org/pairs"},
            "pairs2": {"hub_id": "example/pairs2", "revision": "main", "format": "jsonl", "license": "apache-2.0"},
        },
        "datasets": {
            name: {"recipe": "_test_publish_pairs", "sources": [entry.get("params", {}).get("source", "pairs")], "license": "mit",
                   "description": f"Test pairs {name}. Second sentence."} | entry
            for name, entry in datasets.items()
        },
        "collections": collections or {},
    }
    return parse_catalog(yaml.safe_load(yaml.safe_dump(raw)))


def qa_records(n: int, prefix: str = "q", split: str | None = None) -> list[dict]:
    rows = [{"question": f"{prefix} question {i}?", "good": f"good answer {i} " + "g" * i, "bad": f"bad answer {i}"} for i in range(n)]
    if split:
        rows = [r | {"split": split} for r in rows]
    return rows


def write_mirror(root: Path) -> Path:
    """Mirror folders for `pairs` (train + test rows, one empty answer) and `pairs2`."""
    rows = qa_records(8) + qa_records(3, "t", split="test") + [{"question": "empty?", "good": "   ", "bad": "x"}]
    write_jsonl(root / "pairs" / "part-0.jsonl", rows)
    write_jsonl(root / "pairs2" / "data.jsonl", qa_records(5, "other"))
    return root
