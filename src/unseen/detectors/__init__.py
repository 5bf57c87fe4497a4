"""Detectors and the registry that names them for the CLI and model files."""

from __future__ import annotations

from unseen.detectors.adversarial import GANDetector
from unseen.detectors.autoencoder import AutoencoderDetector
from unseen.detectors.base import BaseDetector
from unseen.detectors.deep_svdd import DeepSVDDDetector
from unseen.detectors.ecod import ECODDetector
from unseen.detectors.ensemble import EnsembleDetector
from unseen.detectors.robust_ensemble import RobustEnsembleDetector
from unseen.detectors.robust_z import RobustZDetector
from unseen.detectors.rules import RulesDetector
from unseen.detectors.sklearn_wrappers import IsolationForestDetector, KNNDetector
from unseen.detectors.vae import VAEDetector
from unseen.errors import UnseenError

REGISTRY: dict[str, type[BaseDetector]] = {}


def register(detector_class: type[BaseDetector]) -> type[BaseDetector]:
    """Add a detector class to the registry under its ``name``."""
    REGISTRY[detector_class.name] = detector_class
    return detector_class


def make_detector(name: str, **params) -> BaseDetector:
    """Create a registered detector by name with the given hyper-parameters.

    ``"name+name"`` builds an ``EnsembleDetector`` of those members.
    """
    if "+" in name:
        return EnsembleDetector.from_spec(name, **params)
    if name not in REGISTRY:
        raise UnseenError(
            f"unknown detector {name!r}; choose one of: {', '.join(sorted(REGISTRY))}"
        )
    return REGISTRY[name](**params)


register(AutoencoderDetector)
for _detector_class in (
    VAEDetector,
    GANDetector,
    DeepSVDDDetector,
    RobustZDetector,
    RulesDetector,
    IsolationForestDetector,
    KNNDetector,
    ECODDetector,
    EnsembleDetector,
    RobustEnsembleDetector,
):
    register(_detector_class)

__all__ = ["REGISTRY", "AutoencoderDetector", "BaseDetector", "make_detector", "register"]
