"""Compartments, their synapses and organelles, and SyConn2's control points in the graph.

Two cells from tests.volumes.two_cells_with_synapse: A (pre, body 2**53 + 7) holds the one
synapse's pre site, a mitochondrion (element 1) and a vesicle cloud (element 2); B (body 12)
holds the post site. The v4 columns are written by hand below, so every answer is known.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph import tables
from graph.load import connect, load, prepare
from ingest.pipeline import run_stages
from ingest.settings import IngestSettings
from ingest.volume import open_volume
from tests.graph.test_load import graph_dump
from tests.graph.v4_tables import COMPARTMENT_COLUMNS, POINT_COLUMNS, copy_tables
from tests.volumes import two_cells_with_synapse, write_volume

A, B = 2**53 + 7, 12
DS = "comptest"
SYNAPSE_V4 = ("mesh_area_nm2", "contact_area_nm2", "pre_compartment", "post_compartment",
              "pre_site", "post_site", "spine_head_volume_nm3")  # fmt: skip

COMPARTMENTS = pd.DataFrame(
    [
        # body, compartment, path length, nodes, mesh area, boutons, spines, x, y, z
        (A, "axon", 1500.0, 12, 2.0e5, 1, 0, 12, 16, 4),
        (A, "soma", 300.0, 3, None, 0, 0, 4, 16, 4),
        (B, "dendrite", 2000.0, 20, 3.0e5, 0, 2, 20, 16, 4),
    ],
    columns=COMPARTMENT_COLUMNS,
)
CONTROL_POINTS = pd.DataFrame(
    [
        # point, body, x, y, z, nearest mitochondrion, euclidean nm, along-skeleton voxels
        (1, A, 7.25, 15.5, 3.0, 1, 40.0, 4.0),
        (2, A, 9.0, 20.0, 2.5, None, None, None),  # no mitochondrion found
        (3, B, 25.0, 16.0, 4.0, None, None, None),  # B has no axon: no Includes
    ],
    columns=POINT_COLUMNS,
).astype({"element_id": "Int64"})


@pytest.fixture(scope="module")
def null_tables(tmp_path_factory):
    """The two cells' tables with every nullable v4 column null and the new tables empty
    (as the pipeline wrote them before its stages filled them); cleft area 6400 nm²."""
    folder = tmp_path_factory.mktemp("compartments")
    labels = two_cells_with_synapse()
    write_volume(folder / "v.zarr", np.zeros(labels["cells"].shape, np.uint8), labels)
    out = run_stages(
        open_volume(folder / "v.zarr"),
        DS,
        IngestSettings(data_dir=folder, min_neuron_voxels=10),
        progress=False,
    )
    nulls = {
        "synapses": {c: None for c in SYNAPSE_V4} | {"area_nm2": 6400.0},
        "elements": {"compartment": None},
        "close_to": {"distance_vx": None},
    }
    for name, values in nulls.items():
        tables.write_table(out, name, tables.read_table(out, name).assign(**values))
    for name in ("compartments", "control_points"):
        tables.write_table(out, name, tables.read_table(out, name).iloc[:0])
    return out


@pytest.fixture(scope="module")
def filled_tables(null_tables, tmp_path_factory):
    """The same tables with every v4 column filled by hand."""
    folder = copy_tables(null_tables, tmp_path_factory.mktemp("filled") / DS)
    tables.write_table(folder, "compartments", COMPARTMENTS)
    tables.write_table(folder, "control_points", CONTROL_POINTS)
    synapses = tables.read_table(folder, "synapses")
    assert synapses["synapse_id"].tolist() == [1]
    synapses = synapses.assign(
        mesh_area_nm2=12800.0,
        contact_area_nm2=6000.0,
        pre_compartment="axon",
        post_compartment="dendrite",
        pre_site="bouton",
        post_site="spine_head",
        spine_head_volume_nm3=5.0e6,
    )
    tables.write_table(folder, "synapses", synapses)
    elements = tables.read_table(folder, "elements")
    assert elements["type"].tolist() == ["mitochondrion", "vesicle_cloud"]
    tables.write_table(folder, "elements", elements.assign(compartment=["axon", None]))
    close_to = tables.read_table(folder, "close_to")
    tables.write_table(folder, "close_to", close_to.assign(distance_vx=9.5))
    return folder


@pytest.fixture
def loaded(filled_tables, neo4j_settings):
    load(filled_tables, neo4j_settings)
    with connect(neo4j_settings) as driver:

        def rows(cypher, **params):
            return [r.data() for r in driver.execute_query(cypher, params).records]

        yield rows


def test_one_compartment_node_per_row_of_the_compartments_table(loaded):
    rows = loaded(
        f"MATCH (n:{DS}_Segment)-[:HasCompartment]->(c:Compartment:{DS}_Compartment) "
        "RETURN n.bodyId AS body, c.bodyId AS cbody, c.type AS type, c.pathLengthNm AS length, "
        "c.nodes AS nodes, c.meshAreaNm2 AS area, c.boutons AS boutons, c.spines AS spines, "
        "[c.location.x, c.location.y, c.location.z] AS xyz ORDER BY type"
    )
    assert len(rows) == len(COMPARTMENTS)
    assert [(r["body"], r["cbody"], r["type"]) for r in rows] == [
        (A, A, "axon"),
        (B, B, "dendrite"),
        (A, A, "soma"),
    ]
    axon, dendrite, soma = rows
    assert (axon["length"], axon["nodes"], axon["area"], axon["boutons"]) == (1500.0, 12, 2e5, 1)
    assert (dendrite["spines"], dendrite["xyz"]) == (2, [20.0, 16.0, 4.0])
    assert soma["area"] is None  # a null mesh area is an absent property


def test_pre_synapses_join_the_axon_and_post_synapses_the_dendrite_the_table_names(loaded):
    rows = loaded(
        f"MATCH (c:{DS}_Compartment)-[:Includes]->(s:{DS}_Synapse) "
        "RETURN c.bodyId AS body, c.type AS compartment, s.type AS side, s.synapseId AS id "
        "ORDER BY side DESC"
    )
    assert [(r["body"], r["compartment"], r["side"], r["id"]) for r in rows] == [
        (A, "axon", "pre", 1),
        (B, "dendrite", "post", 1),
    ]


def test_organelles_join_the_compartment_they_lie_in_and_none_without_one(loaded):
    rows = loaded(
        f"MATCH (e:{DS}_Element) OPTIONAL MATCH (c:Compartment)-[:Includes]->(e) "
        "RETURN e.elementId AS id, e.compartment AS compartment, c.type AS includedBy "
        "ORDER BY id"
    )
    assert [(r["id"], r["compartment"], r["includedBy"]) for r in rows] == [
        (1, "axon", "axon"),
        (2, None, None),
    ]


def test_synapse_nodes_carry_areas_compartments_and_their_own_site(loaded):
    rows = loaded(f"MATCH (s:{DS}_Synapse) RETURN s.type AS side, s ORDER BY side DESC")
    pre, post = (r["s"] for r in rows)
    for s in (pre, post):
        assert s["area"] == s["areaNm2"] == 6400.0
        assert (s["meshAreaNm2"], s["contactAreaNm2"]) == (12800.0, 6000.0)
        assert (s["preCompartment"], s["postCompartment"]) == ("axon", "dendrite")
        assert s["spineHeadVolumeNm3"] == 5.0e6
    assert (pre["compartment"], post["compartment"]) == ("bouton", "spine_head")


def test_closeto_carries_the_along_the_neuron_distance_beside_the_euclidean_one(loaded):
    (row,) = loaded(
        f"MATCH (s:{DS}_Synapse {{type: 'pre'}})-[c:CloseTo]->(m:{DS}_Element) "
        "RETURN c.distance AS distance, c.euclideanNm AS nm, m.elementId AS id"
    )
    assert (row["distance"], row["id"]) == (9.5, 1)
    assert row["nm"] == pytest.approx(np.sqrt(95**2 + 5**2 + 10**2))


def test_neurons_carry_compartment_path_lengths_soma_flag_and_totals(loaded):
    rows = loaded(f"MATCH (n:{DS}_Neuron) RETURN n ORDER BY n.bodyId")
    b, a = (r["n"] for r in rows)
    assert (a["axonPathLengthNm"], a["somaPathLengthNm"]) == (1500.0, 300.0)
    assert "dendritePathLengthNm" not in a
    assert (a["hasSoma"], a["boutons"], a["spines"]) == (True, 1, 0)
    assert b["dendritePathLengthNm"] == 2000.0
    assert "axonPathLengthNm" not in b and "somaPathLengthNm" not in b
    assert (b["hasSoma"], b["boutons"], b["spines"]) == (False, 0, 2)


def test_control_points_lie_in_their_axon_and_point_to_their_nearest_mitochondrion(loaded):
    rows = loaded(
        f"MATCH (p:ControlPoint:{DS}_ControlPoint) "
        f"OPTIONAL MATCH (c:{DS}_Compartment)-[:Includes]->(p) "
        f"OPTIONAL MATCH (p)-[d:CloseTo]->(m:{DS}_Element) "
        "RETURN p.pointId AS id, p.bodyId AS body, [p.location.x, p.location.y, p.location.z] "
        "AS xyz, p.euclideanNm AS nm, p.distance AS vx, c.type AS compartment, "
        "c.bodyId AS cbody, m.elementId AS mito, d.euclideanNm AS dnm, d.distance AS dvx "
        "ORDER BY id"
    )
    assert len(rows) == len(CONTROL_POINTS)
    one, two, three = rows
    assert one == {"id": 1, "body": A, "xyz": [7.25, 15.5, 3.0], "nm": 40.0, "vx": 4.0,
                   "compartment": "axon", "cbody": A, "mito": 1, "dnm": 40.0,
                   "dvx": 4.0}  # fmt: skip
    assert (two["compartment"], two["mito"], two["nm"], two["vx"]) == ("axon", None, None, None)
    assert (three["body"], three["compartment"], three["mito"]) == (B, None, None)
    props = loaded(f"MATCH (p:{DS}_ControlPoint {{pointId: 2}}) RETURN keys(p) AS k")
    assert sorted(props[0]["k"]) == ["bodyId", "location", "pointId"]


def test_loading_the_filled_tables_twice_leaves_the_same_graph(filled_tables, neo4j_settings):
    load(filled_tables, neo4j_settings)
    first = graph_dump(neo4j_settings, DS)
    load(filled_tables, neo4j_settings)
    assert graph_dump(neo4j_settings, DS) == first
    kinds = {label for row in first for label in row[0]}
    assert {"Compartment", "ControlPoint"} <= kinds
    assert {"HasCompartment", "Includes", "CloseTo"} <= {row[2] for row in first}


def test_null_columns_leave_properties_absent_and_reload_removes_compartments(
    filled_tables, null_tables, neo4j_settings
):
    load(filled_tables, neo4j_settings)
    load(null_tables, neo4j_settings)  # the same data set, v4 columns null
    with connect(neo4j_settings) as driver:
        q = driver.execute_query
        gone = q(
            f"MATCH (n) WHERE n:{DS}_Compartment OR n:{DS}_ControlPoint RETURN count(n) AS c"
        ).records[0]["c"]
        assert gone == 0
        links = q(f"MATCH (:{DS}_Segment)-[r:HasCompartment]->() RETURN count(r) AS c")
        assert links.records[0]["c"] == 0
        syn = q(f"MATCH (s:{DS}_Synapse) RETURN s").records
        for rec in syn:
            s = rec["s"]
            assert s["areaNm2"] == 6400.0
            absent = ("meshAreaNm2", "contactAreaNm2", "preCompartment", "postCompartment",
                      "compartment", "spineHeadVolumeNm3")  # fmt: skip
            assert not [k for k in absent if k in s]
        (close,) = q(f"MATCH (:{DS}_Synapse)-[c:CloseTo]->() RETURN c").records
        assert "distance" not in close["c"] and close["c"]["euclideanNm"] > 0
        for rec in q(f"MATCH (e:{DS}_Element) RETURN e").records:
            assert "compartment" not in rec["e"]
        for rec in q(f"MATCH (n:{DS}_Segment) RETURN n").records:
            assert not {"hasSoma", "boutons", "spines", "axonPathLengthNm"} & set(rec["n"].keys())


@pytest.mark.parametrize(
    ("table", "change", "message"),
    [
        (
            "compartments",
            lambda f: f.assign(body_id=np.uint64(99)),
            r"compartments.body_id names bodies missing from neurons: \[99\]",
        ),
        (
            "control_points",
            lambda f: f.assign(body_id=np.uint64(99)),
            r"control_points.body_id names bodies missing from neurons: \[99\]",
        ),
        (
            "control_points",
            lambda f: f.assign(element_id=pd.array([7, None, None], dtype="Int64")),
            r"control_points.element_id names elements missing from elements: \[7\]",
        ),
        (
            "compartments",
            lambda f: f.assign(compartment=["axon", "spine", "dendrite"]),
            r"compartments.compartment must be one of \['soma', 'axon', 'dendrite'\], "
            r"not \['spine'\]",
        ),
        (
            "compartments",
            lambda f: f.assign(compartment=["axon", "axon", "dendrite"]),
            rf"compartments has more than one 'axon' row for body {A}",
        ),
    ],
)
def test_tables_naming_unknown_bodies_or_compartments_are_refused_in_one_sentence(
    filled_tables, tmp_path, table, change, message
):
    folder = copy_tables(filled_tables, tmp_path / "bad")
    tables.write_table(folder, table, change(tables.read_table(folder, table)))
    with pytest.raises(tables.TableContractError, match=message):
        prepare(folder)


@pytest.mark.parametrize("name", ["neurons", "synapses"])
def test_a_table_of_another_schema_version_is_refused_in_one_sentence(
    filled_tables, tmp_path, name
):
    import pyarrow.parquet as pq

    folder = copy_tables(filled_tables, tmp_path / "old")
    path = folder / f"{name}.parquet"
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({b"connectome.schema_version": b"1"}), path)
    message = rf"{name}.parquet has table schema version 1, expected {tables.SCHEMA_VERSION}"
    with pytest.raises(tables.TableContractError, match=message):
        prepare(folder)
    with pytest.raises(tables.TableContractError, match=message):
        tables.read_table(folder, name)
