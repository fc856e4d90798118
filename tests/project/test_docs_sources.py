"""The documentation site's generator (docs/scripts/sitegen): every page's generated blocks and
values resolve, the references cover the params, the CLI and the package, and a result is called
stale exactly when the code it measures changed after it (the browser test builds the site)."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from support.sitegen import sitegen_module

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GENERATED_PAGES = ("reference/params.md", "reference/cli.md")


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "scripts" not in p.relative_to(DOCS).parts)


def _nav_pages(nav) -> set[str]:
    found: set[str] = set()
    for item in nav:
        values = item.values() if isinstance(item, dict) else [item]
        for value in values:
            found |= _nav_pages(value) if isinstance(value, list) else {str(value)}
    return found


def test_every_page_is_in_the_nav_and_every_nav_entry_exists():
    nav = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    pages = {str(p.relative_to(DOCS)) for p in _pages()}
    assert pages - nav == set(), "pages outside the nav (orphans)"
    for entry in nav - pages:
        assert entry in GENERATED_PAGES or entry == "reference/api/", f"nav names {entry}"


@pytest.mark.parametrize("page", _pages(), ids=lambda p: str(p.relative_to(DOCS)))
def test_every_generated_block_and_value_of_a_page_resolves(page):
    blocks = sitegen_module("sitegen.blocks")
    sources = sitegen_module("sitegen.sources")
    text = page.read_text(encoding="utf-8")
    for name, args in re.findall(r"^<!-- gen: ([\w-]+)([^\n]*?) -->$", text, flags=re.M):
        assert name in blocks.BLOCKS, f"{page.name}: unknown block {name}"
        assert blocks.BLOCKS[name](*args.split()).strip()
    expanded = sources.expand(text.replace("\\{{", ""), blocks.resolve)
    assert not sources.PLACEHOLDER.search(expanded)


def test_a_missing_key_stops_the_build_naming_the_file_and_key():
    sources = sitegen_module("sitegen.sources")
    with pytest.raises(sources.SourceError, match=r"metrics/evaluate/metrics.json: no key 'nope'"):
        sources.expand("{{ evaluate: nope }}")
    assert sources.expand("\\{{ evaluate: roc_auc }}") == "{{ evaluate: roc_auc }}"
    assert sources.expand("{{ params: tfidf.max_features }}") == str(
        yaml.safe_load((ROOT / "params.yaml").read_text())["tfidf"]["max_features"]
    )


def _fields(model, prefix=""):
    reference = sitegen_module("sitegen.reference")
    for name, field in model.model_fields.items():
        yield f"{prefix}{name}"
        nested = reference.nested_model(field.annotation)
        if nested is not None:
            yield from _fields(nested, f"{prefix}{name}.")


def _keys(node, prefix=""):
    """Dotted keys of params.yaml; a key that itself has dots (the search space's) in brackets."""
    for key, value in node.items():
        dotted = f"{prefix.removesuffix('.')}[{key}]" if "." in key else f"{prefix}{key}"
        yield dotted
        if isinstance(value, dict) and "." not in key:
            yield from _keys(value, f"{dotted}.")


def _documents(page: str, key: str) -> bool:
    """The params page names `key` as a paragraph, a section or a table row of its own."""
    return any(form in page for form in (f"**`{key}`**", f"## `{key}`", f"| `{key}` |"))


def test_the_params_reference_has_every_field_and_every_committed_key():
    from music_genre.core.params import Params

    page = sitegen_module("sitegen.reference").params_page()
    for key in _fields(Params):
        assert _documents(page, key), f"{key} is not in the params reference"
    for key in _keys(yaml.safe_load((ROOT / "params.yaml").read_text())):
        assert _documents(page, key), f"params.yaml's {key} is not in the params reference"


def test_the_cli_reference_has_every_subcommand_and_option():
    import argparse

    from music_genre.cli.main import build_parser

    page = sitegen_module("sitegen.reference").cli_page()
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name, parser in commands.choices.items():
        assert f"## `{name}`" in page
        for action in parser._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert f"`{flag}`" in page, f"music-genre {name} {flag}"


def test_the_api_reference_has_every_module_of_the_package():
    reference = sitegen_module("sitegen.reference")
    documented = {m for modules in reference.api_modules().values() for m in modules}
    for path in (ROOT / "src" / "music_genre").rglob("*.py"):
        parts = path.relative_to(ROOT / "src").with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        assert name in documented or name == "music_genre", f"{name} has no API page"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


def _commit(repo: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "add", "-A")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)


