"""Chunked U-Net inference over volumes of any size, with overlap, blending and Dask.

:func:`predict_volume` reads a raw image ``(z, y, x)`` (zarr array, numpy array or anything
sliceable) and writes class probabilities ``(classes, z, y, x)`` as uint8 (probability x 255)
into an output array (a zarr array, typically), one block at a time, so memory is bounded by
the block size and not by the volume:

- **blocks** (``chunk_zyx``): the unit of work and of writing, one Dask task each, aligned
  with the output's chunks so no two tasks write to the same stored chunk;
- **halo** (``overlap_zyx``): every block is predicted from its raw voxels plus this margin of
  context on each side (clipped at the volume's faces), and the margin is cut off again, so
  a voxel near a block face sees nearly what it would see in a whole-volume prediction;
- **patches** (``patch_zyx``): the haloed block is cut into patches the net can hold in
  memory, overlapping by ``overlap_zyx``; their sigmoid outputs are blended with a smooth
  window (a raised-cosine ramp over the overlap, so neighbours fade into each other and no
  patch edge shows as a seam);
- **test-time views** (``views``, default 1): the haloed block is also predicted mirrored
  and transposed (:data:`VIEWS`), each prediction mapped back, and the probabilities
  averaged; slower by the number of views, and more accurate (``docs/benchmarks.md``).

The 2D net (:class:`models.unet.UNet2d`) runs on batches of z slices (the z size of a patch is
the number of slices per batch), followed by a **3D linking step** (:func:`link_slices`)
for the object classes (mitochondria, vesicle clouds, synaptic junctions): the slices were
predicted independently, so each object voxel must be confirmed by the same object in a
neighbouring slice (an object that lives in one 20 nm slice only is slice noise), and a
slice where an object vanishes between two slices that both hold it (a weak or missing
section) is bridged. Linking needs two slices of z context, which the z halo provides.

Tensor layouts: 3D patches go to the net as ``(batch, 1, z, y, x)``, 2D ones as
``(batch, 1, y, x)`` with z slices as the batch.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import dask
import numpy as np
import torch
from numpy.typing import NDArray
from scipy import ndimage
from tqdm import tqdm

from .unet import (
    UNet2d,
    UNet3d,
    UNetConfig,
    default_device,
    load_checkpoint,
    normalise_raw,
    slice_index,
)

LINKED_CLASSES = ("mitochondria", "vesicle_cloud", "synaptic_junction")
"""Classes the 2D net's slices are linked for (objects, not sheets like membranes)."""

DEFAULT_PATCH_ZYX = {3: (48, 160, 160), 2: (8, 256, 256)}
"""Patch fed to the net (for the 2D net: slices per batch, y, x). On the CPU one patch raises
the peak resident memory by about 620 MB for the shipped 3D net (16 base features) and 255 MB
for the shipped 2D net (16 features, a batch of 8 slices with their neighbours), measured
with ``resource.getrusage`` around :func:`predict_block`."""
DEFAULT_OVERLAP_ZYX = {3: (8, 24, 24), 2: (2, 24, 24)}
"""Halo around blocks and overlap between patches (2D: z halo for the linking step). With
these, blocks reproduce a whole-volume prediction of the shipped nets within 1-2 grey levels
of 255; the 3D net's receptive field reaches about 8 slices in z, the 2D net's its
``context_slices``, which :func:`predict_volume` adds to the 2D z halo."""

Box = tuple[slice, slice, slice]

View = tuple[bool, tuple[int, ...]]
VIEWS: tuple[View, ...] = (
    (False, ()), (False, (2,)), (False, (1,)), (False, (1, 2)),
    (True, ()), (True, (2,)), (True, (1,)), (True, (1, 2)),
    (False, (0,)), (False, (0, 2)), (False, (0, 1)), (False, (0, 1, 2)),
    (True, (0,)), (True, (0, 2)), (True, (0, 1)), (True, (0, 1, 2)),
)  # fmt: skip
"""Test-time views of a block ``(z, y, x)``: ``(transpose, flipped axes)``, the flips made
first, then ``y`` and ``x`` swapped. These are the 16 symmetries of a grid whose ``y`` and
``x`` are alike (the net was trained on all of them: flips and 90-degree turns), ordered so
that the first 4 are the mirrorings in ``y`` and ``x``, the first 8 add the transposes, and
the z flips come last."""


