"""Cell skeletons in Neuroglancer's precomputed skeleton format (``skeletons.md``), unsharded.

The skeleton directory (the segmentation ``info``'s ``"skeletons"`` key) holds an ``info``
(``"@type": "neuroglancer_skeletons"``, an identity ``transform`` because vertices are stored in
nanometres, and the ``vertex_attributes``) and one file ``<id>`` per segment: uint32le vertex
count, uint32le edge count, float32le ``[N, 3]`` vertices (x, y, z in nm), uint32le ``[E, 2]``
edges, then each vertex attribute in ``info`` order, little-endian, ``N × num_components``
values.

Known attributes (:data:`VERTEX_ATTRIBUTES`) have a fixed type: ``radius`` float32 in nm
(Neuroglancer's special radius attribute) and ``compartment`` float32 holding a
:class:`Compartment` code (the format allows uint8, but Neuroglancer's skeleton layer takes
only float32 attributes and fails to load the whole segmentation layer otherwise). Codes 0–4
are SWC's structure identifiers, so they mean the same in an SWC export; codes from 16 up are
SyConn2's finer compartments:

====  ===================  ==========================================
code  name                 meaning
====  ===================  ==========================================
0     unknown              not classified (SWC "undefined")
1     soma                 cell body
2     axon                 axon
3     dendrite             (basal) dendrite
4     apical_dendrite      reserved, as in SWC; not predicted yet
16    spine_head           reserved for SyConn2's spine head
17    spine_neck           reserved for SyConn2's spine neck
18    bouton_en_passant    reserved for SyConn2's en-passant bouton
19    bouton_terminal      reserved for SyConn2's terminal bouton
====  ===================  ==========================================

Other attributes keep their own dtype, which must be one the spec allows (float32, int8,
uint8, int16, uint16, int32, uint32). Attributes are ordered 4-byte types first, so every
value is aligned to its size within the file.

Edges are written parent → child (walking breadth-first from a soma vertex if there is one,
else from the lowest vertex index of each connected piece): Neuroglancer and cloud-volume do not
care, but navis reads an edge ``(a, b)`` as "a is the parent of b" and needs that to build a
tree. An edge that closes a cycle keeps its direction.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from enum import IntEnum
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order

from ingest.precomputed.atomic import replacing_dir

IDENTITY_TRANSFORM = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]
ALLOWED_TYPES = ("float32", "int8", "uint8", "int16", "uint16", "int32", "uint32")


class Compartment(IntEnum):
    """The ``compartment`` vertex attribute codes (stored as float32); see the module
    docstring."""

    UNKNOWN = 0
    SOMA = 1
    AXON = 2
    DENDRITE = 3
    APICAL_DENDRITE = 4
    SPINE_HEAD = 16
    SPINE_NECK = 17
    BOUTON_EN_PASSANT = 18
    BOUTON_TERMINAL = 19


VERTEX_ATTRIBUTES: dict[str, str] = {"radius": "float32", "compartment": "float32"}

Skeleton = tuple[np.ndarray, np.ndarray, Mapping[str, np.ndarray]]


def orient_edges(edges: np.ndarray, n_vertices: int, roots: Sequence[int] = ()) -> np.ndarray:
    """Turn each tree edge to point parent → child, walking from ``roots`` first.

    Pieces without a root start at their lowest vertex index; edges closing a cycle keep
    their direction.

    Examples
    --------
    >>> orient_edges(np.array([[1, 0], [1, 2], [3, 2]]), 4).tolist()
    [[0, 1], [1, 2], [2, 3]]
    >>> orient_edges(np.array([[1, 0], [1, 2]]), 3, roots=[2]).tolist()
    [[1, 0], [2, 1]]
    """
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if len(e) == 0:
        return e.astype(np.uint32)
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_vertices, n_vertices))
    csr = graph.tocsr()
    parent = np.full(n_vertices, -2, np.int64)  # -2 not reached yet, -1 a root
    for root in [*roots, *range(n_vertices)]:
        if parent[root] != -2:
            continue
        nodes, pred = breadth_first_order(csr, root, directed=False, return_predecessors=True)
        parent[nodes] = pred[nodes]
        parent[root] = -1
    a, b = e[:, 0], e[:, 1]
    flip = (parent[a] == b) & (parent[b] != a)
    out = e.copy()
    out[flip] = e[flip][:, ::-1]
    return out.astype(np.uint32)


def _attribute_type(name: str, values: np.ndarray) -> str:
    known = VERTEX_ATTRIBUTES.get(name)
    if known is not None:
        return known
    if values.dtype.name not in ALLOWED_TYPES:
        raise ValueError(
            f"skeleton attribute {name!r} has dtype {values.dtype}; allowed: {ALLOWED_TYPES}"
        )
    return values.dtype.name


def _cast(name: str, values: np.ndarray, data_type: str) -> np.ndarray:
    target = np.dtype(data_type)
    cast = values.astype(target)
    if np.issubdtype(target, np.integer) and not np.array_equal(cast, values):
        raise ValueError(f"skeleton attribute {name!r} has values that do not fit {data_type}")
    return cast


def skeleton_info(attributes: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The skeleton ``info`` for one skeleton's attributes (types as the module says).

    Examples
    --------
    >>> info = skeleton_info({"compartment": np.zeros(2, np.uint8), "radius": np.ones(2)})
    >>> [(a["id"], a["data_type"]) for a in info["vertex_attributes"]]
    [('radius', 'float32'), ('compartment', 'float32')]
    """
    specs: list[dict[str, Any]] = []
    for name, values in attributes.items():
        arr = np.asarray(values)
        data_type = _attribute_type(name, arr)
        components = 1 if arr.ndim == 1 else int(arr.shape[1])
        specs.append({"id": name, "data_type": data_type, "num_components": components})
    # 4-byte types first (aligned values), Neuroglancer's radius ahead of the rest
    specs.sort(key=lambda s: (-np.dtype(s["data_type"]).itemsize, s["id"] != "radius"))
    return {
        "@type": "neuroglancer_skeletons",
        "transform": IDENTITY_TRANSFORM,
        "vertex_attributes": specs,
    }


