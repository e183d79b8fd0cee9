"""The notebook client: speaks GraphQL over HTTP and imports nothing else of ours.

:class:`Client` runs any query (:meth:`Client.query`) and has helpers that fetch every page
of an answer (with a progress bar) into pandas DataFrames: neurons, synapses, adjacency, the
cell-type matrix and SyConn2's mitochondria–synapse analysis; an adjacency also comes as a
networkx ``DiGraph`` for circuit analysis. Body ids are Python ints (exact uint64); they cross
the wire as strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import networkx as nx
import pandas as pd
from tqdm import tqdm


class QueryError(RuntimeError):
    """The server answered a query with errors."""


NEURON_FIELDS = (
    "bodyId type typeConfidence instance status size pre post hasSoma cableLengthNm "
    "axonPathLengthNm dendritePathLengthNm somaPathLengthNm mitochondrionCount "
    "location { x y z }"
)
SYNAPSE_FIELDS = (
    "id pre post confidence synapseType areaNm2 size preCompartment postCompartment preSite "
    "postSite spineHeadVolumeNm3 preLocation { x y z } postLocation { x y z } "
    "closestMitochondrion { elementId euclideanNm distance }"
)
_BODY_KEYS = ("bodyIds", "preBodyIds", "postBodyIds")


def _camel(name: str) -> str:
    """
    Examples
    --------
    >>> _camel("min_type_confidence"), _camel("minPre")
    ('minTypeConfidence', 'minPre')
    """
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), name)


def _filter(criteria: dict[str, Any]) -> dict[str, Any] | None:
    """GraphQL filter input from keyword arguments: camelCase names, body ids as strings,
    ``None`` left out.

    Examples
    --------
    >>> _filter({"types": ["KC"], "min_pre": 2, "body_ids": [2**60], "has_soma": None})
    {'types': ['KC'], 'minPre': 2, 'bodyIds': ['1152921504606846976']}
    """
    out = {}
    for key, value in criteria.items():
        if value is None:
            continue
        key = _camel(key)
        if key in _BODY_KEYS:
            value = [str(int(b)) for b in value]
        out[key] = value
    return out or None


def _ids(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for col in columns:
        if col in frame:
            frame[col] = frame[col].map(lambda v: None if v is None else int(v))
    return frame


@dataclass
class MitoSynapseResult:
    """SyConn2's analysis: one row per synapse, one summary row per cell type."""

    synapses: pd.DataFrame
    summary: pd.DataFrame


