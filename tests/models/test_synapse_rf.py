"""The synapse random forest (models.synapse_rf): fitting, files, the shipped weights."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from models.synapse_rf import FEATURES, WEIGHTS, SynapseForest, cross_validated_f1


def _data(n: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.5
    x = rng.random((n, len(FEATURES)))
    x[:, FEATURES.index("n_vc_pre_1um")] += 2 * y  # real synapses: vesicle clouds on one side
    return x, y


def test_the_forest_prefers_candidates_with_vesicles_on_one_side():
    x, y = _data()
    forest = SynapseForest.fit(x, y, {"seeds": [0]}, n_estimators=20)
    with_vc = np.full((1, len(FEATURES)), 0.5)
    with_vc[0, FEATURES.index("n_vc_pre_1um")] = 2.5
    without = np.full((1, len(FEATURES)), 0.5)
    assert forest.probability(with_vc)[0] > 0.9 > 0.1 > forest.probability(without)[0]


def test_saved_forest_gives_the_same_probabilities(tmp_path):
    x, y = _data()
    forest = SynapseForest.fit(x, y, {"seeds": [0]}, n_estimators=10)
    again = SynapseForest.load(forest.save(tmp_path / "rf.pkl"))
    assert np.array_equal(forest.probability(x), again.probability(x))
    assert again.data == {"seeds": [0]}


def test_a_forest_of_other_features_is_refused(tmp_path):
    path = tmp_path / "rf.pkl"
    path.write_bytes(pickle.dumps({"forest": None, "features": ("size",), "data": {}}))
    with pytest.raises(ValueError, match="was trained on features"):
        SynapseForest.load(path)


def test_cross_validated_f1_is_high_when_one_feature_decides():
    x, y = _data(120)
    assert cross_validated_f1(x, y, groups=list(np.arange(120) % 6), folds=3) > 0.9


def test_the_shipped_forest_is_small_and_says_how_it_was_made():
    forest = SynapseForest.load(WEIGHTS)
    assert WEIGHTS.stat().st_size < 2_000_000
    assert forest.data["features"] == FEATURES and forest.data["phantom_seeds"]
    assert forest.metrics["cv_f1"] > 0.6
