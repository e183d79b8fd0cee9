"""Reports over HTTP: start one, ask how it is going, fetch its files.

=========================================  ===================================================
``POST /reports/{kind}?dataset=D``         start a report (``mito-synapse``, ``connectivity``);
                                           an optional JSON body holds its options by name
                                           (``{"cell_types": ["TypeA"], "min_weight": 2}``, the
                                           flags of ``connectome report KIND``); answers 202
                                           ``{"id", "state", "url"}``
``GET /reports/{id}``                      ``{"id", "kind", "dataset", "state": "running" |
                                           "done" | "failed", "error", "files"}``
``GET /reports/{id}/report.html|pdf|json``  the report's files once it is done
=========================================  ===================================================

A report runs as its own process, ``python -m reports KIND --dataset D --out DIR --quiet``
with this server's Neo4j settings in its environment (the API's floor does not import the
reports package, and a report's plotting must not hold up the server's event loop). It writes
into ``<data_dir>/reports/<id>/`` (atomically, so the files are there whole or not at all);
``request.json`` records who asked for what, ``log.txt`` the process's messages and
``status.json`` how it ended. A failed report's ``error`` is the one sentence the report
printed. Authentication is the app's (:mod:`api.auth`): on a server without anonymous reads,
starting and reading a report needs a token, as every other route does. At most
:data:`MAX_RUNNING` reports run at once per server process; more are a 429.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import secrets
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from api.auth import Principal
from api.settings import ApiSettings
from graph.schema import DatasetNameError, check_dataset
from graph.settings import Neo4jSettings

KINDS = ("mito-synapse", "connectivity")  # reports.options.KINDS (a test keeps them equal)
FILES = {"report.html": "text/html", "report.pdf": "application/pdf",
         "report.json": "application/json"}  # fmt: skip
MAX_RUNNING = 2
ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
OPTION_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class OptionError(ValueError):
    """Report options that cannot become command-line flags; one sentence."""


def option_arguments(options: Any) -> list[str]:
    """The command-line flags for a JSON object of report options: ``name: value`` becomes
    ``--name value`` (underscores as dashes), a list several values.

    Examples
    --------
    >>> option_arguments({"cell_types": ["TypeA", "TypeB"], "min_weight": 2})
    ['--cell-types', 'TypeA', 'TypeB', '--min-weight', '2']
    >>> option_arguments({"min_weight": {"x": 1}})
    Traceback (most recent call last):
    ...
    api.reports.OptionError: option 'min_weight' must be a number, a string or a list of them
    >>> option_arguments({"cell_types": ["--out", "/elsewhere"]})
    Traceback (most recent call last):
    ...
    api.reports.OptionError: option 'cell_types' has a value starting with '-'
    """
    if not isinstance(options, dict):
        raise OptionError('the body must be a JSON object of options, e.g. {"min_weight": 2}')
    args: list[str] = []
    for name, value in options.items():
        if not OPTION_PATTERN.match(name) or name in ("dataset", "out", "quiet"):
            raise OptionError(f"{name!r} is not a report option")
        values = value if isinstance(value, list) else [value]
        if not values or not all(
            isinstance(v, int | float | str) and not isinstance(v, bool) for v in values
        ):
            raise OptionError(f"option {name!r} must be a number, a string or a list of them")
        if any(isinstance(v, str) and v.startswith("-") for v in values):  # not another flag
            raise OptionError(f"option {name!r} has a value starting with '-'")
        args += ["--" + name.replace("_", "-"), *(str(v) for v in values)]
    return args


def _write_json(path: Path, value: dict[str, Any]) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed over it)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    tmp.write_text(json.dumps(value, indent=1) + "\n")
    os.replace(tmp, path)


def last_sentence(log: str) -> str:
    """The last line a failed report printed (its one-sentence error), progress bars and the
    ``report KIND:`` prefix left out.

    Examples
    --------
    >>> last_sentence("bar\\r  \\rreport connectivity: no data set is named 'x'; loaded: a\\n")
    "no data set is named 'x'; loaded: a"
    """
    lines = [ln.strip() for ln in re.split(r"[\r\n]", log) if ln.strip()]
    if not lines:
        return "the report stopped without saying why"
    return re.sub(r"^report [a-z-]+: ", "", lines[-1])


def alive(pid: int | None) -> bool:
    """Whether a process ``pid`` exists on this machine (``None``: not started yet, so yes).

    Examples
    --------
    >>> alive(os.getpid()), alive(None)
    (True, True)
    """
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def reports_router(settings: ApiSettings, neo4j: Neo4jSettings) -> APIRouter:
    """The report routes; reports live under ``<data_dir>/reports/``."""
    root = settings.data_dir / "reports"
    running: dict[str, subprocess.Popen[bytes]] = {}
    watchers: dict[str, threading.Thread] = {}
    lock = threading.Lock()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        with lock:  # a server going away stops the reports it started
            for process in running.values():
                process.terminate()
            stopping = list(watchers.values())
        for watcher in stopping:  # each writes its report's status
            watcher.join(timeout=10)

    router = APIRouter(tags=["reports"], lifespan=lifespan)

    def environment() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEO4J_")}
        env.update({"NEO4J_URI": neo4j.uri, "NEO4J_USERNAME": neo4j.username,
                    "NEO4J_PASSWORD": neo4j.password or "", "NEO4J_DATABASE": neo4j.database,
                    "NEO4J_QUERY_TIMEOUT_S": str(neo4j.query_timeout_s)})  # fmt: skip
        return env

    def watch(report_id: str, folder: Path, process: subprocess.Popen[bytes]) -> None:
        # wait for the end without reaping: the pid stays taken (a zombie) until the status
        # is written, so no one sees a dead pid without a status (see ``status``)
        try:
            ended = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
            assert ended is not None
            code = ended.si_status if ended.si_code == os.CLD_EXITED else -ended.si_status
        except ChildProcessError:  # reaped already
            code = process.wait()
        with lock:  # before the status says so, so a report seen done no longer counts
            running.pop(report_id, None)
            watchers.pop(report_id, None)
        log = (folder / "log.txt").read_text(errors="replace")
        done = code == 0 and (folder / "report.json").exists()
        why = None
        if not done:
            why = (f"the report was stopped (signal {-code}) before it was done" if code < 0
                   else last_sentence(log))  # fmt: skip
        _write_json(folder / "status.json", {
            "state": "done" if done else "failed", "returncode": code, "error": why,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        })  # fmt: skip
        process.wait()  # reap it

    def status(report_id: str) -> dict[str, Any] | None:
        folder = root / report_id
        try:
            asked = json.loads((folder / "request.json").read_text())
        except (OSError, ValueError):
            return None
        try:
            ended = json.loads((folder / "status.json").read_text())
        except (OSError, ValueError):
            ended = {"state": "running", "error": None}
            if not alive(asked.get("pid")):  # its server went away without saying how it ended
                ended = {
                    "state": "failed",
                    "error": "the server running the report stopped before it was done",
                }
        base = f"/reports/{report_id}"
        files = {name: f"{base}/{name}" for name in FILES} if ended["state"] == "done" else {}
        asked.pop("pid", None)
        return {"id": report_id, **asked, "state": ended["state"], "error": ended["error"],
                "files": files}  # fmt: skip

    def error(message: str, code: int) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=code)

    @router.post("/reports/{kind}", status_code=202)
    async def start(request: Request, kind: str, dataset: str) -> JSONResponse:
        principal: Principal = request.state.principal
        if kind not in KINDS:
            return error(f"no report is called {kind!r}; there are: {', '.join(KINDS)}", 404)
        try:
            check_dataset(dataset)
            body = await request.body()
            asked = json.loads(body) if body.strip() else {}
            options = option_arguments(asked)
        except (DatasetNameError, OptionError) as err:
            return error(str(err), 400)
        except ValueError:
            return error("the body must be JSON: an object of report options", 400)
        with lock:
            if len(running) >= MAX_RUNNING:
                return error(
                    f"{len(running)} reports are running already; start this one when one of "
                    "them is done",
                    429,
                )
            report_id = secrets.token_hex(16)
            folder = root / report_id
            folder.mkdir(parents=True)
            asked_by = {
                "kind": kind,
                "dataset": dataset,
                "options": asked,
                "by": principal.name,
                "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            }
            _write_json(folder / "request.json", asked_by)
            with open(folder / "log.txt", "wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "reports", kind, "--dataset", dataset,
                     "--out", str(folder), "--quiet", *options],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                    env=environment(),
                )  # fmt: skip
            running[report_id] = process
            _write_json(folder / "request.json", {**asked_by, "pid": process.pid})
            watcher = watchers[report_id] = threading.Thread(
                target=watch, args=(report_id, folder, process), daemon=True
            )
        watcher.start()
        return JSONResponse(
            {"id": report_id, "state": "running", "url": f"/reports/{report_id}"},
            status_code=202,
        )

    @router.get("/reports/{report_id}")
    async def report_status(report_id: str) -> JSONResponse:
        found = status(report_id) if ID_PATTERN.match(report_id) else None
        if found is None:
            return error(f"no report has the id {report_id!r}", 404)
        return JSONResponse(found)

    @router.get("/reports/{report_id}/{name}")
    async def report_file(report_id: str, name: str) -> Response:
        found = status(report_id) if ID_PATTERN.match(report_id) else None
        if found is None:
            return error(f"no report has the id {report_id!r}", 404)
        if name not in FILES:
            return error(f"a report has the files {', '.join(FILES)}, not {name!r}", 404)
        if found["state"] == "running":
            return error(f"report {report_id} is still running", 409)
        if found["state"] == "failed":
            return error(f"report {report_id} failed: {found['error']}", 409)
        return FileResponse(root / report_id / name, media_type=FILES[name])

    return router
