"""Neuroglancer precomputed volumes: the raw image and the cell segmentation, chunked.

Follows ``volume.md`` of Neuroglancer's precomputed data source: an ``info`` JSON file (all
vectors ``[x, y, z]``, resolutions in nm) and one directory per scale, named after its resolution
(``"8_8_40"``), holding one file per chunk named ``<x0>-<x1>_<y0>-<y1>_<z0>-<z1>`` (voxel
ranges, end exclusive, truncated at the volume's upper bound). Chunk encodings come from the
:data:`ENCODINGS` registry:

- ``raw``: little-endian values in ``[x, y, z, channel]`` Fortran order (x fastest), no
  header. A C-ordered ``[z, y, x]`` numpy block has exactly that byte order.
- ``compressed_segmentation``: Neuroglancer's block-wise lookup-table encoding (single channel,
  prefixed by its channel offset ``1``), made by the ``compressed_segmentation`` package.
- ``jpeg``: one greyscale JPEG per chunk whose rows, concatenated, are the chunk in
  ``[x, y, z]`` Fortran order (width x, height y·z), quality :data:`JPEG_QUALITY`; lossy, so
  for the image only.

Extra scales halve x and y (never z, as EM sections are thick): the image by the mean of each
2×2 block, the segmentation by its most frequent label (the "countless" rule: a label seen at
least twice among the four wins, otherwise the last one), so that ids are never invented.
Chunk files are stored uncompressed; compression in transit is the server's business.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import compressed_segmentation as cseg
import numpy as np

from ingest.precomputed.atomic import replacing_dir, write_json

JPEG_QUALITY = 90
Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class Encoding:
    """A chunk encoding: its ``info`` name, the data types and volume types it accepts."""

    name: str
    data_types: tuple[str, ...]
    volume_types: tuple[str, ...]
    encode: Callable[[np.ndarray, dict[str, Any]], bytes]  # ([z, y, x] block, scale) -> bytes


ENCODINGS: dict[str, Encoding] = {}


def register_encoding(encoding: Encoding) -> Encoding:
    """Add a chunk encoding to :data:`ENCODINGS` (by its ``info`` name).

    Examples
    --------
    >>> sorted(ENCODINGS)  # the ones this module registers
    ['compressed_segmentation', 'jpeg', 'raw']
    """
    ENCODINGS[encoding.name] = encoding
    return encoding


def _encode_raw(block_zyx: np.ndarray, scale: dict[str, Any]) -> bytes:
    little = block_zyx.astype(block_zyx.dtype.newbyteorder("<"), copy=False)
    return np.ascontiguousarray(little).tobytes(order="C")


def _encode_compressed_segmentation(block_zyx: np.ndarray, scale: dict[str, Any]) -> bytes:
    block_size_xyz = tuple(int(b) for b in scale["compressed_segmentation_block_size"])
    xyz = np.ascontiguousarray(block_zyx).T  # a Fortran-ordered [x, y, z] view
    return bytes(cseg.compress(xyz, block_size=block_size_xyz, order="F"))


def _encode_jpeg(block_zyx: np.ndarray, scale: dict[str, Any]) -> bytes:
    from PIL import Image

    z, y, x = block_zyx.shape
    if y * z > 65_500:
        raise ValueError(f"a jpeg chunk holds at most 65500 rows (y·z), got {y * z}")
    rows = np.ascontiguousarray(block_zyx).reshape(z * y, x)
    buf = io.BytesIO()
    Image.fromarray(rows).save(buf, format="JPEG", quality=JPEG_QUALITY)  # 2-D uint8: "L"
    return buf.getvalue()


IMAGE_TYPES = ("uint8", "uint16", "uint32", "uint64", "float32")
register_encoding(Encoding("raw", IMAGE_TYPES, ("image", "segmentation"), _encode_raw))
register_encoding(
    Encoding(
        "compressed_segmentation",
        ("uint32", "uint64"),
        ("segmentation",),
        _encode_compressed_segmentation,
    )
)
register_encoding(Encoding("jpeg", ("uint8",), ("image",), _encode_jpeg))


def scale_key(resolution_nm_xyz: Sequence[float]) -> str:
    """The directory name of a scale: its resolution in nm, ``x_y_z``.

    Examples
    --------
    >>> scale_key((8.0, 8.0, 40.0)), scale_key((4.5, 4.5, 30))
    ('8_8_40', '4.5_4.5_30')
    """
    return "_".join(_number_text(v) for v in resolution_nm_xyz)


def _number_text(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _json_number(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def chunk_name(begin_xyz: Sequence[int], end_xyz: Sequence[int]) -> str:
    """The file name of the chunk covering voxels ``[begin, end)``.

    Examples
    --------
    >>> chunk_name((64, 0, 0), (100, 64, 32))
    '64-100_0-64_0-32'
    """
    return "_".join(f"{b}-{e}" for b, e in zip(begin_xyz, end_xyz, strict=True))


def _chunks(size_xyz: Sequence[int], chunk_xyz: Sequence[int]) -> Iterator[tuple[slice, ...]]:
    """``(x, y, z)`` slices of every grid cell, the last one truncated to the volume."""
    ranges = [range(0, n, c) for n, c in zip(size_xyz, chunk_xyz, strict=True)]
    for z0 in ranges[2]:
        for y0 in ranges[1]:
            for x0 in ranges[0]:
                yield tuple(
                    slice(b, min(b + c, n))
                    for b, c, n in zip((x0, y0, z0), chunk_xyz, size_xyz, strict=True)
                )


def _pad_even_xy(a: np.ndarray) -> np.ndarray:
    pad = [(0, 0), (0, a.shape[1] % 2), (0, a.shape[2] % 2)]
    return np.pad(a, pad, mode="edge") if any(p[1] for p in pad) else a


def downsample_image_xy(image_zyx: np.ndarray) -> np.ndarray:
    """Halve x and y by the mean of each 2×2 block (rounded; an odd edge is repeated).

    Examples
    --------
    >>> downsample_image_xy(np.array([[[0, 1, 9], [2, 3, 9]]], np.uint8)).tolist()
    [[[2, 9]]]
    """
    a = _pad_even_xy(image_zyx)
    wide = np.float64 if np.issubdtype(a.dtype, np.floating) else np.uint64
    p, q, r, s = (
        b.astype(wide)
        for b in (a[:, 0::2, 0::2], a[:, 0::2, 1::2], a[:, 1::2, 0::2], a[:, 1::2, 1::2])
    )
    total = p + q + r + s
    if wide is np.float64:
        return (total / 4).astype(a.dtype)
    return ((total + 2) // 4).astype(a.dtype)


def downsample_labels_xy(labels_zyx: np.ndarray) -> np.ndarray:
    """Halve x and y keeping, per 2×2 block, a label that occurs at least twice (else the last).

    Labels are only ever copied, never computed, so ids above 2**53 stay exact.

    Examples
    --------
    >>> big = 2**60 + 1
    >>> downsample_labels_xy(np.array([[[5, big], [big, 7]]], np.uint64)).tolist()
    [[[1152921504606846977]]]
    """
    a = _pad_even_xy(labels_zyx)
    p, q, r, s = a[:, 0::2, 0::2], a[:, 0::2, 1::2], a[:, 1::2, 0::2], a[:, 1::2, 1::2]
    return np.where((p == q) | (p == r), p, np.where(q == r, q, s))


def _levels(shape_zyx: Sequence[int], chunk_xyz: Sequence[int], num_scales: int | None) -> int:
    if num_scales is not None:
        if num_scales < 1:
            raise ValueError(f"num_scales must be at least 1, got {num_scales}")
        return num_scales
    n, (y, x) = 1, shape_zyx[1:]
    while max(x, y) > max(chunk_xyz[:2]):
        x, y, n = (x + 1) // 2, (y + 1) // 2, n + 1
    return n


def _check_geometry(
    name: str, array: np.ndarray, voxel_size_nm_zyx: Sequence[float], chunk_xyz: Sequence[int]
) -> None:
    if array.ndim != 3 or 0 in array.shape:
        raise ValueError(f"{name} must be a non-empty 3-D [z, y, x] array, got shape {array.shape}")
    if len(voxel_size_nm_zyx) != 3 or not all(float(v) > 0 for v in voxel_size_nm_zyx):
        raise ValueError(f"voxel_size_nm_zyx must be 3 positive numbers, got {voxel_size_nm_zyx}")
    if len(chunk_xyz) != 3 or not all(int(c) == c and c > 0 for c in chunk_xyz):
        raise ValueError(f"chunk_xyz must be 3 positive integers, got {chunk_xyz}")


def _write_volume(
    out_dir: Path,
    levels: list[np.ndarray],
    info: dict[str, Any],
    encoding: Encoding,
) -> dict[str, Any]:
    for scale, data in zip(info["scales"], levels, strict=True):
        chunk_xyz = scale["chunk_sizes"][0]
        with replacing_dir(out_dir / scale["key"]) as tmp:
            for sx, sy, sz in _chunks(scale["size"], chunk_xyz):
                block = data[sz, sy, sx]
                name = chunk_name((sx.start, sy.start, sz.start), (sx.stop, sy.stop, sz.stop))
                (tmp / name).write_bytes(encoding.encode(block, scale))
    write_json(out_dir / "info", info)
    return info


def _info(
    volume_type: str,
    data_type: str,
    shape_zyx: Sequence[int],
    voxel_size_nm_zyx: Sequence[float],
    chunk_xyz: Sequence[int],
    encoding: Encoding,
    n_levels: int,
    extra_scale: dict[str, Any],
) -> dict[str, Any]:
    size_xyz = [int(shape_zyx[2]), int(shape_zyx[1]), int(shape_zyx[0])]
    res_xyz = [
        float(voxel_size_nm_zyx[2]),
        float(voxel_size_nm_zyx[1]),
        float(voxel_size_nm_zyx[0]),
    ]
    scales = []
    for level in range(n_levels):
        f = 2**level
        res = [res_xyz[0] * f, res_xyz[1] * f, res_xyz[2]]
        size = [-(-size_xyz[0] // f), -(-size_xyz[1] // f), size_xyz[2]]
        scales.append(
            {
                "key": scale_key(res),
                "size": size,
                "resolution": [_json_number(r) for r in res],
                "voxel_offset": [0, 0, 0],
                "chunk_sizes": [[int(c) for c in chunk_xyz]],
                "encoding": encoding.name,
                **extra_scale,
            }
        )
    return {
        "@type": "neuroglancer_multiscale_volume",
        "type": volume_type,
        "data_type": data_type,
        "num_channels": 1,
        "scales": scales,
    }


def _encoding(name: str, volume_type: str, data_type: str) -> Encoding:
    enc = ENCODINGS.get(name)
    if enc is None:
        raise ValueError(f"unknown chunk encoding {name!r}; known: {sorted(ENCODINGS)}")
    if volume_type not in enc.volume_types or data_type not in enc.data_types:
        raise ValueError(
            f"encoding {name!r} takes {'/'.join(enc.data_types)} {'/'.join(enc.volume_types)}"
            f" volumes, not a {data_type} {volume_type}"
        )
    return enc


def write_image(
    out_dir: str | os.PathLike[str],
    raw_zyx: np.ndarray,
    voxel_size_nm_zyx: Vec3,
    *,
    chunk_xyz: tuple[int, int, int] = (64, 64, 64),
    encoding: str = "raw",
    num_scales: int | None = None,
) -> dict[str, Any]:
    """Write an image volume (``"type": "image"``) and return its ``info``.

    ``num_scales=None`` adds 2×-in-xy scales until the xy plane fits in one chunk. Each scale
    directory is replaced atomically, then ``info`` (see :mod:`ingest.precomputed.atomic`).

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "image"
    >>> raw = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)  # [z, y, x]
    >>> info = write_image(out, raw, (40.0, 8.0, 8.0), chunk_xyz=(4, 4, 1))
    >>> info["scales"][0]["key"], info["scales"][0]["size"]
    ('8_8_40', [4, 3, 2])
    >>> list((out / "8_8_40" / "0-4_0-3_1-2").read_bytes()) == list(raw[1].ravel())
    True
    """
    raw = np.asarray(raw_zyx)
    _check_geometry("raw_zyx", raw, voxel_size_nm_zyx, chunk_xyz)
    data_type = raw.dtype.name
    enc = _encoding(encoding, "image", data_type)
    n = _levels(raw.shape, chunk_xyz, num_scales)
    levels = [raw]
    for _ in range(1, n):
        levels.append(downsample_image_xy(levels[-1]))
    info = _info("image", data_type, raw.shape, voxel_size_nm_zyx, chunk_xyz, enc, n, {})
    return _write_volume(Path(out_dir), levels, info, enc)


def write_segmentation(
    out_dir: str | os.PathLike[str],
    labels_zyx: np.ndarray,
    voxel_size_nm_zyx: Vec3,
    *,
    chunk_xyz: tuple[int, int, int] = (64, 64, 64),
    compressed_segmentation_block: tuple[int, int, int] = (8, 8, 8),
    mesh: str | None = "mesh",
    skeletons: str | None = "skeletons",
    num_scales: int | None = None,
) -> dict[str, Any]:
    """Write a uint64 segmentation (``compressed_segmentation``) and return its ``info``.

    ``mesh`` and ``skeletons`` name the sub-directories that :func:`~ingest.precomputed.mesh.\
write_meshes` and :func:`~ingest.precomputed.skeleton.write_skeletons` fill (``None`` leaves the
    key out). ``compressed_segmentation_block`` is ``[x, y, z]``. Any non-negative integer
    labels are accepted and stored as uint64; 0 is background.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "segmentation"
    >>> labels = np.zeros((1, 2, 2), np.uint64); labels[0, 0, 0] = 2**60 + 1
    >>> info = write_segmentation(out, labels, (30, 4, 4))
    >>> info["data_type"], info["scales"][0]["encoding"], info["mesh"]
    ('uint64', 'compressed_segmentation', 'mesh')
    >>> sorted(p.name for p in (out / "4_4_30").iterdir())
    ['0-2_0-2_0-1']
    """
    labels = np.asarray(labels_zyx)
    _check_geometry("labels_zyx", labels, voxel_size_nm_zyx, chunk_xyz)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels_zyx must hold integer ids, got dtype {labels.dtype}")
    if np.issubdtype(labels.dtype, np.signedinteger) and labels.min() < 0:
        raise ValueError("labels_zyx must not hold negative ids")
    labels = labels.astype(np.uint64, copy=False)
    block = compressed_segmentation_block
    if len(block) != 3 or not all(int(b) == b and b > 0 for b in block):
        raise ValueError(f"compressed_segmentation_block must be 3 positive integers, got {block}")
    enc = _encoding("compressed_segmentation", "segmentation", "uint64")
    n = _levels(labels.shape, chunk_xyz, num_scales)
    levels = [labels]
    for _ in range(1, n):
        levels.append(downsample_labels_xy(levels[-1]))
    extra = {"compressed_segmentation_block_size": [int(b) for b in block]}
    info = _info(
        "segmentation", "uint64", labels.shape, voxel_size_nm_zyx, chunk_xyz, enc, n, extra
    )
    if mesh is not None:
        info["mesh"] = mesh
    if skeletons is not None:
        info["skeletons"] = skeletons
    return _write_volume(Path(out_dir), levels, info, enc)
