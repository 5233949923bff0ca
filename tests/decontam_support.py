"""Helpers for the decontamination tests: a catalog with two eval sets from the bundled samples, a mirror
folder holding their sample files and a synthetic training source, and planted variants of eval prompts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import yaml

from tulu_data.catalog import parse_catalog, repo_root
from tulu_data.sources import SAMPLES_DIR

EVALS = ("gsm8k", "hendrycks_math")


def sample_questions(key: str = "gsm8k", field: str = "question") -> list[str]:
    files = sorted((SAMPLES_DIR / key).rglob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files])[field].to_list()


def lightly_edited(text: str) -> str:
    """Case, spacing and punctuation changed; the words stay."""
    words = text.upper().replace(".", " ;").replace("?", "!!").split()
    return "  " + "\t".join(words) + " ..."


def partial(text: str, share: float = 0.3) -> str:
    words = text.split()
    return " ".join(words[: max(1, int(len(words) * share))])


def near_miss(text: str) -> str:
    """Every third word replaced: no 8 consecutive words survive."""
    return " ".join("zebra" if i % 3 == 2 else w for i, w in enumerate(text.split()))


def make_catalog(label: str = "qa_small", params: dict | None = None):
    """The real eval source entries for EVALS plus the test-only qa source and dataset."""
    real = yaml.safe_load((repo_root() / "catalog.yaml").read_text())
    raw = {
        "sources": {
            "qa": {"hub_id": "example/qa", "revision": "0" * 40, "format": "jsonl", "data_files": ["*.jsonl"]},
            **{k: real["sources"][k] for k in EVALS},
        },
        "datasets": {
            "qa_small": {"recipe": "_test_qa_pairs", "sources": ["qa"], "description": "Test pairs.", "license": "mit",
                         "params": {"label": label, **(params or {})}},
        },
        "eval_sets": {"default": list(EVALS), "math_only": ["hendrycks_math"]},
    }
    return parse_catalog(yaml.safe_load(yaml.safe_dump(raw)))


def mirror(tmp_path: Path, questions: list[str], name: str = "mirror", reverse: bool = False) -> Path:
    """DIR/<eval>/ copies of the eval samples, and DIR/qa/ with one training pair per question."""
    root = tmp_path / name
    for key in EVALS:
        shutil.copytree(SAMPLES_DIR / key, root / key)
    (root / "qa").mkdir(parents=True)
    rows = [{"question": q, "good": f"good answer {i}", "bad": f"bad answer {i}"} for i, q in enumerate(questions)]
    rows = rows[::-1] if reverse else rows
    (root / "qa" / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def write_mixture(folder: Path, name: str, body: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return folder
