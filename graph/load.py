"""Load a data set's Parquet tables into Neo4j as neuPrint's model (DESIGN.md).

A load replaces the data set: its old nodes are deleted in batches, the new ones created in
batched ``UNWIND`` transactions with every value a parameter, and the ``:Meta`` node written
last. So loading the same tables twice leaves the same graph, and a data set whose load was
interrupted has no ``:Meta`` node (the API does not list it) until a load completes.

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
from typing import Any

import numpy as np
import pandas as pd
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


def connect(settings: Neo4jSettings) -> Driver:
    """A driver for ``settings`` (the caller closes it)."""
    if settings.password is None:
        raise ValueError("no Neo4j password: run `connectome neo4j start` or set NEO4J_PASSWORD")
    return GraphDatabase.driver(settings.uri, auth=(settings.username, settings.password))


def _batches(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _values(series: pd.Series) -> list[Any]:
    """The column as plain Python values (int, float, str, bool), ``None`` where null.

    Examples
    --------
    >>> _values(pd.Series([1.5, float("nan")]))
    [1.5, None]
    """
    return series.astype(object).where(series.notna(), None).tolist()


def _ints(series: pd.Series) -> list[int | None]:
    """A column of integers that may hold nulls (read back as floats) as ints or ``None``."""
    return _values(series.astype("Int64"))


def _body_ids(series: pd.Series) -> list[int]:
    return uint64_to_int64(series.to_numpy(dtype=np.uint64)).tolist()


def _xyz(frame: pd.DataFrame, prefix: str = "") -> list[list[Any]]:
    return frame[[f"{prefix}x", f"{prefix}y", f"{prefix}z"]].to_numpy().tolist()


def _records(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Rows (dicts) from equally long columns."""
    keys = list(columns)
    return [dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _props(frame: pd.DataFrame, names: dict[str, str]) -> list[dict[str, Any]]:
    """One ``{property: value}`` map per row, ``None`` (absent in Neo4j) where null."""
    return _records({camel: _values(frame[col]) for camel, col in names.items()})


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


def _compartment_keys(
    frame: pd.DataFrame, body: str, compartment: str, compartments: pd.DataFrame, ds: str
) -> pd.DataFrame:
    """The rows of ``frame`` whose (body, compartment) names a row of ``compartments``, with
    that compartment's ``bodyId``, ``type`` and import id ``key``."""
    named = frame[frame[compartment].notna()]
    hit = named.merge(
        compartments[["body_id", "compartment"]],
        left_on=[body, compartment],
        right_on=["body_id", "compartment"],
        how="inner",
    )
    return hit.assign(
        bodyId=_body_ids(hit["body_id"]),
        type=hit["compartment"],
        key=ds + ":" + hit["body_id"].astype(str) + ":" + hit["compartment"],
    )


def prepare(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and cross-check the tables; return the rows the loader writes.

    Kept apart from :func:`load` so that nothing reaches Neo4j when the tables are wrong.
    Values that are null in the tables are ``None`` here (absent properties in Neo4j).
    """
    meta = tables.read_meta(folder)
    neurons = tables.read_table(folder, "neurons")
    compartments = tables.read_table(folder, "compartments")
    synapses = tables.read_table(folder, "synapses")
    elements = tables.read_table(folder, "elements")
    close_to = tables.read_table(folder, "close_to")
    control_points = tables.read_table(folder, "control_points")

    known = neurons["body_id"]
    _check_bodies(synapses, "synapses", ("pre_body_id", "post_body_id"), known)
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

    ds = meta["dataset"]
    hp = HIGH_ACCURACY_CONFIDENCE
    synapses = synapses.assign(hp=synapses["confidence"] >= hp)
    ids = neurons["body_id"]
    pre = ids.map(synapses.groupby("pre_body_id").size()).fillna(0).astype(np.int64).tolist()
    post = ids.map(synapses.groupby("post_body_id").size()).fillna(0).astype(np.int64).tolist()
    big = (neurons["voxels"] >= meta.get("min_neuron_voxels", 0)).to_numpy()
    is_neuron = (big | (np.asarray(pre) + np.asarray(post) > 0)).tolist()

    # what a body's compartments add to its Segment node
    lengths = compartments.pivot(
        index="body_id", columns="compartment", values="path_length_nm"
    ).reindex(columns=list(PATH_LENGTH_PROPERTIES))
    summary = {
        camel: _values(ids.map(lengths[name])) for name, camel in PATH_LENGTH_PROPERTIES.items()
    }
    somata = compartments.loc[compartments["compartment"] == "soma", "body_id"]
    summary["hasSoma"] = _values(ids.isin(somata).where(ids.isin(compartments["body_id"])))
    totals = compartments.groupby("body_id")[["boutons", "spines"]].sum()
    for col in ("boutons", "spines"):
        summary[col] = _ints(ids.map(totals[col]))
    neuron_props = [
        a | b for a, b in zip(_props(neurons, NEURON_PROPERTIES), _records(summary), strict=True)
    ]
    neuron_rows = _records(
        {
            "bodyId": _body_ids(ids),
            "size": neurons["voxels"].tolist(),
            "pre": pre,
            "post": post,
            "location": _xyz(neurons),
            "bboxMin": _xyz(neurons, "bbox_min_"),
            "bboxMax": _xyz(neurons, "bbox_max_"),
            "roiInfo": [
                json.dumps({WHOLE_VOLUME_ROI: {"pre": a, "post": b}})
                for a, b in zip(pre, post, strict=True)
            ],
            "isNeuron": is_neuron,
            "props": neuron_props,
        }
    )

    pairs = (
        synapses.groupby(["pre_body_id", "post_body_id"])
        .agg(weight=("synapse_id", "size"), weightHP=("hp", "sum"))
        .reset_index()
    )
    pair_pre = pairs["pre_body_id"].astype(str)
    pair_post = pairs["post_body_id"].astype(str)
    weight = pairs["weight"].astype(str)
    roi = json.dumps(WHOLE_VOLUME_ROI)  # roiInfo as json.dumps writes it, built column-wise
    columns = {
        "pre": _body_ids(pairs["pre_body_id"]),
        "post": _body_ids(pairs["post_body_id"]),
        "weight": pairs["weight"].tolist(),
        "weightHP": pairs["weightHP"].astype(np.int64).tolist(),
        "preKey": (ds + ":" + pair_pre + ":" + pair_post).tolist(),
        "postKey": (ds + ":" + pair_post + ":" + pair_pre).tolist(),
        "roiInfo": ("{" + roi + ': {"pre": ' + weight + ', "post": ' + weight + "}}").tolist(),
    }
    connects = _records(columns)
    # neuPrint: one SynapseSet per body and partner (holding both directions' synapses)
    sets = pd.DataFrame(
        {
            "key": columns["preKey"] + columns["postKey"],
            "body": columns["pre"] + columns["post"],
        }
    ).drop_duplicates("key")
    synapse_sets = list(zip(sets["key"].tolist(), sets["body"].tolist(), strict=True))
    pre_ids = synapses["pre_body_id"].astype(str)
    post_ids = synapses["post_body_id"].astype(str)
    syn_rows = _records(
        {
            "id": synapses["synapse_id"].tolist(),
            "confidence": _values(synapses["confidence"]),
            "pre": _xyz(synapses, "pre_"),
            "post": _xyz(synapses, "post_"),
            "preKey": (ds + ":" + pre_ids + ":" + post_ids).tolist(),
            "postKey": (ds + ":" + post_ids + ":" + pre_ids).tolist(),
            "size": synapses["junction_voxels"].tolist(),
            "synapseType": _values(synapses["synapse_type"]),
            "preSite": _values(synapses["pre_site"]),
            "postSite": _values(synapses["post_site"]),
            "props": _props(synapses, SYNAPSE_PROPERTIES),
        }
    )

    element_rows = _records(
        {
            "id": elements["element_id"].tolist(),
            "type": elements["type"].tolist(),
            "size": elements["voxels"].tolist(),
            "overlap": _values(elements["overlap"]),
            "location": _xyz(elements),
            "setKey": (
                ds + ":" + elements["body_id"].astype(str) + ":" + elements["type"]
            ).tolist(),
            "bodyId": _body_ids(elements["body_id"]),
            "compartment": _values(elements["compartment"]),
        }
    )
    element_sets = sorted({(e["setKey"], e["bodyId"], e["type"]) for e in element_rows})
    close_rows = _records(
        {
            "synapse": close_to["synapse_id"].tolist(),
            "element": close_to["element_id"].tolist(),
            "euclideanNm": _values(close_to["euclidean_nm"]),
            "distance": _values(close_to["distance_vx"]),
        }
    )

    comp = _compartment_keys(compartments, "body_id", "compartment", compartments, ds)
    compartment_rows = _records(
        {
            "key": comp["key"].tolist(),
            "bodyId": comp["bodyId"].tolist(),
            "type": comp["type"].tolist(),
            "location": _xyz(comp),
            "props": _props(comp, COMPARTMENT_PROPERTIES),
        }
    )
    includes = []
    for side in ("pre", "post"):
        hit = _compartment_keys(
            synapses, f"{side}_body_id", f"{side}_compartment", compartments, ds
        )
        includes += _records(
            {
                "key": hit["key"].tolist(),
                "bodyId": hit["bodyId"].tolist(),
                "type": hit["type"].tolist(),
                "synapse": hit["synapse_id"].tolist(),
                "side": [side] * len(hit),
            }
        )
    hit = _compartment_keys(elements, "body_id", "compartment", compartments, ds)
    element_includes = _records(
        {
            "key": hit["key"].tolist(),
            "bodyId": hit["bodyId"].tolist(),
            "type": hit["type"].tolist(),
            "element": hit["element_id"].tolist(),
        }
    )

    element_ids = _ints(control_points["element_id"])
    point_rows = _records(
        {
            "id": control_points["point_id"].tolist(),
            "bodyId": _body_ids(control_points["body_id"]),
            "location": _xyz(control_points),
            "element": element_ids,
            "props": _props(
                control_points, {"euclideanNm": "euclidean_nm", "distance": "distance_vx"}
            ),
        }
    )
    hit = _compartment_keys(
        control_points.assign(compartment="axon"), "body_id", "compartment", compartments, ds
    )
    point_includes = _records(
        {
            "key": hit["key"].tolist(),
            "bodyId": hit["bodyId"].tolist(),
            "type": hit["type"].tolist(),
            "point": hit["point_id"].tolist(),
        }
    )
    point_close = [
        {"point": p["id"], "element": p["element"], **p["props"]}
        for p in point_rows
        if p["element"] is not None
    ]

    vx = meta["voxel_size_nm_xyz"]
    meta_row = {
        "dataset": ds,
        "voxelSize": [float(v) for v in vx],
        "voxelUnits": "nanometers",
        "primaryRois": [WHOLE_VOLUME_ROI],
        "superLevelRois": [WHOLE_VOLUME_ROI],
        "roiInfo": json.dumps({WHOLE_VOLUME_ROI: {"pre": len(synapses), "post": len(synapses)}}),
        "roiHierarchy": json.dumps({"name": "regions", "children": [{"name": WHOLE_VOLUME_ROI}]}),
        "totalPreCount": len(synapses),
        "totalPostCount": len(synapses),
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
    return {
        "dataset": ds,
        "neurons": neuron_rows,
        "connects": connects,
        "synapses": syn_rows,
        "synapse_sets": synapse_sets,
        "elements": element_rows,
        "element_sets": element_sets,
        "close_to": close_rows,
        "compartments": compartment_rows,
        "synapse_includes": includes,
        "element_includes": element_includes,
        "control_points": point_rows,
        "point_includes": point_includes,
        "point_close_to": point_close,
        "meta": meta_row,
    }


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


def load(
    folder: str | os.PathLike,
    settings: Neo4jSettings,
    progress: Progress | None = None,
    dataset: str | None = None,
) -> dict[str, int]:
    """Replace the data set in Neo4j with the tables in ``folder``; return node counts."""
    rows = prepare(folder)
    ds = check_dataset(dataset or rows["dataset"])
    rows["meta"]["dataset"] = ds
    step = progress or (lambda *_: None)
    size = settings.batch_size
    with connect(settings) as driver:
        db = settings.database
        for stmt in constraint_statements(ds):
            driver.execute_query(stmt, database_=db)
        step("delete old", 0, 1)
        delete_dataset(driver, ds, db)
        step("delete old", 1, 1)

        L = {k: label(ds, k) for k in NODE_KINDS}
        wv = WHOLE_VOLUME_ROI
        plans: list[tuple[str, list[dict[str, Any]], str]] = [
            (
                "neurons",
                [r for r in rows["neurons"] if r["isNeuron"]],
                f"CREATE (n:Segment:Neuron:{L['Segment']}:{L['Neuron']}) ",
            ),
            (
                "segments",
                [r for r in rows["neurons"] if not r["isNeuron"]],
                f"CREATE (n:Segment:{L['Segment']}) ",
            ),
        ]
        segment_props = (
            "SET n.bodyId = r.bodyId, n.size = r.size, n.pre = r.pre, n.post = r.post, "
            "n.roiInfo = r.roiInfo, n.status = 'Traced', n.statusLabel = 'Traced', "
            "n.location = point({x: r.location[0], y: r.location[1], z: r.location[2]}), "
            f"n.bboxMin = r.bboxMin, n.bboxMax = r.bboxMax, n.`{wv}` = true, n += r.props"
        )
        statements = [
            (name, data, "UNWIND $rows AS r " + create + segment_props)
            for name, data, create in plans
        ]
        statements += [
            (
                "synapse sets",
                [{"key": k, "bodyId": b} for k, b in rows["synapse_sets"]],
                "UNWIND $rows AS r "
                f"MATCH (n:{L['Segment']} {{bodyId: r.bodyId}}) "
                f"CREATE (n)-[:Contains]->(:SynapseSet:{L['SynapseSet']} "
                "{datasetBodyIds: r.key})",
            ),
            (
                "connections",
                rows["connects"],
                "UNWIND $rows AS r "
                f"MATCH (a:{L['Segment']} {{bodyId: r.pre}}), "
                f"(b:{L['Segment']} {{bodyId: r.post}}), "
                f"(sa:{L['SynapseSet']} {{datasetBodyIds: r.preKey}}), "
                f"(sb:{L['SynapseSet']} {{datasetBodyIds: r.postKey}}) "
                f"CREATE (a)-[:ConnectsTo {{weight: r.weight, weightHP: r.weightHP, "
                "roiInfo: r.roiInfo}]->(b) "
                "CREATE (sa)-[:ConnectsTo]->(sb)",
            ),
            (
                "synapses",
                rows["synapses"],
                "UNWIND $rows AS r "
                f"MATCH (sa:{L['SynapseSet']} {{datasetBodyIds: r.preKey}}), "
                f"(sb:{L['SynapseSet']} {{datasetBodyIds: r.postKey}}) "
                f"CREATE (sa)-[:Contains]->(p:Synapse:{L['Synapse']} {{type: 'pre', "
                "synapseId: r.id, confidence: r.confidence, "
                "location: point({x: r.pre[0], y: r.pre[1], z: r.pre[2]}), "
                f"size: r.size, synapseType: r.synapseType, `{wv}`: true}}) "
                f"CREATE (sb)-[:Contains]->(q:Synapse:{L['Synapse']} {{type: 'post', "
                "synapseId: r.id, confidence: r.confidence, "
                "location: point({x: r.post[0], y: r.post[1], z: r.post[2]}), "
                f"size: r.size, synapseType: r.synapseType, `{wv}`: true}}) "
                "SET p += r.props, q += r.props, p.compartment = r.preSite, "
                "q.compartment = r.postSite "
                "CREATE (p)-[:SynapsesTo]->(q)",
            ),
            (
                "element sets",
                [{"key": k, "bodyId": b, "type": t} for k, b, t in rows["element_sets"]],
                "UNWIND $rows AS r "
                f"MATCH (n:{L['Segment']} {{bodyId: r.bodyId}}) "
                f"CREATE (n)-[:Contains]->(:ElementSet:{L['ElementSet']} "
                "{datasetBodyIdsType: r.key, type: r.type})",
            ),
            (
                "elements",
                rows["elements"],
                "UNWIND $rows AS r "
                f"MATCH (es:{L['ElementSet']} {{datasetBodyIdsType: r.setKey}}) "
                f"CREATE (es)-[:Contains]->(:Element:{L['Element']} {{elementId: r.id, "
                "type: r.type, size: r.size, overlap: r.overlap, compartment: r.compartment, "
                "location: point({x: r.location[0], y: r.location[1], z: r.location[2]}), "
                f"`{wv}`: true}})",
            ),
            (
                "closest mitochondria",
                rows["close_to"],
                "UNWIND $rows AS r "
                f"MATCH (s:{L['Synapse']} {{synapseId: r.synapse, type: 'pre'}}), "
                f"(m:{L['Element']} {{elementId: r.element}}) "
                "CREATE (s)-[:CloseTo {euclideanNm: r.euclideanNm, distance: r.distance}]->(m)",
            ),
            (
                "compartments",
                rows["compartments"],
                "UNWIND $rows AS r "
                f"MATCH (n:{L['Segment']} {{bodyId: r.bodyId}}) "
                f"CREATE (n)-[:HasCompartment]->(c:Compartment:{L['Compartment']} "
                "{type: r.type, bodyId: r.bodyId, "
                "location: point({x: r.location[0], y: r.location[1], z: r.location[2]})}) "
                "SET c += r.props",
            ),
            (
                "synapses in compartments",
                rows["synapse_includes"],
                "UNWIND $rows AS r "
                f"MATCH (c:{L['Compartment']} {{bodyId: r.bodyId, type: r.type}}), "
                f"(s:{L['Synapse']} {{synapseId: r.synapse, type: r.side}}) "
                "CREATE (c)-[:Includes]->(s)",
            ),
            (
                "elements in compartments",
                rows["element_includes"],
                "UNWIND $rows AS r "
                f"MATCH (c:{L['Compartment']} {{bodyId: r.bodyId, type: r.type}}), "
                f"(e:{L['Element']} {{elementId: r.element}}) "
                "CREATE (c)-[:Includes]->(e)",
            ),
            (
                "control points",
                rows["control_points"],
                "UNWIND $rows AS r "
                f"CREATE (p:ControlPoint:{L['ControlPoint']} {{pointId: r.id, bodyId: r.bodyId, "
                "location: point({x: r.location[0], y: r.location[1], z: r.location[2]})}) "
                "SET p += r.props",
            ),
            (
                "control points in axons",
                rows["point_includes"],
                "UNWIND $rows AS r "
                f"MATCH (c:{L['Compartment']} {{bodyId: r.bodyId, type: r.type}}), "
                f"(p:{L['ControlPoint']} {{pointId: r.point}}) "
                "CREATE (c)-[:Includes]->(p)",
            ),
            (
                "control points' closest mitochondria",
                rows["point_close_to"],
                "UNWIND $rows AS r "
                f"MATCH (p:{L['ControlPoint']} {{pointId: r.point}}), "
                f"(m:{L['Element']} {{elementId: r.element}}) "
                "CREATE (p)-[:CloseTo {euclideanNm: r.euclideanNm, distance: r.distance}]->(m)",
            ),
        ]
        for name, data, query in statements:
            done = 0
            step(name, 0, len(data))
            for batch in _batches(data, size):
                driver.execute_query(query, rows=batch, database_=db)
                done += len(batch)
                step(name, done, len(data))
        driver.execute_query(
            "MERGE (d:DataModel {dataModelVersion: $v}) "
            f"CREATE (m:Meta:{L['Meta']}) SET m = $meta CREATE (m)-[:Is]->(d)",
            v=DATA_MODEL_VERSION,
            meta=rows["meta"],
            database_=db,
        )
        step("meta", 1, 1)
    return {
        "neurons": len(rows["neurons"]),
        "synapses": len(rows["synapses"]),
        "connections": len(rows["connects"]),
        "elements": len(rows["elements"]),
        "compartments": len(rows["compartments"]),
        "control points": len(rows["control_points"]),
    }
