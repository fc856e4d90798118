"""The documentation generator (docs/scripts/sitegen), importable by tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[2] / "docs" / "scripts"


def sitegen_module(name: str) -> ModuleType:
    """`sitegen.<module>` from docs/scripts (the site's hooks import it the same way)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.insert(0, str(SCRIPTS))
    return importlib.import_module(name)
