"""neo4j-admin database import writes the same graph as the batched loader."""

from __future__ import annotations

import pytest

from graph.bulk import bulk_import
from graph.load import load
from graph.local import LocalNeo4j, Neo4jSetupError
from graph.settings import LocalNeo4jSettings, Neo4jSettings
from tests.conftest import free_port
from tests.graph.test_load import graph_dump
from tests.graph.v4_tables import fill_at_random


@pytest.fixture(scope="module")
def phantom_tables(tmp_path_factory):
    from ingest.phantom import make_phantom
    from ingest.pipeline import run_stages
    from ingest.settings import IngestSettings
    from ingest.volume import open_volume

    folder = tmp_path_factory.mktemp("bulk")
    make_phantom(folder / "p.zarr", seed=6, shape_zyx=(32, 128, 128))
    out = run_stages(open_volume(folder / "p.zarr"), "bulk", IngestSettings(data_dir=folder),
                     progress=False, echo=lambda *_: None)  # fmt: skip
    # every v4 column filled, nulls included, so that all labels and relationships compare
    return fill_at_random(out, folder / "filled" / "bulk", seed=6)


def test_bulk_import_writes_the_same_graph_as_the_batched_loader(
    phantom_tables, neo4j_settings, tmp_path
):
    load(phantom_tables, neo4j_settings)
    expected = graph_dump(neo4j_settings, "bulk")
    relationships = {row[2] for row in expected}
    assert {"HasCompartment", "Includes", "CloseTo", "SynapsesTo"} <= relationships
    included = {row[4] for row in expected if row[2] == "Includes"}
    assert {("Synapse", "bulk_Synapse"), ("Element", "bulk_Element")} <= included
    assert ("ControlPoint", "bulk_ControlPoint") in included
    server = LocalNeo4j(LocalNeo4jSettings(data_dir=tmp_path, bolt_port=free_port(),
                                           heap="512m", pagecache="128m"))  # fmt: skip
    try:
        server.start(echo=lambda *_: None)
        settings = Neo4jSettings(uri=server.uri, password=server.password())
        counts = bulk_import(phantom_tables, server, settings, echo=lambda *_: None)
        assert counts["synapses"] > 0 and counts["compartments"] > 0
        assert counts["control points"] > 0
        assert graph_dump(settings, "bulk") == expected
        with pytest.raises(Neo4jSetupError, match="already holds"):
            bulk_import(phantom_tables, server, settings, echo=lambda *_: None)
    finally:
        server.stop(echo=lambda *_: None)
