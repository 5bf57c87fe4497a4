"""Combine detectors whose scores live on different scales by averaging normalised ranks."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from unseen.detectors.base import BaseDetector
from unseen.detectors.torch_training import resolve_seed
from unseen.errors import UnseenError

logger = logging.getLogger(__name__)

COMBINE_RULES = ("mean", "fisher", "max", "top2")
OWN_PARAMS = ("members", "member_params", "combine", "random_state")


def normalised_rank(scores: np.ndarray, reference: np.ndarray, spread: float) -> np.ndarray:
    """Map scores to (0, 1) by their position among sorted ``reference`` scores.

    Inside the reference range this interpolates the empirical CDF at levels
    i / (n + 1). Beyond either end it keeps rising (or falling) as ``t / (1 + t)``
    of the last 1 / (n + 1) step, with ``t`` the distance past the end in units
    of ``spread``, so rows beyond every reference score still keep their order
    and no member can push the combined score past 1.
    """
    n = len(reference)
    step = 1.0 / (n + 1)
    levels = np.arange(1, n + 1) * step
    ranks = np.interp(scores, reference, levels)
    above = scores > reference[-1]
    below = scores < reference[0]
    t_above = (scores[above] - reference[-1]) / spread
    t_below = (reference[0] - scores[below]) / spread
    ranks[above] = levels[-1] + step * t_above / (1.0 + t_above)
    ranks[below] = step / (1.0 + t_below)
    return ranks


class EnsembleDetector(BaseDetector):
    """Average member detectors after turning each one's scores into normalised ranks.

    Each member is fitted on the same rows; its scores on those training rows
    form its reference set (out-of-sample scores where the member provides
    them, so kNN does not count a row as its own neighbour). A new row's score
    from each member becomes its normalised rank against that member's
    reference (see ``normalised_rank``), which is 1 minus a p-value, so members
    with different score scales count equally. ``make_detector("autoencoder+iforest")`` builds one.

    Parameters
    ----------
    members : sequence of str, default=("autoencoder", "iforest")
        Registered detector names.
    member_params : dict, optional
        Hyper-parameters per member name, e.g. ``{"autoencoder": {"epochs": 20}}``.
    combine : {"mean", "fisher", "max"}, default="mean"
        "mean" averages the normalised ranks u (the score lies in (0, 1));
        "fisher" sums ``-2 log(1 - u)`` (Fisher's method on the members'
        p-values), which lets one member with a tiny p-value dominate;
        "max" takes the largest rank, so a row is as anomalous as the member
        that finds it most unusual says (each member's blind spot is covered
        by the others, at the cost of more false alarms from any one member);
        "top2" averages the two largest ranks, so a row needs a second
        member's agreement to score as high as "max" would put it.
    random_state : int or None, default=None
        Seed for every member that takes one and has none in ``member_params``.

    Attributes
    ----------
    members_ : list of BaseDetector
    references_ : list of ndarray
        Each member's sorted training scores.
    spreads_ : ndarray
        Each member's reference max minus median (1 where that is 0).

    Notes
    -----
    In-sample training scores are optimistic for members that fit their
    training rows closely, so normalised ranks of new rows are biased upwards.
    The bias is shared by all rows, so it leaves each member's ranking intact,
    and ``AnomalyPipeline`` calibrates p-values on held-out rows anyway (or on
    out-of-sample scores, when every member provides them).
    """

    name = "ensemble"
    summary = "Average of members' normalised ranks; build with NAME+NAME, e.g. autoencoder+iforest"

    def __init__(
        self,
        members=("autoencoder", "iforest"),
        member_params=None,
        combine="mean",
        random_state=None,
    ):
        self.members = members
        self.member_params = member_params
        self.combine = combine
        self.random_state = random_state

    @classmethod
    def from_spec(cls, spec: str, **params) -> EnsembleDetector:
        """Build an ensemble from ``"name+name"`` and route ``params`` to the members.

        A key ``member__param`` goes to that member only. Any other key that is
        not the ensemble's own goes to every member that accepts it, and an
        error names keys that no member accepts.
        """
        from unseen.detectors import REGISTRY

        names = [part.strip() for part in spec.split("+")]
        if len(names) < 2 or not all(names):
            raise UnseenError(
                f"an ensemble needs names joined by '+', like autoencoder+iforest, got {spec!r}"
            )
        _check_names(names)
        own = {
            key: params.pop(key) for key in list(params) if key in OWN_PARAMS and key != "members"
        }
        member_params: dict[str, dict] = {n: {} for n in names}
        for key, value in (own.pop("member_params", None) or {}).items():
            member_params.setdefault(key, {}).update(value)
        for key, value in params.items():
            member, sep, param = key.partition("__")
            targets = [member] if sep and member in names else names
            param = param if sep and member in names else key
            accepting = [n for n in targets if param in REGISTRY[n]().get_params()]
            if not accepting:
                raise UnseenError(
                    f"no member of {spec!r} accepts hyper-parameter {key!r}; prefix it with a "
                    f"member name (e.g. {names[0]}__{param}) and check `unseen detectors`"
                )
            for n in accepting:
                member_params[n][param] = value
        member_params = {n: p for n, p in member_params.items() if p}
        return cls(members=names, member_params=member_params or None, **own)

    def _fit(self, X: np.ndarray) -> None:
        from unseen.detectors import make_detector

        names = list(self.members) if not isinstance(self.members, str) else [self.members]
        _check_names(names)
        if self.combine not in COMBINE_RULES:
            raise UnseenError(f"combine must be one of {COMBINE_RULES}, got {self.combine!r}")
        member_params = dict(self.member_params or {})
        unknown = sorted(set(member_params) - set(names))
        if unknown:
            raise UnseenError(f"member_params names {unknown}, which are not among members {names}")
        self.seed_ = resolve_seed(self.random_state)
        self.members_, self.references_, spreads = [], [], []
        for name in names:
            params = dict(member_params.get(name, {}))
            member = make_detector(name, **params)
            if "random_state" in member.get_params() and "random_state" not in params:
                member.set_params(random_state=self.seed_)
            logger.info("fitting ensemble member %s", name)
            member.fit(X)
            training_scores = member.out_of_sample_scores()
            if training_scores is None:
                training_scores = member.anomaly_score(X)
            reference = np.sort(training_scores)
            self.members_.append(member)
            self.references_.append(reference)
            spreads.append(reference_spread(reference))
        self.spreads_ = np.asarray(spreads)
        if all(m.out_of_sample_scores() is not None for m in self.members_):
            self.oos_training_scores_ = self._combine(
                self.ranks_of([m.out_of_sample_scores() for m in self.members_])
            )

    def has_out_of_sample_scores(self) -> bool:
        from unseen.detectors import REGISTRY

        names = [self.members] if isinstance(self.members, str) else list(self.members)
        return all(n in REGISTRY and REGISTRY[n]().has_out_of_sample_scores() for n in names)

    def out_of_sample_scores(self) -> np.ndarray | None:
        return getattr(self, "oos_training_scores_", None)

    def ranks_of(self, member_scores: list[np.ndarray]) -> np.ndarray:
        """Return a (rows, members) array of normalised ranks of given member scores."""
        columns = [
            normalised_rank(scores, reference, spread)
            for scores, reference, spread in zip(
                member_scores, self.references_, self.spreads_, strict=True
            )
        ]
        return np.column_stack(columns)

    def _combine(self, ranks: np.ndarray) -> np.ndarray:
        return combine_ranks(ranks, self.combine)

    def member_ranks(self, X: np.ndarray) -> np.ndarray:
        """Return a (rows, members) array of normalised ranks in (0, 1)."""
        X = self._check_matrix(X)
        return self.ranks_of([member.anomaly_score(X) for member in self.members_])

    def _anomaly_score(self, X: np.ndarray) -> np.ndarray:
        return self._combine(self.member_ranks(X))

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        from unseen.pipeline import _json_params

        self._check_fitted()
        entries, arrays = [], {}
        for index, member in enumerate(self.members_):
            values, member_arrays = member.get_state()
            entries.append(
                {
                    "name": member.name,
                    "params": _json_params(member.get_params(deep=False)),
                    "state": values,
                }
            )
            arrays.update({f"m{index}.state.{k}": v for k, v in member_arrays.items()})
            arrays[f"m{index}.reference"] = self.references_[index]
        values = {"n_features_in": self.n_features_in_, "seed": self.seed_, "members": entries}
        return values, arrays

    def set_state(self, values: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        from unseen.detectors import make_detector

        self.n_features_in_ = int(values["n_features_in"])
        self.seed_ = int(values["seed"])
        self.members_, self.references_ = [], []
        for index, entry in enumerate(values["members"]):
            member = make_detector(entry["name"], **entry["params"])
            prefix = f"m{index}.state."
            member.set_state(
                entry["state"],
                {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)},
            )
            self.members_.append(member)
            self.references_.append(np.asarray(arrays[f"m{index}.reference"], dtype=np.float64))
        if not self.members_:
            raise UnseenError("ensemble state has no members")
        self.spreads_ = np.asarray([reference_spread(reference) for reference in self.references_])


def combine_ranks(ranks: np.ndarray, rule: str) -> np.ndarray:
    """Combine a (rows, members) array of normalised ranks by one of ``COMBINE_RULES``."""
    if rule == "fisher":
        return (-2.0 * np.log1p(-ranks)).sum(axis=1)
    if rule == "max":
        return ranks.max(axis=1)
    if rule == "top2" and ranks.shape[1] >= 2:
        return np.sort(ranks, axis=1)[:, -2:].mean(axis=1)
    if rule == "top2":
        return ranks[:, 0]
    return ranks.mean(axis=1)


def reference_spread(reference: np.ndarray) -> float:
    """Return a sorted reference's max minus median, the unit of ``normalised_rank``'s tails."""
    spread = float(reference[-1] - np.median(reference))
    return spread if spread > 0 else 1.0


def rank_against(scores: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Return ``normalised_rank`` of ``scores`` against a sorted ``reference``."""
    return normalised_rank(scores, reference, reference_spread(reference))


def _check_names(names: list[str]) -> None:
    from unseen.detectors import REGISTRY

    for name in names:
        if name not in REGISTRY:
            raise UnseenError(
                f"unknown ensemble member {name!r}; choose from: {', '.join(sorted(REGISTRY))}"
            )
        if getattr(REGISTRY[name], "needs_raw_frame", False):
            raise UnseenError(
                f"detector {name!r} reads raw columns and cannot be an ensemble member; "
                "fit it as its own pipeline"
            )
