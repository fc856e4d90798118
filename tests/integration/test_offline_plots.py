"""`music-genre plots` pages render in a real headless Chromium with no network."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from support.project import clone_project, run

pytestmark = pytest.mark.browser

REQUIRE_CHROMIUM_ENV = "MUSIC_GENRE_REQUIRE_CHROMIUM"


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        if os.environ.get(REQUIRE_CHROMIUM_ENV) == "1":
            pytest.fail("chromium is missing (install Debian's chromium)")
        pytest.skip("chromium is missing: install Debian's chromium to run this test")
    return path


def screenshot(page: Path, target: Path, profile: Path) -> Image.Image:
    subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1400,2400",
            "--virtual-time-budget=20000",
            f"--screenshot={target}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return Image.open(target).convert("RGB")


def drawn_fraction(image: Image.Image) -> float:
    pixels = image.get_flattened_data()
    return sum(1 for pixel in pixels if pixel != (255, 255, 255)) / len(pixels)


def test_offline_plot_pages_render_and_cdn_pages_do_not(synthetic_project, tmp_path):
    project = clone_project(synthetic_project, tmp_path / "project")
    run(
        [
            sys.executable,
            "-m",
            "music_genre.cli",
            "plots",
            "show",
            "-o",
            str(tmp_path / "offline"),
            "plots/evaluate/custom/roc.json",
            "plots/evaluate/custom/per_genre.json",
        ],
        project,
    )
    run(
        [
            "dvc",
            "plots",
            "show",
            "-o",
            str(tmp_path / "cdn"),
            "plots/evaluate/custom/roc.json",
            "plots/evaluate/custom/per_genre.json",
        ],
        project,
    )
    offline_page = (tmp_path / "offline" / "index.html").read_text()
    assert "cdn.jsdelivr" not in offline_page and "vegaEmbed" in offline_page

    offline = screenshot(
        tmp_path / "offline" / "index.html", tmp_path / "offline.png", tmp_path / "profile-a"
    )
    cdn = screenshot(tmp_path / "cdn" / "index.html", tmp_path / "cdn.png", tmp_path / "profile-b")
    # Vega draws axes, 15 coloured ROC lines and bars offline; the CDN page stays blank here.
    assert drawn_fraction(offline) > 0.01
    assert len(set(offline.get_flattened_data())) > 50
    assert drawn_fraction(cdn) < drawn_fraction(offline) / 5


def test_offline_plots_diff_between_revisions(synthetic_project, tmp_path):
    chromium()
    project = clone_project(synthetic_project, tmp_path / "project")
    run(["git", "checkout", "-q", "-b", "other"], project)
    run(["dvc", "exp", "run", "-S", "train.lightgbm.num_leaves=2"], project)
    run(["git", "commit", "-qam", "shallow"], project)
    run(
        [
            sys.executable,
            "-m",
            "music_genre.cli",
            "plots",
            "diff",
            "main",
            "other",
            "-o",
            str(tmp_path / "diff"),
            "--targets",
            "plots/evaluate/custom/roc.json",
        ],
        project,
    )
    page = (tmp_path / "diff" / "index.html").read_text()
    for revision in ("main", "other"):
        assert re.search(rf'"rev":\s*"{revision}"', page), revision
    image = screenshot(
        tmp_path / "diff" / "index.html", tmp_path / "diff.png", tmp_path / "profile"
    )
    assert drawn_fraction(image) > 0.01
