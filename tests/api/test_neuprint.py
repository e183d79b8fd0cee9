"""The real neuprint-python client against our server over HTTPS, on the ingested phantom,
judged by the phantom's ground truth (which ingest never reads)."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import navis
import numpy as np
import pandas as pd
import pytest
import requests
import zarr
from neuprint import (
    Client,
    NeuronCriteria,
    SynapseCriteria,
    fetch_adjacencies,
    fetch_custom,
    fetch_mitochondria,
    fetch_neurons,
    fetch_simple_connections,
    fetch_synapses,
    fetch_synapses_and_closest_mitochondria,
)
from scipy import ndimage

from tests.api.conftest import https_app, serving
from tests.conftest import PHANTOM_DATASET

ALL = NeuronCriteria(label="Segment")
# the server's certificate is self-signed: the clients are told verify=False
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture(scope="module")
def client(https_url, tokens, phantom, phantom_precomputed) -> Client:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Client(
            https_url, dataset=PHANTOM_DATASET, token=tokens["read"], verify=False, progress=False
        )


def truth_counts(truth: dict) -> dict[tuple[int, int], int]:
    pairs = pd.DataFrame(truth["synapses"]).groupby(["pre", "post"]).size()
    return {(int(a), int(b)): int(n) for (a, b), n in pairs.items()}


def nearest_pairs(truth_nm: np.ndarray, found_nm: np.ndarray, within_nm: float) -> list:
    """Greedy one-to-one pairs (truth index, found index) closer than ``within_nm``."""
    if not len(truth_nm) or not len(found_nm):
        return []
    d = np.linalg.norm(truth_nm[:, None, :] - found_nm[None, :, :], axis=2)
    pairs, used = [], set()
    for i, j in zip(*np.unravel_index(np.argsort(d, axis=None), d.shape), strict=True):
        if d[i, j] > within_nm:
            break
        if i in {p[0] for p in pairs} or j in used:
            continue
        pairs.append((int(i), int(j)))
        used.add(j)
    return pairs


# -- connecting -------------------------------------------------------------------------------
def test_neuprint_client_connects_over_https_with_a_token(client):
    assert PHANTOM_DATASET in client.fetch_datasets(reload_cache=True)
    assert client.fetch_server_info() is False  # anonymous reads are off on this server
    assert client.fetch_version() and client.fetch_db_version() == "0.5.0"
    assert client.meta["voxelSize"] == [10, 10, 20] and client.primary_rois == ["whole_volume"]


def test_neuprint_client_without_a_valid_token_is_refused(https_url):
    with pytest.raises(requests.HTTPError, match="401"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = Client(https_url, dataset=PHANTOM_DATASET, token="not-a-token", verify=False)
        c.fetch_datasets(reload_cache=True)  # the constructor may answer from the cache


# -- the judged queries ------------------------------------------------------------------------
def test_fetch_neurons_returns_every_cell_with_its_exact_id_and_size(client, phantom):
    neurons, roi_counts = fetch_neurons(ALL, client=client)
    assert dict(zip(neurons["bodyId"], neurons["size"], strict=True)) == {
        int(c["id"]): c["voxels"] for c in phantom["cells"]
    }
    assert neurons["bodyId"].dtype == np.int64 and (neurons["bodyId"] > 2**53).any()
    assert set(roi_counts["roi"]) == {"whole_volume"}
    default, _ = fetch_neurons(NeuronCriteria(), client=client)  # :Neuron, as neuPrint's default
    assert set(default["bodyId"]) <= set(neurons["bodyId"])


def test_fetch_adjacencies_weights_equal_the_planted_synapse_counts(client, phantom):
    neurons, adjacency = fetch_adjacencies(ALL, ALL, client=client)
    weights = adjacency.groupby(["bodyId_pre", "bodyId_post"])["weight"].sum()
    assert {(int(a), int(b)): int(w) for (a, b), w in weights.items()} == truth_counts(phantom)
    assert len(neurons) == len(phantom["cells"])


def test_fetch_simple_connections_weights_equal_the_planted_synapse_counts(client, phantom):
    edges = fetch_simple_connections(ALL, client=client)
    found = {
        (int(a), int(b)): int(w)
        for a, b, w in edges[["bodyId_pre", "bodyId_post", "weight"]].itertuples(index=False)
    }
    assert found == truth_counts(phantom)


def test_fetch_synapses_finds_every_planted_synapse_of_each_cell(client, phantom):
    # every synapse (confidence 0 means no filter), then neuPrint's default: those above the
    # data set's postHighAccuracyThreshold (the synapse forest gives some real ones less)
    synapses = fetch_synapses(ALL, SynapseCriteria(confidence=0, client=client), client=client)
    default = fetch_synapses(ALL, client=client)
    threshold = client.meta["postHighAccuracyThreshold"]
    assert len(default) == (synapses["confidence"] > threshold).sum()
    vox = np.array(phantom["voxel_size_nm_zyx"][::-1])
    truth = pd.DataFrame(phantom["synapses"])
    matched = 0
    for side in ("pre", "post"):
        found_side = synapses[synapses["type"] == side]
        counts = found_side.groupby("bodyId").size().to_dict()
        assert counts == {int(b): int(n) for b, n in truth.groupby(side).size().items()}
        for body, planted in truth.groupby(side):
            mine = found_side[found_side["bodyId"] == int(body)]
            matched += len(
                nearest_pairs(
                    np.array(planted["position_xyz_vx"].tolist()) * vox,
                    mine[["x", "y", "z"]].to_numpy(float) * vox,
                    within_nm=250.0,
                )
            )
    assert matched >= 0.95 * 2 * len(truth)


def test_fetch_mitochondria_counts_each_cells_mitochondria_exactly(client, phantom):
    mitos = fetch_mitochondria(ALL, client=client)
    found = mitos.groupby("bodyId").size().to_dict()
    truth = pd.Series([int(m["cell"]) for m in phantom["mitochondria"]]).value_counts()
    assert found == {int(k): int(v) for k, v in truth.items()}
    assert (mitos["size"] > 0).all()


def test_closest_mitochondria_are_the_nearest_to_within_a_voxel_diagonal(client, phantom):
    rows = fetch_synapses_and_closest_mitochondria(
        ALL, SynapseCriteria(type="pre", confidence=0, client=client), client=client
    )
    vox_zyx = np.array(phantom["voxel_size_nm_zyx"])
    diagonal = float(np.linalg.norm(vox_zyx))
    mask = zarr.open(str(Path(phantom["path"]) / "labels" / "mitochondria"), mode="r")["0"][:]
    objects, _ = ndimage.label(mask > 0)
    truth = pd.DataFrame([s for s in phantom["synapses"] if s["mito_distance_nm"] is not None])
    assert len(truth) >= 20
    checked = 0
    for body, planted in truth.groupby("pre"):
        mine = rows[rows["bodyId"] == int(body)].reset_index(drop=True)
        pairs = nearest_pairs(
            np.array(planted["position_xyz_vx"].tolist()) * vox_zyx[::-1],
            mine[["x", "y", "z"]].to_numpy(float) * vox_zyx[::-1],
            within_nm=250.0,
        )
        for i, j in pairs:
            row = mine.iloc[j]
            obj = objects[int(row["mz"]), int(row["my"]), int(row["mx"])]
            assert obj, "the mitochondrion's location lies in a mitochondrion"
            voxels_nm = np.argwhere(objects == obj) * vox_zyx
            at = np.array(planted.iloc[i]["position_xyz_vx"][::-1]) * vox_zyx
            nearest = float(np.linalg.norm(voxels_nm - at, axis=1).min())
            assert abs(nearest - planted.iloc[i]["mito_distance_nm"]) <= diagonal
            checked += 1
    assert checked >= 0.95 * len(truth)
    along = rows["distance"].dropna()  # along the skeleton, in voxels; null off the skeleton
    assert len(along) >= 0.5 * len(rows) and (along >= 0).all()


# -- custom Cypher ----------------------------------------------------------------------------
def test_custom_cypher_answers_nodes_relationships_and_points_as_neuprint(client):
    answer = fetch_custom(
        "MATCH (a:Neuron)-[c:ConnectsTo]->(b:Neuron) "
        "RETURN a, c, a.location AS loc, a.bodyId AS id ORDER BY c.weight DESC LIMIT 1",
        format="json",
        client=client,
    )
    assert answer["columns"] == ["a", "c", "loc", "id"]
    ((node, rel, loc, body),) = answer["data"]
    assert node["bodyId"] == body and isinstance(node["roiInfo"], str)
    assert rel["type"] == "ConnectsTo" and rel["weight"] >= 1
    assert isinstance(rel["startNodeId"], int) and isinstance(rel["endNodeId"], int)
    assert loc["type"] == "Point" and loc["crs"]["name"] == "cartesian-3d"
    assert all(isinstance(c, int) for c in loc["coordinates"]) and len(loc["coordinates"]) == 3


def test_custom_cypher_sees_only_the_asked_data_set(client, phantom, tiny_dataset):
    counts = fetch_custom("MATCH (n:Segment) RETURN count(n) AS c", client=client)
    assert counts["c"].tolist() == [len(phantom["cells"])]
    metas = fetch_custom("MATCH (m:Meta) RETURN m.dataset AS d", client=client)
    assert metas["d"].tolist() == [PHANTOM_DATASET]


@pytest.mark.parametrize(
    ("cypher", "says"),
    [
        ("MATCH (n:Neuron) SET n.type = 'x' RETURN n", "this query writes"),
        ("CREATE (n:Neuron {bodyId: 1}) RETURN n", "this query writes"),
        ("MATCH (n:Neuron) DETACH DELETE n", "this query writes"),
        ("LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row", "LOAD CSV is refused"),
        ("CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'DELETE n', {})", "is refused"),
        (
            "CALL apoc.cypher.runTimeboxed('MATCH (n:Neuron) SET n.type = 1', {}, 1000) "
            "YIELD value RETURN value",
            "apoc.cypher.runTimeboxed writes",
        ),
    ],
)
def test_custom_cypher_refuses_writes_with_one_sentence(client, https_url, tokens, cypher, says):
    with pytest.raises(requests.HTTPError) as err:
        fetch_custom(cypher, client=client)
    assert says in str(err.value) and "(403)" in str(err.value)
    # an admin token writes no more than a read token: the endpoint is read-only
    r = requests.post(
        https_url + "/api/custom/custom",
        json={"cypher": cypher, "dataset": PHANTOM_DATASET},
        headers={"Authorization": f"Bearer {tokens['admin']}"},
        verify=False,
    )
    assert r.status_code == 403 and says in r.json()["error"]
    types = fetch_custom("MATCH (n:Neuron) WHERE n.type = 'x' RETURN count(n) AS c", client=client)
    assert types["c"].tolist() == [0]


def test_custom_cypher_gets_a_clear_error_for_bad_cypher_and_unknown_data_sets(https_url, tokens):
    def ask(body: dict) -> requests.Response:
        auth = {"Authorization": f"Bearer {tokens['read']}"}
        return requests.post(
            https_url + "/api/custom/custom", json=body, headers=auth, verify=False
        )

    bad = ask({"cypher": "MATCH (n RETURN n", "dataset": PHANTOM_DATASET})
    assert bad.status_code == 400 and bad.json()["error"].startswith("the Cypher is not valid:")
    unknown = ask({"cypher": "RETURN 1", "dataset": "nope"})
    assert unknown.status_code == 404
    assert unknown.json()["error"].startswith("no data set is named 'nope'; this server has:")


def test_custom_cypher_is_time_boxed_with_a_clear_error(
    api_data_dir, tls_files, tokens, neo4j_settings, phantom
):
    impatient = neo4j_settings.model_copy(update={"query_timeout_s": 1.0})
    with serving(https_app(api_data_dir, impatient), tls=tls_files) as url:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            c = Client(url, dataset=PHANTOM_DATASET, token=tokens["read"], verify=False)
        with pytest.raises(requests.HTTPError, match="Timeout: the query ran longer than"):
            fetch_custom(
                "UNWIND range(1, 1000000000) AS i WITH i WHERE i % 7 = 3 RETURN count(i)",
                client=c,
            )


# -- skeletons ---------------------------------------------------------------------------------
def test_skeleton_swc_is_read_by_navis_with_the_cable_length_of_the_graph(client, phantom):
    neurons, _ = fetch_neurons(ALL, client=client)
    body, cable_nm = neurons.sort_values("bodyId").iloc[-1][["bodyId", "cableLengthNm"]]
    swc = client.fetch_skeleton(int(body), format="swc")
    skeleton = navis.read_swc(io.StringIO(swc))
    nodes = skeleton.nodes.set_index("node_id")
    xyz_nm = nodes[["x", "y", "z"]].to_numpy() * np.array(phantom["voxel_size_nm_zyx"][::-1])
    index = {n: k for k, n in enumerate(nodes.index)}
    child = [index[n] for n, p in zip(nodes.index, nodes["parent_id"], strict=True) if p >= 0]
    parent = [index[p] for p in nodes["parent_id"] if p >= 0]
    length = float(np.linalg.norm(xyz_nm[child] - xyz_nm[parent], axis=1).sum())
    assert length == pytest.approx(float(cable_nm), rel=1e-3)
    assert skeleton.n_nodes > 100 and set(nodes["label"]) <= {0, 1, 2, 3, 4}
    table = client.fetch_skeleton(int(body))  # neuprint-python parses the same SWC
    assert len(table) == skeleton.n_nodes


def test_skeleton_answers_neuprints_json_table_and_clear_errors(https_url, tokens, client):
    auth = {"Authorization": f"Bearer {tokens['read']}"}
    body = int(fetch_custom("MATCH (n:Neuron) RETURN max(n.bodyId) AS b", client=client)["b"][0])
    base = f"{https_url}/api/skeletons/skeleton/{PHANTOM_DATASET}"
    table = requests.get(f"{base}/{body}", headers=auth, verify=False).json()
    assert table["columns"] == ["rowId", "x", "y", "z", "radius", "link"]
    assert table["data"][0][0] == 1 and table["data"][0][-1] == -1
    missing = requests.get(f"{base}/12", headers=auth, verify=False)
    assert missing.status_code == 404
    assert missing.json() == {"error": "body 12 of data set 'phantom' has no skeleton"}
    bad = requests.get(f"{base}/x1", headers=auth, verify=False)
    assert bad.status_code == 400 and bad.json() == {
        "error": "body id 'x1' is not a 64-bit integer"
    }
