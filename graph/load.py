"""Load a data set's Parquet tables into Neo4j as neuPrint's model (DESIGN.md).

A load replaces the data set: its old nodes are deleted in batches, the new ones created in
batched ``UNWIND`` transactions with every value a parameter, and the ``:Meta`` node written
last. So loading the same tables twice leaves the same graph, and a data set whose load was
interrupted has no ``:Meta`` node (the API does not list it) until a load completes.
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
from graph.ids import to_neo4j
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


# neuron table columns stored as Segment properties (absent where null)
NEURON_PROPERTIES = {
    "mesh_area_nm2": "meshAreaNm2",
    "mesh_volume_nm3": "meshVolumeNm3",
    "cable_length_nm": "cableLengthNm",
}
# synapse table columns stored as properties of both Synapse nodes of a connection
SYNAPSE_PROPERTIES = {
    "frac_asymmetric": "fracAsymmetric",
    "frac_symmetric": "fracSymmetric",
    "n_mito_pre_2um": "nMitoPre2um",
    "mito_voxels_pre_2um": "mitoVoxelsPre2um",
    "n_mito_post_2um": "nMitoPost2um",
    "mito_voxels_post_2um": "mitoVoxelsPost2um",
    "n_vc_pre_1um": "nVesicleCloudsPre1um",
    "vc_voxels_pre_1um": "vesicleCloudVoxelsPre1um",
    "n_vc_post_1um": "nVesicleCloudsPost1um",
    "vc_voxels_post_1um": "vesicleCloudVoxelsPost1um",
}


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def connect(settings: Neo4jSettings) -> Driver:
    """A driver for ``settings`` (the caller closes it)."""
    if settings.password is None:
        raise ValueError("no Neo4j password: run `connectome neo4j start` or set NEO4J_PASSWORD")
    return GraphDatabase.driver(settings.uri, auth=(settings.username, settings.password))


def _batches(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def prepare(folder: str | os.PathLike) -> dict[str, Any]:
    """Read and cross-check the tables; return the rows the loader writes.

    Kept apart from :func:`load` so that nothing reaches Neo4j when the tables are wrong.
    """
    meta = tables.read_meta(folder)
    neurons = tables.read_table(folder, "neurons")
    synapses = tables.read_table(folder, "synapses")
    elements = tables.read_table(folder, "elements")
    close_to = tables.read_table(folder, "close_to")

    known = set(neurons["body_id"].tolist())
    for col in ("pre_body_id", "post_body_id"):
        unknown = set(synapses[col].tolist()) - known
        if unknown:
            raise tables.TableContractError(
                f"synapses.{col} names bodies missing from neurons: {sorted(unknown)[:5]}"
            )
    hp = HIGH_ACCURACY_CONFIDENCE
    synapses = synapses.assign(hp=synapses["confidence"] >= hp)
    pre_count = synapses.groupby("pre_body_id").size()
    post_count = synapses.groupby("post_body_id").size()

    neuron_rows = []
    for r in neurons.itertuples(index=False):
        pre = int(pre_count.get(r.body_id, 0))
        post = int(post_count.get(r.body_id, 0))
        neuron_rows.append(
            {
                "bodyId": to_neo4j(r.body_id),
                "size": int(r.voxels),
                "pre": pre,
                "post": post,
                "location": [int(r.x), int(r.y), int(r.z)],
                "bboxMin": [int(r.bbox_min_x), int(r.bbox_min_y), int(r.bbox_min_z)],
                "bboxMax": [int(r.bbox_max_x), int(r.bbox_max_y), int(r.bbox_max_z)],
                "roiInfo": json.dumps({WHOLE_VOLUME_ROI: {"pre": pre, "post": post}}),
                "isNeuron": r.voxels >= meta.get("min_neuron_voxels", 0) or pre + post > 0,
                "props": {
                    camel: (None if pd.isna(v := getattr(r, col)) else float(v))
                    for col, camel in NEURON_PROPERTIES.items()
                },
            }
        )

    pairs = (
        synapses.groupby(["pre_body_id", "post_body_id"])
        .agg(weight=("synapse_id", "size"), weightHP=("hp", "sum"))
        .reset_index()
    )
    ds = meta["dataset"]
    connects = [
        {
            "pre": to_neo4j(r.pre_body_id),
            "post": to_neo4j(r.post_body_id),
            "weight": int(r.weight),
            "weightHP": int(r.weightHP),
            "preKey": f"{ds}:{r.pre_body_id}:{r.post_body_id}",
            "postKey": f"{ds}:{r.post_body_id}:{r.pre_body_id}",
            "roiInfo": json.dumps(
                {WHOLE_VOLUME_ROI: {"pre": int(r.weight), "post": int(r.weight)}}
            ),
        }
        for r in pairs.itertuples(index=False)
    ]

    # neuPrint: one SynapseSet per body and partner (holding both directions' synapses)
    synapse_sets = sorted(
        {(c["preKey"], c["pre"]) for c in connects} | {(c["postKey"], c["post"]) for c in connects}
    )
    syn_rows = [
        {
            "id": int(r.synapse_id),
            "confidence": float(r.confidence),
            "pre": [int(r.pre_x), int(r.pre_y), int(r.pre_z)],
            "post": [int(r.post_x), int(r.post_y), int(r.post_z)],
            "preKey": f"{ds}:{r.pre_body_id}:{r.post_body_id}",
            "postKey": f"{ds}:{r.post_body_id}:{r.pre_body_id}",
            "areaNm2": float(r.area_nm2),
            "size": int(r.junction_voxels),
            "synapseType": r.synapse_type,
            "props": {camel: _plain(getattr(r, col)) for col, camel in SYNAPSE_PROPERTIES.items()},
        }
        for r in synapses.itertuples(index=False)
    ]

    element_rows = [
        {
            "id": int(r.element_id),
            "type": r.type,
            "size": int(r.voxels),
            "overlap": float(r.overlap),
            "location": [int(r.x), int(r.y), int(r.z)],
            "setKey": f"{ds}:{r.body_id}:{r.type}",
            "bodyId": to_neo4j(r.body_id),
        }
        for r in elements.itertuples(index=False)
    ]
    element_sets = sorted({(e["setKey"], e["bodyId"], e["type"]) for e in element_rows})
    close_rows = [
        {
            "synapse": int(r.synapse_id),
            "element": int(r.element_id),
            "euclideanNm": float(r.euclidean_nm),
        }
        for r in close_to.itertuples(index=False)
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
                f"areaNm2: r.areaNm2, size: r.size, synapseType: r.synapseType, `{wv}`: true}}) "
                f"CREATE (sb)-[:Contains]->(q:Synapse:{L['Synapse']} {{type: 'post', "
                "synapseId: r.id, confidence: r.confidence, "
                "location: point({x: r.post[0], y: r.post[1], z: r.post[2]}), "
                f"areaNm2: r.areaNm2, size: r.size, synapseType: r.synapseType, `{wv}`: true}}) "
                "SET p += r.props, q += r.props "
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
                "type: r.type, size: r.size, overlap: r.overlap, "
                "location: point({x: r.location[0], y: r.location[1], z: r.location[2]}), "
                f"`{wv}`: true}})",
            ),
            (
                "closest mitochondria",
                rows["close_to"],
                "UNWIND $rows AS r "
                f"MATCH (s:{L['Synapse']} {{synapseId: r.synapse, type: 'pre'}}), "
                f"(m:{L['Element']} {{elementId: r.element}}) "
                "CREATE (s)-[:CloseTo {euclideanNm: r.euclideanNm}]->(m)",
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
    }
