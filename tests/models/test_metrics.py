"""The segmentation scores against independent definitions on small random volumes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, mutual_info_score, precision_score, recall_score

from models.metrics import adapted_rand_error, binary_scores, class_f1, variation_of_information


def _entropy_bits(labels: np.ndarray) -> float:
    p = np.unique(labels, return_counts=True)[1] / labels.size
    return float(-(p * np.log2(p)).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_voi_split_and_merge_are_the_conditional_entropies_in_bits(seed):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 5, size=(4, 6, 7))
    seg = rng.integers(0, 4, size=gt.shape) * 10 + (gt > 2)  # partly aligned with gt
    keep = gt != 0  # ground-truth background is left out
    s, g = seg[keep], gt[keep]
    mi_bits = mutual_info_score(g, s) / np.log(2)
    got = variation_of_information(seg, gt)
    assert got["voi_split"] == pytest.approx(_entropy_bits(s) - mi_bits)  # H(seg|gt)
    assert got["voi_merge"] == pytest.approx(_entropy_bits(g) - mi_bits)  # H(gt|seg)
    assert got["voi"] == pytest.approx(got["voi_split"] + got["voi_merge"])


def test_voi_tells_a_split_from_a_merge():
    gt = np.repeat([1, 2], 40).reshape(2, 4, 10)
    whole = np.ones_like(gt)
    cut = np.arange(gt.size).reshape(gt.shape) % 4 + 10 * gt  # each body in four quarters
    assert variation_of_information(whole, gt)["voi_split"] == 0.0
    assert variation_of_information(whole, gt)["voi_merge"] == pytest.approx(1.0)
    assert variation_of_information(cut, gt)["voi_merge"] == 0.0
    assert variation_of_information(cut, gt)["voi_split"] == pytest.approx(2.0)


def _arand_by_pairs(seg: np.ndarray, gt: np.ndarray) -> float:
    """SNEMI3D's definition written out over all ordered voxel pairs (self-pairs included)."""
    s, g = seg.ravel()[gt.ravel() != 0], gt.ravel()[gt.ravel() != 0]
    idx = np.arange(s.size)
    same_s = (s[:, None] == s[None, :]) & ((s[:, None] != 0) | (idx[:, None] == idx[None, :]))
    same_g = g[:, None] == g[None, :]
    both = (same_s & same_g).sum()
    precision, recall = both / same_s.sum(), both / same_g.sum()
    return 1 - 2 * precision * recall / (precision + recall)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_adapted_rand_error_matches_its_pair_counting_definition(seed):
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 4, size=(3, 5, 6))
    seg = np.where(rng.random(gt.shape) < 0.7, gt * 3, rng.integers(0, 5, size=gt.shape))
    assert adapted_rand_error(seg, gt)["arand"] == pytest.approx(_arand_by_pairs(seg, gt))


def test_a_relabelled_segmentation_scores_perfectly():
    rng = np.random.default_rng(5)
    gt = rng.integers(1, 9, size=(5, 8, 8)).astype(np.uint64) + np.uint64(2**60)
    seg = (gt - np.uint64(2**60)) * 7 + 3
    assert adapted_rand_error(seg, gt)["arand"] == 0.0
    assert variation_of_information(seg, gt) == {"voi_split": 0.0, "voi_merge": 0.0, "voi": 0.0}


def test_class_f1_agrees_with_scikit_learn_per_channel():
    rng = np.random.default_rng(3)
    truth = rng.random((3, 4, 9, 9)) < [[[[0.5]]], [[[0.2]]], [[[0.05]]]]
    pred = truth ^ (rng.random(truth.shape) < 0.1)
    got = class_f1(pred, truth, ["a", "b", "c"])
    for c, name in enumerate("abc"):
        t, p = truth[c].ravel(), pred[c].ravel()
        assert got[name]["f1"] == pytest.approx(f1_score(t, p))
        assert got[name]["precision"] == pytest.approx(precision_score(t, p))
        assert got[name]["recall"] == pytest.approx(recall_score(t, p))


def test_binary_scores_refuse_masks_of_different_shapes():
    with pytest.raises(ValueError, match="expected equal"):
        binary_scores(np.zeros((2, 2)), np.zeros((2, 3)))
