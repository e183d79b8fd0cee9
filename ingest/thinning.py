"""Thinning skeletoniser: centre lines by 3D curve thinning, chunk by chunk (the default).

Each cell's samples are thinned to lines one sample wide (:func:`ingest.lee_thinning.thin`),
the line samples become the vertices of a graph (26-neighbours joined, cycles opened by a
minimum spanning tree), and then

- **spurs go**: a terminal branch whose tip lies within ``radius + prune_margin_nm`` of its
  branch point (a bump of the voxel surface) is dropped, again until none is left; a spine
  (neck 60-150 nm beyond a dendrite of 70-110 nm radius, head 55-90 nm) reaches far beyond
  it, so spines stay while the bumps of a 20 nm grid (one or two samples) go;
- **cut neurites reach the volume's faces**: thinning peels a neurite cut by a face of the
  volume back by about its radius, so a tip that close to a face is joined to the face;
- **the voxel staircase is smoothed** (:func:`ingest.skeletons.smooth`).

Why thinning and not TEASAR (:mod:`ingest.skeletons`, kimimaro): thinning keeps every
protrusion that reaches beyond its bumps, so spines, headless spine stubs and the spokes of a
soma are traced; TEASAR follows only the paths that reach beyond a ball around the paths
before, and misses spines near other branches of the same cell. On the 128 x 1024 x 1024
benchmark phantom 79 % of the cells get a cable length within 10 % of the planted centre
lines against 63 % with TEASAR (``docs/benchmarks.md``).

Chunks: :func:`thin_chunk` thins each chunk together with a halo around it (``halo_nm``)
and keeps the line samples of the chunk itself; where chunks meet, the lines of both sides
come from nearly the same thinning, and :func:`assemble_skeleton` joins any ends left apart
across a seam (within ``bridge_nm``). The chunked skeleton is within 1-2 % of the one of
the whole volume (``tests/ingest/test_thinning.py``).

Vertices are in nm, ``(x, y, z)``, at the centre of the ``xy_step x xy_step`` block each
sample stands for; radii are the distance from a sample to the cell's boundary (the
distance transform of the sampled labels, other cells counting as boundary).
"""

from __future__ import annotations

from dataclasses import dataclass

import edt
import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from ingest.lee_thinning import thin
from ingest.sampling import sampled_labels
from ingest.skeletons import CellSkeleton, _adjacency, _twig, kept_edges, smooth

MIRROR_MIN_RADIUS_NM = 150.0
"""Cells at least this thick on a face of the volume (somata; neurites are 20-110 nm in
radius) are thinned mirrored across it (:func:`_thin_mirrored`)."""

# the 13 forward neighbours of a sample among its 26 (the other 13 are their opposites)
_FORWARD = np.array([(a, b, c) for a in (-1, 0, 1) for b in (-1, 0, 1) for c in (-1, 0, 1)
                     if (a, b, c) > (0, 0, 0)], dtype=np.int64)  # fmt: skip


@dataclass(frozen=True)
class ThinningParams:
    """Lengths in nm of the thinning skeletoniser.

    ``halo_nm``: how far beyond its chunk each chunk is thinned (thinning peels from every
    surface, so a chunk's lines agree with the whole volume's when the halo is wider than
    the neurites that cross its faces: 160 nm is 8 samples at 20 nm and leaves the chunked
    cable within 1-2 % of the unchunked); ``prune_margin_nm``: a terminal branch whose tip
    lies within its branch point's radius plus this is a spur (20 nm is one sample:
    0 keeps the surface's bumps, 40 starts to cut spines); ``bridge_nm``: ends of lines of
    one cell this close but not joined are joined (a seam between chunks); ``smooth_nm``:
    the width of the filter on the voxel staircase.
    """

    halo_nm: float = 160.0
    prune_margin_nm: float = 20.0
    bridge_nm: float = 60.0
    smooth_nm: float = 20.0


@dataclass
class ThinnedPiece:
    """The line samples of one cell in one chunk.

    ``voxels_zyx`` (int64, ``(N, 3)``): the volume's voxel index ``[z, y, x]`` of each sample
    (y and x multiples of ``xy_step``); ``radii_nm`` (float32, ``(N,)``): its distance to the
    cell's boundary; ``faces`` (uint8, ``(N,)``): bit ``2 * axis + side`` (axis 0-2 for
    z, y, x; side 0 low, 1 high) set when the sample lies within its radius (plus one
    sample) of that face of the volume and the cell meets the face there: the cell is cut
    by the face, and a line that ends at this sample goes on to the face.
    """

    voxels_zyx: np.ndarray
    radii_nm: np.ndarray
    faces: np.ndarray


