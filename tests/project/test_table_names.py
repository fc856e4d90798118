"""The package names no column, class or target of the songs table: they live in contract.yaml.

Retargeting the template to another table means editing the contract, params.yaml and the data
source, never src/ (README, "Your own table"). So src/ must not know the songs: this test reads
the committed contract and looks for its target, its columns and its classes in every file of the
package (code, docstrings, comments, help texts, templates, data files). The package's own name
(`music_genre`, `music-genre`) is not the target's.

Column names that are ordinary words of code are not looked for (`key`, `mode`, `type`, `title`:
a dict key, a file mode, a JSON-schema type, a figure's title); the contract test below shows the
others are distinctive enough to mean the column wherever they appear.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from music_genre.data.contract import load_contract

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "music_genre"
ORDINARY_WORDS = frozenset({"key", "mode", "type", "title"})
PACKAGE_NAME = re.compile(r"music[_-]genre", re.IGNORECASE)
SUFFIXES = frozenset({".py", ".j2", ".json", ".yaml", ".yml", ".txt", ".md", ".html"})


def _songs_names() -> dict[str, re.Pattern[str]]:
    contract = load_contract(ROOT / "contract.yaml")
    patterns: dict[str, re.Pattern[str]] = {}
    # The target and the columns in any case, inside identifiers too (per_genre, GENRES,
    # num__tempo), but not inside longer words (temporary holds tempo).
    for name in (contract.target, *contract.columns):
        if name not in ORDINARY_WORDS:
            patterns[name] = re.compile(rf"(?<![a-z]){re.escape(name)}s?(?![a-z])", re.IGNORECASE)
    # The classes as written ("Pop" is a class; `.pop()` is not).
    for label in contract.classes:
        patterns[label] = re.compile(rf"(?<![A-Za-z]){re.escape(label)}(?![A-Za-z])")
    return patterns


def _package_files() -> list[Path]:
    return sorted(
        path
        for path in PACKAGE.rglob("*")
        if path.is_file() and path.suffix in SUFFIXES and "__pycache__" not in path.parts
    )


def test_the_songs_contract_has_the_names_this_test_looks_for():
    names = _songs_names()
    assert {"genre", "song_name", "danceability", "tempo", "Dark Trap", "Pop"} <= set(names)
    assert names["tempo"].search("num__tempo") and not names["tempo"].search("temporary")
    assert names["genre"].search("per_genre.json") and names["genre"].search("GENRES")
    assert not names["genre"].search(PACKAGE_NAME.sub("", "music_genre.data, music-genre serve"))
    assert not names["Pop"].search("kwargs.pop('x')")


@pytest.mark.parametrize("path", _package_files(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_name_of_the_songs_table_in_the_package(path: Path):
    text = PACKAGE_NAME.sub("", path.read_text(encoding="utf-8"))
    found = []
    for name, pattern in _songs_names().items():
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(ROOT)}:{line}: {name!r}")
    assert not found, "names of the songs table outside contract.yaml:\n" + "\n".join(found[:40])
