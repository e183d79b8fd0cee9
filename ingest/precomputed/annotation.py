"""Point annotation layers (synapses, mitochondria, ...) in Neuroglancer's precomputed
annotation format (``annotations.md``, ``"@type": "neuroglancer_annotations_v1"``), unsharded.

An annotation layer directory holds:

- ``info``: ``dimensions`` ``x, y, z`` in metres per voxel (so points are in voxel units of the
  base resolution, as neuPrint stores them), ``lower_bound``/``upper_bound`` in voxels,
  ``annotation_type`` ``"POINT"``, the ``properties``, the ``relationships``, ``by_id`` and the
  ``spatial`` index levels;
- ``by_id/<annotation id>``: the single annotation encoding: 3 float32le coordinates, the
  property values, zero padding to a multiple of 4 bytes, then per relationship a uint32le
  count and that many uint64le segment ids;
- ``rel_<relationship>/<segment id>``: the annotations related to that segment, in the
  multiple annotation encoding: uint64le count, every annotation's geometry + properties +
  padding, then every annotation's uint64le id;
- ``spatial<level>/<i>_<j>_<k>``: the annotations of one grid cell of one spatial index level,
  in the same multiple annotation encoding.

Decisions the spec leaves open:

- Properties are listed in ``info`` by decreasing size (4-byte types, then 2-byte, then 1-byte,
  keeping the kind's order within a size), which is the order the binary encoding requires.
  Readers that follow the ``info`` order (cloud-volume) and readers that sort by size
  (Neuroglancer) then agree.
- A relationship value 0 means "no segment" (background) and is left out of the lists.
- Empty lists are never written: Neuroglancer rejects an annotation list of 8 bytes or fewer
  (a count of 0) and treats a missing file as "no annotations". (cloud-volume 12, in turn,
  cannot read a spatial level with a missing cell: it decodes ``None``. Its ``by_id`` and
  relationship readers are unaffected.)
- The spatial index follows the spec's sampling rule: level 0 is one cell covering the
  bounds; each finer level halves the chunk along the dimensions whose physical extent is
  more than 1/√2 of the largest (so chunks become more isotropic); a cell keeps each remaining
  annotation with probability ``min(1, limit / max count)``, in a random order drawn from a
  fixed seed (files are reproducible). A point belongs to the single cell
  ``floor((p - lower) / chunk)``. After :data:`MAX_SPATIAL_LEVELS` levels everything left is
  emitted (identical points can never be separated).
- Annotation kinds (property schema and relationships) come from the :data:`KINDS` registry.

Only unsharded indices are written: one file per annotation and per related segment.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ingest.precomputed.atomic import replacing_dir

MAX_SPATIAL_LEVELS = 16
PROPERTY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")

# property type -> (numpy dtype, components, alignment)
PROPERTY_TYPES: dict[str, tuple[str, int, int]] = {
    "float32": ("<f4", 1, 4),
    "uint32": ("<u4", 1, 4),
    "int32": ("<i4", 1, 4),
    "uint16": ("<u2", 1, 2),
    "int16": ("<i2", 1, 2),
    "uint8": ("u1", 1, 1),
    "int8": ("i1", 1, 1),
    "rgb": ("u1", 3, 1),
    "rgba": ("u1", 4, 1),
}


@dataclass(frozen=True)
class AnnotationProperty:
    """One annotation property of the ``info``: id, type, description, optional enum."""

    id: str
    type: str
    description: str = ""
    enum: tuple[tuple[int, str], ...] = ()  # (value, label) pairs

    def __post_init__(self) -> None:
        if not PROPERTY_ID.match(self.id):
            raise ValueError(f"annotation property id {self.id!r} must match {PROPERTY_ID.pattern}")
        if self.type not in PROPERTY_TYPES:
            raise ValueError(
                f"annotation property type {self.type!r} not in {list(PROPERTY_TYPES)}"
            )

    @property
    def alignment(self) -> int:
        return PROPERTY_TYPES[self.type][2]

    def to_json(self) -> dict[str, Any]:
        spec: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.description:
            spec["description"] = self.description
        if self.enum:
            spec["enum_values"] = [v for v, _ in self.enum]
            spec["enum_labels"] = [label for _, label in self.enum]
        return spec


@dataclass(frozen=True)
class AnnotationKind:
    """What a layer's annotations carry: its properties and its relationships to segments."""

    name: str
    properties: tuple[AnnotationProperty, ...]
    relationships: tuple[str, ...]


KINDS: dict[str, AnnotationKind] = {}


def register_kind(kind: AnnotationKind) -> AnnotationKind:
    """Add an annotation kind to :data:`KINDS` (by its name).

    Examples
    --------
    >>> bouton = register_kind(AnnotationKind("bouton", (_VOLUME,), ("cell",)))
    >>> KINDS["bouton"] is bouton
    True
    >>> del KINDS["bouton"]
    """
    KINDS[kind.name] = kind
    return kind