def halo_voxels(voxel_size_nm_zyx: tuple[float, float, float], xy_step: int,
                params: ThinningParams = ThinningParams()) -> tuple[int, int, int]:  # fmt: skip
    """The halo of a chunk in voxels ``(z, y, x)``, y and x multiples of ``xy_step``.

    Examples
    --------
    >>> halo_voxels((20.0, 10.0, 10.0), 2)
    (8, 16, 16)
    """
    vz, vy, vx = voxel_size_nm_zyx
    z = int(np.ceil(params.halo_nm / vz))
    y = int(np.ceil(params.halo_nm / (vy * xy_step))) * xy_step
    x = int(np.ceil(params.halo_nm / (vx * xy_step))) * xy_step
    return z, y, x


def thin_chunk(
    compact_labels: np.ndarray,
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    offset_zyx: tuple[int, int, int] = (0, 0, 0),
    core_start_zyx: tuple[int, int, int] | None = None,
    core_stop_zyx: tuple[int, int, int] | None = None,
    volume_shape_zyx: tuple[int, int, int] | None = None,
    xy_step: int = 2,
    presampled: bool = False,
) -> dict[int, ThinnedPiece]:
    """Thin every cell of a compact label array (a chunk with its halo, or the volume).

    The array starts at voxel ``offset_zyx`` of the volume (y and x multiples of
    ``xy_step``); with ``presampled`` it holds only the samples. Only the line samples
    inside the core ``[core_start_zyx, core_stop_zyx)`` (default: the whole array) are kept,
    so that the chunks of a grid give each sample once. ``volume_shape_zyx`` (default: the
    array is the volume) tells which faces of the array are faces of the volume.

    Returns
    -------
    dict of int to ThinnedPiece
        One piece per compact label with line samples in the core.

    Examples
    --------
    A bar along x, thinned as one array and as two chunks with halos, gives the same
    samples:

    >>> labels = np.zeros((5, 6, 40), np.uint32); labels[1:4, 1:5, 2:38] = 1
    >>> whole = thin_chunk(labels, (10.0, 10.0, 10.0), xy_step=1)[1].voxels_zyx
    >>> halves = [thin_chunk(labels[:, :, x0:x1], (10.0, 10.0, 10.0), offset_zyx=(0, 0, x0),
    ...                      core_start_zyx=(0, 0, c0), core_stop_zyx=(5, 6, c1), xy_step=1)
    ...           for x0, x1, c0, c1 in [(0, 30, 0, 20), (10, 40, 20, 40)]]
    >>> both = np.concatenate([h[1].voxels_zyx for h in halves])
    >>> sorted(map(tuple, both.tolist())) == sorted(map(tuple, whole.tolist()))
    True
    """
    sampled, (z0, y0, x0) = sampled_labels(compact_labels, offset_zyx, xy_step, presampled)
    if sampled.size == 0 or not sampled.any():
        return {}
    vz, vy, vx = (float(v) for v in voxel_size_nm_zyx)
    spacing = (vz, vy * xy_step, vx * xy_step)
    step = np.array([1, xy_step, xy_step])
    origin = np.array([z0, y0, x0])
    lo = origin if core_start_zyx is None else np.asarray(core_start_zyx)
    hi = origin + np.array(sampled.shape) * step if core_stop_zyx is None else np.asarray(
        core_stop_zyx)  # fmt: skip
    labels = np.ascontiguousarray(sampled)
    radius = edt.edt(labels, anisotropy=spacing, black_border=False)
    shape = np.array(labels.shape)
    volume = origin + shape * step if volume_shape_zyx is None else np.asarray(volume_shape_zyx)
    # faces of the array that are faces of the volume: (axis, side, sample index on that face)
    faces = [
        (a, side, 0 if side == 0 else shape[a] - 1)
        for a in range(3)
        for side in (0, 1)
        if (origin[a] == 0 if side == 0 else origin[a] + shape[a] * step[a] >= volume[a])
    ]
    slack = max(spacing)
    out: dict[int, ThinnedPiece] = {}
    for index, box in enumerate(ndimage.find_objects(labels)):
        if box is None:
            continue
        label = index + 1
        line = np.argwhere(_thin_mirrored(labels[box] == label, radius[box], box, faces,
                                          spacing)) + np.array([b.start for b in box])  # fmt: skip
        voxels = origin + line * step
        keep = np.all((voxels >= lo) & (voxels < hi), axis=1)
        if not keep.any():
            continue
        line = line[keep]
        r = radius[tuple(line.T)].astype(np.float32)
        bits = np.zeros(len(line), dtype=np.uint8)
        for axis, side, at in faces:
            gap = np.abs(line[:, axis] - at) * spacing[axis]
            on_face = line.copy()
            on_face[:, axis] = at
            meets = (gap <= r + slack) & (labels[tuple(on_face.T)] == label)
            bits[meets] |= np.uint8(1 << (2 * axis + side))
        out[label] = ThinnedPiece(voxels[keep].astype(np.int64), r, bits)
    return out


