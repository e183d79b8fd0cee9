"""``connectome train NAME``: reproduce one shipped weight file from scratch.

Every file under ``models/weights/`` is made by exactly one trainer here, named after it, so
``connectome train unet3d`` rebuilds ``models/weights/unet3d.pt`` (or writes it elsewhere with
``--out``). Trainers live in the modules of :data:`TRAINER_MODULES`, each exposing
``TRAINERS: dict[str, Trainer]``; a new model joins by adding its trainer there, not by an
``if`` here.
"""

from __future__ import annotations

import importlib
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
    >>> isinstance(trainers(), dict)
    True
    """
    found: dict[str, Trainer] = {}
    for name in TRAINER_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # that family of models is not there yet
                continue
            raise
        found.update(module.TRAINERS)
    return found


def default_out(name: str, suffix: str = ".pt") -> Path:
    """Where the shipped weight file ``name`` lives (``models/weights/<name><suffix>``)."""
    return WEIGHTS_DIR / f"{name}{suffix}"
