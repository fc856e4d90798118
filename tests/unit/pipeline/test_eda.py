import json
import re
import struct

import pandas as pd
import pytest

from music_genre.data.contract import load_contract
from music_genre.data.synthetic import generate
from music_genre.data.tracks import label_conflicts
from music_genre.pipeline.eda import class_separation, counts_caption, missing_caption, run_eda
from music_genre.pipeline.preprocess import preprocess
from support.data import PENGUINS_CONTRACT, songs_contract, synthetic_songs, with_text

SONGS = songs_contract()
PENGUINS = load_contract(PENGUINS_CONTRACT)
IMAGES = (
    "genre_counts",
    "missing_values",
    "feature_distributions",
    "correlations",
    "projection",
    "shared_tracks",
)


def run(root, raw, contract):
    raw.to_parquet(root / "raw.parquet", index=False)
    preprocess(raw, contract).to_parquet(root / "prepared.parquet", index=False)
    result = run_eda(
        str(root / "prepared.parquet"),
        str(root / "raw.parquet"),
        str(root / "out"),
        sample_rows=1000,
        seed=0,
        contract=contract,
    )
    return root / "out", result


@pytest.fixture(scope="module")
def eda_output(tmp_path_factory):
    return run(tmp_path_factory.mktemp("eda"), synthetic_songs(3000, seed=4), SONGS)


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def captions(page: str) -> list[str]:
    return re.findall(r"<figcaption>(.*?)</figcaption>", page)


def test_every_declared_file_is_written(eda_output):
    out, _ = eda_output
    for name in IMAGES:
        width, height = png_size(out / "images" / f"{name}.png")
        assert 500 <= width <= 2500 and 300 <= height <= 3000, (name, width, height)
    for name in ("genre_counts", "missing_values", "genre_separation", "label_conflicts"):
        assert (out / "data" / f"{name}.json").stat().st_size > 0
    counts = json.loads((out / "data" / "genre_counts.json").read_text())
    assert set(counts[0]) == {"genre", "songs"}  # the names dvc.yaml's plots read


def test_report_embeds_every_image_offline(eda_output):
    out, _ = eda_output
    page = (out / "report.html").read_text()
    assert sorted(re.findall(r'data-file="([a-z_]+)\.png"', page)) == sorted(IMAGES)
    assert page.count("data:image/png;base64,") == len(IMAGES)
    assert "http://" not in page and "https://" not in page
    assert "Summary statistics" in page and "<figcaption>" in page
    assert "<title>Songs table: EDA</title>" in page


def test_captions_are_computed_from_the_table(eda_output):
    out, result = eda_output
    page = (out / "report.html").read_text()
    counts = result["counts"]
    ratio = counts[0]["songs"] / counts[-1]["songs"]
    first = captions(page)[0]
    assert first == (
        f"Songs per genre: the classes are imbalanced ({counts[0]['genre']} has {ratio:.1f}x "
        f"the songs of {counts[-1]['genre']})."
    )
    raw = pd.read_parquet(out.parent / "raw.parquet")
    missing = captions(page)[1]
    assert f"loudness in {raw['loudness'].isna().mean():.1%} of the rows" in missing
    # The synthetic songs, like the real ones, have no title for the hip-hop classes.
    assert "title in" in missing and "(all the rows of 8 of the 15 classes: Dark Trap" in missing
    top = result["separation"][0]
    assert f"genre explains most of the variance of {top['feature']} " in captions(page)[2]
    assert "nearest class centre" in captions(page)[4]
    for fixed in ("electronic", "hip-hop", "a fifth"):
        assert fixed not in page


def test_caption_wording_follows_the_numbers():
    balanced = [{"species": "a", "penguins": 10}, {"species": "b", "penguins": 8}]
    assert counts_caption(balanced, PENGUINS) == (
        "Penguins per species: the classes are balanced (a has 1.2x the penguins of b)."
    )
    raw = pd.DataFrame({"species": ["a", "b"], "bill_length_mm": [1.0, 2.0]})
    assert missing_caption(raw, PENGUINS) == (
        "Missing values per column of the raw table: none, every column is complete."
    )


def test_genre_separation_finds_a_feature_that_defines_the_genre():
    inputs = (*SONGS.numeric_features, *SONGS.categorical_features)
    frame = pd.DataFrame(
        {
            "genre": ["a"] * 50 + ["b"] * 50,
            **{column: [0.0] * 100 for column in inputs},
            "tempo": [100.0] * 50 + [150.0] * 50,
        }
    )
    ranking = class_separation(frame, SONGS)
    assert ranking[0] == {"feature": "tempo", "eta_squared": 1.0}
    assert ranking[-1]["eta_squared"] == 0.0


def test_report_counts_repeated_tracks_and_label_conflicts(eda_output):
    out, result = eda_output
    prepared = pd.read_parquet(out.parent / "prepared.parquet")
    assert result["conflicts"] == label_conflicts(prepared, SONGS)
    assert json.loads((out / "data" / "label_conflicts.json").read_text()) == result["conflicts"]
    page = (out / "report.html").read_text()
    assert "Repeated tracks and label conflicts" in page
    assert (
        f"<td>conflicting tracks</td><td>{result['conflicts']['conflicting_tracks']}</td>" in page
    )
    assert captions(page)[-1].startswith(
        f"Label conflicts: {result['conflicts']['conflicting_tracks']:,} tracks carry more than "
        "one genre"
    )


@pytest.mark.parametrize("contract", [PENGUINS, with_text(PENGUINS, "notes", "comment")])
def test_three_classes_without_groups(tmp_path, contract):
    out, result = run(tmp_path, generate(400, 1, contract), contract)
    names = sorted(path.stem for path in (out / "images").iterdir())
    assert names == [
        "correlations",
        "feature_distributions",
        "missing_values",
        "projection",
        "species_counts",
    ]
    assert sorted(path.stem for path in (out / "data").iterdir()) == [
        "missing_values",
        "species_counts",
        "species_separation",
    ]
    assert result["conflicts"] is None
    page = (out / "report.html").read_text()
    assert "label conflicts" not in page.lower()
    assert captions(page)[0].startswith("Penguins per species: ")
    assert "sex in " in captions(page)[1]
    assert {row["feature"] for row in result["separation"]} == set(PENGUINS.numeric_features)


@pytest.mark.parametrize("n_classes", [2, 3, 15])
def test_the_projection_caption_never_names_a_class_as_best_and_least(n_classes):
    import numpy as np

    from music_genre.pipeline.eda import projection_caption

    rng = np.random.default_rng(0)
    labels = np.repeat([f"c{index:02d}" for index in range(n_classes)], 20)
    centres = {
        label: rng.normal(size=2) * (index + 1) for index, label in enumerate(sorted(set(labels)))
    }
    points = np.array([centres[label] + rng.normal(scale=0.8, size=2) for label in labels])
    caption = projection_caption(points, [0.6, 0.3], labels, PENGUINS)
    best, least = caption.split("best separated ")[1].split("; least ")
    named = lambda part: {word for word in part.replace(",", " ").split() if word.startswith("c")}  # noqa: E731
    assert named(best) and named(least) and not named(best) & named(least)
    assert "the two components explain 60% and 30% of the variance" in caption
