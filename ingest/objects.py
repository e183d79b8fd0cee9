"""Objects that cross chunk borders: unify the chunk-wise components, then total them.

Chunk scans (:mod:`ingest.chunks`) label components inside each chunk plus a one-voxel halo
and record the labels found on halo voxels and on low-face core voxels. A halo voxel is a
core voxel of a neighbouring chunk, so each (halo label, neighbour's label) pair at the same
voxel says "these two components are one object". Connected components of that equivalence
graph are the data-set-wide objects, numbered 1..n in the order of their smallest chunk-wise
id (deterministic, whatever the scheduler did).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def unify(ids: np.ndarray, halo: pd.DataFrame, low: pd.DataFrame) -> pd.Series:
    """Map every chunk-wise component id to its data-set-wide object id (1..n).

    Examples
    --------
    >>> halo = pd.DataFrame({"voxel": [10, 11], "object": [1, 1]})
    >>> low = pd.DataFrame({"voxel": [10, 11], "object": [7, 8]})
    >>> unify(np.array([1, 7, 8, 9]), halo, low).to_dict()
    {1: 1, 7: 1, 8: 1, 9: 2}
    """
    pairs = np.zeros((0, 2), np.int64)
    if len(halo) and len(low):
        merged = halo.merge(low, on="voxel", suffixes=("_a", "_b"))
        pairs = merged[["object_a", "object_b"]].drop_duplicates().to_numpy(np.int64)
    nodes = np.unique(np.concatenate([np.asarray(ids, np.int64), pairs.ravel()]))
    if nodes.size == 0:
        return pd.Series(dtype=np.int64)
    a = np.searchsorted(nodes, pairs[:, 0])
    b = np.searchsorted(nodes, pairs[:, 1])
    graph = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(len(nodes), len(nodes)))
    _, comp = connected_components(graph, directed=False)
    # number components by their smallest member (nodes are sorted, so first occurrence)
    _, first = np.unique(comp, return_index=True)
    order = np.empty(comp.max() + 1, np.int64)
    order[comp[np.sort(first)]] = np.arange(1, len(first) + 1)
    return pd.Series(order[comp], index=nodes)


def aggregate(
    stats: pd.DataFrame, overlap: pd.DataFrame, object_of: pd.Series, kind: str
) -> pd.DataFrame:
    """Total the chunk-wise statistics per object: voxels, bounding box, centroid, a seed
    voxel, and the cell holding most of it (objects wholly outside cells are dropped).

    The ``element_id`` column is the object number; ``x, y, z`` the rounded centroid.
    """
    extra = [f"{k}_{a}" for k in ("min", "max", "seed") for a in "zyx"]
    columns = ["element_id", "type", "body_id", "voxels", "overlap", "x", "y", "z", *extra]
    if stats.empty:
        return pd.DataFrame(columns=columns)
    s = stats.assign(obj=object_of.reindex(stats["object"]).to_numpy()).sort_values("object")
    g = s.groupby("obj")
    out = g.agg(
        voxels=("voxels", "sum"),
        **{f"min_{a}": (f"min_{a}", "min") for a in "zyx"},
        **{f"max_{a}": (f"max_{a}", "max") for a in "zyx"},
        **{f"sum_{a}": (f"sum_{a}", "sum") for a in "zyx"},
        **{f"seed_{a}": (f"seed_{a}", "first") for a in "zyx"},
    )
    ov = overlap.assign(obj=object_of.reindex(overlap["object"]).to_numpy())
    ov = ov.groupby(["obj", "body_id"])["voxels"].sum().reset_index()
    ov = ov[ov["body_id"] > 0].sort_values(
        ["obj", "voxels", "body_id"], ascending=[True, False, True]
    )
    best = ov.drop_duplicates("obj").set_index("obj")
    out = out.join(best.rename(columns={"voxels": "in_cell"}), how="inner")
    out["overlap"] = (out["in_cell"] / out["voxels"]).astype(np.float32)
    for axis in "zyx":
        out[axis] = np.round(out[f"sum_{axis}"] / out["voxels"]).astype(np.int32)
    out = out.reset_index().rename(columns={"obj": "element_id"})
    out["type"] = kind
    out["body_id"] = out["body_id"].astype(np.uint64)
    return out[columns].reset_index(drop=True)
