"""Modules of one concern: no function in src/ over 60 lines, no module over 400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "music_genre"
MODULES = sorted(SOURCE.rglob("*.py"))
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 400


@pytest.mark.parametrize("module", MODULES, ids=lambda path: str(path.relative_to(SOURCE)))
def test_no_module_or_function_is_too_long(module):
    text = module.read_text()
    lines = len(text.splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines (at most {MAX_MODULE_LINES})"
    for node in ast.walk(ast.parse(text, filename=str(module))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= MAX_FUNCTION_LINES, (
                f"{module}:{node.lineno}: {node.name} has {length} lines "
                f"(at most {MAX_FUNCTION_LINES}): split it by what it does"
            )


def test_the_walk_sees_the_package():
    assert len(MODULES) > 40
