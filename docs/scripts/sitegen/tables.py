"""Markdown tables of the pipeline's own outputs (metrics/, plots/, dvc.yaml, the contract)."""

from __future__ import annotations

import json
from typing import Any

from sitegen.dag import stages
from sitegen.figures import target
from sitegen.notes import metrics_note
from sitegen.sources import ROOT, fmt, load, lookup

METRICS = ("roc_auc", "accuracy", "f1_macro", "log_loss")


def table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def headline(note: bool = True) -> str:
    """Validation (train stage) and test (evaluate stage) metrics of the committed model."""
    rows = [
        ["validation (train stage)", *(fmt(lookup("train", m), ".4f") for m in METRICS)],
        ["test (evaluate stage)", *(fmt(lookup("evaluate", m), ".4f") for m in METRICS)],
    ]
    text = table(["split", "roc_auc (macro, one-vs-one)", "accuracy", "f1_macro", "log_loss"], rows)
    if note:
        text += "\n\n" + metrics_note("metrics/train/metrics.json", "metrics/evaluate/metrics.json")
    return text


def _yaml_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def model() -> str:
    """The committed estimator and the knobs it was trained with (params.yaml)."""
    name = lookup("params", "train.model")
    knobs = lookup("params", f"train.{name}")
    rows = [[f"`train.{name}.{key}`", f"`{_yaml_value(value)}`"] for key, value in knobs.items()]
    rows.append(["`tfidf.max_features`", f"`{lookup('params', 'tfidf.max_features')}`"])
    rows.append(["boosting rounds kept (early stopping)", fmt(lookup("train", "boosting_rounds"))])
    return f"`train.model: {name}`\n\n" + table(["knob", "value"], rows)


def per_class() -> str:
    rows = json.loads(
        (ROOT / f"plots/evaluate/custom/per_{target()}.json").read_text(encoding="utf-8")
    )
    body = [
        [
            row[target()],
            fmt(row["precision"], ".3f"),
            fmt(row["recall"], ".3f"),
            fmt(row["f1"], ".3f"),
            fmt(row["support"]),
            fmt(row["predicted"]),
        ]
        for row in sorted(rows, key=lambda row: -row["f1"])
    ]
    text = table([target(), "precision", "recall", "F1", "test rows", "predicted"], body)
    return text + "\n\n" + metrics_note(f"plots/evaluate/custom/per_{target()}.json")


def _group() -> str | None:
    from music_genre.data.contract import load_contract

    groups = load_contract(ROOT / "contract.yaml").groups
    return groups.name if groups else None


def split() -> str:
    data = load("split")
    group = _group()
    rows = [
        ["grouped by", f"`{data['group_by']}`"],
        ["rows (rest / test)", f"{fmt(data['rows']['rest'])} / {fmt(data['rows']['test'])}"],
        ["test share of the rows", fmt(data["test_share"], ".3f")],
    ]
    leak = f"test_rows_whose_{group}_is_also_in_rest"
    if leak in data:
        rows.append([f"test rows whose {group} is also in the rest", fmt(data[leak])])
    if isinstance(data.get(f"{group}s"), dict):
        counts = data[f"{group}s"]
        rows.append([f"{group}s (rest / test)", f"{fmt(counts['rest'])} / {fmt(counts['test'])}"])
    shares = data.get(f"test_share_per_{target()}", {})
    if shares:
        low, high = min(shares.values()), max(shares.values())
        rows.append([f"test share per {target()}", f"{low:.3f}\u2013{high:.3f}"])
    text = table(["metrics/split.json", "value"], rows)
    return text + "\n\n" + metrics_note("metrics/split.json")


def check_data() -> str:
    data = load("check_data")
    checks = data["checks"]
    rows = [["data checks passed", f"{fmt(checks['passed'])} of {fmt(checks['total'])}"]]
    drift = data.get("drift", {}).get("columns", [])
    if drift:
        rows.append(["drift: smallest KS p-value", fmt(min(c["p_value"] for c in drift), ".3g")])
        rows.append(["drift: largest PSI", fmt(max(c["psi"] for c in drift), ".2g")])
    group = _group()
    for key, value in (data.get(f"{group}s") or {}).items():
        if isinstance(value, int | float):
            rows.append([f"{group}s: `{key}`", fmt(value)])
    text = table(["metrics/check_data.json", "value"], rows)
    return text + "\n\n" + metrics_note("metrics/check_data.json")


