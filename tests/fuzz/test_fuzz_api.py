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

import pytest

from support.fuzzing import run_schemathesis
from support.servers import serving

pytestmark = pytest.mark.fuzz

MIN_REQUESTS = 1000
EXAMPLES_PER_OPERATION = 200


def test_schemathesis_finds_no_failure_in_1000_requests(small_model, tmp_path):
    seed = int(os.environ.get("MUSIC_GENRE_FUZZ_SEED") or random.SystemRandom().randrange(2**31))
    replay = f"MUSIC_GENRE_FUZZ_SEED={seed} pytest -m system tests/fuzz"
    print(f"schemathesis seed: {seed} (replay: {replay})")
    with serving(small_model, "--workers", "2") as base:
        output = run_schemathesis(base, tmp_path, EXAMPLES_PER_OPERATION, seed)
    generated = re.search(r"(\d+) generated", output)
    assert generated is not None, output[-2000:]
    assert int(generated.group(1)) >= MIN_REQUESTS
    assert "Operations:       9 selected / 9 total" in output
    assert "Tested: 9" in output, output[-2000:]  # every operation, none skipped
    # Every generated case passed (run_schemathesis checks it): no failure and no network error
    # (a time-out, a dropped connection).
