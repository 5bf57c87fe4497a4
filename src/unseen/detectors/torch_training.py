"""Shared training machinery for the torch detectors.

Every detector trains through ``train_network`` so validation splits, early
stopping, seeding and the non-finite-loss check behave the same everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from unseen import progress
from unseen.errors import TrainingError, UnseenError

logger = logging.getLogger(__name__)

# Below this many rows a validation split would be too small to stop on, so
# training runs for the full number of epochs on every row.
MIN_ROWS_FOR_VALIDATION = 20


def resolve_seed(random_state: int | None) -> int:
    """Return the seed to train with: ``random_state`` or a fresh random one."""
    if random_state is None:
        return int(np.random.default_rng().integers(0, 2**31 - 1))
    if isinstance(random_state, bool) or not isinstance(random_state, (int, np.integer)):
        raise UnseenError(f"random_state must be an integer or None, got {random_state!r}")
    return int(random_state)


def check_training_params(detector) -> tuple[int, int, float]:
    """Validate the training hyper-parameters the torch detectors share.

    Checks ``epochs``, ``batch_size``, ``learning_rate``, ``weight_decay``,
    ``validation_fraction`` and ``patience`` on ``detector`` and returns
    (epochs, batch_size, learning_rate); raises ``UnseenError`` on the first
    invalid value.
    """
    from unseen.detectors.base import check_fraction, check_positive_int

    epochs = check_positive_int("epochs", detector.epochs)
    batch_size = check_positive_int("batch_size", detector.batch_size)
    learning_rate = check_fraction("learning_rate", detector.learning_rate, 0.0, 10.0)
    check_fraction("weight_decay", detector.weight_decay, -1e-12, 1.0)
    check_fraction("validation_fraction", detector.validation_fraction, 0.0, 0.5)
    check_positive_int("patience", detector.patience)
    return epochs, batch_size, learning_rate


def resolve_device(device: str) -> torch.device:
    """Map ``"auto"``, ``"cpu"`` or ``"cuda"`` to a torch device that exists."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UnseenError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UnseenError(f"device {device!r} requested but no CUDA GPU is available: use 'cpu'")
    return torch.device(device)


@contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Seed torch inside the block without changing the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield torch.Generator().manual_seed(seed)


def build_mlp(sizes: list[int], activation: type[nn.Module] = nn.GELU) -> nn.Sequential:
    """Stack Linear layers with ``activation`` between them and none after the last."""
    layers: list[nn.Module] = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if index < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)


def split_validation(
    n_rows: int, fraction: float, generator: torch.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Return shuffled (train, validation) row indices; validation is empty for tiny data."""
    order = torch.randperm(n_rows, generator=generator).numpy()
    if n_rows < MIN_ROWS_FOR_VALIDATION or fraction <= 0:
        return order, order[:0]
    n_validation = max(1, int(round(n_rows * fraction)))
    return order[n_validation:], order[:n_validation]


@dataclass
class TrainingHistory:
    """Mean training and validation loss per epoch, and the epoch kept."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = 0


# A loss function maps (network, batch) to one loss value per row.
RowLoss = Callable[[nn.Module, torch.Tensor], torch.Tensor]


def train_network(
    network: nn.Module,
    row_loss: RowLoss,
    X: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    weight_decay: float,
    validation_fraction: float,
    patience: int,
    generator: torch.Generator,
    device: torch.device,
    trim_fraction: float = 0.0,
    description: str = "training",
) -> TrainingHistory:
    """Train ``network`` with Adam on the mean of ``row_loss``, keeping the best epoch.

    With ``trim_fraction`` > 0, each batch ignores that share of its rows with
    the highest loss, so a few anomalies hidden in unlabelled training data pull
    the model towards them less. Raises ``TrainingError`` on a non-finite loss.
    """
    train_rows, validation_rows = split_validation(len(X), validation_fraction, generator)
    data = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)).to(device)
    network.to(device)
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate, weight_decay=weight_decay)
    history = TrainingHistory()
    best_loss = float("inf")
    best_state = copy_state(network)
    epochs_without_gain = 0
    for epoch in range(epochs):
        network.train()
        order = train_rows[torch.randperm(len(train_rows), generator=generator).numpy()]
        total, count = 0.0, 0
        for start in range(0, len(order), batch_size):
            batch = data[order[start : start + batch_size]]
            losses = row_loss(network, batch)
            loss = _trimmed_mean(losses, trim_fraction)
            guarded_step(loss, optimizer, network.parameters(), description, epoch)
            total += loss.item() * len(batch)
            count += len(batch)
        history.train_loss.append(total / count)
        progress.report(description, epoch + 1, epochs)
        monitored = history.train_loss[-1]
        if len(validation_rows):
            monitored = _evaluate(
                network, row_loss, data[validation_rows], batch_size, trim_fraction
            )
            history.validation_loss.append(monitored)
        if best_loss == float("inf") or best_loss - monitored > 1e-4 * abs(best_loss):
            best_loss, history.best_epoch = monitored, epoch
            best_state = copy_state(network)
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
            if len(validation_rows) and epochs_without_gain >= patience:
                break
    network.load_state_dict(best_state)
    network.eval()
    logger.debug("%s stopped after %d epochs, best %d", description, epoch + 1, history.best_epoch)
    return history


def guarded_step(loss: torch.Tensor, optimizer, parameters, description: str, epoch: int) -> None:
    """Take one optimiser step on ``loss`` with clipped gradients.

    Raises ``TrainingError`` instead when the loss is NaN or infinite, so a
    diverged model never reaches scoring.
    """
    if not torch.isfinite(loss):
        raise TrainingError(
            f"{description} diverged at epoch {epoch + 1}: the loss is {loss.item()}; "
            "lower learning_rate or check the data for extreme values"
        )
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(parameters, max_norm=10.0)
    optimizer.step()


def _trimmed_mean(losses: torch.Tensor, trim_fraction: float) -> torch.Tensor:
    n_keep = len(losses) - int(len(losses) * trim_fraction)
    if n_keep >= len(losses):
        return losses.mean()
    return torch.topk(losses, n_keep, largest=False).values.mean()


@torch.no_grad()
def _evaluate(
    network: nn.Module, row_loss: RowLoss, data: torch.Tensor, batch_size: int, trim: float
) -> float:
    network.eval()
    losses = torch.cat(
        [row_loss(network, data[s : s + batch_size]) for s in range(0, len(data), batch_size)]
    )
    return float(_trimmed_mean(losses, trim))


def copy_state(network: nn.Module) -> dict[str, torch.Tensor]:
    """Return a detached copy of ``network``'s parameters, for keeping the best epoch."""
    return {name: value.detach().clone() for name, value in network.state_dict().items()}


@torch.no_grad()
def apply_in_batches(
    function: Callable[[torch.Tensor], torch.Tensor],
    X: np.ndarray,
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """Apply ``function`` to row batches of ``X`` and stack the results as numpy."""
    outputs = []
    for start in range(0, len(X), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(X[start : start + batch_size])).to(device)
        outputs.append(function(batch).detach().cpu().numpy())
    return np.concatenate(outputs, axis=0)


def state_to_arrays(network: nn.Module, prefix: str = "") -> dict[str, np.ndarray]:
    """Return a network's parameters as named numpy arrays for a model file."""
    return {prefix + k: v.detach().cpu().numpy() for k, v in network.state_dict().items()}


def load_arrays(network: nn.Module, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
    """Load parameters written by ``state_to_arrays``; raises on missing or extra keys."""
    state = {
        k[len(prefix) :]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith(prefix)
    }
    network.load_state_dict(state, strict=True)
    network.eval()
