"""What the OpenAPI document adds to FastAPI's own: the request body of /invocations (the MLflow
scoring server's four JSON forms and CSV, written from the input models, with the cap as maxItems)
and the schemas it refers to, beside FastAPI's in components.schemas."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import ConfigDict, TypeAdapter, create_model

from music_genre.serving.forms import dataframe_split_schema
from music_genre.serving.inputs import RowInputs, batch_field
from music_genre.serving.schemas import CSV_TYPE, JSON_TYPE

_REF_TEMPLATE = "#/components/schemas/{model}"


class DocumentedAPI(FastAPI):
    """A FastAPI app whose OpenAPI document also holds `extra_schemas` in components.schemas
    (those that a route's `openapi_extra` refers to)."""

    def __init__(self, *, extra_schemas: dict[str, Any], **options: Any) -> None:
        super().__init__(**options)
        self.extra_schemas = extra_schemas

    def openapi(self) -> dict[str, Any]:
        schema = super().openapi()  # kept by FastAPI until its routes change: added to in place
        schema.setdefault("components", {}).setdefault("schemas", {}).update(self.extra_schemas)
        return schema


def invocations_openapi(inputs: RowInputs, max_rows: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `openapi_extra` of /invocations (its request body, from the input models) and the
    schemas it refers to, for components.schemas."""
    records = batch_field(max_rows, inputs.record)
    forms: dict[str, Any] = {  # Any: field definitions, as create_model takes them
        "dataframe_split": (dict[str, Any], ...),
        "dataframe_records": (records, ...),
        "instances": (records, ...),
        "inputs": (records, ...),
    }
    models = [
        create_model(f"MLflow_{name}", __config__=ConfigDict(extra="forbid"), **{name: form})
        for name, form in forms.items()
    ]
    schemas = [model.model_json_schema(ref_template=_REF_TEMPLATE) for model in models]
    schemas[0]["properties"]["dataframe_split"] = dataframe_split_schema(inputs, max_rows)
    csv_rows = TypeAdapter(records).json_schema(ref_template=_REF_TEMPLATE)
    request_body = {
        "required": True,
        "description": "One of the MLflow scoring server's input forms. CSV: a header row "
        "of column names (as pandas `to_csv(index=False)` writes), one row per line, an empty "
        "cell for a missing optional value.",
        "content": {
            JSON_TYPE: {"schema": {"oneOf": [_inline(schema) for schema in schemas]}},
            CSV_TYPE: {
                "schema": {
                    **_inline(csv_rows),
                    "description": "The rows of the CSV table, one object per row "
                    "(CSV carries them as text: a header row, then one line per row).",
                }
            },
        },
    }
    definitions = {
        name: definition
        for schema in (*schemas, csv_rows)
        for name, definition in schema.get("$defs", {}).items()
    }
    return {"requestBody": request_body}, definitions


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$defs"}
