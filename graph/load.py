"""Load a data set's Parquet tables into Neo4j as neuPrint's model (DESIGN.md).

The model is defined once, column-wise: :func:`prepare` reads and cross-checks the tables and
returns a :class:`Model`, a list of node kinds and relationship kinds whose rows come as
pandas frames in chunks (the synapse-sized ones streamed from the Parquet files a chunk at a
time). Two writers consume it: :func:`load` here, in batched ``UNWIND`` transactions with
every value a parameter, and :mod:`graph.bulk`, as CSV files for ``neo4j-admin database
import``. So both write the same graph, and a first load of ten million synapses never holds
a Python object per row.

A load replaces the data set: its old nodes are deleted in batches, the new ones created, and
the ``:Meta`` node written last. So loading the same tables twice leaves the same graph, and a
data set whose load was interrupted has no ``:Meta`` node (the API does not list it) until a
load completes.

Beside neuPrint's model it writes each cell's ``:Compartment`` nodes (axon, dendrite, soma)
that ``:Includes`` the synapses and organelles lying in them, and SyConn2's ``:ControlPoint``
nodes on axon surfaces with a ``CloseTo`` to their nearest mitochondrion. A null in the
tables is an absent property in the graph.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from neo4j import Driver, GraphDatabase

from graph import tables
from graph.ids import uint64_to_int64
from graph.schema import (
    DATA_MODEL_VERSION,
    NODE_KINDS,
    WHOLE_VOLUME_ROI,
    check_dataset,
    constraint_statements,
    label,
)
from graph.settings import Neo4jSettings

Progress = Callable[[str, int, int], None]  # (step, done, total)
# Synapses at or above this confidence count as high-accuracy (ConnectsTo.weightHP and
# Meta.postHighAccuracyThreshold, as neuPrint); 0.5 means "more vesicle evidence on the
# presynaptic side than on the other", see ingest.synapses.
HIGH_ACCURACY_CONFIDENCE = 0.5
CHUNK_ROWS = 1_000_000  # table rows per chunk of the synapse-sized kinds

# Segment properties from the neurons table (camelCase name: column; absent where null)
NEURON_PROPERTIES = {
    "meshAreaNm2": "mesh_area_nm2",
    "meshVolumeNm3": "mesh_volume_nm3",
    "cableLengthNm": "cable_length_nm",
}
# Segment properties summing up its compartments (absent for a body without compartments)
PATH_LENGTH_PROPERTIES = {
    "axon": "axonPathLengthNm",
    "dendrite": "dendritePathLengthNm",
    "soma": "somaPathLengthNm",
}
# Compartment properties from the compartments table
COMPARTMENT_PROPERTIES = {
    "pathLengthNm": "path_length_nm",
    "nodes": "nodes",
    "meshAreaNm2": "mesh_area_nm2",
    "boutons": "boutons",
    "spines": "spines",
}
# properties of both Synapse nodes of a connection; each node's own site (pre_site or
# post_site) becomes its `compartment`
SYNAPSE_PROPERTIES = {
    "area": "area_nm2",  # DESIGN.md's name for the cleft area
    "areaNm2": "area_nm2",  # the name the API has read since v1
    "meshAreaNm2": "mesh_area_nm2",
    "contactAreaNm2": "contact_area_nm2",
    "preCompartment": "pre_compartment",
    "postCompartment": "post_compartment",
    "spineHeadVolumeNm3": "spine_head_volume_nm3",
    "fracAsymmetric": "frac_asymmetric",
    "fracSymmetric": "frac_symmetric",
    "nMitoPre2um": "n_mito_pre_2um",
    "mitoVoxelsPre2um": "mito_voxels_pre_2um",
    "nMitoPost2um": "n_mito_post_2um",
    "mitoVoxelsPost2um": "mito_voxels_post_2um",
    "nVesicleCloudsPre1um": "n_vc_pre_1um",
    "vesicleCloudVoxelsPre1um": "vc_voxels_pre_1um",
    "nVesicleCloudsPost1um": "n_vc_post_1um",
    "vesicleCloudVoxelsPost1um": "vc_voxels_post_1um",
}
# The properties that identify a node of each kind: the loader MATCHes a relationship's ends
# on them and the bulk importer makes its node ids of them.
KEYS: dict[str, tuple[str, ...]] = {
    "Segment": ("bodyId",),
    "SynapseSet": ("datasetBodyIds",),
    "Synapse": ("synapseId", "type"),
    "ElementSet": ("datasetBodyIdsType",),
    "Element": ("elementId",),
    "Compartment": ("bodyId", "type"),
    "ControlPoint": ("pointId",),
}
LOCATION = ("x", "y", "z")  # node frame columns that become the `location` point
LABELS = "labels"  # node frame column: the node's labels joined by ";"

Chunks = Callable[[], Iterator[pd.DataFrame]]


@dataclass(frozen=True)
class Nodes:
    """One kind of node, as frames: a column per property (null: absent), ``x, y, z`` for the
    ``location`` point when present, and ``labels``; ``kind`` names the :data:`KEYS` entry."""

    name: str
    kind: str
    rows: int
    chunks: Chunks


@dataclass(frozen=True)
class Relationships:
    """One kind of relationship, as frames: the :data:`KEYS` properties of either end as
    ``start_<key>`` and ``end_<key>`` columns, then a column per property."""

    name: str
    type: str
    start: str
    end: str
    rows: int | None  # None: known once written
    chunks: Chunks


@dataclass(frozen=True)
class Model:
    """A data set's graph as :func:`prepare` defines it; :func:`load` and
    :func:`graph.bulk.bulk_import` write it."""

    dataset: str
    nodes: list[Nodes]
    relationships: list[Relationships]
    meta: dict[str, Any]
    counts: dict[str, int]


def connect(settings: Neo4jSettings) -> Driver:
    """A driver for ``settings`` (the caller closes it)."""
    if settings.password is None:
        raise ValueError("no Neo4j password: run `connectome neo4j start` or set NEO4J_PASSWORD")
    return GraphDatabase.driver(settings.uri, auth=(settings.username, settings.password))


# -- reading the tables ------------------------------------------------------------------------
def _nullable(kind: pa.DataType) -> Any:
    """pandas types that keep integers and booleans with nulls what they are (not floats)."""
    if pa.types.is_signed_integer(kind):
        return pd.Int64Dtype()
    if pa.types.is_boolean(kind):
        return pd.BooleanDtype()
    return None


def _parquet(folder: str | os.PathLike, name: str) -> pq.ParquetFile:
    """The table file, once its schema version is checked (:func:`tables.checked_path`)."""
    return pq.ParquetFile(tables.checked_path(folder, name))


def _read(folder: str | os.PathLike, name: str, columns: list[str] | None = None) -> pd.DataFrame:
    table = _parquet(folder, name).read(columns=columns)
    return table.to_pandas(types_mapper=_nullable)


def _read_chunks(
    folder: str | os.PathLike, name: str, columns: list[str], rows: int
) -> Iterator[pd.DataFrame]:
    for batch in _parquet(folder, name).iter_batches(batch_size=rows, columns=columns):
        yield batch.to_pandas(types_mapper=_nullable)


def _slices(frame: pd.DataFrame, rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, len(frame), rows):
        yield frame.iloc[start : start + rows]


# -- column helpers ----------------------------------------------------------------------------
def _body_ids(series: pd.Series) -> np.ndarray:
    return uint64_to_int64(series.to_numpy(dtype=np.uint64))


def _text(values: Any) -> pa.Array:
    """A column (numbers or strings) as Arrow strings; a plain ``str`` stays a scalar."""
    if isinstance(values, str):
        return pa.scalar(values)
    return pc.cast(pa.array(np.asarray(values)), pa.string())


def _join(*parts: Any, sep: str = "") -> pd.Series:
    """Columns and constants joined row by row into strings, in Arrow (millions of rows/s).

    Examples
    --------
    >>> _join("ds", np.array([1, 2], np.uint64), np.array([7, 8]), sep=":").tolist()
    ['ds:1:7', 'ds:2:8']
    """
    joined = pc.binary_join_element_wise(*(_text(p) for p in parts), pa.scalar(sep))
    return pd.Series(joined.to_pandas(), copy=False)


def _roi_info(pre: Any, post: Any) -> pd.Series:
    """neuPrint's per-ROI counts as ``json.dumps`` writes them, built column-wise.

    Examples
    --------
    >>> _roi_info(np.array([2]), np.array([0]))[0]
    '{"whole_volume": {"pre": 2, "post": 0}}'
    """
    roi = json.dumps(WHOLE_VOLUME_ROI)
    return _join("{" + roi + ': {"pre": ', pre, ', "post": ', post, "}}")


def _props(frame: pd.DataFrame, names: dict[str, str]) -> dict[str, pd.Series]:
    return {camel: frame[col] for camel, col in names.items()}


def _check_bodies(frame: pd.DataFrame, table: str, columns: tuple[str, ...], known) -> None:
    for col in columns:
        unknown = frame.loc[~frame[col].isin(known), col].unique()
        if len(unknown):
            raise tables.TableContractError(
                f"{table}.{col} names bodies missing from neurons: "
                f"{sorted(int(b) for b in unknown)[:5]}"
            )


def _check_compartments(compartments: pd.DataFrame) -> None:
    names = compartments["compartment"]
    bad = names[~names.isin(tables.COMPARTMENTS)].unique()
    if len(bad):
        raise tables.TableContractError(
            f"compartments.compartment must be one of {list(tables.COMPARTMENTS)}, "
            f"not {sorted(map(str, bad))[:5]}"
        )
    twice = compartments[compartments.duplicated(["body_id", "compartment"])]
    if len(twice):
        r = twice.iloc[0]
        raise tables.TableContractError(
            f"compartments has more than one {r['compartment']!r} row for body {r['body_id']}"
        )


def _included(
    frame: pd.DataFrame, body: str, compartment: str, compartments: pd.DataFrame
) -> pd.DataFrame:
    """The rows of ``frame`` whose (body, compartment) names a row of ``compartments``, with
    ``start_bodyId`` and ``start_type`` naming that Compartment node."""
    named = frame[frame[compartment].notna()]
    hit = named.merge(
        compartments[["body_id", "compartment"]].rename(
            columns={"body_id": body, "compartment": compartment}
        ),
        on=[body, compartment],
        how="inner",
    )
    return hit.assign(start_bodyId=_body_ids(hit[body]), start_type=hit[compartment])


# -- the model -------------------------------------------------------------------------------
def prepare(
    folder: str | os.PathLike, dataset: str | None = None, chunk_rows: int = CHUNK_ROWS
) -> Model:
    """Read and cross-check the tables; return the graph both writers write.

    Kept apart from :func:`load` so that nothing reaches Neo4j when the tables are wrong. Only
    the synapses' body ids and confidences are read whole here; the synapse-sized kinds read
    their tables again a chunk of ``chunk_rows`` at a time when written.
    """
    meta = tables.read_meta(folder)
    ds = check_dataset(dataset or meta["dataset"])
    neurons = _read(folder, "neurons")
    compartments = _read(folder, "compartments")
    elements = _read(folder, "elements")
    control_points = _read(folder, "control_points")
    ends = _read(folder, "synapses", ["pre_body_id", "post_body_id", "confidence"])
    close_rows = _parquet(folder, "close_to").metadata.num_rows

    known = neurons["body_id"]
    _check_bodies(ends, "synapses", ("pre_body_id", "post_body_id"), known)
    _check_bodies(compartments, "compartments", ("body_id",), known)
    _check_bodies(control_points, "control_points", ("body_id",), known)
    _check_compartments(compartments)
    nearest = control_points["element_id"].dropna()
    unknown = nearest[~nearest.isin(elements["element_id"])].unique()
    if len(unknown):
        raise tables.TableContractError(
            "control_points.element_id names elements missing from elements: "
            f"{sorted(int(e) for e in unknown)[:5]}"
        )

    lab = {k: label(ds, k).strip("`") for k in NODE_KINDS}
    n_syn = len(ends)
    wv = WHOLE_VOLUME_ROI

    # -- segments ------------------------------------------------------------------------------
    ids = neurons["body_id"]
    pre = ends["pre_body_id"].value_counts().reindex(ids, fill_value=0).to_numpy(np.int64)
    post = ends["post_body_id"].value_counts().reindex(ids, fill_value=0).to_numpy(np.int64)
    big = (neurons["voxels"] >= meta.get("min_neuron_voxels", 0)).to_numpy()
    is_neuron = big | (pre + post > 0)
    lengths = compartments.pivot(
        index="body_id", columns="compartment", values="path_length_nm"
    ).reindex(columns=list(PATH_LENGTH_PROPERTIES))
    somata = compartments.loc[compartments["compartment"] == "soma", "body_id"]
    with_compartments = ids.isin(compartments["body_id"])
    totals = compartments.groupby("body_id")[["boutons", "spines"]].sum()
    segments = pd.DataFrame(
        {
            "bodyId": _body_ids(ids),
            "size": neurons["voxels"],
            "pre": pre,
            "post": post,
            "roiInfo": _roi_info(pre, post),
            "status": "Traced",
            "statusLabel": "Traced",
            "bboxMin": neurons[["bbox_min_x", "bbox_min_y", "bbox_min_z"]].to_numpy().tolist(),
            "bboxMax": neurons[["bbox_max_x", "bbox_max_y", "bbox_max_z"]].to_numpy().tolist(),
            wv: True,
            **_props(neurons, NEURON_PROPERTIES),
            **{
                camel: ids.map(lengths[name]).astype("float64")
                for name, camel in PATH_LENGTH_PROPERTIES.items()
            },
            "hasSoma": pd.array(ids.isin(somata), dtype="boolean").copy(),
            **{col: ids.map(totals[col]).astype("Int64") for col in ("boutons", "spines")},
            "x": neurons["x"],
            "y": neurons["y"],
            "z": neurons["z"],
            LABELS: np.where(
                is_neuron,
                f"Segment;Neuron;{lab['Segment']};{lab['Neuron']}",
                f"Segment;{lab['Segment']}",
            ),
        }
    )
    segments.loc[~with_compartments.to_numpy(), "hasSoma"] = pd.NA

    # -- connections and synapse sets (one set per body and partner, both directions) --------
    pairs = (
        ends.assign(hp=ends["confidence"] >= HIGH_ACCURACY_CONFIDENCE)
        .groupby(["pre_body_id", "post_body_id"], sort=True)
        .agg(weight=("hp", "size"), weightHP=("hp", "sum"))
        .reset_index()
    )
    pair_pre, pair_post = pairs["pre_body_id"].to_numpy(), pairs["post_body_id"].to_numpy()
    pre_key = _join(ds, pair_pre, pair_post, sep=":")
    post_key = _join(ds, pair_post, pair_pre, sep=":")
    weight = pairs["weight"].to_numpy(np.int64)
    connects = pd.DataFrame(
        {
            "start_bodyId": uint64_to_int64(pair_pre),
            "end_bodyId": uint64_to_int64(pair_post),
            "weight": weight,
            "weightHP": pairs["weightHP"].to_numpy(np.int64),
            "roiInfo": _roi_info(weight, weight),
        }
    )
    set_connects = pd.DataFrame({"start_datasetBodyIds": pre_key, "end_datasetBodyIds": post_key})
    sets = pd.DataFrame(
        {
            "datasetBodyIds": pd.concat([pre_key, post_key], ignore_index=True),
            "bodyId": np.concatenate([uint64_to_int64(pair_pre), uint64_to_int64(pair_post)]),
        }
    ).drop_duplicates("datasetBodyIds")
    synapse_sets = pd.DataFrame(
        {"datasetBodyIds": sets["datasetBodyIds"], LABELS: f"SynapseSet;{lab['SynapseSet']}"}
    )
    segment_sets = pd.DataFrame(
        {"start_bodyId": sets["bodyId"], "end_datasetBodyIds": sets["datasetBodyIds"]}
    )
    del ends, pairs, sets

    # -- synapses, streamed ----------------------------------------------------------------------
    def synapse_chunks(columns: list[str]) -> Iterator[pd.DataFrame]:
        return _read_chunks(folder, "synapses", columns, chunk_rows)

    def synapse_nodes() -> Iterator[pd.DataFrame]:
        for syn in synapse_chunks([f.name for f in tables.SCHEMAS["synapses"]]):
            for side in ("pre", "post"):
                yield pd.DataFrame(
                    {
                        "type": side,
                        "synapseId": syn["synapse_id"],
                        "confidence": syn["confidence"],
                        "size": syn["junction_voxels"],
                        "synapseType": syn["synapse_type"],
                        "compartment": syn[f"{side}_site"],
                        wv: True,
                        **_props(syn, SYNAPSE_PROPERTIES),
                        "x": syn[f"{side}_x"],
                        "y": syn[f"{side}_y"],
                        "z": syn[f"{side}_z"],
                        LABELS: f"Synapse;{lab['Synapse']}",
                    }
                )

    def set_synapses() -> Iterator[pd.DataFrame]:
        for syn in synapse_chunks(["synapse_id", "pre_body_id", "post_body_id"]):
            a, b = syn["pre_body_id"].to_numpy(), syn["post_body_id"].to_numpy()
            for side, key in (("pre", (ds, a, b)), ("post", (ds, b, a))):
                yield pd.DataFrame(
                    {
                        "start_datasetBodyIds": _join(*key, sep=":"),
                        "end_synapseId": syn["synapse_id"],
                        "end_type": side,
                    }
                )

    def synapses_to() -> Iterator[pd.DataFrame]:
        for syn in synapse_chunks(["synapse_id"]):
            yield pd.DataFrame(
                {
                    "start_synapseId": syn["synapse_id"],
                    "start_type": "pre",
                    "end_synapseId": syn["synapse_id"],
                    "end_type": "post",
                }
            )

    def close_to() -> Iterator[pd.DataFrame]:
        for close in _read_chunks(
            folder, "close_to", [f.name for f in tables.SCHEMAS["close_to"]], chunk_rows
        ):
            yield pd.DataFrame(
                {
                    "start_synapseId": close["synapse_id"],
                    "start_type": "pre",
                    "end_elementId": close["element_id"],
                    "euclideanNm": close["euclidean_nm"],
                    "distance": close["distance_vx"],
                }
            )

    def synapse_includes() -> Iterator[pd.DataFrame]:
        columns = ["synapse_id"]
        for side in ("pre", "post"):
            columns += [f"{side}_body_id", f"{side}_compartment"]
        for syn in synapse_chunks(columns):
            for side in ("pre", "post"):
                hit = _included(syn, f"{side}_body_id", f"{side}_compartment", compartments)
                yield pd.DataFrame(
                    {
                        "start_bodyId": hit["start_bodyId"],
                        "start_type": hit["start_type"],
                        "end_synapseId": hit["synapse_id"],
                        "end_type": side,
                    }
                )

    # -- organelles, compartments, control points ---------------------------------------------
    element_nodes = pd.DataFrame(
        {
            "elementId": elements["element_id"],
            "type": elements["type"],
            "size": elements["voxels"],
            "overlap": elements["overlap"],
            "compartment": elements["compartment"],
            wv: True,
            "x": elements["x"],
            "y": elements["y"],
            "z": elements["z"],
            LABELS: f"Element;{lab['Element']}",
        }
    )
    element_keys = _join(ds, elements["body_id"].to_numpy(), elements["type"], sep=":")
    set_elements = pd.DataFrame(
        {"start_datasetBodyIdsType": element_keys, "end_elementId": elements["element_id"]}
    )
    element_sets = pd.DataFrame(
        {
            "datasetBodyIdsType": element_keys,
            "type": elements["type"],
            "bodyId": _body_ids(elements["body_id"]),
        }
    ).drop_duplicates("datasetBodyIdsType")
    segment_element_sets = pd.DataFrame(
        {
            "start_bodyId": element_sets["bodyId"],
            "end_datasetBodyIdsType": element_sets["datasetBodyIdsType"],
        }
    )
    element_set_nodes = element_sets.drop(columns="bodyId").assign(
        **{LABELS: f"ElementSet;{lab['ElementSet']}"}
    )

    compartment_ids = _body_ids(compartments["body_id"])
    compartment_nodes = pd.DataFrame(
        {
            "bodyId": compartment_ids,
            "type": compartments["compartment"],
            **_props(compartments, COMPARTMENT_PROPERTIES),
            "x": compartments["x"],
            "y": compartments["y"],
            "z": compartments["z"],
            LABELS: f"Compartment;{lab['Compartment']}",
        }
    )
    has_compartment = pd.DataFrame(
        {
            "start_bodyId": compartment_ids,
            "end_bodyId": compartment_ids,
            "end_type": compartments["compartment"],
        }
    )
    hit = _included(elements, "body_id", "compartment", compartments)
    element_includes = pd.DataFrame(
        {
            "start_bodyId": hit["start_bodyId"],
            "start_type": hit["start_type"],
            "end_elementId": hit["element_id"],
        }
    )

    point_nodes = pd.DataFrame(
        {
            "pointId": control_points["point_id"],
            "bodyId": _body_ids(control_points["body_id"]),
            "euclideanNm": control_points["euclidean_nm"],
            "distance": control_points["distance_vx"],
            "x": control_points["x"],
            "y": control_points["y"],
            "z": control_points["z"],
            LABELS: f"ControlPoint;{lab['ControlPoint']}",
        }
    )
    hit = _included(
        control_points.assign(compartment="axon"), "body_id", "compartment", compartments
    )
    point_includes = pd.DataFrame(
        {
            "start_bodyId": hit["start_bodyId"],
            "start_type": hit["start_type"],
            "end_pointId": hit["point_id"],
        }
    )
    closest = control_points[control_points["element_id"].notna()]
    point_close = pd.DataFrame(
        {
            "start_pointId": closest["point_id"],
            "end_elementId": closest["element_id"],
            "euclideanNm": closest["euclidean_nm"],
            "distance": closest["distance_vx"],
        }
    )

    def whole(frame: pd.DataFrame) -> Chunks:
        return lambda: _slices(frame, chunk_rows)

    nodes = [
        Nodes("segments", "Segment", len(segments), whole(segments)),
        Nodes("synapse_sets", "SynapseSet", len(synapse_sets), whole(synapse_sets)),
        Nodes("synapses", "Synapse", 2 * n_syn, synapse_nodes),
        Nodes("element_sets", "ElementSet", len(element_set_nodes), whole(element_set_nodes)),
        Nodes("elements", "Element", len(element_nodes), whole(element_nodes)),
        Nodes("compartments", "Compartment", len(compartment_nodes), whole(compartment_nodes)),
        Nodes("control_points", "ControlPoint", len(point_nodes), whole(point_nodes)),
    ]
    relationships = [
        Relationships("segment_synapse_sets", "Contains", "Segment", "SynapseSet",
                      len(segment_sets), whole(segment_sets)),
        Relationships("connects_to", "ConnectsTo", "Segment", "Segment", len(connects),
                      whole(connects)),
        Relationships("set_connects_to", "ConnectsTo", "SynapseSet", "SynapseSet",
                      len(set_connects), whole(set_connects)),
        Relationships("set_synapses", "Contains", "SynapseSet", "Synapse", 2 * n_syn,
                      set_synapses),
        Relationships("synapses_to", "SynapsesTo", "Synapse", "Synapse", n_syn, synapses_to),
        Relationships("segment_element_sets", "Contains", "Segment", "ElementSet",
                      len(segment_element_sets), whole(segment_element_sets)),
        Relationships("set_elements", "Contains", "ElementSet", "Element",
                      len(set_elements), whole(set_elements)),
        Relationships("close_to", "CloseTo", "Synapse", "Element", close_rows, close_to),
        Relationships("has_compartment", "HasCompartment", "Segment", "Compartment",
                      len(has_compartment), whole(has_compartment)),
        Relationships("synapse_includes", "Includes", "Compartment", "Synapse", None,
                      synapse_includes),
        Relationships("element_includes", "Includes", "Compartment", "Element",
                      len(element_includes), whole(element_includes)),
        Relationships("point_includes", "Includes", "Compartment", "ControlPoint",
                      len(point_includes), whole(point_includes)),
        Relationships("point_close_to", "CloseTo", "ControlPoint", "Element",
                      len(point_close), whole(point_close)),
    ]  # fmt: skip

    hp = HIGH_ACCURACY_CONFIDENCE
    vx = meta["voxel_size_nm_xyz"]
    meta_row = {
        "dataset": ds,
        "voxelSize": [float(v) for v in vx],
        "voxelUnits": "nanometers",
        "primaryRois": [WHOLE_VOLUME_ROI],
        "superLevelRois": [WHOLE_VOLUME_ROI],
        "roiInfo": json.dumps({WHOLE_VOLUME_ROI: {"pre": n_syn, "post": n_syn}}),
        "roiHierarchy": json.dumps({"name": "regions", "children": [{"name": WHOLE_VOLUME_ROI}]}),
        "totalPreCount": n_syn,
        "totalPostCount": n_syn,
        "postHighAccuracyThreshold": hp,
        "preHPThreshold": hp,
        "postHPThreshold": hp,
        "statusDefinitions": "{}",
        "uuid": meta.get("source_id", ""),
        "info": meta.get("source", ""),
        "tag": "connectome",
        "shapeZyx": [int(v) for v in meta["shape_zyx"]],
        "lastDatabaseEdit": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "neuroglancerInfo": "{}",
        "neuroglancerMeta": "[]",
        "meshHost": "",
    }
    counts = {
        "neurons": len(segments),
        "synapses": n_syn,
        "connections": len(connects),
        "elements": len(element_nodes),
        "compartments": len(compartment_nodes),
        "control points": len(point_nodes),
    }
    return Model(ds, nodes, relationships, meta_row, counts)


def arrow_table(frame: pd.DataFrame) -> pa.Table:
    """A model frame as Arrow columns, the one conversion both writers use: NaN becomes null
    and 32-bit floats are widened to the doubles Neo4j stores.

    Examples
    --------
    >>> t = arrow_table(pd.DataFrame({"a": np.array([0.5, np.nan], np.float32)}))
    >>> t.column("a").to_pylist(), t.schema.field("a").type
    ([0.5, None], DataType(double))
    """
    table = pa.Table.from_pandas(frame, preserve_index=False)
    return table.cast(
        pa.schema(
            pa.field(f.name, pa.float64()) if pa.types.is_float32(f.type) else f
            for f in table.schema
        )
    )


def write_meta_node(driver: Driver, model: Model, database: str) -> None:
    """Write the data set's ``:Meta`` node (last: a data set without one is incomplete)."""
    driver.execute_query(
        "MERGE (d:DataModel {dataModelVersion: $v}) "
        f"CREATE (m:Meta:{label(model.dataset, 'Meta')}) SET m = $meta CREATE (m)-[:Is]->(d)",
        v=DATA_MODEL_VERSION,
        meta=model.meta,
        database_=database,
    )