def window(shape_zyx: Sequence[int], overlap_zyx: Sequence[int]) -> NDArray[np.float32]:
    """Blending weight of one patch: 1 inside, a raised-cosine ramp over ``overlap`` at each
    face, never below 1e-3 (so a voxel covered by one patch only keeps its value).

    Two patches overlapping by ``o`` voxels have ramps that add up to 1 across the overlap.

    Examples
    --------
    >>> w = window((1, 1, 10), (0, 0, 4))[0, 0]
    >>> np.round(w.astype(float), 2).tolist()
    [0.04, 0.31, 0.69, 0.96, 1.0, 1.0, 0.96, 0.69, 0.31, 0.04]
    >>> bool(np.allclose(w[6:] + w[:4], 1.0))  # the tail of one patch + the head of the next
    True
    """
    w = np.ones(tuple(shape_zyx), dtype=np.float32)
    for axis, (n, o) in enumerate(zip(shape_zyx, overlap_zyx, strict=True)):
        o = min(int(o), n // 2)
        if o <= 0:
            continue
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(o) + 0.5) / o)
        prof = np.ones(n, dtype=np.float32)
        prof[:o] = ramp
        prof[n - o :] = ramp[::-1]
        shape = [1, 1, 1]
        shape[axis] = n
        w *= prof.reshape(shape)
    return np.maximum(w, np.float32(1e-3))


def tile_starts(n: int, patch: int, overlap: int) -> list[int]:
    """Start offsets of patches of size ``patch`` covering ``[0, n)`` with at least
    ``overlap`` voxels shared by neighbours (the last patch is flush with the end).

    Examples
    --------
    >>> tile_starts(100, 40, 8)
    [0, 32, 60]
    >>> tile_starts(30, 40, 8)
    [0]
    """
    if n <= patch:
        return [0]
    stride = max(1, patch - overlap)
    starts = list(range(0, n - patch, stride))
    return starts + [n - patch]


def _round_up(n: int, d: int) -> int:
    return int(math.ceil(n / d) * d)


def _resolve_model(
    model: UNet3d | UNet2d | str | os.PathLike, device: torch.device
) -> UNet3d | UNet2d:
    if isinstance(model, str | os.PathLike):
        model, _, _ = load_checkpoint(model, device=device)
    if not isinstance(model, UNet3d | UNet2d):
        raise TypeError(f"expected a UNet3d, UNet2d or checkpoint path, got {type(model)!r}")
    return model.to(device).eval()


def _patch_shape(config: UNetConfig, region: Sequence[int], patch: Sequence[int]) -> list[int]:
    """The patch actually used for a region: no larger than needed, divisible by the net's
    pooling (z: 1 for the 2D net, where the z size is a batch of slices)."""
    div = config.divisor()
    out = []
    for axis, (n, p) in enumerate(zip(region, patch, strict=True)):
        d = 1 if (config.dims == 2 and axis == 0) else div[axis]
        out.append(max(d, min(_round_up(p, d), _round_up(n, d))))
    return out


def views_of(config: UNetConfig) -> tuple[View, ...]:
    """The test-time views available to a net: all of :data:`VIEWS`, except for a 2D net
    that sees each slice alone: the eight without a z flip (a z flip would only reorder its
    slices and predict nothing new).

    Examples
    --------
    >>> from models.unet import UNetConfig
    >>> len(views_of(UNetConfig(dims=3))), len(views_of(UNetConfig(dims=2)))
    (16, 8)
    """
    if config.dims == 3 or config.context_slices:
        return VIEWS
    return tuple(v for v in VIEWS if 0 not in v[1])


def _check_views(config: UNetConfig, views: int) -> tuple[View, ...]:
    available = views_of(config)
    if not isinstance(views, int | np.integer) or not 1 <= views <= len(available):
        raise ValueError(
            f"views must be a whole number from 1 to {len(available)} for a {config.dims}D "
            f"net, got {views!r}"
        )
    return available


