"""Training the voxel U-Nets on numpy volumes: targets from label arrays, crops, loss, loop.

- :func:`voxel_targets` turns label arrays (cell instances, organelle and junction masks)
  into the multilabel target ``(classes, z, y, x)`` of :data:`models.unet.CLASSES`;
- :func:`train_unet` trains a :class:`models.unet.UNet3d` or :class:`models.unet.UNet2d` on
  random crops of raw uint8 volumes ``(z, y, x)`` and their targets, with augmentation
  (:mod:`models.augment`), binary cross-entropy plus soft Dice per class (weighted so that
  rare classes count), Adam with a cosine learning-rate decay, on CUDA when present; it
  returns the net and its per-class F1 on a validation volume.

Tensor layouts: a batch of crops is ``(batch, 1, z, y, x)`` for the 3D net; for the 2D net
the same crops are reshaped to ``(batch * z, 2c + 1, y, x)`` (every slice its own sample,
with its ``c = context_slices`` neighbours on each side as channels; the loss then leaves
out the ``c`` first and last slices of each crop, whose neighbours the crop cut off).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import ArrayLike, NDArray
from tqdm import tqdm

from .augment import AugmentConfig, augment
from .inference import predict_array
from .metrics import class_f1
from .unet import (
    CLASSES,
    UNet2d,
    UNet3d,
    UNetConfig,
    build_unet,
    default_device,
    normalise_raw,
    slice_index,
)


def voxel_targets(
    cells: ArrayLike,
    mitochondria: ArrayLike,
    vesicle_clouds: ArrayLike,
    synaptic_junctions: ArrayLike,
) -> NDArray[np.uint8]:
    """The multilabel target ``(5, z, y, x)`` (0/1) of :data:`models.unet.CLASSES`.

    What the phantom's raw image draws (``ingest/phantom/raw.py``):

    - **membrane**: every voxel of a cell (``cells != 0``) that shares a face (along z, y or
      x) with a voxel of another label, background included: dark in the raw image;
    - **mitochondria**, **vesicle_cloud**, **synaptic_junction**: their masks (non-zero);
    - **cytosol**: the rest of the inside of cells, the light cytoplasm: in a cell and none of
      membrane, mitochondrion, vesicle cloud or junction.

    Background (``cells == 0``, outside every organelle) is in no class. Classes may overlap
    (a junction's voxels on the contact face are membrane too).

    Parameters
    ----------
    cells : array_like of int
        Cell instance ids ``(z, y, x)``, 0 = background.
    mitochondria, vesicle_clouds, synaptic_junctions : array_like
        Masks of the same shape (non-zero inside: 0/1 or 0/255).

    Returns
    -------
    ndarray of uint8, shape ``(5, z, y, x)``

    Examples
    --------
    >>> cells = np.zeros((1, 1, 6), np.uint64)
    >>> cells[0, 0, 1:3], cells[0, 0, 3:5] = 7, 9
    >>> none = np.zeros_like(cells, np.uint8)
    >>> mito = none.copy(); mito[0, 0, 4] = 1
    >>> t = voxel_targets(cells, mito, none, none)
    >>> t[:3, 0, 0].tolist()   # cytosol, membrane, mitochondria along x
    [[0, 0, 0, 0, 0, 0], [0, 1, 1, 1, 1, 0], [0, 0, 0, 0, 1, 0]]
    """
    lab = np.asarray(cells)
    masks = [np.asarray(m) for m in (mitochondria, vesicle_clouds, synaptic_junctions)]
    names = ("mitochondria", "vesicle_clouds", "synaptic_junctions")
    for m, name in zip(masks, names, strict=True):
        if m.shape != lab.shape:
            raise ValueError(f"{name} has shape {m.shape} but cells has {lab.shape}")
    membrane = np.zeros(lab.shape, dtype=bool)
    for axis in range(lab.ndim):
        lo = [slice(None)] * lab.ndim
        hi = [slice(None)] * lab.ndim
        lo[axis] = slice(None, -1)
        hi[axis] = slice(1, None)
        a, b = lab[tuple(lo)], lab[tuple(hi)]
        diff = a != b
        membrane[tuple(lo)] |= diff & (a != 0)
        membrane[tuple(hi)] |= diff & (b != 0)
    mito, ves, junction = (m != 0 for m in masks)
    cytosol = (lab != 0) & ~membrane & ~mito & ~ves & ~junction
    return np.stack([cytosol, membrane, mito, ves, junction]).astype(np.uint8)


@dataclass(frozen=True)
class TrainConfig:
    """How :func:`train_unet` trains.

    ``crop_zyx`` is one sample's crop (for the 2D net, its z slices become samples of their
    own); ``rare_crop_p`` is the share of crops centred on a voxel of one of
    ``rare_classes`` (so junctions and vesicle clouds are seen often); class weights are
    ``(max frequency / frequency) ** class_weight_power``, at most ``max_class_weight``,
    scaled to mean 1.
    """

    iterations: int = 1000
    batch_size: int = 2
    crop_zyx: tuple[int, int, int] = (16, 64, 64)
    lr: float = 3e-3
    lr_final: float = 1e-4
    dice_weight: float = 1.0
    rare_crop_p: float = 0.5
    rare_classes: tuple[str, ...] = ("mitochondria", "vesicle_cloud", "synaptic_junction")
    class_weight_power: float = 0.35
    max_class_weight: float = 10.0
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for the checkpoint's data description)."""
        return asdict(self)


