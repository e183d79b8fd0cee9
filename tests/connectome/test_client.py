"""The notebook client against the real server: DataFrames with exact uint64 body ids, every
page fetched, the adjacency as a networkx graph, and the docs notebook executed end to end."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from connectome import Client
from connectome.client import QueryError
from tests.conftest import PHANTOM_DATASET as DS

A, B = 2**53 + 7, 12
NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "notebook.ipynb"


def test_client_returns_neurons_and_synapses_as_dataframes(api_url, tiny_dataset):
    client = Client(api_url, progress=False)
    neurons = client.neurons("tiny", page_size=1)  # two pages
    assert sorted(neurons["bodyId"]) == [B, A]
    syn = client.synapses("tiny", pre=A)
    assert syn[["pre", "post"]].values.tolist() == [[A, B]]
    assert syn["mitoDistanceNm"].iloc[0] == pytest.approx((95**2 + 5**2 + 10**2) ** 0.5)


def test_client_raises_the_servers_message(api_url):
    with pytest.raises(QueryError, match="data set name 'x y' is not allowed"):
        Client(api_url).query('{ neurons(dataset: "x y") { nodes { bodyId } } }')


def test_client_filters_and_pages_match_the_ground_truth(api_url, typed, capsys):
    client = Client(api_url)
    neurons = client.neurons(DS, page_size=3, types=["TypeB"])
    assert sorted(neurons["bodyId"]) == sorted(
        int(c["id"]) for c in typed["cells"] if c["type"] == "TypeB"
    )
    assert "neurons" in capsys.readouterr().err  # the progress bar
    every = client.synapses(DS, page_size=7)
    assert len(every) == len(set(every["id"])) >= 30
    big = client.synapses(DS, min_area_nm2=float(every["areaNm2"].median()))
    assert set(big["id"]) == set(every.loc[every["areaNm2"] >= every["areaNm2"].median(), "id"])


def test_adjacency_comes_as_a_table_and_a_weighted_digraph(api_url, typed):
    client = Client(api_url, progress=False)
    synapses = client.synapses(DS)
    counts = synapses.groupby(["pre", "post"]).size()
    table = client.adjacency(DS, page_size=5)
    assert dict(zip(zip(table["pre"], table["post"], strict=True), table["weight"],
                    strict=True)) == counts.to_dict()  # fmt: skip
    graph = client.adjacency_graph(DS)
    assert {(a, b): d["weight"] for a, b, d in graph.edges(data=True)} == counts.to_dict()
    types = {int(c["id"]): c["type"] for c in typed["cells"]}
    assert all(graph.nodes[n]["type"] == types[n] for n in graph.nodes)
    matrix = client.cell_type_matrix(DS)
    pre_type, post_type = synapses["pre"].map(types), synapses["post"].map(types)
    assert matrix.loc["TypeA", "TypeB"] == ((pre_type == "TypeA") & (post_type == "TypeB")).sum()


def test_mito_synapse_distances_come_as_rows_and_a_summary(api_url, typed):
    result = Client(api_url, progress=False).mito_synapse_distances(DS, ["TypeA", "TypeB"])
    assert set(result.synapses["cellType"]) == {"TypeA", "TypeB"}
    summary = result.summary.set_index("cellType")
    assert (summary["synapses"] == result.synapses["cellType"].value_counts()).all()
    assert summary.loc["TypeA", "large_medianNm"] < summary.loc["TypeA", "small_medianNm"]
    assert set(result.synapses["pre"]) <= {int(c["id"]) for c in typed["cells"]}


def test_the_docs_notebook_runs_against_a_server(api_url, typed):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    env = {"CONNECTOME_URL": api_url, "CONNECTOME_DATASET": DS}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = " ".join(str(o.get("data", {}).get("text/plain", o.get("text", ""))) for o in outputs)
    assert "TypeA" in text and "connections" in text
    assert any("image/png" in o.get("data", {}) for o in outputs)  # the distance plot
