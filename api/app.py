"""The FastAPI application: GraphQL at /graphql, neuPrint's HTTP subset under /api/, the web
client at /, Neuroglancer files under /data/, reports under /reports/, health at /healthz.

Every request but /healthz is authenticated (:mod:`api.auth`); the caller's
:class:`~api.auth.Principal` is on ``request.state.principal`` and in the GraphQL context.
A write by a non-admin (:class:`~api.auth.Forbidden`) is a 403.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from strawberry.fastapi import BaseContext, GraphQLRouter
from strawberry.types import ExecutionResult

from api import neuroglancer
from api.auth import Authenticator, Forbidden, Principal, TokenStore, authentication
from api.loaders import Loaders, make_loaders
from api.neuprint import neuprint_router
from api.precomputed import precomputed_router
from api.reports import reports_router
from api.schema import schema
from api.settings import ApiSettings
from graph import queries
from graph.settings import Neo4jSettings


class Context(BaseContext):
    """Per-request state: the query reader (counts round trips), DataLoaders, settings, and
    who is asking (``principal``; mutations call :func:`api.auth.require_admin` on it)."""

    def __init__(
        self,
        reader: queries.Reader,
        loaders: Loaders,
        settings: ApiSettings,
        principal: Principal,
    ):
        super().__init__()
        self.reader, self.loaders, self.settings = reader, loaders, settings
        self.principal = principal


class _GraphQLRouter(GraphQLRouter):
    """Answers 403 when a resolver refused a non-admin (``Forbidden``)."""

    async def process_result(self, request: Request, result: ExecutionResult) -> Any:
        if any(isinstance(e.original_error, Forbidden) for e in result.errors or ()):
            request.state.graphql_context.response.status_code = 403
        return await super().process_result(request, result)


def create_app(settings: ApiSettings, neo4j: Neo4jSettings) -> FastAPI:
    """Build the app; the Neo4j driver opens with the app and closes with it."""
    if neo4j.password is None:
        raise ValueError("no Neo4j password: run `connectome neo4j start` or set NEO4J_PASSWORD")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        driver = queries.async_driver(neo4j)
        app.state.driver = driver
        try:
            yield
        finally:
            await driver.close()

    async def context(request: Request) -> Context:
        reader = queries.Reader(request.app.state.driver, neo4j.database, neo4j.query_timeout_s)
        request.state.reader = reader
        request.state.graphql_context = Context(
            reader=reader,
            loaders=make_loaders(reader),
            settings=settings,
            principal=request.state.principal,
        )
        return request.state.graphql_context

    app = FastAPI(
        title="connectome",
        lifespan=lifespan,
        description="Connectome query service: GraphQL at /graphql",
    )
    app.include_router(
        _GraphQLRouter(schema, context_getter=context, graphql_ide="graphiql"), prefix="/graphql"
    )
    app.include_router(neuprint_router(settings, neo4j))
    app.include_router(precomputed_router(settings.data_dir / "precomputed"))
    app.include_router(reports_router(settings, neo4j))

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, err: Forbidden) -> JSONResponse:
        return JSONResponse({"error": str(err)}, status_code=403)

    @app.middleware("http")
    async def count_round_trips(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        reader = getattr(request.state, "reader", None)
        if reader is not None:
            response.headers["X-Cypher-Round-Trips"] = str(reader.round_trips)
        return response

    # added last, so it runs first: nothing is served before the caller is known
    authenticator = Authenticator(
        TokenStore(settings.tokens_file), settings.anonymous_reads_allowed
    )
    app.middleware("http")(authentication(authenticator))

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        try:
            await request.app.state.driver.verify_connectivity()
        except Exception as err:  # report, do not crash the probe
            return JSONResponse({"ok": False, "neo4j": str(err)[:200]}, status_code=503)
        return JSONResponse({"ok": True})

    client = neuroglancer.client_dir()
    if client is not None:  # the Neuroglancer client that neuroglancerUrl links open in
        app.mount("/neuroglancer", StaticFiles(directory=client, html=True), name="neuroglancer")

    web = settings.web_dir
    if (web / "index.html").exists():
        app.mount("/static", StaticFiles(directory=web), name="static")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(web / "index.html")

    return app


def app_from_environment() -> FastAPI:
    """The app with its settings read from the environment (``CONNECTOME_API_*``,
    ``NEO4J_*``): what each worker process builds when ``connectome serve --workers N`` runs
    several (uvicorn starts them as separate processes, so nothing is passed in memory)."""
    return create_app(ApiSettings(), Neo4jSettings())
