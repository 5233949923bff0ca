"""User catalogs layered on the built-in one: local sources, datasets and mixtures without Python."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from tulu_data.catalog import load_catalog
from tulu_data.cli import app
from tulu_data.errors import CatalogError
from tulu_data.sources import SAMPLES_DIR
from tulu_data.writer import read_manifest

PAIRS = [{"question": f"What is {i} + {i}?", "chosen": f"It is {2 * i}.", "rejected": f"It is {2 * i + 1}."} for i in range(5)]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def user_project(root: Path, extra: dict | None = None) -> Path:
    """A folder with data/my_pairs.jsonl and a tulu-data.yaml declaring it, a dataset and a mixture."""
    write_jsonl(root / "data" / "my_pairs.jsonl", PAIRS)
    doc = {
        "sources": {"my_pairs": {"path": "data/my_pairs.jsonl", "license": "cc-by-4.0"}},
        "datasets": {
            "my_dpo": {"recipe": "orca_dpo_pairs", "sources": ["my_pairs"], "description": "My pairs.",
                       "license": "cc-by-4.0", "params": {"label": "my_dpo"}},
        },
        "mixtures": {
            "my_mix": {"description": "Mine and HelpSteer.", "license": "other",
                       "parts": [{"dataset": "my_dpo", "take": "all"}, {"dataset": "helpsteer", "take": 3}]},
        },
        **(extra or {}),
    }
    (root / "tulu-data.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root / "tulu-data.yaml"


def run(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, args, env={"COLUMNS": "160"})


def test_tulu_data_yaml_in_a_parent_folder_adds_sources_datasets_and_mixtures(tmp_path, monkeypatch):
    user_project(tmp_path / "project")
    (tmp_path / "project" / "work").mkdir()
    monkeypatch.chdir(tmp_path / "project" / "work")
    catalog = load_catalog()
    assert "my_dpo" in catalog.datasets and "helpsteer" in catalog.datasets and "my_mix" in catalog.mixtures
    assert catalog.sources["my_pairs"].path == str((tmp_path / "project" / "data" / "my_pairs.jsonl").resolve())
    assert catalog.where("my_dpo") == str((tmp_path / "project" / "tulu-data.yaml").resolve())
    assert "my_dpo" not in load_catalog(user=False).datasets


def test_a_local_source_builds_and_its_file_is_hashed_into_the_manifest(tmp_path, monkeypatch):
    user_project(tmp_path)
    result = run(["build", "my_dpo", "--out", "builds"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    manifest = read_manifest(tmp_path / "builds" / "my_dpo")
    assert manifest["rows_out"] == {"train": 5}
    (source,) = manifest["sources"]
    assert source["mode"] == "local" and source["files"][0]["path"] == "my_pairs.jsonl" and len(source["files"][0]["sha256"]) == 64
    write_jsonl(tmp_path / "data" / "my_pairs.jsonl", PAIRS[:4])  # a changed file is a new fingerprint
    assert run(["build", "my_dpo", "--out", "builds"], tmp_path, monkeypatch).exit_code == 0
    assert read_manifest(tmp_path / "builds" / "my_dpo")["rows_out"] == {"train": 4}


def test_a_mixture_of_a_local_and_a_bundled_dataset_records_each_rows_part(tmp_path, monkeypatch):
    user_project(tmp_path)
    result = run(["build", "my_mix", "--sources", "samples", "--out", "builds"], tmp_path, monkeypatch)
    assert result.exit_code == 0, result.output
    rows = pl.read_parquet(next((tmp_path / "builds" / "my_mix" / "data").glob("*.parquet")))
    assert rows.group_by("part").len().sort("part").rows() == [("helpsteer", 3), ("my_dpo", 5)]
    assert set(rows.filter(pl.col("part") == "my_dpo")["source"]) == {"my_dpo"}
    inspected = run(["inspect", "my_mix", "--out", "builds", "--json"], tmp_path, monkeypatch)
    assert json.loads(inspected.output)["splits"]["train"]["parts"] == {"my_dpo": 5, "helpsteer": 3}


def test_mixture_files_next_to_a_user_catalog_and_catalog_flags(tmp_path, monkeypatch):
    user_project(tmp_path / "a")
    extra = tmp_path / "b" / "more.yaml"
    extra.parent.mkdir()
    extra.write_text(yaml.safe_dump({"datasets": {"orca_again": {
        "recipe": "orca_dpo_pairs", "sources": ["orca_dpo_pairs"], "description": "x", "license": "mit"}}}))
    (tmp_path / "b" / "mixtures").mkdir()
    (tmp_path / "b" / "mixtures" / "b_mix.yaml").write_text(yaml.safe_dump({"parts": [{"dataset": "orca_again", "take": 2}]}))
    monkeypatch.setenv("TULU_DATA_CATALOG", str(extra))
    monkeypatch.chdir(tmp_path / "a")
    catalog = load_catalog()
    assert {"my_dpo", "orca_again"} <= set(catalog.datasets) and {"my_mix", "b_mix"} <= set(catalog.mixtures)
    assert catalog.files[1:] == (tmp_path / "a" / "tulu-data.yaml", extra)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"datasets": {"helpsteer": {"recipe": "helpsteer", "sources": ["helpsteer"], "description": "x", "license": "x"}}},
         r"dataset 'helpsteer' is defined twice: in .*builtin/catalog\.yaml and in .*mine\.yaml"),
        ({"mixtures": {"uf_mean": {"parts": [{"dataset": "helpsteer"}]}}},
         r"mixture 'uf_mean' is defined twice: in .*builtin/mixtures/uf_mean\.yaml and in .*mine\.yaml"),
        ({"datasets": {"x": {"recipe": "helpstear", "sources": ["helpsteer"], "description": "x", "license": "x"}}},
         r"mine\.yaml: datasets\.x: field 'recipe' names unknown recipe 'helpstear' \(did you mean 'helpsteer'\?\)"),
        ({"datasets": {"x": {"recipe": "helpsteer", "sources": ["help_steer"], "description": "x", "license": "x"}}},
         r"mine\.yaml: datasets\.x: field 'sources' names unknown source 'help_steer' \(did you mean 'helpsteer'\?\)"),
        ({"sources": {"s": {"format": "jsonl"}}},
         r"mine\.yaml: sources\.s: missing required field 'hub_id' .*local files need `path:`"),
        ({"dataset": {}}, r"mine\.yaml: unknown section\(s\) \['dataset'\]"),
    ],
)
def test_user_catalog_errors_name_the_file_entry_and_field(tmp_path, doc, message):
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(CatalogError, match=message):
        load_catalog(path, user=False)


def test_a_mixture_error_in_a_user_catalog_names_its_file_and_line(tmp_path, monkeypatch):
    user_project(tmp_path, {"mixtures": {"bad_mix": {"parts": [{"dataset": "my_dpo", "take": "lots"}]}}})
    result = run(["build", "bad_mix", "--out", "builds"], tmp_path, monkeypatch)
    assert result.exit_code == 1
    assert f"{tmp_path / 'tulu-data.yaml'}, line" in result.output and "take" in result.output
    assert "Traceback" not in result.output


def test_source_override_reads_one_source_from_another_folder(tmp_path, monkeypatch):
    shutil.copytree(SAMPLES_DIR / "helpsteer", tmp_path / "elsewhere")
    result = run(["build", "helpsteer", "--sources", "hub", "--source", "helpsteer=elsewhere", "--out", "b"], tmp_path,
                 monkeypatch)
    assert result.exit_code == 0, result.output
    baseline = run(["build", "helpsteer", "--sources", "samples", "--out", "c"], tmp_path, monkeypatch)
    assert baseline.exit_code == 0
    data = [sorted((tmp_path / out / "helpsteer" / "data").glob("*.parquet"))[0].read_bytes() for out in ("b", "c")]
    assert data[0] == data[1]
    bad = run(["build", "helpsteer", "--source", "helpstear=elsewhere", "--out", "b"], tmp_path, monkeypatch)
    assert bad.exit_code == 1 and "did you mean 'helpsteer'" in bad.output


def test_show_list_and_recipes_describe_the_catalog_as_json(tmp_path, monkeypatch):
    user_project(tmp_path)
    shown = json.loads(run(["show", "my_mix", "--json"], tmp_path, monkeypatch).output)
    assert shown["type"] == "mixture" and [p["dataset"] for p in shown["parts"]] == ["my_dpo", "helpsteer"]
    dataset = json.loads(run(["show", "ultrafeedback_mean_aspects", "--json"], tmp_path, monkeypatch).output)
    assert dataset["recipe"]["name"] == "ultrafeedback_mean_aspects" and dataset["rules"] and dataset["sources"][0]["revision"]
    listing = json.loads(run(["list", "--json"], tmp_path, monkeypatch).output)
    assert {"my_dpo", "helpsteer"} <= {d["name"] for d in listing["datasets"]}
    recipes = json.loads(run(["recipes", "--json"], tmp_path, monkeypatch).output)
    assert "my_dpo" in next(r for r in recipes if r["name"] == "orca_dpo_pairs")["used_by"]
    typo = run(["show", "UF_MEAN"], tmp_path, monkeypatch)
    assert typo.exit_code == 1 and "did you mean 'uf_mean'" in typo.output


def test_shell_completion_offers_catalog_names(tmp_path, monkeypatch):
    from tulu_data.cli_common import complete_names

    user_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert complete_names("my_") == ["my_dpo", "my_mix"]
    assert "ultrafeedback_mean_aspects" in complete_names("ultrafeedback_m")


def test_dpo_trains_on_a_user_mixture_named_in_tulu_data_yaml(tmp_path, monkeypatch, single_torch_thread):
    from training import dpo

    user_project(tmp_path)
    monkeypatch.chdir(tmp_path)
    run = dpo.main([
        "--mix", "my_mix", "--sources", "samples", "--builds_dir", str(tmp_path / "builds"), "--model", "tiny",
        "--output_dir", str(tmp_path / "out"), "--num_train_epochs", "1", "--per_device_train_batch_size", "2",
        "--effective_batch_size", "0", "--max_length", "256", "--save_strategy", "no", "--disable_tqdm", "true",
    ])  # fmt: skip
    assert run.tokenized is not None and run.tokenized.stats["rows"] == 8  # 5 of mine + 3 of HelpSteer
    assert (tmp_path / "out" / "config.json").is_file()


def test_every_recipe_says_what_it_reads(tmp_path, monkeypatch):
    records = json.loads(run(["recipes", "--json"], tmp_path, monkeypatch).output)
    assert records and all(r["reads"] for r in records), [r["name"] for r in records if not r["reads"]]
    helpsteer = next(r for r in records if r["name"] == "helpsteer")
    assert "helpfulness" in helpsteer["reads"] and helpsteer["used_by"] == ["helpsteer"]
    rated = next(r for r in records if r["name"] == "rated")
    assert rated["configurable"] and "required" in rated["params"]["rule"]


def test_decontam_finds_a_mixture_of_a_catalog_given_with_the_flag(tmp_path, monkeypatch):
    catalog = user_project(tmp_path / "elsewhere")
    (tmp_path / "work").mkdir()
    result = run(["decontam", "my_mix", "--catalog", str(catalog), "--sources", "samples", "--out", "b", "--json"],
                 tmp_path / "work", monkeypatch)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["splits"]["train"]["rows_in"] == 8
