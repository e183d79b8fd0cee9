"""Cell surface meshes in Neuroglancer's legacy single-resolution format (``meshes.md``).

The mesh directory (the segmentation ``info``'s ``"mesh"`` key) holds:

- ``info``: ``{"@type": "neuroglancer_legacy_mesh"}``;
- per segment a JSON manifest ``<id>:0`` = ``{"fragments": ["<id>"]}`` (one fragment per cell,
  named by the bare id: cloud-volume only needs the names listed, and navis reads every file
  without a dot or a ``:0`` suffix as a fragment, taking its name as the id);
- the fragment ``<id>``: uint32le vertex count, then float32le ``x, y, z`` vertices in
  nanometres of the global frame, then uint32le triangle vertex indices, three per triangle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ingest.precomputed.atomic import replacing_dir

MESH_INFO = {"@type": "neuroglancer_legacy_mesh"}


def encode_mesh(vertices_nm_xyz: np.ndarray, faces: np.ndarray) -> bytes:
    """One legacy mesh fragment: vertex count, vertices (nm, xyz), triangles.

    Examples
    --------
    >>> v = np.array([[0, 0, 0], [8, 0, 0], [0, 8, 0]], np.float32)
    >>> buf = encode_mesh(v, np.array([[0, 1, 2]]))
    >>> len(buf), int(np.frombuffer(buf[:4], "<u4")[0])
    (52, 3)
    """
    vertices = np.asarray(vertices_nm_xyz)
    faces_ = np.asarray(faces)
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(f"mesh vertices must be an (N, 3) array, got shape {vertices.shape}")
    if faces_.size and (faces_.ndim != 2 or faces_.shape[1] != 3):
        raise ValueError(f"mesh faces must be an (M, 3) array, got shape {faces_.shape}")
    if faces_.size and (faces_.min() < 0 or faces_.max() >= len(vertices)):
        raise ValueError(f"mesh faces must index the {len(vertices)} vertices")
    head = np.array([len(vertices)], "<u4").tobytes()
    return (
        head
        + np.ascontiguousarray(vertices, "<f4").tobytes()
        + np.ascontiguousarray(faces_.reshape(-1, 3), "<u4").tobytes()
    )


def mesh_dir(seg_dir: str | os.PathLike[str]) -> Path:
    """The mesh directory named by the segmentation ``info`` (``mesh`` if it has none).

    Examples
    --------
    >>> mesh_dir("/no/such/segmentation").as_posix()
    '/no/such/segmentation/mesh'
    """
    info_path = Path(seg_dir) / "info"
    key = "mesh"
    if info_path.exists():
        key = json.loads(info_path.read_text()).get("mesh") or key
    return Path(seg_dir) / key


def write_meshes(
    seg_dir: str | os.PathLike[str], meshes: Mapping[int, tuple[np.ndarray, np.ndarray]]
) -> Path:
    """Write ``{segment id: (vertices_nm_xyz (N, 3), faces (M, 3))}`` as legacy meshes.

    The whole mesh directory is replaced atomically. Returns its path.

    Examples
    --------
    >>> import tempfile
    >>> seg = Path(tempfile.mkdtemp())
    >>> tri = (np.array([[0, 0, 0], [8, 0, 0], [0, 8, 0]], np.float32), np.array([[0, 1, 2]]))
    >>> d = write_meshes(seg, {2**60: tri})
    >>> sorted(p.name for p in d.iterdir())
    ['1152921504606846976', '1152921504606846976:0', 'info']
    >>> (d / "1152921504606846976:0").read_text()
    '{"fragments": ["1152921504606846976"]}'
    """
    target = mesh_dir(seg_dir)
    with replacing_dir(target) as tmp:
        (tmp / "info").write_text(json.dumps(MESH_INFO))
        for segment_id, (vertices, faces) in meshes.items():
            name = str(int(segment_id))
            if int(segment_id) <= 0:
                raise ValueError(f"mesh segment ids must be positive, got {name}")
            (tmp / name).write_bytes(encode_mesh(vertices, faces))
            (tmp / f"{name}:0").write_text(json.dumps({"fragments": [name]}))
    return target
