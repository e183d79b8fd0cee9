"""Mesh stage: a closed, simplified surface mesh per cell (zmesh), measured with trimesh.

:func:`mesh_cell` meshes one cell from a boolean crop of the volume, so that it can run per
cell or per chunk; :func:`mesh_cells` loops over all cells of a compact label volume through
their bounding boxes. Vertices are in nm, ``(x, y, z)`` order, in the frame of the volume,
where voxel ``i`` has its centre at ``i * voxel_size_nm``: the surface passes half-way
between the centres of the cell's voxels and of their outside neighbours, so a mesh overlays
the segmentation in a viewer.

Resolution is the main cost (DESIGN.md: 0.3-0.45 MVx/s at full resolution with
simplification, 0.9-1.5 at half x/y resolution). ``xy_step`` ``s`` samples every ``s``-th
voxel in y and x on the volume's own grid (indices that are multiples of ``s``, so that crops
and chunks cut anywhere sample the same voxels); a sample stands for the ``s x s`` block of
voxels it starts and is placed at that block's centre, as a voxel of a downsampled scale is.
"""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import numpy as np
import trimesh
import zmesh

from ingest.sampling import sampled_labels


@dataclass
class CellMesh:
    """One cell's surface: ``vertices_nm_xyz`` (float32, ``(N, 3)``, nm, ``(x, y, z)``),
    ``faces`` (uint32, ``(M, 3)``, counter-clockwise seen from outside), the surface area
    (nm^2), the enclosed volume (nm^3; meaningful when ``watertight``) and whether the surface
    is closed and consistently oriented."""

    vertices_nm_xyz: np.ndarray
    faces: np.ndarray
    area_nm2: float
    volume_nm3: float
    watertight: bool


def _empty_mesh() -> CellMesh:
    return CellMesh(
        vertices_nm_xyz=np.zeros((0, 3), np.float32),
        faces=np.zeros((0, 3), np.uint32),
        area_nm2=0.0,
        volume_nm3=0.0,
        watertight=False,
    )


