"""Model files: exact round trip in a new process, no pickle, invalid files rejected."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save as save_safetensors

from unseen.errors import ModelFileError, UnseenError
from unseen.io import model_file
from unseen.pipeline import AnomalyPipeline


@pytest.fixture(scope="module")
def fitted(cardio):
    X, _ = cardio
    normal = X[:800]
    return AnomalyPipeline("autoencoder", detector_params={"epochs": 5}, random_state=0).fit(normal)


@pytest.fixture(scope="module")
def saved(fitted, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "cardio.unseen"
    fitted.save(path)
    return path


def test_scores_equal_after_reload_in_new_process(fitted, saved, cardio, tmp_path):
    X, _ = cardio
    rows = X[800:1000]
    np.save(tmp_path / "rows.npy", rows)
    script = (
        "import json, sys, numpy as np\n"
        "from unseen.pipeline import AnomalyPipeline\n"
        "model = AnomalyPipeline.load(sys.argv[1])\n"
        "rows = np.load(sys.argv[2])\n"
        "print(json.dumps(model.anomaly_score(rows).tolist()))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script, str(saved), str(tmp_path / "rows.npy")],
        capture_output=True,
        text=True,
        check=True,
    )
    reloaded = np.array(json.loads(output.stdout))
    np.testing.assert_array_equal(reloaded, fitted.anomaly_score(rows))


def test_reload_keeps_threshold_and_p_values(fitted, saved, cardio):
    X, _ = cardio
    loaded = AnomalyPipeline.load(saved)
    assert loaded.threshold_ == fitted.threshold_
    np.testing.assert_array_equal(loaded.p_values(X[:50]), fitted.p_values(X[:50]))
    assert loaded.summary()["alarm_rule"] == fitted.summary()["alarm_rule"]


def test_pickle_file_rejected(tmp_path):
    path = tmp_path / "model.unseen"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(ModelFileError, match="pickle"):
        AnomalyPipeline.load(path)


def test_truncated_file_rejected(saved, tmp_path):
    path = tmp_path / "cut.unseen"
    path.write_bytes(saved.read_bytes()[: saved.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="not a valid unseen model file"):
        AnomalyPipeline.load(path)


def test_tampered_weights_rejected(saved, tmp_path):
    data = bytearray(saved.read_bytes())
    data[-10] ^= 0xFF
    path = tmp_path / "tampered.unseen"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="integrity check"):
        AnomalyPipeline.load(path)


def test_wrong_version_rejected(fitted, tmp_path):
    config, arrays = model_file.pipeline_to_state(fitted)
    text = json.dumps(config)
    metadata = {
        "format": model_file.FORMAT_NAME,
        "format_version": "99",
        "unseen_version": "9.9.9",
        "config": text,
        "sha256": model_file._digest(text, arrays),
    }
    path = tmp_path / "future.unseen"
    path.write_bytes(save_safetensors(arrays, metadata=metadata))
    with pytest.raises(ModelFileError, match="format version 99"):
        AnomalyPipeline.load(path)


def test_other_safetensors_file_rejected(tmp_path):
    path = tmp_path / "weights.safetensors"
    path.write_bytes(save_safetensors({"w": np.zeros(3, dtype=np.float32)}))
    with pytest.raises(ModelFileError, match="not an unseen model"):
        AnomalyPipeline.load(path)


@pytest.mark.parametrize("content", [b"", b"hello world", b"{}" * 10, b"\xff" * 64])
def test_garbage_rejected(tmp_path, content):
    path = tmp_path / "garbage.unseen"
    path.write_bytes(content)
    with pytest.raises(ModelFileError):
        AnomalyPipeline.load(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        AnomalyPipeline.load(tmp_path / "absent.unseen")


def test_interrupted_save_leaves_old_file_intact(fitted, saved, tmp_path, monkeypatch):
    target = tmp_path / "model.unseen"
    target.write_bytes(saved.read_bytes())
    before = target.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        fitted.save(target)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.unseen"]


def test_save_into_missing_folder_rejected(fitted, tmp_path):
    with pytest.raises(UnseenError, match="does not exist"):
        fitted.save(tmp_path / "no" / "such" / "model.unseen")


def test_saved_file_gets_umask_permissions(fitted, tmp_path):
    umask = os.umask(0o022)
    try:
        fitted.save(tmp_path / "m.unseen")
    finally:
        os.umask(umask)
    assert (tmp_path / "m.unseen").stat().st_mode & 0o777 == 0o644


def test_folder_as_model_rejected(tmp_path):
    with pytest.raises(ModelFileError, match="is a folder"):
        AnomalyPipeline.load(tmp_path)
