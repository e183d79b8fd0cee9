"""Cell types from the point model: several predictions per cell, their agreement as confidence.

As SyConn2 (thesis chapter 4), every cell is classified from ``samples`` large contexts of its
cloud (:mod:`ingest.point_clouds`, kinds :data:`~ingest.point_clouds.CELLTYPE_KINDS`) around
random skeleton nodes, each turned at random about z; the cell's type is the most frequent
prediction and ``typeConfidence`` the fraction of the samples that agree with it. The
predictions go to ``predicted_types.csv`` in the tables folder, in the annotation-table
format of :mod:`graph.annotations` (``bodyId``, ``type``, ``typeConfidence``), so
``graph.annotations.annotate(settings, dataset, predicted_annotations(folder))`` applies them
(before the annotations kept from earlier, so that what a user set wins).

Weights: ``models/weights/celltypes.pt`` (``connectome train celltypes``); without it the
stage writes nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ingest.point_clouds import (
    CELLTYPE_KINDS,
    CloudParams,
    cell_cloud,
    cells_from_tables,
    draw_context,
    rotate_z,
)

WEIGHTS = Path(__file__).resolve().parent.parent / "models" / "weights" / "celltypes.pt"
TYPE_NAMES = ("TypeA", "TypeB")  # the phantom's types, the classes of the shipped weights
PREDICTED_TYPES = "predicted_types.csv"


def predict_types(
    tables: str | os.PathLike,
    weights: str | os.PathLike = WEIGHTS,
    samples: int = 7,
    seed: int = 0,
) -> pd.DataFrame:
    """``bodyId`` (string), ``type``, ``typeConfidence`` and the mean class probabilities of
    every meshed and skeletonised cell of an ingest's tables folder."""
    import torch

    from ingest.compartment_model import load

    torch.set_num_threads(1)
    net, data = load(str(weights))
    params = CloudParams(**data.get("cloud", {}))
    names = list(net.config.cls_names) or [str(i) for i in range(net.config.n_cls_classes)]
    rows: list[dict[str, Any]] = []
    for cell in cells_from_tables(Path(tables)):
        rng = np.random.default_rng([seed, cell.body_id % 2**32])
        cloud = cell_cloud(cell.mesh, cell.organelles, CELLTYPE_KINDS, rng, params)
        tree = cKDTree(cloud.points_nm_xyz)
        nodes = cell.skeleton.vertices_nm_xyz
        contexts = []
        for _ in range(samples * 3):
            ctx = draw_context(cloud, nodes[int(rng.integers(len(nodes)))], rng, params, tree)
            if ctx is not None:
                contexts.append(ctx)
            if len(contexts) == samples:
                break
        if not contexts:
            continue
        coords = torch.from_numpy(np.stack([rotate_z(c.coords, rng) for c in contexts]))
        feats = torch.from_numpy(np.stack([c.features for c in contexts]))
        with torch.no_grad():
            prob = torch.softmax(net(coords, feats)[1], dim=-1).numpy()
        votes = np.bincount(prob.argmax(axis=1), minlength=len(names))
        best = int(np.argmax(votes))
        rows.append({"bodyId": str(cell.body_id), "type": names[best],
                     "typeConfidence": round(float(votes[best] / len(contexts)), 4),
                     **{f"p_{n}": float(p) for n, p in zip(names, prob.mean(axis=0),
                                                            strict=True)}})  # fmt: skip
    return pd.DataFrame(rows, columns=["bodyId", "type", "typeConfidence",
                                       *(f"p_{n}" for n in names)])  # fmt: skip


def write_predicted_types(
    tables: str | os.PathLike, weights: str | os.PathLike = WEIGHTS, **kwargs: Any
) -> Path | None:
    """Write ``predicted_types.csv`` (``bodyId, type, typeConfidence``) into the tables folder
    (atomically); ``None`` without the weight file."""
    if not Path(weights).exists():
        return None
    table = predict_types(tables, weights, **kwargs)[["bodyId", "type", "typeConfidence"]]
    out = Path(tables) / PREDICTED_TYPES
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    table.to_csv(tmp, index=False)
    os.replace(tmp, out)
    return out


def predicted_annotations(tables: str | os.PathLike) -> list[dict[str, Any]]:
    """The predicted types of a tables folder as annotation rows for
    :func:`graph.annotations.annotate` with ``typeSource: 'model'`` (empty when the stage
    wrote none).

    Examples
    --------
    >>> import tempfile
    >>> predicted_annotations(tempfile.mkdtemp())
    []
    """
    from graph.annotations import read_annotations

    path = Path(tables) / PREDICTED_TYPES
    rows = read_annotations(path) if path.exists() else []
    return [{**row, "typeSource": "model"} for row in rows]