def class_frequencies(targets: Sequence[NDArray]) -> NDArray[np.float64]:
    """Share of voxels in each class over all training targets ``(classes, ...)``.

    Examples
    --------
    >>> t = np.zeros((2, 100), np.uint8); t[0, :50] = 1; t[1, :2] = 1
    >>> class_frequencies([t]).tolist()
    [0.5, 0.02]
    """
    counts = sum(np.count_nonzero(t.reshape(t.shape[0], -1), axis=1) for t in targets)
    total = sum(t[0].size for t in targets)
    return np.maximum(np.asarray(counts, dtype=np.float64) / total, 1e-6)


def class_weights(
    freq: NDArray[np.float64], power: float = 0.5, max_weight: float = 10.0
) -> NDArray[np.float32]:
    """Per-class loss weights ``(max frequency / frequency) ** power``, capped, mean 1.

    Examples
    --------
    >>> class_weights(np.array([0.5, 0.02])).astype(float).round(3).tolist()
    [0.333, 1.667]
    """
    w = np.minimum((freq.max() / freq) ** power, max_weight)
    return (w / w.mean()).astype(np.float32)


def _loss(
    logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor, dice_weight: float
) -> torch.Tensor:
    """Weighted mean over classes of BCE + dice_weight * soft Dice loss; ``(N, C, ...)``."""
    dims = (0, *range(2, logits.ndim))
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dim=dims)
    prob = torch.sigmoid(logits)
    inter = (prob * target).sum(dim=dims)
    dice = 1.0 - (2.0 * inter + 1.0) / (prob.sum(dim=dims) + target.sum(dim=dims) + 1.0)
    return (weights * (bce + dice_weight * dice)).sum() / weights.sum()


