"""Point clouds of cells for the point models (:mod:`models.pointnet`), as SyConn2 samples them.

A cell's cloud is points drawn uniformly over the area of its mesh (kind ``surface``) plus one
point per organelle of the cell and per synaptic junction on it, each with the kind of object
it stands for: ``mitochondrion``, ``vesicle_cloud`` and a junction, split for compartments by
the cell's side of the synapse (``junction_pre``, ``junction_post``: the evidence the
baseline uses) and for cell types by the synapse type (``junction_asymmetric``,
``junction_symmetric``, as SyConn2's ``syn_ssv_asym`` / ``syn_ssv_sym`` features). SyConn2
samples organelle meshes; an organelle here is its centroid (the tables' ``x, y, z``), a
junction its site on the cell's side.

The network sees **contexts**: the points within ``radius_nm`` of a centre, ``n_points`` of
them (every organelle point kept, surface points drawn to fill; drawn again with replacement
when there are too few), centred and divided by ``radius_nm``. Compartments use local
contexts around skeleton nodes chosen so that every node lies within ``cover_nm`` of a centre
(:func:`context_centres`); cell types use a few large contexts around random nodes.

Coordinates are in nm, ``x, y, z``; tables hold voxels, converted with the voxel size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from ingest.compartments import Skeleton, sample_surface

COMPARTMENT_KINDS = ("surface", "mitochondrion", "vesicle_cloud", "junction_pre", "junction_post")
CELLTYPE_KINDS = ("surface", "mitochondrion", "vesicle_cloud", "junction_asymmetric",
                  "junction_symmetric")  # fmt: skip


@dataclass(frozen=True)
class CloudParams:
    """How clouds and contexts are drawn (nm)."""

    area_per_point_nm2: float = 4_000.0  # one surface point per this much mesh area
    max_surface_points: int = 40_000
    radius_nm: float = 1_200.0  # a context holds the points within this of its centre
    n_points: int = 512  # points per context
    cover_nm: float = 500.0  # every skeleton node lies within this of a context centre


@dataclass
class Cloud:
    """Points ``(n, 3)`` in nm (x, y, z) and the kind of each (an index into ``kinds``)."""

    points_nm_xyz: np.ndarray
    kind: np.ndarray
    kinds: tuple[str, ...]

    @property
    def surface(self) -> np.ndarray:
        """Which points lie on the cell's surface."""
        return self.kind == 0


def cell_cloud(
    mesh: tuple[np.ndarray, np.ndarray],
    organelles: Mapping[str, np.ndarray],
    kinds: Sequence[str],
    rng: np.random.Generator,
    params: CloudParams = CloudParams(),
) -> Cloud:
    """A cell's cloud: surface points from its mesh ``(vertices_nm_xyz, faces)`` and one point
    per entry of ``organelles`` (kind -> ``(m, 3)`` nm points; kinds not in ``kinds`` are left
    out).

    The mesh and the points are put in a canonical order first, so the cloud does not depend
    on the order in which chunked stages wrote them (the draws of ``rng`` do).

    Examples
    --------
    >>> square = (np.array([[0.0, 0, 0], [100, 0, 0], [0, 100, 0], [100, 100, 0]]),
    ...           np.array([[0, 1, 2], [1, 3, 2]]))
    >>> c = cell_cloud(square, {"vesicle_cloud": np.array([[50.0, 50, 10]])},
    ...                COMPARTMENT_KINDS, np.random.default_rng(0), CloudParams(100.0))
    >>> c.points_nm_xyz.shape, np.bincount(c.kind).tolist()
    ((101, 3), [100, 0, 1])
    """
    vertices, faces = canonical_mesh(np.asarray(mesh[0], float), np.asarray(mesh[1], np.int64))
    area = 0.0
    if len(faces):
        a, b, c = vertices[faces[:, 0]], vertices[faces[:, 1]], vertices[faces[:, 2]]
        area = float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())
    n = int(min(params.max_surface_points, np.ceil(area / params.area_per_point_nm2)))
    parts, kind = [sample_surface(vertices, faces, n, rng)], [np.zeros(n, np.int64)]
    kind[0] = kind[0][: len(parts[0])]
    for k, name in enumerate(kinds):
        pts = np.asarray(organelles.get(name, np.empty((0, 3))), float).reshape(-1, 3)
        pts = pts[np.lexsort(pts.T[::-1])]
        if k and len(pts):
            parts.append(pts)
            kind.append(np.full(len(pts), k, np.int64))
    return Cloud(np.concatenate(parts), np.concatenate(kind), tuple(kinds))


