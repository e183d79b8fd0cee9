"""The chunk scan: one pass over a chunk of the volume, with bounded memory.

The volume is cut into a grid of chunks. A chunk task reads its *core* box plus one voxel
more on each high side (the *halo*, shared with the next chunks' cores), and writes, into a
folder of its own that appears atomically when the task is done:

- ``cells.parquet``: per cell in the core, voxel count, bounding box, and its deepest voxel
  on a coarse grid (depth measured inside the chunk);
- per object layer (mitochondria, vesicle clouds, synaptic junctions): connected components
  of the core-plus-halo array (26-connected), numbered ``chunk << 32 | local``, with their core
  voxel counts, bounding boxes, coordinate sums and overlap with cells, and the labels of their
  halo voxels and low-face core voxels, from which :mod:`ingest.objects` unifies objects that
  cross chunk borders;
- ``faces.parquet``: voxel faces between two cells with a junction voxel on either side, each
  face counted once (by the chunk that holds its lower voxel), keyed by junction component;
- ``junction_cells.parquet`` / ``junction_types.parquet``: junction voxels per (component,
  cell) with coordinate sums, and per (component, synapse type);
- ``<layer>.surface.parquet``: boundary voxels of mitochondria and vesicle clouds (inside the
  chunk) with their component, for nearest-distance questions.

A finished chunk is never computed again, so a killed ingest resumes where it stopped.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from itertools import product
from pathlib import Path

import cc3d
import numpy as np
import pandas as pd
from scipy import ndimage

from ingest.cells import cell_table, relabel
from ingest.organelles import binarize
from ingest.synapses import contact_faces, junction_records
from ingest.volume import Volume, open_volume

OBJECT_LAYERS = ("mitochondria", "vesicle_clouds", "synaptic_junctions")
CHUNK_SHIFT = 32  # object id = chunk index << 32 | local component label


@dataclass(frozen=True)
class ChunkBox:
    """One chunk of the grid: ``index`` (z, y, x) and its core ``start``/``stop`` voxels."""

    index: tuple[int, int, int]
    linear: int
    start: tuple[int, int, int]
    stop: tuple[int, int, int]

    @property
    def id_base(self) -> int:
        """Added to this chunk's component labels to make them unique data-set wide."""
        return self.linear << CHUNK_SHIFT

    @property
    def name(self) -> str:
        return "_".join(str(i) for i in self.index)

    def core(self) -> tuple[slice, slice, slice]:
        return tuple(slice(a, b) for a, b in zip(self.start, self.stop, strict=True))  # type: ignore[return-value]


