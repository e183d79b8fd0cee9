"""Synaptic cleft areas as SyConn2 measures them: half the area of the junction's mesh.

A junction patch (a 26-connected component of the ``synaptic_junctions`` mask) is a thin
slab on both sides of the contact between two cells. SyConn2 meshes each synaptic junction
and takes half of the closed surface's area as the cleft area (its ``mesh_area / 2``), the
area of one face of the slab. That half also holds half of the slab's side wall: for a disc
of radius ``r`` and thickness ``t`` it is ``pi r^2 + pi r t``, so thick junction masks read
large, and small ones most (``t / r`` above the true area). The same definition keeps the
numbers comparable with SyConn2's and with its random-forest feature ``mesh_area``.

Meshes are full-resolution marching cubes (zmesh, no simplification) on each patch's own
voxels, measured by trimesh in nm with the volume's anisotropic voxel size. The pipeline
finds each patch again from its bounding box and one of its voxels (:func:`patch_boxes`,
from the chunk scan's records) and meshes it on a crop of the junction layer
(:func:`mesh_areas`, one batch of patches per task), so memory follows the size of the
patches, and the result does not depend on the chunking: a patch's voxels and its box are
the same whichever chunks it crossed.
"""

from __future__ import annotations

import cc3d
import numpy as np
import pandas as pd
import trimesh
import zmesh

from ingest.organelles import binarize
from ingest.volume import open_volume

AREA_COLUMNS = ["patch", "mesh_area_nm2"]


def mesh_area_nm2(mask_zyx: np.ndarray, voxel_size_nm_zyx: tuple[float, float, float]) -> float:
    """Area in nm² of the closed marching-cubes surface around the True voxels of a crop.

    The crop is padded with one empty voxel on every side, so that the surface closes where
    the object meets the crop's border; the surface runs half-way between the centres of
    the object's voxels and of their outside neighbours (zmesh, full resolution, no
    simplification).

    Parameters
    ----------
    mask_zyx : np.ndarray
        Boolean crop ``[z, y, x]``.
    voxel_size_nm_zyx : tuple of float
        Voxel size in nm, ``(z, y, x)``.

    Returns
    -------
    float
        The surface area; 0.0 for an empty mask.

    Examples
    --------
    A slab of 2 x 10 x 10 voxels of 20 x 10 x 10 nm has faces of 100 x 100 nm, and side
    walls 40 nm high that marching cubes bevels at the edges (a box would have 36,000 nm²):

    >>> slab = np.ones((2, 10, 10), bool)
    >>> round(mesh_area_nm2(slab, (20.0, 10.0, 10.0)))
    32316
    """
    mask = np.asarray(mask_zyx, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"mask_zyx must be a 3-D boolean array [z, y, x], got shape {mask.shape}")
    if not mask.any():
        return 0.0
    mesher = zmesh.Mesher(tuple(float(v) for v in voxel_size_nm_zyx))
    mesher.mesh(np.pad(mask, 1).astype(np.uint8))
    raw = mesher.get(1, normals=False, reduction_factor=0, voxel_centered=False)
    mesher.clear()
    return float(trimesh.Trimesh(raw.vertices, raw.faces, process=False).area)


def label_mesh_areas(
    patches: np.ndarray, voxel_size_nm_zyx: tuple[float, float, float]
) -> pd.Series:
    """Mesh area (nm²) of every label of an in-memory label volume, by label.

    Examples
    --------
    >>> patches = np.zeros((4, 12, 12), np.uint32); patches[1:3, 1:11, 1:11] = 7
    >>> label_mesh_areas(patches, (20.0, 10.0, 10.0)).round().to_dict()
    {7: 32316.0}
    """
    boxes = cc3d.statistics(np.asarray(patches))["bounding_boxes"]
    areas = {
        label: mesh_area_nm2(patches[box] == label, voxel_size_nm_zyx)
        for label, box in enumerate(boxes)
        if label and box is not None and all(s.stop > s.start for s in box)
    }
    return pd.Series(areas, name="mesh_area_nm2", dtype=float)


def patch_boxes(stats: pd.DataFrame, patch_of: pd.Series, patches: np.ndarray) -> pd.DataFrame:
    """Bounding box and one voxel of each unified patch, from the chunk-wise records.

    ``stats`` are the chunk scan's ``synaptic_junctions.stats`` rows (``object``, the
    inclusive box ``min_z`` … ``max_x`` and a ``seed_z, seed_y, seed_x`` voxel of the
    component in the chunk's core), ``patch_of`` maps chunk-wise components to unified
    patches (:func:`ingest.objects.unify`), and ``patches`` selects the patches wanted.
    The box is the union of the chunk-wise boxes; the seed is that of the component with the
    smallest chunk-wise id.

    Examples
    --------
    >>> stats = pd.DataFrame({"object": [5, 9], "min_z": [0, 4], "min_y": [2, 2],
    ...     "min_x": [3, 1], "max_z": [3, 6], "max_y": [8, 5], "max_x": [4, 2],
    ...     "seed_z": [1, 4], "seed_y": [2, 2], "seed_x": [3, 1]})
    >>> patch_boxes(stats, pd.Series({5: 1, 9: 1}), np.array([1])).iloc[0].to_dict()
    {'patch': 1, 'min_z': 0, 'min_y': 2, 'min_x': 1, 'max_z': 6, 'max_y': 8, 'max_x': 4, \
'seed_z': 1, 'seed_y': 2, 'seed_x': 3}
    """
    s = stats.assign(patch=patch_of.reindex(stats["object"]).to_numpy())
    s = s[s["patch"].isin(patches)].sort_values("object")
    g = s.groupby("patch", sort=True)
    out = g.agg(
        **{f"min_{a}": (f"min_{a}", "min") for a in "zyx"},
        **{f"max_{a}": (f"max_{a}", "max") for a in "zyx"},
        **{f"seed_{a}": (f"seed_{a}", "first") for a in "zyx"},
    ).reset_index()
    return out.astype(np.int64)


def mesh_areas(
    volume_path: str, boxes: pd.DataFrame, layer: str = "synaptic_junctions"
) -> pd.DataFrame:
    """Mesh area of each patch of a batch (rows of :func:`patch_boxes`), on crops of the
    junction layer: the crop of the patch's box, binarised as the chunk scan does, keeps the
    26-connected component holding the patch's seed voxel, which is the whole patch and
    nothing else. Returns ``patch, mesh_area_nm2``."""
    volume = open_volume(volume_path, check=False)
    areas = []
    for r in boxes.itertuples(index=False):
        lo = (int(r.min_z), int(r.min_y), int(r.min_x))
        box = tuple(slice(a, int(b) + 1) for a, b in zip(lo, (r.max_z, r.max_y, r.max_x),
                                                         strict=True))  # fmt: skip
        crop = binarize(np.asarray(volume.labels[layer][box]))
        comps = cc3d.connected_components(crop, connectivity=26)
        seed = comps[int(r.seed_z) - lo[0], int(r.seed_y) - lo[1], int(r.seed_x) - lo[2]]
        areas.append(mesh_area_nm2(comps == seed, volume.voxel_size_nm_zyx) if seed else np.nan)
    return pd.DataFrame({"patch": boxes["patch"].to_numpy(np.int64),
                         "mesh_area_nm2": np.asarray(areas, float)})  # fmt: skip
