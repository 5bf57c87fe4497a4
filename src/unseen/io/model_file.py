"""Read and write fitted pipelines as single safetensors files.

A model file is a safetensors file: a JSON header followed by raw numeric
arrays. Loading it parses JSON and copies numbers, so it can never run code,
unlike pickle. The header metadata contains the pipeline configuration as JSON
and a SHA-256 digest over that JSON and every array, so a truncated or edited
file is rejected instead of silently scoring differently.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from unseen._version import __version__
from unseen.errors import ModelFileError, UnseenError
from unseen.io.atomic import write_atomically

FORMAT_NAME = "unseen-model"
FORMAT_VERSION = 1
CALIBRATION_KEY = "calibration.scores"
DETECTOR_PREFIX = "detector."
# Optional: files written before explanations stored a background sample lack
# these and load with a one-row reference (training medians and modes).
EXPLAINER_PREFIX = "explainer."


def _digest(config_json: str, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(config_json.encode("utf-8"))
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def pipeline_to_state(pipeline) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Return a fitted pipeline as (JSON-compatible config, named arrays)."""
    from unseen.pipeline import _json_params

    pipeline._check_fitted()
    detector_values, detector_arrays = pipeline.detector_.get_state()
    pipeline_params = _json_params(pipeline.get_params(deep=False))
    pipeline_params["detector"] = pipeline.detector_.name
    config = {
        "pipeline_params": pipeline_params,
        "detector": {
            "name": pipeline.detector_.name,
            "params": _json_params(pipeline.detector_.get_params(deep=False)),
            "state": detector_values,
        },
        "preprocessor": pipeline.preprocessor_.to_dict(),
        "calibrator": pipeline.calibrator_.to_dict(),
        "training_info": pipeline.training_info_,
    }
    arrays = {DETECTOR_PREFIX + k: np.ascontiguousarray(v) for k, v in detector_arrays.items()}
    arrays[CALIBRATION_KEY] = np.ascontiguousarray(pipeline.calibrator_.calibration_scores_)
    explainer_values, explainer_arrays = pipeline.explainer_.get_state()
    config["explainer"] = explainer_values
    arrays.update({EXPLAINER_PREFIX + k: v for k, v in explainer_arrays.items()})
    return config, arrays


def save_pipeline(pipeline, path: str | os.PathLike) -> None:
    """Write ``pipeline`` to ``path`` atomically: a failed write leaves no file there."""
    config, arrays = pipeline_to_state(pipeline)
    try:
        config_json = json.dumps(config, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise UnseenError(f"the model state cannot be written as JSON: {exc}") from exc
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "unseen_version": __version__,
        "config": config_json,
        "sha256": _digest(config_json, arrays),
    }
    payload = save_safetensors(arrays, metadata=metadata)
    write_atomically(path, payload)


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a model file; return (config, arrays) or raise ``ModelFileError``."""
    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{str(path)!r} is a folder: pass the model file written by fit")
    if not path.is_file():
        raise ModelFileError(f"model file not found: {str(path)!r}")
    data = path.read_bytes()
    name = repr(str(path))
    if not _has_safetensors_header(data) and _looks_like_pickle(data):
        raise ModelFileError(
            f"{name} looks like a pickle or a torch.save zip archive, not an unseen model "
            "file; unseen never loads pickle because loading it can run code"
        )
    try:
        arrays = load_safetensors(data)
        metadata = _read_metadata(data)
    except (SafetensorError, ValueError, json.JSONDecodeError, OverflowError) as exc:
        raise ModelFileError(
            f"{name} is not a valid unseen model file (truncated or not safetensors): {exc}"
        ) from exc
    if metadata.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{name} is a safetensors file but not an unseen model")
    version = metadata.get("format_version", "?")
    if version != str(FORMAT_VERSION):
        raise ModelFileError(
            f"{name} has model format version {version} (written by unseen "
            f"{metadata.get('unseen_version', '?')}); this unseen {__version__} reads "
            f"version {FORMAT_VERSION}: refit the model or use a matching unseen release"
        )
    config_json = metadata.get("config", "")
    if _digest(config_json, arrays) != metadata.get("sha256"):
        raise ModelFileError(f"{name} failed its integrity check: it was modified or corrupted")
    return json.loads(config_json), arrays


def _has_safetensors_header(data: bytes) -> bool:
    if len(data) < 9:
        return False
    return data[8:9] == b"{" and int.from_bytes(data[:8], "little") <= len(data) - 8


def _looks_like_pickle(data: bytes) -> bool:
    # Pickle protocols 2-5 start with PROTO (0x80) and the protocol number;
    # torch.save writes a zip archive of pickles.
    return (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or (
        data[:4] == b"PK\x03\x04"
    )


def _read_metadata(data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise ValueError("file is shorter than the safetensors header")
    header_size = int.from_bytes(data[:8], "little")
    if header_size > len(data) - 8:
        raise ValueError("header size exceeds the file size")
    header = json.loads(data[8 : 8 + header_size])
    return header.get("__metadata__") or {}


def load_pipeline(path: str | os.PathLike):
    """Rebuild a fitted ``AnomalyPipeline`` from a model file."""
    from unseen.calibration import ConformalCalibrator
    from unseen.detectors import make_detector
    from unseen.pipeline import AnomalyPipeline
    from unseen.preprocessing import TabularPreprocessor

    config, arrays = read_model_file(path)
    try:
        pipeline = AnomalyPipeline(**config["pipeline_params"])
        detector_config = config["detector"]
        detector = make_detector(detector_config["name"], **detector_config["params"])
        detector_arrays = {
            k[len(DETECTOR_PREFIX) :]: v for k, v in arrays.items() if k.startswith(DETECTOR_PREFIX)
        }
        detector.set_state(detector_config["state"], detector_arrays)
        pipeline.detector_ = detector
        pipeline.preprocessor_ = TabularPreprocessor.from_dict(config["preprocessor"])
        pipeline.schema_ = pipeline.preprocessor_.schema
        pipeline.calibrator_ = ConformalCalibrator.from_state(
            config["calibrator"], arrays[CALIBRATION_KEY]
        )
        pipeline.explainer_ = _load_explainer(config, arrays, pipeline.preprocessor_)
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ModelFileError(f"{str(path)!r} has an incomplete model state: {exc}") from exc
    pipeline.threshold_ = pipeline.calibrator_.threshold_
    pipeline.n_features_in_ = len(pipeline.schema_.feature_names)
    pipeline.feature_names_in_ = np.asarray(pipeline.schema_.feature_names, dtype=object)
    pipeline.training_info_ = config.get("training_info", {})
    return pipeline


def _load_explainer(config: dict[str, Any], arrays: dict[str, np.ndarray], preprocessor):
    from unseen.explain import ColumnExplainer

    if "explainer" not in config:
        return ColumnExplainer.from_reference_row(preprocessor.reference_row())
    explainer_arrays = {
        k[len(EXPLAINER_PREFIX) :]: v for k, v in arrays.items() if k.startswith(EXPLAINER_PREFIX)
    }
    explainer = ColumnExplainer.from_state(config["explainer"], explainer_arrays)
    if explainer.background_.shape[1] != preprocessor.n_features_out_:
        raise ModelFileError(
            f"the explanation background has {explainer.background_.shape[1]} features, "
            f"but the preprocessor encodes {preprocessor.n_features_out_}"
        )
    return explainer