def delete_dataset(driver: Driver, dataset: str, database: str = "neo4j") -> int:
    """Delete every node of ``dataset`` in batched transactions; return how many went."""
    deleted = 0
    with driver.session(database=database) as session:
        for kind in ("Meta", *NODE_KINDS):
            if kind == "Meta":
                query = f"MATCH (n:{label(dataset, kind)}) DETACH DELETE n RETURN count(*) AS c"
                deleted += session.run(query).single(strict=True)["c"]
                continue
            result = session.run(
                f"MATCH (n:{label(dataset, kind)}) "
                "CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
            )
            deleted += result.consume().counters.nodes_deleted
    return deleted


def _node_statements(frame: pd.DataFrame) -> Iterator[tuple[str, list]]:
    """(Cypher, rows) per label set of one chunk of nodes."""
    for labels, group in frame.groupby(LABELS, sort=False):
        table = arrow_table(group.drop(columns=LABELS))
        located = set(LOCATION) <= set(table.column_names)
        props = [c for c in table.column_names if not (located and c in LOCATION)]
        names = ":".join(f"`{name}`" for name in str(labels).split(";"))
        query = f"UNWIND $rows AS r CREATE (n:{names}) SET n += r.p"
        if located:
            query += ", n.location = point({x: r.x, y: r.y, z: r.z})"
        rows = []
        for row in table.to_pylist():
            rows.append({"p": {k: row[k] for k in props}, **{k: row.get(k) for k in LOCATION}})
        yield query, rows