def _thin_mirrored(
    mask: np.ndarray,
    radius: np.ndarray,
    box: tuple[slice, ...],
    faces: list[tuple[int, int, int]],
    spacing: tuple[float, float, float],
) -> np.ndarray:
    """Thin a cell's mask (its bounding box ``box`` in the array), mirrored across the faces
    of the volume it meets.

    Where a face of the volume cuts a cell, the cell goes on beyond it; thinning the mask as
    it is would peel the cut face like a surface and push the lines away from it (a soma cut
    by the face would lose its centre, which lies on the face). Mirrored, the cut face is a
    plane of symmetry and the lines cross it where the cell goes on. The mirror reaches as
    far as the cell is thick on that face (its largest radius there, plus two samples), and
    only cells at least :data:`MIRROR_MIN_RADIUS_NM` thick there are mirrored: a thin
    neurite that leaves the volume obliquely would become a V whose fold thins to a stray
    line along the face; its line is joined to the face instead (``faces`` of
    :class:`ThinnedPiece`).
    """
    pad = [[0, 0], [0, 0], [0, 0]]
    for axis, side, at in faces:
        if (box[axis].start if side == 0 else box[axis].stop - 1) != at:
            continue
        index = (slice(None),) * axis + (0 if side == 0 else -1,)
        on_face = mask[index]
        thickest = float(radius[index][on_face].max()) if on_face.any() else 0.0
        if thickest >= MIRROR_MIN_RADIUS_NM:
            width = int(np.ceil(thickest / spacing[axis])) + 2
            pad[axis][side] = min(width, mask.shape[axis])
    if not any(any(p) for p in pad):
        return thin(mask)
    line = thin(np.pad(mask, pad, mode="symmetric"))
    line = line[tuple(slice(lo, n - hi) for (lo, hi), n in zip(pad, line.shape, strict=True))]
    # a blob cut by two or three faces thins to a speck where the mirror planes meet, which
    # may fall outside the volume: thin it as it is
    return line if line.any() else thin(mask)


def _neighbour_pairs(grid: np.ndarray) -> np.ndarray:
    """Index pairs of samples (rows of ``grid``, integer sample coordinates) that are
    26-neighbours."""
    if len(grid) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    g = grid - grid.min(axis=0) + 1
    dims = g.max(axis=0) + 2
    key = np.ravel_multi_index(g.T, dims)
    order = np.argsort(key)
    sorted_key = key[order]
    pairs = []
    for o in _FORWARD:
        k = np.ravel_multi_index((g + o).T, dims)
        pos = np.minimum(np.searchsorted(sorted_key, k), len(key) - 1)
        hit = sorted_key[pos] == k
        pairs.append(np.stack([np.flatnonzero(hit), order[pos[hit]]], axis=1))
    return np.concatenate(pairs)


def _spanning_tree(points: np.ndarray, pairs: np.ndarray, bridges: np.ndarray) -> np.ndarray:
    """Edges of a minimum spanning forest over ``pairs``, with ``bridges`` used only to join
    pieces that ``pairs`` leave apart."""
    n = len(points)
    allpairs = np.concatenate([pairs, bridges])
    weight = np.linalg.norm(points[allpairs[:, 0]] - points[allpairs[:, 1]], axis=1)
    weight[len(pairs) :] += 1e9
    graph = coo_matrix((weight, (allpairs[:, 0], allpairs[:, 1])), shape=(n, n))
    tree = minimum_spanning_tree(graph).tocoo()
    return np.stack([tree.row, tree.col], axis=1).astype(np.int64)


