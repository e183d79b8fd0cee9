"""The precomputed file router: served over real HTTP on loopback with CORS and content types,
read through it by cloud-volume, and refusing every way out of the data root."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from cloudvolume import CloudVolume
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.precomputed import precomputed_router
from ingest.precomputed import Annotations, write_dataset

BIG = 2**53 + 1
VOXEL_NM_ZYX = (40.0, 8.0, 8.0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def labels_zyx() -> np.ndarray:
    labels = np.zeros((4, 6, 8), np.uint64)
    labels[1:3, 1:5, 2:7] = BIG
    labels[0, 0, 0] = 5
    return labels


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, labels_zyx: np.ndarray) -> Path:
    root = tmp_path_factory.mktemp("precomputed")
    vertices = np.array([[0, 0, 0], [80, 0, 0], [0, 80, 0]], np.float32)
    write_dataset(
        root / "tiny",
        voxel_size_nm_zyx=VOXEL_NM_ZYX,
        raw_zyx=np.arange(4 * 6 * 8, dtype=np.uint8).reshape(4, 6, 8),
        labels_zyx=labels_zyx,
        meshes={BIG: (vertices, np.array([[0, 1, 2]], np.uint32))},
        annotations={
            "mitochondria": Annotations(
                "mitochondrion", np.array([[3.0, 2.0, 1.0]]), np.array([1]), {}, {"cell": [BIG]}
            )
        },
        chunk_xyz=(4, 4, 2),
    )
    (root / "secret.txt").write_text("outside every data set")
    (root / "tiny" / ".hidden").write_text("a temporary of an atomic write")
    return root


@pytest.fixture(scope="module")
def client(root: Path) -> TestClient:
    app = FastAPI()
    app.include_router(precomputed_router(root))
    return TestClient(app)


@pytest.fixture(scope="module")
def server_url(root: Path) -> Iterator[str]:
    """The router in an app served by uvicorn on a free loopback port, in a thread."""
    app = FastAPI()
    app.include_router(precomputed_router(root))
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


def test_info_is_served_as_json_with_cors_over_real_http(server_url):
    r = httpx.get(server_url + "/data/tiny/segmentation/info")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["access-control-allow-origin"] == "*"
    assert r.json()["data_type"] == "uint64"


def test_a_chunk_is_served_as_octet_stream_byte_for_byte(server_url, root):
    r = httpx.get(server_url + "/data/tiny/image/8_8_40/4-8_4-6_2-4")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["access-control-allow-origin"] == "*"
    assert "content-encoding" not in r.headers  # stored and served uncompressed
    assert r.content == (root / "tiny" / "image" / "8_8_40" / "4-8_4-6_2-4").read_bytes()


def test_cloudvolume_reads_the_segmentation_and_a_mesh_through_the_api(server_url, labels_zyx):
    vol = CloudVolume(
        f"precomputed://{server_url}/data/tiny/segmentation", mip=0, progress=False, cache=False
    )
    assert list(vol.resolution) == [8, 8, 40]
    got = np.asarray(vol[:, :, :])[..., 0]
    np.testing.assert_array_equal(got, labels_zyx.transpose(2, 1, 0))
    mesh = vol.mesh.get(BIG, remove_duplicate_vertices=False)
    assert mesh.vertices.tolist() == [[0, 0, 0], [80, 0, 0], [0, 80, 0]]


def test_the_data_set_index_and_mesh_manifests_are_json(client):
    layers = client.get("/data/tiny/layers.json")
    assert layers.headers["content-type"] == "application/json"
    assert [layer["name"] for layer in layers.json()["layers"]] == [
        "image",
        "segmentation",
        "mitochondria",
    ]
    manifest = client.get(f"/data/tiny/segmentation/mesh/{BIG}:0")
    assert manifest.headers["content-type"] == "application/json"
    assert manifest.json() == {"fragments": [str(BIG)]}


def test_an_annotation_file_for_an_id_above_2_53_is_served(client, root):
    r = client.get(f"/data/tiny/mitochondria/rel_cell/{BIG}")
    assert r.status_code == 200
    assert r.content == (root / "tiny" / "mitochondria" / "rel_cell" / str(BIG)).read_bytes()


def test_a_byte_range_is_honoured(client, root):
    r = client.get("/data/tiny/image/8_8_40/0-4_0-4_0-2", headers={"Range": "bytes=2-5"})
    assert r.status_code == 206
    assert r.content == (root / "tiny" / "image" / "8_8_40" / "0-4_0-4_0-2").read_bytes()[2:6]


def test_head_answers_without_a_body(client):
    r = client.head("/data/tiny/segmentation/info")
    assert r.status_code == 200 and r.content == b""
    assert int(r.headers["content-length"]) > 0


def test_a_cors_preflight_is_answered(client):
    r = client.options(
        "/data/tiny/image/info",
        headers={
            "Origin": "https://neuroglancer-demo.appspot.com",
            "Access-Control-Request-Method": "GET",
        },
    )
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "*"
    assert "GET" in r.headers["access-control-allow-methods"]


@pytest.mark.parametrize(
    "path",
    [
        "/data/tiny/%2E%2E/secret.txt",
        "/data/tiny/..%2Fsecret.txt",
        "/data/tiny/image/%2E%2E/%2E%2E/secret.txt",
        "/data/tiny/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/data/%2E%2E/secret.txt",
        "/data/tiny/.hidden",
        "/data/tiny//image/info",
        "/data/tiny/image",  # a directory, not a file
        "/data/tiny/",
        "/data/1tiny/info",
        "/data/tiny/no/such/file",
    ],
)
def test_paths_outside_the_data_or_not_files_are_404_with_cors(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert r.headers["access-control-allow-origin"] == "*"
    assert "outside" not in r.text and "temporary" not in r.text


def test_raw_dot_dot_segments_on_the_wire_are_refused(server_url):
    """httpx would normalise ``..`` away; send the request line byte for byte."""
    host, port = server_url.removeprefix("http://").split(":")
    for target in ("/data/tiny/../secret.txt", "/data/tiny/image/../../secret.txt"):
        with socket.create_connection((host, int(port)), timeout=10) as s:
            s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        assert reply.split(b"\r\n", 1)[0].split()[1] == b"404", target
        assert b"outside every data set" not in reply


def test_a_symlink_leading_out_of_the_data_set_is_refused(client, root, tmp_path):
    (tmp_path / "elsewhere").write_text("not served")
    link = root / "tiny" / "link"
    link.symlink_to(tmp_path / "elsewhere")
    try:
        assert client.get("/data/tiny/link").status_code == 404
    finally:
        link.unlink()


def test_a_served_info_is_the_file_on_disk(client, root):
    r = client.get("/data/tiny/mitochondria/info")
    assert r.json() == json.loads((root / "tiny" / "mitochondria" / "info").read_text())
