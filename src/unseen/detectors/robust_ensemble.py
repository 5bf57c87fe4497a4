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
cluster of anomalies in the training rows hardly masks its members. kNN
measures distance to the nearest normal rows. It wins on clean training
data but fails when training anomalies sit next to new ones. ECOD looks at
each feature's tails, so it catches extreme single values that the other
two dilute over many features.

Why a second, trimmed kNN: when the training rows hold anomalies, a new
anomaly finds its own kind among its neighbours and kNN misses it. The
second kNN keeps only the training rows that the first three members, by
their largest rank, do not put in the top ``trim_fraction``, so most training
anomalies are no longer anyone's neighbours. On clean training data it
agrees with the first kNN.

Why the mean of the two largest ranks: a row scores high when two members
put it far into their training tails. A plain mean lets members that see
nothing pull a clear detection back into the crowd. The largest rank alone
lets one member's false alarms through. On clean training data the two kNN
members corroborate each other; on contaminated data the forest, ECOD and
the trimmed kNN do.

How it was chosen: on the 30 ADBench files the benchmark runs, several
random splits and both training settings, comparing members (isolation forest, kNN with
k = 5, 10, 20, k-th or mean distance, trimmed kNN, ECOD, robust z, PCA,
subsampled kNN bags) and combination rules (mean, Fisher, max, mean of the
top two, power means); ``benchmarks/default_design.py`` reruns the
comparison. One configuration is used for every table; nothing is tuned per
dataset and no labels are read at fit time. ``benchmarks/run_benchmarks.py``
reports how it compares with the peers.

Every member scores its own training rows out of sample (out-of-bag trees,
leave-one-out neighbours and tails), so ``AnomalyPipeline`` trains on every
row and calibrates on those scores instead of holding 20% of the rows out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unseen.detectors.base import BaseDetector, check_fraction
from unseen.detectors.ensemble import COMBINE_RULES, EnsembleDetector, combine_ranks, rank_against
from unseen.detectors.sklearn_wrappers import KNNDetector
from unseen.errors import UnseenError

DEFAULT_MEMBERS = ("iforest", "knn", "ecod")
DEFAULT_MEMBER_PARAMS: dict[str, dict[str, Any]] = {
    "iforest": {"range_aware": True},
    "knn": {"method": "mean"},
}
DEFAULT_TRIM_FRACTION = 0.1
DEFAULT_COMBINE = "top2"


