"""Tokens and HTTPS over real HTTP servers on loopback: who may read, and the certificate."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from api.auth import TokenStore
from api.tls import TlsError, certificate
from tests.api.conftest import https_app, serving
from tests.conftest import free_port

GRAPHQL = {"query": "{ __typename }"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def https(https_url, tls_files) -> httpx.Client:
    """An HTTPS client that trusts the server's generated certificate (and nothing else)."""
    with httpx.Client(
        base_url=https_url, verify=ssl.create_default_context(cafile=tls_files[0])
    ) as c:
        yield c


@pytest.fixture(scope="module")
def data_file(api_data_dir: Path) -> str:
    """A precomputed file the server may serve under /data/."""
    folder = api_data_dir / "precomputed" / "authtest"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "info").write_text('{"type": "image"}')
    return "/data/authtest/info"


# -- anonymous reads ------------------------------------------------------------------------
def test_reads_need_no_token_when_the_server_binds_loopback(api_url):
    assert httpx.post(api_url + "/graphql", json=GRAPHQL).status_code == 200
    assert httpx.get(api_url + "/api/dbmeta/datasets").status_code == 200
    assert httpx.get(api_url + "/api/serverinfo").json()["IsPublic"] is True


def test_a_bad_token_is_refused_even_when_anonymous_reads_are_on(api_url):
    r = httpx.get(api_url + "/api/dbmeta/datasets", headers=bearer("not-a-token"))
    assert r.status_code == 401
    assert r.json() == {"error": "the token is not valid (mistyped or revoked)"}


def test_a_server_bound_elsewhere_needs_a_token_for_every_read(https, data_file):
    for method, path in [("POST", "/graphql"), ("GET", "/api/dbmeta/datasets"),
                         ("GET", data_file), ("GET", "/")]:  # fmt: skip
        r = https.request(method, path, json=GRAPHQL if method == "POST" else None)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"].startswith("Bearer")
        message = r.json()["error"]
        assert message.startswith("this server needs a token") and message.count(". ") == 0
    assert https.get(data_file).headers["access-control-allow-origin"] == "*"
    assert https.get("/healthz").json() == {"ok": True}
    assert https.get("/api/serverinfo", headers=bearer("x")).status_code == 401


def test_anonymous_reads_can_be_switched_on_for_a_server_bound_elsewhere(
    api_data_dir, neo4j_settings
):
    app = https_app(api_data_dir, neo4j_settings, anonymous_reads=True)
    with serving(app) as url:
        assert httpx.post(url + "/graphql", json=GRAPHQL).status_code == 200


# -- tokens -----------------------------------------------------------------------------------
def test_read_and_admin_tokens_open_graphql_rest_and_data(https, tokens, data_file):
    for token in tokens.values():
        assert https.post("/graphql", json=GRAPHQL, headers=bearer(token)).status_code == 200
        assert https.get("/api/dbmeta/datasets", headers=bearer(token)).status_code == 200
        assert https.get(data_file, headers=bearer(token)).json() == {"type": "image"}


def test_a_browser_cookie_carries_the_token_to_data_and_the_page(https, tokens, data_file):
    cookie = {"Cookie": f"connectome_token={tokens['read']}"}
    r = https.get(data_file, headers=cookie)
    assert r.status_code == 200 and r.json() == {"type": "image"}
    assert https.get("/api/dbmeta/datasets", headers=cookie).status_code == 200
    assert https.get(data_file, headers={"Cookie": "connectome_token=stale"}).status_code == 401


def test_profile_names_the_token_and_its_role(https, tokens):
    assert https.get("/profile", headers=bearer(tokens["admin"])).json()["AuthLevel"] == "admin"
    profile = https.get("/profile", headers=bearer(tokens["read"])).json()
    assert profile["Email"] == "test-read" and profile["AuthLevel"] == "read"


def test_a_revoked_token_is_refused_at_once(https, api_data_dir):
    store = TokenStore(api_data_dir / "tokens.json")
    token, _ = store.create("read", name="short-lived")
    assert https.get("/api/version", headers=bearer(token)).status_code == 200
    store.revoke("short-lived")
    assert https.get("/api/version", headers=bearer(token)).status_code == 401


def test_a_read_token_cannot_write_through_custom_cypher(https, tokens, tiny_dataset):
    count = {"cypher": "MATCH (n:Segment) RETURN count(n) AS c", "dataset": tiny_dataset}
    before = https.post("/api/custom/custom", json=count, headers=bearer(tokens["read"])).json()
    body = {"cypher": "CREATE (n:Segment {bodyId: 1}) RETURN n", "dataset": tiny_dataset}
    r = https.post("/api/custom/custom", json=body, headers=bearer(tokens["read"]))
    assert r.status_code == 403
    assert r.json() == {
        "error": "custom Cypher may only read the graph, and this query writes to it"
    }
    after = https.post("/api/custom/custom", json=count, headers=bearer(tokens["admin"])).json()
    assert after == before == {"columns": ["c"], "data": [[2]]}


def test_a_malformed_authorization_header_gets_one_sentence(https):
    r = https.get("/api/version", headers={"Authorization": "Basic dXNlcjpwdw=="})
    assert r.status_code == 401
    assert r.json() == {"error": "the Authorization header must be 'Bearer <token>'"}


# -- HTTPS ------------------------------------------------------------------------------------
def test_https_certificate_verifies_for_the_loopback_address(https, tls_files):
    cert = x509.load_pem_x509_certificate(tls_files[0].read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert https.get("/healthz").status_code == 200  # verified against cert.pem alone
    with pytest.raises(httpx.ConnectError):  # not trusted by the default CA bundle
        httpx.get(str(https.base_url) + "/healthz")


def test_the_generated_key_is_private_and_reused(tls_files, api_data_dir):
    cert, key = tls_files
    assert key.stat().st_mode & 0o777 == 0o600
    before = cert.read_bytes()
    assert certificate(api_data_dir / "tls", "127.0.0.1") == (cert, key)
    assert cert.read_bytes() == before


def test_a_configured_certificate_is_used_and_a_half_configured_one_refused(tmp_path, tls_files):
    cert, key = tls_files
    assert certificate(tmp_path / "tls", "127.0.0.1", cert, key) == (cert, key)
    assert not (tmp_path / "tls").exists()
    with pytest.raises(TlsError, match="set both"):
        certificate(tmp_path / "tls", "127.0.0.1", cert, None)
    with pytest.raises(TlsError, match="does not exist"):
        certificate(tmp_path / "tls", "127.0.0.1", tmp_path / "nope.pem", key)


def test_connectome_serve_tls_serves_https_with_a_generated_certificate(
    cli_env, connectome_bin, neo4j_settings, tmp_path
):
    env = {
        **cli_env,
        "CONNECTOME_DATA_DIR": str(tmp_path),
        "NEO4J_URI": neo4j_settings.uri,
        "NEO4J_PASSWORD": neo4j_settings.password,
    }
    port = free_port()
    proc = subprocess.Popen(
        [connectome_bin, "serve", "--tls", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        cafile = tmp_path / "tls" / "cert.pem"
        deadline = time.monotonic() + 60
        while True:
            try:
                verify = ssl.create_default_context(cafile=cafile)
                r = httpx.get(f"https://127.0.0.1:{port}/healthz", verify=verify)
                break
            except (httpx.TransportError, FileNotFoundError, ssl.SSLError):
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert r.json() == {"ok": True}
        assert (tmp_path / "tls" / "key.pem").stat().st_mode & 0o777 == 0o600
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert f"https://127.0.0.1:{port}/graphql" in out
    assert "anonymous reads: on" in out
