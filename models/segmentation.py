"""Neuron segmentation from a boundary (membrane) probability map: seeded watershed, then
agglomeration of the fragments by the mean boundary probability on their shared faces.

Arrays are ``[z, y, x]`` volumes or ``[y, x]`` images; the probability of boundary is in
``[0, 1]`` (float) or ``[0, 255]`` (uint8). A stack of slices predicted by a 2D model is a
volume like any other: the watershed and the agglomeration run in 3D over it, which is what
links the slices.

1. :func:`watershed_fragments`: voxels below ``seed_threshold`` are inside a cell; their
   distance to the nearest boundary voxel (``edt``, in physical units when ``sampling`` is
   the voxel size) has local maxima near the middle of every cell piece; plateaus of maxima
   joined by ``cc3d`` are the seeds (plus the deepest voxel of every connected piece of the
   inside that has no maximum of its own), and :func:`flood` floods the (smoothed, quantised)
   boundary map from them. Every voxel gets a fragment.
2. :func:`region_graph`: every pair of fragments that share a voxel face, with the sum and
   count of the boundary probability over those faces (each face scores the larger
   probability of its two voxels, so a one-voxel-thin boundary counts in full).
3. :func:`agglomerate`: repeatedly merge the pair with the lowest mean boundary probability
   on its faces (sums and counts add up when regions merge, so the mean stays the mean over
   all faces between the two regions) while that mean is below a threshold; a union-find
   over the recorded merge order gives the labels for any number of thresholds in one pass.

Everything is in memory (numpy, scipy, ``edt``, ``cc3d``, ``fastremap``); labels are uint64.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import cc3d
import edt
import fastremap
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage


@dataclass(frozen=True)
class SegmentationConfig:
    """Parameters of :func:`segment`.

    Parameters
    ----------
    seed_threshold : float
        Boundary probability below which a voxel counts as inside a cell, for the seeds.
    seed_radius : float
        Seeds are maxima of the distance to the boundary within this radius (in units of the
        smallest voxel side); larger means fewer fragments.
    min_seed_distance : float
        Maxima closer than this to a boundary (same units) are not seeds.
    smooth_sigma : float
        Gaussian smoothing (voxels of the smallest side) of the map that the watershed floods.
    merge_threshold : float
        Agglomeration stops when the lowest mean boundary probability between two regions
        reaches this.
    sampling : tuple of float or None
        Voxel size per axis (e.g. ``(20, 10, 10)`` nm); ``None`` is isotropic.
    levels : int
        The watershed floods the boundary map quantised to this many levels.
    min_size : int
        Fragments with fewer voxels first join their best neighbour, whatever the threshold.

    Examples
    --------
    >>> SegmentationConfig(merge_threshold=0.3).merge_threshold
    0.3
    """

    seed_threshold: float = 0.5
    seed_radius: float = 3.0
    min_seed_distance: float = 1.0
    smooth_sigma: float = 0.0
    merge_threshold: float = 0.5
    sampling: tuple[float, ...] | None = None
    levels: int = 32
    min_size: int = 100


def _as_probability(boundary: ArrayLike) -> NDArray[np.float32]:
    b = np.asarray(boundary)
    if b.ndim not in (2, 3):
        raise ValueError(f"boundary map has {b.ndim} dimensions; expected 2 (y, x) or 3 (z, y, x)")
    if b.dtype == np.uint8:
        return b.astype(np.float32) / np.float32(255.0)
    return b.astype(np.float32, copy=False)


def _relative_sampling(ndim: int, sampling: Sequence[float] | None) -> NDArray[np.float64]:
    if sampling is None:
        return np.ones(ndim)
    s = np.asarray(sampling, dtype=np.float64)
    if s.shape != (ndim,) or np.any(s <= 0):
        raise ValueError(f"sampling {tuple(sampling)} must be {ndim} positive voxel sides")
    return s / s.min()


def watershed_fragments(
    boundary: ArrayLike, config: SegmentationConfig = SegmentationConfig()
) -> NDArray[np.uint64]:
    """Over-segment a boundary map into fragments by a seeded watershed.

    Parameters
    ----------
    boundary : array_like, shape ``(z, y, x)`` or ``(y, x)``
        Boundary probability, float in ``[0, 1]`` or uint8 in ``[0, 255]``.
    config : SegmentationConfig
        ``seed_threshold``, ``seed_radius``, ``min_seed_distance``, ``smooth_sigma`` and
        ``sampling`` are used.

    Returns
    -------
    ndarray of uint64
        Fragment ids ``1..n``; every voxel belongs to one (0 only if there was no seed at all).

    Examples
    --------
    Two squares split by a boundary line give two fragments:

    >>> b = np.zeros((12, 25), np.float32); b[:, 12] = 1.0
    >>> frag = watershed_fragments(b)
    >>> len(np.unique(frag)), len(np.unique(frag[:, :12])), frag.dtype
    (2, 1, dtype('uint64'))
    """
    prob = _as_probability(boundary)
    rel = _relative_sampling(prob.ndim, config.sampling)
    inside = prob < config.seed_threshold
    dist = edt.edt(np.ascontiguousarray(inside), anisotropy=tuple(rel), black_border=False)
    size = tuple(int(2 * np.ceil(config.seed_radius / r) + 1) for r in rel)
    peaks = (dist == ndimage.maximum_filter(dist, size=size)) & (dist >= config.min_seed_distance)
    connectivity: Literal[4, 6] = 4 if prob.ndim == 2 else 6
    seeds = cc3d.connected_components(peaks, connectivity=connectivity).astype(np.int32)
    # A thin piece next to a thick one may have no maximum of its own within the radius:
    # its deepest voxel seeds it, so no piece of the inside is flooded from a neighbour.
    pieces = cc3d.connected_components(inside, connectivity=connectivity)
    seeded = np.zeros(int(pieces.max()) + 1, bool)
    seeded[pieces[seeds > 0]] = True
    seeded[0] = True
    missing = np.flatnonzero(~seeded)
    if missing.size:
        deepest = ndimage.maximum_position(dist, pieces, missing)
        at = tuple(np.array(deepest, dtype=np.intp).reshape(len(missing), prob.ndim).T)
        seeds[at] = int(seeds.max()) + 1 + np.arange(missing.size, dtype=np.int32)
    if seeds.max() == 0:
        return np.zeros(prob.shape, np.uint64)
    smooth = prob
    if config.smooth_sigma > 0:
        smooth = ndimage.gaussian_filter(prob, tuple(config.smooth_sigma / r for r in rel))
    height = np.clip(smooth * config.levels, 0, config.levels - 1).astype(np.uint16)
    return flood(height, seeds).astype(np.uint64)


def flood(height: NDArray[Any], seeds: NDArray[Any]) -> NDArray[np.int64]:
    """Seeded watershed of an integer height map, flooded level by level.

    Levels are taken in increasing order; at each, the unlabelled voxels at or below it that
    touch a labelled voxel (by a face) take its label, in breadth-first layers, until no more
    can be reached; a voxel touching several labels takes that of its lowest labelled
    neighbour (steepest descent; then the larger label). So a label never crosses a voxel
    higher than the lowest pass into its neighbour, and within a level the nearer seed wins.
    Each voxel is visited a bounded number of times: the work follows the volume, not the
    number of levels. Voxels that no seed reaches stay 0. (``scipy.ndimage.watershed_ift``
    is not used: on 3D plateaus it lets a seed flood past a high wall into a piece that has
    its own seed.)

    Parameters
    ----------
    height : ndarray of int, shape ``(z, y, x)`` or ``(y, x)``
        Non-negative levels (a quantised boundary map).
    seeds : ndarray of int
        Seed labels (> 0), 0 elsewhere.

    Returns
    -------
    ndarray of int64

    Examples
    --------
    >>> h = np.array([[0, 0, 1, 3, 1, 0, 0]]); s = np.array([[1, 0, 0, 0, 0, 0, 2]])
    >>> flood(h, s).tolist()
    [[1, 1, 1, 2, 2, 2, 2]]
    """
    if height.shape != seeds.shape:
        raise ValueError(f"height {height.shape} and seeds {seeds.shape} must have one shape")
    shape = height.shape
    labels = np.ascontiguousarray(seeds, dtype=np.int64).copy()
    flat = labels.reshape(-1)
    levels = np.ascontiguousarray(height).reshape(-1).astype(np.int64)
    if levels.size and levels.min() < 0:
        raise ValueError("height must be non-negative levels")
    order = np.argsort(levels, kind="stable")
    ends = np.cumsum(np.bincount(levels))
    pending = np.zeros(flat.size, bool)  # unlabelled, at or below the current level
    strides = [int(np.prod(shape[a + 1 :])) for a in range(len(shape))]

    def neighbours(idx: NDArray[Any]) -> list[tuple[NDArray[Any], NDArray[Any]]]:
        """(positions in idx, neighbour index) for each face direction that stays inside."""
        coords = np.unravel_index(idx, shape)
        out = []
        for axis, stride in enumerate(strides):
            for step, ok in ((-stride, coords[axis] > 0),
                             (stride, coords[axis] < shape[axis] - 1)):  # fmt: skip
                where = np.flatnonzero(ok)
                out.append((where, idx[where] + step))
        return out

    def best_label(idx: NDArray[Any]) -> NDArray[np.int64]:
        """The label of the lowest labelled neighbour (steepest descent; ties: larger label)."""
        best = np.zeros(idx.size, np.int64)
        low = np.full(idx.size, np.iinfo(np.int64).max)
        for where, nb in neighbours(idx):
            lab, h = flat[nb], levels[nb]
            cur, cur_h = best[where], low[where]
            better = (lab > 0) & ((h < cur_h) | ((h == cur_h) & (lab > cur)))
            best[where] = np.where(better, lab, cur)
            low[where] = np.where(better, h, cur_h)
        return best

    start = 0
    for end in ends.tolist():
        admitted = order[start:end]
        start = end
        admitted = admitted[flat[admitted] == 0]
        if admitted.size == 0:
            continue
        pending[admitted] = True
        best = best_label(admitted)
        front, best = admitted[best > 0], best[best > 0]
        while front.size:  # one breadth-first layer per pass
            flat[front] = best
            pending[front] = False
            nxt = np.concatenate([nb for _, nb in neighbours(front)])
            nxt = np.sort(nxt[pending[nxt]])  # np.unique's hash table is far slower here
            front = nxt[np.r_[True, nxt[1:] != nxt[:-1]]] if nxt.size else nxt
            best = best_label(front)
    return labels


def region_graph(
    fragments: ArrayLike, boundary: ArrayLike
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any], NDArray[Any]]:
    """The fragments that share voxel faces, with the boundary probability on those faces.

    Parameters
    ----------
    fragments : array_like of int
        Labels (0 is background and has no edges).
    boundary : array_like
        Boundary probability of the same shape (float in ``[0, 1]`` or uint8).

    Returns
    -------
    a, b : ndarray of uint64
        The two labels of each edge, ``a < b``.
    total : ndarray of float64
        Sum over the shared faces of the larger boundary probability of the face's two voxels.
    faces : ndarray of int64
        Number of shared faces.

    Examples
    --------
    >>> f = np.array([[1, 1, 2, 2], [1, 1, 2, 2]]); p = np.array([[0, 0.2, 0.6, 0]] * 2)
    >>> a, b, total, faces = region_graph(f, p)
    >>> a.tolist(), b.tolist(), np.round(total, 3).tolist(), faces.tolist()
    ([1], [2], [1.2], [2])
    """
    f = np.asarray(fragments)
    prob = _as_probability(boundary)
    if f.shape != prob.shape:
        raise ValueError(f"fragments {f.shape} and boundary {prob.shape} must have one shape")
    keys, values = [], []
    for axis in range(f.ndim):
        lo = tuple(slice(0, -1) if d == axis else slice(None) for d in range(f.ndim))
        hi = tuple(slice(1, None) if d == axis else slice(None) for d in range(f.ndim))
        x, y = f[lo], f[hi]
        cut = (x != y) & (x != 0) & (y != 0)
        u, v = x[cut].astype(np.uint64), y[cut].astype(np.uint64)
        keys.append(np.minimum(u, v) << np.uint64(32) | np.maximum(u, v))
        values.append(np.maximum(prob[lo][cut], prob[hi][cut]))
    if f.size and f.max() >= 2**32:
        raise ValueError("region_graph needs fragment ids below 2**32; renumber them first")
    key = np.concatenate(keys) if keys else np.zeros(0, np.uint64)
    edges, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.ravel()
    total = np.bincount(inverse, weights=np.concatenate(values), minlength=edges.size)
    faces = np.bincount(inverse, minlength=edges.size).astype(np.int64)
    return edges >> np.uint64(32), edges & np.uint64(2**32 - 1), total, faces


def merge_order(
    a: NDArray[Any],
    b: NDArray[Any],
    total: NDArray[Any],
    faces: NDArray[Any],
    stop: float = 1.0,
    sizes: NDArray[Any] | None = None,
    min_size: int = 0,
) -> list[tuple[float, int, int]]:
    """Mean-boundary agglomeration of a region graph: the merges in the order they happen.

    Parameters
    ----------
    a, b, total, faces : ndarray
        The region graph (:func:`region_graph`).
    stop : float
        Merging stops when the lowest mean reaches this (1.0: merge until one region is left
        per connected part of the graph, below probability 1).
    sizes : ndarray, optional
        Voxels per fragment id (``sizes[id]``); needed with ``min_size``.
    min_size : int
        First, fragments smaller than this (smallest first) join the neighbour with the lowest
        mean boundary, whatever it is: slivers on a boundary that no threshold would merge.

    Returns
    -------
    list of (score, child, parent)
        ``child`` joins ``parent`` (both current regions) at mean boundary ``score`` (``-inf``
        for the small fragments). Since means change as regions grow, scores need not
        increase; stopping at a threshold ``t`` keeps the merges before the first ``>= t``.

    Examples
    --------
    A chain 1 - 2 - 3 with face means 0.1 and 0.4:

    >>> merge_order(np.array([1, 2]), np.array([2, 3]), np.array([0.1, 0.8]), np.array([1, 2]))
    [(0.1, 1, 2), (0.4, 3, 2)]
    >>> merge_order(np.array([1, 2]), np.array([2, 3]), np.array([0.1, 0.8]), np.array([1, 2]),
    ...             stop=0.0, sizes=np.array([0, 50, 50, 3]), min_size=10)
    [(-inf, 3, 2)]
    """
    neighbours: dict[int, dict[int, list[float]]] = {}
    heap: list[tuple[float, int, int]] = []
    for u, v, s, c in zip(a.tolist(), b.tolist(), total.tolist(), faces.tolist(), strict=True):
        neighbours.setdefault(u, {})[v] = [s, c]
        neighbours.setdefault(v, {})[u] = [s, c]
        heap.append((s / c, u, v))
    merges: list[tuple[float, int, int]] = []
    ordered = False  # the heap is a plain list until the small fragments are done
    size = {} if sizes is None else dict(enumerate(np.asarray(sizes).tolist()))

    def merge(score: float, u: int, v: int) -> None:
        small, big = (u, v) if len(neighbours[u]) < len(neighbours[v]) else (v, u)
        merges.append((score, small, big))
        if size:
            size[big] += size.pop(small)
        into = neighbours[big]
        del into[small]
        for t, (s, c) in neighbours.pop(small).items():
            if t == big:
                continue
            del neighbours[t][small]
            joined = into.get(t)
            if joined is None:
                joined = into[t] = [s, c]
                neighbours[t][big] = joined
            else:
                joined[0] += s
                joined[1] += c
            entry = (joined[0] / joined[1], min(big, t), max(big, t))
            if ordered:
                heapq.heappush(heap, entry)
            else:
                heap.append(entry)

    if min_size > 0:
        if sizes is None:
            raise ValueError("min_size needs the fragment sizes")
        for r in sorted((r for r in neighbours if size[r] < min_size), key=size.__getitem__):
            if r in neighbours and size[r] < min_size and neighbours[r]:
                t = min(neighbours[r], key=lambda t: neighbours[r][t][0] / neighbours[r][t][1])
                merge(float("-inf"), r, t)
    heapq.heapify(heap)
    ordered = True
    while heap:
        score, u, v = heapq.heappop(heap)
        if score >= stop:
            break
        edge = neighbours.get(u, {}).get(v)
        if edge is None or edge[0] / edge[1] != score:
            continue  # stale: a region is gone or the edge has changed since it was pushed
        merge(score, u, v)
    return merges


def apply_merges(
    fragments: ArrayLike, merges: Sequence[tuple[float, int, int]], threshold: float
) -> NDArray[np.uint64]:
    """Labels after the merges of :func:`merge_order` that come before ``threshold``.

    Returns uint64 labels renumbered ``1..n`` in order of first appearance (0 stays 0).

    Examples
    --------
    >>> f = np.array([1, 2, 3, 0])
    >>> apply_merges(f, [(0.1, 1, 2), (0.4, 3, 2)], 0.3).tolist()
    [1, 1, 2, 0]
    """
    f = np.asarray(fragments)
    top = int(f.max()) if f.size else 0
    lut = np.arange(top + 1, dtype=np.uint64)
    for score, child, parent in merges:
        if score >= threshold:
            break
        lut[child] = parent
    while True:  # pointer jumping: every child points at a region that was current later
        nxt = lut[lut]
        if np.array_equal(nxt, lut):
            break
        lut = nxt
    labels = lut[f]
    labels, _ = fastremap.renumber(labels, preserve_zero=True, in_place=True)
    return labels.astype(np.uint64, copy=False)


def agglomerate(
    fragments: ArrayLike, boundary: ArrayLike, thresholds: Sequence[float], min_size: int = 0
) -> list[NDArray[np.uint64]]:
    """Merge fragments whose shared faces have a mean boundary probability below each threshold.

    Parameters
    ----------
    fragments : array_like of int
        Over-segmentation (0 = background, never merged).
    boundary : array_like
        Boundary probability of the same shape.
    thresholds : sequence of float
        One segmentation is returned per threshold (one agglomeration serves them all).
    min_size : int
        Fragments smaller than this first join their best neighbour (:func:`merge_order`).

    Returns
    -------
    list of ndarray of uint64

    Examples
    --------
    >>> f = np.array([[1, 1, 2, 2, 3, 3]])
    >>> p = np.array([[0.0, 0.1, 0.1, 0.0, 0.9, 0.0]])
    >>> [s.tolist() for s in agglomerate(f, p, [0.05, 0.5, 0.95])]
    [[[1, 1, 2, 2, 3, 3]], [[1, 1, 1, 1, 2, 2]], [[1, 1, 1, 1, 1, 1]]]
    """
    f = np.asarray(fragments)
    renumbered, _ = fastremap.renumber(f, preserve_zero=True)
    graph = region_graph(renumbered, boundary)
    sizes = np.bincount(renumbered.reshape(-1)) if min_size > 0 else None
    merges = merge_order(*graph, stop=max(thresholds, default=0.0), sizes=sizes,
                         min_size=min_size)  # fmt: skip
    return [apply_merges(renumbered, merges, t) for t in thresholds]


def segment(
    boundary: ArrayLike, config: SegmentationConfig = SegmentationConfig()
) -> NDArray[np.uint64]:
    """Neurons from a boundary map: :func:`watershed_fragments`, then :func:`agglomerate` at
    ``config.merge_threshold``.

    Examples
    --------
    Three cells in a row, the left wall faint (0.3) and the right one strong (0.9):

    >>> b = np.zeros((8, 40), np.float32); b[:, 13] = 0.3; b[:, 26] = 0.9
    >>> cfg = SegmentationConfig(seed_threshold=0.2, merge_threshold=0.5)
    >>> labels = segment(b, cfg)
    >>> left, middle, right = labels[0, 0], labels[0, 20], labels[0, 35]
    >>> len(np.unique(labels)), bool(left == middle), bool(left == right)
    (2, True, False)
    """
    fragments = watershed_fragments(boundary, config)
    return agglomerate(fragments, boundary, [config.merge_threshold], config.min_size)[0]
