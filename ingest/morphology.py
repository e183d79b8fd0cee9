"""Morphology stage: a mesh and a skeleton per cell, computed on the cell's bounding-box crop
and saved as one ``<body id>.npz`` per cell (written atomically, so a killed run resumes).

Memory per task follows the largest cell's bounding box rather than the chunk size; meshing
chunk by chunk needs stitching and is left for later (see the closing notes of issue 3).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ingest.meshes import mesh_cell
from ingest.skeletons import skeletonize_cells
from ingest.volume import open_volume

STATS = ["body_id", "mesh_area_nm2", "mesh_volume_nm3", "cable_length_nm"]


def _stats(body: int, saved: dict[str, np.ndarray]) -> tuple[int, float, float, float]:
    return (body, float(saved["mesh_area_nm2"]), float(saved["mesh_volume_nm3"]),
            float(saved["cable_length_nm"]))  # fmt: skip


def morphology_batch(
    volume_path: str,
    cells: pd.DataFrame,
    out_dir: str,
    xy_step: int = 2,
    meshes: bool = True,
    skeletons: bool = True,
) -> pd.DataFrame:
    """Mesh and skeletonise each cell of ``cells`` (rows of the neurons table)."""
    volume = open_volume(volume_path, check=False)
    voxel = volume.voxel_size_nm_zyx
    rows = []
    for r in cells.itertuples(index=False):
        body = int(r.body_id)
        final = Path(out_dir) / f"{body}.npz"
        if final.exists():
            with np.load(final) as saved:
                rows.append(_stats(body, dict(saved)))
            continue
        lo = (int(r.bbox_min_z), int(r.bbox_min_y), int(r.bbox_min_x))
        box = tuple(slice(a, int(b)) for a, b in zip(lo, (r.bbox_max_z, r.bbox_max_y,
                                                           r.bbox_max_x), strict=True))  # fmt: skip
        mask = np.asarray(volume.labels["cells"][box]) == np.uint64(body)
        out: dict[str, Any] = {"mesh_area_nm2": np.float64(np.nan),
                                      "mesh_volume_nm3": np.float64(np.nan),
                                      "cable_length_nm": np.float64(np.nan)}  # fmt: skip
        if meshes:
            mesh = mesh_cell(mask, lo, voxel, xy_step=xy_step)
            out.update(mesh_vertices_nm_xyz=mesh.vertices_nm_xyz, mesh_faces=mesh.faces,
                       mesh_area_nm2=np.float64(mesh.area_nm2),
                       mesh_volume_nm3=np.float64(mesh.volume_nm3))  # fmt: skip
        if skeletons:
            found = skeletonize_cells(mask.astype(np.uint32), np.array([0, body], np.uint64),
                                      voxel, xy_step=xy_step)  # fmt: skip
            if body in found:
                skel = found[body]
                shift = (np.array(lo[::-1], np.float64) * np.array(voxel[::-1])).astype(np.float32)
                out.update(skeleton_vertices_nm_xyz=skel.vertices_nm_xyz + shift,
                           skeleton_edges=skel.edges, skeleton_radii_nm=skel.radii_nm,
                           cable_length_nm=np.float64(skel.cable_length_nm))  # fmt: skip
        tmp = final.with_name(f".{final.stem}.partial-{os.getpid()}.npz")
        np.savez(tmp, **out)  # type: ignore[arg-type]
        os.replace(tmp, final)
        rows.append(_stats(body, out))
    return pd.DataFrame(rows, columns=STATS)


def load_morphology(folder: str | os.PathLike) -> tuple[dict, dict]:
    """Meshes ``{id: (vertices_nm_xyz, faces)}`` and skeletons ``{id: (vertices, edges,
    {"radius": radii, "compartment": codes})}`` saved in ``folder``.

    The compartment codes come from ``<body id>.compartments.npz`` (written by
    :mod:`ingest.compartments`) when present; 0 (unknown) otherwise.
    """
    meshes, skeletons = {}, {}
    for path in sorted(Path(folder).glob("*.npz")):
        if not path.stem.isdigit():
            continue
        body = int(path.stem)
        with np.load(path) as saved:
            if "mesh_faces" in saved:
                meshes[body] = (saved["mesh_vertices_nm_xyz"], saved["mesh_faces"])
            if "skeleton_edges" in saved:
                radii = saved["skeleton_radii_nm"]
                labels = path.with_name(f"{body}.compartments.npz")
                if labels.exists():
                    with np.load(labels) as found:
                        codes = found["skeleton_compartment"]
                else:
                    codes = np.zeros(len(radii), np.uint8)
                skeletons[body] = (saved["skeleton_vertices_nm_xyz"], saved["skeleton_edges"],
                                   {"radius": radii, "compartment": codes})  # fmt: skip
    return meshes, skeletons