def _bridges(points: np.ndarray, pairs: np.ndarray, reach_nm: float) -> np.ndarray:
    """Pairs of line ends (samples with at most one neighbour) of different pieces within
    ``reach_nm`` of each other or of any sample of another piece."""
    n = len(points)
    if n < 2 or reach_nm <= 0:
        return np.zeros((0, 2), dtype=np.int64)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    pieces, piece = connected_components(graph, directed=False)
    if pieces < 2:
        return np.zeros((0, 2), dtype=np.int64)
    degree = np.bincount(pairs.ravel(), minlength=n)
    ends = np.flatnonzero(degree <= 1)
    found = cKDTree(points).query_ball_point(points[ends], reach_nm)
    out = [(int(a), int(b)) for a, near in zip(ends, found, strict=True) for b in near
           if piece[a] != piece[b]]  # fmt: skip
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def prune(
    vertices_nm_xyz: np.ndarray, edges: np.ndarray, radii_nm: np.ndarray, margin_nm: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Drop terminal branches whose tip lies within their branch point's radius plus
    ``margin_nm``, repeatedly, until none is left.

    Returns the kept vertices, the renumbered edges, the kept radii and the indices of the
    kept vertices.

    Examples
    --------
    A line along x with a twig of one step up from x = 3 (the line's radius is 2): the twig
    goes, the line stays:

    >>> v = np.array([[x, 0, 0] for x in range(7)] + [[3, 1, 0]], float)
    >>> e = np.array([[i, i + 1] for i in range(6)] + [[3, 7]])
    >>> pv, pe, pr, kept = prune(v, e, np.full(8, 2.0), 0.0)
    >>> len(pv), len(pe), kept.tolist()
    (7, 6, [0, 1, 2, 3, 4, 5, 6])
    """
    v = np.asarray(vertices_nm_xyz, dtype=np.float64)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    r = np.asarray(radii_nm, dtype=np.float64)
    index = np.arange(len(v))
    while len(e):
        n = len(v)
        neighbours, start = _adjacency(n, e)
        degree = np.diff(start)
        drop = np.zeros(n, dtype=bool)
        for tip in np.flatnonzero(degree == 1):
            walked, end = _twig(neighbours, start, degree, int(tip))
            if degree[end] == 1:  # a piece without branch points: keep it
                continue
            if np.linalg.norm(v[tip] - v[end]) < r[end] + margin_nm:
                drop[walked] = True
        if not drop.any():
            break
        kept, e = kept_edges(~drop, e)
        v, r, index = v[kept], r[kept], index[kept]
    return v, e, r, index


def _reach_faces(
    v: np.ndarray, e: np.ndarray, r: np.ndarray, faces: np.ndarray, last_nm_xyz: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Join each tip marked in ``faces`` (:class:`ThinnedPiece`) to the nearest of its
    marked faces of the volume (samples from 0 to ``last_nm_xyz``)."""
    if len(e) == 0:
        return v, e, r
    degree = np.bincount(e.ravel(), minlength=len(v))
    new_v, new_e = [], []
    for tip in np.flatnonzero((degree == 1) & (faces > 0)):
        best, q = np.inf, None
        for axis_zyx in range(3):
            axis = 2 - axis_zyx  # the vertices are x, y, z
            for side in (0, 1):
                if faces[tip] & (1 << (2 * axis_zyx + side)):
                    at = 0.0 if side == 0 else float(last_nm_xyz[axis])
                    if 0 < abs(v[tip, axis] - at) < best:
                        best, q = abs(v[tip, axis] - at), v[tip].copy()
                        q[axis] = at
        if q is not None:
            new_v.append(q)
            new_e.append((int(tip), len(v) + len(new_v) - 1))
    if not new_v:
        return v, e, r
    tips = [a for a, _ in new_e]
    return (np.vstack([v, np.array(new_v)]), np.vstack([e, np.array(new_e)]),
            np.concatenate([r, r[tips]]))  # fmt: skip


def assemble_skeleton(
    pieces: list[ThinnedPiece],
    voxel_size_nm_zyx: tuple[float, float, float],
    volume_shape_zyx: tuple[int, int, int],
    *,
    xy_step: int = 2,
    params: ThinningParams = ThinningParams(),
) -> CellSkeleton | None:
    """One cell's skeleton from its line samples (of one or many chunks); ``None`` when
    they make no edge.

    Examples
    --------
    The bar of :func:`thin_chunk`'s example: its line runs on the bar's axis and is cut
    back to the centres of its rounded ends:

    >>> labels = np.zeros((5, 6, 40), np.uint32); labels[1:4, 1:5, 2:38] = 1
    >>> piece = thin_chunk(labels, (10.0, 10.0, 10.0), xy_step=1)[1]
    >>> s = assemble_skeleton([piece], (10.0, 10.0, 10.0), (5, 6, 40), xy_step=1)
    >>> round(s.cable_length_nm), float(s.vertices_nm_xyz[:, 2].mean())
    (330, 20.0)
    """
    pieces = [p for p in pieces if len(p.voxels_zyx)]
    if not pieces:
        return None
    voxels = np.concatenate([p.voxels_zyx for p in pieces])
    radii = np.concatenate([p.radii_nm for p in pieces]).astype(np.float64)
    faces = np.concatenate([p.faces for p in pieces])
    voxels, first = np.unique(voxels, axis=0, return_index=True)
    radii, faces = radii[first], faces[first]
    vz, vy, vx = (float(v) for v in voxel_size_nm_zyx)
    size_zyx = np.array([vz, vy, vx])
    points_zyx = voxels * size_zyx
    grid = voxels // np.array([1, xy_step, xy_step])
    pairs = _neighbour_pairs(grid)
    bridges = _bridges(points_zyx, pairs, params.bridge_nm)
    if len(pairs) + len(bridges) == 0:
        return None
    edges = _spanning_tree(points_zyx, pairs, bridges)
    v, e, r, kept = prune(points_zyx[:, ::-1], edges, radii, params.prune_margin_nm)
    shape = np.asarray(volume_shape_zyx)
    last_zyx = np.array([shape[0] - 1, (shape[1] - 1) // xy_step * xy_step,
                         (shape[2] - 1) // xy_step * xy_step]) * size_zyx  # fmt: skip
    v, e, r = _reach_faces(v, e, r, faces[kept], last_zyx[::-1])
    used = np.zeros(len(v), dtype=bool)
    used[e.ravel()] = True
    if not used.any():
        return None
    kept, e = kept_edges(used, e)
    v, r = v[kept], r[kept]
    half = 0.5 * (xy_step - 1)
    vertices = smooth(v, e, params.smooth_nm).astype(np.float64) + np.array(
        [half * vx, half * vy, 0.0]
    )
    return CellSkeleton(vertices, e, r)


def thin_cells(
    compact_labels: np.ndarray,
    ids: np.ndarray,
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    xy_step: int = 2,
    params: ThinningParams = ThinningParams(),
) -> dict[int, CellSkeleton]:
    """Skeletonise every cell of a compact label volume (``1..n``) in one piece.

    ``ids[k]`` is the uint64 body id of compact label ``k``; returns one skeleton per cell
    that has one, keyed by its body id (a Python int). The morphology stage runs the same
    steps chunk by chunk (:func:`thin_chunk`, then :func:`assemble_skeleton` per cell).

    Examples
    --------
    >>> labels = np.zeros((7, 8, 64), np.uint32); labels[1:6, 1:7, 1:63] = 1
    >>> sk = thin_cells(labels, np.array([0, 2**60], np.uint64), (10.0, 10.0, 10.0))
    >>> list(sk) == [2**60], 550 < sk[2**60].cable_length_nm < 600
    (True, True)
    """
    shape = np.shape(compact_labels)
    pieces = thin_chunk(compact_labels, voxel_size_nm_zyx, xy_step=xy_step)  # one chunk
    out = {}
    for label, piece in sorted(pieces.items()):
        s = assemble_skeleton([piece], voxel_size_nm_zyx, (shape[0], shape[1], shape[2]),
                              xy_step=xy_step, params=params)  # fmt: skip
        if s is not None:
            out[int(ids[label])] = s
    return out
