"""The managed local Neo4j: idempotent start, status, env lines, and clear setup errors."""

from __future__ import annotations

import socket
import subprocess

import pytest

from graph.local import LocalNeo4j, Neo4jSetupError
from graph.settings import LocalNeo4jSettings


def test_start_is_idempotent_and_status_shows_version_apoc_and_size(neo4j_server: LocalNeo4j):
    lines: list[str] = []
    uri = neo4j_server.start(echo=lines.append)
    assert uri == neo4j_server.uri
    assert lines == [f"neo4j already running at {uri}"]
    status = neo4j_server.status()
    assert status.running and status.version.startswith("5.26")
    assert status.apoc and status.apoc.startswith("5.26")
    assert status.data_size_bytes > 0


def test_env_prints_export_lines_with_the_generated_password(neo4j_server: LocalNeo4j):
    lines = neo4j_server.env_lines()
    assert lines[0] == f"export NEO4J_URI={neo4j_server.uri}"
    assert lines[1] == "export NEO4J_USERNAME=neo4j"
    assert lines[2] == f"export NEO4J_PASSWORD={neo4j_server.password()}"
    mode = neo4j_server.settings.credentials_file.stat().st_mode & 0o777
    assert mode == 0o600


def test_a_taken_port_is_one_clear_sentence(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = LocalNeo4j(LocalNeo4jSettings(data_dir=tmp_path, bolt_port=port))
        with pytest.raises(Neo4jSetupError, match=f"port {port} on 127.0.0.1 is already in use"):
            server.start(echo=lambda *_: None)


def test_missing_java_is_one_clear_sentence(tmp_path, cli_env, connectome_bin):
    env = dict(cli_env, CONNECTOME_DATA_DIR=str(tmp_path), PATH="/nonexistent")
    proc = subprocess.run(
        [connectome_bin, "neo4j", "start"], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "connectome neo4j: Java 17 or newer is needed to run Neo4j but `java` is not on PATH; "
        "install a JDK (apt install openjdk-17-jre-headless)"
    ]


def test_cli_status_and_env_use_the_data_dir(cli_env, connectome_bin, neo4j_server):
    out = subprocess.run(
        [connectome_bin, "neo4j", "status"], env=cli_env, capture_output=True, text=True, check=True
    ).stdout
    assert "running" in out and "apoc:      5.26" in out
    env_out = subprocess.run(
        [connectome_bin, "neo4j", "env"], env=cli_env, capture_output=True, text=True, check=True
    ).stdout
    assert f"export NEO4J_URI={neo4j_server.uri}" in env_out


def test_generated_passwords_never_look_like_options_to_neo4j_admin(tmp_path):
    # neo4j-admin's parser reads an argument starting with "-" as an option
    for k in range(200):
        server = LocalNeo4j(LocalNeo4jSettings(data_dir=tmp_path / str(k)))
        assert not server.password().startswith("-")
