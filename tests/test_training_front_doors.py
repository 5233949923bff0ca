"""Training entry-point misuse: one or two plain lines, a non-zero exit, no traceback, no work done;
and a `--help` that answers before trl and torch are imported."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from training import dpo, ppo, rm, sft
from training.front_door import ENTRY_POINTS, TrainingInputError, recipe_flags, report_error, run_entry
from training.synthetic import write_preferences, write_prompts, write_sft

REPO = Path(__file__).resolve().parents[1]
MODULES = {"sft": sft, "dpo": dpo, "rm": rm, "ppo": ppo}
QUICK = ["--max_steps", "1", "--disable_tqdm", "true"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    return {"sft": write_sft(root / "sft", 8), "preference": write_preferences(root / "pref", 8),
            "prompts": write_prompts(root / "prompts", 8), "root": root}


def entry_error(task: str, argv: list[str], monkeypatch, capsys) -> tuple[int, list[str]]:
    """Run an entry point as `python -m training.TASK` runs it; its exit code and stderr lines."""
    monkeypatch.setattr(sys, "argv", [f"training/{task}.py", *argv])
    monkeypatch.delenv("TULU_DATA_DEBUG", raising=False)
    module = MODULES[task]
    with pytest.raises(SystemExit) as exit_info:
        run_entry(task, module.parse_args, module.train)
    lines = [line for line in capsys.readouterr().err.splitlines() if "python -m training" in line]
    return exit_info.value.code, lines


def assert_plain(task, argv, expected, monkeypatch, capsys, tmp_path) -> None:
    out = tmp_path / "run"
    code, lines = entry_error(task, [*argv, "--output_dir", str(out)], monkeypatch, capsys)
    assert code == 2 and lines == [f"python -m training.{task}: error: {expected}"], lines


# ---- flags ----------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["sft", "dpo", "rm", "ppo"])
def test_no_mix(task, monkeypatch, capsys, tmp_path):
    expected = ("--mix is required" if task == "ppo" else
                "--mix is required (a catalog name, a local dataset folder or a Hub dataset id)")
    assert_plain(task, ["--model", "tiny", "--reward_model", "tiny"] if task == "ppo" else ["--model", "tiny"],
                 expected, monkeypatch, capsys, tmp_path)


def test_unknown_flag_and_bad_value_are_plain(monkeypatch, capsys, tmp_path, data):
    assert_plain("dpo", ["--mix", str(data["preference"]), "--model", "tiny", "--max_length", "0"],
                 "--max_length must be at least 1, got 0", monkeypatch, capsys, tmp_path)
    code, lines = entry_error("sft", ["--mix", "x", "--model", "tiny", "--effective_batch_size", "7",
                                      "--per_device_train_batch_size", "2"], monkeypatch, capsys)
    assert code == 2 and lines == [
        "python -m training.sft: error: effective batch size 7 is not a multiple of per-device batch 2 x 1 processes"]


# ---- the kind of rows, before anything is built, tokenized or loaded -----------------------------


@pytest.mark.parametrize(("task", "given", "expected"), [
    ("dpo", "sft", "preference rows (columns chosen, rejected)"),
    ("rm", "sft", "preference rows (columns chosen, rejected)"),
    ("sft", "preference", "sft rows (columns messages)"),
    ("sft", "prompts", "sft rows (columns messages)"),
])
def test_wrong_kind_of_folder_is_named_before_tokenizing(task, given, expected, data, monkeypatch, capsys,
                                                          tmp_path, isolated_token_cache):
    columns = {"sft": "dataset, id, messages", "preference": "chosen, id, rejected, score_chosen, score_rejected, source",
               "prompts": "id, prompt, source"}[given]
    assert_plain(task, ["--mix", str(data[given]), "--model", "tiny"],
                 f"--mix {data[given]} has {given} rows (columns found: {columns}); this entry point needs {expected}",
                 monkeypatch, capsys, tmp_path)
    assert not isolated_token_cache.exists() and not (tmp_path / "run").exists()


def test_rows_of_no_known_kind(monkeypatch, capsys, tmp_path):
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "data.jsonl").write_text(json.dumps({"text": "hello", "label": 1}) + "\n")
    assert_plain("sft", ["--mix", str(folder), "--model", "tiny"],
                 f"--mix {folder} has no known kind of rows (columns found: label, text); this entry point needs "
                 "sft rows (columns messages)", monkeypatch, capsys, tmp_path)


def test_plain_text_pairs_are_not_conversations(monkeypatch, capsys, tmp_path):
    folder = tmp_path / "hh"  # the shape of Anthropic/hh-rlhf's own files: whole transcripts as text
    folder.mkdir()
    (folder / "data.jsonl").write_text(json.dumps({"chosen": "Human: hi Assistant: hello", "rejected": "Human: hi Assistant: no"}) + "\n")
    assert_plain("dpo", ["--mix", str(folder), "--model", "tiny"],
                 f"--mix {folder}: column 'chosen' holds Value('string'), not a conversation (a list of "
                 "{role, content} messages)", monkeypatch, capsys, tmp_path)


def test_catalog_mixture_of_the_wrong_kind_is_refused_without_building(monkeypatch, capsys, tmp_path):
    builds = tmp_path / "builds"
    assert_plain("dpo", ["--mix", "tulu_v2_sft_mixture", "--sources", "samples", "--builds_dir", str(builds),
                         "--model", "tiny"],
                 "--mix tulu_v2_sft_mixture gives sft rows (columns messages); this entry point needs preference "
                 "rows (columns chosen, rejected)", monkeypatch, capsys, tmp_path)
    assert not builds.exists()


def test_build_folder_kind_comes_from_its_manifest(data, monkeypatch, capsys, tmp_path):
    folder = tmp_path / "built"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"kind": "sft"}))
    assert_plain("rm", ["--mix", str(folder), "--model", "tiny"],
                 f"--mix {folder} gives sft rows (columns messages); this entry point needs preference rows "
                 "(columns chosen, rejected)", monkeypatch, capsys, tmp_path)


@pytest.mark.parametrize(("mix", "expected"), [
    ("uf_mea", "--mix uf_mea: not a catalog dataset or mixture (did you mean 'uf_mean'?), nor a local folder "
               "(`tulu-data list` shows the names)"),
    ("tulu_2.5_preference_data", "--mix tulu_2.5_preference_data is a collection: train on one of its members, "
                                 "e.g. ultrafeedback_mean_aspects"),
    ("./no_such_folder", "--mix ./no_such_folder: no such folder"),
    ("/no/such/folder", "--mix /no/such/folder: no such folder"),
])
def test_unknown_mix(mix, expected, monkeypatch, capsys, tmp_path):
    assert_plain("dpo", ["--mix", mix, "--model", "tiny"], expected, monkeypatch, capsys, tmp_path)


def test_folders_that_are_files_and_missing_sources(data, monkeypatch, capsys, tmp_path):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    mix = ["--mix", str(data["preference"]), "--model", "tiny"]
    code, lines = entry_error("dpo", [*mix, "--output_dir", str(afile)], monkeypatch, capsys)
    assert code == 2 and lines == [f"python -m training.dpo: error: --output_dir {afile} is a file, not a folder: "
                                   "give a folder for the checkpoints"], lines
    assert_plain("dpo", [*mix, "--builds_dir", str(afile / "b")],
                 f"--builds_dir {afile / 'b'}: {afile} is a file, so no folder can be made there", monkeypatch, capsys, tmp_path)
    assert_plain("dpo", ["--mix", "uf_mean", "--model", "tiny", "--sources", str(tmp_path / "mirrors")],
                 f"--sources {tmp_path / 'mirrors'}: no such folder (give 'hub', 'samples', or a mirror folder DIR)",
                 monkeypatch, capsys, tmp_path)
    assert afile.read_text() == "x"


def test_mix_that_is_a_file(data, monkeypatch, capsys, tmp_path):
    file = next(data["preference"].rglob("*.parquet"))
    assert_plain("dpo", ["--mix", str(file), "--model", "tiny"],
                 f"--mix {file} is a file: give the dataset folder that holds it", monkeypatch, capsys, tmp_path)


# ---- models ---------------------------------------------------------------------------------


def test_bad_model_flags(data, monkeypatch, capsys, tmp_path, isolated_token_cache):
    pref = str(data["preference"])
    parquet = next(data["preference"].rglob("*.parquet"))
    cases = [
        ("dpo", ["--model", str(tmp_path / "ckpt")], f"--model {tmp_path / 'ckpt'}: no such folder"),
        ("dpo", ["--model", str(data["root"])],
         f"--model {data['root']}: this folder has no config.json, so it is not a model checkpoint "
         "(a training run saves one in its --output_dir)"),
        ("rm", ["--model", str(parquet)],
         f"--model {parquet} is a file: give a checkpoint folder (with config.json) or a Hub model id"),
        ("dpo", ["--model", "tiny", "--ref_model", "not a model"],
         "--ref_model 'not a model': neither a local folder nor a Hub model id (owner/name)"),
        ("ppo", ["--model", "tiny", "--reward_model", "runs/rm/"], "--reward_model runs/rm/: no such folder"),
    ]
    for task, flags, expected in cases:
        mix = str(data["prompts"]) if task == "ppo" else pref
        assert_plain(task, ["--mix", mix, *flags], expected, monkeypatch, capsys, tmp_path)
    assert not isolated_token_cache.exists()


def test_hub_model_not_cached_while_offline(data, monkeypatch, capsys, tmp_path):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty_cache"))
    assert_plain("sft", ["--mix", str(data["sft"]), "--model", "someone/some-model"],
                 "--model someone/some-model: no such local folder, and not in the Hub cache while HF_HUB_OFFLINE is set",
                 monkeypatch, capsys, tmp_path)


# ---- nothing left after tokenizing ----------------------------------------------------------------


@pytest.mark.parametrize(("task", "kind", "reason"), [
    ("sft", "sft", "dropped_all_labels_masked: 8"),
    ("dpo", "preference", "dropped_too_long: 8"),
    ("rm", "preference", "dropped_too_long: 8"),
])
def test_max_length_one_says_what_took_the_rows(task, kind, reason, data, monkeypatch, capsys, tmp_path,
                                                isolated_token_cache, single_torch_thread):
    assert_plain(task, ["--mix", str(data[kind]), "--model", "tiny", "--max_length", "1", "--effective_batch_size", "0", *QUICK],
                 f"no rows left to train on: all 8 rows of --mix {data[kind]} were dropped ({reason}); "
                 "--max_length 1 may be too short", monkeypatch, capsys, tmp_path)
    assert not (tmp_path / "run").exists()


def test_ppo_prompts_all_too_long(data, monkeypatch, capsys, tmp_path, single_torch_thread):
    assert_plain("ppo", ["--mix", str(data["prompts"]), "--model", "tiny", "--reward_model", "tiny",
                         "--max_prompt_length", "1", "--max_steps", "1"],
                 f"no rows left to train on: all 8 rows of --mix {data['prompts']} were dropped "
                 "(dropped_empty_or_too_long: 8); --max_prompt_length 1 may be too short", monkeypatch, capsys, tmp_path)


# ---- unexpected errors, the debug switch, a real process ---------------------------------------------


def test_unexpected_error_is_two_lines(capsys):
    assert report_error("dpo", RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")) == 1
    assert capsys.readouterr().err.splitlines() == [
        "python -m training.dpo: error: RuntimeError: CUDA out of memory.",
        "this is unexpected: rerun with TULU_DATA_DEBUG=1 for the traceback, and please report it",
    ]
    assert report_error("sft", FileNotFoundError(2, "No such file or directory", "x")) == 2


def test_debug_env_raises_the_original_error(data, monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "argv", ["x", "--mix", str(tmp_path / "nope"), "--model", "tiny"])
    monkeypatch.setenv("TULU_DATA_DEBUG", "1")
    with pytest.raises(TrainingInputError, match="no such folder"):
        run_entry("dpo", dpo.parse_args, dpo.train)


def _python_m(task: str, *args: str, importtime: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    env.pop("TULU_DATA_DEBUG", None)
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run([sys.executable, *flags, "-m", f"training.{task}", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def test_real_process_sft_data_to_dpo(data, tmp_path):
    result = _python_m("dpo", "--mix", str(data["sft"]), "--model", "tiny", "--output_dir", str(tmp_path / "o"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"python -m training.dpo: error: --mix {data['sft']} has sft rows (columns found: dataset, id, messages); "
        "this entry point needs preference rows (columns chosen, rejected)")


# ---- --help -------------------------------------------------------------------------------------


HEAVY = ("torch", "trl", "transformers", "datasets", "accelerate")


@pytest.mark.parametrize("task", ["sft", "dpo", "rm", "ppo"])
def test_help_is_short_names_the_module_and_imports_nothing_heavy(task):
    result = _python_m(task, "--help", importtime=True)
    assert result.returncode == 0, result.stderr[-2000:]
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert "training" in imported and not imported & set(HEAVY), sorted(imported & set(HEAVY))
    lines = result.stdout.splitlines()
    required = "--mix MIX --model MODEL" + (" --reward_model REWARD_MODEL" if task == "ppo" else "")
    assert lines[0] == f"usage: python -m training.{task} {required} [flags]"
    assert len(lines) < 80 and max(map(len, lines)) <= 100
    flag_lines = [line.split()[0] for line in lines if line.startswith("  --")]
    assert flag_lines[:2] == ["--mix", "--model"]  # the Tulu flags, required ones first


def _instance(task: str):
    from training.config import TuluDPOConfig, TuluRewardConfig, TuluSFTConfig

    classes = {"sft": TuluSFTConfig, "dpo": TuluDPOConfig, "rm": TuluRewardConfig, "ppo": ppo.PPOConfig}
    return classes[task](mix="m", model="tiny", **({"reward_model": "tiny"} if task == "ppo" else {}))


@pytest.mark.parametrize("task", sorted(ENTRY_POINTS))
def test_short_help_defaults_are_the_parsers_defaults(task):
    instance = _instance(task)
    fields = {f.name: f for f in dataclasses.fields(instance)}
    flags = recipe_flags(task)
    assert len(flags) >= 10
    for flag in flags:
        assert flag.name in fields, flag.name
        assert flag.help == fields[flag.name].metadata.get("help", ""), flag.name
        if flag.default is not None:
            assert fields[flag.name].default == flag.default or str(fields[flag.name].default) == str(flag.default), flag.name


def test_help_all_is_the_full_parser_help_under_the_module_name():
    result = _python_m("dpo", "--help-all")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("usage: python -m training.dpo [-h]")
    assert "--per_device_eval_batch_size" in result.stdout and "--beta BETA" in result.stdout
