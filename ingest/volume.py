"""Volume readers: the input contract of DESIGN.md, behind a registry of formats.

A reader turns a path into a :class:`Volume` (lazy arrays indexed ``[z, y, x]`` plus the voxel
size) after checking the contract, so that every later stage can trust its input. Problems
the user can fix raise :class:`InputError` with one sentence naming the input.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

LABEL_LAYERS = (
    "cells",
    "mitochondria",
    "vesicle_clouds",
    "synaptic_junctions",
    "synapse_type",
    "myelin",
)
OPTIONAL_LAYERS = LABEL_LAYERS[1:]


class InputError(ValueError):
    """Input that does not follow the contract; the message is one sentence for the user."""


@dataclass
class Volume:
    """A data set to ingest: lazily read arrays in ``[z, y, x]`` order and their voxel size."""

    path: Path
    voxel_size_nm_zyx: tuple[float, float, float]
    shape_zyx: tuple[int, int, int]
    raw: Any | None
    labels: dict[str, Any] = field(default_factory=dict)
    format: str = "ome-zarr"

    @property
    def voxel_size_nm_xyz(self) -> tuple[float, float, float]:
        return self.voxel_size_nm_zyx[::-1]

    def has(self, layer: str) -> bool:
        return layer in self.labels

    def stamps(self, names: tuple[str, ...] | None = None) -> dict[str, list[Any]]:
        """What results cached from the layers depend on: each layer's dtype and the
        modification time of its folder (zarr writes a chunk by renaming into it); ``raw``
        names the image. All label layers when ``names`` is None; absent ones are left out.

        Examples
        --------
        >>> Volume(Path("/v.zarr"), (40.0, 8.0, 8.0), (2, 4, 4), None).stamps()
        {}
        """
        arrays = {"raw": self.raw, **self.labels}
        stamps = {}
        for name in sorted(self.labels) if names is None else names:
            arr = arrays.get(name)
            if arr is None:
                continue
            store = getattr(getattr(arr, "store", None), "path", None)
            folder = Path(store) / arr.path if store else None
            when = folder.stat().st_mtime_ns if folder is not None and folder.exists() else 0
            stamps[name] = [str(arr.dtype), when]
        return stamps


Reader = Callable[[Path], Volume]
_READERS: list[tuple[str, Callable[[Path], bool], Reader]] = []


def register_reader(name: str, accepts: Callable[[Path], bool]) -> Callable[[Reader], Reader]:
    """Register a reader for paths that ``accepts`` recognises (first match wins)."""

    def wrap(reader: Reader) -> Reader:
        _READERS.append((name, accepts, reader))
        return reader

    return wrap


def _load_readers() -> None:
    """Import the modules that register further readers (kept out of import time)."""
    import ingest.fib25  # noqa: F401


def open_volume(path: str | os.PathLike, check: bool = True) -> Volume:
    """Open ``path`` with the first reader that recognises it and check the contract.

    Examples
    --------
    >>> open_volume("/no/such/volume.zarr")
    Traceback (most recent call last):
    ...
    ingest.volume.InputError: /no/such/volume.zarr does not exist; expected an OME-Zarr volume
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p} does not exist; expected an OME-Zarr volume")
    _load_readers()
    for _name, accepts, reader in _READERS:
        if accepts(p):
            volume = reader(p)
            if check:  # workers reopening a checked volume skip the full scan for negative ids
                check_volume(volume)
            return volume
    raise InputError(
        f"{p} is not a volume any reader knows; expected an OME-Zarr container "
        "(a directory with .zgroup/.zattrs or zarr.json)"
    )


def _read_attrs(group: Path) -> dict[str, Any]:
    for name in (".zattrs", "zarr.json"):
        f = group / name
        if f.exists():
            try:
                attrs = json.loads(f.read_text())
            except json.JSONDecodeError as err:
                raise InputError(f"{f} is not valid JSON ({err.msg})") from None
            # NGFF 0.5 (zarr v3) nests the metadata under attributes.ome
            if name == "zarr.json":
                attrs = attrs.get("attributes", {})
                attrs = attrs.get("ome", attrs)
            return attrs
    return {}


def _scale_of(attrs: dict[str, Any], where: Path) -> tuple[str, tuple[float, float, float]]:
    ms = attrs.get("multiscales")
    if not ms:
        raise InputError(
            f"{where} has no OME-NGFF 'multiscales' metadata; expected an "
            "OME-Zarr image with the voxel size in its coordinateTransformations"
        )
    axes = [a["name"] if isinstance(a, dict) else a for a in ms[0].get("axes", ["z", "y", "x"])]
    if axes[-3:] != ["z", "y", "x"]:
        raise InputError(f"{where} has axes {axes}; expected the last three to be z, y, x")
    datasets = ms[0].get("datasets") or []
    if not datasets:
        raise InputError(f"{where} lists no datasets in its multiscales metadata")
    first = datasets[0]
    scales = [t for t in first.get("coordinateTransformations", []) if t.get("type") == "scale"]
    if not scales or len(scales[0].get("scale", [])) < 3:
        raise InputError(
            f"{where} gives no voxel size (no 'scale' coordinateTransformation on "
            f"dataset {first.get('path')!r}); expected e.g. [20, 10, 10] nm for "
            "z, y, x"
        )
    scale = tuple(float(v) for v in scales[0]["scale"][-3:])
    if any(not np.isfinite(v) or v <= 0 for v in scale):
        raise InputError(f"{where} has voxel size {scale}; expected three positive numbers")
    return str(first["path"]), scale  # type: ignore[return-value]


