"""The pipeline benchmark runs end to end on a tiny table and writes well-formed results."""

import json
import subprocess
import sys

import pytest

from conftest import PROJECT_ROOT, tool_env

pytestmark = pytest.mark.integration


def test_quick_benchmark_writes_its_results(tmp_path):
    output = tmp_path / "results" / "pipeline"
    subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "benchmarks" / "pipeline.py"),
            "--quick",
            "--output",
            str(output),
            "--workdir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=tool_env(),
        check=True,
        capture_output=True,
        timeout=900,
    )
    results = json.loads(output.with_suffix(".json").read_text())
    assert results["data"] == "synthetic" and results["repeats"] == 1
    overhead = results["overhead"]
    for key in (
        "full_repro_s",
        "bare_s",
        "overhead_ratio",
        "noop_repro_s",
        "train_param_change_s",
        "train_param_change_share_of_full",
    ):
        assert overhead[key] > 0, key
    assert set(results["stages"]) == {
        "get_data",
        "preprocess",
        "check_data",
        "segregate",
        "train",
        "evaluate",
        "eda",
    }
    assert all(stage["peak_gib"] > 0 for stage in results["stages"].values())
    assert {"train_1_thread_s", "train_all_cores_s", "cores"} <= set(results["threads"])
    assert list(results["scale"]["sizes"]) == ["1x", "2x"]
    assert len(results["scale"]["time_growth_per_step"]) == 1
    assert "| overhead.overhead_ratio |" in output.with_suffix(".md").read_text()
