"""The Dask training benchmark runs end to end on tiny splits and writes well-formed results."""

import json
import subprocess
import sys

import pytest

from support.project import PROJECT_ROOT, tool_env

pytestmark = pytest.mark.dask


def test_a_tiny_dask_benchmark_writes_its_results(tmp_path):
    output = tmp_path / "dask_train.json"
    subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "benchmarks" / "dask_train.py"),
            "--sizes",
            "1,2",
            "--rounds",
            "3",
            "--compare-at",
            "1",
            "--limit",
            "1GiB",
            "--workdir",
            str(tmp_path / "work"),
            "--output",
            str(output),
        ],
        env=tool_env(),
        check=True,
        capture_output=True,
        timeout=900,
    )
    results = json.loads(output.read_text())
    sizes = results["scale"]["sizes"]
    assert list(sizes) == ["1x", "2x"] and len(results["scale"]["time_growth_per_step"]) == 1
    for entry in sizes.values():
        assert entry["rounds"] == 3 and entry["worker_peak_under_limit"]
        assert set(entry["phases_s"]) == {
            "split",
            "statistics_and_deal",
            "lightgbm_fit",
            "validation_scores",
        }
        assert len(entry["worker_peak_mib"]) == 2 and entry["peak_mib"] > 0
    comparison = results["comparison"]
    assert comparison == results["comparisons"]["1x"]
    assert comparison["time_ratio_dask_to_local"] > 0
    assert comparison["memory_ratio_worker_to_local"] > 0
    assert (
        0 < results["worker_baseline"]["bare_mib"] < results["worker_baseline"]["after_imports_mib"]
    )
    assert {"load_before", "load_after", "cores"} <= set(results["machine"])
