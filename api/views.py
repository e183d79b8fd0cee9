"""GraphQL types (strawberry): views over the query library's records, never rows themselves.

Fields that need another query (partners, compartments, organelles, a neuron's synapses, the
cells of a synapse) go through the request's DataLoaders (:mod:`api.loaders`), so a page of
any length costs one Cypher round trip per field asked for, not one per object.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Any, NewType

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from api import neuroglancer
from graph import queries, synapse_queries
from graph.analysis import CellTypeSummary
from graph.analysis import DistanceStats as DistanceStatsRecord
from graph.analysis import KsTest as KsTestRecord
from graph.ids import parse_body_id

BodyId = NewType("BodyId", int)
Long = NewType("Long", int)
SCALARS: dict[object, Any] = {
    BodyId: strawberry.scalar(
        name="BodyId",
        serialize=lambda v: str(int(v)),
        parse_value=parse_body_id,
        description="A 64-bit unsigned body id, as a decimal string (JSON numbers lose "
        "precision above 2**53).",
    ),
    Long: strawberry.scalar(
        name="Long",
        serialize=int,
        parse_value=int,
        description="A 64-bit integer as a JSON number (exact up to 2**53): voxel counts.",
    ),
}  # the schema's scalar_map


class UserError(Exception):
    """A request the user can fix; its message becomes the GraphQL error."""


@strawberry.type(description="A point; voxel coordinates of the base resolution unless named Nm.")
class Vec3:
    x: float
    y: float
    z: float

    @classmethod
    def of(cls, xyz: list[float] | None) -> Vec3 | None:
        return None if xyz is None or None in xyz else cls(x=xyz[0], y=xyz[1], z=xyz[2])


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None

    @classmethod
    def of(cls, edges: list[Any], has_next: bool) -> PageInfo:
        """The page info of a page of ``edges`` (each with a ``cursor``)."""
        return cls(has_next_page=has_next, end_cursor=edges[-1].cursor if edges else None)


@strawberry.type
class Dataset:
    name: str
    voxel_size_nm: Vec3 = strawberry.field(description="voxel size in nm, x y z")
    synapses: int | None


@strawberry.enum(description="Which side of its synapses a neuron is on.")
class SynapseDirection(enum.Enum):
    OUTPUT = "output"
    INPUT = "input"
    BOTH = "both"


@strawberry.enum(description="What a page of neurons is ordered by (then by body id).")
class NeuronOrder(enum.Enum):
    BODY_ID = "bodyId"
    PRE = "pre"
    POST = "post"
    SIZE = "size"


def neuron_cursor(row: dict[str, Any], order: NeuronOrder) -> str:
    """The cursor of a neuron row in a page ordered by ``order``: its body id, or
    ``value:bodyId``.

    Examples
    --------
    >>> neuron_cursor({"bodyId": 7, "pre": 3}, NeuronOrder.PRE)
    '3:7'
    """
    if order is NeuronOrder.BODY_ID:
        return str(row["bodyId"])
    return f"{row[order.value]}:{row['bodyId']}"


def parse_neuron_cursor(after: str | None, order: NeuronOrder) -> int | tuple[int, int] | None:
    """The ``after`` of :func:`graph.queries.neurons_page` from a :func:`neuron_cursor`.

    Examples
    --------
    >>> parse_neuron_cursor("3:7", NeuronOrder.PRE)
    (3, 7)
    >>> parse_neuron_cursor("3:7", NeuronOrder.BODY_ID)
    Traceback (most recent call last):
    ...
    api.views.UserError: after: '3:7' is not a neuron cursor from this query
    """
    if after is None or order is NeuronOrder.BODY_ID:
        return int_cursor(after, "neuron")
    value, sep, body = after.partition(":")
    try:
        if not sep:
            raise ValueError(after)
        return int(value), parse_body_id(body)
    except ValueError:
        raise UserError(f"after: {after!r} is not a neuron cursor from this query") from None


def _filter_values(given: Any, query_filter: Any) -> dict[str, Any]:
    """The fields of a GraphQL filter input that the query library's ``query_filter``
    dataclass has, lists as tuples (so the filter is hashable: a DataLoader key)."""
    values = {k: getattr(given, k) for k in query_filter.__dataclass_fields__}
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


@strawberry.input(description="Criteria a neuron must meet; each left out is not applied.")
class NeuronFilter:
    body_ids: list[BodyId] | None = None
    types: list[str] | None = strawberry.field(default=None, description="exact, any of")
    type_regex: str | None = strawberry.field(
        default=None, description="a Java regular expression matching the whole type"
    )
    min_pre: int | None = None
    min_post: int | None = None
    has_soma: bool | None = None
    min_type_confidence: float | None = None
    min_axon_path_length_nm: float | None = None
    min_dendrite_path_length_nm: float | None = None
    min_soma_path_length_nm: float | None = None

    def to_query(self) -> queries.NeuronFilter:
        return queries.NeuronFilter(**_filter_values(self, queries.NeuronFilter))


@strawberry.input(description="Criteria a synapse must meet; each left out is not applied.")
class SynapseFilter:
    pre_body_ids: list[BodyId] | None = None
    post_body_ids: list[BodyId] | None = None
    pre_types: list[str] | None = None
    post_types: list[str] | None = None
    min_confidence: float | None = None
    pre_compartments: list[str] | None = strawberry.field(
        default=None,
        description="a coarse compartment (axon, dendrite, soma) or a site (bouton, "
        "spine_head, spine_neck, shaft); any of",
    )
    post_compartments: list[str] | None = None
    synapse_types: list[str] | None = strawberry.field(
        default=None, description="asymmetric, symmetric"
    )
    min_area_nm2: float | None = None
    max_area_nm2: float | None = None

    def to_query(self) -> synapse_queries.SynapseFilter:
        return synapse_queries.SynapseFilter(**_filter_values(self, synapse_queries.SynapseFilter))


def page_size(info: Info, first: int) -> int:
    """``first`` if it is within the server's page-size cap, else a clear error."""
    cap = info.context.settings.max_page_size
    if first < 1 or first > cap:
        raise UserError(f"first must be between 1 and {cap}, not {first}")
    return first


