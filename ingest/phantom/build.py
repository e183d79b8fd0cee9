"""The phantom's build: runs the stages in their fixed order and collects the output arrays.

The order of the stages is the order of the random draws, so changing it changes the phantom.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from . import morphology, organelles, synapses
from .raw import render_raw
from .scene import Scene
from .truth import ground_truth

_STAGES: list[tuple[str, Callable[[Scene], None]]] = [
    ("plan cells", morphology.plan_cells),
    ("rasterise cells", morphology.rasterise_cells),
    ("place boutons", morphology.place_boutons),
    ("junction sizes", synapses.assign_junction_sizes),
    ("rasterise axons", morphology.rasterise_axons),
    ("carve gaps", morphology.carve_gaps),
    ("synaptic junctions", synapses.rasterise_junctions),
    ("orphan junctions", synapses.place_orphans),
    ("mitochondria near synapses", synapses.place_synaptic_mitos),
    ("vesicle clouds", synapses.place_vesicle_clouds),
    ("other mitochondria", organelles.place_other_mitos),
]


def build_scene(
    seed: int,
    shape_zyx: tuple[int, int, int],
    voxel_size_nm_zyx: tuple[float, float, float],
    step: Callable[[str], None] = lambda name: None,
) -> Scene:
    """The phantom's scene once every stage has drawn (cells, their planted geometry and the
    label arrays), before the ground truth and the raw image; ``step(name)`` after each stage.

    Examples
    --------
    >>> scene = build_scene(0, (16, 64, 64), (20.0, 10.0, 10.0))
    >>> scene.lab.shape, len(scene.cells) >= 4
    ((16, 64, 64), True)
    """
    scene = Scene(seed, shape_zyx, voxel_size_nm_zyx)
    for name, fn in _STAGES:
        fn(scene)
        step(name)
    return scene


def build(
    seed: int,
    shape_zyx: tuple[int, int, int],
    voxel_size_nm_zyx: tuple[float, float, float],
    progress: bool,
) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
    """Build a phantom in memory.

    Returns the volumes (``raw``; the cell labels as ``cells_index`` into the id table
    ``cells_lut``; the other label arrays by their ``LABEL_NAMES`` name) and the ground truth.
    """
    bar = tqdm(total=len(_STAGES) + 2, disable=not progress, desc="phantom")

    def step(name: str) -> None:
        bar.set_postfix_str(name)
        bar.update()

    scene = build_scene(seed, shape_zyx, voxel_size_nm_zyx, step)
    bar.set_postfix_str("ground truth")
    truth, syn_type_of_jid = ground_truth(scene)
    bar.update()
    bar.set_postfix_str("raw image")
    raw = render_raw(scene)
    bar.update()
    bar.close()
    jmask = scene.jid > 0
    synapse_type = syn_type_of_jid[scene.jid]
    ids = np.array([0] + [c.id for c in scene.cells], dtype=np.uint64)
    volumes: dict[str, NDArray[Any]] = {
        "raw": raw,
        "cells_lut": ids,
        "cells_index": scene.lab,
        "mitochondria": (scene.mid > 0).astype(np.uint8),
        "vesicle_clouds": scene.ves.astype(np.uint8),
        "synaptic_junctions": jmask.astype(np.uint8),
        "synapse_type": synapse_type,
        "truth_compartments": scene.comp,
    }
    return volumes, truth
