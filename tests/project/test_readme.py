"""README.md: one screen, its two commands the ones CI runs, its links alive, and its generated
blocks (results, DAG, test times) current with metrics/, dvc.yaml and benchmarks/results/."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from support.sitegen import sitegen_module

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_LINES = 150
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def _text() -> str:
    return README.read_text(encoding="utf-8")


def _code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:bash|sh)\n(.*?)```", text, flags=re.S)


def _slug(heading: str) -> str:
    """The anchor MkDocs (and GitHub, for these headings) gives a heading."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[\s]+", "-", text)


def test_the_readme_fits_one_screen_of_150_lines():
    lines = len(_text().splitlines())
    assert lines <= MAX_LINES, (
        f"README.md has {lines} lines (at most {MAX_LINES}): move it to docs/"
    )


def test_its_first_two_commands_set_up_and_test_and_ci_runs_the_test_command():
    setup, test_command = (block.strip() for block in _code_blocks(_text())[:2])
    assert setup.startswith("python3 -m venv .venv") and setup.endswith("dvc repro")
    assert "pip install -r requirements.txt" in setup
    assert test_command.endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci, ".ci/run no longer runs the README's test command"


def test_every_relative_link_resolves_to_a_file_and_heading():
    links = _LINK.findall(_text())
    assert len(links) > 10
    for link in links:
        if re.match(r"[a-z]+://", link):
            continue
        path, _, anchor = link.partition("#")
        target = ROOT / path if path else README
        assert target.is_file(), f"README.md links to {link}, which does not exist"
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(encoding="utf-8"), flags=re.M)
            assert anchor in {_slug(h) for h in headings}, (
                f"README.md: no heading #{anchor} in {path}"
            )


def test_every_docs_page_it_links_to_is_in_the_site_nav():
    nav = json.dumps(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    for link in _LINK.findall(_text()):
        if link.startswith("docs/"):
            page = link.removeprefix("docs/").partition("#")[0]
            assert f'"{page}"' in nav, (
                f"README.md links to {link}, which is not in mkdocs.yml's nav"
            )


def test_the_generated_blocks_are_current():
    readme = sitegen_module("sitegen.readme")
    text = _text()
    assert set(readme.block_names(text)) == set(readme.BLOCKS), "a generated block went missing"
    assert readme.stale_blocks(text) == [], f"run {readme.COMMAND}"


def test_the_headline_numbers_are_the_committed_metrics():
    text = _text()
    for stage, label in (("train", "validation"), ("evaluate", "test")):
        metrics = json.loads((ROOT / "metrics" / stage / "metrics.json").read_text())
        row = next(line for line in text.splitlines() if line.startswith(f"| {label}"))
        assert f"{metrics['roc_auc']:.4f}" in row and f"{metrics['log_loss']:.4f}" in row


def test_the_dag_names_every_stage_and_only_edges_dvc_yaml_has():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    diagram = re.search(r"```mermaid\n(.*?)```", _text(), flags=re.S).group(1)
    edges = re.findall(r"^\s*(\w+) --> (\w+)$", diagram, flags=re.M)
    named = {name for edge in edges for name in edge} | set(
        re.findall(r"^\s*(\w+)$", diagram, flags=re.M)
    )
    assert named == set(stages), f"README's DAG names {sorted(named)}, dvc.yaml {sorted(stages)}"

    def outs(stage: dict) -> list[str]:
        found = []
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key, []):
                found += [entry] if isinstance(entry, str) else list(entry)
        return found

    expected = {
        (upstream, name)
        for name, stage in stages.items()
        for upstream, other in stages.items()
        if upstream != name
        and any(
            dep == out or dep.startswith(out + "/")
            for dep in stage.get("deps", [])
            for out in outs(other)
        )
    }
    assert set(edges) == expected


def test_it_keeps_the_lead_s_own_table_section():
    text = _text()
    section = text[text.index("\n## Your own table\n") :].split("\n## ", 2)[1]
    assert "<!-- own-table steps: written by the lead -->" in section or re.search(
        r"^1\. ", section, flags=re.M
    )
