"""CLI misuse: each mistake ends in one or two plain lines, exit 1, no traceback, and no work done."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tulu_data.cli import app
from tulu_data.cli_checks import error_lines

REPO = Path(__file__).resolve().parents[1]


def run(*args: str) -> tuple[int, list[str]]:
    """Exit code and the non-empty output lines of `tulu-data ARGS` (stderr included)."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, [line for line in result.output.splitlines() if line.strip()]


def plain_error(args: list[str], expected: str) -> list[str]:
    code, lines = run(*args)
    assert code == 1, lines
    assert lines and lines[0] == f"error: {expected}", lines
    assert len(lines) <= 2 and not any("Traceback" in line or "building" in line for line in lines), lines
    return lines


@pytest.fixture
def no_token(monkeypatch, tmp_path):
    import huggingface_hub.constants

    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token-file"))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """`builds/` holding uf_mean built from the samples (through the CLI)."""
    out = tmp_path_factory.mktemp("cli") / "builds"
    code, lines = run("build", "uf_mean", "--sources", "samples", "--out", str(out))
    assert code == 0, lines
    return out


# ---- --out, --sources, --repo-id, the token: checked before the build -------------------------


def test_out_that_is_a_file_fails_before_building(tmp_path):
    afile = tmp_path / "builds.txt"
    afile.write_text("notes\n")
    plain_error(["build", "uf_mean", "--sources", "samples", "--out", str(afile)],
                f"--out {afile} is a file, not a folder: give a folder for the builds")
    plain_error(["build", "uf_mean", "--sources", "samples", "--out", str(afile / "sub")],
                f"--out {afile / 'sub'}: {afile} is a file, so no folder can be made there")
    plain_error(["inspect", "--out", str(afile)], f"--out {afile} is a file, not a folder: give a folder for the builds")
    assert afile.read_text() == "notes\n" and sorted(p.name for p in tmp_path.iterdir()) == ["builds.txt"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_out_without_write_permission(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    plain_error(["build", "uf_mean", "--sources", "samples", "--out", str(locked / "b")],
                f"--out {locked / 'b'}: no permission to write in {locked}")


def test_missing_sources_folder(tmp_path):
    plain_error(["build", "uf_mean", "--sources", str(tmp_path / "mirrors"), "--out", str(tmp_path / "b")],
                f"--sources {tmp_path / 'mirrors'}: no such folder (give 'hub', 'samples', or a mirror folder DIR)")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("repo_id", ["my org/data", "a/b/c", "org/-data", "org/da--ta", "x" * 97])
def test_bad_repo_id_fails_before_building(tmp_path, repo_id):
    message = f"--repo-id {repo_id!r} is not a Hub repo id: write NAME or OWNER/NAME"
    code, lines = run("build", "uf_mean", "--sources", "samples", "--out", str(tmp_path / "b"), "--push", "--repo-id", repo_id)
    assert code == 1 and len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines
    assert not (tmp_path / "b").exists()
    code, lines = run("push", "uf_mean", "--out", str(tmp_path / "b"), "--repo-id", repo_id)
    assert code == 1 and lines[0].startswith(f"error: {message}"), lines


def test_push_without_a_token_fails_before_building(tmp_path, no_token):
    plain_error(["build", "uf_mean", "--sources", "samples", "--out", str(tmp_path / "b"), "--push", "--repo-id", "me/uf"],
                "no Hugging Face token: set the HF_TOKEN environment variable or log in with `hf auth login` "
                "(the token needs write access to the target repo)")
    assert not (tmp_path / "b").exists()


# ---- names ----------------------------------------------------------------------------------


def test_unknown_names_get_a_did_you_mean(built):
    plain_error(["build", "uf_mea", "--sources", "samples", "--out", str(built)],
                "'uf_mea' is neither a catalog dataset, a mixture nor a collection (did you mean 'uf_mean'?); "
                "`tulu-data list` shows them all")
    plain_error(["inspect", "uf_mea", "--out", str(built)],
                f"'uf_mea': no build of that name in {built} (did you mean 'uf_mean'?) (built there: uf_mean, "
                "ultrafeedback_mean_aspects); not a local path either. Build it with `tulu-data build NAME`, or pass "
                "a folder, a .jsonl/.parquet file, or a Hub dataset id.")
    plain_error(["push", "uf_meam", "--out", str(built), "--dry-run"],
                f"no build of 'uf_meam' in {built} (did you mean 'uf_mean'?); build it first with "
                f"`tulu-data build uf_meam --out {built}`")


@pytest.mark.parametrize("name", ["../uf_mean", "/tmp/uf_mean", ".uf_mean"])
def test_names_that_are_paths_are_refused_by_build_and_push(tmp_path, name):
    out = tmp_path / "inner" / "builds"
    code, lines = run("build", name, "--sources", "samples", "--out", str(out))
    assert code == 1 and len(lines) == 1 and ("is a path, not a name" in lines[0] or "not a plain name" in lines[0])
    code, lines = run("push", name, "--out", str(out), "--dry-run")
    assert code == 1 and len(lines) == 1 and ("is a path, not a name" in lines[0] or "not a plain name" in lines[0])
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# ---- inputs of the wrong shape ----------------------------------------------------------------


def test_compare_against_a_reference_with_plain_string_pairs(built, tmp_path):
    reference = tmp_path / "released.jsonl"
    reference.write_text(json.dumps({"prompt": "hi", "chosen": "a", "rejected": "b"}) + "\n")
    plain_error(["compare", "uf_mean", "--reference", str(reference), "--out", str(built)],
                f"reference {reference}: column 'chosen' holds String, not conversations (lists of {{role, content}} "
                "messages, as tulu-data builds and the released Tulu datasets have)")


@pytest.mark.parametrize(("row", "column", "dtype"), [
    ({"messages": "just text"}, "messages", "String"),
    ({"chosen": ["a", "b"], "rejected": ["a", "c"]}, "chosen", "List(String)"),
])
def test_inspect_a_file_whose_conversations_are_not_messages(tmp_path, row, column, dtype):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(row) + "\n")
    plain_error(["inspect", str(path)], f"file {path}, split train: column {column!r} holds {dtype}, not conversations "
                "(lists of {role, content} messages, as tulu-data builds and the released Tulu datasets have)")


# ---- unexpected errors and the traceback switch --------------------------------------------------


def test_unexpected_errors_are_two_lines_with_a_hint():
    assert error_lines(ValueError("bad\n  value")) == [
        "ValueError: bad value",
        "this is unexpected: rerun with --debug (or TULU_DATA_DEBUG=1) for the traceback, and please report it",
    ]
    assert error_lines(FileNotFoundError(2, "No such file or directory", "/x/y")) == ["No such file or directory: /x/y"]


def _cli(args: list[str], **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO), **env}
    environment.pop("TULU_DATA_DEBUG", None) if "TULU_DATA_DEBUG" not in env else None
    return subprocess.run([sys.executable, "-m", "tulu_data.cli", *args], capture_output=True, text=True,
                          env=environment, cwd=REPO, timeout=120)


def test_debug_anywhere_on_the_line_or_the_env_var_shows_the_traceback(tmp_path):
    args = ["build", "../x", "--out", str(tmp_path)]
    plain = _cli(args)
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.strip().splitlines()[-1].startswith("error: '../x' is a path, not a name")
    for result in (_cli([*args, "--debug"]), _cli(["--debug", *args]), _cli(args, TULU_DATA_DEBUG="1")):
        assert result.returncode == 1 and "Traceback (most recent call last)" in result.stderr
        assert "TuluDataError: '../x' is a path, not a name" in result.stderr
