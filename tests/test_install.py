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


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _user_data(root: Path) -> dict:
    """One small jsonl file per generic recipe, and a tulu-data.yaml declaring them, datasets and two mixtures."""
    n = range(4)
    _jsonl(root / "data" / "chats.jsonl", [{"messages": [{"role": "user", "content": f"Hi {i}"},
                                                        {"role": "assistant", "content": f"Hello {i}!"}]} for i in n])
    _jsonl(root / "data" / "alpaca.jsonl", [{"instruction": f"Add {i} and 1.", "input": "", "output": f"{i + 1}"} for i in n])
    _jsonl(root / "data" / "sharegpt.jsonl", [{"conversations": [{"from": "human", "value": f"Q{i}?"},
                                                               {"from": "gpt", "value": f"A{i}."}]} for i in n])
    _jsonl(root / "data" / "pairs.jsonl", [{"prompt": f"Name {i} colour(s).", "chosen": "Red." * (i + 1),
                                           "rejected": "No."} for i in n])
    _jsonl(root / "data" / "rated.jsonl", [{"prompt": f"P{i}", "response": f"R{i}-{k}", "score": k} for i in n for k in range(3)])
    recipes = {"chats": "conversations", "alpaca": "instruction_input_output", "sharegpt": "sharegpt",
               "pairs": "prompt_chosen_rejected", "rated": "rated"}
    doc = {
        "sources": {f"my_{key}": {"path": f"data/{key}.jsonl"} for key in recipes},
        "datasets": {
            f"my_{key}": {"recipe": recipe, "sources": [f"my_{key}"], "description": f"My {key}.", "license": "cc-by-4.0",
                          **({"params": {"rule": "best_vs_worst"}} if recipe == "rated" else {})}
            for key, recipe in recipes.items()
        },
        "mixtures": {
            "my_sft": {"parts": [{"dataset": "my_chats"}, {"dataset": "my_alpaca"}, {"dataset": "my_sharegpt"},
                                 {"dataset": "flan_v2", "take": 2}]},
            "my_prefs": {"parts": [{"dataset": "my_pairs"}, {"dataset": "my_rated"}, {"dataset": "orca_dpo_pairs", "take": 2}]},
        },
    }
    (root / "tulu-data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return doc


def test_user_data_for_every_generic_recipe_mixed_with_bundled_datasets(installed, tmp_path):
    """No Python written: jsonl files, a tulu-data.yaml, and the installed command line."""
    bin_dir, env = installed
    _user_data(tmp_path)
    tulu = str(bin_dir / "tulu-data")
    for mixture in ("my_sft", "my_prefs"):
        _run([tulu, "build", mixture, "--sources", "samples"], tmp_path, env)
    sft = json.loads(_run([tulu, "inspect", "my_sft", "--json"], tmp_path, env).stdout)
    assert sft["splits"]["train"]["parts"] == {"my_chats": 4, "my_alpaca": 4, "my_sharegpt": 4, "flan_v2": 2}
    prefs = json.loads(_run([tulu, "inspect", "my_prefs", "--json"], tmp_path, env).stdout)
    assert prefs["splits"]["train"]["parts"] == {"my_pairs": 4, "my_rated": 4, "orca_dpo_pairs": 2}
    shown = json.loads(_run([tulu, "show", "my_rated", "--json"], tmp_path, env).stdout)
    assert shown["recipe"]["name"] == "rated" and shown["sources"][0]["path"] == str((tmp_path / "data" / "rated.jsonl").resolve())
    recipes = json.loads(_run([tulu, "recipes", "--json"], tmp_path, env).stdout)
    assert {"conversations", "instruction_input_output", "sharegpt", "prompt_chosen_rejected", "rated"} <= {
        r["name"] for r in recipes if r["configurable"]}
    loaded = _run([str(bin_dir / "python"), "-c", "import datasets; print(datasets.load_dataset('builds/my_prefs')['train'].num_rows)"],
                  tmp_path, env)
    assert loaded.stdout.strip().endswith("10")


def test_a_user_catalog_mistake_is_one_plain_line(installed, tmp_path):
    bin_dir, env = installed
    doc = _user_data(tmp_path)
    doc["datasets"]["my_rated"]["params"] = {"rule": "best_vs_wrost"}
    (tmp_path / "tulu-data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    result = subprocess.run([str(bin_dir / "tulu-data"), "build", "my_prefs"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "tulu-data.yaml: datasets.my_rated: param 'rule' must be one of" in result.stderr
