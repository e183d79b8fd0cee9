"""TEASAR skeletons: a centre-line skeleton with radii per cell, traced with kimimaro.

This is the ``"teasar"`` skeletoniser of the morphology stage; the default is 3D curve
thinning (:mod:`ingest.thinning`), which traces more of the spines. :class:`CellSkeleton`,
:func:`cable_length_nm` and :func:`smooth` serve both.

:func:`skeletonize_cells` skeletonises every cell of a compact label volume (``[z, y, x]``,
``1..n``) at once, optionally at reduced x/y resolution (``xy_step``), and returns one
:class:`CellSkeleton` per cell keyed by the cell's uint64 body id. Vertices are in nm in
``(x, y, z)`` order in the frame of the volume (voxel ``i`` has its centre at
``i * voxel_size_nm``); radii are the distance from a vertex to the cell's boundary (as
measured on the traced grid).

Two steps follow the trace so that cable length measures centre lines:

- TEASAR's paths end on the surface; :func:`trim_tips` cuts each terminal branch back to
  the centre of its end (a rounded tip, a spine head) and drops spurs of the voxel surface;
- paths step from voxel centre to voxel centre, a staircase longer than the neurite (+8 % at
  half x/y resolution and +15 % at full resolution on curved tubes of known length);
  :func:`smooth` filters each run between branch points over about one voxel (20 nm).

On isolated curved tubes and spiny dendrites of known centre-line length this leaves the
cable length within a few per cent at both resolutions (``tests/ingest/test_skeletons.py``).
All parameters are in nm so that they mean the same at every voxel size and ``xy_step``.

Only the tips that kimimaro placed on the volume's faces (at the centre of each
cross-section, ``fix_borders``) escape trimming; other tips that happen to touch a face are
trimmed like any other. The morphology stage traces chunk by chunk: :func:`trace_cells` on
each chunk, :func:`join_pieces` per cell (the chunks' paths meet at the same points of the
planes they share), then :func:`finish_skeleton`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import kimimaro
import numpy as np
from kimimaro.intake import compute_border_targets
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from scipy.spatial import cKDTree

from ingest.sampling import sampled_labels


@dataclass(frozen=True)
class TeasarParams:
    """kimimaro's TEASAR parameters, lengths in nm.

    Each traced path invalidates (removes from the targets) the voxels within
    ``scale * radius + const_nm`` of it; the next path goes to the farthest voxel left, so
    a protrusion becomes a branch when it reaches beyond that ball. ``scale`` 1.5 (kimimaro's
    default) covers a neurite's cross-section; ``const_nm`` 70 makes branches of dendritic
    spines (necks of 60-150 nm with heads of 55-90 nm radius, reaching 200-400 nm from the
    dendrite's axis; the ball around a 90 nm dendrite reaches about 220 nm) while bumps of
    the voxel surface stay below it (100 nm loses a third more spines, 50 nm adds spurs).
    The path cost ``pdrf_scale * (1 - radius / max radius) ** pdrf_exponent`` keeps paths on
    the medial axis (kimimaro's recommended 100000 and 4).

    kimimaro's soma mode (a root at the centre of a cell whose largest inscribed ball is wider
    than ``soma_acceptance_threshold_nm``) is off by default: with ``fix_branching`` it joins
    the end of every path straight to the root, adding spokes (+90 % to +400 % cable on the
    phantom when forced on). Set the thresholds (kimimaro recommends 750 and 3500 nm for real
    somata) to use it.

    Examples
    --------
    >>> TeasarParams(const_nm=50.0).as_kimimaro()["const"]
    50.0
    """

    scale: float = 1.5
    const_nm: float = 70.0
    pdrf_scale: float = 100000.0
    pdrf_exponent: int = 4
    soma_detection_threshold_nm: float = math.inf
    soma_acceptance_threshold_nm: float = math.inf
    soma_invalidation_scale: float = 2.0
    soma_invalidation_const_nm: float = 300.0
    max_paths: int | None = None

    def as_kimimaro(self) -> dict[str, float | int | None]:
        """The ``teasar_params`` dictionary of :func:`kimimaro.skeletonize`."""
        return {
            "scale": self.scale,
            "const": self.const_nm,
            "pdrf_scale": self.pdrf_scale,
            "pdrf_exponent": self.pdrf_exponent,
            "soma_detection_threshold": self.soma_detection_threshold_nm,
            "soma_acceptance_threshold": self.soma_acceptance_threshold_nm,
            "soma_invalidation_scale": self.soma_invalidation_scale,
            "soma_invalidation_const": self.soma_invalidation_const_nm,
            "max_paths": self.max_paths,
        }


@dataclass
class CellSkeleton:
    """One cell's skeleton: a forest of vertices and edges, each vertex with a radius.

    ``vertices_nm_xyz`` (float32, ``(N, 3)``) are in nm, ``(x, y, z)`` order, in the frame of
    the volume; ``edges`` (uint32, ``(E, 2)``) index vertices; ``radii_nm`` (float32,
    ``(N,)``) is each vertex's distance to the cell boundary; ``cable_length_nm`` is the sum
    of the edge lengths (computed).
    """

    vertices_nm_xyz: np.ndarray
    edges: np.ndarray
    radii_nm: np.ndarray
    cable_length_nm: float = field(init=False)

    def __post_init__(self) -> None:
        self.vertices_nm_xyz = np.asarray(self.vertices_nm_xyz, dtype=np.float32).reshape(-1, 3)
        self.edges = np.asarray(self.edges, dtype=np.uint32).reshape(-1, 2)
        self.radii_nm = np.asarray(self.radii_nm, dtype=np.float32).reshape(-1)
        self.cable_length_nm = cable_length_nm(self.vertices_nm_xyz, self.edges)


def cable_length_nm(vertices_nm_xyz: np.ndarray, edges: np.ndarray) -> float:
    """Sum of the edge lengths of a skeleton, in the units of its vertices.

    Examples
    --------
    >>> cable_length_nm(np.array([[0, 0, 0], [3, 4, 0], [3, 4, 10]]), np.array([[0, 1], [1, 2]]))
    15.0
    """
    v = np.asarray(vertices_nm_xyz, dtype=np.float64)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    return float(np.linalg.norm(v[e[:, 0]] - v[e[:, 1]], axis=1).sum())


def trim_tips(
    vertices_nm_xyz: np.ndarray,
    edges: np.ndarray,
    radii_nm: np.ndarray,
    keep: np.ndarray,
    slack_nm: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut each terminal branch back from the surface to the centre of its end.

    TEASAR's paths end on the surface. From every tip (a vertex of degree one, unless
    ``keep`` marks it) the branch is walked inwards over the vertices whose ball (radius
    ``radii_nm``) contains the tip; the branch is cut back to the first of them with the
    largest ball: the centre of a rounded end or of a bulbous one (a spine head). A twig that
    lies wholly inside the ball of its branch point (a spur of the voxel surface) is dropped.
    Radii measured on a voxel grid lag the true distance to the surface by up to a voxel,
    hence ``slack_nm`` (the largest voxel edge) in the test "the ball contains the tip". Tips
    on the border of the volume are marked in ``keep``: there the cell is cut, not ended, and
    the skeleton must reach it.

    Returns the kept vertices, the renumbered edges and the kept radii.

    Examples
    --------
    A straight tube traced to its surface at x = 0 and x = 10, with radii measured as the
    distance to the nearest voxel outside (1 at the tips, 3 inside): the balls of x = 1 and
    x = 2 hold the tip x = 0, the ball of x = 2 is the largest, so the skeleton ends there
    (and at x = 8):

    >>> v = np.array([[x, 0, 0] for x in range(11)], float)
    >>> e = np.array([[i, i + 1] for i in range(10)])
    >>> r = np.array([1, 2, 3, 3, 3, 3, 3, 3, 3, 2, 1], float)
    >>> tv, te, tr = trim_tips(v, e, r, np.zeros(11, bool))
    >>> tv[:, 0].tolist(), te.tolist()
    ([2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5], [5, 6]])
    """
    v = np.asarray(vertices_nm_xyz, dtype=np.float64)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    r = np.asarray(radii_nm, dtype=np.float64)
    keep = np.asarray(keep, dtype=bool)
    n = len(v)
    if n == 0 or len(e) == 0:
        return vertices_nm_xyz, edges, radii_nm
    ends = np.concatenate([e[:, 0], e[:, 1]])
    order = np.argsort(ends, kind="stable")
    neighbours = np.concatenate([e[:, 1], e[:, 0]])[order]
    start = np.searchsorted(ends[order], np.arange(n + 1))
    degree = np.diff(start)
    drop = np.zeros(n, dtype=bool)
    for tip in np.flatnonzero((degree == 1) & ~keep):
        walked = [int(tip)]  # vertices whose ball holds the tip, from the tip inwards
        prev, cur = -1, int(tip)
        while True:
            nbrs = neighbours[start[cur] : start[cur + 1]]
            nxt = int(nbrs[0] if nbrs[0] != prev else nbrs[-1])
            if (
                np.linalg.norm(v[nxt] - v[tip]) >= r[nxt] + slack_nm
                or degree[nxt] == 1
                or drop[nxt]
            ):
                end = walked.index(max(walked, key=lambda k: r[k]))  # first largest ball
                drop[walked[:end]] = True
                break
            if degree[nxt] != 2 or keep[nxt]:
                drop[walked] = True  # a twig inside the ball of its branch point: a spur
                break
            walked.append(nxt)
            prev, cur = cur, nxt
    if not drop.any():
        return vertices_nm_xyz, edges, radii_nm
    kept, e2 = kept_edges(~drop, e)
    return (
        np.asarray(vertices_nm_xyz)[kept],
        e2.astype(np.asarray(edges).dtype, copy=False),
        np.asarray(radii_nm)[kept],
    )


def kept_edges(keep: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The indices of the vertices marked in ``keep`` and the edges between them, renumbered
    to those indices (edges that lose a vertex go).

    Examples
    --------
    >>> kept, e = kept_edges(np.array([True, False, True, True]), np.array([[0, 1], [2, 3]]))
    >>> kept.tolist(), e.tolist()
    ([0, 2, 3], [[1, 2]])
    """
    kept = np.flatnonzero(keep)
    new_index = np.full(len(keep), -1, dtype=np.int64)
    new_index[kept] = np.arange(len(kept))
    e = new_index[np.asarray(edges, dtype=np.int64).reshape(-1, 2)]
    return kept, e[(e >= 0).all(axis=1)]


def _adjacency(n: int, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR neighbour lists of an undirected graph: ``neighbours[start[v] : start[v + 1]]``."""
    ends = np.concatenate([edges[:, 0], edges[:, 1]])
    order = np.argsort(ends, kind="stable")
    neighbours = np.concatenate([edges[:, 1], edges[:, 0]])[order]
    start = np.searchsorted(ends[order], np.arange(n + 1))
    return neighbours, start


def _runs(n: int, edges: np.ndarray) -> list[list[int]]:
    """The vertex runs between branch points and tips (each edge in exactly one run)."""
    neighbours, start = _adjacency(n, edges)
    degree = np.diff(start)
    seen = np.zeros(len(edges), dtype=bool)
    edge_id = np.concatenate([np.arange(len(edges)), np.arange(len(edges))])
    edge_id = edge_id[np.argsort(np.concatenate([edges[:, 0], edges[:, 1]]), kind="stable")]
    runs: list[list[int]] = []
    starts = list(np.flatnonzero(degree != 2)) + list(np.flatnonzero(degree == 2))
    for v0 in starts:
        for k in range(start[v0], start[v0 + 1]):
            if seen[edge_id[k]]:
                continue
            run = [int(v0)]
            seen[edge_id[k]] = True
            cur = int(neighbours[k])
            while True:
                run.append(cur)
                if degree[cur] != 2:
                    break
                nxt = [j for j in range(start[cur], start[cur + 1]) if not seen[edge_id[j]]]
                if not nxt:
                    break  # closed a cycle
                seen[edge_id[nxt[0]]] = True
                cur = int(neighbours[nxt[0]])
            runs.append(run)
    return runs


def smooth(vertices_nm_xyz: np.ndarray, edges: np.ndarray, sigma_nm: float) -> np.ndarray:
    """Smooth each run between branch points and tips, keeping its two ends in place.

    Traced paths step from voxel centre to voxel centre, so a straight neurite becomes a
    staircase that is longer than the neurite (by up to 8 % in 26-connected steps, more where
    the path wanders across a flat ridge of the distance transform). Each run is filtered with
    a binomial kernel of about ``sigma_nm`` (repeated ``[1, 2, 1] / 4`` passes), which leaves
    bends wider than ``sigma_nm`` alone. Returns the new vertices (float32).

    Examples
    --------
    A staircase from (0, 0) to (8, 8) in steps of one along x then y becomes a diagonal:

    >>> v = np.array([[(i + 1) // 2, i // 2, 0] for i in range(17)], float)
    >>> e = np.array([[i, i + 1] for i in range(16)])
    >>> round(cable_length_nm(v, e), 2), round(cable_length_nm(smooth(v, e, 2.0), e), 2)
    (16.0, 11.36)
    """
    v = np.asarray(vertices_nm_xyz, dtype=np.float64).copy()
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if sigma_nm <= 0 or len(e) == 0:
        return v.astype(np.float32)
    for run in _runs(len(v), e):
        if len(run) < 3:
            continue
        idx = np.array(run)
        p = v[idx]
        spacing = float(np.mean(np.linalg.norm(np.diff(p, axis=0), axis=1)))
        passes = int(round(2.0 * (sigma_nm / max(spacing, 1e-6)) ** 2))
        for _ in range(min(passes, 4 * len(run) ** 2)):
            p[1:-1] = 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:]
        v[idx[1:-1]] = p[1:-1]
    return v.astype(np.float32)


def skeletonize_cells(
    compact_labels: np.ndarray,
    ids: np.ndarray,
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    xy_step: int = 2,
    teasar: TeasarParams = TeasarParams(),
    dust_threshold_voxels: int = 200,
    fix_branching: bool = True,
    fill_holes: bool = False,
    trim: bool = True,
    smooth_nm: float = 20.0,
    parallel: int = 1,
) -> dict[int, CellSkeleton]:
    """Skeletonise every cell of a compact label volume with kimimaro.

    The volume is sampled at every ``xy_step``-th voxel in y and x (voxels ``0, s, 2s, ...``
    of the volume, so that chunks cut at multiples of ``s`` sample the same grid) and traced
    with the anisotropy of the sampled grid; a sample stands for the ``s x s`` block of voxels
    it starts and its vertices are placed at the block's centre. Connected pieces of a cell
    are skeletonised separately and gathered under the cell's id; pieces of fewer than
    ``dust_threshold_voxels`` voxels (full resolution) are skipped. kimimaro runs on the
    compact labels ``1..n`` (smaller than uint64 ids, and independent of how a kimimaro
    version carries ids above 2**53); the skeletons are mapped back to the body ids here.
    This is :func:`trace_cells` on the whole volume followed by :func:`finish_skeleton`;
    the chunked morphology stage runs the same two steps with :func:`join_pieces` between.

    Parameters
    ----------
    compact_labels : np.ndarray
        Cells ``[z, y, x]`` numbered ``1..n`` (0 = background), as from
        :func:`ingest.cells.relabel`.
    ids : np.ndarray
        ``ids[k]`` is the uint64 body id of compact label ``k`` (``ids[0] = 0``).
    voxel_size_nm_zyx : tuple of float
        Voxel size in nm, ``(z, y, x)``.
    xy_step : int
        Sampling step in y and x: 1 traces at full resolution, 2 (the default) at half the
        x/y resolution, about 4x faster (DESIGN.md: 0.4-0.6 against 1.8-2.4 MVx/s). At
        20 x 10 x 10 nm voxels the sampled grid is isotropic (20 nm) and still resolves the
        thinnest neurites (axons and spine necks of 20-35 nm radius).
    teasar : TeasarParams
        TEASAR parameters in nm.
    dust_threshold_voxels : int
        Connected pieces of at most this many (full-resolution) voxels get no skeleton. 200
        voxels of 20 x 10 x 10 nm are 0.0004 um^3: a piece of axon (25 nm radius) about
        200 nm long, or a ball of 45 nm radius. kimimaro's default, 1000, drops the pieces
        of axon that crossing cells and gaps leave (2-3 % of a phantom cell's cable).
    fix_branching : bool
        Let each path reuse the paths before it at no cost, so branches leave their parent
        where the neurites actually diverge (slower: one Dijkstra per path).
    fill_holes : bool
        Fill voids inside each cell before tracing, at a moderate cost (helps segmentations
        whose cells have holes, e.g. unlabelled nuclei; but a cell wholly enclosed by another
        is then lost). Off: the cell layer of our contract has whole cells.
    trim : bool
        Cut terminal branches back from the surface to the centre line (:func:`trim_tips`).
    smooth_nm : float
        Width of the filter that straightens the voxel staircase (:func:`smooth`); 0 keeps
        the vertices on voxel centres.
    parallel : int
        kimimaro's worker processes; keep 1 when the caller parallelises (Dask).

    Returns
    -------
    dict of int to CellSkeleton
        One skeleton per cell that has one, keyed by its uint64 body id (as a Python int).

    Examples
    --------
    A bar of 5 x 5 x 60 voxels of 10 nm (voxel centres 10-50 nm in y and z, 10-600 nm in x).
    TEASAR traces from corner to corner; trimmed, the skeleton runs on the bar's axis
    (y = z = 30 nm), from x = 30 to 580 nm, the centres of the largest balls at its ends:

    >>> labels = np.zeros((7, 7, 62), np.uint32); labels[1:6, 1:6, 1:61] = 1
    >>> ids = np.array([0, 2**60], np.uint64)
    >>> sk = skeletonize_cells(labels, ids, (10.0, 10.0, 10.0), xy_step=1)
    >>> list(sk) == [2**60]
    True
    >>> s = sk[2**60]
    >>> s.vertices_nm_xyz.min(axis=0).tolist(), s.vertices_nm_xyz.max(axis=0).tolist()
    ([30.0, 30.0, 30.0], [580.0, 30.0, 30.0])
    >>> s.cable_length_nm, float(s.radii_nm.max())
    (550.0, 30.0)
    """
    traced = trace_cells(compact_labels, voxel_size_nm_zyx, xy_step=xy_step, teasar=teasar,
                         dust_threshold_voxels=dust_threshold_voxels,
                         fix_branching=fix_branching, fill_holes=fill_holes,
                         parallel=parallel)  # fmt: skip
    return {
        int(ids[label]): finish_skeleton(
            piece, voxel_size_nm_zyx, xy_step=xy_step, trim=trim, smooth_nm=smooth_nm
        )  # fmt: skip
        for label, piece in sorted(traced.items())
    }


@dataclass
class TracedPiece:
    """kimimaro's skeleton of one cell in one array, before trimming and smoothing.

    ``vertices_nm_xyz`` (float64, ``(N, 3)``) are the traced samples in nm in the frame of
    the volume (a sample at the start of its ``xy_step`` block, as traced); ``edges`` (int64,
    ``(E, 2)``); ``radii_nm`` (float32, ``(N,)``); ``volume_border`` (bool, ``(N,)``) marks
    the vertices that kimimaro placed at the centre of the cell's cross-section on a face of
    the volume: there the cell is cut, not ended, and the skeleton must reach the face.
    ``inner_face`` (uint8, ``(N,)``) is 2 for the stitching points (kimimaro's ends of paths
    at the centres of cross-sections) on a face of the array that lies inside the volume (a
    chunk's face), 1 for the other vertices on such a face (a path that ends there stopped
    at the chunk, not at the end of the cell: the neighbouring chunk traces what lies
    beyond) and 0 elsewhere.
    """

    vertices_nm_xyz: np.ndarray
    edges: np.ndarray
    radii_nm: np.ndarray
    volume_border: np.ndarray
    inner_face: np.ndarray


def trace_cells(
    compact_labels: np.ndarray,
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    offset_zyx: tuple[int, int, int] = (0, 0, 0),
    volume_shape_zyx: tuple[int, int, int] | None = None,
    xy_step: int = 2,
    teasar: TeasarParams = TeasarParams(),
    dust_threshold_voxels: int = 200,
    fix_branching: bool = True,
    fill_holes: bool = False,
    parallel: int = 1,
    presampled: bool = False,
) -> dict[int, TracedPiece]:
    """Trace every cell of a compact label array (the volume or a chunk of it) with kimimaro.

    The array starts at voxel ``offset_zyx`` of a volume of ``volume_shape_zyx`` (default:
    the array is the volume); y and x offsets must be multiples of ``xy_step`` so that every
    array samples the volume's grid. kimimaro ends a path at the centre of each cross-section
    of a cell with a face of the array (``fix_borders``): two chunks that share a plane of
    voxels end their paths at the same points of it, which is how :func:`join_pieces` stitches
    them. Those on a face of the volume are marked ``volume_border``. With ``presampled`` the
    array holds only the samples (every ``xy_step``-th voxel in y and x from the offset), as
    a strided read gives them. The other parameters are those of :func:`skeletonize_cells`.

    Returns
    -------
    dict of int to TracedPiece
        One piece per compact label that has a skeleton in this array.

    Examples
    --------
    A bar cut by the array's x faces, in a chunk that starts at x = 40 of a volume 100
    voxels wide: the face at x = 40 is inside the volume, so only x = 0 would be a border:

    >>> labels = np.zeros((5, 5, 20), np.uint32); labels[1:4, 1:4, :] = 1
    >>> p = trace_cells(labels, (10.0, 10.0, 10.0), offset_zyx=(0, 0, 40),
    ...                 volume_shape_zyx=(5, 5, 100), xy_step=1, dust_threshold_voxels=0)[1]
    >>> float(p.vertices_nm_xyz[:, 0].min()), float(p.vertices_nm_xyz[:, 0].max())
    (400.0, 590.0)
    >>> int(p.volume_border.sum())
    0
    """
    sampled, (z0, y0, x0) = sampled_labels(compact_labels, offset_zyx, xy_step, presampled)
    shape = tuple(volume_shape_zyx) if volume_shape_zyx is not None else np.shape(compact_labels)
    vz, vy, vx = (float(v) for v in voxel_size_nm_zyx)
    anisotropy_xyz = np.array([vx * xy_step, vy * xy_step, vz], dtype=np.float32)
    if sampled.size == 0 or not sampled.any():
        return {}
    traced = kimimaro.skeletonize(
        sampled.T,  # kimimaro's arrays are [x, y, z]; the transpose is a view
        teasar_params=teasar.as_kimimaro(),
        anisotropy=tuple(float(a) for a in anisotropy_xyz),
        dust_threshold=math.ceil(dust_threshold_voxels / xy_step**2),
        progress=False,
        fix_branching=fix_branching,
        fix_borders=True,
        fill_holes=fill_holes,
        parallel=parallel,
    )
    if not traced:
        return {}
    # faces of the array that are faces of the volume (no sample of the volume beyond them)
    n_xyz = np.array(sampled.shape[::-1])
    start_xyz = np.array([x0, y0, z0])
    step_xyz = np.array([xy_step, xy_step, 1])
    size_xyz = np.array(shape[::-1])
    low_is_border = start_xyz == 0
    high_is_border = start_xyz + n_xyz * step_xyz > size_xyz - 1
    targets = compute_border_targets(sampled.T, anisotropy_xyz)
    origin_nm = start_xyz * np.array([vx, vy, vz])
    out: dict[int, TracedPiece] = {}
    for label, skel in traced.items():
        vertices = np.asarray(skel.vertices, dtype=np.float64)
        index = np.rint(vertices / anisotropy_xyz).astype(np.int64)
        found = np.asarray(targets.get(int(label), ()), dtype=np.int64).reshape(-1, 3)
        at_target = np.zeros(len(index), dtype=bool)
        if len(found):
            key = np.ravel_multi_index(index.T, n_xyz)
            at_target = np.isin(key, np.ravel_multi_index(found.T, n_xyz))
        on_volume_face = np.any(((index == 0) & low_is_border)
                                | ((index == n_xyz - 1) & high_is_border), axis=1)  # fmt: skip
        on_inner_face = np.any(((index == 0) & ~low_is_border)
                               | ((index == n_xyz - 1) & ~high_is_border), axis=1)  # fmt: skip
        out[int(label)] = TracedPiece(
            vertices_nm_xyz=vertices + origin_nm,
            edges=np.asarray(skel.edges, dtype=np.int64).reshape(-1, 2),
            radii_nm=np.asarray(skel.radius, dtype=np.float32),
            volume_border=at_target & on_volume_face,
            inner_face=on_inner_face.astype(np.uint8) * (1 + at_target),
        )
    return out


def join_pieces(
    pieces: list[TracedPiece], tolerance_nm: float = 0.01, snap_nm: float = 0.0
) -> TracedPiece:
    """Stitch the pieces of one cell traced in neighbouring chunks into one skeleton.

    Chunks that share a plane of voxels place the ends of their paths on the same points of
    it (:func:`trace_cells`), so the pieces are joined by merging vertices at the same place
    (within ``tolerance_nm``). Where a neurite runs along a chunk face, both chunks trace it
    on the shared plane; vertices of different pieces on a chunk face within ``snap_nm`` of
    each other are merged too (about one and a half samples zips the two paths into one).
    Edges that both chunks traced are kept once; the cycles that two chunks' paths can
    close near their common face are opened by keeping a minimum spanning forest (each
    cycle loses its longest edge); and a twig that ends on a chunk's face where no other
    piece reaches is dropped back to its branch point (that chunk stopped at its face while
    its neighbour traced on).

    Examples
    --------
    Two pieces of a straight line meeting at x = 10, the first with a twig that stops at the
    chunk face x = 10 beside the stitching point:

    >>> a = TracedPiece(np.array([[0.0, 0, 0], [5, 0, 0], [10, 0, 0], [10, 4, 0]]),
    ...                 np.array([[0, 1], [1, 2], [1, 3]]), np.ones(4, np.float32),
    ...                 np.array([True, False, False, False]), np.array([0, 0, 2, 1], np.uint8))
    >>> b = TracedPiece(np.array([[10.0, 0, 0], [20, 0, 0]]), np.array([[0, 1]]),
    ...                 np.ones(2, np.float32), np.array([False, True]), np.array([2, 0], np.uint8))
    >>> j = join_pieces([a, b])
    >>> j.vertices_nm_xyz[:, 0].tolist(), sorted(j.edges.tolist()), j.volume_border.tolist()
    ([0.0, 5.0, 10.0, 20.0], [[0, 1], [1, 2], [2, 3]], [True, False, False, True])
    """
    pieces = [p for p in pieces if len(p.vertices_nm_xyz)]
    if not pieces:
        return TracedPiece(np.zeros((0, 3)), np.zeros((0, 2), np.int64), np.zeros(0, np.float32),
                           np.zeros(0, bool), np.zeros(0, np.uint8))  # fmt: skip
    vertices = np.concatenate([p.vertices_nm_xyz for p in pieces])
    base = np.cumsum([0] + [len(p.vertices_nm_xyz) for p in pieces[:-1]])
    edges = np.concatenate([p.edges + b for p, b in zip(pieces, base, strict=True)])
    flags = np.concatenate([p.inner_face for p in pieces])
    if snap_nm > 0 and flags.any():
        piece = np.repeat(np.arange(len(pieces)), [len(p.vertices_nm_xyz) for p in pieces])
        vertices = _snapped(vertices, flags > 0, piece, snap_nm)
    key = np.rint(vertices / tolerance_nm).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    n = len(first)
    border = np.zeros(n, dtype=bool)
    np.logical_or.at(border, inverse, np.concatenate([p.volume_border for p in pieces]))
    # a tip on a chunk face that only one piece reaches: that chunk stopped at its face
    owner = np.repeat(np.arange(len(pieces)), [len(p.vertices_nm_xyz) for p in pieces])
    copies = np.unique(np.stack([inverse, owner], axis=1), axis=0)[:, 0]
    inner = (np.bincount(copies, minlength=n) == 1) & np.bincount(
        inverse, weights=flags == 1, minlength=n).astype(bool)  # fmt: skip
    edges = np.sort(inverse[edges], axis=1)
    edges = np.unique(edges[edges[:, 0] != edges[:, 1]], axis=0)
    v = vertices[first]
    graph = coo_matrix((np.linalg.norm(v[edges[:, 0]] - v[edges[:, 1]], axis=1) + 1e-6,
                        (edges[:, 0], edges[:, 1])), shape=(n, n))  # fmt: skip
    if len(edges) > n - connected_components(graph, directed=False)[0]:  # cycles
        tree = minimum_spanning_tree(graph).tocoo()
        edges = np.sort(np.stack([tree.row, tree.col], axis=1).astype(np.int64), axis=1)
    keep = _drop_face_twigs(n, edges, inner)
    used = np.zeros(n, dtype=bool)  # also drops specks traced on their own (no edges)
    used[edges.ravel()] = True
    used &= keep
    edges = edges[keep[edges].all(axis=1)]
    new_index = np.cumsum(used) - 1
    radii = np.concatenate([p.radii_nm for p in pieces])[first]
    return TracedPiece(v[used], new_index[edges], radii[used], border[used],
                       np.zeros(int(used.sum()), dtype=np.uint8))  # fmt: skip


def _snapped(vertices: np.ndarray, on_face: np.ndarray, piece: np.ndarray,
             snap_nm: float) -> np.ndarray:  # fmt: skip
    """Vertices where each chunk-face vertex moves onto the nearest chunk-face vertex of an
    earlier piece within ``snap_nm`` (one hop: a path is zipped, not collapsed)."""
    out = vertices.copy()
    seen = np.zeros(0, dtype=np.int64)
    for k in np.unique(piece):
        mine = np.flatnonzero(on_face & (piece == k))
        if len(seen) and len(mine):
            dist, nearest = cKDTree(out[seen]).query(out[mine], distance_upper_bound=snap_nm)
            hit = np.isfinite(dist)
            out[mine[hit]] = out[seen[nearest[hit]]]
        seen = np.concatenate([seen, mine])
    return out


def _drop_face_twigs(n: int, edges: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Vertices kept when each twig from a tip marked ``inner`` to its branch point goes."""
    keep = np.ones(n, dtype=bool)
    if len(edges) == 0:
        return keep
    neighbours, start = _adjacency(n, edges)
    degree = np.diff(start)
    for tip in np.flatnonzero((degree == 1) & inner):
        walked, end = _twig(neighbours, start, degree, int(tip))
        if degree[end] != 1:  # a piece with no branch point stays
            keep[walked] = False
    return keep


def _twig(
    neighbours: np.ndarray, start: np.ndarray, degree: np.ndarray, tip: int
) -> tuple[list[int], int]:
    """Walk a forest (as :func:`_adjacency` gives it) from ``tip`` to its branch point:
    the vertices walked (``tip`` and the run after it) and the vertex the walk stopped at,
    the branch point or, on a piece without one, the other tip."""
    walked, prev, cur = [tip], -1, tip
    while True:
        prev, cur = cur, next(int(k) for k in neighbours[start[cur] : start[cur + 1]]
                              if k != prev)  # fmt: skip
        if degree[cur] != 2:
            return walked, cur
        walked.append(cur)


def finish_skeleton(
    piece: TracedPiece,
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    xy_step: int = 2,
    trim: bool = True,
    smooth_nm: float = 20.0,
) -> CellSkeleton:
    """Trim, smooth and place a traced skeleton: the :class:`CellSkeleton` of one cell.

    Tips are cut back to the centres of their ends (:func:`trim_tips`) except where the
    cell meets a face of the volume (``piece.volume_border``), each run is smoothed
    (:func:`smooth`) and every vertex moves to the centre of the ``xy_step x xy_step`` block
    its sample stands for.

    Examples
    --------
    >>> p = TracedPiece(np.array([[0.0, 0, 0], [20, 0, 0], [40, 0, 0]]),
    ...                 np.array([[0, 1], [1, 2]]), np.full(3, 5.0, np.float32),
    ...                 np.array([True, False, True]), np.zeros(3, np.uint8))
    >>> s = finish_skeleton(p, (20.0, 10.0, 10.0))
    >>> s.vertices_nm_xyz[:, :2].tolist(), s.cable_length_nm
    ([[5.0, 5.0], [25.0, 5.0], [45.0, 5.0]], 40.0)
    """
    vz, vy, vx = (float(v) for v in voxel_size_nm_zyx)
    vertices, edges, radii = piece.vertices_nm_xyz, piece.edges, piece.radii_nm
    if trim:
        slack = max(vx * xy_step, vy * xy_step, vz)
        vertices, edges, radii = trim_tips(vertices, edges, radii, piece.volume_border, slack)
    # a sample stands for the xy_step x xy_step block of voxels it starts: place it at its centre
    half = 0.5 * (xy_step - 1)
    block_centre = np.array([half * vx, half * vy, 0.0])
    vertices = smooth(vertices, edges, smooth_nm).astype(np.float64) + block_centre
    return CellSkeleton(vertices, edges, radii)
