"""package: the trained model as a standard MLflow Model directory, the same bytes on every run.

`models/mlflow/` holds MLmodel (the `python_function` flavor, the signature from the data
contract, the contract itself as the flavor's config), `artifacts/model.joblib` and
`artifacts/model.json` (the trained model and its card, byte for byte: the pyfunc class
verifies the pickle's sha256 against the card before unpickling it), `python_model.pkl` (the
class by reference), `code/music_genre/` (the modules the class imports, so no install of this
package is needed), requirements.txt, python_env.yaml and conda.yaml (pinned, mlflow-skinny: the
pyfunc and its scoring server need no tracking server), input_example.json and
serving_input_example.json.

What MLflow would take from the run, the stage fixes: model_uuid is derived from the model's
sha256, utc_time_created is the Unix epoch (when the model was made is git's to tell: `music-genre
register` records the commit), the artifacts' source URIs are their file names, and Python's
version and the pins come from the card, so two runs on any machine write the same files.
"""

from __future__ import annotations

import ast
import logging
import tempfile
import uuid
import warnings
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from music_genre.data.contract import Contract

log = logging.getLogger(__name__)

PYFUNC_MODULE: Final = "music_genre.modeling.mlflow_model"
# What the pyfunc class needs at run time, pinned (the card's versions first: those trained it).
RUNTIME_PACKAGES: Final = (
    "mlflow-skinny",
    "cloudpickle",
    "joblib",
    "lightgbm",
    "numpy",
    "pandas",
    "pydantic",
    "scikit-learn",
    "scipy",
)
# The epoch, in MLflow's format: the directory's bytes never depend on the clock.
CREATED: Final = "1970-01-01 00:00:00.000000"
_UUID_NAMESPACE: Final = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # uuid.NAMESPACE_URL
# Appended to each package's __init__.py in the copy: MLflow puts the copy first on sys.path, and
# without this a process that loads the MLflow Model before importing music_genre could not
# import the installed package's other modules (the copy has only what the pyfunc class needs).
_EXTEND_PATH: Final = (
    "\n# The MLflow Model's copy of the package: the installed package's other modules join it.\n"
    '__path__ = __import__("pkgutil").extend_path(__path__, __name__)\n'
)


