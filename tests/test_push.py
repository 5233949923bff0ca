"""Publishing: everything up to the upload call is real; the upload meets a real HfApi pointed at an
unreachable endpoint or at a local HTTP server that fails on purpose. The token never shows."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import datasets
import httpx2
import polars as pl
import pytest
from huggingface_hub import DatasetCard, HfApi
from huggingface_hub.errors import HfHubHTTPError
from publish_helpers import publish_catalog, write_mirror
from rich.console import Console

from tulu_data.build import Builder
from tulu_data.errors import TuluDataError
from tulu_data.push import (
    RetryPolicy,
    commit_operations,
    commit_paths,
    is_transient,
    push_build,
    push_collection,
    resolve_token,
    stage_build,
    with_retries,
)
from tulu_data.writer import read_manifest, read_splits

FAKE_TOKEN = "hf_FakeTokenForTests0123456789abcdef"
FAST = RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05)
UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Three built datasets (one with train + test) and a collection of two of them."""
    tmp = tmp_path_factory.mktemp("push")
    mirror = write_mirror(tmp / "mirror")
    catalog = publish_catalog(
        {
            "pairs_a": {"rules": ["Rule A."]},
            "pairs_b": {"params": {"source": "pairs2"}, "license": "apache-2.0", "rules": ["Rule B."]},
            "pairs_c": {"params": {"label": "c"}},
        },
        collections={
            "test_collection": {"description": "Two test datasets as splits.", "datasets": ["pairs_a", "pairs_b"], "repo_id": "me/test-collection"},
            "incomplete": {"description": "Has a member that is not built.", "datasets": ["pairs_a", "pairs_c"]},
        },
    )
    out = tmp / "out"
    builder = Builder(catalog=catalog, sources=str(mirror), out=out)
    for name in ("pairs_a", "pairs_b"):
        builder.build(name)
    return catalog, out, tmp


def _snapshot(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*")}


def _assert_secret_absent(*texts: str) -> None:
    for text in texts:
        assert FAKE_TOKEN not in text
        assert FAKE_TOKEN[3:20] not in text


def test_staged_build_is_the_commit_and_loads(project, tmp_path):
    catalog, out, _ = project
    path = out / "pairs_a"
    manifest = read_manifest(path)
    staged = stage_build(path, tmp_path / "staged", catalog, repo_id="me/pairs-a")
    data_files = sorted(f for info in manifest["splits"].values() for f in info["files"])
    assert commit_paths(staged) == ["README.md", "manifest.json", *data_files]
    ops = commit_operations(staged)
    assert [op.path_in_repo for op in ops] == commit_paths(staged)
    assert all(Path(op.path_or_fileobj).is_file() for op in ops)
    # same data bytes and manifest as the build; the card names the repo it goes to
    for rel in ["manifest.json", *data_files]:
        assert (staged / rel).read_bytes() == (path / rel).read_bytes()
    card = (staged / "README.md").read_text()
    assert 'load_dataset("me/pairs-a")' in card
    assert DatasetCard(card).data.to_dict()["license"] == "mit"
    loaded = datasets.load_dataset(str(staged), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "test"} == set(manifest["splits"])
    for split, n in manifest["rows_out"].items():
        assert loaded[split].num_rows == n
        assert sorted(loaded[split]["id"]) == sorted(read_splits(path)[split]["id"].to_list())


def test_unreachable_hub_fails_clearly_retries_and_never_shows_the_token(project, capsys, caplog):
    catalog, out, _ = project
    before = _snapshot(out)
    buffer = io.StringIO()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TuluDataError) as info:
        push_build(out / "pairs_a", repo_id="me/pairs-a", catalog=catalog, console=Console(file=buffer, width=200),
                   api=HfApi(endpoint=UNREACHABLE), token=FAKE_TOKEN, policy=FAST)
    message = str(info.value)
    assert f"cannot reach the Hugging Face Hub at {UNREACHABLE}" in message and "after 3 attempts" in message
    assert buffer.getvalue().count("create repo: ConnectError; retrying") == 2
    captured = capsys.readouterr()
    _assert_secret_absent(message, repr(info.value), "".join(traceback.format_exception(info.value)), buffer.getvalue(),
                          captured.out, captured.err, caplog.text)
    assert _snapshot(out) == before  # no staged folder left behind, build untouched


