"""Reports over real HTTP: start one, follow it, fetch its files; tokens where anonymous reads
are off; one sentence for bad input."""

from __future__ import annotations

import json
import subprocess
import time

import httpx
import pytest

from api.app import create_app
from api.auth import TokenStore
from api.reports import KINDS, alive
from api.settings import ApiSettings
from reports.options import KINDS as REPORT_KINDS
from tests.api.conftest import serving
from tests.reports.conftest import html_figures, ink, pdf_pages


def finished(client: httpx.Client, url: str, timeout_s: float = 120) -> dict:
    """Poll a report's status until it is no longer running."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = client.get(url).json()
        if status["state"] != "running":
            return status
        time.sleep(0.3)
    raise AssertionError(f"the report at {url} did not finish in {timeout_s} s")


def test_the_api_knows_every_report_kind():
    assert KINDS == tuple(REPORT_KINDS)


def test_a_report_started_over_http_is_served_when_done(typed, api_url, tmp_path):
    with httpx.Client(base_url=api_url, timeout=30) as client:
        started = client.post("/reports/mito-synapse", params={"dataset": "phantom"},
                              json={"cell_types": ["TypeA", "TypeB"],
                                    "min_synapse_confidence": 0.5})  # fmt: skip
        assert started.status_code == 202
        body = started.json()
        assert body["state"] == "running" and body["url"] == f"/reports/{body['id']}"
        status = finished(client, body["url"])
        assert status["state"] == "done", status
        assert status["kind"] == "mito-synapse" and status["dataset"] == "phantom"
        assert status["by"] == "anonymous"
        files = status["files"]
        doc = client.get(files["report.json"])
        assert doc.headers["content-type"] == "application/json"
        numbers = doc.json()
        assert numbers["filters"]["min_synapse_confidence"] == 0.5
        assert numbers["cell_types"]["TypeA"]["ks_small_vs_large"]["pvalue"] < 0.01
        page = client.get(files["report.html"])
        assert page.headers["content-type"].startswith("text/html")
        assert len(html_figures(page.text)) == 2
        pdf = client.get(files["report.pdf"])
        assert pdf.headers["content-type"] == "application/pdf"
        (tmp_path / "r.pdf").write_bytes(pdf.content)
        pages = pdf_pages(tmp_path / "r.pdf", tmp_path)
        assert len(pages) == 3 and all(ink(p) > 0.005 for p in pages)


@pytest.mark.parametrize(
    ("path", "params", "body", "code", "sentence"),
    [
        ("/reports/nosuch", {"dataset": "phantom"}, None, 404,
         "no report is called 'nosuch'; there are: mito-synapse, connectivity"),
        ("/reports/connectivity", {"dataset": "no such"}, None, 400,
         "data set name 'no such' is not allowed"),
        ("/reports/connectivity", {"dataset": "phantom"}, {"out": "/etc"}, 400,
         "'out' is not a report option"),
        ("/reports/connectivity", {"dataset": "phantom"}, {"min_weight": {"a": 1}}, 400,
         "option 'min_weight' must be a number, a string or a list of them"),
    ],
)  # fmt: skip
def test_a_bad_request_is_refused_with_one_sentence(api_url, path, params, body, code, sentence):
    answer = httpx.post(api_url + path, params=params, json=body, timeout=30)
    assert answer.status_code == code
    assert answer.json()["error"].startswith(sentence)


@pytest.mark.parametrize(
    ("kind", "dataset", "body", "sentence"),
    [
        ("connectivity", "nosuch", {}, "no data set is named 'nosuch'; loaded: "),
        ("mito-synapse", "phantom", {"cell_types": ["TypeZ"]},
         "no neuron of data set 'phantom' has cell type 'TypeZ'; its types: TypeA, TypeB"),
    ],
)  # fmt: skip
def test_a_failed_report_says_why_in_one_sentence(typed, api_url, kind, dataset, body, sentence):
    with httpx.Client(base_url=api_url, timeout=30) as client:
        started = client.post(f"/reports/{kind}", params={"dataset": dataset}, json=body)
        assert started.status_code == 202
        status = finished(client, started.json()["url"])
        assert status["state"] == "failed" and status["files"] == {}
        assert status["error"].startswith(sentence) and "\n" not in status["error"]
        answer = client.get(started.json()["url"] + "/report.html")
        assert answer.status_code == 409
        assert answer.json()["error"].endswith(status["error"])


def test_unknown_report_ids_and_file_names_are_404(api_url):
    assert httpx.get(api_url + "/reports/0123").status_code == 404
    assert httpx.get(api_url + "/reports/..%2F..%2Fetc").status_code == 404
    assert httpx.get(api_url + "/reports/" + "0" * 32 + "/report.json").status_code == 404


def test_without_anonymous_reads_a_report_needs_a_token(typed, neo4j_settings, tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    reader, _ = store.create("read", name="reader")
    settings = ApiSettings(host="0.0.0.0", data_dir=tmp_path)  # not loopback: tokens needed
    assert not settings.anonymous_reads_allowed
    with serving(create_app(settings, neo4j_settings)) as url:
        with httpx.Client(base_url=url, timeout=30) as client:
            refused = client.post("/reports/connectivity", params={"dataset": "phantom"})
            assert refused.status_code == 401
            assert not (tmp_path / "reports").exists()
            auth = {"Authorization": f"Bearer {reader}"}
            started = client.post("/reports/connectivity", params={"dataset": "phantom"},
                                  headers=auth)  # fmt: skip
            assert started.status_code == 202
            url_ = started.json()["url"]
            assert client.get(url_).status_code == 401
            client.headers.update(auth)
            status = finished(client, url_)
            assert status["state"] == "done" and status["by"] == "reader"
            doc = client.get(status["files"]["report.json"]).json()
            assert doc["total_synapses"] == len(typed["synapses"])
    request = json.loads((tmp_path / "reports" / status["id"] / "request.json").read_text())
    assert request["by"] == "reader" and request["kind"] == "connectivity"


def test_a_third_report_at_once_is_refused_until_one_is_done(typed, api_url):
    with httpx.Client(base_url=api_url, timeout=30) as client:
        start = [client.post("/reports/connectivity", params={"dataset": "phantom"})
                 for _ in range(3)]  # fmt: skip
        assert [s.status_code for s in start] == [202, 202, 429]
        assert start[2].json()["error"] == (
            "2 reports are running already; start this one when one of them is done"
        )
        for s in start[:2]:
            assert finished(client, s.json()["url"])["state"] == "done"
        again = client.post("/reports/connectivity", params={"dataset": "phantom"})
        assert again.status_code == 202
        assert finished(client, again.json()["url"])["state"] == "done"


def test_a_server_stopping_stops_its_reports_and_says_so(typed, neo4j_settings, tmp_path):
    with serving(create_app(ApiSettings(data_dir=tmp_path), neo4j_settings)) as url:
        started = httpx.post(url + "/reports/mito-synapse", params={"dataset": "phantom"},
                             timeout=30)  # fmt: skip
        assert started.status_code == 202
    folder = tmp_path / "reports" / started.json()["id"]
    pid = json.loads((folder / "request.json").read_text())["pid"]
    assert not alive(pid)
    status = json.loads((folder / "status.json").read_text())
    assert status["state"] == "failed"
    assert status["error"] == "the report was stopped (signal 15) before it was done"


def test_a_report_whose_server_died_is_failed_not_running_forever(neo4j_settings, tmp_path):
    gone = subprocess.Popen(["true"])
    gone.wait()
    folder = tmp_path / "reports" / ("ab" * 16)
    folder.mkdir(parents=True)  # what a server killed mid-report leaves: no status.json
    request = {"kind": "connectivity", "dataset": "phantom", "options": {}, "by": "anonymous",
               "started": "2026-01-01T00:00:00+00:00", "pid": gone.pid}  # fmt: skip
    (folder / "request.json").write_text(json.dumps(request))
    with serving(create_app(ApiSettings(data_dir=tmp_path), neo4j_settings)) as url:
        status = httpx.get(f"{url}/reports/{'ab' * 16}", timeout=30).json()
    assert status["state"] == "failed" and "pid" not in status
    assert status["error"] == "the server running the report stopped before it was done"
