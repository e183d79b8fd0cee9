"""Neuroglancer precomputed files for a data set, written by our own code from numpy inputs.

One module per kind of file: :mod:`~ingest.precomputed.volume` (image and segmentation
chunks), :mod:`~ingest.precomputed.mesh` (legacy meshes), :mod:`~ingest.precomputed.skeleton`
(skeletons with ``radius`` and ``compartment`` vertex attributes),
:mod:`~ingest.precomputed.annotation` (point annotations with segment relationships),
:mod:`~ingest.precomputed.dataset` (the whole tree of one data set, and its layout), and
:mod:`~ingest.precomputed.atomic` (how every write appears whole or not at all).

The specs followed are Neuroglancer's ``src/datasource/precomputed/{volume,meshes,skeletons,
annotations}.md`` and ``src/sliceview/compressed_segmentation/README.md``; the tests read the
output back with cloud-volume and navis, and with small decoders written from the spec text.
"""

from ingest.precomputed.annotation import (
    KINDS,
    AnnotationKind,
    AnnotationProperty,
    Annotations,
    register_kind,
    write_annotations,
)
from ingest.precomputed.dataset import DATASET_NAME, write_dataset
from ingest.precomputed.mesh import write_meshes
from ingest.precomputed.skeleton import Compartment, write_skeletons
from ingest.precomputed.volume import ENCODINGS, write_image, write_segmentation

__all__ = [
    "DATASET_NAME",
    "ENCODINGS",
    "KINDS",
    "AnnotationKind",
    "AnnotationProperty",
    "Annotations",
    "Compartment",
    "register_kind",
    "write_annotations",
    "write_dataset",
    "write_image",
    "write_meshes",
    "write_segmentation",
    "write_skeletons",
]
