"""Fixtures of the API tests: the real app over HTTPS (its generated certificate) with tokens."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from api.app import create_app
from api.auth import TokenStore
from api.settings import ApiSettings
from api.tls import certificate
from graph.settings import Neo4jSettings
from tests.conftest import PHANTOM_DATASET, free_port


@contextmanager
def serving(app: FastAPI, tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its URL."""
    port = free_port()
    ssl: dict[str, Any] = {}
    if tls is not None:
        ssl = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])}
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **ssl)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def api_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HTTPS server's data dir: tokens.json, tls/, precomputed/."""
    return tmp_path_factory.mktemp("api-data")


@pytest.fixture(scope="session")
def tls_files(api_data_dir: Path) -> tuple[Path, Path]:
    """The self-signed certificate and key generated on first use."""
    return certificate(api_data_dir / "tls", "127.0.0.1")


@pytest.fixture(scope="session")
def tokens(api_data_dir: Path) -> dict[str, str]:
    """A read token and an admin token of the HTTPS server."""
    store = TokenStore(api_data_dir / "tokens.json")
    return {role: store.create(role, name=f"test-{role}")[0] for role in ("read", "admin")}


def https_app(data_dir: Path, neo4j: Neo4jSettings, **settings: Any) -> FastAPI:
    """The app as ``connectome serve --tls --host 0.0.0.0`` makes it: no anonymous reads."""
    return create_app(ApiSettings(host="0.0.0.0", data_dir=data_dir, **settings), neo4j)


@pytest.fixture(scope="session")
def https_url(
    api_data_dir: Path, tls_files: tuple[Path, Path], tokens: dict[str, str], neo4j_settings
) -> Iterator[str]:
    """The real app over HTTPS with its generated certificate; tokens needed for reads."""
    with serving(https_app(api_data_dir, neo4j_settings), tls=tls_files) as url:
        yield url


@pytest.fixture(scope="session")
def phantom_precomputed(phantom, api_data_dir: Path, cli_env, connectome_bin) -> Path:
    """The phantom's precomputed files (with skeletons) in the HTTPS server's data dir."""
    out = api_data_dir / "precomputed"
    subprocess.run(
        [connectome_bin, "export", "precomputed", PHANTOM_DATASET, str(out)],
        env=cli_env,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return out / PHANTOM_DATASET