def int_cursor(after: str | None, what: str) -> int | None:
    """A page cursor that is an integer id (``None`` for the first page)."""
    if after is None:
        return None
    try:
        return parse_body_id(after)
    except ValueError:
        raise UserError(f"after: {after!r} is not a {what} cursor from this query") from None


@strawberry.type(description="A compartment of a cell (neuPrint model extended: :Compartment).")
class Compartment:
    type: str = strawberry.field(description="soma, dendrite or axon")
    path_length_nm: float | None = strawberry.field(description="skeleton cable in nm")
    mesh_area_nm2: float | None
    nodes: int | None = strawberry.field(description="skeleton nodes")
    boutons: int | None
    spines: int | None
    location: Vec3 | None

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Compartment:
        return cls(
            type=r["type"],
            path_length_nm=r.get("pathLengthNm"),
            mesh_area_nm2=r.get("meshAreaNm2"),
            nodes=r.get("nodes"),
            boutons=r.get("boutons"),
            spines=r.get("spines"),
            location=Vec3.of(r.get("location")),
        )


@strawberry.type(description="A mitochondrion or vesicle cloud (neuPrint :Element).")
class Organelle:
    element_id: strawberry.ID
    type: str
    size: int | None = strawberry.field(description="voxels")
    overlap: float | None = strawberry.field(description="fraction inside its cell")
    compartment: str | None
    location: Vec3 | None

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> Organelle:
        return cls(
            element_id=strawberry.ID(str(r["elementId"])),
            type=r["type"],
            size=r.get("size"),
            overlap=r.get("overlap"),
            compartment=r.get("compartment"),
            location=Vec3.of(r.get("location")),
        )


_NEURON_SCALARS = (
    "type", "type_confidence", "instance", "status", "has_soma", "cable_length_nm",
    "mesh_volume_nm3", "mesh_area_nm2", "axon_path_length_nm", "dendrite_path_length_nm",
    "soma_path_length_nm", "boutons", "spines",
)  # fmt: skip


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


