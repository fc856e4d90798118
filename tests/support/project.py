"""A copy of this project to run dvc and git in: where it is, the environment tools run in, and
the project copies tests work on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from music_genre.core.params import set_dotted

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for dvc/git subprocesses: this interpreter's bin first on PATH."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(
        GIT_AUTHOR_NAME="test",
        GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="test",
        GIT_COMMITTER_EMAIL="test@example.invalid",
        DVC_NO_ANALYTICS="1",
    )
    env.update(extra)
    return env


def run(args: list[str], cwd: Path, check: bool = True, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        args,
        cwd=cwd,
        env=tool_env(**env),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def copy_project(destination: Path) -> Path:
    """Copy the git-tracked files of this project into a fresh git repository."""
    files = (
        subprocess.run(["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True)
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        source = PROJECT_ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    run(["git", "init", "-q", "-b", "main"], destination)
    run(["git", "add", "-A"], destination)
    run(["git", "commit", "-q", "-m", "copy of the project"], destination)
    return destination


def clone_project(source: Path, destination: Path) -> Path:
    """A git clone of `source` that shares its DVC cache contents and has its outputs."""
    run(["git", "clone", "-q", str(source), str(destination)], destination.parent)
    shutil.copytree(source / ".dvc" / "cache", destination / ".dvc" / "cache")
    run(["dvc", "checkout"], destination)
    return destination


def set_params(project_dir: Path, **updates: object) -> None:
    """Set dotted keys in a project's params.yaml (for example data__source='...')."""
    import yaml

    path = project_dir / "params.yaml"
    params = yaml.safe_load(path.read_text())
    for dotted, value in updates.items():
        set_dotted(params, dotted, value, separator="__")
    path.write_text(yaml.safe_dump(params, sort_keys=False))


# Written inside .git once the shared project is complete, so a half-built one is rebuilt;
# beside it, what its `dvc repro` printed.
BUILT_MARKER = Path(".git") / "music-genre-built"


REPRO_LOG = Path(".git") / "music-genre-repro.log"
