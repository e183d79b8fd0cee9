"""Contact sites and synapses (SyConn2's approach, walking-skeleton form).

A contact site is the set of voxel faces where two different cells touch. A synapse is a
connected patch of the synaptic-junction mask intersected with the contact site of one cell
pair; its presynaptic side is the cell with more vesicle-cloud voxels near it. Its cleft area
is SyConn2's, half the area of the patch's mesh (:mod:`ingest.clefts`); the area of the
pair's touching voxel faces in the patch is kept beside it.

Its ``confidence`` is SyConn2's random forest on the ten features (:mod:`models.synapse_rf`,
weights ``models/weights/synapse_rf.pkl``) when that file is present and the synapse's
features lie within the range of the forest's training data, else a heuristic: 0 without a
vesicle cloud near either side, else from 0.5 to 1 as the post side's nearest cloud lies
farther than the pre side's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cc3d
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ingest.clefts import label_mesh_areas
from models import synapse_rf

SYNAPSE_TYPES = {1: "asymmetric", 2: "symmetric"}


def contact_faces(
    cells: np.ndarray,
    patches: np.ndarray,
    voxel_size_nm_zyx: tuple[float, float, float],
    core_shape: tuple[int, ...] | None = None,
) -> pd.DataFrame:
    """Faces between two different cells with a junction voxel on either side.

    Returns one row per (patch, lo cell, hi cell) with the number of faces and their summed
    area in nm² (a face normal to z has area vy·vx, and so on). With ``core_shape``, only
    faces whose lower voxel lies in ``[0, core_shape)`` count (a chunk with a one-voxel halo
    counts each face of the volume exactly once).

    Examples
    --------
    >>> cells = np.zeros((1, 2, 4), np.uint32); cells[..., :2] = 1; cells[..., 2:] = 2
    >>> patches = np.zeros_like(cells); patches[..., 1:3] = 5
    >>> contact_faces(cells, patches, (1.0, 2.0, 3.0)).to_dict("records")
    [{'patch': 5, 'lo': 1, 'hi': 2, 'faces': 2, 'area_nm2': 4.0}]
    """
    vz, vy, vx = voxel_size_nm_zyx
    face_area = (vy * vx, vz * vx, vz * vy)
    core = tuple(core_shape) if core_shape is not None else cells.shape
    parts = []
    for axis in range(3):
        last = min(core[axis], cells.shape[axis] - 1)  # lower voxels of faces along axis
        if last < 1:
            continue
        lo_sl = [slice(0, core[ax]) for ax in range(3)]
        hi_sl = [slice(0, core[ax]) for ax in range(3)]
        lo_sl[axis] = slice(0, last)
        hi_sl[axis] = slice(1, last + 1)
        a = cells[tuple(lo_sl)]
        b = cells[tuple(hi_sl)]
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
                    "lo": np.minimum(av, bv).astype(np.uint64),
                    "hi": np.maximum(av, bv).astype(np.uint64),
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


class OrganelleIndex:
    """Organelle boundary voxels per cell, in nm, for nearest-neighbour questions.

    ``points`` has columns ``element_id, body_id, z, y, x`` (voxels) and ``voxels`` gives
    each element's size; only boundary voxels are needed, since the voxel of an organelle
    nearest to an outside point lies on its boundary.
    """

    def __init__(self, points: pd.DataFrame, voxels: pd.Series,
                 voxel_size_nm_zyx: np.ndarray):  # fmt: skip
        self._points: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if len(points):
            nm = points[["z", "y", "x"]].to_numpy(float) * voxel_size_nm_zyx
            element = points["element_id"].to_numpy()
            for cell, idx in points.groupby("body_id").indices.items():
                if int(cell):
                    self._points[int(cell)] = (nm[idx], element[idx])
        self._trees: dict[int, cKDTree] = {}
        self.voxels = voxels

    def _tree(self, cell: int) -> cKDTree | None:
        if cell not in self._points:
            return None
        tree = self._trees.get(cell)
        if tree is None:
            tree = self._trees[cell] = cKDTree(self._points[cell][0])
        return tree

    def nearest_nm(self, cell: int, point_nm: np.ndarray, radius_nm: float) -> float:
        """Distance to the cell's nearest organelle voxel, ``inf`` if none within radius."""
        tree = self._tree(int(cell))
        if tree is None:
            return np.inf
        d, _ = tree.query(point_nm, distance_upper_bound=radius_nm)
        return float(d)

    def within(self, cell: int, point_nm: np.ndarray, radius_nm: float) -> tuple[int, int]:
        """How many of the cell's organelles come within ``radius_nm``, and their voxels."""
        tree = self._tree(int(cell))
        if tree is None:
            return 0, 0
        hits = tree.query_ball_point(point_nm, radius_nm)
        elements: np.ndarray = np.unique(self._points[int(cell)][1][hits]) if hits else np.zeros(0)
        return len(elements), int(self.voxels.reindex(elements).fillna(0).sum())


