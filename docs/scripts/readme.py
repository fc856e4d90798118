"""Rewrite the README's generated blocks (results, DAG, test times) from the project's files.

python docs/scripts/readme.py           # rewrite README.md
python docs/scripts/readme.py --check   # exit 1 naming the blocks that are not current
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sitegen.readme import COMMAND, README, render, stale_blocks


def main() -> int:
    parser = argparse.ArgumentParser(description="Rewrite the README's generated blocks.")
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    if args.check:
        stale = stale_blocks(text)
        if stale:
            print(f"README.md: not current: {', '.join(stale)} (run {COMMAND})", file=sys.stderr)
            return 1
        return 0
    README.write_text(render(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
