"""Table folders with the v4 columns filled in, for tests of the graph loaders.

The ingest stages that fill compartments, sites, areas, along-skeleton distances and control
points are not built yet (the pipeline writes nulls and empty tables), so the loader tests
write these columns themselves: by hand for the two-cell volume, at random for a phantom.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from graph import tables

COMPARTMENT_COLUMNS = [f.name for f in tables.SCHEMAS["compartments"]]
POINT_COLUMNS = [f.name for f in tables.SCHEMAS["control_points"]]


def copy_tables(src: Path, dst: Path) -> Path:
    """A copy of the table folder ``src`` at ``dst`` (replaced if present)."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst)
    return dst


def fill_at_random(src: Path, dst: Path, seed: int = 0) -> Path:
    """Copy ``src`` to ``dst`` and fill every v4 column with random values, nulls included.

    Each body gets a random subset of axon, dendrite and soma (some none at all); synapse
    compartments sometimes name a compartment the body lacks (no ``Includes`` then), and
    every nullable column is null in about a fifth of the rows.
    """
    rng = np.random.default_rng(seed)
    copy_tables(src, dst)
    neurons = tables.read_table(dst, "neurons")
    synapses = tables.read_table(dst, "synapses")
    elements = tables.read_table(dst, "elements")
    close_to = tables.read_table(dst, "close_to")

    def maybe(values: np.ndarray) -> list:
        return [None if rng.random() < 0.2 else v for v in values.tolist()]

    def uniform(low: float, high: float) -> float | None:
        return None if rng.random() < 0.2 else float(rng.uniform(low, high))

    rows = []
    for body, x, y, z in neurons[["body_id", "x", "y", "z"]].itertuples(index=False):
        for name in tables.COMPARTMENTS:
            if rng.random() < 0.6:
                rows.append(
                    {
                        "body_id": body,
                        "compartment": name,
                        "path_length_nm": float(rng.uniform(100, 5000)),
                        "nodes": int(rng.integers(1, 50)),
                        "mesh_area_nm2": uniform(1e4, 1e6),
                        "boutons": int(rng.integers(0, 4)) if name == "axon" else 0,
                        "spines": int(rng.integers(0, 4)) if name == "dendrite" else 0,
                        "x": x,
                        "y": y,
                        "z": z,
                    }
                )
    tables.write_table(dst, "compartments", pd.DataFrame(rows, columns=COMPARTMENT_COLUMNS))

    n = len(synapses)
    synapses = synapses.assign(
        mesh_area_nm2=maybe(rng.uniform(1e3, 1e5, n)),
        contact_area_nm2=maybe(rng.uniform(1e3, 1e5, n)),
        pre_compartment=maybe(rng.choice(list(tables.COMPARTMENTS), n)),
        post_compartment=maybe(rng.choice(list(tables.COMPARTMENTS), n)),
        pre_site=maybe(rng.choice(list(tables.PRE_SITES), n)),
        post_site=maybe(rng.choice(list(tables.POST_SITES), n)),
        spine_head_volume_nm3=maybe(rng.uniform(1e5, 1e7, n)),
    )
    tables.write_table(dst, "synapses", synapses)
    elements = elements.assign(
        compartment=maybe(rng.choice(list(tables.COMPARTMENTS), len(elements)))
    )
    tables.write_table(dst, "elements", elements)
    close_to = close_to.assign(distance_vx=maybe(rng.uniform(0, 100, len(close_to))))
    tables.write_table(dst, "close_to", close_to)

    mito = elements[elements["type"] == "mitochondrion"]
    points = []
    for body, x, y, z in neurons[["body_id", "x", "y", "z"]].itertuples(index=False):
        own = mito.loc[mito["body_id"] == body, "element_id"].tolist()
        for _ in range(int(rng.integers(0, 4))):
            nearest = own[int(rng.integers(len(own)))] if own and rng.random() < 0.8 else None
            points.append(
                {
                    "point_id": len(points) + 1,
                    "body_id": body,
                    "x": x + float(rng.uniform(-1, 1)),
                    "y": y + 0.25,
                    "z": float(z),
                    "element_id": nearest,
                    "euclidean_nm": None if nearest is None else float(rng.uniform(0, 2000)),
                    "distance_vx": None if nearest is None else uniform(0, 200),
                }
            )
    frame = pd.DataFrame(points, columns=POINT_COLUMNS).astype({"element_id": "Int64"})
    tables.write_table(dst, "control_points", frame)
    return dst
