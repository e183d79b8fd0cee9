"""`connectome report connectivity` on the typed test phantom: the matrix against the ground
truth and GraphQL's cellTypeConnectivity, the three files."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.reports.conftest import html_figures, ink, pdf_pages, report_cli, report_here, written


@pytest.fixture(scope="module")
def report(typed, cli_env, connectome_bin, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("connectivity") / "report"
    proc = report_cli(connectome_bin, cli_env, "connectivity", out)
    assert proc.returncode == 0, proc.stderr
    return out, written(out)


def test_the_matrix_counts_the_planted_synapses_and_pairs(report, typed):
    doc = report[1]
    types = {c["id"]: c["type"] for c in typed["cells"]}
    synapses = Counter((types[s["pre"]], types[s["post"]]) for s in typed["synapses"])
    pairs = Counter((types[a], types[b]) for a, b in
                    {(s["pre"], s["post"]) for s in typed["synapses"]})  # fmt: skip
    assert doc["cell_types"] == ["TypeA", "TypeB"]
    assert doc["synapses"] == [[synapses[(a, b)] for b in doc["cell_types"]]
                               for a in doc["cell_types"]]  # fmt: skip
    assert doc["neuron_pairs"] == [[pairs[(a, b)] for b in doc["cell_types"]]
                                   for a in doc["cell_types"]]  # fmt: skip
    assert doc["total_synapses"] == len(typed["synapses"])
    assert doc["filters"] == {"cell_types": ["TypeA", "TypeB"], "min_weight": 1}


def test_the_matrix_equals_graphql_cell_type_connectivity(report, api_url):
    query = '{ cellTypeConnectivity(dataset: "phantom") { cellTypes weights neuronPairs } }'
    answer = httpx.post(api_url + "/graphql", json={"query": query}, timeout=60).json()
    m = answer["data"]["cellTypeConnectivity"]
    assert m["cellTypes"] == report[1]["cell_types"]
    assert m["weights"] == report[1]["synapses"]
    assert m["neuronPairs"] == report[1]["neuron_pairs"]


def test_a_higher_min_weight_drops_the_weak_pairs(typed, cli_env, tmp_path):
    types = {c["id"]: c["type"] for c in typed["cells"]}
    weights = Counter((s["pre"], s["post"]) for s in typed["synapses"])
    code, err = report_here(cli_env, "connectivity", tmp_path / "r",
                            "--min-weight", "3", "--cell-types", "TypeB", "TypeA")  # fmt: skip
    assert code == 0, err
    doc = written(tmp_path / "r")
    strong = Counter()
    for (a, b), w in weights.items():
        if w >= 3:
            strong[(types[a], types[b])] += w
    assert doc["cell_types"] == ["TypeB", "TypeA"]
    assert doc["synapses"] == [[strong[(a, b)] for b in doc["cell_types"]]
                               for a in doc["cell_types"]]  # fmt: skip


def test_the_pdf_and_html_show_the_heatmaps(report, tmp_path):
    pages = pdf_pages(report[0] / "report.pdf", tmp_path)
    assert len(pages) == 2 and ink(pages[0]) > 0.005 and ink(pages[1]) > 0.1
    page = (report[0] / "report.html").read_text()
    (svg,) = html_figures(page)
    assert "connected neuron pairs" in svg and "presynaptic cell type" in svg
