"""Organelle stage: mitochondria and vesicle-cloud instances assigned to cells."""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import fastremap
import numpy as np
import pandas as pd


def binarize(layer: np.ndarray) -> np.ndarray:
    """A 0/1 or 0/255 mask, or a uint8 probability map, as a boolean mask.

    Examples
    --------
    >>> binarize(np.array([0, 1, 1], np.uint8)).tolist()
    [False, True, True]
    >>> binarize(np.array([0, 100, 200, 255], np.uint8)).tolist()
    [False, False, True, True]
    """
    arr = np.asarray(layer)
    if arr.dtype == bool:
        return arr
    return arr >= 128 if arr.size and arr.max() > 1 else arr > 0


@dataclass
class Organelles:
    """Instances of one organelle type: ``instances`` [z, y, x] uint32 (0 = none), and per
    instance the compact cell index it belongs to (``cell[k]``, 0 = none)."""

    kind: str
    instances: np.ndarray
    cell: np.ndarray  # (n + 1,) compact cell index of instance k
    table: pd.DataFrame


def find_organelles(
    mask: np.ndarray, compact_cells: np.ndarray, cell_ids: np.ndarray, kind: str, first_id: int = 1
) -> Organelles:
    """Connected components (26-connected) of ``mask``, each assigned to the cell that holds
    most of its voxels. Components lying wholly outside cells are dropped.

    Examples
    --------
    >>> cells = np.zeros((3, 6, 6), np.uint32); cells[:, :, :3] = 1; cells[:, :, 3:] = 2
    >>> mito = np.zeros((3, 6, 6), bool); mito[1, 1:3, 1:3] = True; mito[1, 4, 2:5] = True
    >>> org = find_organelles(mito, cells, np.array([0, 10, 20], np.uint64), "mitochondrion")
    >>> org.table[["element_id", "body_id", "voxels"]].to_dict("records")
    [{'element_id': 1, 'body_id': 10, 'voxels': 4}, {'element_id': 2, 'body_id': 20, 'voxels': 3}]
    >>> [round(float(v), 3) for v in org.table["overlap"]]
    [1.0, 0.667]
    """
    columns = ["element_id", "type", "body_id", "voxels", "overlap", "x", "y", "z"]
    instances = cc3d.connected_components(mask, connectivity=26, out_dtype=np.uint32)
    n = int(instances.max()) if instances.size else 0
    cell = np.zeros(n + 1, dtype=np.uint32)
    if n == 0:
        return Organelles(kind, instances, cell, pd.DataFrame(columns=columns))
    inside = instances > 0
    keys = (instances[inside].astype(np.uint64) << np.uint64(32)) | compact_cells[inside]
    uniq, counts = fastremap.unique(keys, return_counts=True)
    inst = (uniq >> np.uint64(32)).astype(np.int64)
    cel = (uniq & np.uint64(0xFFFFFFFF)).astype(np.int64)
    total = np.bincount(inst, weights=counts, minlength=n + 1)
    frame = pd.DataFrame({"inst": inst, "cell": cel, "count": counts})
    frame = frame[frame["cell"] > 0].sort_values(
        ["inst", "count", "cell"], ascending=[True, False, True]
    )
    best = frame.drop_duplicates("inst")
    cell[best["inst"].to_numpy()] = best["cell"].to_numpy()
    stats = cc3d.statistics(instances)
    rows = []
    for new_id, r in enumerate(best.itertuples(index=False), start=first_id):
        cz, cy, cx = np.round(stats["centroids"][r.inst]).astype(int)
        rows.append(
            (
                new_id,
                kind,
                cell_ids[r.cell],
                int(total[r.inst]),
                float(r.count / total[r.inst]),
                int(cx),
                int(cy),
                int(cz),
            )
        )
    table = pd.DataFrame(rows, columns=columns)
    table["body_id"] = table["body_id"].astype(np.uint64)
    table["overlap"] = table["overlap"].astype(np.float32)
    # instance k of the array is element first_id + rank; keep the map for later stages
    table["instance"] = best["inst"].to_numpy()
    return Organelles(kind, instances, cell, table)
