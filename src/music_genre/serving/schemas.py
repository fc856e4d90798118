"""What the API answers, as pydantic models (the OpenAPI document's schemas), and its request
bodies of songs, whose cap is set when the app is made."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, create_model

from music_genre.serving.inputs import Song, batch_field

JSON_TYPE: Final = "application/json"
CSV_TYPE: Final = "text/csv"


def songs_request(name: str, max_songs: int) -> Any:
    """The model of a `{"songs": [...]}` body of 1 to `max_songs` songs.

    Any: a model made at run time (its cap is an argument), which a type checker cannot see
    as a type.
    """
    return create_model(
        name, __config__=ConfigDict(extra="forbid"), songs=(batch_field(max_songs, Song), ...)
    )


class GenrePrediction(BaseModel):
    genre: str
    probabilities: dict[str, float]


class PredictResponse(BaseModel):
    predictions: list[GenrePrediction]


class InvocationsResponse(BaseModel):
    """As MLflow's scoring server answers: one predicted genre per input row."""

    predictions: list[str]


class Status(BaseModel):
    status: str


class Term(BaseModel):
    term: str
    contribution: float


class SongExplanation(BaseModel):
    """A prediction and its decomposition: for every genre, contributions[genre][column] summed
    over the input columns plus base_values[genre] is raw_scores[genre], and the softmax of the
    raw scores is the probabilities."""

    genre: str = Field(description="The predicted genre.")
    probabilities: dict[str, float]
    raw_scores: dict[str, float] = Field(description="Per genre: the model's score (log-odds).")
    base_values: dict[str, float] = Field(description="Per genre: the expected raw score.")
    contributions: dict[str, dict[str, float]] = Field(
        description="Per genre, per input column: its share of the raw score (TreeSHAP). The "
        "text column sums the TF-IDF terms of title and song name."
    )
    top_terms: list[Term] = Field(
        description="The song's own terms that moved the predicted genre's score most."
    )


class ExplainResponse(BaseModel):
    explanations: list[SongExplanation]


class DriftColumn(BaseModel):
    statistic: float | None = Field(description="PSI of the window; null before any song.")
    threshold: float
    drifting: bool | None = Field(description="null until `songs` reaches `songs_needed`.")
    songs: int = Field(description="Songs of the window with a value in this column.")
    songs_needed: int = Field(description="Songs before a verdict (false alarms < 0.1%).")
    bins: int


class DriftWindow(BaseModel):
    songs_per_worker: int = Field(description="Each worker's last songs (--drift-window).")
    workers: int
    songs_at_most: int = Field(description="What the statistics cover when every window is full.")


class DriftReport(BaseModel):
    statistic: str
    threshold: float
    window: DriftWindow
    reference: dict[str, str]
    features: dict[str, DriftColumn]
    predicted_genre: DriftColumn
