"""Tiny OME-Zarr volumes written on the fly, with answers known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr


def _multiscales(name: str, scale: list[float]) -> dict:
    return {
        "multiscales": [
            {
                "version": "0.4",
                "name": name,
                "axes": [{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"],
                "datasets": [
                    {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}
                ],
            }
        ]
    }


def write_volume(
    path: Path,
    raw: np.ndarray | None,
    labels: dict[str, np.ndarray],
    voxel_size_nm_zyx: tuple[float, float, float] | None = (20.0, 10.0, 10.0),
) -> Path:
    """Write an NGFF 0.4 container; ``voxel_size_nm_zyx=None`` leaves the scale out."""
    root = zarr.open_group(str(path), mode="w")
    scale = list(voxel_size_nm_zyx) if voxel_size_nm_zyx else None

    def attrs(name: str) -> dict:
        meta = _multiscales(name, scale or [1, 1, 1])
        if scale is None:
            meta["multiscales"][0]["datasets"][0]["coordinateTransformations"] = []
        return meta

    if raw is not None:
        root.attrs.update(attrs("raw"))
        root.create_dataset("0", data=raw, chunks=(16, 64, 64))
    group = root.create_group("labels")
    group.attrs["labels"] = list(labels)
    for name, arr in labels.items():
        g = group.create_group(name)
        g.attrs.update({**attrs(name), "image-label": {"version": "0.4"}})
        g.create_dataset("0", data=arr, chunks=(16, 64, 64))
    return path


def two_cells_with_synapse(shape=(8, 32, 32)) -> dict[str, np.ndarray]:
    """Cell A (left, x < 16) synapses onto cell B (right); one mitochondrion in A.

    The junction straddles the x = 15|16 interface at y 12..19, z 2..5; A holds the vesicle
    cloud, so A is presynaptic. A's mitochondrion occupies x 4..6, y 14..17, z 3..4.
    """
    a_id, b_id = 2**53 + 7, 12
    cells = np.zeros(shape, np.uint64)
    cells[:, :, 1:16] = a_id
    cells[:, :, 16:31] = b_id
    junction = np.zeros(shape, np.uint8)
    junction[2:6, 12:20, 14:18] = 1
    vesicles = np.zeros(shape, np.uint8)
    vesicles[2:6, 13:19, 10:13] = 1
    mito = np.zeros(shape, np.uint8)
    mito[3:5, 14:18, 4:7] = 1
    stype = junction.copy()
    return {
        "cells": cells,
        "mitochondria": mito,
        "vesicle_clouds": vesicles,
        "synaptic_junctions": junction,
        "synapse_type": stype,
    }