_VOLUME = AnnotationProperty("volume_nm3", "float32", "volume in nm³")
SYNAPSE = register_kind(
    AnnotationKind(
        "synapse",
        (
            AnnotationProperty("confidence", "float32", "classifier confidence, 0 to 1"),
            AnnotationProperty("area_nm2", "float32", "synaptic junction (cleft) area in nm²"),
            AnnotationProperty(
                "synapse_type",
                "uint8",
                "SyConn2 synapse type",
                ((0, "unknown"), (1, "asymmetric"), (2, "symmetric")),
            ),
        ),
        ("pre_synaptic_cell", "post_synaptic_cell"),
    )
)
MITOCHONDRION = register_kind(AnnotationKind("mitochondrion", (_VOLUME,), ("cell",)))
VESICLE_CLOUD = register_kind(AnnotationKind("vesicle_cloud", (_VOLUME,), ("cell",)))


@dataclass
class Annotations:
    """The inputs of :func:`write_annotations` for one layer, as one value."""

    kind: str | AnnotationKind
    points_xyz_vx: np.ndarray
    ids: np.ndarray
    properties: Mapping[str, Any] = field(default_factory=dict)
    relationships: Mapping[str, np.ndarray] = field(default_factory=dict)


def annotation_kind(kind: str | AnnotationKind) -> AnnotationKind:
    """The :class:`AnnotationKind` named ``kind`` in :data:`KINDS` (or ``kind`` itself).

    Examples
    --------
    >>> annotation_kind("synapse").relationships
    ('pre_synaptic_cell', 'post_synaptic_cell')
    """
    if isinstance(kind, AnnotationKind):
        return kind
    found = KINDS.get(kind)
    if found is None:
        raise ValueError(f"unknown annotation kind {kind!r}; known: {sorted(KINDS)}")
    return found


def _property_values(prop: AnnotationProperty, values: Any, n: int) -> np.ndarray:
    dtype, components, _ = PROPERTY_TYPES[prop.type]
    arr = np.asarray(values)
    if prop.enum and arr.dtype.kind in "OUS":  # labels given: map them to the enum values
        by_label: dict[Any, int] = {label: v for v, label in prop.enum}
        unknown = by_label.get("unknown")
        mapped = []
        for label in arr.tolist():
            if label is None or (isinstance(label, float) and math.isnan(label)):
                label = "unknown" if unknown is not None else label
            if label not in by_label:
                raise ValueError(
                    f"property {prop.id!r} has label {label!r}; known: {list(by_label)}"
                )
            mapped.append(by_label[label])
        arr = np.asarray(mapped)
    shape = (n,) if components == 1 else (n, components)
    if arr.shape != shape:
        raise ValueError(f"property {prop.id!r} needs shape {shape}, got {arr.shape}")
    cast = arr.astype(dtype)
    if np.dtype(dtype).kind in "iu" and not np.array_equal(cast, arr):
        raise ValueError(f"property {prop.id!r} has values that do not fit {prop.type}")
    if prop.enum and not np.isin(cast, [v for v, _ in prop.enum]).all():
        raise ValueError(
            f"property {prop.id!r} has values outside its enum {[v for v, _ in prop.enum]}"
        )
    return cast


def _relationship_lists(name: str, values: Any, n: int) -> list[np.ndarray]:
    arr = np.asarray(values)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ValueError(f"relationship {name!r} needs {n} rows of segment ids, got {arr.shape}")
    if arr.size and (arr.dtype.kind not in "iu" or (arr.dtype.kind == "i" and (arr < 0).any())):
        raise ValueError(f"relationship {name!r} must hold non-negative integer segment ids")
    ids = arr.astype(np.uint64)
    return [row[row != 0] for row in ids]


def _record_dtype(props: Sequence[AnnotationProperty]) -> np.dtype:
    fields: list[tuple[Any, ...]] = [("geometry", "<f4", (3,))]
    size = 12
    for p in props:
        dtype, components, _ = PROPERTY_TYPES[p.type]
        fields.append(
            (f"p_{p.id}", dtype) if components == 1 else (f"p_{p.id}", dtype, (components,))
        )
        size += np.dtype(dtype).itemsize * components
    if size % 4:
        fields.append(("padding", "u1", (4 - size % 4,)))
    return np.dtype(fields)


