"""First load of a large data set with ``neo4j-admin database import`` (Neo4j's bulk
importer, 10⁵–10⁶ entities/s), writing the same graph as :func:`graph.load.load`.

The importer fills a whole database while the server is stopped, so it is for an empty
database (a first load); later data sets and reloads go through the batched loader. The rows
come from :func:`graph.load.prepare`, so both paths share one definition of the model.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from graph.load import connect, prepare
from graph.local import LocalNeo4j, Neo4jSetupError
from graph.schema import (
    DATA_MODEL_VERSION,
    NODE_KINDS,
    WHOLE_VOLUME_ROI,
    check_dataset,
    constraint_statements,
    label,
)
from graph.settings import Neo4jSettings


def _point(xyz: list[int]) -> str:
    return "{x:%r, y:%r, z:%r}" % tuple(float(v) for v in xyz)  # noqa: UP031


def _value(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, list):
        return ";".join(str(x) for x in v)
    return str(v)


_KINDS = {bool: "boolean", int: "long", float: "double", str: "string"}


def _typed(rows: list[dict[str, Any]], key: str = "props") -> list[tuple[str, str]]:
    """Each property of the ``key`` maps of ``rows`` with the importer type of its values.

    The type is read off the values, as the batched loader's driver does, so both write the
    same types; a property that is null throughout is written as empty (absent) strings.

    Examples
    --------
    >>> rows = [{"props": {"a": None, "b": 1, "c": None}},
    ...         {"props": {"a": 2.5, "b": None, "c": None}}]
    >>> _typed(rows)
    [('a', 'double'), ('b', 'long'), ('c', 'string')]
    """
    names = sorted(rows[0][key]) if rows else []  # prepare() gives every row the same keys
    first = (next((r[key][k] for r in rows if r[key].get(k) is not None), "") for k in names)
    return [(k, _KINDS[type(v)]) for k, v in zip(names, first, strict=True)]


def _write(path: Path, header: list[str], rows: Iterable[list[Any]]) -> Path:
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        for row in rows:
            out.writerow([_value(v) for v in row])
    return path


def write_import_files(rows: dict[str, Any], folder: Path) -> list[str]:
    """CSV files (header line first) and the ``--nodes``/``--relationships`` arguments."""
    ds = rows["dataset"]
    wv = WHOLE_VOLUME_ROI
    lab = {k: label(ds, k).strip("`") for k in NODE_KINDS}
    args = []

    def nodes(name: str, header: list[str], data: Iterable[list[Any]]) -> None:
        args.append(f"--nodes={_write(folder / f'{name}.csv', header, data)}")

    def rels(name: str, header: list[str], data: Iterable[list[Any]]) -> None:
        args.append(f"--relationships={_write(folder / f'{name}.csv', header, data)}")

    seg_labels = {True: f"Segment;Neuron;{lab['Segment']};{lab['Neuron']}",
                  False: f"Segment;{lab['Segment']}"}  # fmt: skip
    seg_props = _typed(rows["neurons"])
    nodes("segments",
          [":ID(Segment)", "bodyId:long", "size:long", "pre:long", "post:long", "roiInfo",
           "status", "statusLabel", "location:point{crs:cartesian-3D}", "bboxMin:long[]",
           "bboxMax:long[]", f"{wv}:boolean", *(f"{k}:{t}" for k, t in seg_props), ":LABEL"],
          ([r["bodyId"], r["bodyId"], r["size"], r["pre"], r["post"], r["roiInfo"], "Traced",
            "Traced", _point(r["location"]), r["bboxMin"], r["bboxMax"], True,
            *(r["props"].get(k) for k, _ in seg_props),
            seg_labels[bool(r["isNeuron"])]] for r in rows["neurons"]))  # fmt: skip
    nodes(
        "synapse_sets",
        [":ID(SynapseSet)", "datasetBodyIds", ":LABEL"],
        ([k, k, f"SynapseSet;{lab['SynapseSet']}"] for k, _ in rows["synapse_sets"]),
    )
    rels("segment_synapse_sets", [":START_ID(Segment)", ":END_ID(SynapseSet)", ":TYPE"],
         ([b, k, "Contains"] for k, b in rows["synapse_sets"]))  # fmt: skip
    rels("connects_to",
         [":START_ID(Segment)", ":END_ID(Segment)", "weight:long", "weightHP:long", "roiInfo",
          ":TYPE"],
         ([c["pre"], c["post"], c["weight"], c["weightHP"], c["roiInfo"], "ConnectsTo"]
          for c in rows["connects"]))  # fmt: skip
    rels(
        "set_connects_to",
        [":START_ID(SynapseSet)", ":END_ID(SynapseSet)", ":TYPE"],
        ([c["preKey"], c["postKey"], "ConnectsTo"] for c in rows["connects"]),
    )
    props = _typed(rows["synapses"])
    syn_header = [":ID(Synapse)", "type", "synapseId:long", "confidence:double",
                  "location:point{crs:cartesian-3D}", "size:long", "synapseType", "compartment",
                  f"{wv}:boolean", *(f"{k}:{t}" for k, t in props), ":LABEL"]  # fmt: skip

    def synapse_nodes() -> Iterable[list[Any]]:
        for r in rows["synapses"]:
            for side in ("pre", "post"):
                yield [
                    f"{r['id']}:{side}",
                    side,
                    r["id"],
                    r["confidence"],
                    _point(r[side]),
                    r["size"],
                    r["synapseType"],
                    r[f"{side}Site"],
                    True,
                    *(r["props"].get(k) for k, _ in props),
                    f"Synapse;{lab['Synapse']}",
                ]

    nodes("synapses", syn_header, synapse_nodes())
    rels(
        "set_synapses",
        [":START_ID(SynapseSet)", ":END_ID(Synapse)", ":TYPE"],
        (
            x
            for r in rows["synapses"]
            for x in (
                [r["preKey"], f"{r['id']}:pre", "Contains"],
                [r["postKey"], f"{r['id']}:post", "Contains"],
            )
        ),
    )
    rels(
        "synapses_to",
        [":START_ID(Synapse)", ":END_ID(Synapse)", ":TYPE"],
        ([f"{r['id']}:pre", f"{r['id']}:post", "SynapsesTo"] for r in rows["synapses"]),
    )
    nodes(
        "element_sets",
        [":ID(ElementSet)", "datasetBodyIdsType", "type", ":LABEL"],
        ([k, k, t, f"ElementSet;{lab['ElementSet']}"] for k, _, t in rows["element_sets"]),
    )
    rels(
        "segment_element_sets",
        [":START_ID(Segment)", ":END_ID(ElementSet)", ":TYPE"],
        ([b, k, "Contains"] for k, b, _ in rows["element_sets"]),
    )
    nodes("elements",
          [":ID(Element)", "elementId:long", "type", "size:long", "overlap:double",
           "compartment", "location:point{crs:cartesian-3D}", f"{wv}:boolean", ":LABEL"],
          ([e["id"], e["id"], e["type"], e["size"], e["overlap"], e["compartment"],
            _point(e["location"]), True, f"Element;{lab['Element']}"]
           for e in rows["elements"]))  # fmt: skip
    rels(
        "set_elements",
        [":START_ID(ElementSet)", ":END_ID(Element)", ":TYPE"],
        ([e["setKey"], e["id"], "Contains"] for e in rows["elements"]),
    )
    rels("close_to",
         [":START_ID(Synapse)", ":END_ID(Element)", "euclideanNm:double", "distance:double",
          ":TYPE"],
         ([f"{c['synapse']}:pre", c["element"], c["euclideanNm"], c["distance"], "CloseTo"]
          for c in rows["close_to"]))  # fmt: skip

    comp_props = _typed(rows["compartments"])
    nodes("compartments",
          [":ID(Compartment)", "bodyId:long", "type", "location:point{crs:cartesian-3D}",
           *(f"{k}:{t}" for k, t in comp_props), ":LABEL"],
          ([c["key"], c["bodyId"], c["type"], _point(c["location"]),
            *(c["props"].get(k) for k, _ in comp_props),
            f"Compartment;{lab['Compartment']}"] for c in rows["compartments"]))  # fmt: skip
    rels("has_compartment", [":START_ID(Segment)", ":END_ID(Compartment)", ":TYPE"],
         ([c["bodyId"], c["key"], "HasCompartment"] for c in rows["compartments"]))  # fmt: skip
    rels("synapse_includes", [":START_ID(Compartment)", ":END_ID(Synapse)", ":TYPE"],
         ([i["key"], f"{i['synapse']}:{i['side']}", "Includes"]
          for i in rows["synapse_includes"]))  # fmt: skip
    rels("element_includes", [":START_ID(Compartment)", ":END_ID(Element)", ":TYPE"],
         ([i["key"], i["element"], "Includes"] for i in rows["element_includes"]))  # fmt: skip
    point_props = _typed(rows["control_points"])
    nodes("control_points",
          [":ID(ControlPoint)", "pointId:long", "bodyId:long",
           "location:point{crs:cartesian-3D}", *(f"{k}:{t}" for k, t in point_props), ":LABEL"],
          ([p["id"], p["id"], p["bodyId"], _point(p["location"]),
            *(p["props"].get(k) for k, _ in point_props),
            f"ControlPoint;{lab['ControlPoint']}"] for p in rows["control_points"]))  # fmt: skip
    rels("point_includes", [":START_ID(Compartment)", ":END_ID(ControlPoint)", ":TYPE"],
         ([i["key"], i["point"], "Includes"] for i in rows["point_includes"]))  # fmt: skip
    rels("point_close_to",
         [":START_ID(ControlPoint)", ":END_ID(Element)", "euclideanNm:double",
          "distance:double", ":TYPE"],
         ([c["point"], c["element"], c["euclideanNm"], c["distance"], "CloseTo"]
          for c in rows["point_close_to"]))  # fmt: skip
    return args


def bulk_import(
    folder: str | os.PathLike,
    server: LocalNeo4j,
    settings: Neo4jSettings,
    echo: Callable[[str], None] = print,
    overwrite: bool = False,
) -> dict[str, int]:
    """Import the tables in ``folder`` into the managed server's (empty) database."""
    rows = prepare(folder)
    ds = check_dataset(rows["dataset"])
    server.start(echo=echo)
    with connect(settings) as driver:
        count = driver.execute_query("MATCH (n) WHERE NOT n:DataModel RETURN count(n) AS c",
                                     database_=settings.database).records[0]["c"]  # fmt: skip
    if count and not overwrite:
        raise Neo4jSetupError(
            f"the database already holds {count} nodes; the bulk importer replaces a whole "
            "database, so use it for a first load only (or load without --bulk)"
        )
    work = Path(tempfile.mkdtemp(prefix=f"import-{ds}-"))
    try:
        args = write_import_files(rows, work)
        server.stop(echo=echo)
        proc = server.admin("database", "import", "full", settings.database,
                            "--overwrite-destination", "--array-delimiter=;",
            f"--report-file={work / 'import.report'}", *args)  # fmt: skip
        if proc.returncode != 0:
            lines = (proc.stdout + proc.stderr).strip().splitlines()
            cause = [ln for ln in lines if "Exception" in ln or "rror" in ln] or lines[-3:]
            raise Neo4jSetupError(f"neo4j-admin database import failed: {cause[0][:500]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        server.start(echo=echo)
    with connect(settings) as driver:
        for stmt in constraint_statements(ds):
            driver.execute_query(stmt, database_=settings.database)
        driver.execute_query(
            "MERGE (d:DataModel {dataModelVersion: $v}) "
            f"CREATE (m:Meta:{label(ds, 'Meta')}) SET m = $meta CREATE (m)-[:Is]->(d)",
            v=DATA_MODEL_VERSION, meta=rows["meta"],
            database_=settings.database)  # fmt: skip
    return {"neurons": len(rows["neurons"]), "synapses": len(rows["synapses"]),
            "connections": len(rows["connects"]), "elements": len(rows["elements"]),
            "compartments": len(rows["compartments"]),
            "control points": len(rows["control_points"])}  # fmt: skip
