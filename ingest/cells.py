"""Cell stage: relabel cells compactly and compute per-cell properties."""

from __future__ import annotations

from dataclasses import dataclass

import cc3d
import edt
import fastremap
import numpy as np
import pandas as pd
from scipy import ndimage


@dataclass
class CellLabels:
    """Cells renumbered 1..n (uint32) for fast indexing; ``ids[k]`` is the uint64 id of k."""

    compact: np.ndarray  # [z, y, x] uint32, 0 = background
    ids: np.ndarray  # (n + 1,) uint64, ids[0] = 0


def relabel(cells: np.ndarray) -> CellLabels:
    """Renumber instance ids to 1..n, keeping the map back to the original uint64 ids.

    Examples
    --------
    >>> lab = relabel(np.array([[[0, 2**60, 7]]], dtype=np.uint64))
    >>> lab.compact.tolist(), lab.ids.tolist()
    ([[[0, 2, 1]]], [0, 7, 1152921504606846976])
    """
    uniq = fastremap.unique(cells)
    uniq = uniq[uniq != 0].astype(np.uint64)
    ids = np.concatenate([np.zeros(1, np.uint64), np.sort(uniq)])  # stays uint64, never float
    mapping = {int(v): i for i, v in enumerate(ids)}
    compact = fastremap.remap(cells, mapping, preserve_missing_labels=False)
    return CellLabels(compact=compact.astype(np.uint32, copy=False), ids=ids)


def _stride(voxel_size_nm_zyx: tuple[float, float, float], step_nm: float) -> tuple[int, ...]:
    return tuple(max(1, int(round(step_nm / v))) for v in voxel_size_nm_zyx)


def cell_table(
    labels: CellLabels,
    voxel_size_nm_zyx: tuple[float, float, float],
    step_nm: float = 40.0,
    offset_zyx: tuple[int, int, int] = (0, 0, 0),
) -> pd.DataFrame:
    """Voxel count, bounding box and a representative voxel per cell (x, y, z, voxels), and
    that voxel's ``depth`` in nm (distance to the cell's boundary inside this array).

    The representative voxel is the one deepest inside the cell (largest distance to its
    boundary), so it always lies in the cell, unlike a centroid of a curved neuron. It is
    searched on a grid of about ``step_nm`` (every voxel of the grid is a voxel of the
    volume); a cell too thin to meet the grid gets the voxel of its own nearest its centroid
    (depth 0). Coordinates are shifted by ``offset_zyx`` (where this array sits in a volume).

    Examples
    --------
    >>> cells = np.zeros((7, 7, 7), np.uint64); cells[1:6, 1:6, 1:6] = 2**40
    >>> t = cell_table(relabel(cells), (1.0, 1.0, 1.0))
    >>> t[["body_id", "voxels", "x", "y", "z"]].to_dict("records")
    [{'body_id': 1099511627776, 'voxels': 125, 'x': 3, 'y': 3, 'z': 3}]
    """
    n = len(labels.ids) - 1
    columns = [
        "body_id",
        "voxels",
        "bbox_min_x",
        "bbox_min_y",
        "bbox_min_z",
        "bbox_max_x",
        "bbox_max_y",
        "bbox_max_z",
        "x",
        "y",
        "z",
        "depth",
    ]
    if n == 0:
        return pd.DataFrame(columns=columns)
    stats = cc3d.statistics(labels.compact)
    stride = _stride(voxel_size_nm_zyx, step_nm)
    coarse = np.ascontiguousarray(labels.compact[:: stride[0], :: stride[1], :: stride[2]])
    depth = edt.edt(
        coarse,
        black_border=False,
        parallel=1,
        anisotropy=tuple(float(v) * s for v, s in zip(voxel_size_nm_zyx, stride, strict=True)),
    )
    present = np.zeros(n + 1, bool)
    present[fastremap.unique(coarse)] = True
    index = np.arange(1, n + 1)
    inner = ndimage.maximum_position(depth, coarse, index=index)
    inner_depth = ndimage.maximum(depth, coarse, index=index)
    oz, oy, ox = offset_zyx
    rows = []
    for k in range(1, n + 1):
        bb = stats["bounding_boxes"][k]
        d = 0.0
        if present[k]:
            z, y, x = (int(c) * s for c, s in zip(inner[k - 1], stride, strict=True))
            d = float(inner_depth[k - 1])
        else:
            z, y, x = _voxel_nearest_centroid(labels.compact, k, bb, stats["centroids"][k])
        rows.append(
            (
                int(labels.ids[k]),
                int(stats["voxel_counts"][k]),
                bb[2].start + ox,
                bb[1].start + oy,
                bb[0].start + oz,
                bb[2].stop + ox,
                bb[1].stop + oy,
                bb[0].stop + oz,
                int(x) + ox,
                int(y) + oy,
                int(z) + oz,
                d,
            )
        )
    frame = pd.DataFrame(rows, columns=columns)
    frame["body_id"] = frame["body_id"].astype(np.uint64)
    return frame


def _voxel_nearest_centroid(
    compact: np.ndarray, k: int, bbox: tuple[slice, ...], centroid_zyx: np.ndarray
) -> tuple[int, int, int]:
    zz, yy, xx = np.nonzero(compact[bbox] == k)
    offset = np.array([s.start for s in bbox])
    coords = np.stack([zz, yy, xx], axis=1) + offset
    best = coords[np.argmin(((coords - centroid_zyx) ** 2).sum(axis=1))]
    return int(best[0]), int(best[1]), int(best[2])
