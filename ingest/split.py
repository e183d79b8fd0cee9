"""Touching mitochondria split apart, as SyConn2 does: seeds from the distance transform's
deep cores, each voxel then given to its nearest core.

A mask component whose interior has two or more separate *cores* (voxels deeper than
``core_fraction`` of its deepest point, and at least ``min_core_depth_nm`` deep) is split by
giving each voxel to its nearest core; parts that meet through a thick interface (deeper than
``neck_fraction`` of the shallower part's deepest voxel) are joined again, so a single
elongated organelle whose ridge wobbles stays whole and only real necks divide. The split
runs per object on a crop around it, so memory follows the object size.
"""

from __future__ import annotations

import cc3d
import edt
import numpy as np
import pandas as pd
from scipy import ndimage

from ingest.organelles import binarize
from ingest.volume import open_volume


def split_mask(
    mask: np.ndarray,
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    core_fraction: float = 0.6,
    min_core_depth_nm: float = 50.0,
    neck_fraction: float = 0.7,
) -> np.ndarray:
    """Label the parts of one object (``mask``, a crop): 1..k, 0 outside.

    Examples
    --------
    >>> zz, yy, xx = np.ogrid[:12, :12, :30]
    >>> two = ((zz - 6)**2 + (yy - 6)**2 + (xx - 7)**2 <= 25) | \\
    ...       ((zz - 6)**2 + (yy - 6)**2 + (xx - 21)**2 <= 25) | \\
    ...       ((abs(zz - 6) <= 1) & (abs(yy - 6) <= 1) & (xx > 7) & (xx < 21))
    >>> int(split_mask(two, (10.0, 10.0, 10.0)).max())
    2
    >>> rod = (zz - 6)**2 / 16 + (yy - 6)**2 / 16 + (xx - 15)**2 / 144 <= 1
    >>> int(split_mask(rod, (10.0, 10.0, 10.0)).max())
    1
    """
    padded = np.pad(mask, 1)
    depth = edt.edt(padded, anisotropy=tuple(float(v) for v in voxel_size_nm_zyx),
                    black_border=True, parallel=1)  # fmt: skip
    deepest = float(depth.max())
    threshold = max(core_fraction * deepest, min_core_depth_nm)
    cores = cc3d.connected_components(depth >= threshold, connectivity=26)
    if cores.max() < 2:
        return mask.astype(np.uint32)
    # every voxel goes to its nearest core (a Voronoi split of the object between cores)
    _, nearest = ndimage.distance_transform_edt(cores == 0, sampling=voxel_size_nm_zyx,
                                                return_indices=True)  # fmt: skip
    parts = cores[tuple(nearest)]
    parts = np.where(padded, parts, 0).astype(np.uint32)
    parts = _merge_deep_interfaces(parts, depth, neck_fraction)[1:-1, 1:-1, 1:-1]
    return parts


def _merge_deep_interfaces(parts: np.ndarray, depth: np.ndarray,
                           neck_fraction: float) -> np.ndarray:  # fmt: skip
    """Undo cuts through thick tissue: parts whose shared interface is deeper than
    ``neck_fraction`` of the shallower part's deepest voxel are one object (a rod whose
    ridge wobbles is not two mitochondria; two touching through a thin neck are)."""
    n = int(parts.max())
    peak = ndimage.maximum(depth, parts, index=np.arange(1, n + 1))
    pairs: dict[tuple[int, int], float] = {}
    for axis in range(3):
        a = np.moveaxis(parts, axis, 0)
        b = np.moveaxis(depth, axis, 0)
        touch = (a[:-1] != a[1:]) & (a[:-1] > 0) & (a[1:] > 0)
        if not touch.any():
            continue
        la, lb = a[:-1][touch], a[1:][touch]
        d = np.minimum(b[:-1][touch], b[1:][touch])
        frame = pd.DataFrame({"a": np.minimum(la, lb), "b": np.maximum(la, lb), "d": d})
        for (pa, pb), dmax in frame.groupby(["a", "b"])["d"].max().items():
            pairs[(pa, pb)] = max(pairs.get((pa, pb), 0.0), float(dmax))
    root = np.arange(n + 1)

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for (pa, pb), d in pairs.items():
        if d > neck_fraction * min(peak[pa - 1], peak[pb - 1]):
            root[find(pa)] = find(pb)
    labels = np.array([find(i) for i in range(n + 1)])
    _, compact = np.unique(labels, return_inverse=True)  # 0 stays 0 (root of 0 is 0)
    return compact.astype(np.uint32)[parts]


