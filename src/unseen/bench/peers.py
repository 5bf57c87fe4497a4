"""Peer detectors from PyOD, run at their library defaults.

PyOD is optional (the ``bench`` extra). Peers receive the same encoded
matrices as unseen's detectors: a ``TabularPreprocessor`` fitted on the
training split, so every detector sees identical numbers and differences
come from the detectors alone. Only ``random_state`` (where a peer has one)
and ``verbose=0`` are set; everything else is PyOD's default.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable

# name -> (module, class, extra keyword arguments besides random_state/verbose)
PEERS: dict[str, tuple[str, str]] = {
    "IForest": ("pyod.models.iforest", "IForest"),
    "ECOD": ("pyod.models.ecod", "ECOD"),
    "KNN": ("pyod.models.knn", "KNN"),
    "AutoEncoder": ("pyod.models.auto_encoder", "AutoEncoder"),
    "VAE": ("pyod.models.vae", "VAE"),
    "DeepSVDD": ("pyod.models.deep_svdd", "DeepSVDD"),
}
_SEEDED = {"IForest", "AutoEncoder", "VAE", "DeepSVDD"}
_QUIET = {"AutoEncoder", "VAE", "DeepSVDD"}


def pyod_available() -> bool:
    """Return True when PyOD can be imported."""
    return importlib.util.find_spec("pyod") is not None


def peer_factory(name: str) -> Callable[[int, int], object]:
    """Return ``make(n_features, seed)`` building the PyOD detector ``name``."""
    module_name, class_name = PEERS[name]

    def make(n_features: int, seed: int) -> object:
        detector_class = getattr(importlib.import_module(module_name), class_name)
        params: dict = {}
        if name in _SEEDED:
            params["random_state"] = seed
        if name in _QUIET:
            params["verbose"] = 0
        if name == "DeepSVDD":
            params["n_features"] = n_features
        return detector_class(**params)

    return make
