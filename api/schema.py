"""The GraphQL schema (strawberry): the root query and mutation over the query library.

The types are in :mod:`api.views`; limits on depth and cost in :mod:`api.limits`. The
schema as clients see it is printed to ``api/schema.graphql``
(``python -m api.schema > api/schema.graphql``); a test fails when the two differ.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from api.auth import Forbidden, require_admin
from api.limits import QueryLimits
from api.views import (
    SCALARS,
    AdjacencyConnection,
    AdjacencyEdge,
    BodyId,
    CellTypeMatrix,
    CellTypeMitoSummary,
    Connection,
    ControlSample,
    Dataset,
    MitoSynapseAnalysis,
    MitoSynapseRow,
    Neuron,
    NeuronConnection,
    NeuronEdge,
    NeuronFilter,
    NeuronOrder,
    NeuronPath,
    PageInfo,
    SynapseConnection,
    SynapseFilter,
    UserError,
    Vec3,
    int_cursor,
    neuron_cursor,
    page_size,
    parse_neuron_cursor,
    selected_names,
)
from graph import analysis, queries, synapse_queries
from graph.ids import parse_body_id
from graph.schema import DatasetNameError, check_dataset


def _dataset(name: str) -> str:
    try:
        return check_dataset(name)
    except DatasetNameError as err:
        raise UserError(str(err)) from None


def _pair_cursor(after: str | None) -> tuple[int, int] | None:
    if after is None:
        return None
    try:
        pre, post = after.split(":")
        return parse_body_id(pre), parse_body_id(post)
    except ValueError:
        raise UserError(f"after: {after!r} is not a connection cursor from this query") from None


@strawberry.input(description="Annotations of one neuron; a field left out stays as it is.")
class NeuronAnnotation:
    body_id: BodyId
    type: str | None = None
    type_confidence: float | None = None
    instance: str | None = None
    status: str | None = None


@strawberry.type
class Query:
    @strawberry.field(description="data sets that are completely loaded")
    async def datasets(self, info: Info) -> list[Dataset]:
        rows = await queries.datasets(info.context.reader)
        return [
            Dataset(
                name=r["dataset"],
                voxel_size_nm=Vec3.of(r["voxelSize"]),  # type: ignore[arg-type]
                synapses=r.get("synapses"),
            )
            for r in rows
        ]

    @strawberry.field(
        description="neurons ordered by `orderBy` (body id, pre, post or size; then body id), "
        "filtered, a page at a time"
    )
    async def neurons(
        self,
        info: Info,
        dataset: str,
        filter: NeuronFilter | None = None,
        first: int = 50,
        after: str | None = None,
        order_by: NeuronOrder = NeuronOrder.BODY_ID,
        descending: bool = False,
    ) -> NeuronConnection:
        ds = _dataset(dataset)
        first = page_size(info, first)
        where_ = filter.to_query() if filter else None
        rows, has_next = await queries.neurons_page(
            info.context.reader, ds, first, parse_neuron_cursor(after, order_by), where_,
            order=order_by.value, descending=descending,
        )  # fmt: skip
        edges = [NeuronEdge(cursor=neuron_cursor(r, order_by), node=Neuron.from_record(ds, r))
                 for r in rows]  # fmt: skip
        return NeuronConnection(
            dataset=ds,
            where=where_,
            edges=edges,
            page_info=PageInfo.of(edges, has_next),
        )

    @strawberry.field(description="one neuron (any segment) by body id, or null")
    async def neuron(self, info: Info, dataset: str, body_id: BodyId) -> Neuron | None:
        ds = _dataset(dataset)
        rec = await info.context.loaders.neuron.load((ds, int(body_id)))
        return Neuron.from_record(ds, rec) if rec else None

    @strawberry.field(
        description="synaptic connections ordered by synapse id, filtered, a page at a time, "
        "with the distance to the pre cell's nearest mitochondrion"
    )
    async def synapses(
        self,
        info: Info,
        dataset: str,
        filter: SynapseFilter | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> SynapseConnection:
        ds = _dataset(dataset)
        first = page_size(info, first)
        where_ = filter.to_query() if filter else None
        after_id = int_cursor(after, "synapse")
        rows, has_next = await synapse_queries.synapses_page(
            info.context.reader, ds, first, after_id, where_
        )
        return SynapseConnection.of(ds, rows, has_next, where_)

    @strawberry.field(
        description="connections from `sources` (pre) to `targets` (post), either null for "
        "any neuron, with weight >= minWeight, ordered by (pre, post), a page at a time"
    )
    async def adjacency(
        self,
        info: Info,
        dataset: str,
        sources: list[BodyId] | None = None,
        targets: list[BodyId] | None = None,
        min_weight: int = 1,
        first: int = 1000,
        after: str | None = None,
    ) -> AdjacencyConnection:
        ds = _dataset(dataset)
        first = page_size(info, first)
        rows, has_next = await queries.adjacency(
            info.context.reader,
            ds,
            None if sources is None else [int(b) for b in sources],
            None if targets is None else [int(b) for b in targets],
            min_weight,
            first,
            _pair_cursor(after),
        )
        edges = [
            AdjacencyEdge(
                cursor=f"{r['pre']}:{r['post']}",
                node=Connection(
                    pre=r["pre"], post=r["post"], weight=r["weight"], weight_hp=r.get("weightHP")
                ),
            )
            for r in rows
        ]
        return AdjacencyConnection(
            edges=edges,
            page_info=PageInfo.of(edges, has_next),
        )

    @strawberry.field(
        description="synapses and connected neuron pairs between cell types (rows: pre type, "
        "columns: post type); all annotated types unless `cellTypes` names some"
    )
    async def cell_type_connectivity(
        self,
        info: Info,
        dataset: str,
        cell_types: list[str] | None = None,
        min_weight: int = 1,
    ) -> CellTypeMatrix:
        ds = _dataset(dataset)
        rows = await queries.cell_type_connectivity(info.context.reader, ds, cell_types, min_weight)
        names = (
            list(cell_types)
            if cell_types is not None
            else sorted({r["pre"] for r in rows} | {r["post"] for r in rows})
        )
        weights, pairs = analysis.type_matrices(names, rows)
        return CellTypeMatrix(cell_types=names, weights=weights, neuron_pairs=pairs)

    @strawberry.field(
        description="all shortest paths along connections of weight >= minWeight from one "
        "cell to another, at most maxLength hops; time-boxed (the server's path_timeout_s)"
    )
    async def shortest_paths(
        self,
        info: Info,
        dataset: str,
        from_: Annotated[BodyId, strawberry.argument(name="from")],
        to: BodyId,
        min_weight: int = 1,
        max_length: int = 5,
    ) -> list[NeuronPath]:
        ds = _dataset(dataset)
        if not 1 <= max_length <= 10:
            raise UserError(f"maxLength must be between 1 and 10, not {max_length}")
        timeout = info.context.settings.path_timeout_s
        try:
            rows = await queries.shortest_paths(
                info.context.reader, ds, int(from_), int(to), min_weight, max_length, timeout
            )
        except queries.QueryTimeout:
            raise UserError(
                f"the path search ran past its {timeout:g} s time box; lower maxLength or "
                "raise minWeight"
            ) from None
        return [NeuronPath(body_ids=r["bodyIds"], weights=r["weights"]) for r in rows]

    @strawberry.field(
        description="SyConn2's analysis: the distance from each synapse made by cells of "
        "`cellTypes` to the pre cell's nearest mitochondrion; per type, the synapses split "
        "at the median cleft area, with the random control on axon surfaces and two-sided "
        "Kolmogorov-Smirnov tests. `compartment` keeps synapses onto that postsynaptic "
        "compartment or site (dendrite, soma, axon, spine_head, shaft)"
    )
    async def mito_synapse_distances(
        self,
        info: Info,
        dataset: str,
        cell_types: list[str],
        min_confidence: float = 0.0,
        min_type_confidence: float = 0.0,
        compartment: str | None = None,
    ) -> MitoSynapseAnalysis:
        ds = _dataset(dataset)
        if not cell_types:
            raise UserError("cellTypes must name at least one cell type")
        asked = selected_names(info.selected_fields)
        result = await analysis.mito_synapse_distances(
            info.context.reader, ds, list(cell_types), min_confidence, min_type_confidence,
            compartment, with_rows="synapses" in asked,
        )  # fmt: skip
        controls = [
            ControlSample(cell_type=t, distances_nm=[
                d for d in result.controls.get(t, []) if d is not None])
            for t in cell_types
        ]  # fmt: skip
        return MitoSynapseAnalysis(
            synapses=[MitoSynapseRow.from_record(r) for r in result.synapses],
            summary=[CellTypeMitoSummary.of(s) for s in result.summary],
            controls=controls,
        )


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="set the type, type confidence, instance or status of neurons (admin); "
        "returns how many neurons were found and updated"
    )
    async def annotate_neurons(
        self, info: Info, dataset: str, annotations: list[NeuronAnnotation]
    ) -> int:
        require_admin(info.context.principal)
        ds = _dataset(dataset)
        rows: list[dict[str, Any]] = [
            {"bodyId": int(a.body_id), "type": a.type, "typeConfidence": a.type_confidence,
             "instance": a.instance, "status": a.status}
            for a in annotations
        ]  # fmt: skip
        return await queries.annotate_neurons(info.context.reader, ds, rows)


def _mask(error: Any) -> bool:
    """Hide internal errors (driver, Cypher) behind a generic message; keep the user's."""
    original = getattr(error, "original_error", None)
    return original is not None and not isinstance(
        original, UserError | ValueError | GraphQLError | Forbidden
    )


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    config=StrawberryConfig(scalar_map=SCALARS),
    extensions=[
        lambda: ParserCache(maxsize=512),  # a notebook or the web page asks the same few
        lambda: ValidationCache(maxsize=512),  # query texts again and again
        QueryLimits,  # depth and cost; cost counts aliased fields too, so no alias limiter
        # (strawberry's MaxAliasesLimiter makes a new validation rule per request, which
        # defeats the validation cache)
        lambda: MaxTokensLimiter(max_token_count=5000),
        lambda: MaskErrors(
            should_mask_error=_mask,
            error_message="internal error while answering the query; see the server log",
        ),
    ],
)

if __name__ == "__main__":
    sys.stdout.write(schema.as_str() + "\n")