@strawberry.type(description="A cell segment (neuPrint :Segment/:Neuron).")
class Neuron:
    dataset: strawberry.Private[str]
    record: strawberry.Private[dict[str, Any]]
    body_id: BodyId
    size: Long = strawberry.field(description="voxel count")
    pre: int = strawberry.field(description="presynaptic sites")
    post: int = strawberry.field(description="postsynaptic sites")
    type: str | None = strawberry.field(description="cell type (annotated or predicted)")
    type_confidence: float | None
    instance: str | None
    status: str | None
    has_soma: bool | None
    location: Vec3 | None = strawberry.field(description="a voxel inside the cell")
    cable_length_nm: float | None = strawberry.field(description="skeleton cable length")
    mesh_volume_nm3: float | None
    mesh_area_nm2: float | None
    axon_path_length_nm: float | None
    dendrite_path_length_nm: float | None
    soma_path_length_nm: float | None
    boutons: int | None
    spines: int | None

    @classmethod
    def from_record(cls, dataset: str, rec: dict[str, Any]) -> Neuron:
        return cls(
            dataset=dataset,
            record=rec,
            body_id=rec["bodyId"],
            size=Long(rec.get("size") or 0),
            pre=rec.get("pre") or 0,
            post=rec.get("post") or 0,
            location=Vec3.of(rec.get("location")),
            **{name: rec.get(_camel(name)) for name in _NEURON_SCALARS},
        )

    @strawberry.field(description="the cell's location in nm (x, y, z)")
    async def location_nm(self, info: Info) -> Vec3 | None:
        meta = await info.context.loaders.meta.load(self.dataset)
        xyz = self.record.get("location")
        if meta is None or xyz is None or None in xyz:
            return None
        vx = meta["voxelSize"]
        return Vec3(x=xyz[0] * vx[0], y=xyz[1] * vx[1], z=xyz[2] * vx[2])

    async def _counts(self, info: Info) -> dict[str, Any]:
        counts = await info.context.loaders.organelle_counts.load((self.dataset, self.body_id))
        return counts or {}

    @strawberry.field(description="number of mitochondria assigned to this cell")
    async def mitochondrion_count(self, info: Info) -> int:
        return int((await self._counts(info)).get("mitochondrionCount") or 0)

    @strawberry.field(description="number of vesicle clouds assigned to this cell")
    async def vesicle_cloud_count(self, info: Info) -> int:
        return int((await self._counts(info)).get("vesicleCloudCount") or 0)

    @strawberry.field(description="soma, dendrite and axon with path lengths")
    async def compartments(self, info: Info) -> list[Compartment]:
        rows = await info.context.loaders.compartments.load((self.dataset, self.body_id))
        return [Compartment.from_record(r) for r in rows]

    @strawberry.field(description="the cell's mitochondria")
    async def mitochondria(self, info: Info) -> list[Organelle]:
        rows = await info.context.loaders.organelles.load(
            (self.dataset, self.body_id, "mitochondrion")
        )
        return [Organelle.from_record(r) for r in rows]

    @strawberry.field(description="the cell's vesicle clouds")
    async def vesicle_clouds(self, info: Info) -> list[Organelle]:
        rows = await info.context.loaders.organelles.load(
            (self.dataset, self.body_id, "vesicle_cloud")
        )
        return [Organelle.from_record(r) for r in rows]

    @strawberry.field(
        description="this neuron's synapses: as the presynaptic side (OUTPUT), the "
        "postsynaptic side (INPUT) or either (BOTH), ordered by synapse id"
    )
    async def synapses(
        self,
        info: Info,
        direction: SynapseDirection = SynapseDirection.BOTH,
        filter: SynapseFilter | None = None,
        first: int = 100,
        after: str | None = None,
    ) -> SynapseConnection:
        first = page_size(info, first)
        where_ = filter.to_query() if filter else None
        after_id = int_cursor(after, "synapse")
        # an output page whose fields are all on this body's own sites skips the partner walk
        partner = direction is not SynapseDirection.OUTPUT or bool(
            node_fields(info.selected_fields) & OUTPUT_PARTNER_FIELDS
        )
        rows, has_next = await info.context.loaders.synapses_of.load(
            (self.dataset, self.body_id, direction.value, where_, first, after_id, partner)
        )
        return SynapseConnection.of(self.dataset, rows, has_next, where_, self.body_id, direction)

    @strawberry.field(description="cells that synapse onto this one, heaviest first")
    async def upstream(self, info: Info, min_weight: int = 1) -> list[Partner]:
        rows = await info.context.loaders.upstream.load((self.dataset, self.body_id, min_weight))
        return [Partner.from_record(self.dataset, r) for r in rows]

    @strawberry.field(description="cells this one synapses onto, heaviest first")
    async def downstream(self, info: Info, min_weight: int = 1) -> list[Partner]:
        rows = await info.context.loaders.downstream.load((self.dataset, self.body_id, min_weight))
        return [Partner.from_record(self.dataset, r) for r in rows]

    @strawberry.field(
        description="a Neuroglancer link: EM, cells with this one selected (mesh, skeleton "
        "by compartment), synapse and mitochondrion annotations, centred on the cell"
    )
    async def neuroglancer_url(self, info: Info) -> str:
        return await neuroglancer.link(
            info, self.dataset, [self.body_id], self.record.get("location")
        )