def mesh_cell(
    mask_zyx: np.ndarray,
    offset_zyx: tuple[int, int, int],
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    xy_step: int = 2,
    reduction_factor: int = 10,
    max_error_nm: float | None = None,
) -> CellMesh:
    """Mesh one cell given as a boolean crop of the volume.

    The crop is sampled every ``xy_step`` voxels in y and x (on the volume's grid), padded
    with one empty voxel on every side so that the surface closes where the cell meets the
    crop or the volume border, meshed by zmesh (marching cubes, then quadric-error
    simplification) and repaired by trimesh (merged vertices, no degenerate or duplicate
    faces, consistent winding with outward normals, small holes filled).

    Parameters
    ----------
    mask_zyx : np.ndarray
        Boolean crop ``[z, y, x]``: True on the cell's voxels.
    offset_zyx : tuple of int
        Index in the volume of the crop's first voxel, ``(z, y, x)``.
    voxel_size_nm_zyx : tuple of float
        Voxel size in nm, ``(z, y, x)``.
    xy_step : int
        Sampling step in y and x: 1 meshes at full resolution; 2 (the default) at half the
        x/y resolution, about 3x faster. At 10 nm voxels the 20 nm grid keeps the thinnest
        neurites (radius 20-35 nm) and the volume of larger cells within a few per cent.
    reduction_factor : int
        zmesh's target ratio of triangles before and after simplification; 0 keeps the
        marching-cubes mesh. Simplification stops earlier wherever a vertex would move more
        than ``max_error_nm``, so the factor is an upper bound.
    max_error_nm : float, optional
        Largest displacement a vertex may get from simplification; default: the largest edge
        of a sampled voxel (20 nm at 20 x 10 x 10 nm voxels and ``xy_step`` 2). One voxel
        keeps the enclosed volume within 1-2 % of the unsimplified mesh's while dropping
        about 90 % of its triangles (a larger ``reduction_factor`` then changes nothing).

    Returns
    -------
    CellMesh
        The surface in nm in the volume's frame; an empty mesh for an empty mask.

    Examples
    --------
    A box of 4 x 6 x 8 voxels of 20 x 10 x 10 nm at voxel (z, y, x) = (2, 5, 11) (384,000
    nm^3; voxel centres at x 110-180, y 50-100, z 40-100 nm) gives a closed mesh on the box's
    faces (x 105-185, y 45-105, z 30-110 nm) whose edges are bevelled by marching cubes:

    >>> mask = np.ones((4, 6, 8), bool)
    >>> m = mesh_cell(mask, (2, 5, 11), (20.0, 10.0, 10.0), xy_step=1)
    >>> m.watertight, round(m.volume_nm3 / 384_000, 3)
    (True, 0.945)
    >>> v = m.vertices_nm_xyz.round(3)
    >>> v.min(axis=0).tolist(), v.max(axis=0).tolist()
    ([105.0, 45.0, 30.0], [185.0, 105.0, 110.0])
    """
    mask = np.asarray(mask_zyx, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"mask_zyx must be a 3-D boolean array [z, y, x], got shape {mask.shape}")
    if xy_step < 1:
        raise ValueError(f"xy_step must be a positive integer, got {xy_step}")
    z0, y0, x0 = (int(o) for o in offset_zyx)
    vz, vy, vx = (float(v) for v in voxel_size_nm_zyx)
    sy, sx = (-y0) % xy_step, (-x0) % xy_step  # first crop index on the volume's grid
    sampled = mask[:, sy::xy_step, sx::xy_step]
    if not sampled.any():
        return _empty_mesh()
    padded = np.pad(sampled, 1).astype(np.uint8)
    resolution_zyx = (vz, vy * xy_step, vx * xy_step)
    # sample j of ``padded`` stands for the block of voxels z0 - 1 + j, y0 + sy + (j - 1) * s
    # ... y0 + sy + j * s - 1 (and likewise in x), whose centre it is placed at
    half = 0.5 * (xy_step - 1)
    origin_nm_zyx = np.array(
        [(z0 - 1) * vz, (y0 + sy - xy_step + half) * vy, (x0 + sx - xy_step + half) * vx],
        dtype=np.float64,
    )
    mesher = zmesh.Mesher(resolution_zyx)
    mesher.mesh(padded)
    raw = mesher.get(
        1,
        normals=False,
        reduction_factor=reduction_factor,
        max_error=max(resolution_zyx) if max_error_nm is None else max_error_nm,
        voxel_centered=False,
    )
    mesher.clear()
    vertices_zyx = np.asarray(raw.vertices, dtype=np.float64) + origin_nm_zyx
    # reversing the axes mirrors the mesh: reverse each face too, to keep normals outward
    faces = np.asarray(raw.faces, dtype=np.int64)[:, ::-1]
    return _repaired(vertices_zyx[:, ::-1], faces)


def _repaired(vertices_nm_xyz: np.ndarray, faces: np.ndarray) -> CellMesh:
    """Merge, clean, orient and measure a mesh with trimesh."""
    tm = trimesh.Trimesh(vertices=vertices_nm_xyz, faces=faces, process=True, validate=True)
    if len(tm.faces) == 0:
        return _empty_mesh()
    if not tm.is_watertight:
        trimesh.repair.fill_holes(tm)
    if not (tm.is_winding_consistent and tm.is_watertight and tm.volume > 0):
        trimesh.repair.fix_normals(tm, multibody=True)  # zmesh's output rarely needs it
    watertight = bool(tm.is_watertight and tm.is_winding_consistent)
    return CellMesh(
        vertices_nm_xyz=np.asarray(tm.vertices, dtype=np.float32),
        faces=np.asarray(tm.faces, dtype=np.uint32),
        area_nm2=float(tm.area),
        volume_nm3=float(tm.volume),
        watertight=watertight,
    )


@dataclass
class MeshPiece:
    """The part of one cell's surface inside one chunk: ``vertices_nm_xyz`` (float64,
    ``(N, 3)``, nm, ``(x, y, z)``, volume frame) and ``faces`` (uint32, ``(M, 3)``, outward).
    Open where the cell crosses a face of the chunk inside the volume."""

    vertices_nm_xyz: np.ndarray
    faces: np.ndarray


