"""Morphology stage: a mesh and a skeleton per cell, made chunk by chunk and stitched per cell.

Memory follows the chunk, not the cells: a neuron that spans the whole volume is never read
whole. The stage runs in two passes over Dask (igneous does the same for its meshes and
skeletons):

1. :func:`morphology_chunk` reads one chunk of the cell layer plus one plane of samples
   beyond its upper faces, meshes every large cell in it in one pass of zmesh
   (:func:`ingest.meshes.mesh_chunk`: open on the chunk's inner faces, whose vertices the
   neighbouring chunk repeats) and skeletonises it: by default it thins the chunk with a
   halo around it and keeps the line samples of the chunk itself
   (:func:`ingest.thinning.thin_chunk`); with the ``"teasar"`` skeletoniser it traces it with
   kimimaro (:func:`ingest.skeletons.trace_cells`: paths end at the centres of the cell's
   cross-sections with the chunk's faces, which the neighbour shares); it saves the pieces as
   ``<chunk>.npz``;
2. :func:`assemble_cells` gathers each cell's pieces, merges the mesh
   (:func:`ingest.meshes.merge_pieces`) and the skeleton
   (:func:`ingest.thinning.assemble_skeleton`, or :func:`ingest.skeletons.join_pieces` then
   trimmed and smoothed), and saves ``<body id>.npz``.

Every file is written under a temporary name and renamed when complete, so a killed run
resumes where it stopped. A per-cell file holds ``mesh_vertices_nm_xyz`` (float32, nm,
``x, y, z``), ``mesh_faces``, ``mesh_area_nm2``, ``mesh_volume_nm3``,
``skeleton_vertices_nm_xyz`` (float32, nm), ``skeleton_edges``, ``skeleton_radii_nm`` and
``cable_length_nm``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ingest.meshes import MeshPiece, merge_pieces, mesh_chunk
from ingest.precomputed.skeleton import Skeleton
from ingest.skeletons import TracedPiece, finish_skeleton, join_pieces, trace_cells
from ingest.thinning import ThinnedPiece, assemble_skeleton, halo_voxels, thin_chunk
from ingest.volume import open_volume

SKELETONIZERS = ("thinning", "teasar")
"""The skeletonisers of the stage: curve thinning (:mod:`ingest.thinning`, the default) and
kimimaro's TEASAR (:mod:`ingest.skeletons`)."""

STATS = ["body_id", "mesh_area_nm2", "mesh_volume_nm3", "cable_length_nm"]


def _stats(body: int, saved: dict[str, Any]) -> tuple[int, float, float, float]:
    return (body, float(saved["mesh_area_nm2"]), float(saved["mesh_volume_nm3"]),
            float(saved["cable_length_nm"]))  # fmt: skip