class Client:
    """A connection to a connectome server.

    ``token`` is sent as ``Authorization: Bearer``; ``verify=False`` accepts the server's
    self-signed certificate (``connectome serve --tls``); ``progress`` shows a bar while
    pages arrive.

    Examples
    --------
    >>> client = Client("http://127.0.0.1:8000")
    >>> client.url
    'http://127.0.0.1:8000/graphql'
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        timeout_s: float = 60.0,
        verify: bool = True,
        progress: bool = True,
    ):
        base = url.rstrip("/")
        self.url = base if base.endswith("/graphql") else base + "/graphql"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(headers=headers, timeout=timeout_s, verify=verify)
        self.progress = progress

    def query(self, graphql: str, **variables: Any) -> dict[str, Any]:
        """Run a GraphQL query; return its ``data`` or raise :class:`QueryError`."""
        response = self._http.post(self.url, json={"query": graphql, "variables": variables})
        if response.status_code in (401, 403):
            raise QueryError(response.json().get("error", response.text))
        if response.status_code >= 500:
            response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise QueryError("; ".join(e.get("message", "?") for e in body["errors"]))
        return body["data"]

    def pages(
        self, graphql: str, path: list[str], page_size: int, what: str, **variables: Any
    ) -> Iterator[dict[str, Any]]:
        """Every node of a paged field (``path`` leads from ``data`` to the connection; the
        query takes ``$first`` and ``$after``), page by page with a progress bar."""
        after = None
        with tqdm(desc=what, unit=" rows", disable=not self.progress, leave=False) as bar:
            while True:
                page: Any = self.query(graphql, first=page_size, after=after, **variables)
                for key in path:
                    page = page[key]
                yield from page["nodes"]
                bar.update(len(page["nodes"]))
                if not page["pageInfo"]["hasNextPage"]:
                    return
                after = page["pageInfo"]["endCursor"]

    def neurons(self, dataset: str, page_size: int = 500, **criteria: Any) -> pd.DataFrame:
        """Neurons of ``dataset`` passing the criteria (``NeuronFilter`` fields in snake case:
        ``body_ids``, ``types``, ``type_regex``, ``min_pre``, ``min_post``, ``has_soma``,
        ``min_type_confidence``, ``min_axon_path_length_nm``, …) as a DataFrame."""
        rows = self.pages(
            f"""query($ds: String!, $f: NeuronFilter, $first: Int!, $after: String) {{
                 neurons(dataset: $ds, filter: $f, first: $first, after: $after) {{
                   nodes {{ {NEURON_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}""",
            ["neurons"],
            page_size,
            "neurons",
            ds=dataset,
            f=_filter(criteria),
        )
        frame = pd.json_normalize(list(rows))
        columns = [c for c in NEURON_FIELDS.split() if c.isidentifier() and c != "location"]
        if frame.empty:
            return pd.DataFrame(columns=columns)
        return _ids(frame, "bodyId")

    def synapses(
        self,
        dataset: str,
        pre: int | None = None,
        post: int | None = None,
        page_size: int = 1000,
        **criteria: Any,
    ) -> pd.DataFrame:
        """Synaptic connections (optionally from ``pre`` and/or onto ``post``, and passing
        ``SynapseFilter`` criteria in snake case: ``pre_types``, ``min_confidence``,
        ``post_compartments``, ``min_area_nm2``, …) with the distance to the pre cell's
        nearest mitochondrion (``mitoDistanceNm``)."""
        if pre is not None:
            criteria["pre_body_ids"] = [pre]
        if post is not None:
            criteria["post_body_ids"] = [post]
        rows = self.pages(
            f"""query($ds: String!, $f: SynapseFilter, $first: Int!, $after: String) {{
                 synapses(dataset: $ds, filter: $f, first: $first, after: $after) {{
                   nodes {{ {SYNAPSE_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}""",
            ["synapses"],
            page_size,
            "synapses",
            ds=dataset,
            f=_filter(criteria),
        )
        frame = pd.json_normalize(list(rows))
        if frame.empty:
            return frame
        frame = frame.rename(
            columns={"closestMitochondrion.euclideanNm": "mitoDistanceNm",
                     "closestMitochondrion.distance": "mitoDistanceVx",
                     "closestMitochondrion.elementId": "mitoId"}
        )  # fmt: skip
        if "mitoDistanceNm" not in frame:
            frame["mitoDistanceNm"] = None
        return _ids(frame, "id", "pre", "post", "mitoId")

    def adjacency(
        self,
        dataset: str,
        sources: list[int] | None = None,
        targets: list[int] | None = None,
        min_weight: int = 1,
        page_size: int = 1000,
    ) -> pd.DataFrame:
        """Connections from ``sources`` to ``targets`` (``None``: any neuron) with weight ≥
        ``min_weight``: columns ``pre``, ``post``, ``weight``, ``weightHP``."""
        rows = self.pages(
            """query($ds: String!, $s: [BodyId!], $t: [BodyId!], $min: Int!, $first: Int!,
                     $after: String) {
                 adjacency(dataset: $ds, sources: $s, targets: $t, minWeight: $min,
                           first: $first, after: $after) {
                   nodes { pre post weight weightHP } pageInfo { hasNextPage endCursor } } }""",
            ["adjacency"],
            page_size,
            "connections",
            ds=dataset,
            s=None if sources is None else [str(int(b)) for b in sources],
            t=None if targets is None else [str(int(b)) for b in targets],
            min=min_weight,
        )
        frame = pd.DataFrame(list(rows), columns=["pre", "post", "weight", "weightHP"])
        return _ids(frame, "pre", "post")

    def adjacency_graph(
        self,
        dataset: str,
        sources: list[int] | None = None,
        targets: list[int] | None = None,
        min_weight: int = 1,
    ) -> nx.DiGraph:
        """The adjacency as a directed graph: nodes are body ids with their ``type``, edges
        carry ``weight`` (synapses) and ``weightHP``."""
        edges = self.adjacency(dataset, sources, targets, min_weight)
        graph = nx.DiGraph()
        bodies = sorted(set(edges["pre"]) | set(edges["post"]) | set(sources or [])
                        | set(targets or []))  # fmt: skip
        if bodies:
            types = self.neurons(dataset, body_ids=bodies).set_index("bodyId")["type"]
            graph.add_nodes_from((b, {"type": types.get(b)}) for b in bodies)
        graph.add_edges_from(
            (int(r.pre), int(r.post), {"weight": int(r.weight), "weightHP": r.weightHP})
            for r in edges.itertuples()
        )
        return graph

    def cell_type_matrix(
        self, dataset: str, cell_types: list[str] | None = None, min_weight: int = 1
    ) -> pd.DataFrame:
        """Synapses from cells of each type (rows) onto cells of each type (columns)."""
        m = self.query(
            """query($ds: String!, $types: [String!], $min: Int!) {
                 cellTypeConnectivity(dataset: $ds, cellTypes: $types, minWeight: $min) {
                   cellTypes weights } }""",
            ds=dataset,
            types=cell_types,
            min=min_weight,
        )["cellTypeConnectivity"]
        names = pd.Index(m["cellTypes"], name="pre type")
        return pd.DataFrame(m["weights"], index=names, columns=names.rename("post type"))

    def mito_synapse_distances(
        self,
        dataset: str,
        cell_types: list[str],
        min_confidence: float = 0.0,
        min_type_confidence: float = 0.0,
        compartment: str | None = None,
    ) -> MitoSynapseResult:
        """SyConn2's mitochondria–synapse analysis (see the server's
        ``mitoSynapseDistances``): per-synapse distances and a summary per cell type with
        medians, quartiles and Kolmogorov–Smirnov tests (small vs large, each vs control)."""
        stats = "n medianNm q1Nm q3Nm"
        data = self.query(
            f"""query($ds: String!, $types: [String!]!, $min: Float!, $tc: Float!,
                      $c: String) {{
                 mitoSynapseDistances(dataset: $ds, cellTypes: $types, minConfidence: $min,
                                      minTypeConfidence: $tc, compartment: $c) {{
                   synapses {{ synapseId pre post cellType areaNm2 confidence preCompartment
                              postCompartment euclideanNm distance large }}
                   summary {{ cellType synapses medianAreaNm2 small {{ {stats} }}
                              large {{ {stats} }} control {{ {stats} }}
                              ksSmallVsLarge {{ statistic pvalue }}
                              ksSmallVsControl {{ statistic pvalue }}
                              ksLargeVsControl {{ statistic pvalue }} }} }} }}""",
            ds=dataset,
            types=list(cell_types),
            min=min_confidence,
            tc=min_type_confidence,
            c=compartment,
        )["mitoSynapseDistances"]
        synapses = _ids(pd.DataFrame(data["synapses"]), "synapseId", "pre", "post")
        summary = pd.json_normalize(data["summary"], sep="_")
        return MitoSynapseResult(synapses=synapses, summary=summary)
