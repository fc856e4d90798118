"""Push to a remote, clone, pull: everything restored, nothing re-runs, same predictions.

The same round trip against a local directory, an S3 endpoint (moto server) and an OpenSSH
server, all on 127.0.0.1. CI sets MUSIC_GENRE_REQUIRE_SSHD=1 so a missing sshd fails there.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from music_genre.core.fileio import sha256_file
from music_genre.serving.predict import Predictor
from support.project import clone_project, run
from support.servers import free_port

pytestmark = pytest.mark.sshd

SSHD = Path("/usr/sbin/sshd")
REQUIRE_SSHD_ENV = "MUSIC_GENRE_REQUIRE_SSHD"
OUTPUTS = (
    "data/raw/songs.parquet",
    "data/prepared/songs.parquet",
    "data/split/train.parquet",
    "data/split/test.parquet",
    "models/model.joblib",
    "models/model.json",
    "plots/eda/report.html",
)


def wait_for_port(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early: {process.communicate()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {seconds} s")


def round_trip(project: Path, clone_dir: Path, env: dict[str, str]) -> Path:
    """Push from `project`, clone it, pull in the clone; assert nothing differs or re-runs."""
    run(["dvc", "push"], project, **env)
    run(["git", "clone", "-q", str(project), str(clone_dir)], clone_dir.parent)
    clone = clone_dir
    assert not (clone / "models" / "model.joblib").exists()
    run(["dvc", "pull"], clone, **env)
    for name in OUTPUTS:
        assert sha256_file(clone / name) == sha256_file(project / name), name
    status = run(["dvc", "status"], clone, **env).stdout
    assert "Data and pipelines are up to date" in status, status
    repro = run(["dvc", "repro"], clone, **env).stdout
    assert "Running stage" not in repro
    assert (
        run(["dvc", "metrics", "show", "--json"], clone).stdout
        == run(["dvc", "metrics", "show", "--json"], project).stdout
    )
    original = Predictor.load(project / "models" / "model.joblib")
    pulled = Predictor.load(clone / "models" / "model.joblib")
    from support.data import synthetic_songs

    sample = synthetic_songs(500, seed=9)
    assert (original.predict_proba(sample) == pulled.predict_proba(sample)).all()
    return clone


def with_remote(
    project: Path, workdir: Path, name: str, url: str, *options: tuple[str, str]
) -> Path:
    """A clone of `project` whose committed config has `name` as its default remote."""
    branch_dir = clone_project(project, workdir / f"with-{name}")
    run(["dvc", "remote", "add", "-d", "-f", name, url], branch_dir)
    for key, value in options:
        run(["dvc", "remote", "modify", name, key, value], branch_dir)
    run(["git", "commit", "-qam", f"remote {name}"], branch_dir)
    return branch_dir


def test_local_directory_remote(synthetic_project, tmp_path):
    source = with_remote(synthetic_project, tmp_path, "storage", str(tmp_path / "dvc-remote"))
    round_trip(source, tmp_path / "clone", {})


def test_repro_pull_shortcut(synthetic_project, tmp_path):
    source = with_remote(synthetic_project, tmp_path, "storage", str(tmp_path / "dvc-remote"))
    run(["dvc", "push"], source)
    run(["git", "clone", "-q", str(source), str(tmp_path / "clone")], tmp_path)
    result = run(["dvc", "repro", "--pull"], tmp_path / "clone")
    assert "Running stage" not in result.stdout
    assert sha256_file(tmp_path / "clone/models/model.joblib") == sha256_file(
        source / "models/model.joblib"
    )


@pytest.fixture
def moto_endpoint():
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, server)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_s3_remote_against_moto(synthetic_project, tmp_path, moto_endpoint):
    import boto3

    # Dummy credentials, from the environment only: never in any config file.
    credentials = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    ).create_bucket(Bucket="music-genre")
    source = with_remote(
        synthetic_project, tmp_path, "s3", "s3://music-genre/dvc", ("endpointurl", moto_endpoint)
    )
    config = (source / ".dvc" / "config").read_text()
    assert "testing" not in config
    round_trip(source, tmp_path / "clone", credentials)


@pytest.fixture
def ssh_server(tmp_path):
    if not SSHD.exists():
        if os.environ.get(REQUIRE_SSHD_ENV) == "1":
            pytest.fail(f"{SSHD} is missing (install Debian's openssh-server)")
        pytest.skip(f"{SSHD} is missing: install Debian's openssh-server to run SSH tests")
    keys = tmp_path / "keys"
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    keys.mkdir()
    for name in ("host", "client"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)], check=True
        )
    shutil.copy(keys / "client", home / ".ssh" / "id_ed25519")
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    port = free_port()
    host_key = (keys / "host.pub").read_text().split()
    (home / ".ssh" / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_key[0]} {host_key[1]}\n")
    (keys / "authorized_keys").write_text((keys / "client.pub").read_text())
    config = keys / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {keys / 'host'}",
                f"AuthorizedKeysFile {keys / 'authorized_keys'}",
                f"PidFile {keys / 'sshd.pid'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "UsePAM no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "Subsystem sftp internal-sftp",
                "",
            ]
        )
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    server = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port(port, server)
        yield port, home
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_ssh_remote_against_openssh(synthetic_project, tmp_path, ssh_server):
    import getpass

    port, home = ssh_server
    storage = tmp_path / "ssh-storage"
    storage.mkdir()
    # The key and known_hosts live in the user's ~/.ssh: nothing secret in the DVC config.
    source = with_remote(
        synthetic_project, tmp_path, "ssh", f"ssh://{getpass.getuser()}@127.0.0.1:{port}{storage}"
    )
    round_trip(source, tmp_path / "clone", {"HOME": str(home)})
    assert any(storage.rglob("*"))


def test_artifacts_get_and_fetch_model_of_a_tagged_version(synthetic_project, tmp_path):
    source = with_remote(synthetic_project, tmp_path, "storage", str(tmp_path / "dvc-remote"))
    run(["dvc", "push"], source)
    run(["git", "tag", "-a", "music-genre-classifier@v1.0.0", "-m", "Registering v1.0.0"], source)
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    run(
        [
            "dvc",
            "artifacts",
            "get",
            str(source),
            "music-genre-classifier",
            "-o",
            str(fetched / "model.joblib"),
        ],
        fetched,
    )
    assert sha256_file(fetched / "model.joblib") == sha256_file(source / "models/model.joblib")

    out = tmp_path / "served"
    run(
        [
            sys.executable,
            "-m",
            "music_genre.cli",
            "fetch-model",
            "--repo",
            str(source),
            "--rev",
            "music-genre-classifier@v1.0.0",
            "--output-dir",
            str(out),
        ],
        tmp_path,
    )
    assert sha256_file(out / "model.joblib") == sha256_file(source / "models/model.joblib")
    assert Predictor.load(out / "model.joblib").classes


def test_interrupted_push_completes_when_re_run(synthetic_project, tmp_path):
    remote = tmp_path / "dvc-remote"
    source = with_remote(synthetic_project, tmp_path, "storage", str(remote))
    run(["dvc", "push"], source)
    # What an interrupted push leaves: DVC uploads a directory's listing (.dir) only after its
    # files, so a cut-off push has no listing and only some of the files.
    for listing in remote.rglob("*.dir"):
        listing.unlink()
    for index, path in enumerate(sorted(p for p in remote.rglob("*") if p.is_file())):
        if index % 2:
            path.unlink()
    again = run(["dvc", "push"], source)
    assert "files pushed" in again.stdout
    round_trip(source, tmp_path / "clone", {})
