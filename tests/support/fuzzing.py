"""schemathesis against a running server, as both fuzzing tests run it: every check, positive
and negative data, the examples, coverage and fuzzing phases, the project's hooks."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from support.project import tool_env

HOOKS = Path(__file__).resolve().parents[1] / "fuzz" / "schemathesis_hooks.py"


def run_schemathesis(base: str, cwd: Path, examples: int, seed: int, **env: str) -> str:
    """`st run` on `base`'s OpenAPI document, `examples` per operation; fails unless it exits
    0 and every generated case passed (no failure, no network error). Returns its output."""
    result = subprocess.run(
        [
            str(Path(sys.executable).with_name("st")),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "all",
            "--mode",
            "all",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(examples),
            "--seed",
            str(seed),
            "--continue-on-failure",
            "--no-color",
        ],
        cwd=cwd,
        env=tool_env(
            SCHEMATHESIS_HOOKS=HOOKS.stem,
            PYTHONPATH=os.pathsep.join([str(HOOKS.parent), os.environ.get("PYTHONPATH", "")]),
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    output = result.stdout + result.stderr
    print(output[-3000:])
    assert result.returncode == 0, output[-6000:]
    assert re.search(r"^\s*(\d+) generated, \1 passed$", output, re.MULTILINE), output[-2000:]
    return output
