"""What the API answers, as pydantic models (the OpenAPI document's schemas), and its request
bodies of rows, whose cap is set when the app is made.

The models that name the table are made from its contract: a prediction's class under the
contract's target, /drift's predicted-class mix under its prediction column, the row counts of
/drift under its name. The others are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, create_model

from music_genre.serving.inputs import RowInputs, batch_field, component_name

JSON_TYPE: Final = "application/json"
CSV_TYPE: Final = "text/csv"


def rows_request(name: str, inputs: RowInputs, max_rows: int) -> Any:
    """The model of a `{"<contract.name>": [...]}` body of 1 to `max_rows` rows (`body.rows`).

    Any: a model made at run time (its cap is an argument), which a type checker cannot see
    as a type.
    """
    rows: Any = (batch_field(max_rows, inputs.row), Field(alias=inputs.contract.name))
    return create_model(name, __config__=ConfigDict(extra="forbid"), rows=rows)


class InvocationsResponse(BaseModel):
    """As MLflow's scoring server answers: one predicted class per input row."""

    predictions: list[str]


class Status(BaseModel):
    status: str


class Term(BaseModel):
    term: str
    contribution: float


@dataclass(frozen=True)
class Answers:
    """The response models of one contract's API."""

    predict: type[BaseModel]
    explain: type[BaseModel]
    drift: type[BaseModel]

    @classmethod
    def of(cls, inputs: RowInputs) -> Answers:
        return cls(_predict_response(inputs), _explain_response(inputs), _drift_report(inputs))


def _predict_response(inputs: RowInputs) -> type[BaseModel]:
    contract = inputs.contract
    prediction = create_model(
        f"{component_name(contract.target, 'Class')}Prediction",
        predicted=(str, Field(alias=contract.target, description="The predicted class.")),
        probabilities=(dict[str, float], Field(description="Per class: its probability.")),
    )
    return create_model("PredictResponse", predictions=(list[prediction], ...))


def _explain_response(inputs: RowInputs) -> type[BaseModel]:
    contract = inputs.contract
    fields: dict[str, Any] = {
        "predicted": (str, Field(alias=contract.target, description="The predicted class.")),
        "probabilities": (dict[str, float], ...),
        "raw_scores": (
            dict[str, float],
            Field(description="Per class: the model's score (log-odds)."),
        ),
        "base_values": (dict[str, float], Field(description="Per class: the expected raw score.")),
        "contributions": (
            dict[str, dict[str, float]],
            Field(
                description="Per class, per input column: its share of the raw score (TreeSHAP)."
                + _text_sum(inputs)
            ),
        ),
    }
    if contract.text is not None:
        fields["top_terms"] = (
            list[Term],
            Field(
                description=f"The {contract.row}'s own terms that moved the predicted class's "
                "score most."
            ),
        )
    explanation = create_model(f"{component_name(contract.row)}Explanation", **fields)
    explanation.__doc__ = (
        "A prediction and its decomposition: for every class, contributions[class][column] "
        "summed over the input columns plus base_values[class] is raw_scores[class], and the "
        "softmax of the raw scores is the probabilities."
    )
    return create_model("ExplainResponse", explanations=(list[explanation], ...))


def _text_sum(inputs: RowInputs) -> str:
    contract = inputs.contract
    if contract.text is None:
        return ""
    return (
        f" The text column {contract.text_feature} sums the TF-IDF terms of "
        f"{' and '.join(contract.text_columns)}."
    )


def _drift_report(inputs: RowInputs) -> type[BaseModel]:
    """/drift's answer; its row counts are named after the table (`songs`, `songs_needed`, ...
    for a table named `songs`)."""
    name, row = inputs.contract.name, inputs.contract.row

    def counted(alias: str, description: str) -> Any:
        return (int, Field(alias=alias, description=description))

    column = create_model(
        "DriftColumn",
        statistic=(float | None, Field(description=f"PSI of the window; null before any {row}.")),
        threshold=(float, ...),
        drifting=(bool | None, Field(description=f"null until `{name}` reaches `{name}_needed`.")),
        counted=counted(name, f"The {name} of the window with a value in this column."),
        needed=counted(f"{name}_needed", f"The {name} before a verdict (false alarms < 0.1%)."),
        bins=(int, ...),
    )
    window = create_model(
        "DriftWindow",
        per_worker=counted(f"{name}_per_worker", f"Each worker's last {name} (--drift-window)."),
        workers=(int, ...),
        at_most=counted(f"{name}_at_most", "What the statistics cover when every window is full."),
    )
    return create_model(
        "DriftReport",
        statistic=(str, ...),
        threshold=(float, ...),
        window=(window, ...),
        reference=(dict[str, str], ...),
        features=(dict[str, column], ...),
        predicted=(column, Field(alias=inputs.contract.prediction_column)),
    )
