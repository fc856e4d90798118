"""register: the model of a git revision, as an MLflow Model, into an MLflow Model Registry.

`music-genre register [--rev REV] [--alias ALIAS]` fetches the model and its card at REV (DVC,
hash-verified), packages them exactly as the `package` stage does, logs the directory to a run
of the tracking server named by MLFLOW_TRACKING_URI and registers it as a new version of the
registered model (default `music-genre`). The run and the version carry the revision's git
commit and its time, the DVC md5 of the model file (dvc.lock at REV) and the test metrics
(metrics/evaluate/metrics.json at REV); `--alias` moves an alias (e.g. `champion`) onto the new
version, so `models:/music-genre@champion` loads it.

Everything that can fail before the server is touched is checked first (the revision, the
server's answer to one request, the model's hash); a failure afterwards deletes the version and
the run it made, so the registry never holds a half-registered model.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from music_genre.core import paths
from music_genre.core.commands import run
from music_genre.core.errors import PipelineError, first_line

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

TRACKING_ENV: Final = "MLFLOW_TRACKING_URI"
REGISTERED_MODEL: Final = "music-genre"
EXPERIMENT: Final = "music-genre"
ARTIFACT_PATH: Final = "model"
# How long the first request to the server may take, and its retries (MLflow's default retries
# with back-off for minutes); a variable the user set wins.
_PROBE_ENV: Final = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "15"}


@dataclass(frozen=True)
class Revision:
    """What the registry records of a git revision."""

    rev: str
    commit: str
    commit_time: str
    model_md5: str
    metrics: dict[str, float] = field(default_factory=dict)

    def tags(self) -> dict[str, str]:
        tags = {
            "git_revision": self.rev,
            "git_commit": self.commit,
            "git_commit_time": self.commit_time,
            "dvc_model_md5": self.model_md5,
        }
        tags.update({f"test_{name}": repr(value) for name, value in self.metrics.items()})
        return tags


def _git_show(commit: str, path: str, repo: str | Path) -> str:
    result = run("git", ["show", f"{commit}:{path}"], cwd=repo)
    if result.returncode != 0:
        raise PipelineError(f"{commit[:12]}: no {path} at this revision")
    return result.stdout


def _model_md5(lock_text: str, model: str, commit: str) -> str:
    import yaml

    lock = yaml.safe_load(lock_text) or {}
    for stage in (lock.get("stages") or {}).values():
        for out in stage.get("outs") or []:
            if out.get("path") == model and out.get("md5"):
                return str(out["md5"])
    raise PipelineError(f"{commit[:12]}: dvc.lock has no output {model}")


def revision(rev: str, repo: str | Path = ".") -> Revision:
    """The commit of `rev` with its time, the model's DVC md5 and the test metrics there."""
    found = run("git", ["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=repo)
    if found.returncode != 0:
        raise PipelineError(f"{rev}: not a git revision of {Path(repo).resolve()}")
    commit = found.stdout.strip()
    when = run("git", ["show", "-s", "--format=%cI", commit], cwd=repo, check=True)
    metrics = json.loads(_git_show(commit, paths.EVALUATE_METRICS, repo))
    return Revision(
        rev=rev,
        commit=commit,
        commit_time=when.stdout.strip(),
        model_md5=_model_md5(_git_show(commit, "dvc.lock", repo), paths.MODEL, commit),
        metrics={name: float(value) for name, value in sorted(metrics.items())},
    )


@contextmanager
def _quick_requests() -> Iterator[None]:
    added = {name: value for name, value in _PROBE_ENV.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


def _server_error(uri: str, error: Exception) -> PipelineError:
    text = first_line(str(error)) or type(error).__name__
    status = getattr(getattr(error, "response", None), "status_code", None)
    if status in (401, 403) or " 401" in text or " 403" in text or "Unauthorized" in text:
        return PipelineError(f"{TRACKING_ENV}={uri}: the server refused the credentials ({text})")
    return PipelineError(f"{TRACKING_ENV}={uri}: the tracking server does not answer ({text})")


def connect() -> tuple[MlflowClient, str]:
    """A client of the server named by MLFLOW_TRACKING_URI, once it has answered a request."""
    from mlflow import MlflowClient

    uri = os.environ.get(TRACKING_ENV, "")
    if not uri.startswith(("http://", "https://", "databricks")):
        raise PipelineError(
            f"{TRACKING_ENV}={uri or '(unset)'}: set it to the tracking server's URL "
            "(http://host:port)"
        )
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    try:
        with _quick_requests():
            client.search_experiments(max_results=1)
    except Exception as error:  # any failure of the first request: the server is unusable
        raise _server_error(uri, error) from None
    return client, uri


def _experiment_id(client: MlflowClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(client.create_experiment(name))


def _ensure_registered_model(client: MlflowClient, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name)


@dataclass(frozen=True)
class Registration:
    name: str
    version: str
    run_id: str
    alias: str | None
    revision: Revision


def _log_and_register(
    client: MlflowClient, model_dir: Path, facts: Revision, name: str, alias: str | None
) -> Registration:
    run_info = client.create_run(
        _experiment_id(client, EXPERIMENT),
        run_name=f"register {facts.rev}",
        tags={**facts.tags(), "mlflow.source.git.commit": facts.commit},
    ).info
    version = None
    try:
        client.log_artifacts(run_info.run_id, str(model_dir), ARTIFACT_PATH)
        for metric, value in facts.metrics.items():
            client.log_metric(run_info.run_id, f"test_{metric}", value)
        _ensure_registered_model(client, name)
        version = client.create_model_version(
            name,
            source=f"{run_info.artifact_uri}/{ARTIFACT_PATH}",
            run_id=run_info.run_id,
            tags=facts.tags(),
            description=f"git {facts.rev} ({facts.commit[:12]}, {facts.commit_time})",
        ).version
        if alias:
            client.set_registered_model_alias(name, alias, version)
        client.set_terminated(run_info.run_id)
    except BaseException:
        _undo(client, name, version, run_info.run_id)
        raise
    return Registration(name, str(version), run_info.run_id, alias, facts)


def _undo(client: MlflowClient, name: str, version: Any, run_id: str) -> None:
    """Delete what a failed registration made (its version, its run), as far as possible."""
    try:
        if version is not None:
            client.delete_model_version(name, version)
        client.delete_run(run_id)
    except Exception as error:  # the original failure is what the user must see
        log.warning("could not undo the partial registration: %s", first_line(str(error)))


def register(
    rev: str = "HEAD",
    *,
    name: str = REGISTERED_MODEL,
    alias: str | None = None,
    repo: str | Path = ".",
) -> Registration:
    """Register the model of `rev` (see the module's docstring); one-line errors."""
    from mlflow.exceptions import MlflowException

    from music_genre.modeling.store import fetch_model
    from music_genre.pipeline.package import package

    facts = revision(rev, repo)
    client, uri = connect()
    with tempfile.TemporaryDirectory(prefix="music-genre-register-") as work:
        model = fetch_model(facts.commit, Path(work) / "model", repo=str(repo))
        model_dir = Path(work) / "mlflow"
        package(model, model_dir)
        try:
            registration = _log_and_register(client, model_dir, facts, name, alias)
        except (MlflowException, OSError) as error:  # OSError: requests' connection errors
            raise _server_error(uri, error) from None
    log.info(
        "%s version %s (git %s%s) registered at %s",
        name,
        registration.version,
        facts.commit[:12],
        f", alias {alias}" if alias else "",
        uri,
    )
    return registration
