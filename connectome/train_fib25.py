"""Trainers of the FIB-25 boundary models: ``connectome train fib25_unet3d`` and
``connectome train fib25_unet2d``.

The data are the real FIB-25 medulla sample (``../shared/data/fib25/training_sample2``, read
by :mod:`ingest.fib25`: 250³ voxels of 10 nm, ground-truth neurons). One class, ``boundary``:
a voxel of a body that shares a face with another body (both sides of every contact, so two
voxels thick; :func:`boundary_target`). Training uses ``z < TEST_Z_FROM`` only (with the U-Nets'
augmentation); ``z >= TEST_Z_FROM`` is the benchmark's test block
(``benchmarks/fib25_segmentation.py``), never seen here. Torch runs on one thread unless
``torch.set_num_threads`` was called before.
"""

from __future__ import annotations

from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from connectome.train import Trainer, default_out, per_name
from ingest.fib25 import VOXEL_SIZE_NM_ZYX, is_fib25, load_bodies, load_raw
from models.augment import AugmentConfig
from models.unet import UNetConfig, save_checkpoint
from models.voxel_training import TrainConfig, train_unet, voxel_targets

# the shared data folder sits beside the checkout (../shared); a clone elsewhere finds it at
# the workplace's usual place
_SAMPLES = [root / "shared" / "data" / "fib25" / "training_sample2"
            for root in (Path(__file__).resolve().parents[2], Path("/work"))]  # fmt: skip
SAMPLE = next((p for p in _SAMPLES if p.exists()), _SAMPLES[0])
TEST_Z_FROM = 150
CLASSES = ("boundary",)

NETS = {
    "fib25_unet3d": UNetConfig(dims=3, levels=3, base_features=8, anisotropy=1.0, classes=CLASSES),
    "fib25_unet2d": UNetConfig(dims=2, levels=3, base_features=8, anisotropy=1.0, classes=CLASSES),
}
_BOUNDARY_RUN = TrainConfig(rare_crop_p=0.0, rare_classes=(), dice_weight=0.5)
RUNS = {
    "fib25_unet3d": replace(_BOUNDARY_RUN, iterations=400, batch_size=2, crop_zyx=(24, 64, 64)),
    # the 2D net sees no neighbouring slice: a missing section cannot be filled in from one
    "fib25_unet2d": replace(
        _BOUNDARY_RUN,
        iterations=1000,
        batch_size=2,
        crop_zyx=(8, 96, 96),
        augment=AugmentConfig(missing_section_p=0.0),
    ),
}


@cache
def load_sample(path: Path = SAMPLE) -> tuple[NDArray[np.uint8], NDArray[np.uint64]]:
    """The FIB-25 raw image and ground-truth bodies, ``[z, y, x]`` (read once per process).

    Raises
    ------
    FileNotFoundError
        If ``path`` is not the FIB-25 training sample.
    """
    if not is_fib25(path):
        raise FileNotFoundError(f"{path} is not the FIB-25 training sample; expected "
                                "grayscale_maps/ and groundtruth.h5.gz there")  # fmt: skip
    bodies = load_bodies(path)
    return load_raw(path, bodies.shape[0]), bodies


def boundary_target(bodies: NDArray[Any]) -> NDArray[np.uint8]:
    """The one-class target ``(1, z, y, x)``: body voxels that share a face with another label.

    The membrane channel of :func:`models.voxel_training.voxel_targets`: both sides of each
    contact between bodies; label 0 (unlabelled, 16 voxels of FIB-25's 15.6 million) is never
    boundary itself, its neighbours are.

    Examples
    --------
    >>> boundary_target(np.array([[[1, 1, 1, 2, 2, 2]]]))[0, 0, 0].tolist()
    [0, 0, 1, 1, 0, 0]
    """
    none = np.zeros(bodies.shape, np.uint8)
    return voxel_targets(bodies, none, none, none)[1:2]


def train_fib25_model(
    name: str, out: Path | None, *, seed: int, quick: bool, progress: bool
) -> Path:
    """Train the boundary U-Net ``name`` (a key of :data:`NETS`) on FIB-25 ``z < 150``.

    The last 20 training slices (``z`` 130-149) are held out of the crops for the validation
    F1 stored with the weights. ``quick``: a 48³ corner for training, 20 iterations (about a
    minute; for tests, not for use).
    """
    if torch.get_num_threads() > 1 and not torch.cuda.is_available():
        torch.set_num_threads(1)
    config = NETS[name]
    run = replace(RUNS[name], seed=seed)
    raw, bodies = load_sample()
    val_from = TEST_Z_FROM - 20
    train_box = (slice(0, val_from), slice(None), slice(None))
    val_box = (slice(val_from, TEST_Z_FROM), slice(None), slice(None))
    if quick:
        run = replace(run, iterations=20, batch_size=1, crop_zyx=(8, 32, 32))
        train_box = (slice(0, 48), slice(0, 48), slice(0, 48))
        val_box = (slice(val_from, TEST_Z_FROM), slice(0, 48), slice(0, 48))
    volumes = [(raw[train_box], boundary_target(bodies[train_box]))]
    validation = (raw[val_box], boundary_target(bodies[val_box]))
    model, metrics = train_unet(config, volumes, validation, run, progress=progress)
    data: dict[str, Any] = {
        "source": "FIB-25 training_sample2 (janelia-flyem/neuroproof_examples, CC-BY 3.0)",
        "train_zyx": [list(s.indices(n))[:2] for s, n in zip(train_box, raw.shape, strict=True)],
        "validation_zyx": [list(s.indices(n))[:2] for s, n in zip(val_box, raw.shape, strict=True)],
        "test_z_from": TEST_Z_FROM,
        "voxel_size_nm_zyx": list(VOXEL_SIZE_NM_ZYX),
        "classes": list(config.classes),
        "targets": "connectome.train_fib25.boundary_target",
        "training": run.to_dict(),
        "quick": quick,
    }
    return save_checkpoint(out or default_out(name), model, config, data, metrics)


TRAINERS: dict[str, Trainer] = per_name(train_fib25_model, NETS)
