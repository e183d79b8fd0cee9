"""Reader for the FIB-25 training sample (Janelia FlyEM, CC-BY 3.0): PNG slices of raw EM and
an HDF5 ground truth of supervoxels with a supervoxel → body map.

The layout (``../shared/data/fib25/training_sample2``): ``grayscale_maps/iso.<z>.png``
(uint8, one file per z) and ``groundtruth.h5.gz`` (gzip of HDF5 with ``stack`` (z, y, x)
int32 supervoxel ids and ``transforms`` (N, 2) supervoxel → body). Neurons are
``lut[stack]`` with ``lut[transforms[:, 0]] = transforms[:, 1]``. Voxels are isotropic 10 nm.

The reader converts the sample once into the input contract (an OME-Zarr container, cached
under ``~/.cache/connectome/converted/``) and opens that, so chunk workers read zarr chunks
rather than re-inflating the HDF5 file.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
from pathlib import Path

import numpy as np

from ingest.volume import InputError, Volume, read_ome_zarr, register_reader

VOXEL_SIZE_NM_ZYX = (10.0, 10.0, 10.0)
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "connectome" / "converted"


def is_fib25(path: Path) -> bool:
    return (path / "grayscale_maps").is_dir() and (path / "groundtruth.h5.gz").exists()


def load_bodies(path: Path) -> np.ndarray:
    """The ground-truth neurons as uint64 body ids, [z, y, x]."""
    import h5py

    with gzip.open(path / "groundtruth.h5.gz") as fh, h5py.File(io.BytesIO(fh.read()), "r") as f:
        stack = np.asarray(f["stack"])
        transforms = np.asarray(f["transforms"], dtype=np.int64)
    if stack.min() < 0:
        raise InputError(f"{path}/groundtruth.h5.gz has negative supervoxel ids")
    lut = np.arange(max(int(stack.max()), int(transforms[:, 0].max())) + 1, dtype=np.uint64)
    lut[transforms[:, 0]] = transforms[:, 1].astype(np.uint64)
    return lut[stack]


def load_raw(path: Path, depth: int) -> np.ndarray:
    """The grayscale slices in z order (file numbers are z), [z, y, x] uint8."""
    from PIL import Image

    files = sorted((path / "grayscale_maps").glob("*.png"),
                   key=lambda p: int(p.stem.split(".")[-1]))  # fmt: skip
    if len(files) != depth:
        raise InputError(f"{path}/grayscale_maps has {len(files)} slices but the ground truth "
                         f"has {depth}; expected one PNG per z")  # fmt: skip
    return np.stack([np.asarray(Image.open(f).convert("L")) for f in files])


def convert(path: Path, out: Path) -> Path:
    """Write the sample as an OME-Zarr container in the input contract (atomically)."""
    import zarr

    bodies = load_bodies(path)
    raw = load_raw(path, bodies.shape[0])
    if raw.shape != bodies.shape:
        raise InputError(f"{path}: raw slices are {raw.shape} but the ground truth is "
                         f"{bodies.shape}; expected the same shape")  # fmt: skip
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    root = zarr.open_group(str(partial), mode="w")

    def multiscales(name: str) -> dict:
        return {"multiscales": [{
            "version": "0.4", "name": name,
            "axes": [{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"],
            "datasets": [{"path": "0", "coordinateTransformations": [
                {"type": "scale", "scale": list(VOXEL_SIZE_NM_ZYX)}]}],
        }]}  # fmt: skip

    root.attrs.update(multiscales("raw"))
    root.create_dataset("0", data=raw, chunks=(64, 128, 128))
    labels = root.create_group("labels")
    labels.attrs["labels"] = ["cells"]
    cells = labels.create_group("cells")
    cells.attrs.update({**multiscales("cells"), "image-label": {"version": "0.4"}})
    cells.create_dataset("0", data=bodies, chunks=(64, 128, 128))
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(partial, out)
    return out


@register_reader("fib25", is_fib25)
def read_fib25(path: Path) -> Volume:
    """Open the FIB-25 sample through its cached OME-Zarr conversion."""
    stamp = "".join(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns};"
                    for p in sorted(path.rglob("*")) if p.is_file())  # fmt: skip
    digest = hashlib.sha1((str(path.resolve()) + stamp).encode()).hexdigest()[:16]
    out = CACHE / f"fib25-{digest}.zarr"
    if not (out / "labels" / "cells" / "0" / ".zarray").exists():
        convert(path, out)
    volume = read_ome_zarr(out)
    volume.format = "fib25"
    return volume