def _site(n: int, sums: np.ndarray | None, centroid_zyx: np.ndarray) -> tuple[int, int, int]:
    """The x, y, z voxel of one side of a synapse: its junction voxels' centroid, rounded."""
    zyx = centroid_zyx if sums is None or n == 0 else sums / n
    return int(round(zyx[2])), int(round(zyx[1])), int(round(zyx[0]))


COLUMNS = [
    "synapse_id", "pre_body_id", "post_body_id", "x", "y", "z", "pre_x", "pre_y", "pre_z",
    "post_x", "post_y", "post_z", "junction_voxels", "area_nm2", "mesh_area_nm2",
    "contact_area_nm2", "synapse_type", "confidence",
    "frac_asymmetric", "frac_symmetric",
    "n_mito_pre_2um", "mito_voxels_pre_2um", "n_mito_post_2um", "mito_voxels_post_2um",
    "n_vc_pre_1um", "vc_voxels_pre_1um", "n_vc_post_1um", "vc_voxels_post_1um",
]  # fmt: skip
MITO_RADIUS_NM, VESICLE_RADIUS_NM = 2000.0, 1000.0  # SyConn2's feature radii


def synapses_from_records(
    faces: pd.DataFrame,
    junction_cells: pd.DataFrame,
    junction_types: pd.DataFrame,
    vesicles: OrganelleIndex | None,
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    mitochondria: OrganelleIndex | None = None,
    mesh_areas: pd.Series | None = None,
    vesicle_search_radius_nm: float = 500.0,
    min_contact_faces: int = 4,
    secondary_pair_fraction: float = 0.5,
) -> pd.DataFrame:
    """Synapses from totals per junction patch, in the ``synapses`` table layout.

    ``faces``: patch, lo, hi (cell ids), faces, area_nm2 — contact faces inside the patch;
    ``junction_cells``: patch, body_id, n, sz, sy, sx — junction voxels per cell;
    ``junction_types``: patch, t, n — junction voxels per synapse-type code.
    One synapse per patch and cell pair with enough faces; the pre side is the cell whose
    vesicle cloud lies nearest to the junction centroid. With ``mitochondria``, SyConn2's
    random-forest features are filled in (organelles of each side within 2 and 1 µm).

    Areas: ``contact_area_nm2`` is the pair's contact-face area inside the patch;
    ``mesh_areas`` (patch → area of the patch's mesh, see :mod:`ingest.clefts`) gives
    ``mesh_area_nm2`` and the cleft area ``area_nm2`` (half of it, as SyConn2). A patch that
    yields more than one synapse shares its mesh area between them in proportion to their
    contact areas, so the synapses of a patch add up to its mesh. Without ``mesh_areas`` both
    are NaN.
    """
    faces = faces[faces["faces"] >= min_contact_faces]
    if faces.empty:
        return pd.DataFrame(columns=COLUMNS)
    top = faces.groupby("patch")["faces"].transform("max")
    candidates = (
        faces[faces["faces"] >= secondary_pair_fraction * top]
        .sort_values(["patch", "lo", "hi"])
        .reset_index(drop=True)
    )
    sums = {
        (int(p), int(c)): (int(n), np.array([sz, sy, sx], float))
        for p, c, n, sz, sy, sx in junction_cells[
            ["patch", "body_id", "n", "sz", "sy", "sx"]
        ].itertuples(index=False)
    }
    types: dict[int, int] = {}
    fractions: dict[tuple[int, int], int] = {}
    if len(junction_types):
        # majority type per patch; ties go to the smaller code
        counts = junction_types.sort_values(["patch", "n", "t"], ascending=[True, False, True])
        types = {int(p): int(t) for p, t in counts.drop_duplicates("patch")[["patch", "t"]]
                 .itertuples(index=False)}  # fmt: skip
        fractions = {(int(p), int(t)): int(k) for p, t, k in
                     junction_types[["patch", "t", "n"]].itertuples(index=False)}  # fmt: skip
    patch_voxels = junction_cells.groupby("patch")["n"].sum()
    share = candidates["area_nm2"] / candidates.groupby("patch")["area_nm2"].transform("sum")
    patch_mesh = (mesh_areas.reindex(candidates["patch"]).to_numpy(float)
                  if mesh_areas is not None else np.full(len(candidates), np.nan))  # fmt: skip
    mesh_share = patch_mesh * share.to_numpy(float)

    vox = np.asarray(voxel_size_nm_zyx, dtype=float)
    rows = []
    for r, mesh in zip(candidates.itertuples(index=False), mesh_share, strict=True):
        side = {int(c): sums.get((int(r.patch), int(c)), (0, None)) for c in (r.lo, r.hi)}
        n = sum(k for k, _ in side.values())
        total = sum((v for _, v in side.values() if v is not None), np.zeros(3))
        centroid_zyx = total / max(n, 1)
        # the presynaptic side is the one whose vesicle cloud lies nearest to the junction
        d_lo, d_hi = (
            (vesicles.nearest_nm(c, centroid_zyx * vox, vesicle_search_radius_nm)
             for c in (r.lo, r.hi))
            if vesicles is not None else (np.inf, np.inf)
        )  # fmt: skip
        pre, post = (int(r.lo), int(r.hi)) if d_lo <= d_hi else (int(r.hi), int(r.lo))
        d_pre, d_post = min(d_lo, d_hi), max(d_lo, d_hi)
        if np.isinf(d_pre):
            confidence = 0.0  # no vesicle evidence on either side
        else:
            gap = min(d_post, vesicle_search_radius_nm) - d_pre
            confidence = float(np.clip(0.5 + 0.5 * gap / vesicle_search_radius_nm, 0.5, 1.0))
        n_pre, sums_pre = side[pre]
        n_post, sums_post = side[post]
        all_voxels = max(int(patch_voxels.get(r.patch, 0)), 1)
        point = centroid_zyx * vox
        features: list[int] = []
        for index, radius in ((mitochondria, MITO_RADIUS_NM), (vesicles, VESICLE_RADIUS_NM)):
            for cell in (pre, post):
                features += index.within(cell, point, radius) if index is not None else (0, 0)
        rows.append((
            pre, post, *centroid_zyx[::-1], *_site(n_pre, sums_pre, centroid_zyx),
            *_site(n_post, sums_post, centroid_zyx), n, mesh / 2, mesh, float(r.area_nm2),
            SYNAPSE_TYPES.get(types.get(int(r.patch), 0)), confidence,
            fractions.get((int(r.patch), 1), 0) / all_voxels,
            fractions.get((int(r.patch), 2), 0) / all_voxels, *features,
        ))  # fmt: skip
    frame = pd.DataFrame(rows, columns=COLUMNS[1:])
    frame.insert(0, "synapse_id", np.arange(1, len(frame) + 1, dtype=np.int64))
    for col in ("pre_body_id", "post_body_id"):
        frame[col] = frame[col].astype(np.uint64)
    forest = _forest(synapse_rf.WEIGHTS)
    if forest is not None and len(frame):
        x = synapse_rf.feature_matrix(frame)
        judged = forest.inside(x)  # beyond its training data a forest does not know
        if judged.any():
            frame.loc[judged, "confidence"] = forest.probability(x[judged])
    for col in ("confidence", "frac_asymmetric", "frac_symmetric"):
        frame[col] = frame[col].astype(np.float32)
    return frame


