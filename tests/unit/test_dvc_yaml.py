"""dvc.yaml's promises: exact code deps, params that exist, outputs that do not nest."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "music_genre"
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = DVC_YAML["stages"]
# Package data a module reads at run time (not visible as an import).
DATA_FILES = {"synthetic.py": ["synthetic_spec.json"]}


def package_modules_used(script: Path) -> set[str]:
    """Every music_genre module the script imports, followed transitively."""
    seen: set[str] = set()
    pending = [script]
    while pending:
        tree = ast.parse(pending.pop().read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] != "music_genre" or len(parts) < 2:
                    continue
                module = PACKAGE / f"{parts[1]}.py"
                if module.is_file() and module.name not in seen:
                    seen.add(module.name)
                    pending.append(module)
    return seen


@pytest.mark.parametrize("stage", list(STAGES))
def test_code_deps_are_exactly_what_the_stage_imports(stage):
    spec = STAGES[stage]
    script = ROOT / "stages" / f"{stage}.py"
    modules = package_modules_used(script)
    expected = {f"stages/{stage}.py"} | {f"src/music_genre/{name}" for name in modules}
    expected |= {f"src/music_genre/{data}" for name in modules for data in DATA_FILES.get(name, [])}
    declared = {dep for dep in spec["deps"] if dep.startswith(("src/", "stages/"))}
    assert declared == expected


@pytest.mark.parametrize("stage", list(STAGES))
def test_declared_params_exist(stage):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key in STAGES[stage].get("params", []):
        assert key.split(".")[0] in params


def _out_paths(spec):
    for section in ("outs", "metrics", "plots"):
        for entry in spec.get(section, []):
            yield next(iter(entry)) if isinstance(entry, dict) else entry


def test_no_stage_output_contains_another():
    outs = [(stage, path) for stage, spec in STAGES.items() for path in _out_paths(spec)]
    for stage, path in outs:
        for other_stage, other in outs:
            if path != other:
                assert not other.startswith(path.rstrip("/") + "/"), (stage, other_stage)
