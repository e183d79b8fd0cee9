"""Distance stage: each synapse's straight-line distance to the nearest mitochondrion of its
presynaptic cell (SyConn2's analysis measures it to the mitochondrion surface)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree


def nearest_mitochondria(
    synapses: pd.DataFrame,
    surface: pd.DataFrame,
    voxel_size_nm_zyx: tuple[float, float, float],
) -> pd.DataFrame:
    """Rows of the ``close_to`` table: synapse id, element id, euclidean distance in nm from
    the synapse centroid to the nearest voxel centre of a mitochondrion of the pre cell.

    ``surface`` lists boundary voxels of mitochondria (``element_id, body_id, z, y, x``); a
    nearest voxel to an outside point always lies on the boundary, and extra inner voxels do
    no harm. Synapses whose pre cell has no mitochondrion get no row.

    Examples
    --------
    >>> surface = pd.DataFrame({"element_id": [5, 5], "body_id": np.array([7, 7], np.uint64),
    ...                         "z": [0, 0], "y": [0, 0], "x": [6, 8]})
    >>> syn = pd.DataFrame({"synapse_id": [1], "pre_body_id": np.array([7], np.uint64),
    ...                     "x": [2.0], "y": [0.0], "z": [0.0]})
    >>> nearest_mitochondria(syn, surface, (1.0, 1.0, 4.0)).to_dict("records")
    [{'synapse_id': 1, 'element_id': 5, 'euclidean_nm': 16.0}]
    """
    columns = ["synapse_id", "element_id", "euclidean_nm"]
    if synapses.empty or surface.empty:
        return pd.DataFrame(columns=columns)
    vox = np.asarray(voxel_size_nm_zyx, dtype=float)
    points_nm = surface[["z", "y", "x"]].to_numpy(float) * vox
    elements = surface["element_id"].to_numpy()
    by_cell = surface.groupby("body_id").indices
    out = []
    for body, syn in synapses.groupby("pre_body_id"):
        idx = by_cell.get(body)
        if idx is None:
            continue
        tree = cKDTree(points_nm[idx])
        dist, nearest = tree.query(syn[["z", "y", "x"]].to_numpy(dtype=float) * vox)
        for sid, d, k in zip(syn["synapse_id"], dist, nearest, strict=True):
            out.append((int(sid), int(elements[idx[k]]), float(d)))
    return pd.DataFrame(out, columns=columns).sort_values("synapse_id", ignore_index=True)
