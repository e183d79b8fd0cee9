"""One data set's Neuroglancer precomputed tree, written whole or not at all.

Layout of ``<root>/<dataset>/`` (``<root>`` is ``<data_dir>/precomputed``, served by the API
under ``/data/<dataset>/``):

.. code-block:: text

    <dataset>/
      layers.json              the index below
      image/                   raw EM image (type image, uint8)
        info
        8_8_40/<x0>-<x1>_<y0>-<y1>_<z0>-<z1>  ...  one directory per scale
      segmentation/            cells (type segmentation, uint64, compressed_segmentation)
        info
        8_8_40/...
        mesh/                  legacy meshes: info, <id>:0 manifests, <id> fragments
        skeletons/             skeletons: info, <id> (radius, compartment attributes)
      synapses/                point annotations, kind "synapse"
        info  by_id/  rel_pre_synaptic_cell/  rel_post_synaptic_cell/  spatial0/ ...
      mitochondria/            point annotations, kind "mitochondrion"
        info  by_id/  rel_cell/  spatial0/ ...

``layers.json`` lists what is there, so a client can build Neuroglancer layers without
probing: ``{"dataset", "voxel_size_nm_xyz", "size_xyz", "layers": [{"name", "type", "path",
...}]}`` where ``type`` is ``image``, ``segmentation`` or ``annotation``, and a layer's source
is ``precomputed://<server>/data/<dataset>/<path>``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from graph.schema import DATASET_PATTERN
from ingest.precomputed.annotation import Annotations, annotation_kind, write_annotations
from ingest.precomputed.atomic import remove_leftovers, replacing_dir, write_json
from ingest.precomputed.mesh import write_meshes
from ingest.precomputed.skeleton import Skeleton, write_skeletons
from ingest.precomputed.volume import BLOCK_BYTES, VolumeArray, write_image, write_segmentation

DATASET_NAME = DATASET_PATTERN  # data set names become Neo4j labels: graph.schema decides
LAYER_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
RESERVED_LAYERS = ("image", "segmentation")


def write_dataset(
    out_dir: str | os.PathLike[str],
    *,
    voxel_size_nm_zyx: tuple[float, float, float],
    raw_zyx: VolumeArray | None = None,
    labels_zyx: VolumeArray | None = None,
    meshes: Mapping[int, tuple[np.ndarray, np.ndarray]] | None = None,
    skeletons: Mapping[int, Skeleton] | None = None,
    annotations: Mapping[str, Annotations] | None = None,
    chunk_xyz: tuple[int, int, int] = (64, 64, 64),
    image_encoding: str = "raw",
    num_scales: int | None = None,
    block_bytes: int = BLOCK_BYTES,
    resume_key: str | None = None,
) -> Path:
    """Write every layer of one data set into ``out_dir`` (named after the data set).

    Everything is built in the hidden sibling ``.<dataset>.partial-<pid>`` and renamed to
    ``out_dir`` at the end, so a crash leaves no half-written data set. ``annotations`` maps a
    layer name (``synapses``, ``mitochondria``, ...) to its :class:`Annotations`; when a volume
    is given the annotation bounds are the volume's.

    ``raw_zyx`` and ``labels_zyx`` may be numpy arrays or lazily read ones (zarr arrays): they
    are streamed in blocks of at most about ``block_bytes``, and ``meshes`` and ``skeletons``
    are read one item at a time, so a mapping that loads each cell on demand keeps memory to
    one cell.

    ``resume_key`` (any string that changes whenever ``raw_zyx`` or ``labels_zyx`` change, such
    as their paths and modification times) makes a killed write resume: the hidden sibling is
    then named by that key and the other arguments that shape the volume files, kept when the
    write fails, and the image and segmentation chunks already in it are not made again (see
    :mod:`ingest.precomputed.volume`); meshes, skeletons and annotations are written again.

    Examples
    --------
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "tiny"
    >>> labels = np.zeros((2, 4, 4), np.uint64); labels[:, 1:3, 1:3] = 9
    >>> mito = Annotations("mitochondrion", np.array([[1.5, 1.5, 0.5]]), np.array([1]),
    ...                    {"volume_nm3": [100.0]}, {"cell": [9]})
    >>> _ = write_dataset(out, voxel_size_nm_zyx=(40, 8, 8), raw_zyx=np.zeros((2, 4, 4), np.uint8),
    ...                   labels_zyx=labels, annotations={"mitochondria": mito})
    >>> sorted(p.name for p in out.iterdir())
    ['image', 'layers.json', 'mitochondria', 'segmentation']
    >>> sorted(p.name for p in out.parent.iterdir())  # no temporary left behind
    ['tiny']
    """
    out = Path(out_dir)
    if not DATASET_NAME.match(out.name):
        raise ValueError(
            f"data set directory name {out.name!r} must match {DATASET_NAME.pattern} "
            "(the name the API serves it under)"
        )
    if labels_zyx is None and (meshes or skeletons):
        raise ValueError("meshes and skeletons need labels_zyx (they live in the segmentation)")
    for name in annotations or {}:
        if not LAYER_NAME.match(name) or name in RESERVED_LAYERS:
            raise ValueError(
                f"annotation layer name {name!r} must match {LAYER_NAME.pattern} and not be one "
                f"of {RESERVED_LAYERS}"
            )
    shapes = {tuple(int(s) for s in a.shape) for a in (raw_zyx, labels_zyx) if a is not None}
    if len(shapes) > 1:
        raise ValueError(f"raw_zyx and labels_zyx must have the same shape, got {sorted(shapes)}")
    shape_zyx = next(iter(shapes)) if shapes else None
    vz, vy, vx = voxel_size_nm_zyx
    index: dict[str, Any] = {
        "dataset": out.name,
        "voxel_size_nm_xyz": [vx, vy, vz],
        "size_xyz": None if shape_zyx is None else [shape_zyx[2], shape_zyx[1], shape_zyx[0]],
        "layers": [],
    }
    key = None
    if resume_key is not None:
        shaped_by = [resume_key, list(chunk_xyz), image_encoding, num_scales, "streamed-1"]
        key = hashlib.sha1(json.dumps(shaped_by).encode()).hexdigest()[:16]
    with replacing_dir(out, key) as tmp:
        if raw_zyx is not None:
            write_image(
                tmp / "image",
                raw_zyx,
                voxel_size_nm_zyx,
                chunk_xyz=chunk_xyz,
                encoding=image_encoding,
                num_scales=num_scales,
                block_bytes=block_bytes,
                resume_key=key,
            )
            index["layers"].append({"name": "image", "type": "image", "path": "image"})
        if labels_zyx is not None:
            seg = tmp / "segmentation"
            write_segmentation(
                seg,
                labels_zyx,
                voxel_size_nm_zyx,
                chunk_xyz=chunk_xyz,
                num_scales=num_scales,
                block_bytes=block_bytes,
                resume_key=key,
            )
            layer = {"name": "segmentation", "type": "segmentation", "path": "segmentation"}
            if meshes is not None:
                write_meshes(seg, meshes)
                layer["mesh"] = "mesh"
            if skeletons is not None:
                write_skeletons(seg, skeletons)
                layer["skeletons"] = "skeletons"
            index["layers"].append(layer)
        for name, ann in (annotations or {}).items():
            bounds = None
            if shape_zyx is not None:
                bounds = ((0, 0, 0), (shape_zyx[2], shape_zyx[1], shape_zyx[0]))
            write_annotations(
                tmp / name,
                ann.kind,
                ann.points_xyz_vx,
                ann.ids,
                ann.properties,
                ann.relationships,
                voxel_size_nm_zyx,
                bounds_xyz_vx=bounds,
            )
            kind = annotation_kind(ann.kind).name
            index["layers"].append({"name": name, "type": "annotation", "path": name, "kind": kind})
        write_json(tmp / "layers.json", index)
        if key is not None:
            remove_leftovers(tmp)  # of the killed writes this one resumed
    return out
