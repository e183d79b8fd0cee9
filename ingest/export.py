"""Neuroglancer precomputed files for an ingested data set: the raw image, the cell
segmentation with meshes and skeletons, and annotation layers for synapses and
mitochondria, written from the volume and the Parquet tables of ``connectome ingest``.

Memory is bounded by blocks and cells, not by the data set: the image and the cells are read
from the volume's zarr arrays a block of chunks at a time (:mod:`ingest.precomputed.volume`),
and each cell's mesh and skeleton is read from ``<tables>/morphology/<body id>.npz`` only while
it is written (:class:`ingest.morphology.SavedMeshes` and ``SavedSkeletons``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graph import tables
from ingest.morphology import SavedMeshes, SavedSkeletons
from ingest.precomputed import Annotations, write_dataset
from ingest.volume import Volume, open_volume


def synapse_annotations(synapses: Any) -> Annotations:
    """Synapses as point annotations at the junction centroid, related to both cells."""
    code = {"asymmetric": 1, "symmetric": 2}
    return Annotations(
        kind="synapse",
        points_xyz_vx=synapses[["x", "y", "z"]].to_numpy(np.float32),
        ids=synapses["synapse_id"].to_numpy(np.uint64),
        properties={
            "confidence": synapses["confidence"].to_numpy(np.float32),
            "area_nm2": synapses["area_nm2"].to_numpy(np.float32),
            "synapse_type": np.array(
                [code.get(t, 0) for t in synapses["synapse_type"]], np.uint8
            ),  # fmt: skip
        },
        relationships={
            "pre_synaptic_cell": synapses["pre_body_id"].to_numpy(np.uint64),
            "post_synaptic_cell": synapses["post_body_id"].to_numpy(np.uint64),
        },
    )


def organelle_annotations(
    elements: Any, kind: str, voxel_size_nm_zyx: tuple[float, float, float]
) -> Annotations:
    """Organelles of one ``kind`` as points at their centroid, related to their cell."""
    rows = elements[elements["type"] == kind]
    return Annotations(
        kind=kind,
        points_xyz_vx=rows[["x", "y", "z"]].to_numpy(np.float32),
        ids=rows["element_id"].to_numpy(np.uint64),
        properties={"volume_nm3": (rows["voxels"].to_numpy(np.float64)
                                   * float(np.prod(voxel_size_nm_zyx))).astype(np.float32)},
        relationships={"cell": rows["body_id"].to_numpy(np.uint64)},
    )  # fmt: skip


def volume_key(volume: Volume) -> str:
    """What the image and cells files depend on: the volume's path, shape, and each layer's
    dtype and folder modification time (zarr writes a chunk by renaming, which changes it).

    Examples
    --------
    >>> key = json.loads(volume_key(Volume(Path("/v.zarr"), (40, 8, 8), (2, 4, 4), None)))
    >>> key["shape"], key["layers"]
    ([2, 4, 4], {})
    """
    layers = volume.stamps(("raw", "cells"))
    return json.dumps({"path": str(Path(volume.path).resolve()), "shape": list(volume.shape_zyx),
                       "layers": layers}, sort_keys=True)  # fmt: skip


def export_precomputed(
    tables_dir: str | os.PathLike,
    out_root: str | os.PathLike,
    *,
    meshes: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None,
    skeletons: Mapping[int, Any] | None = None,
    resume: bool = True,
) -> Path:
    """Write ``out_root/<dataset>/`` for the data set whose tables are in ``tables_dir``.

    The volume is the one the tables were made from (``meta.json``'s ``source``); its image
    and cells are streamed block by block, and the meshes and skeletons saved in
    ``tables_dir/morphology`` are read one cell at a time (unless ``meshes`` or ``skeletons``
    are given), so memory does not grow with the data set. With ``resume`` an export that was
    killed (or failed) leaves its hidden ``.<dataset>.partial-<key>`` behind, and the next one
    from the same volume goes on where it stopped: the image and cell chunks already written
    are kept (see :func:`ingest.precomputed.write_dataset`).
    """
    meta = tables.read_meta(tables_dir)
    volume = open_volume(meta["source"])
    voxel = volume.voxel_size_nm_zyx
    synapses = tables.read_table(tables_dir, "synapses")
    elements = tables.read_table(tables_dir, "elements")
    annotations = {"synapses": synapse_annotations(synapses)}
    folder = Path(tables_dir) / "morphology"
    if meshes is None and skeletons is None and folder.exists():
        meshes, skeletons = SavedMeshes(folder), SavedSkeletons(folder)
    if (elements["type"] == "mitochondrion").any():
        annotations["mitochondria"] = organelle_annotations(elements, "mitochondrion", voxel)
    return write_dataset(
        Path(out_root) / meta["dataset"],
        voxel_size_nm_zyx=voxel,
        raw_zyx=volume.raw,  # zarr arrays, read a block at a time
        labels_zyx=volume.labels["cells"],
        meshes=meshes,
        skeletons=skeletons,
        annotations=annotations,
        resume_key=volume_key(volume) if resume else None,
    )
