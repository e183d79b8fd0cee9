"""The GraphQL schema (strawberry). Types are views over query-library records."""

from __future__ import annotations

from typing import Annotated, Any, NewType

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import Info

from graph import queries
from graph.ids import parse_body_id
from graph.schema import DatasetNameError, check_dataset

BodyId = strawberry.scalar(
    NewType("BodyId", int),
    serialize=lambda v: str(int(v)),
    parse_value=parse_body_id,
    description="A 64-bit unsigned body id, as a decimal string (JSON numbers lose "
    "precision above 2**53).",
)


class UserError(Exception):
    """A request the user can fix; its message becomes the GraphQL error."""


def _dataset(name: str) -> str:
    try:
        return check_dataset(name)
    except DatasetNameError as err:
        raise UserError(str(err)) from None


@strawberry.type(description="A point; voxel coordinates of the base resolution unless named Nm.")
class Vec3:
    x: float
    y: float
    z: float

    @classmethod
    def of(cls, xyz: list[float] | None) -> Vec3 | None:
        return None if xyz is None or None in xyz else cls(x=xyz[0], y=xyz[1], z=xyz[2])


@strawberry.type
class Dataset:
    name: str
    voxel_size_nm: Vec3 = strawberry.field(description="voxel size in nm, x y z")
    synapses: int | None


@strawberry.type(description="A cell segment (neuPrint :Segment/:Neuron).")
class Neuron:
    dataset: strawberry.Private[str]
    body_id: BodyId  # type: ignore[valid-type]
    size: int = strawberry.field(description="voxel count")
    pre: int = strawberry.field(description="presynaptic sites")
    post: int = strawberry.field(description="postsynaptic sites")
    type: str | None
    instance: str | None
    status: str | None
    location: Vec3 | None = strawberry.field(description="a voxel inside the cell")
    record: strawberry.Private[dict[str, Any]]

    @classmethod
    def from_record(cls, dataset: str, rec: dict[str, Any]) -> Neuron:
        return cls(
            dataset=dataset,
            body_id=rec["bodyId"],
            size=rec["size"],
            pre=rec["pre"],
            post=rec["post"],
            type=rec.get("type"),
            instance=rec.get("instance"),
            status=rec.get("status"),
            location=Vec3.of(rec.get("location")),
            record=rec,
        )

    @strawberry.field(description="number of mitochondria assigned to this cell")
    async def mitochondria(self, info: Info) -> int:
        if "mitochondria" not in self.record:
            full = await info.context.loaders.neuron.load((self.dataset, self.body_id))
            self.record = full or {}
        return int(self.record.get("mitochondria", 0))

    @strawberry.field(description="cells that synapse onto this one, heaviest first")
    async def upstream(self, info: Info) -> list[Partner]:
        rows = await info.context.loaders.upstream.load((self.dataset, self.body_id))
        return [
            Partner(dataset=self.dataset, body_id=r["bodyId"], weight=r["weight"]) for r in rows
        ]

    @strawberry.field(description="cells this one synapses onto, heaviest first")
    async def downstream(self, info: Info) -> list[Partner]:
        rows = await info.context.loaders.downstream.load((self.dataset, self.body_id))
        return [
            Partner(dataset=self.dataset, body_id=r["bodyId"], weight=r["weight"]) for r in rows
        ]


@strawberry.type(description="A connected cell and the number of synapses (ConnectsTo.weight).")
class Partner:
    dataset: strawberry.Private[str]
    body_id: BodyId  # type: ignore[valid-type]
    weight: int

    @strawberry.field
    async def neuron(self, info: Info) -> Neuron | None:
        rec = await info.context.loaders.neuron.load((self.dataset, self.body_id))
        return Neuron.from_record(self.dataset, rec) if rec else None


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class NeuronEdge:
    cursor: str
    node: Neuron


@strawberry.type
class NeuronConnection:
    edges: list[NeuronEdge]
    page_info: PageInfo
    total_count: int

    @strawberry.field
    def nodes(self) -> list[Neuron]:
        return [e.node for e in self.edges]


@strawberry.type(description="The presynaptic cell's mitochondrion nearest to a synapse.")
class MitochondrionDistance:
    element_id: int
    euclidean_nm: float = strawberry.field(description="straight-line distance in nm")
    distance: float | None = strawberry.field(
        description="along-the-neuron distance in voxels (neuPrint's CloseTo.distance)"
    )
    location: Vec3 | None


