"""Variational autoencoder scored by the reconstruction error of the posterior mean."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from unseen.detectors.autoencoder import AutoencoderDetector, check_hidden_dims
from unseen.detectors.base import check_fraction
from unseen.detectors.torch_training import (
    build_mlp,
    check_training_params,
    load_arrays,
    resolve_device,
    resolve_seed,
    seeded,
    train_network,
)
from unseen.errors import UnseenError

# log(sigma^2) is clamped to this range so exp() can neither overflow nor
# reach a zero variance; e^-10 to e^10 spans variances of 4.5e-5 to 2.2e4.
LOGVAR_MIN, LOGVAR_MAX = -10.0, 10.0


class VAENetwork(nn.Module):
    """Gaussian encoder q(z|x) = N(mu, sigma^2) and a decoder that outputs the mean of p(x|z)."""

    def __init__(self, n_features: int, hidden_dims: list[int]):
        super().__init__()
        *body, latent = hidden_dims
        self.encoder = build_mlp([n_features, *body])
        # Without hidden layers the heads read the input directly.
        self.activation = nn.GELU() if body else nn.Identity()
        width = body[-1] if body else n_features
        self.mean_head = nn.Linear(width, latent)
        self.logvar_head = nn.Linear(width, latent)
        self.decoder = build_mlp([latent, *reversed(body), n_features])

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.activation(self.encoder(x))
        logvar = self.logvar_head(hidden).clamp(LOGVAR_MIN, LOGVAR_MAX)
        return self.mean_head(hidden), logvar

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the decoder mean at z = mu, the deterministic reconstruction."""
        mean, _ = self.encode(x)
        return self.decoder(mean)


class VAEDetector(AutoencoderDetector):
    """Variational autoencoder; the score is the squared error of the decoder mean at z = mu.

    Kingma and Welling, "Auto-Encoding Variational Bayes" (ICLR 2014). Training
    minimises the negative evidence lower bound per row: half the summed squared
    error (a Gaussian decoder with unit variance) plus ``beta`` times the KL
    divergence of q(z|x) from N(0, I), with one reparameterised sample per row.

    Scoring decodes the posterior mean ``mu`` instead of sampling z, so a row
    gets the same score every time and whatever batch it is scored in. The
    score is the mean squared error over the encoded features, and
    ``feature_errors`` splits it exactly per feature. Scoring, ``reconstruct``
    and ``get_state`` are the autoencoder's, applied to this network.

    Parameters
    ----------
    hidden_dims : sequence of int, default=(64, 8)
        Encoder widths; the last is the latent dimension. The decoder mirrors them.
    beta : float, default=1.0
        Weight of the KL term.
    epochs, batch_size, learning_rate, weight_decay, validation_fraction, patience,
    random_state, device
        As for ``AutoencoderDetector``.

    Attributes
    ----------
    n_features_in_ : int
    seed_ : int
    network_ : VAENetwork
    history_ : TrainingHistory
    """

    name = "vae"
    summary = "Variational autoencoder; score = squared error of the decoder mean at z = mu"

    def __init__(
        self,
        hidden_dims=(64, 8),
        beta=1.0,
        epochs=100,
        batch_size=128,
        learning_rate=1e-3,
        weight_decay=1e-5,
        validation_fraction=0.1,
        patience=10,
        random_state=None,
        device="cpu",
    ):
        self.hidden_dims = hidden_dims
        self.beta = beta
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
        beta = check_fraction("beta", self.beta, -1e-12, 1e6)
        self.seed_ = resolve_seed(self.random_state)
        self._device = resolve_device(self.device)

        def row_loss(network: VAENetwork, batch: torch.Tensor) -> torch.Tensor:
            mean, logvar = network.encode(batch)
            # The global torch generator is seeded by ``seeded`` for this fit.
            z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
            reconstruction = 0.5 * ((network.decoder(z) - batch) ** 2).sum(dim=1)
            kl = 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar).sum(dim=1)
            return reconstruction + beta * kl

        self.hidden_dims_ = dims
        with seeded(self.seed_) as generator:
            self.network_ = VAENetwork(X.shape[1], dims)
            self.history_ = train_network(
                self.network_,
                row_loss,
                X,
                epochs=epochs,
                batch_size=batch_size,
                learning_rate=learning_rate,
                weight_decay=float(self.weight_decay),
                validation_fraction=float(self.validation_fraction),
                patience=int(self.patience),
                generator=generator,
                device=self._device,
                description="VAE training",
            )

    def set_state(self, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        dims = list(values["hidden_dims"])
        if not dims:
            raise UnseenError("VAE state has no hidden_dims")
        self.n_features_in_ = int(values["n_features_in"])
        self.seed_ = int(values["seed"])
        self._device = torch.device("cpu")
        self.hidden_dims_ = dims
        self.network_ = VAENetwork(self.n_features_in_, dims)
        load_arrays(self.network_, arrays)