@strawberry.type(description="A connected cell and the number of synapses (ConnectsTo.weight).")
class Partner:
    dataset: strawberry.Private[str]
    body_id: BodyId
    weight: int
    weight_hp: int | None = strawberry.field(
        name="weightHP", description="synapses at or above the high-accuracy confidence"
    )

    @classmethod
    def from_record(cls, dataset: str, r: dict[str, Any]) -> Partner:
        return cls(
            dataset=dataset, body_id=r["bodyId"], weight=r["weight"], weight_hp=r.get("weightHP")
        )

    @strawberry.field
    async def neuron(self, info: Info) -> Neuron | None:
        rec = await info.context.loaders.neuron.load((self.dataset, self.body_id))
        return Neuron.from_record(self.dataset, rec) if rec else None


@strawberry.type
class NeuronEdge:
    cursor: str
    node: Neuron


@strawberry.type
class NeuronConnection:
    dataset: strawberry.Private[str]
    where: strawberry.Private[queries.NeuronFilter | None]
    edges: list[NeuronEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[Neuron]:
        return [e.node for e in self.edges]

    @strawberry.field(description="neurons passing the filter (one extra query, when asked)")
    async def total_count(self, info: Info) -> int:
        return await queries.count_neurons(info.context.reader, self.dataset, self.where)


@strawberry.type(description="The presynaptic cell's mitochondrion nearest to a synapse.")
class MitochondrionDistance:
    element_id: strawberry.ID
    euclidean_nm: float | None = strawberry.field(description="straight-line distance in nm")
    distance: float | None = strawberry.field(
        description="along-the-neuron distance in voxels (neuPrint's CloseTo.distance)"
    )
    location: Vec3 | None


@strawberry.type(
    description="A synaptic connection: a pre site in one cell, a post site in another."
)
class Synapse:
    dataset: strawberry.Private[str]
    id: strawberry.ID = strawberry.field(description="synapse id (shared by both sites)")
    pre: BodyId
    post: BodyId
    confidence: float | None
    synapse_type: str | None = strawberry.field(description="asymmetric or symmetric")
    area_nm2: float | None = strawberry.field(
        description="cleft area in nm² (half the junction mesh's area, as SyConn2)"
    )
    size: int | None = strawberry.field(description="junction voxels")
    pre_compartment: str | None = strawberry.field(description="axon, dendrite or soma")
    post_compartment: str | None
    pre_site: str | None = strawberry.field(description="e.g. bouton")
    post_site: str | None = strawberry.field(description="e.g. spine_head, shaft, soma")
    spine_head_volume_nm3: float | None
    pre_location: Vec3 | None
    post_location: Vec3 | None
    closest_mitochondrion: MitochondrionDistance | None

    @strawberry.field(description="distance in nm to the pre cell's nearest mitochondrion")
    def mito_distance_nm(self) -> float | None:
        m = self.closest_mitochondrion
        return m.euclidean_nm if m else None

    @strawberry.field(description="the presynaptic cell")
    async def pre_neuron(self, info: Info) -> Neuron | None:
        rec = await info.context.loaders.neuron.load((self.dataset, self.pre))
        return Neuron.from_record(self.dataset, rec) if rec else None

    @strawberry.field(description="the postsynaptic cell")
    async def post_neuron(self, info: Info) -> Neuron | None:
        rec = await info.context.loaders.neuron.load((self.dataset, self.post))
        return Neuron.from_record(self.dataset, rec) if rec else None

    @strawberry.field(description="a Neuroglancer link centred on the synapse, both cells shown")
    async def neuroglancer_url(self, info: Info) -> str:
        centre = self.pre_location or self.post_location
        xyz = [centre.x, centre.y, centre.z] if centre else None
        return await neuroglancer.link(info, self.dataset, [self.pre, self.post], xyz, zoom=True)

    @classmethod
    def from_record(cls, dataset: str, r: dict[str, Any]) -> Synapse:
        mito = None
        if r.get("mitoId") is not None:
            mito = MitochondrionDistance(
                element_id=strawberry.ID(str(r["mitoId"])),
                euclidean_nm=r.get("euclideanNm"),
                distance=r.get("distance"),
                location=Vec3.of(r.get("mitoLocation")),
            )
        return cls(
            dataset=dataset,
            id=strawberry.ID(str(r["id"])),
            pre=r["pre"],
            post=r["post"],
            confidence=r.get("confidence"),
            synapse_type=r.get("synapseType"),
            area_nm2=r.get("areaNm2"),
            size=r.get("size"),
            pre_compartment=r.get("preCompartment"),
            post_compartment=r.get("postCompartment"),
            pre_site=r.get("preSite"),
            post_site=r.get("postSite"),
            spine_head_volume_nm3=r.get("spineHeadVolumeNm3"),
            pre_location=Vec3.of(r.get("preLocation")),
            post_location=Vec3.of(r.get("postLocation")),
            closest_mitochondrion=mito,
        )


@strawberry.type
class SynapseEdge:
    cursor: str
    node: Synapse


def _children(selection: Any) -> list[SelectedField]:
    """The fields selected directly under ``selection``, through fragments."""
    found: list[SelectedField] = []
    for child in getattr(selection, "selections", []):
        if isinstance(child, SelectedField):
            found.append(child)
        else:  # a fragment spread or inline fragment: look inside
            found.extend(_children(child))
    return found


def selected_names(selections: list[Any]) -> set[str]:
    """The names of the fields selected directly under these fields (through fragments)."""
    return {child.name for selection in selections for child in _children(selection)}


def node_fields(selections: list[Any]) -> set[str]:
    """The names of the fields asked of a connection's nodes (``nodes { … }`` and
    ``edges { node { … } }``)."""
    names: set[str] = set()
    for child in (c for s in selections for c in _children(s)):
        if child.name == "nodes":
            names |= selected_names([child])
        elif child.name == "edges":
            names |= selected_names([e for e in _children(child) if e.name == "node"])
    return names


# What a page of a body's OUTPUT synapses needs the partner (the postsynaptic site and body)
# for; the body's own presynaptic site answers every other field.
OUTPUT_PARTNER_FIELDS = frozenset(
    {"post", "postSite", "postLocation", "postNeuron", "neuroglancerUrl"}
)


@strawberry.type
class SynapseConnection:
    dataset: strawberry.Private[str]
    where: strawberry.Private[synapse_queries.SynapseFilter | None]
    owner: strawberry.Private[int | None]
    direction: strawberry.Private[SynapseDirection | None]
    edges: list[SynapseEdge]
    page_info: PageInfo

    @classmethod
    def of(
        cls,
        dataset: str,
        rows: list[dict[str, Any]],
        has_next: bool,
        where_: synapse_queries.SynapseFilter | None,
        owner: int | None = None,
        direction: SynapseDirection | None = None,
    ) -> SynapseConnection:
        edges = [SynapseEdge(cursor=str(r["id"]), node=Synapse.from_record(dataset, r))
                 for r in rows]  # fmt: skip
        return cls(
            dataset=dataset,
            where=where_,
            owner=owner,
            direction=direction,
            edges=edges,
            page_info=PageInfo.of(edges, has_next),
        )

    @strawberry.field
    def nodes(self) -> list[Synapse]:
        return [e.node for e in self.edges]

    @strawberry.field(description="synapses passing the filter (one extra query, when asked)")
    async def total_count(self, info: Info) -> int:
        where_ = self.where or synapse_queries.SynapseFilter()
        if self.owner is None or self.direction is None:
            return await synapse_queries.count_synapses(info.context.reader, self.dataset, where_)
        total = 0
        sides = {
            SynapseDirection.OUTPUT: ("pre_body_ids",),
            SynapseDirection.INPUT: ("post_body_ids",),
            SynapseDirection.BOTH: ("pre_body_ids", "post_body_ids"),
        }[self.direction]
        for side in sides:
            owner: dict[str, Any] = {side: (self.owner,)}
            mine = dataclasses.replace(where_, **owner)
            total += await synapse_queries.count_synapses(info.context.reader, self.dataset, mine)
        if self.direction is SynapseDirection.BOTH:  # autapses were counted twice
            both = dataclasses.replace(
                where_, pre_body_ids=(self.owner,), post_body_ids=(self.owner,)
            )
            total -= await synapse_queries.count_synapses(info.context.reader, self.dataset, both)
        return total


@strawberry.type(description="A neuron-to-neuron connection (neuPrint ConnectsTo).")
class Connection:
    pre: BodyId
    post: BodyId
    weight: int
    weight_hp: int | None = strawberry.field(name="weightHP")


@strawberry.type
class AdjacencyEdge:
    cursor: str
    node: Connection


@strawberry.type
class AdjacencyConnection:
    edges: list[AdjacencyEdge]
    page_info: PageInfo

    @strawberry.field
    def nodes(self) -> list[Connection]:
        return [e.node for e in self.edges]


@strawberry.type(description="Connectivity between cell types (typed neurons only).")
class CellTypeMatrix:
    cell_types: list[str]
    weights: list[list[int]] = strawberry.field(
        description="weights[i][j]: synapses from cells of cellTypes[i] onto cellTypes[j]"
    )
    neuron_pairs: list[list[int]] = strawberry.field(
        description="neuronPairs[i][j]: connected (pre, post) neuron pairs"
    )


@strawberry.type(description="A path along ConnectsTo: the cells and the weights between them.")
class NeuronPath:
    body_ids: list[BodyId]
    weights: list[int]


@strawberry.type(description="One synapse of the mitochondria–synapse analysis.")
class MitoSynapseRow:
    synapse_id: strawberry.ID
    pre: BodyId
    post: BodyId
    cell_type: str = strawberry.field(description="the presynaptic cell's type")
    area_nm2: float | None
    confidence: float | None
    pre_compartment: str | None
    post_compartment: str | None
    euclidean_nm: float | None = strawberry.field(
        description="straight-line distance to the pre cell's nearest mitochondrion"
    )
    distance: float | None = strawberry.field(description="along the skeleton, voxels")
    large: bool | None = strawberry.field(description="cleft area above the type's median")

    @classmethod
    def from_record(cls, r: dict[str, Any]) -> MitoSynapseRow:
        return cls(
            synapse_id=strawberry.ID(str(r["synapseId"])),
            pre=r["pre"],
            post=r["post"],
            cell_type=r["cellType"],
            area_nm2=r.get("areaNm2"),
            confidence=r.get("confidence"),
            pre_compartment=r.get("preCompartment"),
            post_compartment=r.get("postCompartment"),
            euclidean_nm=r.get("euclideanNm"),
            distance=r.get("distance"),
            large=r.get("large"),
        )


@strawberry.type(description="Count, median and quartiles of distances in nm.")
class DistanceStats:
    n: int
    median_nm: float | None
    q1_nm: float | None
    q3_nm: float | None

    @classmethod
    def of(cls, s: DistanceStatsRecord) -> DistanceStats:
        return cls(n=s.n, median_nm=s.median_nm, q1_nm=s.q1_nm, q3_nm=s.q3_nm)


@strawberry.type(description="A two-sided two-sample Kolmogorov–Smirnov test.")
class KsTest:
    statistic: float
    pvalue: float

    @classmethod
    def of(cls, k: KsTestRecord | None) -> KsTest | None:
        return None if k is None else cls(statistic=k.statistic, pvalue=k.pvalue)


@strawberry.type(description="One cell type's synapses split at the median cleft area.")
class CellTypeMitoSummary:
    cell_type: str
    synapses: int
    median_area_nm2: float | None
    small: DistanceStats = strawberry.field(description="area at or below the median")
    large: DistanceStats = strawberry.field(description="area above the median")
    control: DistanceStats = strawberry.field(
        description="random points on the type's axon surfaces"
    )
    ks_small_vs_large: KsTest | None
    ks_small_vs_control: KsTest | None
    ks_large_vs_control: KsTest | None

    @classmethod
    def of(cls, s: CellTypeSummary) -> CellTypeMitoSummary:
        return cls(
            cell_type=s.cell_type,
            synapses=s.synapses,
            median_area_nm2=s.median_area_nm2,
            small=DistanceStats.of(s.small),
            large=DistanceStats.of(s.large),
            control=DistanceStats.of(s.control),
            ks_small_vs_large=KsTest.of(s.ks_small_vs_large),
            ks_small_vs_control=KsTest.of(s.ks_small_vs_control),
            ks_large_vs_control=KsTest.of(s.ks_large_vs_control),
        )


@strawberry.type(
    description="SyConn2's random control of one cell type: the distances from random points "
    "on its cells' axon surfaces to each cell's nearest mitochondrion."
)
class ControlSample:
    cell_type: str
    distances_nm: list[float]


@strawberry.type(description="SyConn2's mitochondria–synapse distance analysis.")
class MitoSynapseAnalysis:
    synapses: list[MitoSynapseRow]
    summary: list[CellTypeMitoSummary]
    controls: list[ControlSample] = strawberry.field(
        description="the control distances per cell type (for plotting their distribution)"
    )
