"""core.paths and dvc.yaml agree: every stage's command passes exactly its paths' defaults, and
every output or dependency a module names through core.paths is one dvc.yaml declares."""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import pytest
import yaml

from music_genre.core import paths

ROOT = Path(__file__).resolve().parents[2]
STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def _arguments(script: Path):
    spec = importlib.util.spec_from_file_location(f"stage_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.arguments()


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_each_stage_command_passes_the_paths_its_script_defaults_to(stage):
    words = shlex.split(STAGES[stage]["cmd"])
    assert words[:2] == ["python", f"stages/{stage}.py"]
    parser = _arguments(ROOT / words[1])
    assert vars(parser.parse_args(words[2:])) == vars(parser.parse_args([]))


def _declared() -> set[str]:
    found = set()
    for stage in STAGES.values():
        for kind in ("deps", "outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                found.add(entry if isinstance(entry, str) else next(iter(entry)))
    return found


def test_every_path_of_core_paths_is_declared_in_dvc_yaml_or_under_an_output():
    declared = _declared()
    names = {name: value for name, value in vars(paths).items() if name.isupper()}
    assert names
    for name, value in names.items():
        if name == "TUNE_SUMMARIES":  # music-genre tune's folder: no stage writes it
            continue
        inside = any(
            value.startswith(f"{path}/") or path.startswith(f"{value}/") for path in declared
        )
        assert value in declared or inside, (
            f"core.paths.{name} = {value!r} is not a dvc.yaml dependency or output"
        )
