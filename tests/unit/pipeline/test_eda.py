import json
import re
import struct

import pandas as pd
import pytest

from music_genre.data.features import CATEGORICAL_FEATURES, NUMERIC_FEATURES
from music_genre.data.synthetic import generate
from music_genre.data.tracks import label_conflicts
from music_genre.pipeline.eda import genre_separation, run_eda
from music_genre.pipeline.preprocess import preprocess

IMAGES = (
    "genre_counts",
    "missing_values",
    "feature_distributions",
    "correlations",
    "projection",
    "shared_tracks",
)


@pytest.fixture(scope="module")
def eda_output(tmp_path_factory):
    root = tmp_path_factory.mktemp("eda")
    raw = generate(3000, seed=4)
    raw.to_parquet(root / "raw.parquet", index=False)
    preprocess(raw).to_parquet(root / "prepared.parquet", index=False)
    result = run_eda(
        str(root / "prepared.parquet"),
        str(root / "raw.parquet"),
        str(root / "out"),
        sample_rows=1000,
        seed=0,
    )
    return root / "out", result


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_every_declared_file_is_written(eda_output):
    out, _ = eda_output
    for name in IMAGES:
        width, height = png_size(out / "images" / f"{name}.png")
        assert 500 <= width <= 2500 and 300 <= height <= 3000, (name, width, height)
    for name in ("genre_counts", "missing_values", "genre_separation", "label_conflicts"):
        assert (out / "data" / f"{name}.json").stat().st_size > 0


def test_report_embeds_every_image_offline(eda_output):
    out, _ = eda_output
    page = (out / "report.html").read_text()
    assert sorted(re.findall(r'data-file="([a-z_]+)\.png"', page)) == sorted(
        f"{name}" for name in IMAGES
    )
    assert page.count("data:image/png;base64,") == len(IMAGES)
    assert "http://" not in page and "https://" not in page
    assert "Summary statistics" in page and "<figcaption>" in page


def test_genre_separation_finds_a_feature_that_defines_the_genre():
    frame = pd.DataFrame(
        {
            "genre": ["a"] * 50 + ["b"] * 50,
            **{column: [0.0] * 100 for column in (*NUMERIC_FEATURES, *CATEGORICAL_FEATURES)},
            "tempo": [100.0] * 50 + [150.0] * 50,
        }
    )
    ranking = genre_separation(frame)
    assert ranking[0] == {"feature": "tempo", "eta_squared": 1.0}
    assert ranking[-1]["eta_squared"] == 0.0


def test_report_counts_repeated_tracks_and_label_conflicts(eda_output):
    out, result = eda_output
    prepared = pd.read_parquet(out.parent / "prepared.parquet")
    assert result["conflicts"] == label_conflicts(prepared)
    assert json.loads((out / "data" / "label_conflicts.json").read_text()) == result["conflicts"]
    page = (out / "report.html").read_text()
    assert "Repeated tracks and label conflicts" in page
    assert (
        f"<td>conflicting tracks</td><td>{result['conflicts']['conflicting_tracks']}</td>" in page
    )
