"""The FastAPI application: GraphQL at /graphql, the web client at /, health at /healthz."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from neo4j import AsyncGraphDatabase
from strawberry.fastapi import BaseContext, GraphQLRouter

from api.loaders import Loaders, make_loaders
from api.precomputed import precomputed_router
from api.schema import schema
from api.settings import ApiSettings
from graph import queries
from graph.settings import Neo4jSettings


class Context(BaseContext):
    """Per-request state: the query reader (counts round trips), DataLoaders, settings."""

    def __init__(self, reader: queries.Reader, loaders: Loaders, settings: ApiSettings):
        super().__init__()
        self.reader, self.loaders, self.settings = reader, loaders, settings


def create_app(settings: ApiSettings, neo4j: Neo4jSettings) -> FastAPI:
    """Build the app; the Neo4j driver opens with the app and closes with it."""
    if neo4j.password is None:
        raise ValueError("no Neo4j password: run `connectome neo4j start` or set NEO4J_PASSWORD")
    auth = (neo4j.username, neo4j.password)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        driver = AsyncGraphDatabase.driver(neo4j.uri, auth=auth)
        app.state.driver = driver
        try:
            yield
        finally:
            await driver.close()

    async def context(request: Request) -> Context:
        reader = queries.Reader(request.app.state.driver, neo4j.database, neo4j.query_timeout_s)
        request.state.reader = reader
        return Context(reader=reader, loaders=make_loaders(reader), settings=settings)

    app = FastAPI(
        title="connectome",
        lifespan=lifespan,
        description="Connectome query service: GraphQL at /graphql",
    )
    app.include_router(
        GraphQLRouter(schema, context_getter=context, graphql_ide="graphiql"), prefix="/graphql"
    )

    app.include_router(precomputed_router(settings.data_dir / "precomputed"))

    @app.middleware("http")
    async def count_round_trips(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        reader = getattr(request.state, "reader", None)
        if reader is not None:
            response.headers["X-Cypher-Round-Trips"] = str(reader.round_trips)
        return response

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        try:
            await request.app.state.driver.verify_connectivity()
        except Exception as err:  # report, do not crash the probe
            return JSONResponse({"ok": False, "neo4j": str(err)[:200]}, status_code=503)
        return JSONResponse({"ok": True})

    web = settings.web_dir
    if (web / "index.html").exists():
        app.mount("/static", StaticFiles(directory=web), name="static")

        @app.get("/", include_in_schema=False)
        async def index() -> FileResponse:
            return FileResponse(web / "index.html")

    return app