def canonical_mesh(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same mesh with its vertices sorted by ``(x, y, z)`` and its faces sorted, each
    face starting at its smallest vertex index (orientation kept).

    Examples
    --------
    >>> v, f = canonical_mesh(np.array([[1.0, 0, 0], [0, 0, 0], [0, 1, 0]]), np.array([[0, 1, 2]]))
    >>> v.tolist(), f.tolist()
    ([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], [[0, 1, 2]])
    """
    order = np.lexsort(vertices.T[::-1])
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    f = rank[faces].reshape(-1, 3)
    if len(f):
        f = np.take_along_axis(f, (np.argmin(f, axis=1)[:, None] + np.arange(3)) % 3, axis=1)
        f = f[np.lexsort(f.T[::-1])]
    return vertices[order], f


def context_centres(nodes_nm_xyz: np.ndarray, cover_nm: float) -> np.ndarray:
    """Indices of nodes such that every node lies within ``cover_nm`` of one (greedy: the
    first uncovered node in order, repeatedly).

    Examples
    --------
    >>> line = np.stack([np.arange(10) * 100.0, np.zeros(10), np.zeros(10)], 1)
    >>> context_centres(line, 250.0).tolist()
    [0, 3, 6, 9]
    """
    nodes = np.asarray(nodes_nm_xyz, float).reshape(-1, 3)
    covered = np.zeros(len(nodes), bool)
    centres = []
    tree = cKDTree(nodes) if len(nodes) else None
    for i in range(len(nodes)):
        if covered[i] or tree is None:
            continue
        centres.append(i)
        covered[tree.query_ball_point(nodes[i], cover_nm)] = True
    return np.asarray(centres, np.int64)


@dataclass
class Context:
    """One network input: ``index`` into the cloud's points ``(n_points,)``, the normalised
    coordinates ``(n_points, 3)`` and the one-hot kinds ``(n_points, len(kinds))``."""

    index: np.ndarray
    coords: np.ndarray
    features: np.ndarray


def draw_context(
    cloud: Cloud,
    centre_nm_xyz: np.ndarray,
    rng: np.random.Generator,
    params: CloudParams = CloudParams(),
    tree: cKDTree | None = None,
) -> Context | None:
    """The points of ``cloud`` within ``params.radius_nm`` of the centre as a network input,
    or ``None`` when no surface point lies there.

    Examples
    --------
    >>> cloud = Cloud(np.array([[0.0, 0, 0], [10, 0, 0], [5000, 0, 0]]), np.array([0, 0, 0]),
    ...               ("surface",))
    >>> ctx = draw_context(cloud, np.zeros(3), np.random.default_rng(0), CloudParams(n_points=4))
    >>> sorted(set(ctx.index.tolist())), ctx.coords.shape, ctx.features.shape
    ([0, 1], (4, 3), (4, 1))
    """
    tree = tree or cKDTree(cloud.points_nm_xyz)
    near = np.asarray(tree.query_ball_point(centre_nm_xyz, params.radius_nm), np.int64)
    surface = near[cloud.kind[near] == 0]
    if len(surface) == 0:
        return None
    other = near[cloud.kind[near] != 0]
    keep_other = params.n_points // 4
    if len(other) > keep_other:
        other = rng.choice(other, keep_other, replace=False)
    room = params.n_points - len(other)
    surface = rng.choice(surface, room, replace=len(surface) < room)
    index = np.concatenate([surface, other])
    from models.pointnet import normalise

    coords = normalise(cloud.points_nm_xyz[index], np.asarray(centre_nm_xyz, float),
                       params.radius_nm)  # fmt: skip
    features = np.eye(len(cloud.kinds), dtype=np.float32)[cloud.kind[index]]
    return Context(index, coords, features)


def rotate_z(coords: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``coords`` ``(..., 3)`` turned by a random angle about z and mirrored in x at random
    (z is the section axis: it keeps its direction)."""
    a = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(a), np.sin(a)
    m = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float32)
    if rng.random() < 0.5:
        m[0] *= -1
    return (coords @ m.T).astype(np.float32)


# -- cells from an ingest's tables -----------------------------------------------------------
@dataclass
class CellInput:
    """What a cell's clouds are made from: mesh, skeleton and organelle points (nm)."""

    body_id: int
    mesh: tuple[np.ndarray, np.ndarray]
    skeleton: Skeleton
    organelles: dict[str, np.ndarray]


