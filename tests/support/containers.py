"""Podman on these machines: a Debian 12 base image made offline (debootstrap from the Debian
mirror apt uses, cached), the serving image built on it, and a container of it on 127.0.0.1.

No registry holds base images here, so the base is a debootstrapped root file system imported
with `podman import`; its tarball is cached (MUSIC_GENRE_CONTAINER_CACHE, by default
~/.cache/music-genre/containers), so a machine builds it once. Measured on these machines:
podman 4.3 runs containers with runc (crun refuses the hybrid cgroups and raising limits), the
cgroupfs manager, and ulimits at or below the host's. pip inside the build reaches the package
index as the host does: the host's CA bundle and index settings go in as build secrets, never
into a layer. Benchmarks import this module too, so it raises PodmanUnavailableError instead of
skipping.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

PODMAN = ("podman", "--runtime", "runc", "--cgroup-manager=cgroupfs")
RUN_LIMITS = ("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096")
TOOLS = ("podman", "runc", "debootstrap")
CACHE_ENV = "MUSIC_GENRE_CONTAINER_CACHE"
MIRROR_ENV = "MUSIC_GENRE_DEBIAN_MIRROR"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SUITE = "bookworm"
# What the Dockerfile needs of a base: python3 (3.11) with venv/ensurepip, LightGBM's OpenMP
# runtime, and CA certificates for pip.
BASE_PACKAGES = ("python3", "python3-venv", "libgomp1", "ca-certificates")
# Left out of the base: apt's downloads and lists, documentation, translations.
TRIMMED = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man",
           "usr/share/locale", "usr/share/info")  # fmt: skip
# pip settings of the build host passed into the build (file:// indexes are the host's disk).
PIP_KEYS = ("index-url", "extra-index-url", "trusted-host", "proxy", "timeout",
            "default-timeout", "retries")  # fmt: skip
SECRET_CA = "/run/secrets/pip-ca"  # where the Dockerfile mounts the pip-ca secret
STARTUP_SECONDS = 120


class PodmanUnavailableError(RuntimeError):
    """A tool, a permission or the network the image needs is missing on this machine."""


def check_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise PodmanUnavailableError(f"{', '.join(missing)} not installed (.ci/run installs them)")
    if os.geteuid() != 0:
        raise PodmanUnavailableError("debootstrap needs root to make the base image")


def podman(*args: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args[:3])} exited {result.returncode}:\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "music-genre" / "containers"
    path = Path(os.environ.get(CACHE_ENV) or default)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _apt_sources() -> Iterator[tuple[str, list[str]]]:
    """(URI, suites) of each `deb` source apt reads (one-line and deb822 formats)."""
    directory = Path("/etc/apt/sources.list.d")
    paths = [Path("/etc/apt/sources.list"), *sorted(directory.glob("*.list"))]
    for path in filter(Path.is_file, paths):
        for line in path.read_text(errors="replace").splitlines():
            match = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if match:
                yield match.group(1), [match.group(2)]
    for path in sorted(directory.glob("*.sources")):
        for paragraph in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields = dict(re.findall(r"^([A-Za-z-]+):[ \t]*(.*)$", paragraph, re.MULTILINE))
            if "deb" in fields.get("Types", "").split():
                for uri in fields.get("URIs", "").split():
                    yield uri, fields.get("Suites", "").split()


def debian_mirror() -> str:
    """$MUSIC_GENRE_DEBIAN_MIRROR, else the Debian archive apt reads SUITE from, else Debian's."""
    if os.environ.get(MIRROR_ENV):
        return os.environ[MIRROR_ENV]
    for uri, suites in _apt_sources():
        if SUITE in suites and uri.rstrip("/").endswith("/debian"):
            return uri.rstrip("/")
    return DEFAULT_MIRROR


