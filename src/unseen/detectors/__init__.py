"""Detectors and the registry that names them for the CLI and model files."""

from __future__ import annotations

from unseen.detectors.autoencoder import AutoencoderDetector
from unseen.detectors.base import BaseDetector
from unseen.errors import UnseenError

REGISTRY: dict[str, type[BaseDetector]] = {}


def register(detector_class: type[BaseDetector]) -> type[BaseDetector]:
    """Add a detector class to the registry under its ``name``."""
    REGISTRY[detector_class.name] = detector_class
    return detector_class


def make_detector(name: str, **params) -> BaseDetector:
    """Create a registered detector by name with the given hyper-parameters."""
    if name not in REGISTRY:
        raise UnseenError(
            f"unknown detector {name!r}; choose one of: {', '.join(sorted(REGISTRY))}"
        )
    return REGISTRY[name](**params)


register(AutoencoderDetector)

__all__ = ["REGISTRY", "AutoencoderDetector", "BaseDetector", "make_detector", "register"]
