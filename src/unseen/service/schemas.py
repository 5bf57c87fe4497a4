"""Request and response bodies of the HTTP API, as pydantic models.

These models feed the OpenAPI document. Score requests are parsed by hand
(``unseen.service.records``) because they may be CSV and must be checked per
record against the model's schema, so ``ScoreRequest`` only documents them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

# A cell of a JSON record: a number, text, a boolean or null (a missing value).
Cell = float | int | str | bool | None


class ScoreRequest(BaseModel):
    """Records to score, each an object mapping column names to values."""

    records: list[dict[str, Cell]] = Field(
        min_length=1,
        description="One object per record. Every feature column of the model must be a key; "
        "null marks a missing value. Keys the model does not use are ignored, except id "
        "columns, which are copied to the results.",
    )


class Reason(BaseModel):
    """A column that contributed to a record's anomaly score."""

    column: str
    share: float = Field(description="Share of the record's anomaly score due to this column.")
    observed: str | None = Field(
        default=None, description="The record's value in this column, as text."
    )
    expected: str | None = Field(
        default=None,
        description="The value the model expected in this column, as text.",
    )


class RecordResult(BaseModel):
    """Score, p-value, flag and top reasons for one record."""

    index: int = Field(description="Position of the record in the request, from 0.")
    ids: dict[str, Any] = Field(description="The record's id columns, as sent.")
    anomaly_score: float = Field(description="Higher means more anomalous.")
    p_value: float = Field(
        description="Conformal p-value: the share of normal calibration records that scored "
        "at least this high."
    )
    is_anomaly: bool = Field(description="True when the model's alarm rule flags the record.")
    reasons: list[Reason] = Field(
        description="The top_k columns by share, largest first; empty when top_k is 0 or, "
        "with reasons_for=flagged, for records that are not flagged."
    )


class TransformReport(BaseModel):
    """Counts per column of request values that training did not contain."""

    unseen_categories: dict[str, int]
    missing_values: dict[str, int]


class ScoreResponse(BaseModel):
    model: str
    n_records: int
    n_anomalies: int
    threshold: float | None = Field(
        description="Anomaly scores above this are flagged; null when the model's target "
        "false-positive rate cannot be met, so nothing is flagged."
    )
    results: list[RecordResult]
    transform_report: TransformReport


class FeatureInfo(BaseModel):
    name: str
    kind: str = Field(description="numeric, categorical or boolean.")
    true_value: str | None = Field(description="For boolean columns, the value read as true.")


class ModelInfo(BaseModel):
    name: str
    file_name: str
    file_sha256: str = Field(description="SHA-256 of the model file; identifies its version.")
    detector: str
    detector_params: dict[str, Any]
    alarm_rule: str
    threshold: float | None = Field(description="As in ScoreResponse; null means no flags.")
    features: list[FeatureInfo]
    id_columns: list[str]
    label_column: str | None
    trained_at: str | None
    unseen_version: str | None = Field(description="unseen release that trained the model.")
    training: dict[str, Any]


class ModelSummary(BaseModel):
    name: str
    detector: str
    n_features: int
    trained_at: str | None
    file_sha256: str


class ModelList(BaseModel):
    models: list[ModelSummary]


class Health(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    """One problem with the request, located by record index and field where known."""

    record: int | None = Field(default=None, description="Index of the record, from 0.")
    field: str | None = Field(default=None, description="Column or parameter name.")
    message: str


class ErrorResponse(BaseModel):
    """Body of every 4xx and 5xx response."""

    error: str = Field(description="Short machine-readable error kind, such as invalid_input.")
    message: str
    request_id: str
    details: list[ErrorDetail] = Field(default_factory=list)