def _base_key() -> str:
    recipe = f"{SUITE} minbase {' '.join(BASE_PACKAGES)} {' '.join(TRIMMED)}"
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def base_tarball() -> Path:
    """The base's root file system as a tarball, made by debootstrap once per machine."""
    from filelock import FileLock

    cache = cache_dir()
    tarball = cache / f"debian-{SUITE}-{_base_key()}.tar"
    with FileLock(str(tarball) + ".lock"):
        if tarball.is_file():
            return tarball
        with tempfile.TemporaryDirectory(dir=cache, prefix="rootfs-") as work:
            rootfs = Path(work) / "rootfs"
            include = ",".join(BASE_PACKAGES)
            made = subprocess.run(
                ["debootstrap", "--variant=minbase", f"--include={include}", SUITE,
                 str(rootfs), debian_mirror()],
                capture_output=True, text=True, timeout=1800, check=False,
            )  # fmt: skip
            if made.returncode != 0:
                raise PodmanUnavailableError(
                    f"debootstrap failed: {made.stdout[-1500:]}{made.stderr}"
                )
            for name in TRIMMED:
                for child in (rootfs / name).glob("*"):
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
            partial = tarball.with_suffix(".partial")
            subprocess.run(
                ["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(partial), "."],
                check=True,
            )
            partial.rename(tarball)
    return tarball


def base_image() -> str:
    """The debootstrapped base imported into podman (once); returns its name."""
    name = f"localhost/music-genre-base:{SUITE}-{_base_key()}"
    if podman("image", "exists", name, check=False).returncode != 0:
        tarball = base_tarball()
        podman("import", "--change", 'CMD ["/bin/bash"]', str(tarball), name)
    return name


def _host_pip_settings() -> dict[str, str]:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    settings: dict[str, str] = {}
    # `global.key='value'` first, then `:env:.key='value'` (PIP_* variables win, as in pip).
    for line in sorted(listed.splitlines(), key=lambda line: line.startswith(":env:")):
        match = re.fullmatch(r"([^.]*)\.([a-z-]+)='(.*)'", line.strip())
        if match and match.group(2) in PIP_KEYS:
            values = [v for v in match.group(3).split() if not v.startswith("file:")]
            if values:
                settings[match.group(2)] = " ".join(values)
    return settings


def host_ca_bundle() -> Path | None:
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def pip_secrets(directory: Path) -> list[str]:
    """`podman build` options passing the host's pip settings and CA bundle as build secrets."""
    settings = _host_pip_settings()
    bundle = host_ca_bundle()
    options = []
    if bundle is not None:
        settings["cert"] = SECRET_CA
        options += ["--secret", f"id=pip-ca,src={bundle}"]
    config = directory / "pip.conf"
    config.write_text("[global]\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
    config.chmod(0o600)
    return [*options, "--secret", f"id=pip.conf,src={config}"]


def build_image(context: Path, tag: str, base: str, *options: str) -> tuple[float, str]:
    """`podman build` of `context`'s Dockerfile on `base`; returns the seconds it took and its
    log. Docker's image format, so that the image keeps its HEALTHCHECK (OCI's has none)."""
    with tempfile.TemporaryDirectory(prefix="pip-secrets-") as secrets:
        start = time.perf_counter()
        built = podman(
            "build", "--format", "docker", "--build-arg", f"BASE={base}",
            *pip_secrets(Path(secrets)), *options, "-t", tag, str(context),
        )  # fmt: skip
        return time.perf_counter() - start, built.stdout


def cached_steps(log: str) -> list[str]:
    """The steps of a `podman build` log that came from the layer cache."""
    steps = re.split(r"^STEP \d+/\d+: ", log, flags=re.MULTILINE)[1:]
    return [step.splitlines()[0] for step in steps if "--> Using cache" in step]


def image_size(tag: str) -> int:
    """The image's size in bytes, as `podman image inspect` reports it."""
    return int(podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())


def run_in_image(image: str, entrypoint: str, *args: str) -> str:
    """`entrypoint ARGS` in a throwaway container of `image`; returns its standard output."""
    options = ("--rm", "--no-healthcheck", *RUN_LIMITS, "--entrypoint", entrypoint)
    return podman("run", *options, image, *args).stdout


@contextmanager
def running_container(image: str, port: int, *args: str) -> Iterator[str]:
    """`podman run IMAGE ARGS` with its 8080 published on 127.0.0.1:`port`; yields the
    container's name once /ping answers 200, and removes it afterwards."""
    name = f"music-genre-test-{os.getpid()}-{port}"
    podman(
        "run", "-d", "--name", name, *RUN_LIMITS, "-p", f"127.0.0.1:{port}:8080",
        image, *args,
    )  # fmt: skip
    try:
        _wait_for_ping(name, f"http://127.0.0.1:{port}/ping")
        yield name
    finally:
        podman("rm", "-f", "-t", "10", name, check=False)


def _wait_for_ping(name: str, url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        state = podman("inspect", "--format", "{{.State.Status}}", name, check=False)
        if state.stdout.strip() not in ("running", "created") or time.monotonic() > deadline:
            logs = podman("logs", name, check=False)
            raise AssertionError(
                f"container {name} ({state.stdout.strip()}) did not answer {url}:\n"
                f"{logs.stdout[-3000:]}{logs.stderr[-3000:]}"
            )
        time.sleep(0.5)