def _stage_doc(name: str) -> str:
    """The first paragraph of the stage script's docstring, without its `Stage name:` prefix."""
    import ast

    script = ROOT / "stages" / f"{name}.py"
    if not script.is_file():
        return ""
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    return first.removeprefix(f"Stage {name}:").strip()


def stage_table() -> str:
    rows = [
        [
            f"`{stage.name}`",
            _stage_doc(stage.name),
            ", ".join(f"`{p}`" for p in stage.params) or "—",
            "<br>".join(f"`{o}`" for o in stage.outs),
        ]
        for stage in stages()
    ]
    return table(["stage", "does (its script's docstring)", "params", "writes"], rows)


def estimators() -> str:
    from music_genre.core.estimators import ESTIMATORS

    default = lookup("params", "train.model")
    rows = [
        [
            f"`{name}`" + (" (default)" if name == default else ""),
            f"`{spec.module}.{spec.class_name}`",
            "dense copy" if spec.needs_dense else "sparse",
            "on train's validation part" if spec.takes_eval_set else "—",
            "yes (TreeSHAP)" if spec.contributions else "—",
        ]
        for name, spec in ESTIMATORS.items()
    ]
    return table(["`train.model`", "estimator", "TF-IDF input", "eval set", "`/explain`"], rows)


def contract_columns() -> str:
    from music_genre.data.contract import load_contract

    contract = load_contract(ROOT / "contract.yaml")
    rows = []
    for name, column in contract.columns.items():
        rule = column.range or (", ".join(map(str, column.values)) if column.values else "")
        rows.append(
            [f"`{name}`", column.role, column.dtype, "yes" if column.nullable else "", rule or ""]
        )
    return table(["column", "role", "dtype", "nullable", "range or values"], rows)


def eda_figures() -> str:
    from sitegen.figures import eda_images

    found = eda_images()
    if not found:
        return (
            '!!! warning "Not in this workspace"\n    The EDA images are DVC outputs: run '
            "`dvc repro eda` or `dvc pull` and build again."
        )
    return "\n\n".join(
        f"![{name.replace('_', ' ')}](assets/generated/eda/{name}.png)" for name in found
    )


def api_inputs() -> str:
    """What `/predict` requires of each row, from the contract."""
    from music_genre.data.contract import load_contract

    contract = load_contract(ROOT / "contract.yaml")
    ranges = contract.value_ranges
    rows = [
        [
            f"`{name}`",
            "optional" if name in contract.optional_columns else "required",
            contract.columns[name].dtype,
            f"[{ranges[name][0]}, {ranges[name][1]}]" if name in ranges else "",
        ]
        for name in contract.input_columns
    ]
    return table([f"field of a {contract.row}", "", "dtype", "allowed range"], rows)


def contract_keys() -> str:
    """Every key of a contract file, from the pydantic models of data/contract.py."""
    from pydantic import BaseModel

    from music_genre.data.contract import ColumnSpec, Contract, GroupSpec, TextSpec

    sections: list[tuple[str, type[BaseModel]]] = [
        ("", Contract),
        ("columns.<name>.", ColumnSpec),
        ("text.", TextSpec),
        ("groups.", GroupSpec),
    ]
    rows = []
    for prefix, model in sections:
        for name, field in model.model_fields.items():
            if model is Contract and name in ("columns", "text", "groups"):
                kind = {"columns": "mapping", "text": "section", "groups": "section"}[name]
                optional = "" if name == "columns" else "optional"
                rows.append([f"`{name}`", kind, optional, field.description or ""])
                continue
            default = "required" if field.is_required() else f"default `{field.get_default()}`"
            annotation = str(field.annotation).replace("typing.", "").replace("|", "\\|")
            rows.append([f"`{prefix}{name}`", f"`{annotation}`", default, field.description or ""])
    return table(["key", "type", "", "meaning"], rows)


def penguins() -> str:
    """The second example: what retargeting changed, and its test metrics."""
    changed = load("penguins_retarget")
    metrics = load("penguins_metrics")
    rows = [
        [f"`{name}`", entry["added"], entry["deleted"]]
        for name, entry in sorted(changed["per_file"].items())
    ]
    text = table(["file", "lines added", "lines deleted"], rows)
    scores = ", ".join(f"{name} {fmt(metrics[name], '.4f')}" for name in METRICS)
    return (
        f"{text}\n\nNo other file changed ({len(changed['files'])} files, {changed['lines']} lines "
        f"in all). Test metrics of the penguins model: {scores} "
        "(`examples/penguins/metrics.json`, equal to the last digit on every run)."
    )
