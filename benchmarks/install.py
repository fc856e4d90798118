"""Install benchmark: the serving install (requirements/serve.txt, what the image installs)
against the full one (requirements.txt, this environment), by installed size and import time;
and the serving image itself, built with podman.

    python benchmarks/install.py [--rounds 5] [--only install image]

`install` creates the serving install in a fresh virtual environment (the lock, then this
package without dependencies), checks that `music-genre serve` answers /ping there, and
measures: site-packages MiB of each environment, and the wall time of a fresh interpreter
importing the server's module (`music_genre.serving.app`), best and median of --rounds.

`image` (podman, runc and debootstrap, as root: what .ci/run installs; run after `dvc repro`)
builds the Dockerfile on the Debian 12 base the container test makes offline
(tests/support/containers.py), from a build context of only what the Dockerfile copies:
without the layer cache, then again after a change of the code (which must reinstall nothing),
and measures the image's size (`podman image inspect`), its virtual environment's, and the
seconds from `podman run` to the first 200 from /ping. Results go to
benchmarks/results/install.json; a section left out keeps its last results.
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
import sysconfig
import tempfile
import time
from pathlib import Path

import httpx
from common import free_port

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "install.json"
SERVE_LOCK = ROOT / "requirements" / "serve.txt"
IMPORT = "import music_genre.serving.app"
MIB = 1024 * 1024
IMAGE = "localhost/music-genre:benchmark"
# What the Dockerfile copies: the build context of the image benchmark.
IMAGE_CONTEXT = (
    "Dockerfile", ".dockerignore", "requirements/serve.txt", "pyproject.toml", "README.md", "src",
    "models/model.joblib", "models/model.json", "data/reference_profile.json",
    "plots/evaluate/custom",
)  # fmt: skip
# The step of the Dockerfile that installs the serving lock.
LOCK_STEP = "pip install -r requirements/serve.txt"


def _size_mib(directory: Path) -> float:
    total = sum(
        path.stat().st_size
        for path in directory.rglob("*")
        if path.is_file() and not path.is_symlink()
    )
    return round(total / MIB, 1)


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return Path(
        subprocess.run(
            [python, "-c", code], capture_output=True, text=True, check=True
        ).stdout.strip()
    )


def _import_seconds(python: Path, rounds: int) -> dict[str, float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([python, "-c", IMPORT], check=True, cwd=tempfile.gettempdir())
        times.append(time.perf_counter() - start)
    return {"best": round(min(times), 3), "median": round(statistics.median(times), 3)}


def _serve_install(directory: Path) -> tuple[Path, float]:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(directory)], check=True)
    python = directory / "bin" / "python"
    pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(SERVE_LOCK)], check=True)
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True, cwd=tempfile.gettempdir())
    return python, round(time.perf_counter() - start, 1)


def _answers_ping(python: Path) -> bool:
    port = free_port()
    model = ROOT / "models" / "model.joblib"
    server = subprocess.Popen(
        [
            *(python, "-m", "music_genre.cli", "serve", "--model", str(model)),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/ping", timeout=2).status_code == 200
            except httpx.TransportError:
                time.sleep(0.5)
        return False
    finally:
        server.terminate()
        server.wait(timeout=30)


def _image_context(directory: Path) -> Path:
    for name in IMAGE_CONTEXT:
        source, target = ROOT / name, directory / name
        if not source.exists():
            raise SystemExit(f"{name} is missing: run `dvc repro` first")
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, target)
    return directory


def _start_to_ping_seconds(containers, image: str) -> float:
    port = free_port()
    start = time.perf_counter()
    with containers.running_container(image, port, "serve"):
        return round(time.perf_counter() - start, 1)


def image_benchmark() -> dict:
    """The serving image on the debootstrapped base: sizes, cold build, rebuild after a code
    change, start-up."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support import containers

    try:
        containers.check_tools()
        base = containers.base_image()
    except containers.PodmanUnavailableError as error:
        raise SystemExit(f"image: {error} (or measure only the installs: --only install)") from None
    with tempfile.TemporaryDirectory(prefix="image-context-") as work:
        context = _image_context(Path(work))
        cold_s, _ = containers.build_image(context, IMAGE, base, "--no-cache")
        cold_id = containers.podman("image", "inspect", "--format", "{{.Id}}", IMAGE).stdout
        module = context / "src" / "music_genre" / "__init__.py"
        module.write_text(module.read_text() + "# a change of the code\n")
        rebuild_s, log = containers.build_image(context, IMAGE, base)
    try:
        venv = containers.run_in_image(IMAGE, "du", "-sb", "/opt/venv").split()[0]
        version = containers.podman("version", "--format", "{{.Client.Version}}").stdout
        results = {
            "base": f"Debian {containers.SUITE} (debootstrap minbase + "
            f"{', '.join(containers.BASE_PACKAGES)})",
            "podman": version.strip(),
            "base_mib": round(containers.image_size(base) / MIB, 1),
            "image_mib": round(containers.image_size(IMAGE) / MIB, 1),
            "venv_mib": round(int(venv) / MIB, 1),
            "cold_build_seconds": round(cold_s, 1),
            "rebuild_after_code_change_seconds": round(rebuild_s, 1),
            "rebuild_reinstalled_lock": not any(
                LOCK_STEP in step for step in containers.cached_steps(log)
            ),
            "start_to_ping_seconds": _start_to_ping_seconds(containers, IMAGE),
        }
    finally:
        containers.podman("rmi", "-f", IMAGE, cold_id.strip(), check=False)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--only", nargs="+", choices=("install", "image"), default=("install", "image")
    )
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    if "install" in args.only:
        results.update(install_benchmark(args.rounds))
    if "image" in args.only:
        results["image"] = image_benchmark()
    if "image" in results and "serve" in results:
        results["image_over_serve_install"] = round(
            results["image"]["image_mib"] / results["serve"]["site_packages_mib"], 2
        )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def install_benchmark(rounds: int) -> dict:
    """The serving install against the full one."""
    full_python = Path(sys.executable)
    full_site = Path(sysconfig.get_paths()["purelib"])
    with tempfile.TemporaryDirectory(prefix="serve-install-") as work:
        serve_python, install_seconds = _serve_install(Path(work) / "venv")
        serve_site = _site_packages(serve_python)
        serve = {
            "lock": SERVE_LOCK.relative_to(ROOT).as_posix(),
            "packages": sum(1 for line in SERVE_LOCK.read_text().splitlines() if "==" in line),
            "site_packages_mib": _size_mib(serve_site),
            "install_seconds": install_seconds,
            "import_seconds": _import_seconds(serve_python, rounds),
            "serve_answers_ping": _answers_ping(serve_python),
        }
    full = {
        "lock": "requirements.txt",
        "packages": sum(
            1 for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line
        ),
        "site_packages_mib": _size_mib(full_site),
        "import_seconds": _import_seconds(full_python, rounds),
    }
    return {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "import": IMPORT,
        "serve": serve,
        "full": full,
        "serve_share_of_full_size": round(
            serve["site_packages_mib"] / full["site_packages_mib"], 3
        ),
    }


if __name__ == "__main__":
    main()