class FlakyHub(BaseHTTPRequestHandler):
    """Answers 503 to the first `fail_first` requests; then creates repos (200) and refuses anything else (403)."""

    fail_first = 2
    hits: list[tuple[str, str]] = []
    seen_auth: list[str] = []

    def _answer(self) -> None:
        type(self).hits.append((self.command, self.path))
        type(self).seen_auth.append(self.headers.get("authorization", ""))
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        if len(type(self).hits) <= type(self).fail_first:
            status, body = 503, b'{"error": "try later"}'
        elif self.path == "/api/repos/create":
            status, body = 200, json.dumps({"url": f"http://127.0.0.1:{self.server.server_port}/datasets/me/x"}).encode()
        else:
            status, body = 403, b'{"error": "no write access"}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_HEAD = _answer

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def flaky_hub():
    FlakyHub.hits, FlakyHub.seen_auth = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_503s_are_retried_then_a_refusal_stops_and_nothing_is_left(project, flaky_hub):
    catalog, out, _ = project
    FlakyHub.fail_first = 2
    before = _snapshot(out)
    buffer = io.StringIO()
    with pytest.raises(TuluDataError, match=r"refused the token \(HTTP 403\)") as info:
        push_collection("test_collection", out, catalog=catalog, console=Console(file=buffer, width=200),
                        api=HfApi(endpoint=flaky_hub), token=FAKE_TOKEN, policy=RetryPolicy(attempts=4, base_delay=0.01))
    creates = [h for h in FlakyHub.hits if h == ("POST", "/api/repos/create")]
    assert len(creates) == 3  # two 503s retried, the third created the repo
    assert FlakyHub.hits[3][0] == "POST" and FlakyHub.hits[3][1] != "/api/repos/create"  # the commit's first call, refused
    assert len(FlakyHub.hits) == 4  # a refusal is not retried
    assert buffer.getvalue().count("HTTP 503; retrying") == 2
    assert all(auth == f"Bearer {FAKE_TOKEN}" for auth in FlakyHub.seen_auth)  # the token was sent ...
    _assert_secret_absent(str(info.value), "".join(traceback.format_exception(info.value)), buffer.getvalue())  # ... never shown
    assert _snapshot(out) == before  # the assembled collection (a temp folder) is gone


def test_a_hub_that_keeps_failing_gives_up_after_the_set_attempts(project, flaky_hub):
    catalog, out, _ = project
    FlakyHub.fail_first = 100
    with pytest.raises(TuluDataError, match=r"kept failing \(HTTP 503\) after 3 attempts"):
        push_build(out / "pairs_b", catalog=catalog, api=HfApi(endpoint=flaky_hub), token=FAKE_TOKEN, policy=FAST)
    assert len(FlakyHub.hits) == 3


def test_no_token_says_so_before_staging_anything(project, monkeypatch, tmp_path):
    catalog, out, _ = project
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token-file"))
    before = _snapshot(out)
    with pytest.raises(TuluDataError, match="no Hugging Face token: set the HF_TOKEN"):
        push_build(out / "pairs_a", catalog=catalog, api=HfApi(endpoint=UNREACHABLE))
    assert _snapshot(out) == before
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    assert resolve_token() == FAKE_TOKEN


def test_collection_is_assembled_in_the_hub_layout_and_loads_every_split(project, tmp_path):
    catalog, out, _ = project
    buffer = io.StringIO()
    assert push_collection("test_collection", out, catalog=catalog, dry_run=True, console=Console(file=buffer, width=200)) is None
    folder = out / "test_collection"
    manifest = read_manifest(folder)
    assert manifest["collection"] is True and list(manifest["splits"]) == ["pairs_a", "pairs_b"]
    assert commit_paths(folder) == ["README.md", "manifest.json", "data/pairs_a-00000-of-00001.parquet", "data/pairs_b-00000-of-00001.parquet"]
    assert "would commit 4 files" in buffer.getvalue() and "me/test-collection" in buffer.getvalue()
    card = (folder / "README.md").read_text()
    meta = DatasetCard(card).data.to_dict()
    assert meta["license"] == "other" and meta["license_name"].startswith("mixed")
    assert {d["split"]: d["path"] for d in meta["configs"][0]["data_files"]} == {"pairs_a": "data/pairs_a-*", "pairs_b": "data/pairs_b-*"}
    assert "| `pairs_a` |" in card and "| `pairs_b` |" in card and "- Rule A." in card and "- Rule B." in card
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"pairs_a", "pairs_b"}
    for member in ("pairs_a", "pairs_b"):
        train = read_splits(out / member)["train"]
        assert loaded[member].num_rows == train.height == manifest["rows_out"][member]
        assert pl.from_arrow(loaded[member].data.table).sort("id").equals(train.sort("id"))


