"""Watershed and agglomeration on volumes whose right answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.spatial import cKDTree

from models.metrics import adapted_rand_error, variation_of_information
from models.segmentation import (
    SegmentationConfig,
    agglomerate,
    apply_merges,
    flood,
    merge_order,
    region_graph,
    segment,
    watershed_fragments,
)


def _cells(shape: tuple[int, ...], n: int, seed: int) -> np.ndarray:
    """A Voronoi tiling: every voxel belongs to its nearest of ``n`` random centres."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).reshape(len(shape), -1).T
    centres = rng.random((n, len(shape))) * shape
    return cKDTree(centres).query(grid)[1].reshape(shape).astype(np.uint64) + 1


def _boundary_map(cells: np.ndarray, noise: float, seed: int) -> np.ndarray:
    """Probability of boundary: 1 on both sides of every face between cells, blurred, noisy."""
    wall = np.zeros(cells.shape, bool)
    for axis in range(cells.ndim):
        lo = tuple(slice(0, -1) if a == axis else slice(None) for a in range(cells.ndim))
        hi = tuple(slice(1, None) if a == axis else slice(None) for a in range(cells.ndim))
        cut = cells[lo] != cells[hi]
        wall[lo] |= cut
        wall[hi] |= cut
    rng = np.random.default_rng(seed)
    prob = ndimage.gaussian_filter(wall.astype(np.float32), 0.7) * 1.6
    prob += noise * rng.standard_normal(cells.shape).astype(np.float32)
    return np.clip(prob, 0, 1)


@pytest.fixture(scope="module")
def voronoi() -> tuple[np.ndarray, np.ndarray]:
    cells = _cells((24, 72, 72), 18, seed=0)
    return cells, _boundary_map(cells, noise=0.15, seed=1)


def test_segmenting_a_noisy_boundary_map_recovers_the_cells(voronoi):
    cells, prob = voronoi
    labels = segment(prob, SegmentationConfig(merge_threshold=0.6))
    assert labels.dtype == np.uint64 and labels.shape == cells.shape and labels.min() >= 1
    assert adapted_rand_error(labels, cells)["arand"] < 0.05
    voi = variation_of_information(labels, cells)
    assert voi["voi_split"] < 0.3 and voi["voi_merge"] < 0.3


def test_fragments_over_segment_and_agglomeration_undoes_it(voronoi):
    cells, prob = voronoi
    fragments = watershed_fragments(prob, SegmentationConfig())
    low, high = agglomerate(fragments, prob, [0.3, 0.6], min_size=100)
    n = [len(np.unique(x)) for x in (fragments, low, high)]
    assert n[0] >= n[1] >= n[2] and n[0] > 18  # more fragments than cells, fewer after merging
    for x in (fragments, low, high):  # a fragment hardly ever spans two cells
        assert variation_of_information(x, cells)["voi_merge"] < 0.3


def test_a_stack_of_slices_and_a_single_image_are_segmented_too():
    cells = _cells((64, 64), 9, seed=3)
    labels = segment(_boundary_map(cells, noise=0.1, seed=4), SegmentationConfig())
    assert labels.shape == (64, 64)
    assert adapted_rand_error(labels, cells)["arand"] < 0.05


def test_anisotropic_voxels_are_accepted_and_a_bad_sampling_is_refused(voronoi):
    cells, prob = voronoi
    labels = segment(prob[:, ::2], SegmentationConfig(sampling=(10.0, 20.0, 10.0)))
    assert adapted_rand_error(labels, cells[:, ::2])["arand"] < 0.1
    with pytest.raises(ValueError, match="positive voxel sides"):
        segment(prob, SegmentationConfig(sampling=(1.0, 1.0)))


def test_a_seed_never_floods_past_a_wall_into_a_seeded_piece():
    height = np.zeros((6, 20, 20), np.uint16)
    height[:, :, 10] = 9  # a wall through the whole volume
    seeds = np.zeros(height.shape, np.int64)
    seeds[3, 10, 2] = 1
    seeds[0, 0, 19] = 2
    seeds[5, 19, 18] = 3
    out = flood(height, seeds)
    assert set(np.unique(out[:, :, :10]).tolist()) == {1}
    assert set(np.unique(out[:, :, 11:]).tolist()) == {2, 3}


def _naive_agglomeration(fragments: np.ndarray, prob: np.ndarray, threshold: float) -> np.ndarray:
    """Merge the lowest-mean pair and rebuild the whole region graph, until none is below."""
    labels = fragments.copy()
    while True:
        a, b, total, faces = region_graph(labels, prob)
        if a.size == 0 or (total / faces).min() >= threshold:
            return labels
        k = int(np.argmin(total / faces))
        labels[labels == b[k]] = a[k]


def test_agglomeration_equals_merging_pairs_one_by_one_with_the_graph_rebuilt():
    rng = np.random.default_rng(7)
    fragments = _cells((6, 16, 16), 12, seed=7)
    prob = rng.random(fragments.shape)
    for threshold in (0.45, 0.5, 0.55):
        ours = agglomerate(fragments, prob, [threshold])[0]
        naive = _naive_agglomeration(fragments, prob, threshold)
        assert variation_of_information(ours, naive, ignore_gt=())["voi"] == 0.0


def test_merges_below_a_threshold_are_applied_in_order():
    merges = merge_order(np.array([1, 2]), np.array([2, 3]), np.array([0.1, 0.8]),
                         np.array([1, 2]))  # fmt: skip
    assert apply_merges(np.array([1, 2, 3]), merges, 0.0).tolist() == [1, 2, 3]
    assert apply_merges(np.array([1, 2, 3]), merges, 1.0).tolist() == [1, 1, 1]
