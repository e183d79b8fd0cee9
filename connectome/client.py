"""The notebook client: speaks GraphQL over HTTP and imports nothing else of ours."""

from __future__ import annotations

from typing import Any

import httpx
import pandas as pd


class QueryError(RuntimeError):
    """The server answered a query with errors."""


class Client:
    """A connection to a connectome server.

    Examples
    --------
    >>> client = Client("http://127.0.0.1:8000")
    >>> client.url
    'http://127.0.0.1:8000/graphql'
    """

    def __init__(
        self, url: str, token: str | None = None, timeout_s: float = 60.0, verify: bool = True
    ):
        base = url.rstrip("/")
        self.url = base if base.endswith("/graphql") else base + "/graphql"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers=headers, timeout=timeout_s, verify=verify)

    def query(self, graphql: str, **variables: Any) -> dict[str, Any]:
        """Run a GraphQL query; return its ``data`` or raise :class:`QueryError`."""
        response = self._http.post(self.url, json={"query": graphql, "variables": variables})
        if response.status_code >= 500:
            response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise QueryError("; ".join(e.get("message", "?") for e in body["errors"]))
        return body["data"]

    def neurons(self, dataset: str, page_size: int = 500) -> pd.DataFrame:
        """Every neuron of ``dataset`` as a DataFrame (body ids as Python ints)."""
        rows, after = [], None
        while True:
            data = self.query(
                """query($ds: String!, $first: Int!, $after: String) {
                     neurons(dataset: $ds, first: $first, after: $after) {
                       nodes { bodyId size pre post type mitochondrionCount }
                       pageInfo { hasNextPage endCursor } } }""",
                ds=dataset,
                first=page_size,
                after=after,
            )["neurons"]
            rows += data["nodes"]
            if not data["pageInfo"]["hasNextPage"]:
                break
            after = data["pageInfo"]["endCursor"]
        frame = pd.DataFrame(
            rows, columns=["bodyId", "size", "pre", "post", "type", "mitochondrionCount"]
        )
        frame["bodyId"] = frame["bodyId"].map(int)
        return frame

    def synapses(
        self, dataset: str, pre: int | None = None, post: int | None = None, page_size: int = 1000
    ) -> pd.DataFrame:
        """Synaptic connections with the distance to the pre cell's nearest mitochondrion."""
        rows, after = [], None
        while True:
            page = self.query(
                """query($ds: String!, $filter: SynapseFilter, $first: Int!, $after: String) {
                     synapses(dataset: $ds, filter: $filter, first: $first, after: $after) {
                       nodes { id pre post confidence synapseType areaNm2 mitoDistanceNm
                               preLocation { x y z } }
                       pageInfo { hasNextPage endCursor } } }""",
                ds=dataset,
                filter={
                    "preBodyIds": None if pre is None else [str(pre)],
                    "postBodyIds": None if post is None else [str(post)],
                },
                first=page_size,
                after=after,
            )["synapses"]
            rows += page["nodes"]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        frame = pd.json_normalize(rows)
        if not frame.empty:
            frame["pre"] = frame["pre"].map(int)
            frame["post"] = frame["post"].map(int)
        return frame