def _module_file(source: Path, name: str) -> Path | None:
    base = source.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(path: Path, source: Path) -> set[Path]:
    """The package's module files `path` imports (with the packages that contain them)."""
    found: set[Path] = set()
    package = path.relative_to(source).parts[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != package:
                continue
            for depth in range(1, len(parts) + 1):
                module = _module_file(source, ".".join(parts[:depth]))
                if module is not None:
                    found.add(module)
    return found


def code_files(module: str = PYFUNC_MODULE) -> list[str]:
    """`module`'s file and every package module it imports, followed transitively, as paths
    relative to the source root (music_genre/...), sorted."""
    import music_genre

    source = Path(music_genre.__file__).resolve().parent.parent
    start = _module_file(source, module)
    if start is None:
        raise FileNotFoundError(f"{module}: no such module under {source}")
    seen = {start}
    pending = [start]
    while pending:
        for found in _imports(pending.pop(), source) - seen:
            seen.add(found)
            pending.append(found)
    return sorted(path.relative_to(source).as_posix() for path in seen)


def copy_code(target: Path, module: str = PYFUNC_MODULE) -> Path:
    """Copy code_files(module) under `target`; return the package's folder there."""
    import music_genre

    source = Path(music_genre.__file__).resolve().parent.parent
    files = code_files(module)
    for name in files:
        destination = target / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = (source / name).read_text(encoding="utf-8")
        if destination.name == "__init__.py":
            text += _EXTEND_PATH
        destination.write_text(text, encoding="utf-8")
    return target / files[0].split("/")[0]


def requirements(card: dict[str, Any]) -> list[str]:
    """Exact pins of RUNTIME_PACKAGES: the card's versions (training's), else the installed."""
    trained = card.get("versions", {})
    return [f"{name}=={trained.get(name) or metadata.version(name)}" for name in RUNTIME_PACKAGES]


def python_version(card: dict[str, Any]) -> str:
    import platform

    return str(card.get("versions", {}).get("python") or platform.python_version())


def model_uuid(card: dict[str, Any]) -> str:
    """A uuid that names the model's bytes: the same pickle, the same uuid."""
    return uuid.uuid5(_UUID_NAMESPACE, f"music-genre:{card['model_sha256']}").hex


def _environment_files(directory: Path, python: str) -> None:
    """python_env.yaml and conda.yaml with the card's Python and unpinned build tools (MLflow
    would pin the packaging machine's pip and setuptools)."""
    (directory / "python_env.yaml").write_text(
        f"python: {python}\nbuild_dependencies:\n- pip\n- setuptools\n- wheel\n"
        "dependencies:\n- -r requirements.txt\n",
        encoding="utf-8",
    )
    pins = (directory / "requirements.txt").read_text(encoding="utf-8").split()
    (directory / "conda.yaml").write_text(
        f"channels:\n- conda-forge\ndependencies:\n- python={python}\n- pip\n- pip:\n"
        + "".join(f"  - {pin}\n" for pin in pins)
        + "name: mlflow-env\n",
        encoding="utf-8",
    )


def _normalise(directory: Path, python: str) -> None:
    """Replace what MLflow takes from the packaging run (source paths, Python) by fixed values."""
    from mlflow.models import Model

    model = Model.load(str(directory / "MLmodel"))
    flavor = model.flavors["python_function"]
    flavor["python_version"] = python
    for artifact in flavor.get("artifacts", {}).values():
        artifact["uri"] = Path(artifact["path"]).name
    model.save(str(directory / "MLmodel"))
    _environment_files(directory, python)


def save(card: dict[str, Any], contract: Contract, model_path: Path, target: Path) -> None:
    """Write the MLflow Model of the verified model at `model_path` into the new dir `target`."""
    import mlflow.pyfunc
    from mlflow.models import Model

    from music_genre.modeling import mlflow_model
    from music_genre.modeling.store import card_path_for

    python = python_version(card)
    with tempfile.TemporaryDirectory(prefix="package-code-") as code, warnings.catch_warnings():
        # MLflow asks for type hints it can turn into a schema; the signature is explicit here.
        warnings.filterwarnings("ignore", message=".*type hints.*", category=UserWarning)
        mlflow.pyfunc.save_model(
            path=str(target),
            python_model=mlflow_model.ContractModel(),
            artifacts={
                mlflow_model.MODEL_ARTIFACT: str(model_path),
                mlflow_model.CARD_ARTIFACT: str(card_path_for(model_path)),
            },
            code_paths=[str(copy_code(Path(code)))],
            signature=mlflow_model.signature(contract),
            input_example=mlflow_model.input_example(contract),
            pip_requirements=requirements(card),
            mlflow_model=Model(model_uuid=model_uuid(card), utc_time_created=CREATED),
            metadata={
                "model_sha256": card["model_sha256"],
                "estimator": card.get("estimator"),
                "target": contract.target,
                "classes": list(card["classes"]),
            },
            model_config={mlflow_model.CONTRACT_CONFIG: contract.card()},
        )
    _normalise(target, python)


def package(
    model_path: str | Path, output_dir: str | Path, contract: Contract | None = None
) -> None:
    """Write `output_dir` (replaced whole, only once complete) from the model and its card.

    The contract is the card's (`contract` key); `contract` is used only for a card without one.
    """
    from music_genre.data.contract import Contract
    from music_genre.modeling.store import verify_model

    model, output = Path(model_path), Path(output_dir)
    card = verify_model(model)
    if "contract" in card:
        contract = Contract.model_validate(card["contract"])
    elif contract is None:
        from music_genre.data.contract import load_contract

        contract = load_contract()
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{output.name}-", dir=output.parent) as work:
        fresh, old = Path(work) / "new", Path(work) / "old"
        save(card, contract, model, fresh)
        if output.exists():
            output.rename(old)
        fresh.rename(output)
    log.info("%s: MLflow Model of %s (sha256 %s)", output, model, card["model_sha256"][:12])
