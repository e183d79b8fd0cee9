"""Shared fixtures: one real Neo4j for the whole test session, started by the project."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.local import LocalNeo4j
from graph.settings import LocalNeo4jSettings, Neo4jSettings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNeo4j]:
    """A managed Neo4j in a fresh data dir on a free loopback port (stopped at the end)."""
    local = LocalNeo4jSettings(data_dir=tmp_path_factory.mktemp("data"), bolt_port=free_port(),
                               heap="768m", pagecache="256m")
    server = LocalNeo4j(local)
    server.start(echo=lambda *_: None)
    yield server
    server.stop(echo=lambda *_: None)


@pytest.fixture(scope="session")
def neo4j_settings(neo4j_server: LocalNeo4j) -> Neo4jSettings:
    return Neo4jSettings(uri=neo4j_server.uri, password=neo4j_server.password())


@pytest.fixture
def cli_env(neo4j_server: LocalNeo4j) -> dict[str, str]:
    """Environment for running the `connectome` command against the session's Neo4j."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
    env["CONNECTOME_DATA_DIR"] = str(neo4j_server.settings.data_dir)
    env["CONNECTOME_NEO4J_BOLT_PORT"] = str(neo4j_server.settings.bolt_port)
    return env


@pytest.fixture
def connectome_bin() -> str:
    return str(Path(sys.executable).parent / "connectome")