@pytest.fixture
def history(tmp_path, monkeypatch):
    freshness = sitegen_module("sitegen.freshness")
    _git(tmp_path, "init", "-q")
    monkeypatch.setattr(freshness, "ROOT", tmp_path)
    freshness.result_freshness.cache_clear()
    yield tmp_path, freshness
    freshness.result_freshness.cache_clear()


def test_a_result_is_stale_once_a_later_commit_changes_what_it_measures(history):
    repo, freshness = history
    notes = sitegen_module("sitegen.notes")
    measures = ("src",)
    _commit(repo, {"src/a.py": "1\n", "results/r.json": "{}"}, "measure")
    assert not freshness.result_freshness("results/r.json", measures).stale
    _commit(repo, {"docs.txt": "unrelated\n"}, "unrelated change")
    freshness.result_freshness.cache_clear()
    assert not freshness.result_freshness("results/r.json", measures).stale
    _commit(repo, {"src/a.py": "2\n"}, "change the code")
    freshness.result_freshness.cache_clear()
    found = freshness.result_freshness("results/r.json", measures)
    assert [subject for _, _, subject in found.changed] == ["change the code"]
    note = notes.freshness_note(found, "python bench.py")
    assert notes.STALE_TITLE in note and "change the code" in note and "python bench.py" in note
    _commit(repo, {"results/r.json": '{"x": 1}'}, "measure again")
    freshness.result_freshness.cache_clear()
    assert not freshness.result_freshness("results/r.json", measures).stale


def test_a_result_that_records_its_commit_is_measured_there(history):
    repo, freshness = history
    _commit(repo, {"src/a.py": "1\n"}, "the measured code")
    measured = _git(repo, "rev-parse", "HEAD")
    _commit(repo, {"src/a.py": "2\n"}, "later code")
    _commit(repo, {"results/r.json": f'{{"commit": "{measured}"}}'}, "record the result")
    found = freshness.result_freshness("results/r.json", ("src",))
    assert found.measured == measured[:7] and found.stale


def test_metrics_are_stale_when_a_dependency_dvc_lock_recorded_changed(tmp_path, monkeypatch):
    freshness = sitegen_module("sitegen.freshness")
    code = tmp_path / "stage.py"
    code.write_text("print(1)\n")
    (tmp_path / "params.yaml").write_text("knob: 1\n")
    lock = {
        "stages": {
            "s": {
                "deps": [{"path": "stage.py", "md5": hashlib.md5(code.read_bytes()).hexdigest()}],
                "params": {"params.yaml": {"knob": 1}},
                "outs": [{"path": "metrics/m.json"}],
            }
        }
    }
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    monkeypatch.setattr(freshness, "ROOT", tmp_path)
    for cached in (freshness.stage_freshness, freshness.producing_stage):
        cached.cache_clear()
    assert freshness.producing_stage("metrics/m.json") == "s"
    assert not freshness.stage_freshness("s").stale
    code.write_text("print(2)\n")
    (tmp_path / "params.yaml").write_text("knob: 2\n")
    freshness.stage_freshness.cache_clear()
    assert freshness.stage_freshness("s").changed == ("stage.py", "params.yaml:knob")
    freshness.stage_freshness.cache_clear()
    freshness.producing_stage.cache_clear()
