"""The loader writes neuPrint's model, with parameters only, and reloading changes nothing."""

from __future__ import annotations

import numpy as np
import pytest

from graph.load import connect, load
from graph.settings import Neo4jSettings
from ingest.pipeline import run_stages
from ingest.settings import IngestSettings
from ingest.volume import open_volume
from tests.volumes import two_cells_with_synapse, write_volume

A, B = 2**53 + 7, 12


def graph_dump(settings: Neo4jSettings, dataset: str) -> list[tuple]:
    """Every node of the data set and its relationships, as comparable tuples."""
    with connect(settings) as driver:
        nodes = driver.execute_query(
            "MATCH (n) WHERE any(l IN labels(n) WHERE l STARTS WITH $p) "
            "OPTIONAL MATCH (n)-[r]->(m) "
            "RETURN labels(n) AS l, properties(n) AS p, type(r) AS t, properties(r) AS rp, "
            "labels(m) AS ml, properties(m) AS mp",
            p=f"{dataset}_",
        ).records

    def norm(props):
        props = dict(props or {})
        props.pop("lastDatabaseEdit", None)
        return tuple(sorted((k, str(v)) for k, v in props.items()))

    return sorted(
        (
            tuple(sorted(r["l"])),
            norm(r["p"]),
            r["t"] or "",
            norm(r["rp"]),
            tuple(sorted(r["ml"] or [])),
            norm(r["mp"]),
        )
        for r in nodes
    )


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("load")
    labels = two_cells_with_synapse()
    write_volume(folder / "v.zarr", np.zeros(labels["cells"].shape, np.uint8), labels)
    return run_stages(
        open_volume(folder / "v.zarr"),
        "loadtest",
        IngestSettings(data_dir=folder, min_neuron_voxels=10),
        progress=False,
    )


def test_loader_writes_the_neuprint_model(tables, neo4j_settings):
    load(tables, neo4j_settings)
    with connect(neo4j_settings) as driver:
        q = driver.execute_query
        meta = q("MATCH (m:Meta:loadtest_Meta) RETURN m").records[0]["m"]
        assert meta["dataset"] == "loadtest"
        assert meta["voxelSize"] == [10.0, 10.0, 20.0] and meta["voxelUnits"] == "nanometers"
        assert meta["primaryRois"] and "roiInfo" in meta and "roiHierarchy" in meta
        assert 0 < meta["postHighAccuracyThreshold"] <= 1
        rows = q(
            "MATCH (a:Neuron:loadtest_Neuron)-[c:ConnectsTo]->(b:loadtest_Neuron) "
            "RETURN a.bodyId AS a, b.bodyId AS b, c.weight AS w"
        ).records
        assert [(r["a"], r["b"], r["w"]) for r in rows] == [(A, B, 1)]
        path = q(
            "MATCH (a:loadtest_Segment {bodyId: $a})-[:Contains]->(ss:SynapseSet)"
            "-[:Contains]->(s:Synapse {type: 'pre'})-[:SynapsesTo]->(t:Synapse "
            "{type: 'post'})<-[:Contains]-(ts:SynapseSet)<-[:Contains]-"
            "(b:loadtest_Segment {bodyId: $b}) WHERE (ss)-[:ConnectsTo]->(ts) "
            "RETURN s.location AS loc, ss.datasetBodyIds AS key",
            a=A,
            b=B,
        ).records
        assert len(path) == 1 and path[0]["key"] == f"loadtest:{A}:{B}"
        assert (path[0]["loc"].x, path[0]["loc"].y, path[0]["loc"].z) == (14, 16, 4)
        mito = q(
            "MATCH (n:loadtest_Segment {bodyId: $a})-[:Contains]->"
            "(:ElementSet {type: 'mitochondrion'})-[:Contains]->"
            "(m:Element {type: 'mitochondrion'})<-[c:CloseTo]-(s:Synapse) "
            "RETURN m.size AS size, c.euclideanNm AS d",
            a=A,
        ).records
        assert [r["size"] for r in mito] == [24]
        assert mito[0]["d"] == pytest.approx(np.sqrt(95**2 + 5**2 + 10**2))
        seg = q("MATCH (n:loadtest_Segment {bodyId: $a}) RETURN n", a=A).records[0]["n"]
        assert seg["pre"] == 1 and seg["post"] == 0 and seg["size"] == 3840
        assert isinstance(seg["roiInfo"], str)


def test_synapses_carry_syconn2_type_fractions_and_organelle_features(tables, neo4j_settings):
    load(tables, neo4j_settings)
    with connect(neo4j_settings) as driver:
        (rec,) = driver.execute_query("MATCH (s:loadtest_Synapse {type: 'pre'}) RETURN s").records
    s = rec["s"]
    assert (s["fracAsymmetric"], s["fracSymmetric"]) == (1.0, 0.0)
    # A's one mitochondrion (24 voxels) lies ~96 nm away, A's vesicle cloud (72 voxels) ~35 nm
    assert (s["nMitoPre2um"], s["mitoVoxelsPre2um"]) == (1, 24)
    assert (s["nMitoPost2um"], s["mitoVoxelsPost2um"]) == (0, 0)
    assert (s["nVesicleCloudsPre1um"], s["vesicleCloudVoxelsPre1um"]) == (1, 72)
    assert s["nVesicleCloudsPost1um"] == 0


def test_loading_twice_leaves_the_same_graph(tables, neo4j_settings):
    load(tables, neo4j_settings)
    first = graph_dump(neo4j_settings, "loadtest")
    load(tables, neo4j_settings)
    assert graph_dump(neo4j_settings, "loadtest") == first
    assert len(first) > 10
