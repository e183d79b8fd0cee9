"""`connectome token create | list | revoke` through the real command."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from api.auth import TokenStore, token_hash


@pytest.fixture()
def run(tmp_path, connectome_bin):
    env = {**os.environ, "CONNECTOME_DATA_DIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [connectome_bin, "token", *args], env=env, capture_output=True, text=True, timeout=60
        )

    return run


def test_token_create_prints_a_token_once_and_stores_only_its_hash(run, tmp_path):
    proc = run("create", "--role", "admin", "--name", "ops")
    assert proc.returncode == 0, proc.stderr
    (token,) = proc.stdout.split()
    assert len(token) >= 40
    stored = (tmp_path / "tokens.json").read_text()
    assert token not in stored
    (row,) = json.loads(stored)["tokens"]
    assert row["sha256"] == token_hash(token) and row["role"] == "admin" and row["name"] == "ops"
    assert (tmp_path / "tokens.json").stat().st_mode & 0o777 == 0o600
    assert TokenStore(tmp_path / "tokens.json").lookup(token).role == "admin"


def test_token_list_shows_names_and_roles_and_revoke_removes_one(run):
    assert run("create", "--role", "read", "--name", "alice").returncode == 0
    second = run("create", "--role", "read")
    assert second.returncode == 0
    listed = [line.split("\t")[:2] for line in run("list").stdout.splitlines()]
    assert listed == [["alice", "read"], ["read-1", "read"]]
    assert run("revoke", "alice").returncode == 0
    assert [line.split("\t")[0] for line in run("list").stdout.splitlines()] == ["read-1"]


def test_token_mistakes_are_one_sentence_and_exit_status_2(run):
    assert run("create", "--role", "read", "--name", "bob").returncode == 0
    taken = run("create", "--role", "read", "--name", "bob")
    assert taken.returncode == 2
    assert taken.stderr.strip() == (
        "connectome token: a token named 'bob' exists already; revoke it or pick another name"
    )
    missing = run("revoke", "carol")
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "no token is named 'carol'" in missing.stderr
    assert run("create", "--role", "owner").returncode == 2  # argparse names the choices