@strawberry.type(
    description="A synaptic connection: a pre site in one cell, a post site in another."
)
class Synapse:
    id: int
    pre: BodyId  # type: ignore[valid-type]
    post: BodyId  # type: ignore[valid-type]
    confidence: float | None
    synapse_type: str | None = strawberry.field(description="asymmetric or symmetric")
    area_nm2: float | None = strawberry.field(
        description="cleft area in nm² (half the junction mesh's area, as SyConn2)"
    )
    size: int | None = strawberry.field(description="junction voxels")
    pre_location: Vec3 | None
    post_location: Vec3 | None
    closest_mitochondrion: MitochondrionDistance | None

    @strawberry.field(description="distance in nm to the pre cell's nearest mitochondrion")
    def mito_distance_nm(self) -> float | None:
        m = self.closest_mitochondrion
        return m.euclidean_nm if m else None

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Synapse:
        mito = None
        if r.get("mitoId") is not None:
            mito = MitochondrionDistance(
                element_id=r["mitoId"],
                euclidean_nm=r["euclideanNm"],
                distance=r.get("distance"),
                location=Vec3.of(r.get("mitoLocation")),
            )
        return cls(
            id=r["id"],
            pre=r["pre"],
            post=r["post"],
            confidence=r.get("confidence"),
            synapse_type=r.get("synapseType"),
            area_nm2=r.get("areaNm2"),
            size=r.get("size"),
            pre_location=Vec3.of(r.get("preLocation")),
            post_location=Vec3.of(r.get("postLocation")),
            closest_mitochondrion=mito,
        )


def _page_size(info: Info, first: int) -> int:
    cap = info.context.settings.max_page_size
    if first < 1 or first > cap:
        raise UserError(f"first must be between 1 and {cap}, not {first}")
    return first


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

    @strawberry.field(description="neurons of a data set ordered by body id, a page at a time")
    async def neurons(
        self, info: Info, dataset: str, first: int = 50, after: str | None = None
    ) -> NeuronConnection:
        ds = _dataset(dataset)
        first = _page_size(info, first)
        try:
            after_id = parse_body_id(after) if after else None
        except ValueError as err:
            raise UserError(f"after: {err}") from None
        rows, has_next, total = await queries.neurons_page(info.context.reader, ds, first, after_id)
        edges = [NeuronEdge(cursor=str(r["bodyId"]), node=Neuron.from_record(ds, r)) for r in rows]
        return NeuronConnection(
            edges=edges,
            total_count=total,
            page_info=PageInfo(
                has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @strawberry.field(description="one neuron by body id, or null")
    async def neuron(self, info: Info, dataset: str, body_id: BodyId) -> Neuron | None:  # type: ignore[valid-type]
        ds = _dataset(dataset)
        rec = await info.context.loaders.neuron.load((ds, int(body_id)))
        return Neuron.from_record(ds, rec) if rec else None

    @strawberry.field(
        description="synaptic connections, optionally from `pre` and/or to `post`, "
        "with the distance to the pre cell's nearest mitochondrion"
    )
    async def synapses(
        self,
        info: Info,
        dataset: str,
        pre: Annotated[BodyId | None, strawberry.argument()] = None,  # type: ignore[valid-type]
        post: Annotated[BodyId | None, strawberry.argument()] = None,  # type: ignore[valid-type]
        first: int = 100,
        after: int | None = None,
    ) -> list[Synapse]:
        ds = _dataset(dataset)
        first = _page_size(info, first)
        rows = await queries.synapses(
            info.context.reader,
            ds,
            int(pre) if pre is not None else None,
            int(post) if post is not None else None,
            first,
            after,
        )
        return [Synapse.from_record(r) for r in rows]


def _mask(error: Any) -> bool:
    """Hide internal errors (driver, Cypher) behind a generic message; keep the user's."""
    original = getattr(error, "original_error", None)
    return original is not None and not isinstance(original, UserError | ValueError | GraphQLError)


schema = strawberry.Schema(
    query=Query,
    extensions=[
        lambda: MaskErrors(
            should_mask_error=_mask,
            error_message="internal error while answering the query; see the server log",
        )
    ],
)
