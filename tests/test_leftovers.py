"""Interrupted builds: the next build of the same target removes what they left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import qa_rows, write_jsonl

from tulu_data.build import Builder
from tulu_data.catalog import parse_catalog

TESTS = Path(__file__).resolve().parent
CATALOG = {
    "sources": {"qa": {"hub_id": "example/qa", "revision": "0" * 40, "format": "jsonl"}},
    "datasets": {
        name: {"recipe": "_test_qa_pairs", "sources": ["qa"], "description": "d.", "license": "mit"}
        for name in ("qa_small", "qa_other")
    },
}

# Builds qa_small and is killed (SIGKILL, no clean-up possible) just before the finished folder is renamed.
KILLED_BUILD = """
import json, os, signal, sys
from pathlib import Path
import conftest  # registers the test recipe
from tulu_data import writer
from tulu_data.build import Builder
from tulu_data.catalog import parse_catalog
writer.replace_dir = lambda tmp, target: os.kill(os.getpid(), signal.SIGKILL)
mirror, out, catalog = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
Builder(catalog=parse_catalog(catalog), sources=mirror, out=out).build(sys.argv[4])
"""


def killed_build(mirror: Path, out: Path, name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", KILLED_BUILD, str(mirror), str(out), json.dumps(CATALOG), name],
        cwd=TESTS, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == -9, result.stderr[-2000:]


def hidden(out: Path) -> list[str]:
    return sorted(p.name.split("-")[0] for p in out.iterdir() if p.name.startswith("."))


def test_next_build_removes_what_a_killed_build_left(tmp_path):
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    write_jsonl(mirror / "qa" / "rows.jsonl", qa_rows(8))
    killed_build(mirror, out, "qa_small")
    killed_build(mirror, out, "qa_other")
    assert hidden(out) == [".qa_other.tmp", ".qa_small.tmp"] and not (out / "qa_small").exists()
    leftover = next(out.glob(".qa_small.tmp-*"))
    assert (leftover / "manifest.json").is_file()  # a whole build, written and never moved into place

    (out / ".qa_small.tmp-1a2b3c4d").mkdir()  # the name an earlier version gave its temporary folders
    builder = Builder(catalog=parse_catalog(CATALOG), sources=str(mirror), out=out)
    path = builder.build("qa_small")
    assert json.loads((path / "manifest.json").read_text())["rows_out"] == {"train": 8}
    assert hidden(out) == [".qa_other.tmp"]  # another target's leftovers wait for its own next build
    builder.build("qa_other")
    assert hidden(out) == [] and sorted(p.name for p in out.iterdir()) == ["qa_other", "qa_small"]


def test_a_running_build_keeps_its_folder(tmp_path):
    mirror, out = tmp_path / "mirror", tmp_path / "out"
    write_jsonl(mirror / "qa" / "rows.jsonl", qa_rows(8))
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = out / f".qa_small.tmp-{live.pid}-0badcafe"
        busy.mkdir(parents=True)
        Builder(catalog=parse_catalog(CATALOG), sources=str(mirror), out=out).build("qa_small")
        assert busy.is_dir()  # a concurrent writer's folder is not pulled away from under it
    finally:
        live.kill()
        live.wait()
    Builder(catalog=parse_catalog(CATALOG), sources=str(mirror), out=out, force=True).build("qa_small")
    assert not busy.exists()
