"""dvc.yaml's promises: exact code deps, params that exist, outputs that do not nest.

A stage's code deps are its script and every package module it imports, followed
transitively through full dotted names (`from music_genre.data import features` is the module
music_genre/data/features.py; `from music_genre.core.errors import X` is core/errors.py).
Relative imports are refused, so no import can hide from this walk, and `__init__.py` files hold
only a docstring (and `__version__`), so leaving them off a stage's deps loses nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src"
PACKAGE = "music_genre"
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
STAGES = DVC_YAML["stages"]
# Package data a module reads at run time (not visible as an import), by the module's path.
DATA_FILES = {
    "src/music_genre/pipeline/eda.py": ["src/music_genre/pipeline/eda.html.j2"],
}


def module_path(name: str, source: Path = SOURCE) -> Path | None:
    """The file of a dotted module name under `source` (a package's __init__.py), if any."""
    base = source.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(path: Path, source: Path = SOURCE) -> set[Path]:
    """The package's module files `path` imports directly (with the packages that contain them)."""
    found: set[Path] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(
                    f"{path}:{node.lineno}: relative import; write the full dotted name so that "
                    "dvc.yaml's deps (and import-linter) see it"
                )
            bases = [node.module or ""]
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            bases = [alias.name for alias in node.names]
            names = []
        else:
            continue
        for base in bases:
            if base.split(".")[0] != PACKAGE:
                continue
            parts = base.split(".")
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py too.
            for depth in range(1, len(parts) + 1):
                parent = module_path(".".join(parts[:depth]), source)
                if parent is None:
                    raise AssertionError(f"{path}:{node.lineno}: no module {'.'.join(parts)}")
                found.add(parent)
        # `from package import module` imports the module; `from module import name` does not.
        found |= {file for name in names if (file := module_path(name, source)) is not None}
    return found


def package_modules_used(script: Path, source: Path = SOURCE) -> set[Path]:
    """Every module file of the package the script imports, followed transitively."""
    seen: set[Path] = set()
    pending = [script]
    while pending:
        for module in imported_modules(pending.pop(), source):
            if module not in seen:
                seen.add(module)
                pending.append(module)
    return seen


def expected_code_deps(stage: str) -> set[str]:
    modules = {
        path.relative_to(ROOT).as_posix()
        for path in package_modules_used(ROOT / "stages" / f"{stage}.py")
        if path.name != "__init__.py"
    }
    data = {data for module in modules for data in DATA_FILES.get(module, [])}
    return {f"stages/{stage}.py"} | modules | data


@pytest.mark.parametrize("stage", list(STAGES))
def test_code_deps_are_exactly_what_the_stage_imports(stage):
    declared = {dep for dep in STAGES[stage]["deps"] if dep.startswith(("src/", "stages/"))}
    assert declared == expected_code_deps(stage)


@pytest.mark.parametrize("stage", list(STAGES))
def test_the_code_of_a_stage_lives_in_a_module_named_after_it(stage):
    script = ROOT / "stages" / f"{stage}.py"
    assert SOURCE / PACKAGE / "pipeline" / f"{stage}.py" in imported_modules(script)


def test_init_files_hold_only_a_docstring():
    for init in sorted((SOURCE / PACKAGE).rglob("__init__.py")):
        body = ast.parse(init.read_text()).body
        assert body, f"{init}: no docstring"
        assert isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant), init
        for statement in body[1:]:
            targets = getattr(statement, "targets", [])
            assert isinstance(statement, ast.Assign) and [
                getattr(t, "id", None) for t in targets
            ] == ["__version__"], f"{init}:{statement.lineno}: only a docstring and __version__"


def test_no_module_of_the_package_imports_relatively():
    for module in sorted((SOURCE / PACKAGE).rglob("*.py")):
        imported_modules(module)  # raises on a relative import


def test_the_walker_resolves_full_dotted_names_and_refuses_relative_imports(tmp_path):
    package = tmp_path / PACKAGE
    (package / "sub").mkdir(parents=True)
    for name in ("__init__.py", "sub/__init__.py", "sub/leaf.py", "sub/other.py", "top.py"):
        (package / name).write_text('"""Doc."""\n')
    (package / "sub" / "leaf.py").write_text("from music_genre.top import something\n")
    script = tmp_path / "script.py"
    script.write_text("from music_genre.sub import leaf\nimport music_genre.sub.other\n")
    used = {
        path.relative_to(tmp_path).as_posix() for path in package_modules_used(script, tmp_path)
    }
    assert used == {
        "music_genre/__init__.py",
        "music_genre/sub/__init__.py",
        "music_genre/sub/leaf.py",
        "music_genre/sub/other.py",
        "music_genre/top.py",
    }
    (package / "sub" / "other.py").write_text("from . import leaf\n")
    with pytest.raises(AssertionError, match="relative import"):
        package_modules_used(script, tmp_path)
    script.write_text("from music_genre.missing import thing\n")
    with pytest.raises(AssertionError, match=r"no module music_genre\.missing"):
        package_modules_used(script, tmp_path)


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
