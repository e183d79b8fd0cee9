"""SyConn2's synapse classifier: a random forest on ten features of a synapse candidate.

The features (SyConn2, thesis chapter 5) are the candidate's size in junction voxels and its
junction mesh area, and for each side (pre, post) the number and summed voxels of that cell's
mitochondria within 2 µm and of its vesicle clouds within 1 µm: :data:`FEATURES`, the column
names of the ``synapses`` table. The forest gives the probability that a candidate is a real
synapse; the ingest uses it as the synapse's ``confidence``.

A forest does not extrapolate: beyond the range of its training data it repeats the answer of
its outermost leaves. So the forest keeps the box (per feature minimum and maximum) of its
training candidates, and :meth:`SynapseForest.inside` tells which candidates lie in it; the
ingest gives the others its heuristic confidence.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.ensemble import RandomForestClassifier

FEATURES = (
    "junction_voxels", "mesh_area_nm2",
    "n_mito_pre_2um", "mito_voxels_pre_2um", "n_mito_post_2um", "mito_voxels_post_2um",
    "n_vc_pre_1um", "vc_voxels_pre_1um", "n_vc_post_1um", "vc_voxels_post_1um",
)  # fmt: skip
WEIGHTS = Path(__file__).resolve().parent / "weights" / "synapse_rf.pkl"


def make_forest(seed: int = 0, n_estimators: int = 60) -> RandomForestClassifier:
    """The forest as trained: balanced classes, leaves of at least two samples."""
    return RandomForestClassifier(
        n_estimators=n_estimators,
        min_samples_leaf=2,
        max_depth=12,
        class_weight="balanced",
        random_state=seed,
        n_jobs=1,
    )


def feature_matrix(columns: Any) -> np.ndarray:
    """The ``(n, 10)`` float matrix of :data:`FEATURES` from a table (anything indexable by
    column name); NaN (no mesh area) becomes 0.

    Examples
    --------
    >>> feature_matrix({f: [1.0, np.nan] for f in FEATURES}).tolist()[1][:3]
    [0.0, 0.0, 0.0]
    """
    x = np.stack([np.asarray(columns[f], float) for f in FEATURES], axis=1)
    return np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


class SynapseForest:
    """A fitted forest with the description of its training data.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((40, 10)); y = x[:, 6] > 0.5
    >>> f = SynapseForest.fit(x, y, {"seeds": [0]}, n_estimators=10)
    >>> f.probability(np.array([[0.5] * 6 + [0.95] + [0.5] * 3])).round(1).tolist()
    [1.0]
    """

    def __init__(self, forest: RandomForestClassifier, data: dict[str, Any],
                 metrics: dict[str, Any] | None = None,
                 box: tuple[np.ndarray, np.ndarray] | None = None):  # fmt: skip
        self.forest = forest
        self.data = data
        self.metrics = metrics or {}
        self.box = box  # the per-feature minimum and maximum of the training candidates

    @classmethod
    def fit(cls, x: ArrayLike, y: ArrayLike, data: dict[str, Any], seed: int = 0,
            n_estimators: int = 60) -> SynapseForest:  # fmt: skip
        """Fit on ``x`` ``(n, 10)`` and labels ``y`` (true: a real synapse)."""
        x = np.asarray(x, float)
        forest = make_forest(seed, n_estimators)
        forest.fit(x, np.asarray(y, bool))
        return cls(forest, data, box=(x.min(axis=0), x.max(axis=0)))

    def inside(self, x: ArrayLike) -> np.ndarray:
        """Which rows of ``x`` lie inside the box of the training candidates (all, without a
        box).

        Examples
        --------
        >>> f = SynapseForest(None, {}, box=(np.zeros(10), np.ones(10)))
        >>> f.inside(np.array([[0.5] * 10, [2.0] + [0.5] * 9])).tolist()
        [True, False]
        """
        x = np.asarray(x, float).reshape(-1, len(FEATURES))
        if self.box is None:
            return np.ones(len(x), bool)
        return np.all((x >= self.box[0]) & (x <= self.box[1]), axis=1)

    def probability(self, x: ArrayLike) -> np.ndarray:
        """The probability of being a real synapse for each row of ``x`` ``(n, 10)``."""
        x = np.asarray(x, float).reshape(-1, len(FEATURES))
        if len(x) == 0:
            return np.zeros(0)
        proba = self.forest.predict_proba(x)
        classes = list(self.forest.classes_)
        return proba[:, classes.index(True)] if True in classes else np.zeros(len(x))

    def save(self, path: str | os.PathLike = WEIGHTS) -> Path:
        """Pickle ``{forest, features, data, metrics}`` atomically (temp file + os.replace)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
        with open(tmp, "wb") as f:
            pickle.dump({"forest": self.forest, "features": FEATURES, "data": self.data,
                         "metrics": self.metrics, "box": self.box}, f,
                        protocol=pickle.HIGHEST_PROTOCOL)  # fmt: skip
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike = WEIGHTS) -> SynapseForest:
        """Read a forest written by :meth:`save` (a trusted file: pickle runs code)."""
        with open(path, "rb") as f:
            saved = pickle.load(f)
        if tuple(saved["features"]) != FEATURES:
            raise ValueError(f"{path} was trained on features {saved['features']}; "
                             f"expected {FEATURES}")  # fmt: skip
        return cls(saved["forest"], saved["data"], saved.get("metrics"), saved.get("box"))


def cross_validated_f1(x: ArrayLike, y: ArrayLike, groups: Sequence[int] | None = None,
                       folds: int = 5, seed: int = 0) -> float:  # fmt: skip
    """F1 of the forest's predictions (probability >= 0.5) over ``folds`` folds, pooled;
    with ``groups`` (e.g. the phantom each candidate came from) no group spans two folds.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> x = rng.random((60, 10)); y = x[:, 0] > 0.5
    >>> cross_validated_f1(x, y, folds=3) > 0.8
    True
    """
    from sklearn.model_selection import GroupKFold, StratifiedKFold

    x, y = np.asarray(x, float), np.asarray(y, bool)
    if groups is not None and len(set(groups)) >= folds:
        splits = GroupKFold(n_splits=folds).split(x, y, groups)
    else:
        splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(x, y)
    predicted = np.zeros(len(y), bool)
    for train, test in splits:
        forest = make_forest(seed).fit(x[train], y[train])
        predicted[test] = forest.predict(x[test])
    tp = int(np.sum(predicted & y))
    return 2 * tp / max(int(predicted.sum() + y.sum()), 1)