def encode_annotation_list(records: np.ndarray, ids: np.ndarray) -> bytes:
    """The multiple annotation encoding: uint64le count, the records, then the uint64le ids.

    Examples
    --------
    >>> rec = np.zeros(1, [("geometry", "<f4", (3,))]); rec["geometry"] = [1, 2, 3]
    >>> buf = encode_annotation_list(rec, np.array([2**60 + 1], np.uint64))
    >>> len(buf), int(np.frombuffer(buf[-8:], "<u8")[0])
    (28, 1152921504606846977)
    """
    count = np.array([len(records)], "<u8").tobytes()
    return count + records.tobytes() + np.ascontiguousarray(ids, "<u8").tobytes()


def _groups(keys: np.ndarray, values: np.ndarray) -> dict[int, np.ndarray]:
    """``{key: the values with that key, in their order}``.

    Examples
    --------
    >>> _groups(np.array([5, 3, 5]), np.array([0, 1, 2]))
    {3: array([1]), 5: array([0, 2])}
    """
    order = np.argsort(keys, kind="stable")
    uniq, starts = np.unique(keys[order], return_index=True)
    groups = np.split(values[order], starts[1:]) if len(uniq) else []
    return {int(k): g for k, g in zip(uniq, groups, strict=True)}


def _spatial_levels(
    points: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    scale_nm_xyz: np.ndarray,
    limit: int,
    rng: np.random.Generator,
) -> list[tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]]:
    """Per level: (grid_shape, chunk_size, {flat cell index: annotation indices in order})."""
    chunk = (upper - lower).astype(np.float64)
    grid = np.ones(3, np.int64)
    remaining = np.arange(len(points))
    levels = []
    for level in range(MAX_SPATIAL_LEVELS):
        cells = np.floor((points[remaining] - lower) / chunk).astype(np.int64)
        cells = np.clip(cells, 0, grid - 1)
        flat = np.ravel_multi_index(cells.T, grid, order="F")  # x fastest
        emitted: dict[int, np.ndarray] = {}
        if len(remaining):
            _, counts = np.unique(flat, return_counts=True)
            last = level == MAX_SPATIAL_LEVELS - 1
            p = 1.0 if last else min(1.0, limit / int(counts.max()))
            keep = rng.random(len(remaining)) < p if p < 1 else np.ones(len(remaining), bool)
            order = rng.permutation(int(keep.sum()))
            chosen, chosen_cells = remaining[keep][order], flat[keep][order]
            emitted = _groups(chosen_cells, chosen)
            remaining = remaining[~keep]
        levels.append((grid.copy(), chunk.copy(), emitted))
        if len(remaining) == 0:
            break
        physical = chunk * scale_nm_xyz
        halve = physical > physical.max() / math.sqrt(2)
        chunk = np.where(halve, chunk / 2, chunk)
        grid = np.where(halve, grid * 2, grid)
    return levels


def _json_number(v: float) -> int | float:
    return int(v) if float(v).is_integer() else float(v)