_FORESTS: dict[tuple[str, float], synapse_rf.SynapseForest] = {}


def _forest(path: Path) -> synapse_rf.SynapseForest | None:
    """The synapse forest of ``path`` (read once per file version), ``None`` without it."""
    try:
        stamp = path.stat().st_mtime
    except FileNotFoundError:
        return None
    key = (str(path), stamp)
    if key not in _FORESTS:
        _FORESTS.clear()
        _FORESTS[key] = synapse_rf.SynapseForest.load(path)
    return _FORESTS[key]


def junction_records(
    patches: np.ndarray,
    cells: np.ndarray,
    synapse_type: np.ndarray | None = None,
    offset_zyx: tuple[int, int, int] = (0, 0, 0),
    patch_base: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Junction voxels per (patch, cell) with coordinate sums (``patch, body_id, n, sz, sy,
    sx``), and per (patch, synapse-type code) (``patch, t, n``), as
    :func:`synapses_from_records` takes them; ``offset_zyx`` shifts coordinates and
    ``patch_base`` is added to patch labels (for arrays that are chunks of a volume).

    Examples
    --------
    >>> patches = np.array([[[0, 1, 1]]], np.uint32); cells = np.array([[[5, 5, 6]]], np.uint64)
    >>> per_cell, _ = junction_records(patches, cells, offset_zyx=(0, 0, 10))
    >>> per_cell[["patch", "body_id", "n", "sx"]].to_dict("records")
    [{'patch': 1, 'body_id': 5, 'n': 1, 'sx': 11}, {'patch': 1, 'body_id': 6, 'n': 1, 'sx': 12}]
    """
    zz, yy, xx = np.nonzero(patches)
    patch = patches[zz, yy, xx].astype(np.int64) + patch_base
    oz, oy, ox = offset_zyx
    per = pd.DataFrame(
        {"patch": patch, "body_id": cells[zz, yy, xx], "z": zz + oz, "y": yy + oy, "x": xx + ox}
    )
    per_cell = (
        per.groupby(["patch", "body_id"])
        .agg(n=("z", "size"), sz=("z", "sum"), sy=("y", "sum"), sx=("x", "sum"))
        .reset_index()
    )
    per_type = pd.DataFrame({"patch": pd.Series(dtype=np.int64), "t": pd.Series(dtype=np.int64),
                             "n": pd.Series(dtype=np.int64)})  # fmt: skip
    if synapse_type is not None:
        t = np.asarray(synapse_type)[zz, yy, xx].astype(np.int64)
        per_type = (pd.DataFrame({"patch": patch, "t": t})[t > 0]
                    .value_counts().rename("n").reset_index())  # fmt: skip
    return per_cell, per_type


def find_synapses(
    cells: np.ndarray,
    junctions: np.ndarray,
    vesicles: np.ndarray | None,
    synapse_type: np.ndarray | None,
    voxel_size_nm_zyx: tuple[float, float, float],
    **params: Any,
) -> pd.DataFrame:
    """Synapses in one in-memory volume (``cells`` holds the uint64 ids); see
    :func:`synapses_from_records` for the rule and ``params``.

    Examples
    --------
    >>> cells = np.zeros((3, 8, 8), np.uint64); cells[:, :, :4] = 11; cells[:, :, 4:] = 22
    >>> junction = np.zeros(cells.shape, bool); junction[:, 2:6, 3:5] = True
    >>> vesicles = np.zeros(cells.shape, bool); vesicles[:, 3:5, 0:2] = True
    >>> syn = find_synapses(cells, junction, vesicles, None, (1.0, 1.0, 1.0),
    ...                     vesicle_search_radius_nm=5.0)
    >>> syn[["pre_body_id", "post_body_id", "x", "y", "z", "junction_voxels"]].to_dict("records")
    [{'pre_body_id': 11, 'post_body_id': 22, 'x': 3.5, 'y': 3.5, 'z': 1.0, 'junction_voxels': 24}]
    """
    patches = cc3d.connected_components(junctions, connectivity=26, out_dtype=np.uint32)
    faces = contact_faces(cells, patches, voxel_size_nm_zyx)
    junction_cells, junction_types = junction_records(patches, cells, synapse_type)
    index = None
    if vesicles is not None:
        clouds = cc3d.connected_components(vesicles, connectivity=26)
        vz, vy, vx = np.nonzero(clouds)
        index = OrganelleIndex(
            pd.DataFrame({"element_id": clouds[vz, vy, vx], "body_id": cells[vz, vy, vx],
                          "z": vz, "y": vy, "x": vx}),
            pd.Series(np.bincount(clouds.ravel())),
            np.asarray(voxel_size_nm_zyx, float),
        )  # fmt: skip
    return synapses_from_records(
        faces, junction_cells, junction_types, index, voxel_size_nm_zyx,
        mesh_areas=label_mesh_areas(patches, voxel_size_nm_zyx), **params,
    )  # type: ignore[arg-type]  # fmt: skip
