"""Report benchmark: `music-genre report` vs DVC's three diffs alone, side by side, one machine.

    python benchmarks/report.py [--repeats 3] [--output benchmarks/results/report.json]
                                [--example docs/example-report]

Clones this repository's HEAD (sharing this workspace's DVC cache, so nothing is recomputed),
changes one parameter (`train.lightgbm.num_leaves` 15 -> 31), runs `dvc repro` (train and
evaluate), then times, alternately and `--repeats` times each:
- DVC alone: `dvc params diff HEAD --json`, `dvc metrics diff HEAD --all --json` and
  `dvc plots diff HEAD --json --targets <the report's plots>`, one after the other;
- `music-genre report HEAD --out DIR` (the same three diffs, run side by side, plus the
  Markdown and four PNG plots rendered offline).
Medians are recorded. With --example the last report (Markdown and PNGs) is copied there.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PARAM = ("train.lightgbm.num_leaves", 15, 31)
GOALS = {"report_seconds": 20.0, "ratio_to_dvc_diffs": 2.0}


def sh(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return time.perf_counter() - start


def main() -> None:
    sys.path.insert(0, str(ROOT / "src"))
    from music_genre.core import paths
    from music_genre.data.contract import load_contract
    from music_genre.experiments.report.sources import PLOTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "report.json"))
    parser.add_argument("--example", help="copy the last report (Markdown and PNGs) here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="music-genre-report-"))
    clone = work / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    sh(["dvc", "config", "--local", "cache.dir", str(ROOT / ".dvc" / "cache")], clone)
    sh(["dvc", "checkout", "-q"], clone)
    key, old, new = PARAM
    params = clone / "params.yaml"
    text = params.read_text()
    assert f"num_leaves: {old}\n" in text, "params.yaml's default changed: update PARAM"
    params.write_text(text.replace(f"num_leaves: {old}\n", f"num_leaves: {new}\n", 1))
    repro = sh(["dvc", "repro"], clone)

    per_class = paths.per_class_plot(load_contract(clone / paths.CONTRACT).target)
    targets = ["--targets", *PLOTS, per_class]
    dvc_alone, report = [], []
    for round_number in range(args.repeats):
        dvc_alone.append(
            sh(["dvc", "params", "diff", "HEAD", "--json"], clone)
            + sh(["dvc", "metrics", "diff", "HEAD", "--all", "--json"], clone)
            + sh(
                ["dvc", "plots", "diff", "HEAD", "--json", *targets, "-o", str(work / "plots")],
                clone,
            )
        )
        out = work / f"report{round_number}"
        report.append(sh(["music-genre", "report", "HEAD", "--out", str(out)], clone))
    if args.example:
        example = Path(args.example)
        shutil.rmtree(example, ignore_errors=True)
        shutil.copytree(out, example)

    median_report, median_dvc = statistics.median(report), statistics.median(dvc_alone)
    results = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "change": {key: {"old": old, "new": new}, "dvc_repro_seconds": round(repro, 1)},
        "repeats": args.repeats,
        "dvc_diffs_alone_seconds": [round(s, 2) for s in dvc_alone],
        "report_seconds": [round(s, 2) for s in report],
        "median": {
            "dvc_diffs_alone": round(median_dvc, 2),
            "report": round(median_report, 2),
            "ratio": round(median_report / median_dvc, 2),
        },
        "goals": GOALS,
        "goals_met": {
            "report_seconds": median_report <= GOALS["report_seconds"],
            "ratio_to_dvc_diffs": median_report / median_dvc <= GOALS["ratio_to_dvc_diffs"],
        },
    }
    output = Path(args.output)
    previous = json.loads(output.read_text()) if output.is_file() else {}
    output.write_text(json.dumps({**previous, **results}, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
