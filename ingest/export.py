"""Neuroglancer precomputed files for an ingested data set: the raw image, the cell
segmentation with meshes and skeletons, and annotation layers for synapses and
mitochondria, written from the volume and the Parquet tables of ``connectome ingest``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graph import tables
from ingest.morphology import load_morphology
from ingest.precomputed import Annotations, write_dataset
from ingest.volume import open_volume


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


def export_precomputed(
    tables_dir: str | os.PathLike,
    out_root: str | os.PathLike,
    *,
    meshes: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None,
    skeletons: Mapping[int, Any] | None = None,
) -> Path:
    """Write ``out_root/<dataset>/`` for the data set whose tables are in ``tables_dir``.

    The volume is the one the tables were made from (``meta.json``'s ``source``).
    """
    meta = tables.read_meta(tables_dir)
    volume = open_volume(meta["source"])
    voxel = volume.voxel_size_nm_zyx
    synapses = tables.read_table(tables_dir, "synapses")
    elements = tables.read_table(tables_dir, "elements")
    annotations = {"synapses": synapse_annotations(synapses)}
    if meshes is None and skeletons is None and (Path(tables_dir) / "morphology").exists():
        meshes, skeletons = load_morphology(Path(tables_dir) / "morphology")
    if (elements["type"] == "mitochondrion").any():
        annotations["mitochondria"] = organelle_annotations(elements, "mitochondrion", voxel)
    return write_dataset(
        Path(out_root) / meta["dataset"],
        voxel_size_nm_zyx=voxel,
        raw_zyx=np.asarray(volume.raw[...]) if volume.raw is not None else None,
        labels_zyx=np.asarray(volume.labels["cells"][...]).astype(np.uint64, copy=False),
        meshes=meshes,
        skeletons=skeletons,
        annotations=annotations,
    )
