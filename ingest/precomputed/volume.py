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

The input is any array indexed ``[z, y, x]`` with numpy slicing (a numpy array, or a lazily
read zarr array) and is streamed: it is read one block of chunks at a time (one chunk deep
in z, at most ``block_bytes`` of base voxels), and the coarser scales are built from those
blocks chunk by chunk (a chunk of scale *s* from the 2×2 chunks of scale *s − 1* below it), so
memory is bounded by the block size and the number of scales, not by the volume. Blocks and
chunks start at even coordinates, so every 2×2 group of a scale is downsampled exactly as when
the whole scale is in memory: the files are byte for byte the same.

With a ``resume_key`` (see :func:`ingest.precomputed.atomic.replacing_dir`) a killed write
resumes: every chunk file appears whole (written aside and renamed), a z slab's tile of the
top scale is written after every chunk below it, so a tile whose top chunk exists is skipped,
and a layer whose ``info`` (written last) is already the one asked for is left as it is.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import compressed_segmentation as cseg
import numpy as np

from ingest.precomputed.atomic import remove_leftovers, replacing_dir, write_bytes, write_json

JPEG_QUALITY = 90
BLOCK_BYTES = 64 * 2**20  # default most base voxels (in bytes) read from the input at once
Vec3 = tuple[float, float, float]


