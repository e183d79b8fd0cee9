"""The subset of neuPrint's HTTP API (neuPrintHTTP) that neuprint-python and navis use.

==================================================  ==========================================
``GET /api/dbmeta/datasets``                        data sets: ``{name: {"last-mod", "uuid",
                                                    "ROIs", "superLevelROIs", "info", …}}``
``GET /api/dbmeta/version``                         neuPrint data model version
``GET /api/dbmeta/database``                        what the graph is
``GET /api/version``, ``GET /api/serverinfo``       server version; ``IsPublic`` (anonymous
                                                    reads on)
``GET /api/available``                              these routes
``GET /profile``                                    who the token belongs to, and its level
``GET|POST /api/custom/custom``                     ``{"cypher", "dataset"}`` →
                                                    ``{"columns", "data"}`` (read-only,
                                                    time-boxed: :mod:`graph.custom`)
``GET /api/skeletons/skeleton/{dataset}/{bodyId}``  SWC (``?format=swc``) or neuPrint's JSON
                                                    table of it
==================================================  ==========================================

Errors are ``{"error": "<one sentence>"}`` as neuPrint's; neuprint-python shows that sentence.
The shapes follow neuPrintHTTP's sources (``api/dbmeta``, ``api/custom``, ``api/skeletons``,
``main.go``). Body ids in the answers are stored signed 64-bit integers, as neuPrint's; the
skeleton endpoint takes either that or the unsigned id.

Skeletons are read from the precomputed files ``connectome export precomputed`` writes
(``<data_dir>/precomputed/<dataset>/segmentation/`` plus its ``info``'s ``skeletons`` folder;
format in ``ingest/precomputed/skeleton.py``) and written as neuPrint's SWC: one line
``id type x y z radius parent`` per vertex, parents first, coordinates in voxels of the base
resolution (the segmentation's first scale), the radius in voxels of the x axis, the type the
SWC structure code of the vertex's compartment.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute

from api.auth import Principal
from api.settings import ApiSettings
from graph import custom
from graph.ids import UINT64_MAX, from_neo4j
from graph.schema import DatasetNameError, check_dataset
from graph.settings import Neo4jSettings

# Below neuPrintHTTP 1.7.3, where neuprint-python starts to ask for Arrow answers (not served).
SERVER_VERSION = "1.7.0"
DATA_MODEL_VERSION = "0.5.0"  # neuPrintHTTP's neuprintbolt VERSION: the data model it serves
DATASET_CACHE_S = 5.0
# SWC structure codes of the compartment codes in skeleton files (0-4 are SWC's own)
SWC_TYPE = {16: 3, 17: 3, 18: 2, 19: 2}  # spine head, spine neck -> dendrite; boutons -> axon


class SkeletonError(LookupError):
    """No skeleton to serve; one sentence."""


def error(message: str, status: int) -> JSONResponse:
    """neuPrint's error answer.

    Examples
    --------
    >>> error("no such thing", 404).body
    b'{"error":"no such thing"}'
    """
    return JSONResponse({"error": message}, status_code=status)


# -- skeletons ---------------------------------------------------------------------------
def decode_skeleton(data: bytes, vertex_attributes: list[dict[str, Any]]) -> dict[str, Any]:
    """Read one precomputed skeleton file: ``vertices`` (nm, x y z), ``edges`` (parent, child)
    and each vertex attribute by id.

    Examples
    --------
    >>> body = (np.array([2, 1], "<u4").tobytes() + np.zeros(6, "<f4").tobytes()
    ...         + np.array([0, 1], "<u4").tobytes() + np.array([5, 4], "<f4").tobytes())
    >>> s = decode_skeleton(body, [{"id": "radius", "data_type": "float32",
    ...                             "num_components": 1}])
    >>> s["edges"].tolist(), s["radius"].tolist()
    ([[0, 1]], [5.0, 4.0])
    """
    n, e = (int(v) for v in np.frombuffer(data, "<u4", count=2))
    offset = 8
    vertices = np.frombuffer(data, "<f4", count=3 * n, offset=offset).reshape(n, 3)
    offset += 12 * n
    edges = np.frombuffer(data, "<u4", count=2 * e, offset=offset).reshape(e, 2)
    offset += 8 * e
    out: dict[str, Any] = {"vertices": vertices, "edges": edges}
    for spec in vertex_attributes:
        dtype = np.dtype(spec["data_type"]).newbyteorder("<")
        count = n * int(spec.get("num_components", 1))
        values = np.frombuffer(data, dtype, count=count, offset=offset)
        out[spec["id"]] = values if count == n else values.reshape(n, -1)
        offset += dtype.itemsize * count
    if offset != len(data):
        raise ValueError(f"skeleton file has {len(data)} bytes, its info describes {offset}")
    return out


def _tree_order(n: int, edges: np.ndarray) -> tuple[list[int], np.ndarray]:
    """Vertices ordered parents first, and each vertex's parent (-1 for roots)."""
    parent = np.full(n, -1, np.int64)
    children: list[list[int]] = [[] for _ in range(n)]
    for a, b in edges.tolist():
        if parent[b] == -1 and a != b:
            parent[b] = a
            children[a].append(b)
    order: list[int] = []
    seen = np.zeros(n, bool)
    for root in [*np.flatnonzero(parent == -1).tolist(), *range(n)]:
        if seen[root]:
            continue
        if parent[root] != -1:  # a cycle without a root: cut it here
            parent[root] = -1
        stack = [root]
        while stack:
            v = stack.pop()
            if seen[v]:
                continue
            seen[v] = True
            order.append(v)
            stack.extend(reversed(children[v]))
    return order, parent