def predict_block(
    model: UNet3d | UNet2d,
    block: NDArray[Any],
    *,
    patch_zyx: Sequence[int] | None = None,
    overlap_zyx: Sequence[int] | None = None,
    batch_size: int = 1,
    views: int = 1,
    device: torch.device | None = None,
) -> NDArray[np.float32]:
    """Class probabilities ``(classes, z, y, x)`` of one raw block held in memory.

    The block is cut into overlapping patches (padded by mirroring where it is smaller than
    one patch or not divisible by the net's pooling), the net's sigmoid outputs are blended
    with :func:`window`. With ``views`` > 1 this is done for the first ``views`` of
    :func:`views_of` (mirrored or transposed copies of the block), each result is mapped
    back and the probabilities are averaged: ``views`` times the work. No slice linking here
    (see :func:`predict_array`).

    Examples
    --------
    >>> from models.unet import UNetConfig, build_unet
    >>> net = build_unet(UNetConfig(dims=3, levels=2, base_features=2)).eval()
    >>> p = predict_block(net, np.zeros((6, 20, 24), np.uint8), patch_zyx=(4, 16, 16))
    >>> p.shape, p.dtype.name, bool(((p >= 0) & (p <= 1)).all())
    ((5, 6, 20, 24), 'float32', True)
    >>> predict_block(net, np.zeros((6, 20, 24), np.uint8), views=4).shape
    (5, 6, 20, 24)
    """
    available = _check_views(model.config, views)
    block = np.asarray(block)
    if block.ndim != 3:
        raise ValueError(f"raw block must be (z, y, x), got shape {block.shape}")
    acc: NDArray[np.float32] | None = None
    for transpose, axes in available[:views]:
        seen = np.flip(block, axes) if axes else block
        if transpose:
            seen = seen.transpose(0, 2, 1)
        prob = _predict_patches(
            model, np.ascontiguousarray(seen), patch_zyx, overlap_zyx, batch_size, device
        )
        if transpose:
            prob = prob.transpose(0, 1, 3, 2)
        if axes:
            prob = np.flip(prob, tuple(a + 1 for a in axes))
        acc = np.ascontiguousarray(prob) if acc is None else acc + prob
    assert acc is not None
    if views > 1:
        acc /= np.float32(views)
    return acc