class _Crops:
    """Random crops of the training volumes, half of them centred on rare-class voxels."""

    def __init__(
        self,
        volumes: Sequence[tuple[NDArray, NDArray]],
        classes: Sequence[str],
        train: TrainConfig,
        rng: np.random.Generator,
    ):
        self.volumes = volumes
        self.train = train
        self.rng = rng
        self.crop = np.array(train.crop_zyx)
        for raw, target in volumes:
            if raw.ndim != 3 or target.shape != (len(classes), *raw.shape):
                raise ValueError(
                    f"a training volume needs raw (z, y, x) and target ({len(classes)}, z, y, x);"
                    f" got {raw.shape} and {target.shape}"
                )
            if any(s < c for s, c in zip(raw.shape, train.crop_zyx, strict=True)):
                raise ValueError(f"volume {raw.shape} is smaller than the crop {train.crop_zyx}")
        rare = [classes.index(c) for c in train.rare_classes if c in classes]
        # flat indices of rare-class voxels, per volume and class (subsampled to bound memory)
        self.rare: list[list[NDArray[np.int64]]] = []
        for _, target in volumes:
            per = []
            for c in rare:
                idx = np.flatnonzero(target[c])
                if idx.size > 200_000:
                    idx = np.sort(rng.choice(idx, 200_000, replace=False))
                if idx.size:
                    per.append(idx)
            self.rare.append(per)
        sizes = np.array([raw.size for raw, _ in volumes], dtype=np.float64)
        self.p_volume = sizes / sizes.sum()

    def sample(self) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
        rng = self.rng
        v = int(rng.choice(len(self.volumes), p=self.p_volume))
        raw, target = self.volumes[v]
        shape = np.array(raw.shape)
        if self.rare[v] and rng.random() < self.train.rare_crop_p:
            idx = self.rare[v][int(rng.integers(len(self.rare[v])))]
            centre = np.array(np.unravel_index(int(idx[rng.integers(idx.size)]), raw.shape))
            start = centre - self.crop // 2 + rng.integers(-self.crop // 4, self.crop // 4 + 1)
        else:
            start = rng.integers(0, shape - self.crop + 1)
        start = np.clip(start, 0, shape - self.crop)
        box = tuple(slice(int(s), int(s + c)) for s, c in zip(start, self.crop, strict=True))
        return augment(raw[box], target[(slice(None), *box)], rng, self.train.augment)


def _forward(model: UNet3d | UNet2d, x: torch.Tensor) -> torch.Tensor:
    """Logits ``(batch, C, z, y, x)`` of crops ``(batch, 1, z, y, x)`` for either net."""
    if model.config.dims == 3:
        return model(x)
    b, _, z, y, xx = x.shape
    context = model.config.context_slices
    idx = torch.from_numpy(slice_index(z, context)).to(x.device)
    stacks = x[:, 0][:, idx]  # (batch, z, 2c + 1, y, x)
    out = model(stacks.reshape(b * z, 2 * context + 1, y, xx))
    return out.reshape(b, z, -1, y, xx).permute(0, 2, 1, 3, 4)


def evaluate_f1(
    model: UNet3d | UNet2d, raw: ArrayLike, target: ArrayLike, threshold: float = 0.5
) -> dict[str, dict[str, float]]:
    """Per-class precision, recall and F1 of the net's thresholded probabilities on a volume.

    Predicted with :func:`models.inference.predict_array` (blended patches; slice linking for
    the 2D net), compared with ``target`` ``(classes, z, y, x)``.
    """
    prob = predict_array(model, np.asarray(raw), device=next(model.parameters()).device)
    return class_f1(prob >= threshold, np.asarray(target) > 0, model.config.classes)


