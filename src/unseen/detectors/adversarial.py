"""A GANomaly-style adversarial autoencoder for tables.

The encoder and generator reconstruct each row; a discriminator learns to tell
real rows from reconstructions, and the generator is trained to match the
discriminator's hidden features of real rows (feature matching). The
reconstruction term anchors every generated row to a real one, so the
generator cannot collapse onto a few modes the way an unconditional GAN can,
and feature matching avoids the oscillation of the plain minimax loss.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from unseen import progress
from unseen.detectors.autoencoder import check_hidden_dims
from unseen.detectors.base import BaseDetector, check_fraction
from unseen.detectors.torch_training import (
    TrainingHistory,
    apply_in_batches,
    build_mlp,
    check_training_params,
    copy_state,
    guarded_step,
    load_arrays,
    resolve_device,
    resolve_seed,
    seeded,
    split_validation,
    state_to_arrays,
)
from unseen.errors import UnseenError

logger = logging.getLogger(__name__)

SCORING_BATCH_SIZE = 4096
# One-sided label smoothing: real rows are labelled 0.9, which keeps the
# discriminator from becoming over-confident and starving the generator.
REAL_LABEL = 0.9
# Adam momentum commonly used for GANs (Radford et al., DCGAN, 2016).
ADAM_BETAS = (0.5, 0.999)


class GANomalyNetwork(nn.Module):
    """Encoder, generator (decoder) and discriminator with a readable feature layer."""

    def __init__(self, n_features: int, hidden_dims: list[int]):
        super().__init__()
        *body, latent = hidden_dims
        self.encoder = build_mlp([n_features, *body, latent])
        self.generator = nn.Sequential(nn.GELU(), build_mlp([latent, *reversed(body), n_features]))
        feature_dims = body or [latent]
        self.features = nn.Sequential(
            build_mlp([n_features, *feature_dims], activation=nn.LeakyReLU), nn.LeakyReLU(0.2)
        )
        self.critic = nn.Linear(feature_dims[-1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the reconstruction of ``x`` through encoder and generator."""
        return self.generator(self.encoder(x))

    def discriminate(self, x: torch.Tensor) -> torch.Tensor:
        return self.critic(self.features(x)).squeeze(1)

    def score_terms(self, x: torch.Tensor) -> torch.Tensor:
        """Return per-row (reconstruction MSE, discriminator feature MSE) as two columns."""
        reconstruction = self(x)
        rec = ((x - reconstruction) ** 2).mean(dim=1)
        feat = ((self.features(x) - self.features(reconstruction)) ** 2).mean(dim=1)
        return torch.stack([rec, feat], dim=1)

    def generator_parameters(self) -> list[nn.Parameter]:
        return [*self.encoder.parameters(), *self.generator.parameters()]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [*self.features.parameters(), *self.critic.parameters()]


