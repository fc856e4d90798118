"""The documentation site, built with `mkdocs build --strict` and opened in headless Chromium over
HTTP on 127.0.0.1: the home page and the results page render (non-blank), carry their headings,
every image loads, and no page loads anything from another host."""

from __future__ import annotations

import functools
import html
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
REQUIRE_CHROMIUM_ENV = "MUSIC_GENRE_REQUIRE_CHROMIUM"
# After the page's load event: every image's source and whether it decoded, and the headings.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = [...document.querySelectorAll("article img")].map(
    (img) => [img.getAttribute("src"), img.complete && img.naturalWidth > 0]);
  const headings = [...document.querySelectorAll("article h1, article h2")].map(
    (h) => h.textContent.replace("\\u00b6", "").trim());
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({images, headings});
  document.body.appendChild(probe);
});
</script>"""
PAGES = {
    "index.html": ["music-genre", "Two commands", "The pipeline", "Headline results"],
    "results.html": [
        "Results",
        "Headline metrics",
        "ROC and precision\u2013recall",
        "Confusion matrix",
        "Training curves",
        "Per class",
    ],
}


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get(REQUIRE_CHROMIUM_ENV) == "1":
            pytest.fail("chromium is missing (install Debian's chromium)")
        pytest.skip("chromium is missing: install Debian's chromium to run this test")
    return path


def _chromium(url: str, profile: Path, *extra: str) -> str:
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1300,2000",
            "--virtual-time-budget=10000",
            *extra,
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return done.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    chromium()
    target = tmp_path_factory.mktemp("docs") / "site"
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(target)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    for page in PAGES:
        path = target / page
        path.write_text(path.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    return target


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("page", list(PAGES))
def test_a_page_renders_with_its_headings_and_every_image_loads(served, page, tmp_path):
    shot = tmp_path / "page.png"
    _chromium(f"{served}/{page}", tmp_path / "profile-a", f"--screenshot={shot}")
    image = Image.open(shot).convert("RGB")
    pixels = image.get_flattened_data()
    drawn = sum(1 for pixel in pixels if pixel != (255, 255, 255)) / len(pixels)
    assert drawn > 0.05, f"{page} is nearly blank ({drawn:.1%} drawn)"
    assert len(set(pixels)) > 50, f"{page} has almost no colours"

    dom = _chromium(f"{served}/{page}", tmp_path / "profile-b", "--dump-dom")
    probe = json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1)))
    for heading in PAGES[page]:
        assert heading in probe["headings"], f"{page}: no heading {heading!r}"
    assert probe["images"], f"{page} has no image"
    broken = [src for src, loaded in probe["images"] if not loaded]
    assert broken == [], f"{page}: images that did not load: {broken}"


def test_no_page_loads_anything_from_another_host(site):
    tags = re.compile(r"<(?:script|link|img|iframe)\b[^>]*>", re.IGNORECASE)
    remote = re.compile(r"\b(?:src|href)=[\"'](?:https?:)?//")
    for page in site.rglob("*.html"):
        for tag in tags.findall(page.read_text(encoding="utf-8")):
            if "canonical" not in tag:
                assert not remote.search(tag), f"{page.relative_to(site)}: {tag}"
    assert "fonts.googleapis" not in "".join(p.read_text() for p in site.rglob("*.css"))


def test_the_results_page_shows_the_committed_metrics(site):
    metrics = json.loads((ROOT / "metrics" / "evaluate" / "metrics.json").read_text())
    text = (site / "results.html").read_text(encoding="utf-8")
    assert f"{metrics['roc_auc']:.4f}" in text and f"{metrics['accuracy']:.4f}" in text
