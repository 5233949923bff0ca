"""ShareGPT token counting with `tokenizers` alone: the same counts as a `transformers` fast tokenizer,
Hub tokenizers pinned by revision (a cached copy works offline), and a fast, plain failure offline."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import huggingface_hub.constants as hub_constants
import polars as pl
import pytest
from label_reference import sentencepiece_bos_tokenizer
from sft_support import SAMPLES_TOKENIZER, builder, catalog_with, manifest, raw_sharegpt, rows

from tulu_data.context import RecipeContext
from tulu_data.errors import TuluDataError
from tulu_data.recipes.sft_sharegpt import TOKENIZER_FILE, token_counts, tokenizer_from_file
from tulu_data.sources import SAMPLES_DIR

REVISION = "0123456789abcdef0123456789abcdef01234567"


def sample_texts() -> list[str]:
    return [t["value"] for c in raw_sharegpt() for t in c["conversations"] if isinstance(t.get("value"), str)]


def tokenizers_counts(folder: Path, texts: list[str]) -> list[int]:
    ctx = RecipeContext(name="sharegpt", params={}, seed=42, sources={})
    return token_counts(tokenizer_from_file(ctx, folder / TOKENIZER_FILE, str(folder)), pl.Series(texts)).tolist()


def transformers_counts(folder: Path, texts: list[str]) -> list[int]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    assert tokenizer.is_fast
    return [len(tokenizer(text)["input_ids"]) for text in texts]


def test_sample_tokenizer_counts_match_the_transformers_fast_tokenizer():
    texts = sample_texts()
    assert len(texts) > 20
    assert tokenizers_counts(SAMPLES_TOKENIZER, texts) == transformers_counts(SAMPLES_TOKENIZER, texts)


def test_a_llama_like_tokenizer_with_bos_counts_the_same_as_transformers(tmp_path: Path):
    """Special tokens come from tokenizer.json's post-processor (here BOS, as Llama 2's adds), in both paths."""
    texts = sample_texts()
    folder = tmp_path / "llama-like"
    sentencepiece_bos_tokenizer(texts, vocab_size=500).save_pretrained(str(folder))
    ours = tokenizers_counts(folder, texts)
    assert ours == transformers_counts(folder, texts)
    ctx = RecipeContext(name="sharegpt", params={}, seed=42, sources={})
    assert token_counts(tokenizer_from_file(ctx, folder / TOKENIZER_FILE, "x"), pl.Series([""])).tolist() == [1]


@pytest.fixture
def offline_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The Hub endpoint pointed at a closed local port, and an empty Hub cache: returns the cache folder."""
    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setattr(hub_constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))
    return cache


def mirror(tmp_path: Path) -> str:
    shutil.copytree(SAMPLES_DIR / "sharegpt", tmp_path / "mirror" / "sharegpt")
    return str(tmp_path / "mirror")


def test_offline_hub_tokenizer_fails_fast_with_a_plain_message(tmp_path: Path, offline_hub: Path):
    catalog = catalog_with({"sharegpt": {"tokenizer": "example-org/llama-copy", "tokenizer_revision": REVISION}})
    started = time.perf_counter()
    with pytest.raises(TuluDataError) as err:
        builder(tmp_path / "out", sources=mirror(tmp_path), catalog=catalog).build("sharegpt")
    assert time.perf_counter() - started < 15
    message = str(err.value)
    assert f"example-org/llama-copy@{REVISION}" in message
    assert "not reachable from this machine (offline) and no cached copy of that revision exists" in message
    assert "params.tokenizer" in message


def test_a_cached_copy_of_the_pinned_revision_works_offline(tmp_path: Path, offline_hub: Path):
    snapshot = offline_hub / "models--example-org--llama-copy" / "snapshots" / REVISION
    snapshot.mkdir(parents=True)
    shutil.copy(SAMPLES_TOKENIZER / TOKENIZER_FILE, snapshot / TOKENIZER_FILE)
    source = mirror(tmp_path)
    hub = catalog_with({"sharegpt": {"tokenizer": "example-org/llama-copy", "tokenizer_revision": REVISION}})
    local = catalog_with({"sharegpt": {"tokenizer": str(SAMPLES_TOKENIZER)}})
    from_hub = builder(tmp_path / "hub", sources=source, catalog=hub).build("sharegpt")
    from_folder = builder(tmp_path / "local", sources=source, catalog=local).build("sharegpt")
    assert manifest(from_hub)["notes"]["tokenizer used to count turns"] == f"example-org/llama-copy@{REVISION}"
    assert rows(from_hub).height > 0 and rows(from_hub).equals(rows(from_folder))


def test_a_tokenizer_json_path_is_accepted_and_a_bad_file_is_named(tmp_path: Path):
    source = mirror(tmp_path)
    by_file = catalog_with({"sharegpt": {"tokenizer": str(SAMPLES_TOKENIZER / TOKENIZER_FILE)}})
    assert rows(builder(tmp_path / "a", sources=source, catalog=by_file).build("sharegpt")).height > 0
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / TOKENIZER_FILE).write_text("{not json")
    catalog = catalog_with({"sharegpt": {"tokenizer": str(broken)}})
    with pytest.raises(TuluDataError, match=r"cannot load the tokenizer .*broken.*params.tokenizer"):
        builder(tmp_path / "b", sources=source, catalog=catalog).build("sharegpt")


def test_sharegpt_builds_without_transformers(tmp_path: Path):
    """The base install has no transformers (nor torch): the ShareGPT step must not need them."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['transformers'] = None; sys.modules['torch'] = None\n"
        "from pathlib import Path\nfrom tulu_data.build import Builder\nfrom tulu_data.catalog import load_catalog\n"
        f"out = Builder(catalog=load_catalog(), sources='samples', out=Path({str(tmp_path)!r}), force=True).build('sharegpt')\n"
        "print('built', out.name)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "built sharegpt" in done.stdout
    assert rows(tmp_path / "sharegpt").height > 0
