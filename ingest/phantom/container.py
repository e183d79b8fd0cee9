"""The phantom's container: OME-NGFF 0.4 (zarr v2) arrays plus ``ground_truth.json``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from numcodecs import Blosc, blosc
from numpy.typing import NDArray

from .scene import COMPARTMENT_NAMES

LABEL_NAMES = ("cells", "mitochondria", "vesicle_clouds", "synaptic_junctions", "synapse_type")
CHUNKS_ZYX = (32, 128, 128)


def write_phantom(
    out_path: Path,
    volumes: dict[str, NDArray[Any]],
    truth: dict[str, Any],
    voxel_size_nm_zyx: tuple[float, float, float],
) -> None:
    """Write the container to ``out_path`` all at once or not at all.

    It is built in ``<out_path>.partial-<pid>`` next to ``out_path`` and moved into place with
    :func:`os.replace`; on any failure the partial directory is removed.
    """
    tmp = out_path.parent / f"{out_path.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        _write_container(tmp, volumes, voxel_size_nm_zyx)
        _write_truth(tmp / "ground_truth.json", truth)
        os.replace(tmp, out_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _multiscales(name: str, voxel_size_nm_zyx: tuple[float, float, float]) -> list[dict]:
    return [
        {
            "version": "0.4",
            "name": name,
            "axes": [{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"],
            "datasets": [
                {
                    "path": "0",
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [float(v) for v in voxel_size_nm_zyx]}
                    ],
                }
            ],
        }
    ]


def _write_container(
    path: Path, volumes: dict[str, NDArray[Any]], voxel_size_nm_zyx: tuple[float, float, float]
) -> None:
    # Threaded Blosc stores blocks in completion order; compress in the calling thread so
    # the same arrays always give the same bytes.
    previous = blosc.use_threads
    blosc.use_threads = False
    try:
        _write_arrays(path, volumes, voxel_size_nm_zyx)
    finally:
        blosc.use_threads = previous


def _write_arrays(
    path: Path, volumes: dict[str, NDArray[Any]], voxel_size_nm_zyx: tuple[float, float, float]
) -> None:
    raw = volumes["raw"]
    shape = raw.shape
    chunks = tuple(min(c, s) for c, s in zip(CHUNKS_ZYX, shape, strict=True))
    compressor = Blosc(cname="zstd", clevel=5, shuffle=Blosc.SHUFFLE)

    def create(group: zarr.Group, dtype: Any) -> zarr.Array:
        return group.create_dataset(
            "0",
            shape=shape,
            chunks=chunks,
            dtype=dtype,
            compressor=compressor,
            fill_value=0,
            dimension_separator="/",
        )

    root = zarr.open_group(str(path), mode="w")
    root.attrs["multiscales"] = _multiscales("raw", voxel_size_nm_zyx)
    create(root, np.uint8)[...] = raw
    labels = root.create_group("labels")
    labels.attrs["labels"] = list(LABEL_NAMES)
    for name in LABEL_NAMES:
        grp = labels.create_group(name)
        grp.attrs.update(
            {
                "multiscales": _multiscales(name, voxel_size_nm_zyx),
                "image-label": {"version": "0.4", "source": {"image": "../../"}},
            }
        )
        if name == "cells":
            arr = create(grp, np.uint64)
            lut, index = volumes["cells_lut"], volumes["cells_index"]
            for z0 in range(0, shape[0], chunks[0]):  # uint64 ids straight from the table
                arr[z0 : z0 + chunks[0]] = lut[index[z0 : z0 + chunks[0]]]
        else:
            create(grp, np.uint8)[...] = volumes[name]
    if "truth_compartments" in volumes:  # ground truth, not an input layer
        truth = root.create_group("truth")
        truth.attrs["compartments"] = {str(k): v for k, v in COMPARTMENT_NAMES.items()}
        create(truth.create_group("compartments"), np.uint8)[...] = volumes["truth_compartments"]


def _write_truth(path: Path, truth: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")
