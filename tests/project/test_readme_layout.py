"""The layout map of the docs (docs/development.md, "Layout"; the README links to it) matches the
tree: every package folder, module and test folder."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "music_genre"


def _layout() -> str:
    text = (ROOT / "docs" / "development.md").read_text()
    section = text[text.index("## Layout\n") :]
    return section[: section.index("\n```\n", section.index("```") + 3)]


def test_every_subpackage_and_its_modules_are_on_the_map():
    layout = _layout()
    for folder in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()):
        line = f"src/music_genre/{folder.name}/"
        assert line in layout, f"{line} is not on the docs' layout map"
        block = layout[layout.index(line) :].split("\nsrc/", 1)[0]
        for module in sorted(folder.glob("*.py")):
            if module.stem != "__init__":
                assert re.search(rf"\b{module.stem}\b", block), (
                    f"{module} is not on the docs' layout map"
                )


def test_every_folder_on_the_map_exists_and_every_test_folder_is_on_it():
    layout = _layout()
    for named in re.findall(r"^((?:src|tests|stages|benchmarks)[\w/<>]*/)", layout, flags=re.M):
        if "<" not in named:
            assert (ROOT / named).is_dir(), (
                f"the docs' layout map names {named}, which does not exist"
            )
    for folder in sorted(p for p in (ROOT / "tests").iterdir() if p.is_dir()):
        if folder.name != "__pycache__":
            assert re.search(rf"\b{folder.name}/", layout), (
                f"tests/{folder.name}/ is not on the map"
            )
