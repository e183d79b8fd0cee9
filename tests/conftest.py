"""Shared fixtures: one real Neo4j for the whole test session, started by the project."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.local import LocalNeo4j
from graph.settings import LocalNeo4jSettings, Neo4jSettings

PHANTOM_DATASET = "phantom"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNeo4j]:
    """A managed Neo4j in a fresh data dir on a free loopback port (stopped at the end)."""
    local = LocalNeo4jSettings(
        data_dir=tmp_path_factory.mktemp("data"),
        bolt_port=free_port(),
        heap="768m",
        pagecache="256m",
    )
    server = LocalNeo4j(local)
    server.start(echo=lambda *_: None)
    yield server
    server.stop(echo=lambda *_: None)


@pytest.fixture(scope="session")
def neo4j_settings(neo4j_server: LocalNeo4j) -> Neo4jSettings:
    return Neo4jSettings(uri=neo4j_server.uri, password=neo4j_server.password())


@pytest.fixture(scope="session")
def cli_env(neo4j_server: LocalNeo4j) -> dict[str, str]:
    """Environment for running the `connectome` command against the session's Neo4j."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    env["CONNECTOME_DATA_DIR"] = str(neo4j_server.settings.data_dir)
    env["CONNECTOME_NEO4J_BOLT_PORT"] = str(neo4j_server.settings.bolt_port)
    return env


@pytest.fixture(scope="session")
def connectome_bin() -> str:
    return str(Path(sys.executable).parent / "connectome")


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory, neo4j_settings: Neo4jSettings) -> str:
    """Two cells with one synapse (tests.volumes.two_cells_with_synapse) loaded as 'tiny'."""
    import numpy as np

    from graph.load import load
    from ingest.pipeline import run_stages
    from ingest.settings import IngestSettings
    from ingest.volume import open_volume
    from tests.volumes import two_cells_with_synapse, write_volume

    folder = tmp_path_factory.mktemp("tiny")
    labels = two_cells_with_synapse()
    write_volume(folder / "v.zarr", np.zeros(labels["cells"].shape, np.uint8), labels)
    tables = run_stages(
        open_volume(folder / "v.zarr"),
        "tiny",
        IngestSettings(data_dir=folder, min_neuron_voxels=10),
        progress=False,
    )
    load(tables, neo4j_settings)
    return "tiny"


@pytest.fixture(scope="session")
def api_url(neo4j_settings: Neo4jSettings, neo4j_server: LocalNeo4j) -> Iterator[str]:
    """The real app served by uvicorn on a free loopback port, in a background thread."""
    import threading
    import time

    import httpx
    import uvicorn

    from api.app import create_app
    from api.settings import ApiSettings

    port = free_port()
    data_dir = neo4j_server.settings.data_dir  # the same data dir as the CLI tests use
    app = create_app(ApiSettings(port=port, data_dir=data_dir), neo4j_settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    yield url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="session")
def phantom(tmp_path_factory, cli_env, connectome_bin) -> dict:
    """The demo-sized phantom (seed 3, 64 x 256 x 256) ingested through the `connectome`
    command as data set `phantom`; its ground truth with `path` and the ingest's `stderr` and
    `stdout`."""
    out = tmp_path_factory.mktemp("phantom") / "p.zarr"
    subprocess.run(
        [connectome_bin, "phantom", str(out), "--seed", "3", "--shape", "64", "256", "256"],
        env=cli_env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    proc = subprocess.run(
        [connectome_bin, "ingest", str(out), "--dataset", PHANTOM_DATASET],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    truth = json.loads((out / "ground_truth.json").read_text())
    truth["path"], truth["stderr"], truth["stdout"] = out, proc.stderr, proc.stdout
    return truth


def train_quick(name: str, out: Path) -> None:
    """Run ``connectome train NAME --quick --out OUT`` and check that it wrote ``out``."""
    bin_ = str(Path(sys.executable).parent / "connectome")
    proc = subprocess.run([bin_, "train", name, "--quick", "--quiet", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"wrote {out}" in proc.stdout


def type_confidence(i: int) -> float:
    """The type confidence the `typed` fixture gives the i-th phantom cell."""
    return 0.95 if i % 2 == 0 else 0.6


async def with_reader(neo4j_settings, work):
    """Run ``work(reader)`` with a query-library reader on the test Neo4j."""
    from graph import queries

    driver = queries.async_driver(neo4j_settings)
    try:
        return await work(queries.Reader(driver))
    finally:
        await driver.close()


@pytest.fixture(scope="session")
def typed(phantom, neo4j_settings) -> dict:
    """The phantom with each cell's planted type (confidence 0.95 or 0.6, alternating)."""
    rows = [
        {"bodyId": int(c["id"]), "type": c["type"], "typeConfidence": type_confidence(i)}
        for i, c in enumerate(phantom["cells"])
    ]
    from graph.queries import annotate_neurons

    updated = asyncio.run(
        with_reader(neo4j_settings, lambda r: annotate_neurons(r, PHANTOM_DATASET, rows))
    )
    assert updated == len(rows)
    return phantom
