"""The GraphQL API over real HTTP, asked by the gql client, against the real Neo4j."""

from __future__ import annotations

import httpx
import pytest
from gql import Client, GraphQLRequest, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.requests import RequestsHTTPTransport

A, B = 2**53 + 7, 12


@pytest.fixture(scope="module")
def client(api_url, tiny_dataset):
    transport = RequestsHTTPTransport(url=api_url + "/graphql", timeout=30)
    with Client(transport=transport, fetch_schema_from_transport=True) as session:
        yield session


def test_body_ids_above_2_53_cross_graphql_as_exact_strings(client):
    data = client.execute(
        gql("""{ neurons(dataset: "tiny") { totalCount
        nodes { bodyId size pre post } pageInfo { hasNextPage } } }""")
    )
    ids = [n["bodyId"] for n in data["neurons"]["nodes"]]
    assert str(A) in ids and str(B) in ids
    assert data["neurons"]["totalCount"] == 2


def test_neurons_are_paged_with_cursors(client):
    q = gql("""query($after: String) { neurons(dataset: "tiny", first: 1, after: $after) {
        edges { cursor node { bodyId } } pageInfo { hasNextPage endCursor } } }""")
    first = client.execute(q)["neurons"]
    assert first["pageInfo"]["hasNextPage"] is True
    after = {"after": first["pageInfo"]["endCursor"]}
    second = client.execute(GraphQLRequest(q, variable_values=after))["neurons"]
    assert second["pageInfo"]["hasNextPage"] is False
    seen = [e["node"]["bodyId"] for e in first["edges"] + second["edges"]]
    assert sorted(seen) == sorted([str(A), str(B)])


def test_neuron_lists_partners_with_weights(client):
    q = gql("""query($id: BodyId!) { neuron(dataset: "tiny", bodyId: $id) {
        bodyId mitochondrionCount downstream { bodyId weight neuron { post } }
        upstream { bodyId weight } } }""")
    a = client.execute(GraphQLRequest(q, variable_values={"id": str(A)}))["neuron"]
    assert a["downstream"] == [{"bodyId": str(B), "weight": 1, "neuron": {"post": 1}}]
    assert a["upstream"] == [] and a["mitochondrionCount"] == 1
    b = client.execute(GraphQLRequest(q, variable_values={"id": str(B)}))["neuron"]
    assert b["upstream"] == [{"bodyId": str(A), "weight": 1}]


def test_synapses_carry_the_mitochondrion_distance(client):
    data = client.execute(
        GraphQLRequest(
            """query($pre: BodyId!) { synapses(dataset: "tiny", filter: {preBodyIds: [$pre]}) {
        nodes { pre post confidence synapseType mitoDistanceNm
        closestMitochondrion { euclideanNm } preLocation { x y z } } } }""",
            variable_values={"pre": str(A)},
        )
    )
    (syn,) = data["synapses"]["nodes"]
    assert (syn["pre"], syn["post"]) == (str(A), str(B))
    assert syn["synapseType"] == "asymmetric" and syn["confidence"] > 0.9
    assert syn["mitoDistanceNm"] == pytest.approx((95**2 + 5**2 + 10**2) ** 0.5)
    assert syn["preLocation"] == {"x": 14.0, "y": 16.0, "z": 4.0}


def test_unknown_neuron_is_null_and_bad_input_is_a_clear_error(client):
    q = gql("""query($id: BodyId!) { neuron(dataset: "tiny", bodyId: $id) { bodyId } }""")
    assert client.execute(GraphQLRequest(q, variable_values={"id": "1"}))["neuron"] is None
    with pytest.raises(TransportQueryError, match="not a decimal 64-bit unsigned integer"):
        client.execute(GraphQLRequest(q, variable_values={"id": "abc"}))
    with pytest.raises(TransportQueryError, match="data set name 'no such' is not allowed"):
        client.execute(gql('{ neurons(dataset: "no such") { totalCount } }'))
    with pytest.raises(TransportQueryError, match="first must be between 1 and"):
        client.execute(gql('{ neurons(dataset: "tiny", first: 100000) { totalCount } }'))


def test_cypher_round_trips_do_not_grow_with_the_neurons_returned(api_url, tiny_dataset):
    def trips(first: int) -> int:
        r = httpx.post(
            api_url + "/graphql",
            json={
                "query": f"""{{ neurons(dataset: "tiny", first: {first}) {{
            nodes {{ bodyId mitochondrionCount upstream {{ weight neuron {{ size }} }}
            downstream {{ weight }} }} }} }}"""
            },
        )
        assert r.status_code == 200 and "errors" not in r.json()
        return int(r.headers["X-Cypher-Round-Trips"])

    # page + count + one batch per DataLoader level; an N+1 pattern would add one per neuron
    assert trips(2) <= trips(1) <= 7


def test_graphiql_and_the_web_client_are_served(api_url):
    assert (
        "graphiql" in httpx.get(api_url + "/graphql", headers={"Accept": "text/html"}).text.lower()
    )
    page = httpx.get(api_url + "/")
    assert page.status_code == 200 and "/graphql" in page.text
