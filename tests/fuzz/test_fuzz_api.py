"""The real server's OpenAPI document, fuzzed by schemathesis with every check it has.

The server runs as it is deployed: `music-genre serve --workers 2` on 127.0.0.1 with its default
caps, and schemathesis with its stock settings (its default request time-out; no check left out
or relaxed). At least 1,000 generated requests over every operation, positive and negative data,
the coverage and fuzzing phases (which send the largest batches the document allows); any
failure of any check (server error, undocumented status or content type, a response that breaks
its schema, schema-valid data rejected, schema-violating data accepted, ...) or any network error
(a time-out, a dropped connection) fails the test. The seed is printed: replay a failure with
`MUSIC_GENRE_FUZZ_SEED=<seed> pytest -m system tests/fuzz`.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.project import tool_env
from support.servers import serving

pytestmark = pytest.mark.fuzz

MIN_REQUESTS = 1000
EXAMPLES_PER_OPERATION = 200
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")


def test_schemathesis_finds_no_failure_in_1000_requests(small_model, tmp_path):
    seed = int(os.environ.get("MUSIC_GENRE_FUZZ_SEED") or random.SystemRandom().randrange(2**31))
    replay = f"MUSIC_GENRE_FUZZ_SEED={seed} pytest -m system tests/fuzz"
    print(f"schemathesis seed: {seed} (replay: {replay})")
    with serving(small_model, "--workers", "2") as base:
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
                str(EXAMPLES_PER_OPERATION),
                "--seed",
                str(seed),
                "--continue-on-failure",
                "--no-color",
            ],
            cwd=tmp_path,
            env=tool_env(
                SCHEMATHESIS_HOOKS=HOOKS.stem,
                PYTHONPATH=os.pathsep.join([str(HOOKS.parent), os.environ.get("PYTHONPATH", "")]),
            ),
            capture_output=True,
            text=True,
            timeout=1800,
            check=False,
        )
    output = result.stdout + result.stderr
    print(output[-3000:])
    assert result.returncode == 0, output[-6000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated is not None, output[-2000:]
    assert int(generated.group(1)) >= MIN_REQUESTS
    assert "Operations:       9 selected / 9 total" in output
    assert "Tested: 9" in output, output[-2000:]  # every operation, none skipped
    # Every generated case passed: no failure and no network error (time-out, dropped connection).
    assert re.search(r"^\s*(\d+) generated, \1 passed$", output, re.MULTILINE), output[-2000:]
