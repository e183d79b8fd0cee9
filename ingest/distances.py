"""Distance stage: each synapse's straight-line distance to the nearest mitochondrion of its
presynaptic cell (SyConn2's analysis measures it to the mitochondrion surface)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.spatial import cKDTree


def nearest_mitochondria(
    synapses: pd.DataFrame,
    mito_instances: np.ndarray,
    mito_table: pd.DataFrame,
    voxel_size_nm_zyx: tuple[float, float, float],
) -> pd.DataFrame:
    """Rows of the ``close_to`` table: synapse id, element id, euclidean distance in nm from
    the synapse centroid to the nearest voxel centre of a mitochondrion of the pre cell.

    Only boundary voxels of each mitochondrion are searched (a nearest voxel to an outside
    point always lies on the boundary). Synapses whose pre cell has no mitochondrion get no row.

    Examples
    --------
    >>> mito = np.zeros((1, 1, 10), np.uint32); mito[0, 0, 6:9] = 1
    >>> table = pd.DataFrame({"element_id": [5], "body_id": np.array([7], np.uint64),
    ...                       "instance": [1]})
    >>> syn = pd.DataFrame({"synapse_id": [1], "pre_body_id": np.array([7], np.uint64),
    ...                     "x": [2.0], "y": [0.0], "z": [0.0]})
    >>> nearest_mitochondria(syn, mito, table, (1.0, 1.0, 4.0)).to_dict("records")
    [{'synapse_id': 1, 'element_id': 5, 'euclidean_nm': 16.0}]
    """
    columns = ["synapse_id", "element_id", "euclidean_nm"]
    if synapses.empty or mito_table.empty:
        return pd.DataFrame(columns=columns)
    surface = mito_instances > 0
    surface &= ~ndimage.binary_erosion(surface, structure=ndimage.generate_binary_structure(3, 1))
    zz, yy, xx = np.nonzero(surface)
    inst = mito_instances[zz, yy, xx]
    lookup = np.zeros(int(mito_instances.max()) + 1, dtype=np.int64)
    lookup[mito_table["instance"].to_numpy()] = np.arange(1, len(mito_table) + 1)
    row = lookup[inst]  # 1-based row of mito_table, 0 = not assigned to a cell
    keep = row > 0
    zz, yy, xx, row = zz[keep], yy[keep], xx[keep], row[keep] - 1
    body = mito_table["body_id"].to_numpy()[row]
    vox = np.asarray(voxel_size_nm_zyx, dtype=float)
    points_nm = np.stack([zz, yy, xx], axis=1) * vox
    out = []
    order = np.argsort(body, kind="stable")
    bodies, starts = np.unique(body[order], return_index=True)
    ends = np.append(starts[1:], len(order))
    element_ids = mito_table["element_id"].to_numpy()
    for b, s, e in zip(bodies, starts, ends, strict=True):
        syn = synapses[synapses["pre_body_id"] == b]
        if syn.empty:
            continue
        idx = order[s:e]
        tree = cKDTree(points_nm[idx])
        query = syn[["z", "y", "x"]].to_numpy(dtype=float) * vox
        dist, nearest = tree.query(query)
        for sid, d, k in zip(syn["synapse_id"], dist, nearest, strict=True):
            out.append((int(sid), int(element_ids[row[idx[k]]]), float(d)))
    frame = pd.DataFrame(out, columns=columns).sort_values("synapse_id", ignore_index=True)
    return frame
