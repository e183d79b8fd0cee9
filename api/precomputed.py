"""Neuroglancer precomputed files of each data set, served under ``/data/<dataset>/<path>``.

``GET`` (and ``HEAD``) ``/data/{dataset}/{path}`` returns the file ``<root>/<dataset>/<path>``
as written by :mod:`ingest.precomputed` (its layout is documented there), with

- ``Access-Control-Allow-Origin: *`` on every answer, 404s included (Neuroglancer runs on
  another origin, and reads a 404 as "no such chunk" only if it may see the status);
- ``application/json`` for ``info`` files, ``*.json`` files and legacy mesh manifests
  (``<id>:0``), ``application/octet-stream`` for everything else;
- byte ranges (Starlette's ``FileResponse`` honours ``Range``).

Files are stored and served uncompressed, so no ``Content-Encoding`` is ever set; compressing
in transit is left to a middleware or proxy in front of the app.

A data set name must match ``^[A-Za-z][A-Za-z0-9_]{0,63}$``; a path must not contain ``..``,
empty segments or segments starting with a dot (temporary ``.<name>.partial-<pid>`` trees of
atomic writes are never served), and must resolve, symbolic links followed, to a regular file
inside ``<root>/<dataset>``. Anything else is a 404, with no hint why.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, JSONResponse, Response

from graph.schema import DatasetNameError, check_dataset

MESH_MANIFEST = re.compile(r"^[0-9]+:0$")
CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges",
}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range",
    "Access-Control-Max-Age": "86400",
}


def media_type(name: str) -> str:
    """The content type of a precomputed file, from its name.

    Examples
    --------
    >>> media_type("info"), media_type("42:0"), media_type("0-64_0-64_0-64")
    ('application/json', 'application/json', 'application/octet-stream')
    """
    if name == "info" or name.endswith(".json") or MESH_MANIFEST.match(name):
        return "application/json"
    return "application/octet-stream"


def resolve(root: Path, dataset: str, path: str) -> Path | None:
    """The file ``root/dataset/path`` if it may be served, else ``None``.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp()); (root / "ds").mkdir()
    >>> _ = (root / "ds" / "info").write_text("{}")
    >>> resolve(root, "ds", "info") == (root / "ds" / "info").resolve()
    True
    >>> resolve(root, "ds", "../ds/info"), resolve(root, "..", "info"), resolve(root, "ds", "")
    (None, None, None)
    """
    try:
        check_dataset(dataset)
    except DatasetNameError:
        return None
    parts = path.split("/")
    if any(not p or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        return None
    base = (root / dataset).resolve()
    try:
        target = base.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(base) or not target.is_file():
        return None
    return target


def precomputed_router(root: Path) -> APIRouter:
    """A router serving ``root/<dataset>/<path>`` at ``/data/<dataset>/<path>``.

    Examples
    --------
    >>> import tempfile
    >>> from fastapi import FastAPI
    >>> from fastapi.testclient import TestClient
    >>> root = Path(tempfile.mkdtemp()); (root / "ds").mkdir()
    >>> _ = (root / "ds" / "info").write_text('{"type": "image"}')
    >>> app = FastAPI(); app.include_router(precomputed_router(root))
    >>> r = TestClient(app).get("/data/ds/info")
    >>> r.json(), r.headers["access-control-allow-origin"], r.headers["content-type"]
    ({'type': 'image'}, '*', 'application/json')
    """
    router = APIRouter(tags=["precomputed"])

    @router.api_route("/data/{dataset}/{path:path}", methods=["GET", "HEAD"])
    async def precomputed_file(dataset: str, path: str) -> Response:
        target = resolve(root, dataset, path)
        if target is None:
            return JSONResponse({"detail": "Not Found"}, status_code=404, headers=CORS)
        return FileResponse(target, media_type=media_type(target.name), headers=CORS)

    @router.options("/data/{dataset}/{path:path}")
    async def precomputed_preflight(dataset: str, path: str) -> Response:
        return Response(status_code=204, headers=PREFLIGHT)

    return router
