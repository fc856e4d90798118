"""Shared fixtures: the real data (through the mirror), synthetic tables, project copies, small
models and servers. The helpers they use are public in tests/support/, where tests import them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from music_genre.pipeline.get_data import MIRROR_ENV
from support.data import (
    REAL_SHA256,
    missing_real_data,
    prepared_songs,
    real_data_path,
    songs_contract,
    synthetic_songs,
)
from support.models import SMALL_MODEL_ARGUMENTS, SYNTHETIC_TFIDF_TERMS, small_model_params
from support.project import BUILT_MARKER, REPRO_LOG, copy_project, run, set_params
from support.servers import free_port


@pytest.fixture(scope="session")
def real_data() -> Path:
    path = real_data_path()
    if path is None:
        missing_real_data(f"the real dataset (sha256 {REAL_SHA256[:12]}...) is not in {MIRROR_ENV}")
    return path


@pytest.fixture(scope="session")
def real_table(real_data: Path) -> pd.DataFrame:
    return pd.read_parquet(real_data)


@pytest.fixture
def synthetic_raw() -> pd.DataFrame:
    return synthetic_songs(3000, seed=7)


@pytest.fixture
def synthetic_prepared(synthetic_raw: pd.DataFrame) -> pd.DataFrame:
    from music_genre.pipeline.preprocess import preprocess

    return preprocess(synthetic_raw, songs_contract())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project")


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    """A small model of the default estimator, trained by the real train() on a synthetic
    table (beside it as train.parquet); returns its path."""
    from music_genre.pipeline.train import train

    workdir = tmp_path_factory.mktemp("small_model")
    train_path = workdir / "train.parquet"
    prepared_songs(4000, seed=11).to_parquet(train_path, index=False)
    model_path = workdir / "model.joblib"
    train(
        small_model_params(),
        str(train_path),
        str(model_path),
        str(workdir / "metrics"),
        str(workdir / "plots"),
    )
    return model_path


@pytest.fixture
def songs() -> pd.DataFrame:
    """Raw songs as a client sends them: no text_feature, the dataset's missing values."""
    return synthetic_songs(300, seed=5).drop(columns=[songs_contract().target])


@pytest.fixture
def closed_port() -> int:
    return free_port()


@pytest.fixture
def http_url(tmp_path):
    """Serve tmp_path/www over http on 127.0.0.1; returns name -> URL."""
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield lambda name: f"http://127.0.0.1:{server.server_address[1]}/{name}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def synthetic_project(tmp_path_factory, worker_id) -> Path:
    """A project copy whose pipeline ran on a small synthetic table with the default model
    (fewer rounds), results committed: built once per pytest run, however many xdist workers.

    Tests clone it with clone_project() (git repository + DVC cache) instead of re-running the
    pipeline; none of them changes it.
    """
    from filelock import FileLock

    # Every worker's base temp dir is below one directory per run; outside xdist, the run's own.
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent
    project = shared / "synthetic_project" / "project"
    with FileLock(str(shared / "synthetic_project.lock")):
        if not (project / BUILT_MARKER).is_file():
            if project.parent.exists():
                shutil.rmtree(project.parent)  # a build that failed half-way
            copy_project(project)
            set_params(
                project,
                data__source="synthetic",
                data__sha256=None,
                data__synthetic_rows=3000,
                train__lightgbm__n_estimators=SMALL_MODEL_ARGUMENTS["lightgbm"]["n_estimators"],
                # Below the table's 387 terms, so the vocabulary's cut-off falls inside ties
                # (tests/integration/test_other_processors.py).
                tfidf__max_features=SYNTHETIC_TFIDF_TERMS,
            )
            repro = run(["dvc", "repro"], project)
            run(["git", "add", "-A"], project)
            run(["git", "commit", "-qm", "pipeline results on a synthetic table"], project)
            (project / REPRO_LOG).write_text(repro.stdout)
            (project / BUILT_MARKER).write_text("built\n")
    return project


# One marker per outside resource or whole-project run; each belongs to the system tier
# (`pytest -m system`), so the default tier (`pytest`, `-m 'not system'`) never needs them and a
# contributor runs just the kind they touched (`pytest -m dask`). pyproject.toml registers and
# describes them.
RESOURCE_MARKERS = (
    "realdata",
    "dask",
    "server",
    "fuzz",
    "sshd",
    "browser",
    "recovery",
    "queue",
    "mlflow",
    "container",
    "copies",
)


@pytest.hookimpl(tryfirst=True)  # before -m selects by markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(name) for name in RESOURCE_MARKERS):
            item.add_marker(pytest.mark.system)


class _SyntheticProjectFirst:
    """The first module that needs the synthetic project runs first and the others last, so one
    xdist worker builds it while the others run tests that do not wait for it (the order of the
    rest is kept; every worker collects the same order)."""

    @pytest.hookimpl(trylast=True)  # after -m deselected: only the tests that run
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        users = [item.module.__name__ for item in items if _needs_synthetic_project(item)]
        first = users[0] if users else None

        def position(item: pytest.Item) -> int:
            module = item.module.__name__
            if module == first:
                return 0
            return 2 if module in users else 1

        items.sort(key=position)


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_SyntheticProjectFirst(), "synthetic-project-first")


def _needs_synthetic_project(item: pytest.Item) -> bool:
    return "synthetic_project" in getattr(item, "fixturenames", ())
