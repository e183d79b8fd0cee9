"""The full GraphQL API over real HTTP (the gql client) against the ingested phantom in a real
Neo4j: filters, pages, partners, compartments, organelles, adjacency, cell-type matrix,
shortest paths, the mitochondria–synapse analysis, Neuroglancer links, round trips, limits.

The phantom's cell types come from its ground truth, written with the annotation query
(cell types are what the models of issue 5 will predict)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from urllib.parse import unquote

import httpx
import numpy as np
import pandas as pd
import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport
from neo4j.exceptions import ClientError
from scipy import stats

from graph import queries
from tests.conftest import PHANTOM_DATASET as DS
from tests.conftest import type_confidence as _confidence
from tests.conftest import with_reader as _with_reader


@pytest.fixture(scope="module")
def client(api_url, typed):
    transport = RequestsHTTPTransport(url=api_url + "/graphql", timeout=60)
    with Client(transport=transport, fetch_schema_from_transport=True) as session:
        yield session


def ask(client, query: str, **variables):
    return client.execute(GraphQLRequest(query, variable_values=variables))


def all_synapses(client, filter_: dict | None = None, first: int = 1000) -> pd.DataFrame:
    rows, after = [], None
    while True:
        page = ask(
            client,
            """query($f: SynapseFilter, $first: Int!, $after: String) {
               synapses(dataset: "phantom", filter: $f, first: $first, after: $after) {
               nodes { id pre post confidence synapseType areaNm2 preCompartment
                       postCompartment preSite postSite mitoDistanceNm }
               pageInfo { hasNextPage endCursor } } }""",
            f=filter_,
            first=first,
            after=after,
        )["synapses"]
        rows += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return pd.DataFrame(rows)
        after = page["pageInfo"]["endCursor"]


def test_neuron_filter_selects_by_type_confidence_and_synapse_counts(client, typed):
    cells = pd.DataFrame(typed["cells"])
    cells["confidence"] = [_confidence(i) for i in range(len(cells))]
    q = """query($f: NeuronFilter) { neurons(dataset: "phantom", filter: $f, first: 500) {
           totalCount nodes { bodyId type typeConfidence pre post } } }"""
    found = ask(client, q, f={"types": ["TypeA"], "minTypeConfidence": 0.9})["neurons"]
    expected = cells[(cells["type"] == "TypeA") & (cells["confidence"] >= 0.9)]
    assert {n["bodyId"] for n in found["nodes"]} == set(expected["id"].astype(str))
    assert found["totalCount"] == len(expected)
    busy = ask(client, q, f={"typeRegex": "Type[AB]", "minPre": 3, "minPost": 1})["neurons"]
    assert busy["nodes"] and all(n["pre"] >= 3 and n["post"] >= 1 for n in busy["nodes"])
    everyone = ask(client, q, f=None)["neurons"]["nodes"]
    assert len(busy["nodes"]) == sum(n["pre"] >= 3 and n["post"] >= 1 for n in everyone)
    one = str(cells["id"].iloc[0])
    assert [n["bodyId"] for n in ask(client, q, f={"bodyIds": [one]})["neurons"]["nodes"]] == [one]


def test_neuron_pages_visit_every_neuron_once(client, typed):
    q = """query($after: String) { neurons(dataset: "phantom", first: 7, after: $after) {
           nodes { bodyId } pageInfo { hasNextPage endCursor } } }"""
    seen, after = [], None
    while True:
        page = ask(client, q, after=after)["neurons"]
        seen += [n["bodyId"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    total = ask(client, '{ neurons(dataset: "phantom") { totalCount } }')["neurons"]["totalCount"]
    assert len(seen) == len(set(seen)) == total > 7


@pytest.mark.parametrize("order,descending", [("PRE", True), ("SIZE", False)])
def test_neuron_pages_ordered_by_a_count_are_the_neurons_sorted_by_it_then_by_body_id(
    client, typed, order, descending
):
    q = """query($after: String, $order: NeuronOrder!, $desc: Boolean!) { neurons(
           dataset: "phantom", first: 3, after: $after, orderBy: $order, descending: $desc) {
           nodes { bodyId pre size } pageInfo { hasNextPage endCursor } } }"""
    seen, after = [], None
    while True:
        page = ask(client, q, after=after, order=order, desc=descending)["neurons"]
        seen += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    key = order.lower()
    # body ids in the order Neo4j stores them (signed 64-bit)
    stored = [(n[key], int(n["bodyId"]) - (2**64 if int(n["bodyId"]) >= 2**63 else 0))
              for n in seen]  # fmt: skip
    assert stored == sorted(stored, reverse=descending)
    total = ask(client, '{ neurons(dataset: "phantom") { totalCount } }')["neurons"]["totalCount"]
    assert len({n["bodyId"] for n in seen}) == len(seen) == total > 3


def test_neuron_shows_compartments_organelles_and_weighted_partners(client, typed):
    mito = pd.Series([m["cell"] for m in typed["mitochondria"]]).value_counts()
    body = str(mito.index[0])
    n = ask(
        client,
        """query($id: BodyId!) { neuron(dataset: "phantom", bodyId: $id) {
           bodyId type cableLengthNm axonPathLengthNm dendritePathLengthNm somaPathLengthNm
           mitochondrionCount vesicleCloudCount
           compartments { type pathLengthNm nodes }
           mitochondria { elementId type size compartment location { x y z } }
           vesicleClouds { elementId type }
           upstream { bodyId weight neuron { bodyId } } downstream { bodyId weight } } }""",
        id=body,
    )["neuron"]
    assert len(n["mitochondria"]) == n["mitochondrionCount"] == mito.iloc[0]
    assert {m["type"] for m in n["mitochondria"]} == {"mitochondrion"}
    assert len(n["vesicleClouds"]) == n["vesicleCloudCount"]
    lengths = {c["type"]: c["pathLengthNm"] for c in n["compartments"]}
    for name in ("axon", "dendrite", "soma"):
        assert lengths.get(name) == n[f"{name}PathLengthNm"]
    assert sum(lengths.values()) == pytest.approx(n["cableLengthNm"], rel=1e-6)
    syn = all_synapses(client)
    weights = syn.groupby(["pre", "post"]).size()
    for p in n["downstream"]:
        assert p["weight"] == weights[(body, p["bodyId"])]
    for p in n["upstream"]:
        assert p["weight"] == weights[(p["bodyId"], body)] and p["neuron"]["bodyId"] == p["bodyId"]


def test_synapse_filters_keep_exactly_the_matching_synapses(client, typed):
    every = all_synapses(client)
    types = {str(c["id"]): c["type"] for c in typed["cells"]}
    every["preType"] = every["pre"].map(types)
    assert len(every) == len(set(every["id"])) >= 30
    median = float(every["areaNm2"].median())
    cases = [
        ({"preTypes": ["TypeA"]}, every["preType"] == "TypeA"),
        ({"minConfidence": 0.9}, every["confidence"] >= 0.9),
        ({"minAreaNm2": median}, every["areaNm2"] >= median),
        ({"maxAreaNm2": median, "synapseTypes": ["asymmetric"]},
         (every["areaNm2"] <= median) & (every["synapseType"] == "asymmetric")),
        ({"postCompartments": ["spine_head"]}, every["postSite"] == "spine_head"),
        ({"postCompartments": ["dendrite"]},
         (every["postCompartment"] == "dendrite") | (every["postSite"] == "dendrite")),
        ({"preCompartments": ["bouton"], "postBodyIds": [every["post"].iloc[0]]},
         (every["preSite"] == "bouton") & (every["post"] == every["post"].iloc[0])),
    ]  # fmt: skip
    for given, expected in cases:
        found = all_synapses(client, given, first=17)
        assert sorted(found["id"]) == sorted(every.loc[expected, "id"]), given
        assert len(found) > 0, given


def test_a_neurons_synapses_come_in_pages_by_direction(client, typed):
    every = all_synapses(client)
    body = every["pre"].value_counts().index[0]
    q = """query($id: BodyId!, $d: SynapseDirection!, $after: String) {
           neuron(dataset: "phantom", bodyId: $id) {
           synapses(direction: $d, first: 3, after: $after) { totalCount
             nodes { id pre post closestMitochondrion { euclideanNm distance } }
             pageInfo { hasNextPage endCursor } } } }"""
    either = (every["pre"] == body) | (every["post"] == body)
    for direction, expected in [("OUTPUT", every["pre"] == body),
                                ("INPUT", every["post"] == body), ("BOTH", either)]:  # fmt: skip
        ids, after = [], None
        while True:
            page = ask(client, q, id=body, d=direction, after=after)["neuron"]["synapses"]
            ids += [s["id"] for s in page["nodes"]]
            assert page["totalCount"] == expected.sum()
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert ids == sorted(every.loc[expected, "id"], key=int), direction


def test_an_output_page_gives_the_same_synapses_with_or_without_the_partner_fields(client, typed):
    every = all_synapses(client).set_index("id")
    body = every["pre"].value_counts().index[0]
    own = "id confidence areaNm2 preSite mitoDistanceNm"
    q = """query($id: BodyId!) { neuron(dataset: "phantom", bodyId: $id) {
           synapses(direction: OUTPUT, first: 1000) { %s } } } %s"""
    lean = ask(client, q % (f"nodes {{ {own} }}", ""), id=body)["neuron"]["synapses"]["nodes"]
    # the partner asked through a fragment on the edges' nodes
    fragment = "fragment P on Synapse { post postSite }"
    full = ask(client, q % (f"edges {{ node {{ {own} ...P }} }}", fragment), id=body)
    full = full["neuron"]["synapses"]["edges"]
    assert lean == [{k: e["node"][k] for k in own.split()} for e in full]
    assert [e["node"]["post"] for e in full] == list(every.loc[[s["id"] for s in lean], "post"])
    assert [e["node"]["postSite"] for e in full] == list(
        every.loc[[s["id"] for s in lean], "postSite"]
    )


def test_adjacency_pages_give_connection_weights_equal_to_synapse_counts(client, typed):
    weights = all_synapses(client).groupby(["pre", "post"]).size()
    bodies = sorted({b for pair in weights.index for b in pair})[:12]
    q = """query($s: [BodyId!], $t: [BodyId!], $min: Int!, $after: String) {
           adjacency(dataset: "phantom", sources: $s, targets: $t, minWeight: $min, first: 2,
                     after: $after) {
           nodes { pre post weight } pageInfo { hasNextPage endCursor } } }"""

    def fetch(s, t, minimum):
        rows, after = [], None
        while True:
            page = ask(client, q, s=s, t=t, min=minimum, after=after)["adjacency"]
            rows += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                return {(r["pre"], r["post"]): r["weight"] for r in rows}
            after = page["pageInfo"]["endCursor"]

    among = {k: v for k, v in weights.items() if k[0] in bodies and k[1] in bodies}
    assert fetch(bodies, bodies, 1) == among
    assert fetch(None, None, 1) == dict(weights.items())
    assert fetch(None, None, 2) == {k: v for k, v in weights.items() if v >= 2}


def test_cell_type_matrix_sums_the_connections_between_types(client, typed):
    syn = all_synapses(client)
    types = {str(c["id"]): c["type"] for c in typed["cells"]}
    expected = syn.groupby([syn["pre"].map(types), syn["post"].map(types)]).size()
    m = ask(
        client, '{ cellTypeConnectivity(dataset: "phantom") { cellTypes weights neuronPairs } }'
    )["cellTypeConnectivity"]
    assert m["cellTypes"] == ["TypeA", "TypeB"]
    for i, a in enumerate(m["cellTypes"]):
        for j, b in enumerate(m["cellTypes"]):
            assert m["weights"][i][j] == expected.get((a, b), 0)
    pairs = syn.groupby(["pre", "post"]).size().reset_index()
    assert np.sum(m["neuronPairs"]) == len(pairs)


def test_shortest_paths_follow_connections_hop_by_hop(client, typed):
    weights = all_synapses(client).groupby(["pre", "post"]).size()
    a, b = weights.index[0]
    c = next((post for (pre, post) in weights.index if pre == b and post != a), None)
    q = """query($a: BodyId!, $b: BodyId!, $n: Int!) { shortestPaths(dataset: "phantom",
           from: $a, to: $b, maxLength: $n) { bodyIds weights } }"""
    (direct,) = ask(client, q, a=a, b=b, n=3)["shortestPaths"]
    assert direct == {"bodyIds": [a, b], "weights": [int(weights[(a, b)])]}
    if c is not None and (a, c) not in weights.index:
        paths = ask(client, q, a=a, b=c, n=3)["shortestPaths"]
        assert paths and all(len(p["bodyIds"]) == 3 for p in paths)
        for p in paths:
            hops = zip(p["bodyIds"], p["bodyIds"][1:], strict=False)
            for (x, y), w in zip(hops, p["weights"], strict=True):
                assert weights[(x, y)] == w
    with pytest.raises(TransportQueryError, match="maxLength must be between 1 and 10"):
        ask(client, q, a=a, b=b, n=50)


def test_mito_synapse_analysis_matches_a_direct_computation(client, typed):
    result = ask(
        client,
        """{ mitoSynapseDistances(dataset: "phantom", cellTypes: ["TypeA", "TypeB"]) {
             synapses { synapseId cellType areaNm2 euclideanNm large }
             summary { cellType synapses medianAreaNm2
               small { n medianNm q1Nm q3Nm } large { n medianNm } control { n medianNm }
               ksSmallVsLarge { statistic pvalue } ksSmallVsControl { statistic pvalue } } } }""",
    )["mitoSynapseDistances"]
    rows = pd.DataFrame(result["synapses"])
    syn = all_synapses(client)
    types = {str(c["id"]): c["type"] for c in typed["cells"]}
    assert sorted(rows["synapseId"]) == sorted(syn.loc[syn["pre"].map(types).notna(), "id"])
    for s in result["summary"]:
        mine = rows[rows["cellType"] == s["cellType"]]
        median = mine["areaNm2"].median()
        assert s["synapses"] == len(mine) and s["medianAreaNm2"] == pytest.approx(median)
        small = mine.loc[mine["areaNm2"] <= median, "euclideanNm"].dropna()
        large = mine.loc[mine["areaNm2"] > median, "euclideanNm"].dropna()
        assert (mine["large"] == (mine["areaNm2"] > median)).all()
        assert s["small"]["n"] == len(small) and s["large"]["n"] == len(large)
        assert s["small"]["medianNm"] == pytest.approx(small.median())
        assert s["small"]["q1Nm"] == pytest.approx(small.quantile(0.25))
        ks = stats.ks_2samp(small, large)
        assert s["ksSmallVsLarge"]["statistic"] == pytest.approx(ks.statistic)
        assert s["ksSmallVsLarge"]["pvalue"] == pytest.approx(ks.pvalue)
        assert s["control"]["n"] > 0 and s["ksSmallVsControl"] is not None
    # the phantom plants SyConn2's finding: large TypeA synapses sit next to a mitochondrion
    by_type = {s["cellType"]: s for s in result["summary"]}
    assert by_type["TypeA"]["large"]["medianNm"] < by_type["TypeA"]["small"]["medianNm"]


def test_mito_synapse_analysis_applies_its_filters(client, typed):
    q = """query($min: Float!, $tc: Float!, $c: String) { mitoSynapseDistances(
           dataset: "phantom", cellTypes: ["TypeA"], minConfidence: $min,
           minTypeConfidence: $tc, compartment: $c) {
           synapses { pre confidence postCompartment } } }"""
    every = ask(client, q, min=0.0, tc=0.0, c=None)["mitoSynapseDistances"]["synapses"]
    sure = ask(client, q, min=0.9, tc=0.0, c=None)["mitoSynapseDistances"]["synapses"]
    assert len(sure) == sum(s["confidence"] >= 0.9 for s in every) < len(every)
    confident = {str(c["id"]) for i, c in enumerate(typed["cells"]) if _confidence(i) >= 0.9}
    typed_sure = ask(client, q, min=0.0, tc=0.9, c=None)["mitoSynapseDistances"]["synapses"]
    assert len(typed_sure) == sum(s["pre"] in confident for s in every)
    onto = ask(client, q, min=0.0, tc=0.0, c="dendrite")["mitoSynapseDistances"]["synapses"]
    assert onto and {s["postCompartment"] for s in onto} == {"dendrite"}
    with pytest.raises(TransportQueryError, match="cellTypes must name at least one"):
        ask(client, q.replace('["TypeA"]', "[]"), min=0.0, tc=0.0, c=None)


def test_neuroglancer_links_show_the_object_with_all_layers(client, typed, api_url):
    body = str(typed["cells"][0]["id"])
    n = ask(
        client,
        """query($id: BodyId!) { neuron(dataset: "phantom", bodyId: $id) { location { x y z }
           neuroglancerUrl synapses(first: 1) {
           nodes { preLocation { x y z } neuroglancerUrl } } } }""",
        id=body,
    )["neuron"]
    prefix, fragment = n["neuroglancerUrl"].split("#!")
    assert prefix == api_url + "/neuroglancer/"
    page = httpx.get(prefix, timeout=30)  # the client the link opens in is served here
    assert page.status_code == 200 and "<script" in page.text
    for script in re.findall(r'src="([^"]+\.js)"', page.text):
        assert httpx.get(prefix + script, timeout=30).status_code == 200, script
    state = json.loads(unquote(fragment))
    assert state["position"] == [n["location"][k] for k in "xyz"]
    assert state["dimensions"]["x"][1] == "m"
    (syn,) = n["synapses"]["nodes"]
    syn_state = json.loads(unquote(syn["neuroglancerUrl"].split("#!")[1]))
    assert syn_state["position"] == [syn["preLocation"][k] for k in "xyz"]


def test_neuroglancer_state_names_the_exported_layers(api_url, typed, cli_env, connectome_bin):
    import subprocess

    subprocess.run([connectome_bin, "export", "precomputed", DS], env=cli_env, check=True,
                   capture_output=True, timeout=600)  # fmt: skip
    body = str(typed["cells"][0]["id"])
    r = httpx.post(api_url + "/graphql", json={"query": '{ neuron(dataset: "phantom", '
                   f'bodyId: "{body}") {{ neuroglancerUrl }} }}'}, timeout=30)  # fmt: skip
    state = json.loads(unquote(r.json()["data"]["neuron"]["neuroglancerUrl"].split("#!")[1]))
    layers = {layer["name"]: layer for layer in state["layers"]}
    assert layers["image"]["source"] == f"precomputed://{api_url}/data/{DS}/image"
    assert layers["segmentation"]["segments"] == [body]
    assert "compartment" in layers["segmentation"]["skeletonRendering"]["shader"]
    assert layers["synapses"]["linkedSegmentationLayer"] == {
        "pre_synaptic_cell": "segmentation", "post_synaptic_cell": "segmentation"}  # fmt: skip
    # every source the state names is served
    for layer in state["layers"]:
        info = layer["source"].removeprefix("precomputed://") + "/info"
        assert httpx.get(info, timeout=30).status_code == 200, info


def test_cypher_round_trips_do_not_grow_with_the_page(api_url, typed):
    def trips(first: int) -> tuple[int, int]:
        query = f"""{{ neurons(dataset: "phantom", first: {first}) {{ nodes {{ bodyId
            mitochondrionCount compartments {{ type }} mitochondria {{ elementId }}
            vesicleClouds {{ elementId }} locationNm {{ x }} neuroglancerUrl
            synapses(first: 5) {{ nodes {{ id preNeuron {{ type }} postNeuron {{ type }} }} }}
            upstream {{ weight neuron {{ size }} }} downstream {{ weight }} }} }} }}"""
        r = httpx.post(api_url + "/graphql", json={"query": query}, timeout=60)
        assert r.status_code == 200 and "errors" not in r.json(), r.text
        return len(r.json()["data"]["neurons"]["nodes"]), int(r.headers["X-Cypher-Round-Trips"])

    (one, trips_one), (many, trips_many) = trips(1), trips(500)
    assert one == 1 and many == len(typed["cells"]) > 5
    # a page, then one batch per DataLoader and level (two levels may share a batch or not,
    # as the event loop schedules them); one query per neuron would add hundreds
    assert trips_many <= trips_one <= 12


def test_deep_costly_and_oversized_queries_are_refused_with_a_clear_message(client, typed):
    deep = '{ neuron(dataset: "phantom", bodyId: "1") { ' + "upstream { neuron { " * 6
    deep += "bodyId" + " } }" * 6 + " } }"
    with pytest.raises(TransportQueryError, match="levels deep; the limit is 12"):
        ask(client, deep)
    costly = """{ neurons(dataset: "phantom", first: 1000) { nodes { upstream { neuron {
                 downstream { neuron { upstream { bodyId } } } } } } } }"""
    with pytest.raises(TransportQueryError, match="could return about .* objects; the limit"):
        ask(client, costly)
    with pytest.raises(TransportQueryError, match="first must be between 1 and 1000"):
        ask(client, '{ synapses(dataset: "phantom", first: 5000) { nodes { id } } }')
    with pytest.raises(TransportQueryError, match="is not a synapse cursor"):
        ask(client, '{ synapses(dataset: "phantom", after: "x") { nodes { id } } }')


def test_reads_run_in_read_transactions(neo4j_settings, typed):
    async def write_through_reader(reader):
        await reader.rows("CREATE (:Intruder) RETURN 1 AS one")

    with pytest.raises(ClientError, match="read"):
        asyncio.run(_with_reader(neo4j_settings, write_through_reader))


def test_the_printed_schema_is_current():
    from api.schema import schema

    printed = Path(__file__).resolve().parents[2] / "api" / "schema.graphql"
    assert printed.read_text() == schema.as_str() + "\n", (
        "api/schema.graphql is stale: run `.venv/bin/python -m api.schema > api/schema.graphql`"
    )


def test_annotations_need_an_admin_token_and_change_the_graph(https_url, tokens, typed):
    body = str(typed["cells"][0]["id"])
    mutation = """mutation($id: BodyId!) { annotateNeurons(dataset: "phantom",
        annotations: [{bodyId: $id, instance: "left", status: "Reviewed"}]) }"""

    def post(token: str, query: str, **variables) -> dict:
        r = httpx.post(
            https_url + "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
            verify=False,
            timeout=30,
        )
        return r.json()

    refused = post(tokens["read"], mutation, id=body)
    assert refused["errors"][0]["message"] == "this needs an admin token"
    assert post(tokens["admin"], mutation, id=body)["data"]["annotateNeurons"] == 1
    neuron = post(tokens["read"], """query($id: BodyId!) { neuron(dataset: "phantom",
        bodyId: $id) { instance status type } }""", id=body)["data"]["neuron"]  # fmt: skip
    assert neuron == {"instance": "left", "status": "Reviewed", "type": typed["cells"][0]["type"]}


def test_a_read_past_its_time_box_stops_with_a_clear_error(neo4j_settings):
    async def slow(reader):
        await reader.rows("UNWIND range(1, 1000000000) AS x RETURN sum(x * x) AS s", timeout_s=0.5)

    with pytest.raises(queries.QueryTimeout, match="longer than 0.5 s"):
        asyncio.run(_with_reader(neo4j_settings, slow))


def test_mito_synapse_rows_come_through_fragments_and_summaries_alone(client, typed):
    rows = ask(
        client,
        """fragment Rows on MitoSynapseAnalysis { synapses { synapseId large } }
        { mitoSynapseDistances(dataset: "phantom", cellTypes: ["TypeA"]) { ...Rows } }""",
    )["mitoSynapseDistances"]["synapses"]
    summary = ask(
        client,
        """{ mitoSynapseDistances(dataset: "phantom", cellTypes: ["TypeA"]) {
             summary { synapses small { n } large { n } } } }""",
    )["mitoSynapseDistances"]["summary"]
    assert rows and summary[0]["synapses"] == len(rows)
    assert summary[0]["large"]["n"] <= sum(r["large"] is True for r in rows)