def mesh_chunk(
    compact_labels: np.ndarray,
    offset_zyx: tuple[int, int, int],
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    volume_shape_zyx: tuple[int, int, int] | None = None,
    xy_step: int = 2,
    reduction_factor: int = 10,
    max_error_nm: float | None = None,
    presampled: bool = False,
) -> dict[int, MeshPiece]:
    """Mesh every cell of a chunk of compact labels; stitch the chunks with :func:`merge_pieces`.

    The chunk is sampled on the volume's grid as in :func:`mesh_cell` (its y and x offsets
    must be multiples of ``xy_step``) and meshed in one pass by zmesh. Surfaces are closed on
    the faces of the volume (padded with one empty sample, as :func:`mesh_cell` does) and left
    open on the chunk's other faces. Two chunks that share one plane of samples (each reads
    one sample beyond its core on its upper faces) then put the same vertices on that plane,
    and zmesh's simplification keeps the vertices of open borders in place, so the pieces of
    a cell meet edge to edge.

    Parameters
    ----------
    compact_labels : np.ndarray
        Labels ``[z, y, x]`` numbered ``1..n`` (0 = background): the chunk with its overlap.
    offset_zyx : tuple of int
        Index in the volume of the chunk's first voxel, ``(z, y, x)``.
    voxel_size_nm_zyx : tuple of float
        Voxel size in nm, ``(z, y, x)``.
    volume_shape_zyx : tuple of int, optional
        Shape of the volume (default: the chunk is the whole volume).
    xy_step, reduction_factor, max_error_nm
        As for :func:`mesh_cell`.
    presampled : bool
        The array holds only the samples (every ``xy_step``-th voxel in y and x from the
        offset), as a strided read gives them.

    Returns
    -------
    dict of int to MeshPiece
        One piece per compact label present.

    Examples
    --------
    A box of 6 x 8 x 8 voxels cut by a chunk face at z = 3: the two pieces (the chunk below
    reads the plane z = 3 too) merge into one closed mesh, the unchunked one when both are
    left unsimplified (simplified, each chunk drops its own vertices):

    >>> labels = np.zeros((8, 10, 10), np.uint32); labels[1:7, 1:9, 1:9] = 1
    >>> kw = dict(volume_shape_zyx=(8, 10, 10), reduction_factor=0)
    >>> low = mesh_chunk(labels[:4], (0, 0, 0), (20.0, 10.0, 10.0), **kw)
    >>> high = mesh_chunk(labels[3:], (3, 0, 0), (20.0, 10.0, 10.0), **kw)
    >>> m = merge_pieces([low[1], high[1]])
    >>> whole = mesh_cell(labels == 1, (0, 0, 0), (20.0, 10.0, 10.0), reduction_factor=0)
    >>> m.watertight, m.volume_nm3 == whole.volume_nm3, m.area_nm2 == whole.area_nm2
    (True, True, True)
    """
    sampled, (z0, y0, x0) = sampled_labels(compact_labels, offset_zyx, xy_step, presampled)
    shape = tuple(volume_shape_zyx) if volume_shape_zyx is not None else np.shape(compact_labels)
    vz, vy, vx = (float(v) for v in voxel_size_nm_zyx)
    if not sampled.any():
        return {}
    step = (1, xy_step, xy_step)
    start = (z0, y0, x0)
    pad = [(int(a == 0), int(a + n * s > size - 1))
           for a, n, s, size in zip(start, sampled.shape, step, shape, strict=True)]  # fmt: skip
    padded = np.pad(sampled.astype(np.uint32, copy=False), pad)
    resolution_zyx = (vz, vy * xy_step, vx * xy_step)
    half = 0.5 * (xy_step - 1)
    origin_nm_zyx = np.array(
        [(z0 - pad[0][0]) * vz, (y0 - pad[1][0] * xy_step + half) * vy,
         (x0 - pad[2][0] * xy_step + half) * vx],
        dtype=np.float64,
    )  # fmt: skip
    mesher = zmesh.Mesher(resolution_zyx)
    mesher.mesh(padded, close=False)
    out: dict[int, MeshPiece] = {}
    for label in mesher.ids():
        raw = mesher.get(
            label,
            normals=False,
            reduction_factor=reduction_factor,
            max_error=max(resolution_zyx) if max_error_nm is None else max_error_nm,
            voxel_centered=False,
        )
        vertices_zyx = np.asarray(raw.vertices, dtype=np.float64) + origin_nm_zyx
        faces = np.asarray(raw.faces, dtype=np.uint32)[:, ::-1]
        out[int(label)] = MeshPiece(np.ascontiguousarray(vertices_zyx[:, ::-1]),
                                    np.ascontiguousarray(faces))  # fmt: skip
    mesher.clear()
    return out