def _predict_patches(
    model: UNet3d | UNet2d,
    block: NDArray[Any],
    patch_zyx: Sequence[int] | None,
    overlap_zyx: Sequence[int] | None,
    batch_size: int,
    device: torch.device | None,
) -> NDArray[np.float32]:
    """:func:`predict_block` for one view: patches, the net, blending."""
    config: UNetConfig = model.config
    dims = config.dims
    patch_zyx = tuple(patch_zyx or DEFAULT_PATCH_ZYX[dims])
    overlap_zyx = tuple(overlap_zyx or DEFAULT_OVERLAP_ZYX[dims])
    device = device or next(model.parameters()).device
    shape = block.shape
    patch = _patch_shape(config, shape, patch_zyx)
    if dims == 2:
        patch[0] = 1  # slices one by one; the batch groups them
        overlap = (0, *overlap_zyx[1:])
    else:
        overlap = overlap_zyx
    padded = [max(n, p) for n, p in zip(shape, patch, strict=True)]
    x = normalise_raw(block)
    if padded != list(shape):
        x = np.pad(x, [(0, p - n) for p, n in zip(padded, shape, strict=True)], mode="symmetric")
    w = window(patch, [min(o, p // 2) for o, p in zip(overlap, patch, strict=True)])
    stacks = slice_index(padded[0], config.context_slices)  # the 2D net's slice stacks
    acc = np.zeros((config.n_classes, *padded), dtype=np.float32)
    wsum = np.zeros(padded, dtype=np.float32)
    starts = [
        (z, y, xx)
        for z in tile_starts(padded[0], patch[0], overlap[0])
        for y in tile_starts(padded[1], patch[1], overlap[1])
        for xx in tile_starts(padded[2], patch[2], overlap[2])
    ]
    batch_size = max(1, int(batch_size))
    with torch.inference_mode():
        for i in range(0, len(starts), batch_size):
            group = starts[i : i + batch_size]
            boxes = [tuple(slice(s, s + p) for s, p in zip(st, patch, strict=True)) for st in group]
            if dims == 3:
                arr = np.stack([x[b] for b in boxes])[:, None]  # (batch, 1, z, y, x)
            else:  # each slice with its neighbours (edges repeated): (batch, 2c + 1, y, x)
                arr = np.stack([x[stacks[b[0].start], b[1], b[2]] for b in boxes])
            t = torch.from_numpy(arr).to(device)
            prob = torch.sigmoid(model(t)).float().cpu().numpy()
            if dims == 2:
                prob = prob[:, :, None]  # (batch, classes, 1, y, x)
            for b, pr in zip(boxes, prob, strict=True):
                acc[(slice(None), *b)] += pr * w
                wsum[b] += w
    acc /= wsum
    return acc[(slice(None), *(slice(0, n) for n in shape))]


def link_slices(prob: NDArray[np.float32], radius: int = 2) -> NDArray[np.float32]:
    """The 3D linking step for one class predicted slice by slice, ``(z, y, x)`` in [0, 1].

    1. Bridging: a voxel gets at least the weaker of the two probabilities directly above and
       below it (an object present in slices z-1 and z+1 at the same place is present in z).
    2. Support: then a voxel keeps at most the strongest probability within ``radius``
       pixels (in y, x) in slice z-1 or z+1, so an object survives only where it continues
       into a neighbouring slice; objects confined to one slice fade out. The first and
       last slices are supported by their one neighbour.

    Both steps are fuzzy AND/OR (min/max) on probabilities, local within two slices and
    ``radius`` pixels, so a block with that much halo links exactly as the whole volume.

    Examples
    --------
    >>> p = np.zeros((5, 7, 7), np.float32)
    >>> p[0, 1, 1] = 1.0                # one slice only: slice noise
    >>> p[1, 4:6, 4:6] = p[3, 4:6, 4:6] = p[4, 4:6, 4:6] = 0.5  # slice 2 missing
    >>> q = link_slices(p)
    >>> float(q[0, 1, 1]), float(q[2, 4, 4]), float(q[4, 5, 5])
    (0.0, 0.5, 0.5)
    """
    prob = np.asarray(prob, dtype=np.float32)
    bridged = prob.copy()
    if prob.shape[0] >= 3:
        np.maximum(bridged[1:-1], np.minimum(prob[:-2], prob[2:]), out=bridged[1:-1])
    if prob.shape[0] < 2:
        return bridged
    size = (1, 2 * radius + 1, 2 * radius + 1)
    dil = ndimage.maximum_filter(bridged, size=size, mode="constant", cval=0.0)
    support = np.zeros_like(bridged)
    support[1:] = dil[:-1]
    np.maximum(support[:-1], dil[1:], out=support[:-1])
    return np.minimum(bridged, support)


def _link(config: UNetConfig, prob: NDArray[np.float32], link_classes: Sequence[str] | None):
    if config.dims != 2:
        return prob
    names = LINKED_CLASSES if link_classes is None else tuple(link_classes)
    for c, name in enumerate(config.classes):
        if name in names:
            prob[c] = link_slices(prob[c])
    return prob


def _predict_box(
    model: UNet3d | UNet2d,
    raw: Any,
    box: Box,
    halo: Sequence[int],
    link_classes: Sequence[str] | None,
    **block: Any,
) -> NDArray[np.float32]:
    """Probabilities of ``box`` predicted from ``box`` plus ``halo`` of raw context;
    ``block`` holds :func:`predict_block`'s keywords (patches, overlap, batch, views)."""
    shape = raw.shape
    ext = tuple(
        slice(max(0, s.start - h), min(n, s.stop + h))
        for s, h, n in zip(box, halo, shape, strict=True)
    )
    prob = predict_block(model, np.asarray(raw[ext]), **block)
    prob = _link(model.config, prob, link_classes)
    inner = tuple(slice(s.start - e.start, s.stop - e.start) for s, e in zip(box, ext, strict=True))
    return prob[(slice(None), *inner)]


def predict_array(
    model: UNet3d | UNet2d | str | os.PathLike,
    raw: Any,
    *,
    patch_zyx: Sequence[int] | None = None,
    overlap_zyx: Sequence[int] | None = None,
    batch_size: int = 1,
    views: int = 1,
    link_classes: Sequence[str] | None = None,
    device: str | torch.device | None = None,
) -> NDArray[np.float32]:
    """Float probabilities ``(classes, z, y, x)`` of a whole volume held in memory.

    The same patches, blending, test-time views and slice linking as :func:`predict_volume`,
    in one block.

    Examples
    --------
    >>> from models.unet import UNetConfig, build_unet
    >>> net = build_unet(UNetConfig(dims=2, levels=2, base_features=2)).eval()
    >>> predict_array(net, np.zeros((3, 16, 16), np.uint8)).shape
    (5, 3, 16, 16)
    """
    dev = torch.device(device) if device is not None else default_device()
    net = _resolve_model(model, dev)
    box: Box = tuple(slice(0, n) for n in raw.shape)  # type: ignore[assignment]
    return _predict_box(net, raw, box, (0, 0, 0), link_classes, patch_zyx=patch_zyx,
                        overlap_zyx=overlap_zyx, batch_size=batch_size, views=views)  # fmt: skip


def _blocks(shape: Sequence[int], chunk: Sequence[int]) -> Iterator[Box]:
    for z in range(0, shape[0], chunk[0]):
        for y in range(0, shape[1], chunk[1]):
            for x in range(0, shape[2], chunk[2]):
                yield (
                    slice(z, min(z + chunk[0], shape[0])),
                    slice(y, min(y + chunk[1], shape[1])),
                    slice(x, min(x + chunk[2], shape[2])),
                )


def _write_block(model, raw, out, box, halo, link, **block) -> int:
    prob = _predict_box(model, raw, box, halo, link, **block)
    out[(slice(None), *box)] = np.clip(np.rint(prob * 255.0), 0, 255).astype(np.uint8)
    return int(prob[0].size)


def predict_volume(
    model: UNet3d | UNet2d | str | os.PathLike,
    raw: Any,
    out: Any,
    *,
    chunk_zyx: Sequence[int] | None = None,
    overlap_zyx: Sequence[int] | None = None,
    patch_zyx: Sequence[int] | None = None,
    batch_size: int | None = None,
    views: int = 1,
    scheduler: Any = None,
    num_workers: int | None = None,
    link_classes: Sequence[str] | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> None:
    """Predict class probabilities of a whole volume, block by block, into ``out``.

    Parameters
    ----------
    model : UNet3d, UNet2d or path
        The net, or a checkpoint written by :func:`models.unet.save_checkpoint`.
    raw : array_like
        The uint8 raw image ``(z, y, x)``: a zarr array, a numpy array, anything with
        ``shape`` and numpy slicing. Only a block plus its halo is read at a time.
    out : array_like
        Where the probabilities go, ``(classes, z, y, x)`` uint8 (probability x 255): a zarr
        array (e.g. ``zarr.open(path, mode="w", shape=..., chunks=(classes, 32, 256, 256),
        dtype="u1")``) or a numpy array.
    chunk_zyx : sequence of int, optional
        Block per task; a multiple of ``out``'s chunks (default: ``out``'s chunks in
        ``z, y, x``, or 64 x 256 x 256 for an array without chunks).
    overlap_zyx : sequence of int, optional
        Halo of raw context read around each block and overlap of neighbouring patches
        (default 8 x 24 x 24 for the 3D net, (2 + context_slices) x 24 x 24 for the 2D net).
    patch_zyx : sequence of int, optional
        Largest patch given to the net at once (2D net: slices per batch, y, x); default
        48 x 160 x 160 (3D), 8 x 256 x 256 (2D).
    batch_size : int, optional
        Patches per forward pass (default 1; for the 2D net ``patch_zyx[0]``).
    views : int
        Test-time views averaged per block (:func:`predict_block`): 1 (default) up to 16 for
        the 3D net, 8 for the 2D net; each costs one more prediction of the block.
    scheduler : str or distributed.Client, optional
        Dask scheduler: ``None`` (the local threaded scheduler), ``"threads"``, ``"sync"``,
        ``"processes"``, a ``dask.distributed`` ``Client`` or a scheduler address
        (``"tcp://host:8786"``); all but the first three need an ``out`` every worker can
        write to (a zarr array on disk or in object storage), not one in memory.
    num_workers : int, optional
        Threads or processes of a local scheduler (default: Dask's).
    link_classes : sequence of str, optional
        2D net only: the classes to link across slices (default :data:`LINKED_CLASSES`
        among the model's classes; ``()`` for none).
    device : str or torch.device, optional
        ``"cuda"`` when available, else ``"cpu"``, unless given.
    progress : bool
        Show a progress bar over blocks.

    Raises
    ------
    ValueError
        If ``raw`` is not 3D, ``out`` has the wrong shape or dtype, or the blocks do not line
        up with ``out``'s chunks.

    Examples
    --------
    >>> import zarr
    >>> from models.unet import UNetConfig, build_unet
    >>> net = build_unet(UNetConfig(dims=3, levels=2, base_features=2)).eval()
    >>> raw = np.random.default_rng(0).integers(0, 255, (8, 32, 32), dtype=np.uint8)
    >>> out = zarr.zeros((5, 8, 32, 32), chunks=(5, 8, 16, 16), dtype="u1")
    >>> predict_volume(net, raw, out, overlap_zyx=(2, 8, 8), scheduler="sync", progress=False)
    >>> out.nchunks_initialized
    4
    """
    dev = torch.device(device) if device is not None else default_device()
    net = _resolve_model(model, dev)
    config: UNetConfig = net.config
    shape = tuple(int(s) for s in raw.shape)
    if len(shape) != 3:
        raise ValueError(f"raw must be a (z, y, x) volume, got shape {shape}")
    want = (config.n_classes, *shape)
    if tuple(out.shape) != want or np.dtype(out.dtype) != np.uint8:
        raise ValueError(
            f"out must be a uint8 array of shape {want} (classes, z, y, x), "
            f"got {np.dtype(out.dtype).name} {tuple(out.shape)}"
        )
    stored = tuple(getattr(out, "chunks", None) or ())[1:]
    if chunk_zyx is None:
        chunk_zyx = stored or (64, 256, 256)
    chunk = tuple(int(c) for c in chunk_zyx)
    if stored:
        for c, s, n in zip(chunk, stored, shape, strict=True):
            if c % s and c < n:
                raise ValueError(
                    f"chunk_zyx {chunk} must be a multiple of out's chunks {stored} so that "
                    "no two tasks write the same stored chunk"
                )
    in_memory = isinstance(out, np.ndarray) or type(getattr(out, "store", None)).__name__ in (
        "KVStore",
        "MemoryStore",
    )
    if in_memory and scheduler not in (None, "threads", "sync", "synchronous", "single-threaded"):
        raise ValueError(
            "out lives in this process's memory, so other processes' writes would be lost; "
            "give a zarr array on disk (or object storage) with this scheduler"
        )
    overlap = tuple(overlap_zyx or DEFAULT_OVERLAP_ZYX[config.dims])
    if overlap_zyx is None and config.dims == 2:  # linking's 2 slices, plus the net's context
        overlap = (overlap[0] + config.context_slices, *overlap[1:])
    patch = tuple(patch_zyx or DEFAULT_PATCH_ZYX[config.dims])
    if batch_size is None:
        batch_size = patch[0] if config.dims == 2 else 1
    _check_views(config, views)
    halo = overlap
    boxes = list(_blocks(shape, chunk))
    key = uuid.uuid4().hex
    model_d = dask.delayed(net, name=f"unet-{key}")
    raw_d = dask.delayed(raw, name=f"raw-{key}")
    out_d = dask.delayed(out, name=f"out-{key}")
    write = dask.delayed(_write_block, pure=False)
    block = {"patch_zyx": patch, "overlap_zyx": overlap, "batch_size": batch_size, "views": views}
    tasks = [write(model_d, raw_d, out_d, box, halo, link_classes, **block) for box in boxes]
    _run(tasks, scheduler, num_workers, progress)


def _run(tasks: list[Any], scheduler: Any, num_workers: int | None, progress: bool) -> None:
    if isinstance(scheduler, str) and "://" in scheduler:
        from distributed import Client

        with Client(scheduler) as client:
            _run_distributed(client, tasks, progress)
        return
    if scheduler is not None and not isinstance(scheduler, str):
        _run_distributed(scheduler, tasks, progress)
        return
    from tqdm.dask import TqdmCallback

    kwargs: dict[str, Any] = {"scheduler": scheduler or "threads"}
    if num_workers is not None:
        kwargs["num_workers"] = num_workers
    with TqdmCallback(desc="inference", disable=not progress):
        dask.compute(*tasks, **kwargs)


def _run_distributed(client: Any, tasks: list[Any], progress: bool) -> None:
    from distributed import as_completed

    futures = client.compute(tasks)
    for fut in tqdm(as_completed(futures), total=len(futures), disable=not progress):
        fut.result()
