"""Test-suite benchmark: how long CI and each test tier take in a fresh clone, and coverage.

    python benchmarks/tiers.py [--workdir DIR] [--output benchmarks/results/tests.json]
        [--skip-coverage]

Clones this repository's committed HEAD into DIR (beside a copy of nothing: the real data is
reached through MUSIC_GENRE_DATA_MIRROR, as CI does with ../shared), then runs `.ci/run` there
exactly as CI does, with MUSIC_GENRE_CI_TIMES set so that it reports the seconds of each phase:
install (pip with its cache warm), lint, the real-data `dvc repro`, the default tier (the README's
`pytest`) and the system tier (`pytest -m system`). Then, in the same clone, branch coverage of
`src/` over both tiers (`pytest -m "system or not system" --cov`, subprocesses included), which is
slower than the timed runs and so measured apart from them; --skip-coverage leaves the recorded
coverage (which names the commit it was measured on) as it is.

The results file keeps the keys it already has; the coverage figure measured before the tiers
existed stays under `coverage.before`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"default_tier_s": 180, "system_tier_s": 720, "ci_total_s": 1200}


def _run(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> float:
    start = time.perf_counter()
    with log.open("w") as stream:
        result = subprocess.run(
            args, cwd=cwd, env=env, stdout=stream, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed (exit {result.returncode}); see {log}")
    return time.perf_counter() - start


def _passed(log: Path) -> list[int]:
    """The passed counts of pytest's closing lines, in order."""
    return [int(n) for n in re.findall(r"(\d+) passed", log.read_text())]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="where to clone (default: a new temporary directory)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "tests.json"))
    parser.add_argument(
        "--skip-coverage", action="store_true", help="time CI only; keep the recorded coverage"
    )
    args = parser.parse_args()

    mirror = os.environ.get("MUSIC_GENRE_DATA_MIRROR") or str(ROOT.parent / "shared" / "data")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="music-genre-tiers-"))
    clone = workdir / "clone"
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {
        key: value for key, value in os.environ.items() if key not in {"VIRTUAL_ENV", "PYTHONPATH"}
    }
    env["PATH"] = os.pathsep.join(
        part for part in env.get("PATH", "").split(os.pathsep) if ".venv" not in part
    )
    env.update(CI="true", MUSIC_GENRE_CI_TIMES=str(workdir / "times.json"))
    env["MUSIC_GENRE_DATA_MIRROR"] = mirror
    # .ci/run finds the data at ../shared/data, as on CI's machine.
    shared = workdir / "shared"
    if not shared.exists():
        shared.mkdir()
        (shared / "data").symlink_to(Path(mirror).resolve())
    wall = _run(["bash", ".ci/run"], clone, env, workdir / "ci.log")
    phases = json.loads((workdir / "times.json").read_text())
    default_passed, system_passed = _passed(workdir / "ci.log")[-2:]
    output = Path(args.output)
    results = json.loads(output.read_text()) if output.is_file() else {}
    results.update(
        {
            "commit": commit,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "ci": {**phases, "wall_s": round(wall, 1)},
            "tiers": {
                "default": {"seconds": phases["default_tier"], "tests_passed": default_passed},
                "system": {"seconds": phases["system_tier"], "tests_passed": system_passed},
            },
            "goals": GOALS,
            "goals_met": {
                "default_tier_s": phases["default_tier"] <= GOALS["default_tier_s"],
                "system_tier_s": phases["system_tier"] <= GOALS["system_tier_s"],
                "ci_total_s": phases["total"] <= GOALS["ci_total_s"],
            },
        }
    )
    if not args.skip_coverage:
        results.setdefault("coverage", {})["after"] = _coverage(clone, env, workdir, commit)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def _coverage(clone: Path, env: dict[str, str], workdir: Path, commit: str) -> dict[str, object]:
    """Branch coverage of src/ over both tiers, in the clone CI ran in."""
    venv_bin = clone / ".venv" / "bin"
    cov_env = {**env, "PATH": f"{venv_bin}{os.pathsep}{env['PATH']}"}
    cov_env.update(
        MUSIC_GENRE_REQUIRE_REAL_DATA="1",
        MUSIC_GENRE_REQUIRE_SSHD="1",
        MUSIC_GENRE_REQUIRE_CHROMIUM="1",
    )
    coverage_json = workdir / "coverage.json"
    _run(
        [
            str(venv_bin / "pytest"),
            "-m",
            "system or not system",
            "--cov",
            f"--cov-report=json:{coverage_json}",
        ],
        clone,
        cov_env,
        workdir / "coverage.log",
    )
    totals = json.loads(coverage_json.read_text())["totals"]
    return {
        "commit": f'{commit[:7]} (both tiers, `pytest -m "system or not system" --cov`)',
        "branch_percent": round(totals["percent_branches_covered"], 2),
        "combined_percent": round(totals["percent_covered"], 2),
        "branches": totals["num_branches"],
        "statements": totals["num_statements"],
    }


if __name__ == "__main__":
    main()