class VolumeArray(Protocol):
    """What the writers read from: a 3-D ``[z, y, x]`` array sliced like numpy (numpy, zarr)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> Any: ...

    def __getitem__(self, key: Any) -> Any: ...


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
    wide: Any = np.uint64
    if np.issubdtype(a.dtype, np.floating):
        wide = np.float64
    elif a.dtype.kind == "u" and a.dtype.itemsize <= 2:  # a sum of 4 fits twice the bits
        wide = np.uint16 if a.dtype.itemsize == 1 else np.uint32
    total = a[:, 0::2, 0::2].astype(wide)  # summed in place: one wide quarter in memory
    for b in (a[:, 0::2, 1::2], a[:, 1::2, 0::2], a[:, 1::2, 1::2]):
        total += b
    if wide is np.float64:
        total /= 4
        return total.astype(a.dtype)
    total += 2
    total //= 4
    return total.astype(a.dtype)


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


def _as_volume(array: Any) -> VolumeArray:
    """``array`` itself when it can be sliced lazily (numpy, zarr), else as a numpy array."""
    if all(hasattr(array, a) for a in ("shape", "dtype", "__getitem__")):
        return array  # type: ignore[no-any-return]
    return np.asarray(array)


def _check_geometry(
    name: str, array: VolumeArray, voxel_size_nm_zyx: Sequence[float], chunk_xyz: Sequence[int]
) -> None:
    shape = tuple(array.shape)
    if len(shape) != 3 or 0 in shape:
        raise ValueError(f"{name} must be a non-empty 3-D [z, y, x] array, got shape {shape}")
    if len(voxel_size_nm_zyx) != 3 or not all(float(v) > 0 for v in voxel_size_nm_zyx):
        raise ValueError(f"voxel_size_nm_zyx must be 3 positive numbers, got {voxel_size_nm_zyx}")
    if len(chunk_xyz) != 3 or not all(int(c) == c and c > 0 for c in chunk_xyz):
        raise ValueError(f"chunk_xyz must be 3 positive integers, got {chunk_xyz}")


def read_levels(chunk_xyz: Sequence[int], itemsize: int, n_levels: int, block_bytes: int) -> int:
    """How many times a block read from the input is halved in memory before the coarser
    scales are built chunk by chunk: the largest ``k < n_levels`` whose block (one chunk deep,
    ``2**k`` chunks wide in x and y) holds at most ``block_bytes`` (at least 0).

    Examples
    --------
    >>> read_levels((64, 64, 64), 8, 5, 64 * 2**20)  # uint64: 64 x 256 x 256 voxels = 32 MiB
    2
    >>> read_levels((64, 64, 64), 8, 1, 64 * 2**20), read_levels((64, 64, 64), 8, 5, 1)
    (0, 0)
    """
    cx, cy, cz = (int(c) for c in chunk_xyz)
    k = 0
    while k + 1 < n_levels and cz * (cy << (k + 1)) * (cx << (k + 1)) * itemsize <= block_bytes:
        k += 1
    return k


def _write_volume(
    out_dir: Path,
    source: VolumeArray,
    info: dict[str, Any],
    encoding: Encoding,
    *,
    prepare: Callable[[np.ndarray], np.ndarray],
    downsample: Callable[[np.ndarray], np.ndarray],
    block_bytes: int,
    resume_key: str | None,
) -> dict[str, Any]:
    """Stream ``source`` into every scale of ``info``, then write ``info``.

    Per z slab (one chunk deep), the top scale's chunks are made depth first: a chunk of scale
    ``s > k`` from the up to 2×2 chunks of scale ``s - 1`` below it, a chunk of scale ``k``
    (see :func:`read_levels`) from one block read from ``source`` and halved ``k`` times, every
    chunk of the block's scales being written on the way. ``prepare`` checks and converts each
    block read (dtype); ``downsample`` halves x and y. All scale directories are built aside and
    each replaces its old version when every chunk is written.
    """
    scales = info["scales"]
    itemsize = np.dtype(info["data_type"]).itemsize
    k = read_levels(scales[0]["chunk_sizes"][0], itemsize, len(scales), block_bytes)
    if resume_key is not None and _finished(out_dir, info):
        return info
    existed = out_dir.exists()
    try:
        _write_scales(out_dir, source, scales, encoding, prepare, downsample, k, resume_key)
    except BaseException:
        if not existed:  # leave nothing behind: the scales' temporaries are gone already
            with suppress(OSError):
                out_dir.rmdir()
        raise
    write_json(out_dir / "info", info)
    return info


def _write_scales(
    out_dir: Path,
    source: VolumeArray,
    scales: list[dict[str, Any]],
    encoding: Encoding,
    prepare: Callable[[np.ndarray], np.ndarray],
    downsample: Callable[[np.ndarray], np.ndarray],
    k: int,
    resume_key: str | None,
) -> None:
    n = len(scales)
    cx, cy, cz = (int(c) for c in scales[0]["chunk_sizes"][0])
    size_x, size_y, size_z = scales[0]["size"]
    with ExitStack() as stack:
        dirs = [stack.enter_context(replacing_dir(out_dir / s["key"], resume_key)) for s in scales]

        def emit(level: int, data: np.ndarray, z0: int, y0: int, x0: int) -> None:
            """Write the chunks of ``data``, a grid-aligned tile of ``level`` at ``z0, y0, x0``."""
            dz, dy, dx = data.shape
            for yy in range(0, dy, cy):
                for xx in range(0, dx, cx):
                    block = data[:, yy : yy + cy, xx : xx + cx]
                    begin = (x0 + xx, y0 + yy, z0)
                    end = (begin[0] + block.shape[2], begin[1] + block.shape[1], z0 + dz)
                    write_bytes(dirs[level] / chunk_name(begin, end),
                                encoding.encode(block, scales[level]))  # fmt: skip

        def produce(level: int, ty: int, tx: int, zs: slice) -> np.ndarray:
            """Tile ``(ty, tx)`` of ``level`` (one chunk wide when ``level > k``), written."""
            if level == k:
                wy, wx = cy << k, cx << k
                y0, x0 = ty * wy, tx * wx
                data = prepare(np.asarray(source[zs, y0 : min(y0 + wy, size_y),
                                                 x0 : min(x0 + wx, size_x)]))  # fmt: skip
                for j in range(k + 1):
                    if j:
                        data = downsample(data)
                    emit(j, data, zs.start, ty * (cy << (k - j)), tx * (cx << (k - j)))
                return data
            below_x, below_y = scales[level - 1]["size"][:2]
            rows = [
                [produce(level - 1, 2 * ty + a, 2 * tx + b, zs)
                 for b in (0, 1) if (2 * tx + b) * cx < below_x]
                for a in (0, 1) if (2 * ty + a) * cy < below_y
            ]  # fmt: skip
            data = downsample(np.block(rows))
            emit(level, data, zs.start, ty * cy, tx * cx)
            return data

        top_x, top_y = scales[-1]["size"][:2]
        for z0 in range(0, size_z, cz):
            zs = slice(z0, min(z0 + cz, size_z))
            for ty in range(-(-top_y // cy)):
                for tx in range(-(-top_x // cx)):
                    begin = (tx * cx, ty * cy, z0)
                    end = (min(begin[0] + cx, top_x), min(begin[1] + cy, top_y), zs.stop)
                    if resume_key is None or not (dirs[-1] / chunk_name(begin, end)).exists():
                        produce(n - 1, ty, tx, zs)
        if resume_key is not None:
            for d in dirs:  # what an earlier, killed write left half-written
                remove_leftovers(d)


def _finished(out_dir: Path, info: dict[str, Any]) -> bool:
    """Whether ``out_dir`` holds a whole layer written with this ``info`` (written last)."""
    try:
        done = json.loads((out_dir / "info").read_text()) == info
    except (OSError, ValueError):
        return False
    return done and all((out_dir / s["key"]).is_dir() for s in info["scales"])


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
    raw_zyx: VolumeArray,
    voxel_size_nm_zyx: Vec3,
    *,
    chunk_xyz: tuple[int, int, int] = (64, 64, 64),
    encoding: str = "raw",
    num_scales: int | None = None,
    block_bytes: int = BLOCK_BYTES,
    resume_key: str | None = None,
) -> dict[str, Any]:
    """Write an image volume (``"type": "image"``) and return its ``info``.

    ``raw_zyx`` may be a numpy array or a lazily read one (a zarr array): it is streamed in
    blocks of at most about ``block_bytes``; with ``resume_key`` a killed write resumes (see the
    module docstring). ``num_scales=None`` adds 2×-in-xy scales until the xy plane fits in one
    chunk. The scale directories are built aside
    and each replaces its old version atomically, then ``info`` is written (see
    :mod:`ingest.precomputed.atomic`).

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
    raw = _as_volume(raw_zyx)
    _check_geometry("raw_zyx", raw, voxel_size_nm_zyx, chunk_xyz)
    shape = tuple(int(s) for s in raw.shape)
    data_type = np.dtype(raw.dtype).name
    enc = _encoding(encoding, "image", data_type)
    n = _levels(shape, chunk_xyz, num_scales)
    info = _info("image", data_type, shape, voxel_size_nm_zyx, chunk_xyz, enc, n, {})
    return _write_volume(Path(out_dir), raw, info, enc, prepare=lambda block: block,
                         downsample=downsample_image_xy, block_bytes=block_bytes,
                         resume_key=resume_key)  # fmt: skip


