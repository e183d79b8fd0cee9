"""What the API adds for the web client: the control distances of the mitochondria–synapse
analysis (for its cumulative plot) and the standalone Neuroglancer client, pinned and
preferred over the PyPI wheel's."""

from __future__ import annotations

import io
import statistics
import tarfile
from pathlib import Path

import httpx
import pytest

from api.neuroglancer import NPM_PACKAGE, client_dir, install_client, npm_client_dir
from tests.conftest import PHANTOM_DATASET as DS


def test_the_control_distances_are_the_sample_the_summary_describes(api_url, typed):
    query = """{ mitoSynapseDistances(dataset: "%s", cellTypes: ["TypeA", "TypeB"]) {
        controls { cellType distancesNm } summary { cellType control { n medianNm } } } }"""
    r = httpx.post(api_url + "/graphql", json={"query": query % DS}, timeout=60).json()
    answer = r["data"]["mitoSynapseDistances"]
    controls = {c["cellType"]: c["distancesNm"] for c in answer["controls"]}
    assert list(controls) == ["TypeA", "TypeB"]
    for s in answer["summary"]:
        sample = controls[s["cellType"]]
        assert len(sample) == s["control"]["n"] > 0
        assert statistics.median(sample) == pytest.approx(s["control"]["medianNm"])


def test_a_tarball_that_is_not_the_pinned_client_is_refused(tmp_path: Path):
    fake = tmp_path / "fake.tgz"
    with tarfile.open(fake, "w:gz") as tar:
        page = b"<html></html>"
        member = tarfile.TarInfo("package/dist/min/index.html")
        member.size = len(page)
        tar.addfile(member, io.BytesIO(page))
    with pytest.raises(RuntimeError, match=f"is not {NPM_PACKAGE}"):
        install_client(tmp_path / "cache", fake)
    assert client_dir(tmp_path / "cache") != npm_client_dir(tmp_path / "cache")


def test_the_installed_standalone_client_is_served_before_the_wheels(tmp_path: Path):
    wheel = client_dir(tmp_path / "empty")  # nothing installed there: the wheel's (or none)
    assert wheel is None or wheel.parts[-2:] == ("static", "client")
    installed = npm_client_dir(tmp_path)
    installed.mkdir(parents=True)
    (installed / "index.html").write_text("<script src=main.bundle.js></script>")
    assert client_dir(tmp_path) == installed