def train_unet(
    config: UNetConfig,
    volumes: Sequence[tuple[NDArray[np.uint8], NDArray[np.uint8]]],
    validation: tuple[NDArray[np.uint8], NDArray[np.uint8]] | None = None,
    train: TrainConfig = TrainConfig(),
    *,
    init: Mapping[str, torch.Tensor] | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    desc: str | None = None,
) -> tuple[UNet3d | UNet2d, dict[str, Any]]:
    """Train a U-Net on raw volumes and their multilabel targets.

    Parameters
    ----------
    config : UNetConfig
        The net to build (``dims`` 3 or 2).
    volumes : sequence of (raw, target)
        Training volumes: raw uint8 ``(z, y, x)``, target ``(classes, z, y, x)`` 0/1 (e.g.
        from :func:`voxel_targets`), each at least one crop large.
    validation : (raw, target), optional
        A held-out volume for the per-class F1 reported at the end.
    train : TrainConfig
        Iterations, crops, learning rate, loss and augmentation settings, and the seed.
    init : mapping of str to Tensor, optional
        Weights to start from (a ``state_dict`` of a net of the same ``config``), for a warm
        restart: Adam and the learning-rate cosine start afresh and the output biases are set
        to the class priors, as for a new net; the other weights are kept.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    progress : bool
        Show a progress bar with the running loss.
    desc : str, optional
        The progress bar's label (default ``unet3d`` / ``unet2d``).

    Returns
    -------
    model : UNet3d or UNet2d
        The trained net in ``eval()`` mode.
    metrics : dict
        ``loss`` (mean of the last 50 iterations), ``seconds``, ``iterations``,
        ``class_weights`` and, with a validation volume, ``f1``, ``precision`` and
        ``recall`` per class.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> cells = np.repeat(np.arange(1, 9), 2)[None, None, :].repeat(4, 0).repeat(16, 1)
    >>> none = np.zeros(cells.shape, np.uint8)
    >>> target = voxel_targets(cells, none, none, none)
    >>> raw = np.where(target[1] > 0, 45, 165).astype(np.uint8)
    >>> cfg = UNetConfig(dims=3, levels=2, base_features=2)
    >>> tc = TrainConfig(iterations=2, batch_size=1, crop_zyx=(2, 8, 8))
    >>> model, metrics = train_unet(cfg, [(raw, target)], (raw, target), tc, progress=False)
    >>> sorted(metrics["f1"]) == sorted(cfg.classes)
    True
    """
    if config.classes != CLASSES and len(config.classes) != len(volumes[0][1]):
        raise ValueError("the targets must have one channel per class of the config")
    if config.context_slices and train.crop_zyx[0] <= 2 * config.context_slices:
        raise ValueError(
            f"a crop of {train.crop_zyx[0]} slices leaves none with all "
            f"{config.context_slices} neighbours on each side; make crop_zyx deeper"
        )
    dev = torch.device(device) if device is not None else default_device()
    torch.manual_seed(train.seed)
    rng = np.random.default_rng(train.seed)
    layout = torch.channels_last_3d if config.dims == 3 else torch.channels_last
    model = build_unet(config)
    if init is not None:
        model.load_state_dict(init)
    model = model.to(dev)
    model.to(memory_format=layout)  # faster convolutions on the CPU
    crops = _Crops(volumes, config.classes, train, rng)
    freq = class_frequencies([t for _, t in volumes])
    weights_np = class_weights(freq, train.class_weight_power, train.max_class_weight)
    with torch.no_grad():  # start every class at its prior: rare classes do not begin at 0.5
        prior = np.clip(freq, 1e-4, 1 - 1e-4)
        bias = model.head.bias
        if bias is not None:
            bias.copy_(torch.from_numpy(np.log(prior / (1 - prior))).float())
    weights = torch.from_numpy(weights_np).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=train.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: _cosine(i, train))
    losses: list[float] = []
    t0 = time.perf_counter()
    model.train()
    bar = tqdm(range(train.iterations), desc=desc or f"unet{config.dims}d", disable=not progress)
    for _ in bar:
        batch = [crops.sample() for _ in range(train.batch_size)]
        x = torch.from_numpy(np.stack([normalise_raw(r) for r, _ in batch])[:, None]).to(dev)
        if config.dims == 3:
            x = x.contiguous(memory_format=layout)
        y = torch.from_numpy(np.stack([t for _, t in batch]).astype(np.float32)).to(dev)
        logits = _forward(model, x)
        if config.context_slices:  # slices whose neighbours the crop cut off do not count
            inner = slice(config.context_slices, -config.context_slices)
            logits, y = logits[:, :, inner], y[:, :, inner]
        loss = _loss(logits, y, weights, train.dice_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if len(losses) % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    model.eval()
    metrics: dict[str, Any] = {
        "loss": float(np.mean(losses[-50:])) if losses else float("nan"),
        "seconds": round(time.perf_counter() - t0, 1),
        "iterations": train.iterations,
        "class_weights": {
            c: round(float(w), 3) for c, w in zip(config.classes, weights_np, strict=True)
        },
    }
    if validation is not None:
        scores = evaluate_f1(model, *validation)
        for key in ("f1", "precision", "recall"):
            metrics[key] = {c: round(s[key], 4) for c, s in scores.items()}
    return model, metrics


def _cosine(i: int, train: TrainConfig) -> float:
    """Learning-rate factor at iteration ``i``: cosine from 1 to ``lr_final / lr``."""
    end = train.lr_final / train.lr
    frac = min(1.0, i / max(1, train.iterations))
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * frac))
