"""The architecture contract: layers whose imports point one way, checked by import-linter.

The contracts themselves live in pyproject.toml ([tool.importlinter]); CI runs `lint-imports`
too. These tests run it, show it fails when a lower layer imports a higher one, and hold the
package's top level to at most eight entries.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "music_genre"
MAX_TOP_LEVEL_ENTRIES = 8


def lint_imports(source: Path) -> subprocess.CompletedProcess:
    """import-linter with the project's contracts, over the package found under `source`."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "lint-imports"),
            "--config",
            str(ROOT / "pyproject.toml"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_contract_is_kept():
    result = lint_imports(ROOT / "src")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def package_copy(tmp_path) -> Path:
    shutil.copytree(PACKAGE, tmp_path / "music_genre", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.mark.parametrize(
    ("module", "statement", "broken"),
    [
        # The core importing the model: a lower layer importing a higher one.
        ("core/fileio.py", "from music_genre.modeling import store", "Layers"),
        # One stage importing another: shared code belongs in a lower layer.
        ("pipeline/train.py", "from music_genre.pipeline import segregate", "Pipeline stages"),
        # The lean path importing the module that uses it: an import cycle.
        ("serving/inputs.py", "from music_genre.serving import predict", "No import cycle"),
    ],
)
def test_a_forbidden_import_breaks_the_contract(package_copy, module, statement, broken):
    path = package_copy / "music_genre" / module
    path.write_text(path.read_text() + f"\n{statement}  # noqa\n")
    result = lint_imports(package_copy)
    assert result.returncode == 1, result.stdout
    assert next(line for line in result.stdout.splitlines() if line.startswith(broken)).endswith(
        "BROKEN"
    )


def test_the_top_level_holds_at_most_eight_entries():
    entries = sorted(
        path.name
        for path in PACKAGE.iterdir()
        if path.suffix == ".py" or (path.is_dir() and (path / "__init__.py").is_file())
    )
    assert len(entries) <= MAX_TOP_LEVEL_ENTRIES, entries


def test_every_folder_of_the_package_is_a_subpackage():
    for folder in PACKAGE.rglob("*"):
        if folder.is_dir() and folder.name != "__pycache__":
            assert (folder / "__init__.py").is_file(), f"{folder}: not a package"