def merge_pieces(pieces: list[MeshPiece], tolerance_nm: float = 0.01) -> CellMesh:
    """One cell's mesh from its chunk pieces: vertices within ``tolerance_nm`` of each other
    are merged, then the mesh is cleaned, oriented and measured as in :func:`mesh_cell`.

    Examples
    --------
    Two halves of a tetrahedron's surface, each with its own copy of the shared vertices:

    >>> v = np.array([[0.0, 0, 0], [6, 0, 0], [0, 6, 0], [0, 0, 6]])
    >>> a = MeshPiece(v, np.array([[0, 2, 1], [0, 1, 3]], np.uint32))
    >>> b = MeshPiece(v + 1e-4, np.array([[0, 3, 2], [1, 2, 3]], np.uint32))
    >>> m = merge_pieces([a, b])
    >>> len(m.vertices_nm_xyz), m.watertight, round(m.volume_nm3, 3)
    (4, True, 36.0)
    """
    pieces = [p for p in pieces if len(p.faces)]
    if not pieces:
        return _empty_mesh()
    vertices = np.concatenate([p.vertices_nm_xyz for p in pieces])
    base = np.cumsum([0] + [len(p.vertices_nm_xyz) for p in pieces[:-1]])
    faces = np.concatenate(
        [p.faces.astype(np.int64) + b for p, b in zip(pieces, base, strict=True)]
    )
    key = np.rint(vertices / tolerance_nm).astype(np.int64)
    _, first, inverse = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return _repaired(vertices[first], inverse.reshape(-1)[faces])


def mesh_cells(
    compact_labels: np.ndarray,
    ids: np.ndarray,
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    xy_step: int = 2,
    reduction_factor: int = 10,
    max_error_nm: float | None = None,
) -> dict[int, CellMesh]:
    """Mesh every cell of a compact label volume, one bounding-box crop at a time.

    Parameters
    ----------
    compact_labels : np.ndarray
        Cells ``[z, y, x]`` numbered ``1..n`` (0 = background), as from
        :func:`ingest.cells.relabel`.
    ids : np.ndarray
        ``ids[k]`` is the uint64 body id of compact label ``k`` (``ids[0] = 0``).
    voxel_size_nm_zyx : tuple of float
        Voxel size in nm, ``(z, y, x)``.
    xy_step, reduction_factor, max_error_nm
        As for :func:`mesh_cell`.

    Returns
    -------
    dict of int to CellMesh
        One mesh per cell present, keyed by its uint64 body id (as a Python int).

    Examples
    --------
    >>> labels = np.zeros((4, 8, 8), np.uint32); labels[1:3, 2:6, 2:6] = 1
    >>> meshes = mesh_cells(labels, np.array([0, 2**63 + 1], np.uint64), (20.0, 10.0, 10.0))
    >>> list(meshes) == [2**63 + 1], meshes[2**63 + 1].watertight
    (True, True)
    """
    labels = np.asarray(compact_labels)
    if labels.ndim != 3 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"compact_labels must be a 3-D integer array [z, y, x], got {labels.dtype} "
            f"with shape {labels.shape}"
        )
    n = len(ids) - 1
    if n <= 0 or not labels.any():
        return {}
    boxes = cc3d.statistics(labels)["bounding_boxes"]
    out: dict[int, CellMesh] = {}
    for k in range(1, min(n, len(boxes) - 1) + 1):
        box = boxes[k]
        if box is None or any(s.stop <= s.start for s in box):
            continue
        mask = labels[box] == k
        if not mask.any():
            continue
        offset = (box[0].start, box[1].start, box[2].start)
        out[int(ids[k])] = mesh_cell(
            mask,
            offset,
            voxel_size_nm_zyx,
            xy_step=xy_step,
            reduction_factor=reduction_factor,
            max_error_nm=max_error_nm,
        )
    return out
