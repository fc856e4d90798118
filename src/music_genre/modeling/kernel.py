"""The compiled scorer's kernel: forest_kernel.c (shipped in this package), built once per
machine with the system's C compiler and cached.

The kernel is generic (the trees are its data), so one build serves every model. It is built
with $CC, else cc, gcc or clang, `-O3 -march=native` (then without -march=native if the
compiler refuses it), the first time a model is loaded, and cached as a shared library in
`<cache>/scorer/` (cache_root: $MUSIC_GENRE_CACHE_DIR, else ~/.cache/music-genre), named by
the sha256 of its source, its flags and this CPU's instruction sets; later loads find it there
and need no compiler. The folder must be this user's alone (a library loaded from it runs in
this process); otherwise a private temporary folder is used. Without a compiler or a cached
kernel, load_kernel raises KernelUnavailableError, and the model's own predictor is used.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil

# The C compiler the user chose (or cc), with fixed arguments and no shell.
import subprocess  # nosec B404
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

CACHE_ENV: Final = "MUSIC_GENRE_CACHE_DIR"
COMPILER_ENV: Final = "CC"
COMPILERS: Final = ("cc", "gcc", "clang")
KERNEL: Final = "forest_kernel.c"
KERNEL_ABI: Final = 1
# No fast-math and no contraction into fused multiply-adds: the arithmetic as written.
FLAGS: Final = ("-O3", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared")
NATIVE: Final = "-march=native"
COMPILE_SECONDS: Final = 120

log = logging.getLogger(__name__)


class KernelUnavailableError(RuntimeError):
    """The kernel is neither cached nor buildable here (the message says why)."""


class MgForest(ctypes.Structure):
    """forest_kernel.c's mg_forest."""

    _fields_ = [
        ("n_trees", ctypes.c_int64),
        ("n_outputs", ctypes.c_int64),
        ("n_features", ctypes.c_int64),
        ("node_start", ctypes.c_void_p),
        ("feature", ctypes.c_void_p),
        ("threshold", ctypes.c_void_p),
        ("nan_left", ctypes.c_void_p),
        ("left_leaves", ctypes.c_void_p),
        ("left", ctypes.c_void_p),
        ("right", ctypes.c_void_p),
        ("walked", ctypes.c_void_p),
        ("leaf_start", ctypes.c_void_p),
        ("leaf_value", ctypes.c_void_p),
        ("init", ctypes.c_void_p),
        ("link", ctypes.c_int32),
        ("zero_band", ctypes.c_int32),
        ("sigmoid", ctypes.c_double),
    ]


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where kernels are cached: `cache_dir`, else $MUSIC_GENRE_CACHE_DIR, else
    $XDG_CACHE_HOME/music-genre (~/.cache/music-genre)."""
    if cache_dir is not None:
        return Path(cache_dir)
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "music-genre"


def load_kernel(cache_dir: str | os.PathLike[str] | None = None) -> tuple[Any, Path]:
    """The kernel's shared library, cached or built now (KernelUnavailableError if neither), and
    the folder it is cached in."""
    directory = _trusted_directory(cache_root(cache_dir).expanduser().resolve() / "scorer")
    return _load_kernel(directory), directory


@cache
def _load_kernel(directory: Path) -> Any:
    source = resources.files("music_genre.modeling").joinpath(KERNEL).read_bytes()
    candidates = [
        (flags, directory / f"forest_kernel-{kernel_key(source, flags)}.so")
        for flags in ((*FLAGS, NATIVE), FLAGS)
    ]
    for _, path in candidates:
        if path.is_file():
            return _open(path)
    for flags, path in candidates:
        if _build(source, flags, path):
            return _open(path)
    raise KernelUnavailableError(f"the C compiler ({_compiler()}) could not build {KERNEL}")


def kernel_key(source: bytes, flags: tuple[str, ...]) -> str:
    """What a built kernel depends on: its source, the flags, the architecture and (for
    -march=native) this CPU's instruction sets."""
    digest = hashlib.sha256(source)
    digest.update(" ".join(flags).encode())
    digest.update(platform.machine().encode())
    if NATIVE in flags:
        digest.update(_cpu_flags().encode())
    return digest.hexdigest()[:16]


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


@cache
def _trusted_directory(directory: Path) -> Path:
    """`directory`, created private; a private temporary one where it cannot be created or
    others may write to it (a library loaded from there would run their code)."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        status = directory.stat()
        if status.st_uid == os.getuid() and not status.st_mode & 0o022:
            return directory
        log.info("%s: not private to this user; the kernel is built in a temporary folder",
                 directory)  # fmt: skip
    except OSError as error:
        log.info("%s: %s; the kernel is built in a temporary folder", directory, error.strerror)
    return Path(tempfile.mkdtemp(prefix="music-genre-scorer-"))


def _compiler() -> str | None:
    chosen = os.environ.get(COMPILER_ENV)
    if chosen:
        return shutil.which(chosen)
    return next((path for name in COMPILERS if (path := shutil.which(name))), None)


def _build(source: bytes, flags: tuple[str, ...], path: Path) -> bool:
    """Compile the kernel into `path` (atomically); False when the compiler refuses `flags`."""
    compiler = _compiler()
    if compiler is None:
        raise KernelUnavailableError(
            f"no C compiler: set {COMPILER_ENV} or install gcc, or put a built kernel in "
            f"{path.parent}"
        )
    with tempfile.TemporaryDirectory(dir=path.parent) as work:
        source_path, library = Path(work, KERNEL), Path(work, path.name)
        source_path.write_bytes(source)
        try:
            result = subprocess.run(  # nosec B603
                [compiler, *flags, "-o", str(library), str(source_path), "-lm"],
                capture_output=True,
                text=True,
                timeout=COMPILE_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise KernelUnavailableError(f"{compiler}: {error}") from None
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["failed"])[-1]
            log.debug("%s %s: %s", compiler, " ".join(flags), reason)
            return False
        library.replace(path)
    log.info("compiled scorer kernel built: %s", path)
    return True


def _open(path: Path) -> Any:
    try:
        library = ctypes.CDLL(str(path))
        abi = library.mg_abi
    except (OSError, AttributeError) as error:
        raise KernelUnavailableError(f"{path}: not a loadable kernel ({error})") from None
    abi.restype = ctypes.c_int64
    if abi() != KERNEL_ABI:
        raise KernelUnavailableError(f"{path}: kernel ABI {abi()}, expected {KERNEL_ABI}")
    forest, pointer, count = ctypes.POINTER(MgForest), ctypes.c_void_p, ctypes.c_int64
    # mg_score_dense(forest, X, n, stride, out); mg_score_csr(forest, indptr, indices, data,
    # n, out): 0, or -1 when out of memory.
    library.mg_score_dense.argtypes = [forest, pointer, count, count, pointer]
    library.mg_score_csr.argtypes = [forest, pointer, pointer, pointer, count, pointer]
    library.mg_score_dense.restype = library.mg_score_csr.restype = ctypes.c_int
    return library