def write_annotations(
    out_dir: str | os.PathLike[str],
    kind: str | AnnotationKind,
    points_xyz_vx: np.ndarray,
    ids: np.ndarray,
    properties: Mapping[str, Any],
    relationships: Mapping[str, np.ndarray],
    voxel_size_nm_zyx: tuple[float, float, float],
    *,
    bounds_xyz_vx: tuple[Sequence[float], Sequence[float]] | None = None,
    limit: int = 5000,
    seed: int = 0,
) -> dict[str, Any]:
    """Write a point annotation layer and return its ``info``.

    ``kind`` names a :data:`KINDS` entry (``"synapse"``, ``"mitochondrion"``,
    ``"vesicle_cloud"``) or is an :class:`AnnotationKind`; ``properties`` and
    ``relationships`` must be among the kind's (a property may be left out; enum properties
    also take their labels, with ``None`` meaning ``"unknown"``). A relationship array is
    ``(N,)`` or ``(N, k)`` segment ids, 0 meaning none. ``bounds_xyz_vx`` is
    ``(lower, upper)``, upper exclusive; by default the points' voxel box. The directory is
    replaced atomically.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "synapses"
    >>> info = write_annotations(
    ...     out, "synapse", np.array([[1.0, 2.0, 3.0]]), np.array([5], np.uint64),
    ...     {"confidence": [0.9], "synapse_type": ["symmetric"]},
    ...     {"pre_synaptic_cell": [2**60], "post_synaptic_cell": [7]}, (40.0, 8.0, 8.0))
    >>> [p["id"] for p in info["properties"]], info["dimensions"]["z"]
    (['confidence', 'synapse_type'], [4e-08, 'm'])
    >>> print(*sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()), sep="\\n")
    by_id/5
    info
    rel_post_synaptic_cell/7
    rel_pre_synaptic_cell/1152921504606846976
    spatial0/0_0_0
    """
    k = annotation_kind(kind)
    points = np.asarray(points_xyz_vx, dtype=np.float64)
    n = len(points)
    if points.ndim != 2 or points.shape[1] != 3 or not np.isfinite(points).all():
        raise ValueError(f"points_xyz_vx must be a finite (N, 3) array, got shape {points.shape}")
    raw_ids = np.asarray(ids)
    if raw_ids.shape != (n,) or (n and raw_ids.dtype.kind not in "iu"):
        raise ValueError(f"ids must be {n} integer annotation ids, got shape {raw_ids.shape}")
    if raw_ids.dtype.kind == "i" and (raw_ids < 0).any():
        raise ValueError("annotation ids must not be negative")
    ann_ids = raw_ids.astype(np.uint64)
    if len(np.unique(ann_ids)) != n:
        raise ValueError("annotation ids must be unique")
    known_props = {p.id: p for p in k.properties}
    extra = sorted(set(properties) - set(known_props))
    if extra:
        raise ValueError(f"kind {k.name!r} has no properties {extra}; known: {list(known_props)}")
    extra = sorted(set(relationships) - set(k.relationships))
    if extra:
        raise ValueError(f"kind {k.name!r} has no relationships {extra}; known: {k.relationships}")
    props = [p for p in k.properties if p.id in properties]
    props.sort(key=lambda p: -p.alignment)  # stable: the kind's order within one size
    rels = [r for r in k.relationships if r in relationships]

    records = np.zeros(n, _record_dtype(props))
    records["geometry"] = points.astype(np.float32)
    for p in props:
        records[f"p_{p.id}"] = _property_values(p, properties[p.id], n)
    related = {r: _relationship_lists(r, relationships[r], n) for r in rels}

    vz, vy, vx = (float(v) for v in voxel_size_nm_zyx)
    scale_nm_xyz = np.array([vx, vy, vz])
    if bounds_xyz_vx is None:
        lower = np.floor(points.min(axis=0)) if n else np.zeros(3)
        upper = np.floor(points.max(axis=0)) + 1 if n else np.ones(3)
    else:
        lower = np.asarray(bounds_xyz_vx[0], np.float64)
        upper = np.asarray(bounds_xyz_vx[1], np.float64)
        if (upper <= lower).any():
            raise ValueError(f"bounds_xyz_vx upper {upper} must exceed lower {lower}")
        if n and ((points < lower).any() or (points >= upper).any()):
            raise ValueError(f"some points lie outside bounds_xyz_vx [{lower}, {upper})")
    rng = np.random.default_rng(seed)
    levels = _spatial_levels(points, lower, upper, scale_nm_xyz, limit, rng)

    info: dict[str, Any] = {
        "@type": "neuroglancer_annotations_v1",
        "dimensions": {"x": [vx / 1e9, "m"], "y": [vy / 1e9, "m"], "z": [vz / 1e9, "m"]},
        "lower_bound": [_json_number(v) for v in lower],
        "upper_bound": [_json_number(v) for v in upper],
        "annotation_type": "POINT",
        "properties": [p.to_json() for p in props],
        "relationships": [{"id": r, "key": f"rel_{r}"} for r in rels],
        "by_id": {"key": "by_id"},
        "spatial": [
            {
                "key": f"spatial{i}",
                "grid_shape": [int(g) for g in grid],
                "chunk_size": [_json_number(c) for c in chunk],
                "limit": int(limit),
            }
            for i, (grid, chunk, _) in enumerate(levels)
        ],
    }
    with replacing_dir(Path(out_dir)) as tmp:
        (tmp / "info").write_text(json.dumps(info, allow_nan=False))
        (tmp / "by_id").mkdir()
        for i in range(n):
            parts = [records[i : i + 1].tobytes()]
            for r in rels:
                segs = related[r][i]
                parts += [np.array([len(segs)], "<u4").tobytes(), segs.astype("<u8").tobytes()]
            (tmp / "by_id" / str(int(ann_ids[i]))).write_bytes(b"".join(parts))
        for r in rels:
            rel_dir = tmp / f"rel_{r}"
            rel_dir.mkdir()
            owner = np.repeat(np.arange(n), [len(s) for s in related[r]])
            segs = np.concatenate(related[r]) if n else np.zeros(0, np.uint64)
            for seg, group in _groups(segs, owner).items():
                body = encode_annotation_list(records[group], ann_ids[group])
                (rel_dir / str(int(seg))).write_bytes(body)
        for i, (grid, _, cells) in enumerate(levels):
            level_dir = tmp / f"spatial{i}"
            level_dir.mkdir()
            for flat, group in cells.items():
                cell = np.unravel_index(flat, tuple(int(g) for g in grid), order="F")
                name = "_".join(str(int(c)) for c in cell)
                (level_dir / name).write_bytes(
                    encode_annotation_list(records[group], ann_ids[group])
                )
    return info
