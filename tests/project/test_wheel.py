"""The package as a built wheel: every module and its package data, found without the source."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "music_genre"


def _pip(*args: str, cwd: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        timeout=300,
    )


def test_the_wheel_holds_every_module_and_its_templates(tmp_path):
    # Built from a copy (setuptools writes build/ and egg-info beside the sources), offline:
    # the build backend is the pinned setuptools already installed.
    source = tmp_path / "source"
    ignored = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", source / "src", ignore=ignored)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    dist = tmp_path / "dist"
    _pip("wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source), cwd=tmp_path)
    (wheel,) = dist.glob("music_genre-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.suffix in {".py", ".json", ".j2", ".c"} and "__pycache__" not in path.parts
    }
    assert "music_genre/pipeline/eda.html.j2" in expected
    assert expected <= names, sorted(expected - names)

    # Installed from the wheel alone (ahead of the editable install on the path), with no
    # project around it: the generator draws a table from a contract alone.
    site = tmp_path / "site"
    _pip("install", "--no-deps", "--target", str(site), str(wheel), cwd=tmp_path)
    code = (
        "import music_genre; from music_genre.data.synthetic import generate; "
        "from music_genre.data.contract import parse_contract; "
        "contract = parse_contract({'name': 'items', 'row': 'item', 'target': 'label', 'columns': {"
        "'label': {'role': 'target', 'dtype': 'str', 'values': ['a', 'b']}, "
        "'size': {'role': 'numeric', 'dtype': 'float64'}}}); "
        "print(music_genre.__file__); print(len(generate(30, 1, contract)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    location, rows = result.stdout.split()
    assert Path(location).is_relative_to(site)
    assert rows == "30"