def chunk_grid(shape_zyx: tuple[int, ...], chunk_zyx: tuple[int, ...]) -> list[ChunkBox]:
    """The chunks covering a volume, in C order.

    Examples
    --------
    >>> [(c.index, c.start, c.stop) for c in chunk_grid((4, 5, 6), (4, 3, 6))]
    [((0, 0, 0), (0, 0, 0), (4, 3, 6)), ((0, 1, 0), (0, 3, 0), (4, 5, 6))]
    """
    counts = [-(-s // c) for s, c in zip(shape_zyx, chunk_zyx, strict=True)]
    boxes = []
    for linear, index in enumerate(product(*(range(n) for n in counts))):
        start = tuple(i * c for i, c in zip(index, chunk_zyx, strict=True))
        stop = tuple(min(a + c, s) for a, c, s in zip(start, chunk_zyx, shape_zyx, strict=True))
        boxes.append(ChunkBox(index, linear, start, stop))  # type: ignore[arg-type]
    return boxes


def _linear(zz: np.ndarray, yy: np.ndarray, xx: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return (zz.astype(np.int64) * shape[1] + yy) * shape[2] + xx


def _objects(
    labels_ext: np.ndarray,
    cells_ext: np.ndarray,
    core_shape: tuple[int, ...],
    box: ChunkBox,
    shape_zyx: tuple[int, ...],
) -> dict[str, pd.DataFrame]:
    """Per-component statistics over core voxels, and the unification records."""
    base = box.id_base
    core = tuple(slice(0, n) for n in core_shape)
    lab = labels_ext[core]
    zz, yy, xx = np.nonzero(lab)
    local = lab[zz, yy, xx].astype(np.int64)
    owner = cells_ext[core][zz, yy, xx]
    off = np.array(box.start, dtype=np.int64)
    gz, gy, gx = zz + off[0], yy + off[1], xx + off[2]
    vox = pd.DataFrame({"object": base + local, "z": gz, "y": gy, "x": gx})
    stats = (
        vox.groupby("object")
        .agg(
            voxels=("z", "size"),
            min_z=("z", "min"),
            min_y=("y", "min"),
            min_x=("x", "min"),
            max_z=("z", "max"),
            max_y=("y", "max"),
            max_x=("x", "max"),
            sum_z=("z", "sum"),
            sum_y=("y", "sum"),
            sum_x=("x", "sum"),
        )
        .reset_index()
    )
    # a voxel of each object (its first in scan order), to find it again in a crop
    seeds = vox.drop_duplicates("object").set_index("object").reindex(stats["object"])
    stats[["seed_z", "seed_y", "seed_x"]] = seeds[["z", "y", "x"]].to_numpy()
    overlap = (
        pd.DataFrame({"object": base + local, "body_id": owner.astype(np.uint64)})
        .value_counts()
        .rename("voxels")
        .reset_index()
    )
    # unification: labels of halo voxels, and of core voxels on the low faces
    halo = labels_ext.copy()
    halo[core] = 0
    hz, hy, hx = np.nonzero(halo)
    halo_rec = pd.DataFrame(
        {
            "voxel": _linear(hz + off[0], hy + off[1], hx + off[2], shape_zyx),
            "object": base + halo[hz, hy, hx].astype(np.int64),
        }
    )
    low = (zz == 0) | (yy == 0) | (xx == 0)
    low_rec = pd.DataFrame(
        {"voxel": _linear(gz[low], gy[low], gx[low], shape_zyx), "object": base + local[low]}
    )
    return {"stats": stats, "overlap": overlap, "halo": halo_rec, "low": low_rec}


def _surface(mask: np.ndarray) -> np.ndarray:
    return mask & ~ndimage.binary_erosion(mask, structure=ndimage.generate_binary_structure(3, 1))


def scan_chunk(
    volume: Volume | str, box: ChunkBox, out_dir: str | os.PathLike, step_nm: float = 40.0
) -> str:
    """Scan one chunk and write its records to ``out_dir/<chunk name>/`` (atomically).

    Returns the folder; does nothing when it exists already (a finished chunk).
    """
    final = Path(out_dir) / box.name
    if final.exists():
        return str(final)
    vol = open_volume(volume, check=False) if isinstance(volume, str | os.PathLike) else volume
    shape = vol.shape_zyx
    ext_stop = tuple(min(b + 1, s) for b, s in zip(box.stop, shape, strict=True))
    ext = tuple(slice(a, b) for a, b in zip(box.start, ext_stop, strict=True))
    core_shape = tuple(b - a for a, b in zip(box.start, box.stop, strict=True))
    core = tuple(slice(0, n) for n in core_shape)

    cells_ext = np.asarray(vol.labels["cells"][ext]).astype(np.uint64, copy=False)
    tables: dict[str, pd.DataFrame] = {
        "cells": cell_table(relabel(cells_ext[core]), vol.voxel_size_nm_zyx, step_nm, box.start)
    }
    labels: dict[str, np.ndarray] = {}
    for layer in OBJECT_LAYERS:
        if not vol.has(layer):
            continue
        mask = binarize(np.asarray(vol.labels[layer][ext]))
        labels[layer] = cc3d.connected_components(mask, connectivity=26, out_dtype=np.uint32)
        for name, frame in _objects(labels[layer], cells_ext, core_shape, box, shape).items():
            tables[f"{layer}.{name}"] = frame

    junctions = labels.get("synaptic_junctions")
    if junctions is not None:
        faces = contact_faces(cells_ext, junctions, vol.voxel_size_nm_zyx, core_shape=core_shape)
        faces["patch"] = faces["patch"].astype(np.int64) + box.id_base
        tables["faces"] = faces
        stype = (np.asarray(vol.labels["synapse_type"][box.core()])
                 if vol.has("synapse_type") else None)  # fmt: skip
        tables["junction_cells"], tables["junction_types"] = junction_records(
            junctions[core], cells_ext[core], stype, box.start, box.id_base
        )
    for layer in ("mitochondria", "vesicle_clouds"):
        if layer in labels:
            lab = labels[layer][core]
            sz, sy, sx = np.nonzero(_surface(lab > 0))
            tables[f"{layer}.surface"] = pd.DataFrame(
                {
                    "object": box.id_base + lab[sz, sy, sx].astype(np.int64),
                    "z": sz + box.start[0],
                    "y": sy + box.start[1],
                    "x": sx + box.start[2],
                }
            )

    partial = final.with_name(f".{final.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, frame in tables.items():
        frame.reset_index(drop=True).to_parquet(partial / f"{name}.parquet", index=False)
    try:
        os.replace(partial, final)
    except OSError:  # another worker finished the same chunk first
        shutil.rmtree(partial, ignore_errors=True)
    return str(final)


def read_records(chunk_dirs: list[str], name: str) -> pd.DataFrame:
    """Concatenate one record table over chunks (empty frame when no chunk has it)."""
    frames = [pd.read_parquet(p) for d in chunk_dirs if (p := Path(d) / f"{name}.parquet").exists()]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