def voxel_size_nm_xyz(tables: Path) -> np.ndarray:
    """The voxel size of an ingest's tables (``meta.json``), x, y, z in nm."""
    return np.asarray(json.loads((tables / "meta.json").read_text())["voxel_size_nm_xyz"], float)


def organelle_points(
    synapses: pd.DataFrame, elements: pd.DataFrame, vox_xyz: np.ndarray
) -> dict[int, dict[str, np.ndarray]]:
    """Per body id, its organelle and junction points (nm) by kind: junctions by synapse type
    (``junction_asymmetric``, ``junction_symmetric``), by side (``junction_pre``,
    ``junction_post``) and all of them (``junction``).

    Examples
    --------
    >>> syn = pd.DataFrame({"pre_body_id": [1], "post_body_id": [2], "pre_x": [1], "pre_y": [0],
    ...     "pre_z": [0], "post_x": [3], "post_y": [0], "post_z": [0],
    ...     "synapse_type": ["symmetric"]})
    >>> el = pd.DataFrame({"body_id": [2], "type": ["mitochondrion"], "x": [9], "y": [0],
    ...     "z": [0]})
    >>> got = organelle_points(syn, el, np.array([10.0, 10, 20]))
    >>> got[2]["junction_symmetric"].tolist(), got[2]["mitochondrion"].tolist()
    ([[30.0, 0.0, 0.0]], [[90.0, 0.0, 0.0]])
    """
    rows: list[pd.DataFrame] = []
    for side in ("pre", "post"):
        namings = ("junction_" + synapses["synapse_type"].fillna("asymmetric").astype(str),
                   pd.Series(f"junction_{side}", index=synapses.index))  # fmt: skip
        for kind in namings:
            rows.append(pd.DataFrame({
                "body_id": synapses[f"{side}_body_id"].to_numpy(np.uint64), "kind": kind,
                "x": synapses[f"{side}_x"], "y": synapses[f"{side}_y"],
                "z": synapses[f"{side}_z"],
            }))  # fmt: skip
    if len(elements):
        rows.append(pd.DataFrame({
            "body_id": elements["body_id"].to_numpy(np.uint64), "kind": elements["type"],
            "x": elements["x"], "y": elements["y"], "z": elements["z"],
        }))  # fmt: skip
    every = pd.concat(rows, ignore_index=True)
    nm = every[["x", "y", "z"]].to_numpy(float) * vox_xyz
    out: dict[int, dict[str, np.ndarray]] = {}
    for (body, kind), idx in every.groupby(["body_id", "kind"]).indices.items():
        out.setdefault(int(body), {})[str(kind)] = nm[idx]
    for kinds in out.values():
        junctions = [v for k, v in kinds.items() if k in ("junction_pre", "junction_post")]
        kinds["junction"] = np.concatenate(junctions) if junctions else np.empty((0, 3))
    return out


def cells_from_tables(
    tables: str | Path, bodies: Sequence[int] | None = None
) -> Iterator[CellInput]:
    """Every cell of an ingest's tables folder that has a mesh and a skeleton.

    Examples
    --------
    >>> import tempfile
    >>> list(cells_from_tables(tempfile.mkdtemp()))
    []
    """
    tables = Path(tables)
    folder = tables / "morphology"
    if not folder.exists():
        return
    vox = voxel_size_nm_xyz(tables)
    points = organelle_points(pd.read_parquet(tables / "synapses.parquet"),
                              pd.read_parquet(tables / "elements.parquet"), vox)  # fmt: skip
    wanted = None if bodies is None else {int(b) for b in bodies}
    for path in sorted(folder.glob("*.npz")):
        if not path.stem.isdigit() or (wanted is not None and int(path.stem) not in wanted):
            continue
        with np.load(path) as saved:
            if "mesh_faces" not in saved or "skeleton_edges" not in saved:
                continue
            mesh = (saved["mesh_vertices_nm_xyz"].astype(float), saved["mesh_faces"])
            skel = Skeleton(
                saved["skeleton_vertices_nm_xyz"].astype(float),
                saved["skeleton_edges"],
                saved["skeleton_radii_nm"].astype(float),
            )
        if len(skel.vertices_nm_xyz) == 0 or len(mesh[1]) == 0:
            continue
        body = int(path.stem)
        yield CellInput(body, mesh, skel, points.get(body, {}))
