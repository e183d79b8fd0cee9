"""`connectome serve --workers N`: several API processes behind one port, each building the
app from the settings the command hands them through the environment."""

from __future__ import annotations

import subprocess
import time

import httpx

from tests.conftest import free_port

QUERY = '{ neurons(dataset: "tiny") { nodes { bodyId pre post downstream { bodyId weight } } } }'


def test_two_worker_processes_answer_graphql_from_the_same_graph(
    cli_env, connectome_bin, tiny_dataset
):
    port = free_port()
    server = subprocess.Popen(
        [connectome_bin, "serve", "--port", str(port), "--workers", "2"],
        env=cli_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        answers = [httpx.post(url + "/graphql", json={"query": QUERY}).json() for _ in range(20)]
        assert all(a == answers[0] for a in answers)
        cells = {n["bodyId"]: n for n in answers[0]["data"]["neurons"]["nodes"]}
        assert set(cells) == {str(2**53 + 7), "12"}  # tests.volumes.two_cells_with_synapse
        pre = next(n for n in cells.values() if n["pre"] == 1)
        assert pre["downstream"] == [{"bodyId": next(b for b in cells if cells[b] is not pre),
                                      "weight": 1}]  # fmt: skip
        workers = subprocess.run(
            ["pgrep", "-P", str(server.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(workers) >= 2, "uvicorn did not start two worker processes"
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_zero_workers_is_refused_in_one_sentence(cli_env, connectome_bin):
    done = subprocess.run(
        [connectome_bin, "serve", "--workers", "0"], env=cli_env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "connectome serve: --workers must be at least 1, not 0"
