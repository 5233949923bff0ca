"""A built wheel, installed in a fresh virtual environment, used from an empty folder outside the repository.

The wheel is built from a copy of the project (nothing is written into the checkout). The fresh
environment installs it with its own pip while it sees nothing else (so this environment's own
tulu-data install is never touched), and only then reuses this environment's installed dependencies
through a path file, so nothing is downloaded; tulu-data itself comes only from the wheel.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(the fresh environment's bin folder, an environment without this checkout on any path)."""
    tmp = tmp_path_factory.mktemp("install")
    project = tmp / "project"
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("tulu_data", "training"):
        shutil.copytree(ROOT / name, project / name, ignore=ignore)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TULU_DATA_HASH_CACHE"] = str(tmp / "hash-cache.json")
    _run([sys.executable, "-m", "pip", "wheel", str(project), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "wheel")],
         tmp, env)
    (wheel,) = (tmp / "wheel").glob("tulu_data-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp, env)  # with its own pip (bundled, offline)
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel), "-q"], tmp, env)
    fresh = Path(subprocess.check_output([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                         text=True).strip())
    ours = [p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()]
    (fresh / "_dependencies.pth").write_text("\n".join(ours) + "\n")  # dependencies from here, after the install
    return venv / "bin", env


def test_the_wheel_carries_the_catalog_and_works_in_an_empty_folder(installed, tmp_path):
    bin_dir, env = installed
    where = _run([str(bin_dir / "python"), "-c", "import tulu_data; print(tulu_data.__file__)"], tmp_path, env).stdout
    assert str(ROOT) not in where and "site-packages" in where
    listed = json.loads(_run([str(bin_dir / "tulu-data"), "list", "--json"], tmp_path, env).stdout)
    assert "preference_big_mixture" in {m["name"] for m in listed["mixtures"]}
    assert len(listed["datasets"]) >= 41


def test_a_user_catalog_with_a_local_source_mixed_with_a_bundled_dataset(installed, tmp_path):
    bin_dir, env = installed
    data = tmp_path / "data" / "my_pairs.jsonl"
    data.parent.mkdir()
    rows = [{"question": f"Name {i} colour(s).", "chosen": "Red." * (i + 1), "rejected": "No."} for i in range(4)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "tulu-data.yaml").write_text(yaml.safe_dump({
        "sources": {"my_pairs": {"path": "data/my_pairs.jsonl"}},
        "datasets": {"my_dpo": {"recipe": "orca_dpo_pairs", "sources": ["my_pairs"], "description": "Mine.",
                                "license": "cc-by-4.0"}},
        "mixtures": {"my_mix": {"parts": [{"dataset": "my_dpo"}, {"dataset": "orca_dpo_pairs", "take": 2}]}},
    }))
    tulu = str(bin_dir / "tulu-data")
    _run([tulu, "build", "my_mix", "--sources", "samples"], tmp_path, env)
    shown = json.loads(_run([tulu, "show", "my_dpo", "--json"], tmp_path, env).stdout)
    assert shown["sources"][0]["path"] == str(data.resolve())
    report = json.loads(_run([tulu, "inspect", "my_mix", "--json"], tmp_path, env).stdout)
    assert report["splits"]["train"]["parts"] == {"my_dpo": 4, "orca_dpo_pairs": 2}
    loaded = _run([str(bin_dir / "python"), "-c", "import datasets; print(datasets.load_dataset('builds/my_mix')['train'].num_rows)"],
                  tmp_path, env)
    assert loaded.stdout.strip().endswith("6")
