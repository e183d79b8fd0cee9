"""Memory stays bounded by the chunk size: a volume larger than the memory limit given to the
dask.distributed worker still completes, with the right answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import zarr

from graph import tables
from ingest.pipeline import run_stages
from ingest.settings import IngestSettings
from ingest.volume import open_volume

SHAPE = (64, 1024, 1024)  # cells alone: 512 MiB as uint64
BOX = (32, 128, 128)  # one cell per box; one mitochondrion cube in each


def _write_boxes(path: Path) -> int:
    """Cells tiling the volume in boxes, written slab by slab (never whole in memory)."""
    root = zarr.open_group(str(path), mode="w")
    meta = {"multiscales": [{"version": "0.4", "name": "x",
                             "axes": [{"name": a, "type": "space", "unit": "nanometer"}
                                      for a in "zyx"],
                             "datasets": [{"path": "0", "coordinateTransformations": [
                                 {"type": "scale", "scale": [20, 10, 10]}]}]}]}  # fmt: skip
    labels = root.create_group("labels")
    labels.attrs["labels"] = ["cells", "mitochondria"]
    arrays = {}
    for name, dtype in (("cells", np.uint64), ("mitochondria", np.uint8)):
        g = labels.create_group(name)
        g.attrs.update(meta)
        arrays[name] = g.create_dataset("0", shape=SHAPE, chunks=(32, 256, 256), dtype=dtype)
    by, bx = SHAPE[1] // BOX[1], SHAPE[2] // BOX[2]
    yy, xx = np.meshgrid(np.arange(SHAPE[1]) // BOX[1], np.arange(SHAPE[2]) // BOX[2],
                         indexing="ij")  # fmt: skip
    ly, lx = np.meshgrid(np.arange(SHAPE[1]) % BOX[1], np.arange(SHAPE[2]) % BOX[2],
                         indexing="ij")  # fmt: skip
    for z0 in range(0, SHAPE[0], BOX[0]):
        k = (z0 // BOX[0]) * by * bx + yy * bx + xx
        cells = np.broadcast_to((np.uint64(2**40) + k.astype(np.uint64) * np.uint64(7919)),
                                (BOX[0], *SHAPE[1:]))  # fmt: skip
        arrays["cells"][z0 : z0 + BOX[0]] = cells
        mito = np.zeros((BOX[0], *SHAPE[1:]), np.uint8)
        mito[10:20] = (ly >= 40) & (ly < 60) & (lx >= 40) & (lx < 60)
        arrays["mitochondria"][z0 : z0 + BOX[0]] = mito
    return (SHAPE[0] // BOX[0]) * by * bx


def test_a_volume_larger_than_the_worker_memory_limit_completes(tmp_path):
    from dask.distributed import LocalCluster

    n_cells = _write_boxes(tmp_path / "big.zarr")
    volume = open_volume(tmp_path / "big.zarr")
    assert np.prod(SHAPE) * 8 > 450 * 2**20  # the cells layer alone exceeds the limit
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, memory_limit="450MiB",
                      dashboard_address=None) as cluster:  # fmt: skip
        out = run_stages(
            volume,
            "big",
            IngestSettings(
                data_dir=tmp_path / "data",
                chunk_zyx=(32, 256, 256),
                scheduler=cluster.scheduler_address,
            ),
            progress=False,
            echo=lambda *_: None,
        )
    neurons = tables.read_table(out, "neurons")
    assert len(neurons) == n_cells
    assert set(neurons["voxels"]) == {int(np.prod(BOX))}
    elements = tables.read_table(out, "elements")
    assert len(elements) == n_cells and set(elements["voxels"]) == {10 * 20 * 20}
