"""Contact sites and synapses (SyConn2's approach, walking-skeleton form).

A contact site is the set of voxel faces where two different cells touch. A synapse is a
connected patch of the synaptic-junction mask intersected with the contact site of one cell
pair; its presynaptic side is the cell with more vesicle-cloud voxels near it.
"""

from __future__ import annotations

import cc3d
import fastremap
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

SYNAPSE_TYPES = {1: "asymmetric", 2: "symmetric"}


def contact_faces(
    compact_cells: np.ndarray, patches: np.ndarray, voxel_size_nm_zyx: tuple[float, float, float]
) -> pd.DataFrame:
    """Faces between two different cells with a junction voxel on either side.

    Returns one row per (patch, lo cell, hi cell) with the number of faces and their summed
    area in nm² (a face normal to z has area vy·vx, and so on).

    Examples
    --------
    >>> cells = np.zeros((1, 2, 4), np.uint32); cells[..., :2] = 1; cells[..., 2:] = 2
    >>> patches = np.zeros_like(cells); patches[..., 1:3] = 5
    >>> contact_faces(cells, patches, (1.0, 2.0, 3.0)).to_dict("records")
    [{'patch': 5, 'lo': 1, 'hi': 2, 'faces': 2, 'area_nm2': 4.0}]
    """
    vz, vy, vx = voxel_size_nm_zyx
    face_area = (vy * vx, vz * vx, vz * vy)
    parts = []
    for axis in range(3):
        n = compact_cells.shape[axis]
        if n < 2:
            continue
        lo_sl = [slice(None)] * 3
        hi_sl = [slice(None)] * 3
        lo_sl[axis] = slice(0, n - 1)
        hi_sl[axis] = slice(1, n)
        a = compact_cells[tuple(lo_sl)]
        b = compact_cells[tuple(hi_sl)]
        pa = patches[tuple(lo_sl)]
        pb = patches[tuple(hi_sl)]
        touch = (a != b) & (a > 0) & (b > 0) & ((pa > 0) | (pb > 0))
        if not touch.any():
            continue
        av, bv = a[touch], b[touch]
        parts.append(
            pd.DataFrame(
                {
                    "patch": np.maximum(pa[touch], pb[touch]).astype(np.int64),
                    "lo": np.minimum(av, bv).astype(np.int64),
                    "hi": np.maximum(av, bv).astype(np.int64),
                    "area_nm2": face_area[axis],
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["patch", "lo", "hi", "faces", "area_nm2"])
    faces = pd.concat(parts, ignore_index=True)
    out = faces.groupby(["patch", "lo", "hi"]).agg(
        faces=("area_nm2", "size"), area_nm2=("area_nm2", "sum")
    )
    return out.reset_index()


class _VesicleIndex:
    """Vesicle-cloud voxels per cell, in nm, for nearest-neighbour questions."""

    def __init__(
        self, vesicles: np.ndarray, compact_cells: np.ndarray, voxel_size_nm_zyx: np.ndarray
    ):
        zz, yy, xx = np.nonzero(vesicles)
        owner = compact_cells[zz, yy, xx]
        points = np.stack([zz, yy, xx], axis=1) * voxel_size_nm_zyx
        order = np.argsort(owner, kind="stable")
        cells, starts = np.unique(owner[order], return_index=True)
        ends = np.append(starts[1:], len(order))
        self._points = {
            int(c): points[order[s:e]] for c, s, e in zip(cells, starts, ends, strict=True) if c
        }
        self._trees: dict[int, cKDTree] = {}

    def nearest_nm(self, cell: int, point_nm: np.ndarray, radius_nm: float) -> float:
        """Distance to the cell's nearest vesicle-cloud voxel, ``inf`` if none within radius."""
        if cell not in self._points:
            return np.inf
        tree = self._trees.get(cell)
        if tree is None:
            tree = self._trees[cell] = cKDTree(self._points[cell])
        d, _ = tree.query(point_nm, distance_upper_bound=radius_nm)
        return float(d)


def _site(sums: pd.Series | None, centroid_zyx: np.ndarray) -> tuple[int, int, int]:
    """The x, y, z voxel of one side of a synapse: its junction voxels' centroid, rounded."""
    if sums is None:  # the junction lies on the other side only
        return (
            int(round(centroid_zyx[2])),
            int(round(centroid_zyx[1])),
            int(round(centroid_zyx[0])),
        )
    return (
        int(round(sums["sx"] / sums["n"])),
        int(round(sums["sy"] / sums["n"])),
        int(round(sums["sz"] / sums["n"])),
    )


def find_synapses(
    compact_cells: np.ndarray,
    cell_ids: np.ndarray,
    junctions: np.ndarray,
    vesicles: np.ndarray | None,
    synapse_type: np.ndarray | None,
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    vesicle_search_radius_nm: float = 500.0,
    min_contact_faces: int = 4,
    secondary_pair_fraction: float = 0.5,
) -> pd.DataFrame:
    """Synapses as junction patches on contact sites, in the ``synapses`` table layout.

    Examples
    --------
    >>> cells = np.zeros((3, 8, 8), np.uint32); cells[:, :, :4] = 1; cells[:, :, 4:] = 2
    >>> junction = np.zeros(cells.shape, bool); junction[:, 2:6, 3:5] = True
    >>> vesicles = np.zeros(cells.shape, bool); vesicles[:, 3:5, 0:2] = True
    >>> syn = find_synapses(cells, np.array([0, 11, 22], np.uint64), junction, vesicles, None,
    ...                     (1.0, 1.0, 1.0), vesicle_search_radius_nm=5.0)
    >>> syn[["pre_body_id", "post_body_id", "x", "y", "z", "junction_voxels"]].to_dict("records")
    [{'pre_body_id': 11, 'post_body_id': 22, 'x': 3.5, 'y': 3.5, 'z': 1.0, 'junction_voxels': 24}]
    """
    columns = [
        "synapse_id",
        "pre_body_id",
        "post_body_id",
        "x",
        "y",
        "z",
        "pre_x",
        "pre_y",
        "pre_z",
        "post_x",
        "post_y",
        "post_z",
        "junction_voxels",
        "area_nm2",
        "synapse_type",
        "confidence",
    ]
    patches = cc3d.connected_components(junctions, connectivity=26, out_dtype=np.uint32)
    faces = contact_faces(compact_cells, patches, voxel_size_nm_zyx)
    faces = faces[faces["faces"] >= min_contact_faces]
    if faces.empty:
        return pd.DataFrame(columns=columns)
    top = faces.groupby("patch")["faces"].transform("max")
    candidates = (
        faces[faces["faces"] >= secondary_pair_fraction * top]
        .sort_values(["patch", "lo", "hi"])
        .reset_index(drop=True)
    )

    # per (patch, cell): junction voxel count and coordinate sums
    zz, yy, xx = np.nonzero(patches)
    p = patches[zz, yy, xx].astype(np.int64)
    c = compact_cells[zz, yy, xx].astype(np.int64)
    per = pd.DataFrame({"patch": p, "cell": c, "z": zz, "y": yy, "x": xx})
    sums = per.groupby(["patch", "cell"]).agg(
        n=("x", "size"), sx=("x", "sum"), sy=("y", "sum"), sz=("z", "sum")
    )
    types: dict[int, int] = {}
    if synapse_type is not None:
        t = np.asarray(synapse_type)[zz, yy, xx].astype(np.int64)
        counts = pd.DataFrame({"patch": p, "t": t})[t > 0].value_counts().reset_index()
        # majority type per patch; ties go to the smaller code
        counts = counts.sort_values(["patch", "count", "t"], ascending=[True, False, True])
        types = dict(counts.drop_duplicates("patch")[["patch", "t"]].to_numpy().tolist())

    vox = np.asarray(voxel_size_nm_zyx, dtype=float)
    index = _VesicleIndex(vesicles, compact_cells, vox) if vesicles is not None else None
    rows = []
    for r in candidates.itertuples(index=False):
        side = {}
        for cell in (r.lo, r.hi):
            s = sums.loc[(r.patch, cell)] if (r.patch, cell) in sums.index else None
            side[cell] = s
        n = sum(int(s["n"]) for s in side.values() if s is not None)
        centroid_zyx = np.array(
            [
                sum(float(s[k]) for s in side.values() if s is not None) / n
                for k in ("sz", "sy", "sx")
            ]
        )
        # the presynaptic side is the one whose vesicle cloud lies nearest to the junction
        if index is not None:
            d_lo, d_hi = (
                index.nearest_nm(c, centroid_zyx * vox, vesicle_search_radius_nm)
                for c in (r.lo, r.hi)
            )
        else:
            d_lo = d_hi = np.inf
        pre, post = (r.lo, r.hi) if d_lo <= d_hi else (r.hi, r.lo)
        d_pre, d_post = min(d_lo, d_hi), max(d_lo, d_hi)
        if np.isinf(d_pre):
            confidence = 0.0  # no vesicle evidence on either side
        else:
            gap = min(d_post, vesicle_search_radius_nm) - d_pre
            confidence = float(np.clip(0.5 + 0.5 * gap / vesicle_search_radius_nm, 0.5, 1.0))

        code = int(types.get(r.patch, 0))
        rows.append(
            (
                int(cell_ids[pre]),
                int(cell_ids[post]),
                centroid_zyx[2],
                centroid_zyx[1],
                centroid_zyx[0],
                *_site(side[pre], centroid_zyx),
                *_site(side[post], centroid_zyx),
                n,
                float(r.area_nm2),
                SYNAPSE_TYPES.get(code),
                float(confidence),
            )
        )
    frame = pd.DataFrame(rows, columns=columns[1:])
    frame.insert(0, "synapse_id", np.arange(1, len(frame) + 1, dtype=np.int64))
    for col in ("pre_body_id", "post_body_id"):
        frame[col] = frame[col].astype(np.uint64)
    frame["confidence"] = frame["confidence"].astype(np.float32)
    return frame


def unique_pairs(compact_cells: np.ndarray) -> np.ndarray:
    """Cell pairs (lo, hi) that touch across a voxel face, for statistics and tests.

    Examples
    --------
    >>> unique_pairs(np.array([[[1, 1, 2, 0, 3]]], np.uint32)).tolist()
    [[1, 2]]
    """
    keys = []
    for axis in range(3):
        a = np.moveaxis(compact_cells, axis, 0)
        lo, hi = a[:-1], a[1:]
        touch = (lo != hi) & (lo > 0) & (hi > 0)
        x, y = lo[touch].astype(np.uint64), hi[touch].astype(np.uint64)
        keys.append((np.minimum(x, y) << np.uint64(32)) | np.maximum(x, y))
    allk = fastremap.unique(np.concatenate(keys)) if keys else np.zeros(0, np.uint64)
    return np.stack([allk >> np.uint64(32), allk & np.uint64(0xFFFFFFFF)], axis=1).astype(np.int64)
