"""Trainers of the voxel U-Nets: ``connectome train unet3d`` and ``connectome train unet2d``.

Each makes its training and validation phantoms (:func:`ingest.phantom.make_phantom`, in a
temporary folder), turns their label layers into the five-class target
(:func:`models.voxel_training.voxel_targets`), trains (:func:`models.voxel_training.train_unet`,
in the phases of :data:`RUNS`: each a warm restart from the weights of the one before)
and writes ``models/weights/unet3d.pt`` / ``unet2d.pt`` with the config, a description of the
data (phantom seeds and shapes, classes, training settings) and the validation F1.

Phantom seeds: training 1001-1002, validation 2001; the benchmark (``benchmarks/models.py``)
evaluates on 3001 and up, so no evaluation volume is ever seen in training. Torch runs on one
thread unless ``torch.set_num_threads`` was called before.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr
from numpy.typing import NDArray

from connectome.train import Trainer, default_out, per_name
from ingest.phantom import make_phantom
from models.augment import AugmentConfig
from models.unet import CLASSES, UNet2d, UNet3d, UNetConfig, save_checkpoint
from models.voxel_training import TrainConfig, train_unet, voxel_targets

TRAIN_SEEDS = (1001, 1002)
VALIDATION_SEED = 2001
PHANTOM_SHAPE_ZYX = (64, 256, 256)
VOXEL_SIZE_NM_ZYX = (20.0, 10.0, 10.0)

NETS = {
    "unet3d": UNetConfig(dims=3, levels=3, base_features=16, anisotropy=2.0, classes=CLASSES),
    "unet2d": UNetConfig(
        dims=2, levels=3, base_features=16, anisotropy=2.0, classes=CLASSES, context_slices=1
    ),
}
_CROPS = TrainConfig(batch_size=2, crop_zyx=(16, 64, 64))
_SLICES = TrainConfig(
    iterations=5000,
    batch_size=2,
    crop_zyx=(8, 96, 96),
    augment=AugmentConfig(missing_section_p=0.0),
)
RUNS: dict[str, tuple[TrainConfig, ...]] = {
    # four cosine cycles, each a warm restart from the last (the fourth with batches of 4):
    # 20,000 iterations, about 5.7 hours on one thread; membrane F1 on validation phantom
    # 2001 after each: 0.939, 0.945, 0.946, 0.948
    "unet3d": (
        replace(_CROPS, iterations=5000, lr=3e-3, lr_final=1e-4),
        replace(_CROPS, iterations=6000, lr=1e-3, lr_final=3e-5),
        replace(_CROPS, iterations=6000, lr=5e-4, lr_final=2e-5),
        replace(_CROPS, iterations=3000, batch_size=4, lr=3e-4, lr_final=1e-5),
    ),
    # two cosine cycles, the second a warm restart with batches of 4 (as the 3D net's
    # fourth): 8,000 iterations, about 90 minutes on one thread; validation membrane F1
    # after each: 0.946, 0.947. Trained without missing sections, as the 2D net that saw
    # slices alone was (it could not fill one in); with its neighbouring slices it now
    # could: not yet tried
    "unet2d": (
        _SLICES,
        replace(_SLICES, iterations=3000, batch_size=4, lr=3e-4, lr_final=1e-5),
    ),
}
"""Each net's training phases, run in turn: phase ``k`` has seed ``seed + k`` and starts from
the weights of phase ``k - 1`` (:func:`models.voxel_training.train_unet`'s ``init``)."""


def phantom_volume(
    folder: Path, seed: int, shape_zyx: tuple[int, int, int]
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Make a phantom in ``folder`` and return its raw image and five-class target."""
    path = folder / f"phantom-{seed}-{'x'.join(map(str, shape_zyx))}.zarr"
    make_phantom(path, seed=seed, shape_zyx=shape_zyx, voxel_size_nm_zyx=VOXEL_SIZE_NM_ZYX)
    root = zarr.open_group(str(path), mode="r")
    labels = [root[f"labels/{name}/0"][...] for name in
              ("cells", "mitochondria", "vesicle_clouds", "synaptic_junctions")]  # fmt: skip
    return root["0"][...], voxel_targets(*labels)


def train_voxel_model(
    name: str, out: Path | None, *, seed: int, quick: bool, progress: bool
) -> Path:
    """Train the U-Net ``name`` (a key of :data:`NETS`) on phantoms and write its weights.

    ``quick``: one small training phantom, a few iterations and a small validation volume
    (about a minute; for tests, not for use).
    """
    if torch.get_num_threads() > 1 and not torch.cuda.is_available():
        torch.set_num_threads(1)
    config = NETS[name]
    phases = [replace(run, seed=seed + k) for k, run in enumerate(RUNS[name])]
    train_shape = PHANTOM_SHAPE_ZYX
    val_shape = PHANTOM_SHAPE_ZYX
    seeds: tuple[int, ...] = TRAIN_SEEDS
    if quick:
        phases = [replace(phases[0], iterations=20, batch_size=1)]
        train_shape, val_shape, seeds = (32, 128, 128), (16, 64, 64), TRAIN_SEEDS[:1]
    with tempfile.TemporaryDirectory(prefix="connectome-train-") as tmp:
        volumes = [phantom_volume(Path(tmp), s, train_shape) for s in seeds]
        validation = phantom_volume(Path(tmp), VALIDATION_SEED, val_shape)
    model, metrics = train_phases(config, volumes, validation, phases, name, progress)
    data: dict[str, Any] = {
        "source": "ingest.phantom.make_phantom",
        "train_seeds": list(seeds),
        "validation_seed": VALIDATION_SEED,
        "shape_zyx": list(train_shape),
        "validation_shape_zyx": list(val_shape),
        "voxel_size_nm_zyx": list(VOXEL_SIZE_NM_ZYX),
        "classes": list(config.classes),
        "targets": "models.voxel_training.voxel_targets",
        "training": [run.to_dict() for run in phases],
        "quick": quick,
    }
    return save_checkpoint(out or default_out(name), model, config, data, metrics)


def train_phases(
    config: UNetConfig,
    volumes: list[tuple[NDArray[np.uint8], NDArray[np.uint8]]],
    validation: tuple[NDArray[np.uint8], NDArray[np.uint8]],
    phases: list[TrainConfig],
    name: str,
    progress: bool,
) -> tuple[UNet3d | UNet2d, dict[str, Any]]:
    """Train ``phases`` in turn, each from the last one's weights; the validation F1 is taken
    once, at the end.  ``metrics`` sums ``seconds`` and ``iterations`` over the phases and
    lists each phase's under ``phases``."""
    state = None
    done: list[dict[str, Any]] = []
    metrics: dict[str, Any] = {}
    for k, run in enumerate(phases):
        last = k == len(phases) - 1
        desc = name if len(phases) == 1 else f"{name} phase {k + 1}/{len(phases)}"
        model, metrics = train_unet(config, volumes, validation if last else None, run,
                                    init=state, progress=progress, desc=desc)  # fmt: skip
        state = model.state_dict()
        done.append({key: metrics[key] for key in ("iterations", "seconds", "loss")})
    metrics["iterations"] = sum(p["iterations"] for p in done)
    metrics["seconds"] = round(sum(p["seconds"] for p in done), 1)
    metrics["phases"] = done
    return model, metrics


TRAINERS: dict[str, Trainer] = per_name(train_voxel_model, NETS)