def _is_zarr_group(p: Path) -> bool:
    return p.is_dir() and (
        (p / ".zgroup").exists() or (p / "zarr.json").exists() or (p / ".zattrs").exists()
    )


@register_reader("ome-zarr", _is_zarr_group)
def read_ome_zarr(path: Path) -> Volume:
    """Read an OME-Zarr (NGFF 0.4) container: the raw image at the root, labels under labels/."""
    import zarr

    attrs = _read_attrs(path)
    labels_dir = path / "labels"
    cells_dir = labels_dir / "cells"
    if not cells_dir.exists():
        if is_raw_only(path):  # `connectome ingest` predicts the layers first (ingest.predict)
            raise InputError(
                f"{path} has only the raw image (no labels/cells); expected labels/cells, or "
                "`connectome ingest`, which predicts the label layers with the shipped model"
            )
        raise InputError(
            f"{path} has no labels/cells; expected the cell instance "
            "segmentation as an OME-Zarr label image at labels/cells"
        )
    try:
        store = zarr.open(str(path), mode="r")
    except Exception as err:  # zarr raises several kinds for an unreadable container
        raise InputError(f"{path} cannot be opened as zarr ({err})") from None

    labels: dict[str, Any] = {}
    scales: dict[str, tuple[float, float, float]] = {}
    for name in LABEL_LAYERS:
        group = labels_dir / name
        if not group.exists():
            continue
        sub, scale = _scale_of(_read_attrs(group), group)
        labels[name] = store[f"labels/{name}/{sub}"]
        scales[name] = scale
    raw = None
    if attrs.get("multiscales"):
        sub, scale = _scale_of(attrs, path)
        raw = store[sub]
        scales["raw"] = scale
    voxel = scales.get("raw", scales["cells"])
    for name, scale in scales.items():
        if not np.allclose(scale, voxel):
            raise InputError(
                f"{path}: layer {name!r} has voxel size {scale} nm but the volume "
                f"has {voxel} nm; expected every layer at the base resolution"
            )
    shape = tuple(int(s) for s in labels["cells"].shape[-3:])
    return Volume(
        path=path,
        voxel_size_nm_zyx=voxel,
        shape_zyx=shape,  # type: ignore[arg-type]
        raw=raw,
        labels=labels,
    )


def is_raw_only(path: Path) -> bool:
    """Whether ``path`` is an OME-Zarr container with a raw image and no label layer at all.

    Examples
    --------
    >>> is_raw_only(Path("/no/such/volume.zarr"))
    False
    """
    return (_is_zarr_group(path) and bool(_read_attrs(path).get("multiscales"))
            and not any((path / "labels" / name).exists() for name in LABEL_LAYERS))  # fmt: skip


def check_volume(volume: Volume) -> None:
    """Check shapes and dtypes of every layer (reads metadata only, and cells' sign cheaply)."""
    cells = volume.labels.get("cells")
    if cells is None:
        raise InputError(f"{volume.path} has no cells layer; expected labels/cells")
    layers = dict(volume.labels)
    if volume.raw is not None:
        layers["raw"] = volume.raw
    for name, arr in layers.items():
        if tuple(arr.shape[-3:]) != volume.shape_zyx:
            raise InputError(
                f"{volume.path}: layer {name!r} has shape {tuple(arr.shape)} but "
                f"labels/cells has {volume.shape_zyx}; expected all layers the same "
                "shape (z, y, x)"
            )
        if arr.ndim != 3:
            raise InputError(
                f"{volume.path}: layer {name!r} has {arr.ndim} dimensions; expected 3 (z, y, x)"
            )
    dt = np.dtype(cells.dtype)
    if dt.kind == "f":
        raise InputError(
            f"{volume.path}: labels/cells has dtype {dt}; expected unsigned "
            "integer instance ids (uint32 or uint64)"
        )
    if dt.kind not in "ui":
        raise InputError(f"{volume.path}: labels/cells has dtype {dt}; expected uint32 or uint64")
    if dt.kind == "i":
        for z in range(0, volume.shape_zyx[0], max(1, cells.chunks[0])):
            block = np.asarray(cells[z : z + cells.chunks[0]])
            if block.size and block.min() < 0:
                raise InputError(
                    f"{volume.path}: labels/cells has negative ids; expected "
                    "non-negative instance ids (0 = background)"
                )
    for name in OPTIONAL_LAYERS:
        if name in volume.labels:
            ldt = np.dtype(volume.labels[name].dtype)
            if ldt.kind not in "uib":
                raise InputError(
                    f"{volume.path}: labels/{name} has dtype {ldt}; expected "
                    "uint8 (a 0/1 or 0/255 mask, or a probability map)"
                )
