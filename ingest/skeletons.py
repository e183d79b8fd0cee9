"""Skeleton stage: a centre-line skeleton with radii per cell, traced with kimimaro (TEASAR).

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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import kimimaro
import numpy as np


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
    kept = np.flatnonzero(~drop)
    new_index = np.full(n, -1, dtype=np.int64)
    new_index[kept] = np.arange(len(kept))
    e2 = new_index[e]
    e2 = e2[(e2 >= 0).all(axis=1)]
    return (
        np.asarray(vertices_nm_xyz)[kept],
        e2.astype(np.asarray(edges).dtype, copy=False),
        np.asarray(radii_nm)[kept],
    )


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
    labels = np.asarray(compact_labels)
    if labels.ndim != 3 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"compact_labels must be a 3-D integer array [z, y, x], got {labels.dtype} "
            f"with shape {labels.shape}"
        )
    if xy_step < 1:
        raise ValueError(f"xy_step must be a positive integer, got {xy_step}")
    vz, vy, vx = (float(v) for v in voxel_size_nm_zyx)
    sampled = labels[:, ::xy_step, ::xy_step]
    anisotropy_xyz = (vx * xy_step, vy * xy_step, vz)
    if sampled.size == 0 or not sampled.any():
        return {}
    traced = kimimaro.skeletonize(
        sampled.T,  # kimimaro's arrays are [x, y, z]; the transpose is a view
        teasar_params=teasar.as_kimimaro(),
        anisotropy=anisotropy_xyz,
        dust_threshold=math.ceil(dust_threshold_voxels / xy_step**2),
        progress=False,
        fix_branching=fix_branching,
        fix_borders=True,
        fill_holes=fill_holes,
        parallel=parallel,
    )
    last_xyz = np.array(sampled.shape[::-1]) - 1
    # a sample stands for the xy_step x xy_step block of voxels it starts: place it at its centre
    half = 0.5 * (xy_step - 1)
    block_centre = np.array([half * vx, half * vy, 0.0], dtype=np.float32)
    out: dict[int, CellSkeleton] = {}
    for label, skel in sorted(traced.items()):
        vertices = np.asarray(skel.vertices, dtype=np.float32)
        edges = np.asarray(skel.edges, dtype=np.int64)
        radii = np.asarray(skel.radius, dtype=np.float32)
        if trim:
            index = np.rint(vertices / np.array(anisotropy_xyz, np.float32)).astype(np.int64)
            on_border = np.any((index <= 0) | (index >= last_xyz), axis=1)
            slack = max(anisotropy_xyz)
            vertices, edges, radii = trim_tips(vertices, edges, radii, on_border, slack)
        vertices = smooth(vertices, edges, smooth_nm) + block_centre
        out[int(ids[int(label)])] = CellSkeleton(vertices, edges, radii)
    return out
