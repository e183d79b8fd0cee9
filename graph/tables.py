"""The Parquet table contract between ``ingest`` and ``graph``: one file per entity.

A data set's tables live in one folder (``neurons.parquet``, ``compartments.parquet``,
``synapses.parquet``, ``elements.parquet``, ``close_to.parquet``, ``control_points.parquet``
and ``meta.json``). Every file carries
``SCHEMA_VERSION``; the loader refuses files of another version. Positions are voxel
coordinates of the base resolution in ``x, y, z``; body ids are uint64.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 4
_KEY = b"connectome.schema_version"

SCHEMAS: dict[str, pa.Schema] = {
    # one row per cell (segment)
    "neurons": pa.schema(
        [
            ("body_id", pa.uint64()),
            ("voxels", pa.int64()),
            ("bbox_min_x", pa.int32()),
            ("bbox_min_y", pa.int32()),
            ("bbox_min_z", pa.int32()),
            ("bbox_max_x", pa.int32()),
            ("bbox_max_y", pa.int32()),
            ("bbox_max_z", pa.int32()),
            ("x", pa.int32()),
            ("y", pa.int32()),
            ("z", pa.int32()),  # a voxel inside the cell
            # morphology (null where the cell was too small or the stage was off)
            ("mesh_area_nm2", pa.float64()),
            ("mesh_volume_nm3", pa.float64()),
            ("cable_length_nm", pa.float64()),
        ]
    ),
    # one row per cell and compartment found on its skeleton (ingest.compartments)
    "compartments": pa.schema(
        [
            ("body_id", pa.uint64()),
            ("compartment", pa.string()),  # "axon" | "dendrite" | "soma"
            ("path_length_nm", pa.float64()),  # skeleton cable labelled with it
            ("nodes", pa.int32()),  # skeleton nodes labelled with it
            ("mesh_area_nm2", pa.float64()),  # area of the mesh faces labelled with it
            ("boutons", pa.int32()),  # axon: swellings with vesicle clouds; else 0
            ("spines", pa.int32()),  # dendrite: spines found on the skeleton; else 0
            ("x", pa.int32()),
            ("y", pa.int32()),
            ("z", pa.int32()),  # a skeleton node of the compartment (voxel)
        ]
    ),
    # one row per synaptic connection: a pre site in one body, a post site in another
    "synapses": pa.schema(
        [
            ("synapse_id", pa.int64()),
            ("pre_body_id", pa.uint64()),
            ("post_body_id", pa.uint64()),
            ("x", pa.float64()),
            ("y", pa.float64()),
            ("z", pa.float64()),  # junction centroid
            ("pre_x", pa.int32()),
            ("pre_y", pa.int32()),
            ("pre_z", pa.int32()),
            ("post_x", pa.int32()),
            ("post_y", pa.int32()),
            ("post_z", pa.int32()),
            ("junction_voxels", pa.int64()),
            # cleft area as SyConn2: half the area of the junction patch's mesh
            ("area_nm2", pa.float64()),
            ("mesh_area_nm2", pa.float64()),  # area of the junction patch's mesh
            ("contact_area_nm2", pa.float64()),  # touching voxel faces of the pair in the patch
            # compartments of either side: "axon" | "dendrite" | "soma" (null: no skeleton)
            ("pre_compartment", pa.string()),
            ("post_compartment", pa.string()),
            # finer site: pre "bouton" | "axon" | "dendrite" | "soma";
            # post "spine_head" | "spine_neck" | "shaft" | "soma" | "axon"
            ("pre_site", pa.string()),
            ("post_site", pa.string()),
            ("spine_head_volume_nm3", pa.float64()),  # post on a spine head, else null
            ("synapse_type", pa.string()),  # "asymmetric", "symmetric" or null
            ("confidence", pa.float32()),
            # fractions of junction voxels marked asymmetric / symmetric (synapse_type layer)
            ("frac_asymmetric", pa.float32()),
            ("frac_symmetric", pa.float32()),
            # SyConn2's random-forest features: organelles of either side near the synapse
            ("n_mito_pre_2um", pa.int32()),
            ("mito_voxels_pre_2um", pa.int64()),
            ("n_mito_post_2um", pa.int32()),
            ("mito_voxels_post_2um", pa.int64()),
            ("n_vc_pre_1um", pa.int32()),
            ("vc_voxels_pre_1um", pa.int64()),
            ("n_vc_post_1um", pa.int32()),
            ("vc_voxels_post_1um", pa.int64()),
        ]
    ),
    # organelle instances: mitochondria and vesicle clouds
    "elements": pa.schema(
        [
            ("element_id", pa.int64()),
            ("type", pa.string()),  # "mitochondrion" | "vesicle_cloud"
            ("body_id", pa.uint64()),
            ("voxels", pa.int64()),
            ("overlap", pa.float32()),  # fraction of the organelle's voxels inside body_id
            ("compartment", pa.string()),  # of body_id where the organelle lies, or null
            ("x", pa.int32()),
            ("y", pa.int32()),
            ("z", pa.int32()),
        ]
    ),
    # nearest mitochondrion of the presynaptic cell, per synapse
    "close_to": pa.schema(
        [
            ("synapse_id", pa.int64()),
            ("element_id", pa.int64()),
            ("euclidean_nm", pa.float64()),
            # neuPrint's along-the-neuron distance through the pre cell's skeleton, in voxels
            # of the x axis (null where the cell has no skeleton)
            ("distance_vx", pa.float64()),
        ]
    ),
    # SyConn2's control: random locations on axon surfaces and their nearest mitochondrion
    "control_points": pa.schema(
        [
            ("point_id", pa.int64()),  # unique within the data set
            ("body_id", pa.uint64()),
            ("x", pa.float64()),
            ("y", pa.float64()),
            ("z", pa.float64()),  # on the axon's mesh surface, voxel coordinates
            # nearest mitochondrion of the cell (null: none; pandas reads it as float)
            ("element_id", pa.int64()),
            ("euclidean_nm", pa.float64()),
            ("distance_vx", pa.float64()),  # along the skeleton, as close_to
        ]
    ),
}
COMPARTMENTS = ("soma", "axon", "dendrite")
PRE_SITES = ("bouton", "axon", "dendrite", "soma")
POST_SITES = ("spine_head", "spine_neck", "shaft", "soma", "axon")
ELEMENT_TYPES = ("mitochondrion", "vesicle_cloud")


class TableContractError(ValueError):
    """A table folder that does not follow this contract."""


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_table(folder: str | os.PathLike, name: str, frame: pd.DataFrame) -> Path:
    """Write one entity table, cast to its schema, atomically.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> df = pd.DataFrame({"synapse_id": [1], "element_id": [7], "euclidean_nm": [12.5],
    ...                    "distance_vx": [3.0]})
    >>> _ = write_table(folder, "close_to", df)
    >>> read_table(folder, "close_to").to_dict("records")
    [{'synapse_id': 1, 'element_id': 7, 'euclidean_nm': 12.5, 'distance_vx': 3.0}]
    """
    schema = SCHEMAS[name]
    missing = [f.name for f in schema if f.name not in frame.columns]
    if missing:
        raise TableContractError(f"table {name!r} lacks columns {missing}")
    table = pa.Table.from_pandas(
        frame[[f.name for f in schema]], schema=schema, preserve_index=False
    )
    table = table.replace_schema_metadata(
        {_KEY: str(SCHEMA_VERSION).encode(), b"connectome.table": name.encode()}
    )
    path = Path(folder) / f"{name}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))
    return path


def checked_path(folder: str | os.PathLike, name: str) -> Path:
    """The file of entity table ``name`` in ``folder``, once it exists and its schema version
    (read from the file's schema alone) is this contract's.

    Raises
    ------
    TableContractError
        One sentence naming the file: missing, or written under another schema version.

    Examples
    --------
    >>> import tempfile
    >>> checked_path(tempfile.mkdtemp(), "neurons")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    graph.tables.TableContractError: .../neurons.parquet does not exist; run `connectome ...
    """
    path = Path(folder) / f"{name}.parquet"
    if not path.exists():
        raise TableContractError(f"{path} does not exist; run `connectome ingest` first")
    version = (pq.read_schema(path).metadata or {}).get(_KEY, b"?").decode()
    if version != str(SCHEMA_VERSION):
        raise TableContractError(
            f"{path} has table schema version {version}, expected {SCHEMA_VERSION}; re-run ingest"
        )
    return path


def read_table(folder: str | os.PathLike, name: str) -> pd.DataFrame:
    """Read one entity table, checking its schema version (:func:`checked_path`)."""
    return pq.read_table(checked_path(folder, name)).to_pandas(integer_object_nulls=False)


def write_meta(folder: str | os.PathLike, meta: dict[str, Any]) -> Path:
    """Write ``meta.json`` (data set name, voxel size, shape, source), atomically."""
    path = Path(folder) / "meta.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = json.dumps({"schema_version": SCHEMA_VERSION, **meta}, indent=2, sort_keys=True)
    _atomic_write(path, lambda tmp: tmp.write_text(body + "\n"))
    return path


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    path = Path(folder) / "meta.json"
    if not path.exists():
        raise TableContractError(f"{path} does not exist; run `connectome ingest` first")
    meta = json.loads(path.read_text())
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise TableContractError(f"{path} has another table schema version; re-run ingest")
    return meta
