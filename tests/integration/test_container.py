"""The serving image, built and run for real: podman builds the Dockerfile on a Debian 12 base
made offline by debootstrap (tests/support/containers.py), runs `<image> serve` with its port
8080 published on 127.0.0.1, and the container must keep the platform contract (/ping, the
health check, /invocations in every body form, /metrics) and answer exactly what `music-genre
serve` answers from the workspace on 1,000 real test songs."""

from __future__ import annotations

import json
import os
import re

import httpx
import pandas as pd
import pytest

from music_genre.data.contract import load_contract
from support.containers import (
    PodmanUnavailableError,
    base_image,
    build_image,
    check_tools,
    podman,
    run_in_image,
    running_container,
)
from support.data import missing_real_data
from support.project import PROJECT_ROOT
from support.servers import as_request_songs, free_port, serving

pytestmark = pytest.mark.container

# CI sets this, so that a machine without podman fails the test instead of skipping it.
REQUIRE_ENV = "MUSIC_GENRE_REQUIRE_PODMAN"
IMAGE = "localhost/music-genre:test"
MODEL = PROJECT_ROOT / "models" / "model.joblib"
CARD = MODEL.with_suffix(".json")
TEST_SPLIT = PROJECT_ROOT / "data" / "split" / "test.parquet"
CONTRACT = load_contract(PROJECT_ROOT / "contract.yaml")
# What the image copies in besides the model: the drift references.
REFERENCES = (
    PROJECT_ROOT / "data" / "reference_profile.json",
    PROJECT_ROOT / "plots" / "evaluate" / "custom" / f"per_{CONTRACT.target}.json",
)
SONGS = 1000
APP_UID = "10001"


def _outputs_of_the_pipeline() -> None:
    for path in (MODEL, CARD, TEST_SPLIT, *REFERENCES):
        if not path.is_file():
            missing_real_data(f"{path.relative_to(PROJECT_ROOT)} is missing: run `dvc repro`")
    if "contract" not in json.loads(CARD.read_text()):
        missing_real_data(f"{CARD.relative_to(PROJECT_ROOT)} carries no contract: run `dvc repro`")


@pytest.fixture(scope="module")
def image() -> str:
    _outputs_of_the_pipeline()
    try:
        check_tools()
        base = base_image()
    except PodmanUnavailableError as error:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(str(error))
        pytest.skip(str(error))
    previous = _image_id()
    build_image(PROJECT_ROOT, IMAGE, base)
    if previous and previous != _image_id():
        podman("rmi", previous, check=False)  # the last run's image, untagged by this build
    return IMAGE


def _image_id() -> str:
    return podman("image", "inspect", "--format", "{{.Id}}", IMAGE, check=False).stdout.strip()


@pytest.fixture(scope="module")
def container(image) -> tuple[str, str]:
    """`<image> serve`, as SageMaker starts it; yields its name and base URL."""
    port = free_port()
    with running_container(image, port, "serve") as name:
        yield name, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def ours() -> str:
    with serving(MODEL) as base:
        yield base


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return pd.read_parquet(TEST_SPLIT).sample(SONGS, random_state=0).reset_index(drop=True)


def _bodies(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    records = as_request_songs(frame, CONTRACT)
    columns = list(CONTRACT.input_columns)
    split = {"columns": columns, "data": [[row[name] for name in columns] for row in records]}
    as_json = {
        "dataframe_split": split,
        "dataframe_records": records,
        "instances": records,
        "inputs": records,
    }
    bodies = {
        form: ("application/json", json.dumps({form: rows})) for form, rows in as_json.items()
    }
    return {**bodies, "csv": ("text/csv", frame[columns].to_csv(index=False))}


def _post(base: str, body: tuple[str, str], path: str = "/invocations") -> httpx.Response:
    media_type, content = body
    return httpx.post(
        f"{base}{path}", content=content, headers={"Content-Type": media_type}, timeout=120
    )


def test_the_image_holds_the_serving_install_and_declares_the_contract(image):
    (inspected,) = json.loads(podman("image", "inspect", image).stdout)
    config = inspected["Config"]
    assert config["Entrypoint"] == ["music-genre"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["User"] == "app"
    assert "/ping" in " ".join(inspected["Healthcheck"]["Test"])
    frozen = run_in_image(image, "pip", "freeze").splitlines()
    # The package itself (from the build context), then exactly the serving lock's pins.
    assert "music-genre @ file:///app" in frozen
    lock = (PROJECT_ROOT / "requirements" / "serve.txt").read_text().splitlines()
    assert _pins(frozen) == _pins(lock)


def _pins(lines: list[str]) -> set[str]:
    """`name==version` lines, names normalized as pip does (PyYAML, typing_extensions)."""
    pins = (line.strip().split("==") for line in lines if "==" in line and line[0] != "#")
    return {f"{re.sub(r'[-_.]+', '-', name).lower()}=={version}" for name, version in pins}


def test_serve_answers_on_8080_as_a_non_root_user_and_its_health_check_passes(container):
    name, base = container
    assert httpx.get(f"{base}/ping").status_code == 200
    port = podman("port", name, "8080/tcp").stdout.strip()
    assert port == base.removeprefix("http://")
    assert podman("exec", name, "id", "-u").stdout.strip() == APP_UID
    assert podman("healthcheck", "run", name, check=False).returncode == 0


def test_invocations_in_every_body_form_answer_as_music_genre_serve(container, ours, sample):
    _, theirs = container
    for form, body in _bodies(sample).items():
        mine, containers = _post(ours, body), _post(theirs, body)
        assert mine.status_code == containers.status_code == 200, (form, containers.text[:300])
        assert containers.json() == mine.json(), form
        assert len(containers.json()["predictions"]) == SONGS
    # The probabilities too, from /predict: the same wheels, the same floats.
    songs = ("application/json", json.dumps({CONTRACT.name: as_request_songs(sample, CONTRACT)}))
    assert _post(theirs, songs, "/predict").json() == _post(ours, songs, "/predict").json()


def test_a_bad_value_gets_the_same_4xx_in_the_container(container, ours, sample):
    _, theirs = container
    record = as_request_songs(sample.head(1), CONTRACT)[0]
    ranged, (_, high) = next(iter(CONTRACT.value_ranges.items()))
    body = ("application/json", json.dumps({"dataframe_records": [{**record, ranged: high + 1}]}))
    mine, containers = _post(ours, body), _post(theirs, body)
    assert 400 <= containers.status_code < 500
    assert (containers.status_code, containers.json()) == (mine.status_code, mine.json())


def _counted(base: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    pattern = r'^music_genre_requests_total\{route="/invocations",status="200"\} (\S+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return float(found[1]) if found else 0.0


def test_metrics_count_the_requests_and_watch_drift(container, sample):
    _, base = container
    before = _counted(base)
    body = _bodies(sample.head(5))["dataframe_records"]
    for _ in range(3):
        assert _post(base, body).status_code == 200
    assert _counted(base) == before + 3
    metrics = httpx.get(f"{base}/metrics").text
    sha256 = json.loads(CARD.read_text())["model_sha256"]
    assert f'model_sha256="{sha256}"' in metrics
    # The drift references were copied into the image, so drift is on.
    assert f"music_genre_drift_window_{CONTRACT.name}" in metrics
