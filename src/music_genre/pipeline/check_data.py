"""check_data's logic: the pandera schema (lazily, every failure at once) and a drift test.

The schema is the contract's (data.schema): a declared class that no row carries is named in
one line before it runs; a table that breaks the contract gets the failure report (column,
rule, failing values). Label conflicts are counted per entity when the contract has groups.

The drift test compares each numeric column with the committed reference profile by a
two-sample Kolmogorov-Smirnov test, the profile's quantiles standing in for the reference
sample. The family-wise alpha is split over the columns with the Šidák correction. Each column's
population stability index against the profile's bins is reported beside it: the statistic the
server watches live (music_genre.data.drift, one definition for both).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    import pandera.pandas as pa

    from music_genre.data.contract import Contract

MAX_EXAMPLES = 5
_UNIQUENESS_CHECK = "multiple_fields_uniqueness"
_ALL_COLUMNS = "(all columns)"

log = logging.getLogger(__name__)


def sidak_alpha(family_alpha: float, n_tests: int) -> float:
    """Per-test alpha that keeps the family-wise error rate at `family_alpha`."""
    return 1.0 - (1.0 - family_alpha) ** (1.0 / n_tests)


def schema_failures(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> list[dict[str, Any]]:
    """Every failure of `schema` on `frame`, one entry per (column, check)."""
    import pandera.pandas as pa

    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as errors:
        return _summarise_failure_cases(errors.failure_cases)
    return []


def _summarise_failure_cases(cases: pd.DataFrame) -> list[dict[str, Any]]:
    cases = cases.assign(
        column=cases["column"].where(cases["check"] != _UNIQUENESS_CHECK, _ALL_COLUMNS),
        check=cases["check"].astype(str),
    )
    missing = cases["check"] == "column_in_dataframe"
    cases = cases.assign(column=cases["column"].where(~missing, cases["failure_case"]))
    summary = []
    for (name, check), group in cases.groupby(["column", "check"], sort=True, dropna=False):
        column = str(name)
        rows = group["index"].dropna()
        if column == _ALL_COLUMNS:
            examples = [f"row {int(index)}" for index in rows.unique()[:MAX_EXAMPLES]]
        else:
            examples = [_show(value) for value in group["failure_case"].unique()[:MAX_EXAMPLES]]
        summary.append(
            {
                "column": column,
                "check": _readable_check(str(check), column),
                "failed_rows": int(rows.nunique()),
                "examples": examples,
            }
        )
    return summary


def _readable_check(check: str, column: str) -> str:
    if check == _UNIQUENESS_CHECK:
        return "no duplicate rows"
    if check == "column_in_dataframe":
        return "required column present"
    if check.startswith("dtype("):
        return f"dtype {check[len('dtype(') : -1].strip(chr(39))}"
    if check.startswith("isin("):
        return f"isin(known {column} values)"
    return check


def _show(value: Any) -> str:
    return "NaN" if isinstance(value, float) and np.isnan(value) else str(value)


def count_schema_checks(schema: pa.DataFrameSchema) -> int:
    per_column = sum(
        1 + (not column.nullable) + len(column.checks) for column in schema.columns.values()
    )
    return per_column + (1 if schema.unique else 0)


def drift_tests(
    frame: pd.DataFrame, profile: dict[str, Any], family_alpha: float, contract: Contract
) -> dict[str, Any]:
    """KS test of each profiled numeric column of `frame` against the reference quantiles."""
    import pandas as pd
    from scipy import stats

    from music_genre.data.drift import bins_from_quantiles, psi

    columns = [
        column
        for column in contract.profiled_columns
        if column in frame.columns
        and column in profile["numeric"]
        and pd.api.types.is_numeric_dtype(frame[column])
        and frame[column].notna().any()
    ]
    alpha = sidak_alpha(family_alpha, max(len(columns), 1))
    results = []
    for column in columns:
        values = frame[column].dropna().to_numpy(dtype=float)
        reference = np.asarray(profile["numeric"][column], dtype=float)
        statistic, p_value = stats.ks_2samp(values, reference)
        bins = bins_from_quantiles(reference)
        results.append(
            {
                "column": column,
                "statistic": float(statistic),
                "p_value": float(p_value),
                "passed": bool(p_value > alpha),
                "psi": round(psi(bins.counts(values), bins.expected), 9),
            }
        )
    return {
        "family_alpha": family_alpha,
        "per_test_alpha": alpha,
        "correction": "sidak",
        "reference_rows": profile["rows"],
        "reference_quantiles": profile["n_quantiles"],
        "columns": results,
    }


def track_checks(
    frame: pd.DataFrame, max_conflicting_share: float, contract: Contract
) -> dict[str, Any] | None:
    """Repeated entities and label conflicts (entities whose copies carry different labels).

    None without groups in the contract, or when the columns that identify an entity are not
    there (the schema reports that).
    """
    from music_genre.data.tracks import label_conflicts

    groups = contract.groups
    if groups is None or frame.empty or contract.target not in frame.columns:
        return None
    has_id = groups.id_column is not None and groups.id_column in frame.columns
    if not has_id and not set(groups.columns) <= set(frame.columns):
        return None
    return {**label_conflicts(frame, contract), "max_conflicting_share": max_conflicting_share}


def check_table(
    frame: pd.DataFrame,
    profile: dict[str, Any],
    family_alpha: float,
    max_conflicting_share: float = 1.0,
    *,
    contract: Contract,
) -> dict[str, Any]:
    """Run every check and return the machine-readable report (nothing is raised here).

    Label conflicts are always counted when the contract has groups; they fail the table only
    above `max_conflicting_share` of its rows. The report names them `<groups.name>s`.
    """
    from music_genre.data.schema import preprocessed_schema

    schema = preprocessed_schema(contract)
    failures = schema_failures(frame, schema)
    if frame.empty:
        failures.insert(
            0,
            {"column": _ALL_COLUMNS, "check": "at least one row", "failed_rows": 0, "examples": []},
        )
    drift = drift_tests(frame, profile, family_alpha, contract)
    for result in drift["columns"]:
        if not result["passed"]:
            failures.append(
                {
                    "column": result["column"],
                    "check": (
                        f"drift: KS p={result['p_value']:.3g} <= {drift['per_test_alpha']:.3g}"
                    ),
                    "failed_rows": 0,
                    "examples": [f"D={result['statistic']:.3f}"],
                }
            )
    tracks = track_checks(frame, max_conflicting_share, contract)
    if tracks is not None and tracks["conflicting_share"] > max_conflicting_share:
        failures.append(_conflict_failure(tracks, max_conflicting_share, contract))
    # + the row-count check and, with groups, the label-conflict check
    total = count_schema_checks(schema) + len(drift["columns"]) + 1 + (contract.groups is not None)
    report = {
        "passed": not failures,
        "rows": len(frame),
        "checks": {"total": total, "failed": len(failures), "passed": total - len(failures)},
        "failures": failures,
        "drift": drift,
    }
    if contract.groups is not None:
        report[f"{contract.groups.name}s"] = tracks
    return report


def _conflict_failure(
    tracks: dict[str, Any], max_conflicting_share: float, contract: Contract
) -> dict[str, Any]:
    name = contract.groups.name if contract.groups else "group"
    return {
        "column": contract.target,
        "check": (
            f"label conflicts: {tracks['conflicting_share']:.1%} of rows are {name}s "
            f"with more than one {contract.target} > {max_conflicting_share:.1%}"
        ),
        "failed_rows": tracks["conflicting_rows"],
        "examples": [f"{tracks[f'conflicting_{name}s']} {name}s"],
    }


def format_failures(report: dict[str, Any]) -> str:
    """A short fixed-width table of the failures, for the terminal."""
    header = ("column", "check", "failed rows", "examples")
    rows = [
        (item["column"], item["check"], str(item["failed_rows"]), ", ".join(item["examples"]))
        for item in report["failures"]
    ]
    widths = [min(max(len(row[i]) for row in [header, *rows]), 60) for i in range(3)]
    lines = [
        "  ".join(cell[:60].ljust(width) for cell, width in zip(row[:3], widths, strict=True))
        + "  "
        + row[3][:80]
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def check_file(
    table_path: str,
    profile_path: str,
    report_path: str,
    family_alpha: float,
    max_conflicting_share: float = 1.0,
    *,
    contract: Contract,
) -> dict[str, Any]:
    """Check a table, write the report, and raise with the failure table if anything failed.

    A declared class that no row carries stops it first, in one line, with no report.
    """
    from music_genre.core.errors import DataValidationError
    from music_genre.core.fileio import read_json, read_parquet, write_json

    frame = read_parquet(table_path)
    if not frame.empty and contract.target in frame.columns:
        contract.require_classes(frame[contract.target], table_path)
    report = check_table(
        frame,
        read_json(profile_path),
        family_alpha,
        max_conflicting_share,
        contract=contract,
    )
    write_json(report, report_path)
    counts = report["checks"]
    if not report["passed"]:
        raise DataValidationError(
            f"{table_path}: {counts['failed']} of {counts['total']} data checks failed "
            f"(details in {report_path})",
            summary=format_failures(report),
        )
    log.info("%s: all %d data checks passed", table_path, counts["total"])
    return report