class RobustEnsembleDetector(BaseDetector):
    """The detector ``AnomalyPipeline`` uses when none is named.

    Four members, each scoring a row by its normalised rank among the
    training rows: a range-aware isolation forest, the mean distance to the
    5 nearest training rows, ECOD's per-feature tail probabilities, and the
    same kNN distance measured only to the training rows the first three do
    not rank in their top ``trim_fraction``. The score is the mean of a
    row's two largest ranks (see ``EnsembleDetector`` for the ranks). It
    needs no labels and no clean training data, and keeps one configuration
    for every table.

    Parameters
    ----------
    members : sequence of str, default=("iforest", "knn", "ecod")
        Registered detector names of the first-stage members.
    member_params : dict, optional
        Hyper-parameters per member name, e.g. ``{"knn": {"n_neighbors": 10}}``;
        they update the defaults (the forest is range-aware, kNN uses
        ``method="mean"``). The trimmed kNN takes the ``knn`` entry too.
    trim_fraction : float, default=0.1
        Share of training rows left out of the trimmed kNN's reference; 0
        drops the trimmed kNN.
    combine : {"top2", "max", "mean", "fisher"}, default="top2"
        How the members' normalised ranks are combined.
    random_state : int or None, default=None
        Seed for every member; same data and seed give the same scores.

    Attributes
    ----------
    n_features_in_ : int
    ensemble_ : EnsembleDetector
        The first-stage members and their reference scores.
    trimmed_ : KNNDetector or None
        The kNN fitted on the rows the first stage ranks lowest.
    trimmed_reference_ : ndarray or None
        The trimmed kNN's sorted scores of all training rows.
    """

    name = "robust_ensemble"
    summary = "Default: isolation forest + kNN + ECOD + trimmed kNN, mean of the top two ranks"

    def __init__(
        self,
        members=DEFAULT_MEMBERS,
        member_params=None,
        trim_fraction=DEFAULT_TRIM_FRACTION,
        combine=DEFAULT_COMBINE,
        random_state=None,
    ):
        self.members = members
        self.member_params = member_params
        self.trim_fraction = trim_fraction
        self.combine = combine
        self.random_state = random_state

    def _member_names(self) -> list[str]:
        return [self.members] if isinstance(self.members, str) else list(self.members)

    def _member_params(self) -> dict[str, dict[str, Any]]:
        if self.member_params is not None and not isinstance(self.member_params, dict):
            raise UnseenError(
                f"member_params must map member names to dicts, got {self.member_params!r}"
            )
        members = self._member_names()
        merged = {n: dict(p) for n, p in DEFAULT_MEMBER_PARAMS.items() if n in members}
        for name, params in (self.member_params or {}).items():
            merged.setdefault(name, {}).update(params)
        return merged

    def _fit(self, X: np.ndarray) -> None:
        if self.combine not in COMBINE_RULES:
            raise UnseenError(f"combine must be one of {COMBINE_RULES}, got {self.combine!r}")
        trim = self.trim_fraction
        if trim != 0:
            trim = check_fraction("trim_fraction", trim)
        params = self._member_params()
        self.ensemble_ = EnsembleDetector(
            members=self._member_names(),
            member_params=params,
            combine="max",
            random_state=self.random_state,
        ).fit(X)
        self.seed_ = self.ensemble_.seed_
        self.trimmed_, self.trimmed_reference_ = None, None
        first_stage = self.ensemble_.out_of_sample_scores()
        if first_stage is None:
            first_stage = self.ensemble_.anomaly_score(X)
        trimmed_scores = None
        if trim > 0:
            trimmed_scores = self._fit_trimmed(X, first_stage, trim, params.get("knn", {}))
        self._set_out_of_sample(trimmed_scores)

    def _fit_trimmed(
        self, X: np.ndarray, first_stage: np.ndarray, trim: float, knn_params: dict
    ) -> np.ndarray:
        """Fit the kNN on the rows the first stage ranks lowest; return all rows' scores."""
        keep = first_stage <= np.quantile(first_stage, 1.0 - trim)
        if keep.sum() < 2:
            # Ties at the top can trim nearly every row, so keep the lowest-ranked half.
            keep = first_stage <= np.median(first_stage)
        params = {"method": "mean", **knn_params, "random_state": self.seed_}
        self.trimmed_ = KNNDetector(**params).fit(X[keep])
        scores = self.trimmed_.anomaly_score(X)
        scores[keep] = self.trimmed_.out_of_sample_scores()
        self.trimmed_reference_ = np.sort(scores)
        return scores

    def _set_out_of_sample(self, trimmed_scores: np.ndarray | None) -> None:
        members = self.ensemble_.members_
        if any(m.out_of_sample_scores() is None for m in members):
            self.oos_training_scores_ = None
            return
        ranks = self.ensemble_.ranks_of([m.out_of_sample_scores() for m in members])
        if trimmed_scores is not None:
            ranks = np.column_stack([ranks, self._trimmed_ranks(trimmed_scores)])
        self.oos_training_scores_ = combine_ranks(ranks, self.combine)

    def _trimmed_ranks(self, scores: np.ndarray) -> np.ndarray:
        return rank_against(scores, self.trimmed_reference_)

    def has_out_of_sample_scores(self) -> bool:
        return EnsembleDetector(members=self._member_names()).has_out_of_sample_scores()

    def out_of_sample_scores(self) -> np.ndarray | None:
        return getattr(self, "oos_training_scores_", None)

    def member_ranks(self, X: np.ndarray) -> np.ndarray:
        """Return a (rows, members) array of normalised ranks in (0, 1), trimmed kNN last."""
        X = self._check_matrix(X)
        ranks = self.ensemble_.member_ranks(X)
        if self.trimmed_ is None:
            return ranks
        return np.column_stack([ranks, self._trimmed_ranks(self.trimmed_.anomaly_score(X))])

    def _anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return combine_ranks(self.member_ranks(X), self.combine)

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        values, arrays = self.ensemble_.get_state()
        values = {**values, "trimmed": None}
        if self.trimmed_ is not None:
            trimmed_values, trimmed_arrays = self.trimmed_.get_state()
            knn = self.trimmed_
            values["trimmed"] = {
                "params": {"n_neighbors": knn.n_neighbors, "method": knn.method},
                "state": trimmed_values,
            }
            arrays = {**arrays, **{f"trimmed.{k}": v for k, v in trimmed_arrays.items()}}
            arrays["trimmed.sorted_scores"] = self.trimmed_reference_
        return values, arrays

    def set_state(self, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        values = dict(values)
        trimmed = values.pop("trimmed", None)
        ensemble = EnsembleDetector(combine="max")
        own = {k: v for k, v in arrays.items() if not k.startswith("trimmed.")}
        ensemble.set_state(values, own)
        self.ensemble_ = ensemble
        self.n_features_in_ = ensemble.n_features_in_
        self.seed_ = ensemble.seed_
        self.trimmed_, self.trimmed_reference_ = None, None
        if trimmed is not None:
            knn = KNNDetector(**trimmed["params"])
            knn.set_state(
                trimmed["state"],
                {k[len("trimmed.") :]: v for k, v in arrays.items() if k.startswith("trimmed.")},
            )
            self.trimmed_ = knn
            self.trimmed_reference_ = np.asarray(arrays["trimmed.sorted_scores"], dtype=np.float64)
