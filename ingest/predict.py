"""Raw-only ingest: a container with only the raw image gets its label layers predicted.

:func:`prepare` is what ``connectome ingest PATH`` calls first. When ``PATH`` is an OME-Zarr
container with a raw image and no ``labels/cells``, it

1. predicts the five voxel classes with the shipped 3D U-Net (``models/weights/unet3d.pt``)
   through the chunked inference of :func:`models.inference.predict_volume` (``views`` > 1
   averages that many mirrored and transposed views: slower, more accurate);
2. segments the cells (:func:`models.segmentation.segment`) from a boundary map: the membrane
   probability, raised to ``1 - p(inside any cell)`` where the net sees no cell at all, so that
   cells do not run into each other through extracellular space; voxels that the net puts in
   no class are background (0);
3. writes a complete input-contract container (raw image copied, ``labels/cells`` uint64,
   ``labels/mitochondria``, ``labels/vesicle_clouds`` and ``labels/synaptic_junctions`` as
   uint8 probability maps, probability x 255, values below 2 written as 0 so that
   :func:`ingest.organelles.binarize` reads every chunk as a probability map) under
   ``<data_dir>/predicted/``, built in a temporary folder and moved into place with
   :func:`os.replace`.

The result is cached by the raw image's stamp, the weight file, the views and the settings,
so a rerun opens the finished container at once; the normal pipeline then runs on it. The
cell segmentation holds the whole volume in memory (the prediction itself is chunked).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

import models
from ingest.volume import InputError, _read_attrs, _scale_of, is_raw_only
from models.segmentation import SegmentationConfig, segment

DEFAULT_WEIGHTS = Path(models.__file__).resolve().parent / "weights" / "unet3d.pt"
PREDICTED_LAYERS = {  # label layer -> class of the net
    "mitochondria": "mitochondria",
    "vesicle_clouds": "vesicle_cloud",
    "synaptic_junctions": "synaptic_junction",
}
CHUNKS_ZYX = (32, 128, 128)
VERSION = 1  # bump when the predicted container changes, so old caches are not reused


def segmentation_config(voxel_size_nm_zyx: tuple[float, float, float]) -> SegmentationConfig:
    """The watershed and agglomeration settings of raw-only ingest, for this voxel size.

    The merge threshold was chosen on phantom seed 555 (32 x 192 x 192; not the test's or the
    benchmark's phantom): 0.8 kept all 17 planted synapses apart (0.9 fused one pair) with
    the fewest extra synapses from cells split in pieces (22 found; 42 at 0.5).

    Examples
    --------
    >>> segmentation_config((20.0, 10.0, 10.0)).sampling
    (20.0, 10.0, 10.0)
    """
    return SegmentationConfig(
        seed_threshold=0.5, seed_radius=3.0, merge_threshold=0.8, min_size=200,
        sampling=tuple(voxel_size_nm_zyx),
    )  # fmt: skip


def prepare(
    path: str | os.PathLike,
    data_dir: Path,
    *,
    weights: Path = DEFAULT_WEIGHTS,
    views: int = 1,
    progress: bool = True,
    echo: Any = print,
) -> Path:
    """The container to ingest for ``path``: ``path`` itself unless it holds only a raw image,
    else its predicted container (made once, then taken from the cache).

    Raises
    ------
    ingest.volume.InputError
        If ``path`` is raw-only and ``weights`` does not exist.
    """
    p = Path(path)
    if not is_raw_only(p):
        return p
    if not Path(weights).is_file():
        raise InputError(
            f"{p} has only the raw image (no labels/cells) and no model is available to "
            f"predict its layers: {weights} is missing (`connectome train unet3d` makes it)"
        )
    key = _key(p, weights, views)
    out = Path(data_dir) / "predicted" / f"{p.name.removesuffix('.zarr')}-{key}.zarr"
    if (out / ".complete").exists():
        echo(f"{p} has only the raw image: using its predicted layers in {out}")
        return out
    echo(f"{p} has only the raw image: predicting its layers with {weights} into {out}")
    predict_container(p, out, weights=weights, views=views, progress=progress)
    return out


def _key(path: Path, weights: Path, views: int) -> str:
    """What the predicted container depends on: the raw image, the weights, the views, these
    settings."""
    attrs = _read_attrs(path)
    raw_dir = path / _scale_of(attrs, path)[0]
    stamp = [str(path.resolve()), raw_dir.stat().st_mtime_ns if raw_dir.exists() else 0,
             attrs, weights.stat().st_size, weights.stat().st_mtime_ns, VERSION,
             asdict(segmentation_config((1.0, 1.0, 1.0)))]  # fmt: skip
    if views != 1:  # so the one-view containers made before views existed stay valid
        stamp.append({"views": views})
    return hashlib.sha1(json.dumps(stamp, sort_keys=True, default=str).encode()).hexdigest()[:16]


def predict_container(
    path: Path,
    out: Path,
    *,
    weights: Path = DEFAULT_WEIGHTS,
    views: int = 1,
    progress: bool = True,
) -> Path:
    """Predict every label layer of the raw-only container ``path`` into ``out`` (atomically).

    Examples
    --------
    >>> import tempfile
    >>> predict_container(Path(tempfile.mkdtemp()), Path("/tmp/x.zarr"))
    Traceback (most recent call last):
    ...
    ingest.volume.InputError: ... has no OME-NGFF 'multiscales' metadata; ...
    """
    import zarr

    from models.inference import predict_volume
    from models.unet import load_checkpoint

    sub, voxel = _scale_of(_read_attrs(path), path)
    raw = zarr.open(str(path), mode="r")[sub]
    if raw.ndim != 3 or np.dtype(raw.dtype) != np.uint8:
        raise InputError(f"{path}: the raw image is {raw.dtype} with {raw.ndim} dimensions; "
                         "expected uint8 (z, y, x) to predict its layers from")  # fmt: skip
    model, config, _ = load_checkpoint(weights)
    classes = list(config.classes)
    missing = {"membrane", *PREDICTED_LAYERS.values()} - set(classes)
    if missing:
        raise InputError(f"{weights} predicts {classes}; raw-only ingest needs {sorted(missing)}")
    shape = tuple(int(s) for s in raw.shape)
    chunks = tuple(min(c, s) for c, s in zip(CHUNKS_ZYX, shape, strict=True))
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        root = zarr.open_group(str(tmp), mode="w")
        root.attrs["multiscales"] = _multiscales("raw", voxel)
        copy = root.create_dataset("0", shape=shape, chunks=chunks, dtype=np.uint8)
        for z in range(0, shape[0], chunks[0]):
            copy[z : z + chunks[0]] = raw[z : z + chunks[0]]
        prob = zarr.open(str(tmp / "probabilities"), mode="w", shape=(len(classes), *shape),
                         chunks=(len(classes), *chunks), dtype="u1")  # fmt: skip
        predict_volume(model, copy, prob, views=views, progress=progress)
        labels = root.create_group("labels")
        labels.attrs["labels"] = ["cells", *PREDICTED_LAYERS]
        for layer, name in PREDICTED_LAYERS.items():
            values = prob[classes.index(name)]
            values[values < 2] = 0
            _label(labels, layer, voxel, shape, chunks)[...] = values
        _label(labels, "cells", voxel, shape, chunks, np.uint64)[...] = cells_from(
            prob[...], classes, voxel
        )
        del prob
        shutil.rmtree(tmp / "probabilities")
        (tmp / ".complete").write_text(json.dumps({"weights": str(weights)}) + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def cells_from(
    prob: np.ndarray, classes: list[str], voxel_size_nm_zyx: tuple[float, float, float]
) -> np.ndarray:
    """Cell instances (uint64, 0 = background) from the net's uint8 class probabilities.

    Examples
    --------
    Two cells side by side with a membrane between them, and background on the right:

    >>> classes = ["cytosol", "membrane"]
    >>> p = np.zeros((2, 1, 20, 60), np.uint8)
    >>> p[0, :, :, :50] = 255; p[0, :, :, 24:26] = 0; p[1, :, :, 24:26] = 255
    >>> cells = cells_from(p, classes, (10.0, 10.0, 10.0))[0, 0]
    >>> len(set(cells[:24].tolist())), bool(cells[0] != cells[40]), int(cells[55])
    (1, True, 0)
    """
    scale = np.float32(1.0 / 255.0)
    membrane = prob[classes.index("membrane")].astype(np.float32) * scale
    in_cell = prob.max(axis=0).astype(np.float32) * scale
    boundary = np.maximum(membrane, 1.0 - in_cell)
    cells = segment(boundary, segmentation_config(voxel_size_nm_zyx))
    cells[in_cell < 0.5] = 0
    return cells


def _multiscales(name: str, voxel_size_nm_zyx: tuple[float, float, float]) -> list[dict]:
    return [{"version": "0.4", "name": name,
             "axes": [{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"],
             "datasets": [{"path": "0", "coordinateTransformations": [
                 {"type": "scale", "scale": [float(v) for v in voxel_size_nm_zyx]}]}]}]  # fmt: skip


def _label(labels: Any, name: str, voxel: tuple[float, float, float], shape: tuple[int, ...],
           chunks: tuple[int, ...], dtype: Any = np.uint8) -> Any:  # fmt: skip
    group = labels.create_group(name)
    group.attrs["multiscales"] = _multiscales(name, voxel)
    group.attrs["image-label"] = {"version": "0.4", "source": {"image": "../../"}}
    return group.create_dataset("0", shape=shape, chunks=chunks, dtype=dtype)