def encode_skeleton(
    vertices_nm_xyz: np.ndarray,
    edges: np.ndarray,
    attributes: Mapping[str, np.ndarray],
    vertex_attributes: Sequence[Mapping[str, Any]],
) -> bytes:
    """One skeleton file; ``vertex_attributes`` is the ``info`` list that fixes order and types.

    Examples
    --------
    >>> v = np.array([[0, 0, 0], [10, 0, 0]], np.float32)
    >>> attrs = {"radius": np.array([5.0, 4.0])}
    >>> spec = skeleton_info(attrs)["vertex_attributes"]
    >>> buf = encode_skeleton(v, np.array([[0, 1]]), attrs, spec)
    >>> len(buf), np.frombuffer(buf[-8:], "<f4").tolist()
    (48, [5.0, 4.0])
    """
    vertices = np.asarray(vertices_nm_xyz)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"skeleton vertices must be an (N, 3) array, got shape {vertices.shape}")
    e = np.asarray(edges).reshape(-1, 2)
    n = len(vertices)
    if e.size and (e.min() < 0 or e.max() >= n):
        raise ValueError(f"skeleton edges must index the {n} vertices")
    names = {a["id"] for a in vertex_attributes}
    if set(attributes) != names:
        raise ValueError(
            f"every skeleton needs the same vertex attributes {sorted(names)}, got "
            f"{sorted(attributes)}"
        )
    parts = [
        np.array([n, len(e)], "<u4").tobytes(),
        np.ascontiguousarray(vertices, "<f4").tobytes(),
        np.ascontiguousarray(e, "<u4").tobytes(),
    ]
    for spec in vertex_attributes:
        values = np.asarray(attributes[spec["id"]])
        if len(values) != n or values.size != n * int(spec["num_components"]):
            raise ValueError(
                f"skeleton attribute {spec['id']!r} needs {spec['num_components']} value(s) for "
                f"each of the {n} vertices, got shape {values.shape}"
            )
        cast = _cast(spec["id"], values, spec["data_type"])
        parts.append(
            np.ascontiguousarray(cast, np.dtype(spec["data_type"]).newbyteorder("<")).tobytes()
        )
    return b"".join(parts)


def write_skeletons(
    seg_dir: str | os.PathLike[str],
    skeletons: Mapping[int, Skeleton],
    *,
    orient: bool = True,
) -> Path:
    """Write ``{segment id: (vertices_nm_xyz, edges, {attribute: per-vertex values})}``.

    All skeletons carry the same attributes; they are read from ``skeletons`` one at a time.
    The directory is the segmentation ``info``'s ``skeletons`` key (``skeletons`` if there is
    none) and is replaced atomically. With ``orient`` (the default) edges are written
    parent → child, see the module docstring.

    Examples
    --------
    >>> import tempfile
    >>> seg = Path(tempfile.mkdtemp())
    >>> v = np.array([[0, 0, 0], [10, 0, 0], [20, 0, 0]], np.float32)
    >>> attrs = {"radius": np.array([50.0, 5, 5]), "compartment": np.array([1, 2, 2])}
    >>> d = write_skeletons(seg, {7: (v, np.array([[1, 0], [2, 1]]), attrs)})
    >>> sorted(p.name for p in d.iterdir())
    ['7', 'info']
    >>> np.frombuffer((d / "7").read_bytes()[44:60], "<u4").reshape(2, 2).tolist()
    [[0, 1], [1, 2]]
    """
    seg = Path(seg_dir)
    key = "skeletons"
    if (seg / "info").exists():
        key = json.loads((seg / "info").read_text()).get("skeletons") or key
    target = seg / key
    items = iter(skeletons.items())  # one at a time: the mapping may load them on demand
    first = next(items, None)
    info = skeleton_info(first[1][2] if first is not None else {})
    with replacing_dir(target) as tmp:
        (tmp / "info").write_text(json.dumps(info))
        for segment_id, (vertices, edges, attributes) in chain(
            [first] if first is not None else [], items
        ):
            if int(segment_id) <= 0:
                raise ValueError(f"skeleton segment ids must be positive, got {segment_id}")
            e = np.asarray(edges).reshape(-1, 2)
            if orient and len(e):
                comp = attributes.get("compartment")
                soma: list[int] = []
                if comp is not None:
                    soma = np.flatnonzero(np.asarray(comp) == Compartment.SOMA)[:1].tolist()
                if e.min() >= 0 and e.max() < len(vertices):
                    e = orient_edges(e, len(vertices), soma)
            body = encode_skeleton(vertices, e, attributes, info["vertex_attributes"])
            (tmp / str(int(segment_id))).write_bytes(body)
    return target
