"""Deep SVDD: map normal rows close to a fixed centre; distance is the score."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from unseen.detectors.autoencoder import check_hidden_dims
from unseen.detectors.base import BaseDetector
from unseen.detectors.torch_training import (
    apply_in_batches,
    check_training_params,
    load_arrays,
    resolve_device,
    resolve_seed,
    seeded,
    state_to_arrays,
    train_network,
)
from unseen.errors import UnseenError

SCORING_BATCH_SIZE = 4096
# Centre coordinates closer to 0 than this are moved to +/- this value, because
# a network without biases maps the zero input to 0 and could reach a zero
# coordinate cheaply by shrinking weights (Ruff et al., 2018, section 3.3).
CENTER_EPSILON = 0.1


class SVDDNetwork(nn.Module):
    """Bias-free MLP with LeakyReLU; its output is the row's point in the hypersphere space.

    Biases are left out because with them the network can output the constant
    centre for every input and reach zero loss (hypersphere collapse). LeakyReLU
    is unbounded, so outputs cannot saturate onto the centre either.
    """

    def __init__(self, n_features: int, hidden_dims: list[int]):
        super().__init__()
        sizes = [n_features, *hidden_dims]
        layers: list[nn.Module] = []
        for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            layers.append(nn.Linear(n_in, n_out, bias=False))
            if index < len(sizes) - 2:
                layers.append(nn.LeakyReLU(0.1))
        self.layers = nn.Sequential(*layers)
        self.register_buffer("center", torch.zeros(hidden_dims[-1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        """Return the squared Euclidean distance of each row's output to the centre."""
        return ((self.layers(x) - self.center) ** 2).sum(dim=1)


class DeepSVDDDetector(BaseDetector):
    """One-class Deep SVDD; the anomaly score is the squared distance to the centre.

    Ruff et al., "Deep One-Class Classification" (ICML 2018). The network is
    trained to pull normal rows towards a centre ``c`` that is fixed before
    training: the mean output of the initial network over the training rows,
    with coordinates near 0 pushed to +/-0.1. Three guards keep the trivial
    solution (every row mapped onto ``c``) out of reach: no bias terms, a centre
    that is not learned, and unbounded LeakyReLU activations.

    Parameters
    ----------
    hidden_dims : sequence of int, default=(64, 16)
        Layer widths; the last is the output space dimension.
    epochs, batch_size, learning_rate, weight_decay, validation_fraction, patience,
    random_state, device
        As for ``AutoencoderDetector``; ``weight_decay`` (default 1e-6) is the
        network regulariser of the one-class objective.

    Attributes
    ----------
    n_features_in_ : int
    seed_ : int
    center_ : ndarray of shape (hidden_dims[-1],)
    network_ : SVDDNetwork
    history_ : TrainingHistory
    """

    name = "deep_svdd"
    summary = "Deep SVDD (bias-free network, fixed centre); score = squared distance to the centre"

    def __init__(
        self,
        hidden_dims=(64, 16),
        epochs=50,
        batch_size=128,
        learning_rate=1e-3,
        weight_decay=1e-6,
        validation_fraction=0.1,
        patience=10,
        random_state=None,
        device="cpu",
    ):
        self.hidden_dims = hidden_dims
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.device = device

    def _fit(self, X: np.ndarray) -> None:
        dims = check_hidden_dims(self.hidden_dims)
        epochs, batch_size, learning_rate = check_training_params(self)
        self.seed_ = resolve_seed(self.random_state)
        self._device = resolve_device(self.device)
        with seeded(self.seed_) as generator:
            self.network_ = SVDDNetwork(X.shape[1], dims).to(self._device)
            self.network_.center.copy_(self._initial_center(X))
            self.history_ = train_network(
                self.network_,
                _row_loss,
                X,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                weight_decay=float(self.weight_decay),
                validation_fraction=float(self.validation_fraction),
                patience=int(self.patience),
                generator=generator,
                device=self._device,
                description="deep SVDD training",
            )
        self.center_ = self.network_.center.cpu().numpy().copy()

    def _initial_center(self, X: np.ndarray) -> torch.Tensor:
        self.network_.eval()
        outputs = apply_in_batches(self.network_, X, SCORING_BATCH_SIZE, self._device)
        center = outputs.astype(np.float64).mean(axis=0)
        near_zero = np.abs(center) < CENTER_EPSILON
        center[near_zero] = np.where(center[near_zero] < 0, -CENTER_EPSILON, CENTER_EPSILON)
        return torch.from_numpy(center.astype(np.float32)).to(self._device)

    def _anomaly_score(self, X: np.ndarray) -> np.ndarray:
        self.network_.eval()
        return apply_in_batches(self.network_.distance, X, SCORING_BATCH_SIZE, self._device)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        values = {
            "n_features_in": self.n_features_in_,
            "seed": self.seed_,
            "hidden_dims": check_hidden_dims(self.hidden_dims),
        }
        return values, state_to_arrays(self.network_)

    def set_state(self, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.n_features_in_ = int(values["n_features_in"])
        self.seed_ = int(values["seed"])
        self._device = torch.device("cpu")
        self.network_ = SVDDNetwork(self.n_features_in_, list(values["hidden_dims"]))
        load_arrays(self.network_, arrays)
        self.center_ = self.network_.center.numpy().copy()
        if not np.isfinite(self.center_).all():
            raise UnseenError("deep SVDD state has a non-finite centre")


def _row_loss(network: nn.Module, batch: torch.Tensor) -> torch.Tensor:
    return network.distance(batch)
