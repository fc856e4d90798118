"""MkDocs hooks (mkdocs.yml `hooks:`): generate the reference pages, the figures and every number
of the site from the project's files at build time, and refuse a page that loads anything from
another host (the site must work offline)."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from sitegen import blocks, dag, figures, freshness, reference, sources
from sitegen.sources import SourceError, expand

GENERATED = "assets/generated"
API = "reference/api"
_BLOCK = re.compile(r"^<!-- gen: ([\w-]+)([^\n]*?) -->$", re.MULTILINE)
_TAG = re.compile(r"<(script|link|img|iframe|source|audio|video)\b[^>]*>", re.IGNORECASE)
_URL = re.compile(r"\b(?:src|href)=[\"']((?:https?:)?//[^\"']+)", re.IGNORECASE)
# <link> relations that name a page rather than load one (canonical: the site's own address).
_NOT_LOADED = re.compile(r"\brel=[\"']?(canonical|alternate|author|help|license)\b", re.I)
_EXTERNAL_CSS = re.compile(r"(?:@import|url\()\s*[\"']?((?:https?:)?//[^\"')]+)", re.IGNORECASE)


def on_config(config: Any) -> Any:
    """Forget what the last build read (`mkdocs serve` rebuilds in one process); expand the nav's
    API entry into one page per subpackage (from the source tree)."""
    for cached in (
        sources.load,
        dag.stages,
        dag.edges,
        figures.target,
        freshness.result_freshness,
        freshness.stage_freshness,
        freshness.producing_stage,
    ):
        cached.cache_clear()
    for index, item in enumerate(config["nav"] or []):
        if isinstance(item, dict) and "Reference" in item:
            entries = item["Reference"]
            for position, entry in enumerate(entries):
                if isinstance(entry, dict) and entry.get("API") == f"{API}/":
                    entries[position] = {
                        "API": [
                            {f"music_genre.{name}": f"{API}/{name}.md"}
                            for name in reference.api_modules()
                        ]
                    }
            config["nav"][index] = item
    return config


def on_files(files: Files, config: Any) -> Files:
    try:
        pages = {
            "reference/params.md": reference.params_page(),
            "reference/cli.md": reference.cli_page(),
            **{
                f"{API}/{name}.md": reference.api_page(name, modules)
                for name, modules in reference.api_modules().items()
            },
        }
        assets: dict[str, bytes | str] = {"dag.svg": dag.svg(), **figures.figures()}
    except SourceError as error:
        raise PluginError(str(error)) from None
    for uri, text in pages.items():
        files.append(File.generated(config, uri, content=text))
    for name, content in assets.items():
        files.append(File.generated(config, f"{GENERATED}/{name}", content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """`<!-- gen: NAME ARGS -->` lines become generated Markdown; `{{ source: key | format }}`
    values from the results, metrics and params files."""

    def block(match: re.Match[str]) -> str:
        name, args = match.group(1), match.group(2).split()
        if name not in blocks.BLOCKS:
            raise PluginError(f"{page.file.src_uri}: unknown block '{name}'")
        return blocks.BLOCKS[name](*args)

    try:
        return expand(_BLOCK.sub(block, markdown), blocks.resolve)
    except SourceError as error:
        raise PluginError(f"{page.file.src_uri}: {error}") from None


def _loaded_urls(page: str) -> list[str]:
    """The absolute URLs a page's tags would load (scripts, styles, images, frames, media)."""
    found = []
    for tag in _TAG.finditer(page):
        if tag.group(1).lower() == "link" and _NOT_LOADED.search(tag.group(0)):
            continue
        found += _URL.findall(tag.group(0))
    return found


def on_post_build(config: Any) -> None:
    """Fail the build if a page or stylesheet would load anything from the network."""
    site = Path(config["site_dir"])
    found = []
    for path in sorted(site.rglob("*")):
        if path.suffix == ".html":
            hits = _loaded_urls(path.read_text(encoding="utf-8"))
        elif path.suffix == ".css":
            hits = _EXTERNAL_CSS.findall(path.read_text(encoding="utf-8"))
        else:
            continue
        found += [f"{path.relative_to(site)}: {hit}" for hit in hits]
    if found:
        raise PluginError("the site loads from other hosts (it must work offline): " + found[0])