def test_collection_with_an_unbuilt_member_names_it(project):
    catalog, out, _ = project
    with pytest.raises(TuluDataError, match=r"not built in .*: pairs_c\. Build them first, e\.g\. `tulu-data build pairs_c"):
        push_collection("incomplete", out, catalog=catalog, dry_run=True)
    assert not (out / "incomplete").exists()


def test_transient_errors_and_backoff():
    request = httpx2.Request("GET", "http://x")
    assert is_transient(httpx2.ConnectError("refused"))
    assert is_transient(httpx2.ReadTimeout("slow"))
    assert is_transient(HfHubHTTPError("busy", response=httpx2.Response(503, request=request)))
    assert is_transient(HfHubHTTPError("slow down", response=httpx2.Response(429, request=request)))
    assert not is_transient(HfHubHTTPError("no", response=httpx2.Response(403, request=request)))
    assert not is_transient(ValueError("bug"))
    assert [RetryPolicy(base_delay=1, factor=2, max_delay=5).delay(a) for a in (1, 2, 3, 4)] == [1, 2, 4, 5]

    calls, waits = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "ok"

    assert with_retries(flaky, RetryPolicy(attempts=5, base_delay=0.5), "x", sleep=waits.append) == "ok"
    assert waits == [0.5, 1.0]
    with pytest.raises(ValueError):
        with_retries(lambda: (_ for _ in ()).throw(ValueError("not transient")), RetryPolicy(attempts=5), "x", sleep=waits.append)
    assert waits == [0.5, 1.0]


def test_cli_push_and_build_push_fail_cleanly_without_showing_the_token(project):
    """The real commands in a subprocess, with the Hub endpoint set to an unreachable address."""
    catalog, out, tmp = project
    catalog_file = tmp / "catalog.yaml"
    import yaml

    catalog_file.write_text(yaml.safe_dump({
        "sources": {"pairs": {"hub_id": "example/pairs", "revision": "a" * 40, "format": "jsonl"}},
        "datasets": {"pairs_a": {"recipe": "_test_publish_pairs", "sources": ["pairs"], "description": "d.", "license": "mit"}},
    }))
    env = dict(os.environ, HF_TOKEN=FAKE_TOKEN, HF_ENDPOINT=UNREACHABLE, TULU_DATA_PUSH_RETRY_WAIT="0", TULU_DATA_PUSH_RETRIES="2",
               PYTHONPATH=str(Path(__file__).parent))
    before = _snapshot(out)
    # `push` of an existing build; the test recipe is registered by importing the helpers first
    code = "import publish_helpers, sys; from tulu_data.cli import app; sys.argv[0] = 'tulu-data'; app()"
    result = subprocess.run(
        [sys.executable, "-c", code, "push", "pairs_a", "--out", str(out), "--catalog", str(catalog_file), "--repo-id", "me/pairs-a"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot reach the Hugging Face Hub at http://127.0.0.1:9" in result.stderr and "after 2 attempts" in result.stderr
    assert "Traceback" not in result.stderr
    _assert_secret_absent(result.stdout, result.stderr)
    result = subprocess.run(
        [sys.executable, "-c", code, "build", "pairs_a", "--sources", str(tmp / "mirror"), "--out", str(out),
         "--catalog", str(catalog_file), "--push", "--repo-id", "me/pairs-a"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 1 and "cannot reach the Hugging Face Hub" in result.stderr, result.stdout + result.stderr
    _assert_secret_absent(result.stdout, result.stderr)
    assert _snapshot(out) == before


def test_stage_the_real_big_mixture(tmp_path):
    from tulu_data.build import build
    from tulu_data.catalog import load_catalog

    path = build("preference_big_mixture", sources="samples", out=tmp_path / "out")
    staged = stage_build(path, tmp_path / "staged", load_catalog(), repo_id="me/pbm")
    manifest = read_manifest(path)
    assert commit_paths(staged) == ["README.md", "manifest.json", *manifest["splits"]["train"]["files"]]
    loaded = datasets.load_dataset(str(staged), cache_dir=str(tmp_path / "cache"))
    assert loaded["train"].num_rows == manifest["rows_out"]["train"]
    assert "## Mixture parts" in (staged / "README.md").read_text()
