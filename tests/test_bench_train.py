"""Smoke run of bench/bench_train.py --size tiny: every run happens and the table has its structure
(no timing is asserted)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_train.py"
RUNS = ["ours SFT", "trl SFTTrainer", "ours DPO", "trl DPOTrainer", "ours RM", "ours PPO"]
NUMBER = re.compile(r"^[\d,]+(\.\d+)?%?$")


@pytest.fixture
def bench_train():
    spec = importlib.util.spec_from_file_location("bench_train", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


@pytest.mark.usefixtures("single_torch_thread", "isolated_token_cache")
def test_tiny_bench_prints_the_table(bench_train, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    flags = ["--size", "tiny", "--steps", "3", "--rows", "16", "--batch", "4", "--out", str(tmp_path)]
    results = bench_train.main(flags)
    lines = capsys.readouterr().out.splitlines()
    start = lines.index("| " + " | ".join(bench_train.COLUMNS) + " |")
    rows = [line.strip("|").split(" | ") for line in lines[start + 2 : start + 2 + len(RUNS)]]
    assert [row[0].strip() for row in rows] == RUNS
    for row in rows:
        cells = [c.strip() for c in row]
        assert len(cells) == len(bench_train.COLUMNS)
        assert all(NUMBER.match(c) for c in cells[1:4]), cells  # step time, tokens/s, padding share
        assert cells[4] == cells[5] == "n/a"  # MFU and GPU memory: no GPU here
    padding = {row[0].strip(): float(row[3].strip(" %")) for row in rows}
    assert padding["ours SFT"] == padding["ours DPO"] == 0.0  # padding-free
    assert padding["trl SFTTrainer"] > 0 and padding["trl DPOTrainer"] > 0  # padded to the longest row
    ppo_split = rows[-1][6].strip().split(" / ")
    assert len(ppo_split) == 3 and all(NUMBER.match(part) for part in ppo_split)
    assert NUMBER.match(rows[-1][7].strip())
    assert any(line.startswith("non-padding tokens/s, ours SFT / trl SFTTrainer:") for line in lines)
    assert [r["run"] for r in results] == RUNS and (tmp_path / "bench_train.json").is_file()