def swc_rows(skeleton: dict[str, Any], voxel_nm_xyz: np.ndarray) -> Iterator[list[Any]]:
    """``[id, type, x, y, z, radius, parent]`` per vertex in voxels, parents first.

    Examples
    --------
    >>> s = {"vertices": np.array([[0, 0, 0], [16, 0, 40]], np.float32),
    ...      "edges": np.array([[0, 1]]), "radius": np.array([8.0, 4.0]),
    ...      "compartment": np.array([1, 18], np.uint8)}
    >>> list(swc_rows(s, np.array([8.0, 8.0, 40.0])))
    [[1, 1, 0.0, 0.0, 0.0, 1.0, -1], [2, 2, 2.0, 0.0, 1.0, 0.5, 1]]
    """
    vertices = np.asarray(skeleton["vertices"], np.float64) / voxel_nm_xyz
    n = len(vertices)
    radius = np.asarray(skeleton.get("radius", np.zeros(n)), np.float64) / voxel_nm_xyz[0]
    codes = np.asarray(skeleton.get("compartment", np.zeros(n)), np.int64)
    order, parent = _tree_order(n, np.asarray(skeleton["edges"], np.int64))
    row_of = np.empty(n, np.int64)
    row_of[order] = np.arange(1, n + 1)
    for v in order:
        code = int(codes[v])
        x, y, z = (round(float(c), 3) for c in vertices[v])
        yield [
            int(row_of[v]),
            SWC_TYPE.get(code, code if code <= 4 else 0),
            x,
            y,
            z,
            round(float(radius[v]), 3),
            int(row_of[parent[v]]) if parent[v] >= 0 else -1,
        ]


def read_skeleton(
    precomputed: Path, dataset: str, body_id: int
) -> tuple[dict[str, Any], np.ndarray]:
    """The skeleton of ``body_id`` (uint64) and the base voxel size (nm, x y z)."""
    seg = precomputed / check_dataset(dataset) / "segmentation"
    try:
        info = json.loads((seg / "info").read_text())
        folder = seg / (info.get("skeletons") or "skeletons")
        skel_info = json.loads((folder / "info").read_text())
        voxel = np.asarray(info["scales"][0]["resolution"], np.float64)
    except (OSError, ValueError, KeyError, IndexError):
        raise SkeletonError(
            f"data set {dataset!r} has no skeletons here; run `connectome export precomputed "
            f"{dataset}`"
        ) from None
    path = folder / str(body_id)
    if not path.is_file():
        raise SkeletonError(f"body {body_id} of data set {dataset!r} has no skeleton")
    return decode_skeleton(path.read_bytes(), skel_info["vertex_attributes"]), voxel


def _parse_body(text: str) -> int:
    """A body id as neuPrint clients send it: decimal, signed 64-bit as stored, or unsigned.

    Examples
    --------
    >>> _parse_body("42"), _parse_body("-1") == 2**64 - 1, _parse_body("18446744073709551615")
    (42, True, 18446744073709551615)
    """
    value = int(text.strip(), 10)  # ValueError for anything else
    if value < 0:
        if value < -(2**63):
            raise ValueError(text)
        return from_neo4j(value)
    if value > UINT64_MAX:
        raise ValueError(text)
    return value


