"""Byte-identical output whatever the number of threads polars and arrow use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BUILD = "from tulu_data.build import build; import sys; build(sys.argv[1], sources='samples', out=sys.argv[2])"


def _build_in_subprocess(name: str, out: Path, threads: int) -> dict[str, bytes]:
    env = {**os.environ, "POLARS_MAX_THREADS": str(threads), "OMP_NUM_THREADS": str(threads), "RAYON_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, "-c", BUILD, name, str(out)], check=True, env=env)
    return {p.name: p.read_bytes() for p in sorted((out / name / "data").glob("*.parquet"))}


@pytest.mark.parametrize("name", ["ultrafeedback_mean_aspects", "preference_big_mixture"])
def test_output_does_not_depend_on_thread_count(tmp_path: Path, name: str):
    one = _build_in_subprocess(name, tmp_path / "one", threads=1)
    many = _build_in_subprocess(name, tmp_path / "many", threads=4)
    assert one and one == many