def _save_atomic(path: Path, arrays: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def read_box(
    start_zyx: tuple[int, int, int],
    stop_zyx: tuple[int, int, int],
    shape_zyx: tuple[int, ...],
    xy_step: int,
    halo_zyx: tuple[int, int, int] = (0, 0, 0),
) -> tuple[slice, slice, slice]:
    """The samples a chunk reads: its core plus one plane of samples beyond each upper face
    (where the volume goes on), every ``xy_step``-th voxel in y and x; with ``halo_zyx``
    (voxels, y and x multiples of ``xy_step``), that much more on every side.

    Examples
    --------
    >>> read_box((0, 0, 512), (64, 512, 1024), (128, 1024, 1024), 2)
    (slice(0, 65, None), slice(0, 514, 2), slice(512, 1024, 2))
    >>> read_box((0, 0, 512), (64, 512, 1024), (128, 1024, 1024), 2, (8, 16, 16))
    (slice(0, 73, None), slice(0, 530, 2), slice(496, 1024, 2))
    """
    z0, y0, x0 = (max(a - h, 0) for a, h in zip(start_zyx, halo_zyx, strict=True))
    z1, y1, x1 = (a + h for a, h in zip(stop_zyx, halo_zyx, strict=True))
    return (
        slice(z0, min(z1 + 1, shape_zyx[0])),
        slice(y0, min(y1 + xy_step, shape_zyx[1]), xy_step),
        slice(x0, min(x1 + xy_step, shape_zyx[2]), xy_step),
    )


def sub_box(outer: tuple[slice, ...], inner: tuple[slice, ...]) -> tuple[slice, ...]:
    """Where the samples of box ``inner`` lie in an array read with box ``outer`` (same
    steps, ``inner`` inside ``outer``).

    Examples
    --------
    >>> outer = read_box((0, 0, 512), (64, 512, 1024), (128, 1024, 1024), 2, (8, 16, 16))
    >>> sub_box(outer, read_box((0, 0, 512), (64, 512, 1024), (128, 1024, 1024), 2))
    (slice(0, 65, None), slice(0, 257, None), slice(8, 264, None))
    """
    out = []
    for o, i in zip(outer, inner, strict=True):
        step = o.step or 1
        first = (i.start - o.start) // step
        out.append(slice(first, first + len(range(i.start, i.stop, step))))
    return tuple(out)


def _compact(raw: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Compact labels ``1..n`` for the bodies ``ids`` (sorted uint64), 0 for the rest."""
    at = np.minimum(np.searchsorted(ids, raw), max(len(ids) - 1, 0))
    return np.where((ids[at] == raw) if len(ids) else False, at + 1, 0).astype(np.uint32)


def morphology_chunk(
    volume_path: str,
    start_zyx: tuple[int, int, int],
    stop_zyx: tuple[int, int, int],
    bodies: np.ndarray,
    out_file: str,
    xy_step: int = 2,
    meshes: bool = True,
    skeletons: bool = True,
    skeletonizer: str = "thinning",
) -> str:
    """Mesh and trace the cells ``bodies`` (uint64 body ids) inside one chunk.

    Writes ``out_file`` (``.npz``): ``bodies`` (the ids with a piece here) and, per body
    ``b``, ``m<b>_v`` and ``m<b>_f`` (mesh piece) and the skeleton piece: with
    ``skeletonizer`` ``"thinning"`` ``t<b>_v``, ``t<b>_r`` and ``t<b>_f`` (line samples,
    radii and face flags, :class:`ingest.thinning.ThinnedPiece`; the chunk is thinned with
    a halo around it), with ``"teasar"`` ``s<b>_v``, ``s<b>_e``, ``s<b>_r``, ``s<b>_b`` and
    ``s<b>_i`` (traced skeleton piece: vertices, edges, radii, volume-border and inner-face
    flags). Returns ``out_file``; an existing file is kept (the chunk was done by an
    earlier run).
    """
    out = Path(out_file)
    if out.exists():
        return out_file
    if skeletonizer not in SKELETONIZERS:
        raise ValueError(f"unknown skeletonizer {skeletonizer!r}; expected one of "
                         f"{', '.join(SKELETONIZERS)}")  # fmt: skip
    volume = open_volume(volume_path, check=False)
    shape = (int(volume.shape_zyx[0]), int(volume.shape_zyx[1]), int(volume.shape_zyx[2]))
    ids = np.unique(np.asarray(bodies, dtype=np.uint64))
    voxel = volume.voxel_size_nm_zyx
    mesh_pieces: dict[int, MeshPiece] = {}
    skel_pieces: dict[int, TracedPiece] = {}
    thin_pieces: dict[int, ThinnedPiece] = {}
    box = read_box(start_zyx, stop_zyx, shape, xy_step)
    offset = (int(box[0].start), int(box[1].start), int(box[2].start))
    thinning = skeletons and skeletonizer == "thinning"
    teasar = skeletons and skeletonizer == "teasar"
    # thinning reads a halo around the chunk, which holds the meshes' box: one read for both
    read = read_box(start_zyx, stop_zyx, shape, xy_step, halo_voxels(voxel, xy_step)) if (
        thinning) else box  # fmt: skip
    compact = _compact(np.asarray(volume.labels["cells"][read]), ids) if (
        meshes or skeletons) else np.zeros((0, 0, 0), np.uint32)  # fmt: skip
    if meshes or teasar:
        core = np.ascontiguousarray(compact[sub_box(read, box)])
        if core.any() and meshes:
            mesh_pieces = mesh_chunk(core, offset, voxel, volume_shape_zyx=shape,
                                     xy_step=xy_step, presampled=True)  # fmt: skip
        if core.any() and teasar:
            # no dust threshold here: a chunk may hold only a sliver of a large cell
            skel_pieces = trace_cells(core, voxel, offset_zyx=offset, volume_shape_zyx=shape,
                                      xy_step=xy_step, dust_threshold_voxels=0,
                                      presampled=True)  # fmt: skip
        del core
    if thinning:
        thin_pieces = thin_chunk(
            compact, voxel, offset_zyx=(read[0].start, read[1].start, read[2].start),
            core_start_zyx=start_zyx, core_stop_zyx=stop_zyx, volume_shape_zyx=shape,
            xy_step=xy_step, presampled=True)  # fmt: skip
    del compact
    arrays: dict[str, Any] = {}
    present = sorted(set(mesh_pieces) | set(skel_pieces) | set(thin_pieces))
    for k in present:
        b = int(ids[k - 1])
        if k in mesh_pieces:
            arrays[f"m{b}_v"] = mesh_pieces[k].vertices_nm_xyz
            arrays[f"m{b}_f"] = mesh_pieces[k].faces
        if k in skel_pieces:
            p = skel_pieces[k]
            arrays.update({f"s{b}_v": p.vertices_nm_xyz, f"s{b}_e": p.edges,
                           f"s{b}_r": p.radii_nm, f"s{b}_b": p.volume_border,
                           f"s{b}_i": p.inner_face})  # fmt: skip
        if k in thin_pieces:
            t = thin_pieces[k]
            arrays.update({f"t{b}_v": t.voxels_zyx.astype(np.int32), f"t{b}_r": t.radii_nm,
                           f"t{b}_f": t.faces})  # fmt: skip
    arrays["bodies"] = np.array([ids[k - 1] for k in present], dtype=np.uint64)
    out.parent.mkdir(parents=True, exist_ok=True)
    _save_atomic(out, arrays)
    return out_file


def chunk_bodies(chunk_files: Iterable[str]) -> dict[int, list[str]]:
    """For each body, the chunk files that hold a piece of it.

    Examples
    --------
    >>> chunk_bodies([])
    {}
    """
    found: dict[int, list[str]] = {}
    for f in chunk_files:
        with np.load(f) as saved:
            for b in saved["bodies"]:
                found.setdefault(int(b), []).append(f)
    return found


def assemble_cells(
    pieces: list[tuple[int, list[str]]],
    out_dir: str,
    voxel_size_nm_zyx: tuple[float, float, float],
    xy_step: int = 2,
    meshes: bool = True,
    skeletons: bool = True,
    volume_shape_zyx: tuple[int, int, int] | None = None,
) -> pd.DataFrame:
    """Stitch each cell's chunk pieces into its mesh and skeleton: one ``<body>.npz`` each.

    ``pieces`` lists ``(body id, chunk files)``. Cells already saved are read back, not
    redone. The skeletoniser is the one the chunks were made with; thinned pieces need the
    volume's shape ``volume_shape_zyx``. Returns the summary numbers (:data:`STATS`) of
    every cell in ``pieces``.
    """
    rows = []
    for body, files in pieces:
        final = Path(out_dir) / f"{body}.npz"
        if final.exists():
            with np.load(final) as saved:
                rows.append(_stats(body, dict(saved)))
            continue
        mesh_parts, skel_parts, thin_parts = [], [], []
        for f in files:
            with np.load(f) as saved:
                if f"m{body}_v" in saved:
                    mesh_parts.append(MeshPiece(saved[f"m{body}_v"], saved[f"m{body}_f"]))
                if f"s{body}_v" in saved:
                    skel_parts.append(TracedPiece(*(saved[f"s{body}_{k}"] for k in "verbi")))
                if f"t{body}_v" in saved:
                    voxels = saved[f"t{body}_v"].astype(np.int64)
                    thin_parts.append(ThinnedPiece(voxels, saved[f"t{body}_r"],
                                                   saved[f"t{body}_f"]))  # fmt: skip
        out: dict[str, Any] = {"mesh_area_nm2": np.float64(np.nan),
                               "mesh_volume_nm3": np.float64(np.nan),
                               "cable_length_nm": np.float64(np.nan)}  # fmt: skip
        if meshes:
            mesh = merge_pieces(mesh_parts)
            out.update(mesh_vertices_nm_xyz=mesh.vertices_nm_xyz, mesh_faces=mesh.faces,
                       mesh_area_nm2=np.float64(mesh.area_nm2),
                       mesh_volume_nm3=np.float64(mesh.volume_nm3))  # fmt: skip
        if skeletons and thin_parts:
            if volume_shape_zyx is None:
                raise ValueError("assemble_cells needs volume_shape_zyx for thinned skeletons")
            thinned = assemble_skeleton(thin_parts, voxel_size_nm_zyx, volume_shape_zyx,
                                        xy_step=xy_step)  # fmt: skip
            if thinned is not None:
                out.update(skeleton_vertices_nm_xyz=thinned.vertices_nm_xyz,
                           skeleton_edges=thinned.edges, skeleton_radii_nm=thinned.radii_nm,
                           cable_length_nm=np.float64(thinned.cable_length_nm))  # fmt: skip
        elif skeletons and skel_parts:
            joined = join_pieces(
                skel_parts,
                snap_nm=1.5
                * max(
                    voxel_size_nm_zyx[0],
                    xy_step * voxel_size_nm_zyx[1],
                    xy_step * voxel_size_nm_zyx[2],
                ),
            )
            if len(joined.edges):
                skel = finish_skeleton(joined, voxel_size_nm_zyx, xy_step=xy_step)
                out.update(skeleton_vertices_nm_xyz=skel.vertices_nm_xyz,
                           skeleton_edges=skel.edges, skeleton_radii_nm=skel.radii_nm,
                           cable_length_nm=np.float64(skel.cable_length_nm))  # fmt: skip
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        _save_atomic(final, out)
        rows.append(_stats(body, out))
    return pd.DataFrame(rows, columns=STATS)


class _SavedMorphology:
    """The bodies of a morphology folder whose ``<body id>.npz`` holds ``member``."""

    member = ""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._paths: dict[int, Path] = {}
        for path in sorted(self.folder.glob("*.npz")):
            if path.stem.isdigit():
                with np.load(path) as saved:  # reads the zip directory, not the arrays
                    if self.member in saved:
                        self._paths[int(path.stem)] = path

    def __iter__(self) -> Iterator[int]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


class SavedMeshes(_SavedMorphology, Mapping[int, tuple[np.ndarray, np.ndarray]]):
    """Meshes ``{body id: (vertices_nm_xyz, faces)}`` of a morphology folder, each read from
    its ``<body id>.npz`` when asked for, one at a time.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> np.savez(folder / "7.npz", mesh_vertices_nm_xyz=np.zeros((3, 3), np.float32),
    ...          mesh_faces=np.array([[0, 1, 2]]))
    >>> meshes = SavedMeshes(folder)
    >>> list(meshes), meshes[7][1].tolist()
    ([7], [[0, 1, 2]])
    """

    member = "mesh_faces"

    def __getitem__(self, body: int) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self._paths[body]) as saved:
            return saved["mesh_vertices_nm_xyz"], saved["mesh_faces"]


class SavedSkeletons(_SavedMorphology, Mapping[int, Skeleton]):
    """Skeletons ``{body id: (vertices_nm_xyz, edges, {"radius", "compartment"})}`` of a
    morphology folder, each read when asked for; the compartment codes come from
    ``<body id>.compartments.npz`` when present, 0 (unknown) otherwise.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> np.savez(folder / "7.npz", skeleton_vertices_nm_xyz=np.zeros((2, 3), np.float32),
    ...          skeleton_edges=np.array([[0, 1]]), skeleton_radii_nm=np.array([5.0, 4.0]))
    >>> _, _, attributes = SavedSkeletons(folder)[7]
    >>> attributes["radius"].tolist(), attributes["compartment"].tolist()
    ([5.0, 4.0], [0, 0])
    """

    member = "skeleton_edges"

    def __getitem__(self, body: int) -> Skeleton:
        path = self._paths[body]
        with np.load(path) as saved:
            radii = saved["skeleton_radii_nm"]
            labels = path.with_name(f"{body}.compartments.npz")
            if labels.exists():
                with np.load(labels) as found:
                    codes = found["skeleton_compartment"]
            else:
                codes = np.zeros(len(radii), np.uint8)
            return (saved["skeleton_vertices_nm_xyz"], saved["skeleton_edges"],
                    {"radius": radii, "compartment": codes})  # fmt: skip


def load_morphology(folder: str | os.PathLike) -> tuple[dict, dict]:
    """Meshes ``{id: (vertices_nm_xyz, faces)}`` and skeletons ``{id: (vertices, edges,
    {"radius": radii, "compartment": codes})}`` saved in ``folder``, all read at once (see
    :class:`SavedMeshes` and :class:`SavedSkeletons` to read them one cell at a time).

    The compartment codes come from ``<body id>.compartments.npz`` (written by
    :mod:`ingest.compartments`) when present; 0 (unknown) otherwise.
    """
    return dict(SavedMeshes(folder)), dict(SavedSkeletons(folder))