class GANDetector(BaseDetector):
    """Adversarially trained autoencoder; score = reconstruction + discriminator feature distance.

    After Akcay, Atapour-Abarghouei and Breckon, "GANomaly" (ACCV 2018), with the
    discriminator feature distance of Zenati et al., "Adversarially Learned
    Anomaly Detection" (ICDM 2018) in the score. Per batch, the discriminator
    takes one step on real rows against detached reconstructions (binary
    cross-entropy), then encoder and generator take one step on
    ``MSE(x, G(E(x))) + adversarial_weight * MSE(f(x), f(G(E(x))))``, where
    ``f`` is the discriminator's last hidden layer.

    The score is ``rec / rec_scale_ + feature_weight * feat / feat_scale_``:
    ``rec`` is the mean squared reconstruction error, ``feat`` the mean squared
    distance between the discriminator features of a row and of its
    reconstruction, and each scale is the median of that term over the
    training rows, so the two terms are in comparable units.

    Parameters
    ----------
    hidden_dims : sequence of int, default=(64, 16)
        Encoder widths; the last is the latent size. The generator mirrors
        them and the discriminator uses the encoder widths before the latent.
    adversarial_weight : float, default=0.1
        Weight of feature matching against the reconstruction loss in training.
    feature_weight : float, default=1.0
        Weight of the discriminator feature distance in the score.
    epochs, batch_size, learning_rate, weight_decay, validation_fraction, patience,
    random_state, device
        As for ``AutoencoderDetector``. Early stopping watches the validation
        reconstruction error.

    Attributes
    ----------
    n_features_in_ : int
    seed_ : int
    network_ : GANomalyNetwork
    history_ : TrainingHistory
    scales_ : ndarray of shape (2,)
        Median training reconstruction error and feature distance.
    """

    name = "gan"
    summary = (
        "GANomaly-style adversarial autoencoder; score = reconstruction error "
        "+ discriminator feature distance"
    )

    def __init__(
        self,
        hidden_dims=(64, 16),
        adversarial_weight=0.1,
        feature_weight=1.0,
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
        self.adversarial_weight = adversarial_weight
        self.feature_weight = feature_weight
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
        check_training_params(self)
        check_fraction("adversarial_weight", self.adversarial_weight, -1e-12, 1e6)
        check_fraction("feature_weight", self.feature_weight, -1e-12, 1e6)
        self.seed_ = resolve_seed(self.random_state)
        self._device = resolve_device(self.device)
        with seeded(self.seed_) as generator:
            self.network_ = GANomalyNetwork(X.shape[1], dims).to(self._device)
            self.history_ = self._train(X, generator)
        terms = self._score_terms(X)
        median = np.median(terms, axis=0)
        # A zero median (a perfect fit of constant data) would divide by zero.
        self.scales_ = np.where(median > 0, median, 1.0)

    def _train(self, X: np.ndarray, generator: torch.Generator) -> TrainingHistory:
        network = self.network_
        train_rows, validation_rows = split_validation(
            len(X), float(self.validation_fraction), generator
        )
        data = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(self._device)
        options = {"lr": float(self.learning_rate), "weight_decay": float(self.weight_decay)}
        g_optimizer = torch.optim.Adam(network.generator_parameters(), betas=ADAM_BETAS, **options)
        d_optimizer = torch.optim.Adam(
            network.discriminator_parameters(), betas=ADAM_BETAS, **options
        )
        history = TrainingHistory()
        best_loss, best_state, stale = float("inf"), copy_state(network), 0
        for epoch in range(int(self.epochs)):
            network.train()
            order = train_rows[torch.randperm(len(train_rows), generator=generator).numpy()]
            total = 0.0
            for start in range(0, len(order), int(self.batch_size)):
                batch = data[order[start : start + int(self.batch_size)]]
                self._discriminator_step(batch, d_optimizer, epoch)
                total += self._generator_step(batch, g_optimizer, epoch) * len(batch)
            history.train_loss.append(total / len(order))
            progress.report("GAN training", epoch + 1, int(self.epochs))
            monitored = history.train_loss[-1]
            if len(validation_rows):
                monitored = float(self._score_terms(X[validation_rows])[:, 0].mean())
                history.validation_loss.append(monitored)
            if best_loss == float("inf") or best_loss - monitored > 1e-4 * abs(best_loss):
                best_loss, best_state, stale = monitored, copy_state(network), 0
                history.best_epoch = epoch
            else:
                stale += 1
                if len(validation_rows) and stale >= int(self.patience):
                    break
        network.load_state_dict(best_state)
        network.eval()
        logger.debug("GAN training stopped after %d epochs, best %d", epoch + 1, history.best_epoch)
        return history

    def _discriminator_step(self, batch: torch.Tensor, optimizer, epoch: int) -> None:
        network = self.network_
        with torch.no_grad():
            fake = network(batch)
        logits = torch.cat([network.discriminate(batch), network.discriminate(fake)])
        labels = torch.cat([torch.full((len(batch),), REAL_LABEL), torch.zeros(len(batch))]).to(
            logits.device
        )
        loss = functional.binary_cross_entropy_with_logits(logits, labels)
        guarded_step(
            loss, optimizer, network.discriminator_parameters(), "GAN discriminator training", epoch
        )

    def _generator_step(self, batch: torch.Tensor, optimizer, epoch: int) -> float:
        network = self.network_
        reconstruction = network(batch)
        rec = ((reconstruction - batch) ** 2).mean()
        real_features = network.features(batch).detach()
        matching = ((network.features(reconstruction) - real_features) ** 2).mean()
        loss = rec + float(self.adversarial_weight) * matching
        guarded_step(
            loss, optimizer, network.generator_parameters(), "GAN generator training", epoch
        )
        return float(loss.item())

    def _score_terms(self, X: np.ndarray) -> np.ndarray:
        self.network_.eval()
        terms = apply_in_batches(self.network_.score_terms, X, SCORING_BATCH_SIZE, self._device)
        return terms.astype(np.float64)

    def reconstruct(self, X: np.ndarray) -> np.ndarray:
        X = self._check_matrix(X)
        self.network_.eval()
        return apply_in_batches(self.network_, X, SCORING_BATCH_SIZE, self._device)

    def _anomaly_score(self, X: np.ndarray) -> np.ndarray:
        terms = self._score_terms(X) / self.scales_
        return terms[:, 0] + float(self.feature_weight) * terms[:, 1]

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        values = {
            "n_features_in": self.n_features_in_,
            "seed": self.seed_,
            "hidden_dims": check_hidden_dims(self.hidden_dims),
        }
        arrays = state_to_arrays(self.network_, prefix="network.")
        arrays["scales"] = self.scales_
        return values, arrays

    def set_state(self, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.n_features_in_ = int(values["n_features_in"])
        self.seed_ = int(values["seed"])
        self._device = torch.device("cpu")
        self.network_ = GANomalyNetwork(self.n_features_in_, list(values["hidden_dims"]))
        load_arrays(self.network_, arrays, prefix="network.")
        scales = np.asarray(arrays["scales"], dtype=np.float64)
        if scales.shape != (2,) or not (scales > 0).all():
            raise UnseenError(f"GAN state has invalid score scales {scales.tolist()}")
        self.scales_ = scales