def write_segmentation(
    out_dir: str | os.PathLike[str],
    labels_zyx: VolumeArray,
    voxel_size_nm_zyx: Vec3,
    *,
    chunk_xyz: tuple[int, int, int] = (64, 64, 64),
    compressed_segmentation_block: tuple[int, int, int] = (8, 8, 8),
    mesh: str | None = "mesh",
    skeletons: str | None = "skeletons",
    num_scales: int | None = None,
    block_bytes: int = BLOCK_BYTES,
    resume_key: str | None = None,
) -> dict[str, Any]:
    """Write a uint64 segmentation (``compressed_segmentation``) and return its ``info``.

    ``labels_zyx`` may be a numpy array or a lazily read one (a zarr array): it is streamed in
    blocks of at most about ``block_bytes``; with ``resume_key`` a killed write resumes (see the
    module docstring). ``mesh`` and ``skeletons`` name the sub-directories that
    :func:`~ingest.precomputed.mesh.write_meshes` and
    :func:`~ingest.precomputed.skeleton.write_skeletons` fill (``None`` leaves the key out).
    ``compressed_segmentation_block`` is ``[x, y, z]``. Any non-negative integer labels are
    accepted and stored as uint64; 0 is background.

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
    labels = _as_volume(labels_zyx)
    _check_geometry("labels_zyx", labels, voxel_size_nm_zyx, chunk_xyz)
    dtype = np.dtype(labels.dtype)
    if not np.issubdtype(dtype, np.integer):
        raise ValueError(f"labels_zyx must hold integer ids, got dtype {dtype}")
    block = compressed_segmentation_block
    if len(block) != 3 or not all(int(b) == b and b > 0 for b in block):
        raise ValueError(f"compressed_segmentation_block must be 3 positive integers, got {block}")
    shape = tuple(int(s) for s in labels.shape)
    enc = _encoding("compressed_segmentation", "segmentation", "uint64")
    n = _levels(shape, chunk_xyz, num_scales)
    extra = {"compressed_segmentation_block_size": [int(b) for b in block]}
    info = _info("segmentation", "uint64", shape, voxel_size_nm_zyx, chunk_xyz, enc, n, extra)
    if mesh is not None:
        info["mesh"] = mesh
    if skeletons is not None:
        info["skeletons"] = skeletons

    def as_ids(ids: np.ndarray) -> np.ndarray:
        if np.issubdtype(ids.dtype, np.signedinteger) and ids.size and ids.min() < 0:
            raise ValueError("labels_zyx must not hold negative ids")
        return ids.astype(np.uint64, copy=False)

    return _write_volume(Path(out_dir), labels, info, enc, prepare=as_ids,
                         downsample=downsample_labels_xy, block_bytes=block_bytes,
                         resume_key=resume_key)  # fmt: skip