def _relationship_statement(ds: str, rels: Relationships, frame: pd.DataFrame) -> tuple[str, list]:
    def match(var: str, end: str, kind: str) -> str:
        keys = ", ".join(f"{k}: r.{end}_{k}" for k in KEYS[kind])
        return f"MATCH ({var}:{label(ds, kind)} {{{keys}}}) "

    table = arrow_table(frame)
    ends = [c for c in table.column_names if c.startswith(("start_", "end_"))]
    rows = [
        {**{k: row[k] for k in ends}, "p": {k: v for k, v in row.items() if k not in ends}}
        for row in table.to_pylist()
    ]
    query = (
        "UNWIND $rows AS r "
        + match("a", "start", rels.start)
        + match("b", "end", rels.end)
        + f"CREATE (a)-[x:{rels.type}]->(b) SET x += r.p"
    )
    return query, rows


def load(
    folder: str | os.PathLike,
    settings: Neo4jSettings,
    progress: Progress | None = None,
    dataset: str | None = None,
) -> dict[str, int]:
    """Replace the data set in Neo4j with the tables in ``folder``; return node counts."""
    model = prepare(folder, dataset)
    ds = model.dataset
    step = progress or (lambda *_: None)
    size = settings.batch_size
    with connect(settings) as driver:
        db = settings.database
        for stmt in constraint_statements(ds):
            driver.execute_query(stmt, database_=db)
        step("delete old", 0, 1)
        delete_dataset(driver, ds, db)
        step("delete old", 1, 1)

        def run(name: str, total: int | None, statements: Iterator[tuple[str, list]]) -> None:
            done = 0
            step(name, 0, total or 0)
            for query, rows in statements:
                for start in range(0, len(rows), size):
                    driver.execute_query(query, rows=rows[start : start + size], database_=db)
                done += len(rows)
                step(name, done, max(done, total or 0))

        for nodes in model.nodes:
            run(nodes.name, nodes.rows,
                (s for f in nodes.chunks() for s in _node_statements(f)))  # fmt: skip
        for rels in model.relationships:
            run(rels.name, rels.rows,
                (_relationship_statement(ds, rels, f) for f in rels.chunks()))  # fmt: skip
        write_meta_node(driver, model, db)
        step("meta", 1, 1)
    return model.counts