# -- the router ----------------------------------------------------------------------------
def neuprint_router(settings: ApiSettings, neo4j: Neo4jSettings) -> APIRouter:
    """neuPrint's endpoints over the app's driver (``request.app.state.driver``)."""
    router = APIRouter(tags=["neuPrint"])
    precomputed = settings.data_dir / "precomputed"
    cache: dict[str, Any] = {"at": -1e9, "datasets": {}}

    async def known_datasets(request: Request, fresh: bool = False) -> dict[str, Any]:
        if fresh or time.monotonic() - cache["at"] > DATASET_CACHE_S:
            cache["datasets"] = await custom.datasets(
                request.app.state.driver, neo4j.database, neo4j.query_timeout_s
            )
            cache["at"] = time.monotonic()
        return cache["datasets"]

    @router.get("/api/dbmeta/datasets")
    async def dbmeta_datasets(request: Request) -> JSONResponse:
        return JSONResponse(await known_datasets(request, fresh=True))

    @router.get("/api/dbmeta/version")
    async def dbmeta_version() -> JSONResponse:
        return JSONResponse({"Version": DATA_MODEL_VERSION})

    @router.get("/api/dbmeta/database")
    async def dbmeta_database() -> JSONResponse:
        return JSONResponse({"Location": "connectome", "Description": "neuPrint-bolt"})

    @router.get("/api/version")
    async def version() -> JSONResponse:
        return JSONResponse({"Version": SERVER_VERSION})

    @router.get("/api/serverinfo")
    async def serverinfo() -> JSONResponse:
        return JSONResponse(
            {"IsPublic": settings.anonymous_reads_allowed, "Version": SERVER_VERSION}
        )

    @router.get("/api/available")
    async def available(request: Request) -> JSONResponse:
        return JSONResponse(
            [
                {"method": method, "path": r.path, "name": r.name}
                for r in router.routes
                if isinstance(r, APIRoute)
                for method in sorted(r.methods or ())
            ]
        )

    @router.get("/profile")
    async def profile(request: Request) -> JSONResponse:
        principal: Principal = request.state.principal
        level = {"admin": "admin", "read": "read", "anonymous": "read"}[principal.role]
        return JSONResponse({"Email": principal.name, "AuthLevel": level, "ImageURL": ""})

    @router.api_route("/api/custom/custom", methods=["GET", "POST"])
    async def custom_cypher(request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
            cypher, dataset = body.get("cypher", ""), body.get("dataset") or ""
            if not isinstance(cypher, str) or not isinstance(dataset, str):
                raise ValueError
        except (ValueError, AttributeError):
            return error('the request must be JSON: {"cypher": "...", "dataset": "..."}', 400)
        names = await known_datasets(request)
        if not dataset and len(names) == 1:
            dataset = next(iter(names))
        if dataset not in names:
            names = await known_datasets(request, fresh=True)
            if dataset not in names:
                which = ", ".join(sorted(names)) or "none"
                return error(f"no data set is named {dataset!r}; this server has: {which}", 404)
        try:
            answer = await custom.run_custom(
                request.app.state.driver, cypher, dataset, neo4j.database, neo4j.query_timeout_s
            )
        except custom.CustomCypherError as err:
            return error(str(err), 403 if err.kind in ("write", "refused") else 400)
        return JSONResponse(answer)

    @router.get("/api/skeletons/skeleton/{dataset}/{body}")
    async def skeleton(dataset: str, body: str, format: str = "") -> Response:
        try:
            check_dataset(dataset)
            body_id = _parse_body(body)
        except DatasetNameError as err:
            return error(str(err), 400)
        except ValueError:
            return error(f"body id {body!r} is not a 64-bit integer", 400)
        try:
            skel, voxel = read_skeleton(precomputed, dataset, body_id)
        except SkeletonError as err:
            return error(str(err), 404)
        rows = list(swc_rows(skel, voxel))
        if format == "swc":
            head = (
                f"# skeleton of body {body_id} in data set {dataset}\n"
                f"# x y z and radius in voxels of {' x '.join(f'{v:g}' for v in voxel)} nm\n"
            )
            lines = (" ".join(str(v) for v in row) for row in rows)
            return PlainTextResponse(head + "\n".join(lines) + "\n")
        table = [[r[0], r[2], r[3], r[4], r[5], r[6]] for r in rows]
        return JSONResponse({"columns": ["rowId", "x", "y", "z", "radius", "link"], "data": table})

    return router