def split_objects(volume_path: str, layer: str, objects: pd.DataFrame,
                  voxel_size_nm_zyx: tuple[float, float, float], core_fraction: float,
                  min_core_depth_nm: float) -> pd.DataFrame:  # fmt: skip
    """Split each object of a batch (rows with ``element_id``, bbox ``min_*``/``max_*`` and a
    ``seed_*`` voxel) on its crop. Returns one row per voxel of objects that split:
    ``element_id, part, body_id, z, y, x`` (parts numbered 1..k inside each object)."""
    volume = open_volume(volume_path, check=False)
    out = []
    for r in objects.itertuples(index=False):
        lo = (int(r.min_z), int(r.min_y), int(r.min_x))
        hi = (int(r.max_z) + 1, int(r.max_y) + 1, int(r.max_x) + 1)
        box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
        crop = binarize(np.asarray(volume.labels[layer][box]))
        cells = np.asarray(volume.labels["cells"][box])
        comps = cc3d.connected_components(crop, connectivity=26)
        seed = comps[int(r.seed_z) - lo[0], int(r.seed_y) - lo[1], int(r.seed_x) - lo[2]]
        parts = split_mask(comps == seed, voxel_size_nm_zyx, core_fraction=core_fraction,
                           min_core_depth_nm=min_core_depth_nm)  # fmt: skip
        if parts.max() < 2:
            continue
        zz, yy, xx = np.nonzero(parts)
        out.append(pd.DataFrame({"element_id": r.element_id, "part": parts[zz, yy, xx],
                                 "body_id": cells[zz, yy, xx].astype(np.uint64),
                                 "z": zz + lo[0], "y": yy + lo[1], "x": xx + lo[2]}))  # fmt: skip
    if not out:
        return pd.DataFrame(columns=["element_id", "part", "body_id", "z", "y", "x"])
    return pd.concat(out, ignore_index=True)


def batches(frame: pd.DataFrame, sizes: np.ndarray,
            voxels_per_batch: int = 2_000_000) -> list[pd.DataFrame]:  # fmt: skip
    """Cut a table of objects into batches of roughly equal work (``sizes``: voxels each).

    Examples
    --------
    >>> [len(b) for b in batches(pd.DataFrame({"a": range(5)}), np.array([1, 1, 3, 1, 1]), 2)]
    [1, 1, 1, 2]
    """
    groups = np.cumsum(sizes) // max(voxels_per_batch, 1)
    return [frame.iloc[idx] for idx in pd.Series(groups).groupby(groups).indices.values()]


def box_voxels(frame: pd.DataFrame, prefix: str = "", inclusive: bool = True) -> np.ndarray:
    """Voxels in each row's bounding box (``<prefix>min_z`` … ``<prefix>max_x``)."""
    extra = 1 if inclusive else 0
    size = np.ones(len(frame), np.int64)
    for a in "zyx":
        size *= (frame[f"{prefix}max_{a}"] - frame[f"{prefix}min_{a}"] + extra).to_numpy()
    return size


def apply_splits(table: pd.DataFrame, surface: pd.DataFrame,
                 parts: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """Replace each split object of ``table`` (element rows) by its parts, and its surface
    voxels by the parts' voxels. ``parts`` has ``element_id, part, body_id, z, y, x``.
    Element ids are renumbered 1..n in (object, part) order."""
    if parts.empty:
        return table, surface
    g = parts.groupby(["element_id", "part"])
    new = g.agg(voxels=("z", "size"), z=("z", "mean"), y=("y", "mean"), x=("x", "mean"))
    # the owner is the cell holding most of the part, as for whole objects (objects.aggregate):
    # background does not compete, and a part with no voxel in any cell is dropped
    in_cells = parts[parts["body_id"] > 0]
    owner = (in_cells.groupby(["element_id", "part", "body_id"]).size().rename("n").reset_index()
             .sort_values(["element_id", "part", "n", "body_id"],
                          ascending=[True, True, False, True])
             .drop_duplicates(["element_id", "part"])
             .set_index(["element_id", "part"]))  # fmt: skip
    new = new.join(owner, how="inner").reset_index()
    new["overlap"] = (new["n"] / new["voxels"]).astype(np.float32)
    new["type"] = table["type"].iloc[0]
    for axis in "zyx":
        new[axis] = np.round(new[axis]).astype(np.int32)
    split_ids = parts["element_id"].unique()
    kept = table[~table["element_id"].isin(split_ids)].assign(part=0)
    shared = [c for c in kept.columns if c in new.columns]
    merged = pd.concat([kept[shared], new[shared]], ignore_index=True)
    merged = merged.sort_values(["element_id", "part"], ignore_index=True)
    numbers = pd.Series(np.arange(1, len(merged) + 1),
                        index=pd.MultiIndex.from_frame(merged[["element_id", "part"]]))  # fmt: skip
    old_surface = surface[~surface["element_id"].isin(split_ids)]
    old_surface = old_surface.assign(
        element_id=numbers.reindex(
            pd.MultiIndex.from_arrays([old_surface["element_id"], np.zeros(len(old_surface), int)])
        ).to_numpy()
    )
    new_surface = parts[parts["body_id"] > 0]
    new_surface = new_surface.assign(element_id=numbers.reindex(pd.MultiIndex.from_frame(
        new_surface[["element_id", "part"]])).to_numpy())  # fmt: skip
    new_surface = new_surface.dropna(subset=["element_id"])
    # a part's voxels all count for its owner cell in distance questions
    owner_of = merged.assign(new_id=numbers.to_numpy()).set_index("new_id")["body_id"]
    new_surface = new_surface.assign(body_id=owner_of.reindex(new_surface["element_id"])
                                     .to_numpy())  # fmt: skip
    surface = pd.concat([old_surface, new_surface[old_surface.columns]], ignore_index=True)
    surface["element_id"] = surface["element_id"].astype(np.int64)
    surface["body_id"] = surface["body_id"].astype(np.uint64)
    merged = merged.assign(element_id=numbers.to_numpy()).drop(columns="part")
    merged["body_id"] = merged["body_id"].astype(np.uint64)
    return merged.reset_index(drop=True), surface
