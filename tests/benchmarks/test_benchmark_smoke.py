"""The pipeline benchmark runs end to end on a tiny table and writes well-formed results."""

import json
import subprocess
import sys

import pytest

from support.project import PROJECT_ROOT, tool_env

pytestmark = pytest.mark.system


def run_benchmark(cwd, *args):
    subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / "pipeline.py"), *args],
        cwd=cwd,
        env=tool_env(),
        check=True,
        capture_output=True,
        timeout=900,
    )


def test_quick_benchmark_writes_its_results(tmp_path):
    output = tmp_path / "results" / "pipeline"
    run_benchmark(tmp_path, "--quick", "--output", str(output), "--workdir", str(tmp_path))
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
        "package",
        "evaluate",
        "eda",
    }
    # A train knob re-runs train, package and evaluate, nothing upstream.
    assert overhead["train_param_change_stages_run"] == ["evaluate", "package", "train"]
    assert all(stage["peak_gib"] > 0 for stage in results["stages"].values())
    assert {
        "train_1_thread_s",
        "train_all_cores_s",
        "train_1_thread_busy_s",
        "train_all_cores_busy_s",
        "cores",
    } <= set(results["threads"])
    sizes = results["scale"]["sizes"]
    assert list(sizes) == ["1x", "2x"]
    assert [size["rows"] for size in sizes.values()] == [1000, 2000]
    # The quick configuration is the default booster with a 30-round cap.
    assert all(0 < size["boosting_rounds"] <= 30 for size in sizes.values())
    assert len(results["scale"]["time_growth_per_step"]) == 1
    assert {"cpu", "cores", "load_before", "load_after"} <= set(results["machine"])
    # --render rewrites the table from the results file alone.
    output.with_suffix(".md").unlink()
    run_benchmark(tmp_path, "--render", "--output", str(output))
    rendered = output.with_suffix(".md").read_text()
    assert "| overhead ratio (full dvc repro / bare) |" in rendered
    # Without the previous default's reference run (not in --quick), that goal shows no value.
    assert "| full dvc repro / same run with the previous default" in rendered
    assert "| overhead.overhead_ratio |" in rendered
