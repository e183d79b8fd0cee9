"""``connectome train NAME``: reproduce one shipped weight file from scratch.

Every file under ``models/weights/`` is made by exactly one trainer here, named after it, so
``connectome train unet3d`` rebuilds ``models/weights/unet3d.pt`` (or writes it elsewhere with
``--out``). Trainers live in the modules of :data:`TRAINER_MODULES`, each exposing
``TRAINERS: dict[str, Trainer]``; a new model joins by adding its trainer there, not by an
``if`` here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Protocol

TRAINER_MODULES = ("connectome.train_voxel", "connectome.train_fib25", "connectome.train_points")
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "models" / "weights"


class Trainer(Protocol):
    """Train one model and write its weight file; returns the path written.

    ``out`` is the weight file to write (``None``: the shipped one, :func:`default_out`),
    ``seed`` makes the run repeatable, ``quick`` trades
    quality for a run of a minute or two (for tests); ``progress`` shows progress bars.
    """

    def __call__(self, out: Path | None, *, seed: int, quick: bool, progress: bool) -> Path: ...


def trainers() -> dict[str, Trainer]:
    """Every registered trainer by weight name.

    Examples
    --------
    >>> {"unet3d", "fib25_unet2d", "synapse_rf"} <= set(trainers())
    True
    """
    found: dict[str, Trainer] = {}
    for name in TRAINER_MODULES:
        found.update(importlib.import_module(name).TRAINERS)
    return found


def per_name(train_model: Callable[..., Path], names: Iterable[str]) -> dict[str, Trainer]:
    """One trainer per weight name, each calling ``train_model(name, out, seed=…, quick=…,
    progress=…)``: for a module that trains several nets with one function."""
    return {name: partial(train_model, name) for name in names}


def default_out(name: str, suffix: str = ".pt") -> Path:
    """Where the shipped weight file ``name`` lives (``models/weights/<name><suffix>``)."""
    return WEIGHTS_DIR / f"{name}{suffix}"
