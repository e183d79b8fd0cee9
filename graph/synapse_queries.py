"""Synapse queries: synaptic connections (a pre site in one cell, SynapsesTo a post site in
another) filtered by cells, cell types, confidence, compartments, type and cleft area, with
the presynaptic cell's nearest mitochondrion.

A connection is read as neuPrint stores it::

    (a:Segment)-[:Contains]->(:SynapseSet)-[:Contains]->(s:Synapse {type: 'pre'})
        -[:SynapsesTo]->(t:Synapse)<-[:Contains]-(:SynapseSet)<-[:Contains]-(b:Segment)

Pages are ordered by ``synapseId`` (shared by both sites of a connection); a page's cursor is
the last id. Conditions are chosen from this module's constant fragments, values travel as
parameters (see :mod:`graph.queries`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graph.ids import from_neo4j, to_neo4j
from graph.queries import Columns, Reader, filter_conditions, where, xyz
from graph.schema import label

DIRECTIONS = ("output", "input", "both")  # the body is the pre side, the post side, either


@dataclass(frozen=True)
class SynapseFilter:
    """What a synaptic connection must have; ``None`` leaves a criterion out.

    A compartment criterion names a coarse compartment (``axon``, ``dendrite``, ``soma``) or
    a site (``bouton``, ``spine_head``, ``spine_neck``, ``shaft``); a synapse passes when
    either its compartment or its site on that side is among the names.
    """

    pre_body_ids: tuple[int, ...] | None = None
    post_body_ids: tuple[int, ...] | None = None
    pre_types: tuple[str, ...] | None = None
    post_types: tuple[str, ...] | None = None
    min_confidence: float | None = None
    pre_compartments: tuple[str, ...] | None = None
    post_compartments: tuple[str, ...] | None = None
    synapse_types: tuple[str, ...] | None = None
    min_area_nm2: float | None = None
    max_area_nm2: float | None = None

    def conditions(self) -> tuple[list[str], dict[str, Any]]:
        """Cypher condition fragments on ``a, b, s, t`` (see the module) and parameters.

        Examples
        --------
        >>> SynapseFilter(min_confidence=0.5, post_compartments=("spine_head",)).conditions()[0]
        ['s.confidence >= $s_min_confidence', '(t.postCompartment IN $s_post_compartments OR \
t.compartment IN $s_post_compartments)']
        """
        fragments = {
            "pre_body_ids": "a.bodyId IN $s_pre_body_ids",
            "post_body_ids": "b.bodyId IN $s_post_body_ids",
            "pre_types": "a.type IN $s_pre_types",
            "post_types": "b.type IN $s_post_types",
            "min_confidence": "s.confidence >= $s_min_confidence",
            "pre_compartments": (
                "(s.preCompartment IN $s_pre_compartments OR s.compartment IN $s_pre_compartments)"
            ),
            "post_compartments": (
                "(t.postCompartment IN $s_post_compartments "
                "OR t.compartment IN $s_post_compartments)"
            ),
            "synapse_types": "s.synapseType IN $s_synapse_types",
            "min_area_nm2": "s.area >= $s_min_area_nm2",
            "max_area_nm2": "s.area <= $s_max_area_nm2",
        }
        return filter_conditions(self, fragments, "s_")


def _pattern(dataset: str) -> str:
    seg, sset, syn = (label(dataset, k) for k in ("Segment", "SynapseSet", "Synapse"))
    return (
        f"(a:{seg})-[:Contains]->(:{sset})-[:Contains]->(s:{syn} {{type: 'pre'}})"
        f"-[:SynapsesTo]->(t:{syn})<-[:Contains]-(:{sset})<-[:Contains]-(b:{seg})"
    )


_CLOSEST = "OPTIONAL MATCH (s)-[c:CloseTo]->(m:Element {type: 'mitochondrion'}) "
_COLUMNS = Columns((
    ("id", "s.synapseId"), ("pre", "a.bodyId"), ("post", "b.bodyId"),
    ("confidence", "s.confidence"), ("synapseType", "s.synapseType"), ("areaNm2", "s.area"),
    ("size", "s.size"), ("preCompartment", "s.preCompartment"),
    ("postCompartment", "s.postCompartment"), ("preSite", "s.compartment"),
    ("postSite", "t.compartment"), ("spineHeadVolumeNm3", "s.spineHeadVolumeNm3"),
    ("preLocation", xyz("s.location")), ("postLocation", xyz("t.location")),
    ("mitoId", "m.elementId"), ("euclideanNm", "c.euclideanNm"), ("distance", "c.distance"),
    ("mitoLocation", xyz("m.location")),
))  # fmt: skip


def _synapse(r: dict[str, Any]) -> dict[str, Any]:
    for side in ("pre", "post"):
        if r[side] is not None:  # null: the partner was not asked for
            r[side] = from_neo4j(r[side])
    return r


def _conditions(
    where_: SynapseFilter | None, after: int | None
) -> tuple[list[str], dict[str, Any]]:
    conditions, params = (where_ or SynapseFilter()).conditions()
    if after is not None:
        conditions.append("s.synapseId > $after")
        params["after"] = int(after)
    return conditions, params


async def synapses_page(
    reader: Reader,
    dataset: str,
    first: int,
    after: int | None = None,
    where_: SynapseFilter | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """A page of synaptic connections ordered by synapse id, and whether more follow."""
    conditions, params = _conditions(where_, after)
    rows = await reader.packed(
        f"MATCH {_pattern(dataset)} {where(conditions)}"
        "WITH a, b, s, t ORDER BY s.synapseId LIMIT $limit "
        + _CLOSEST
        + "WITH a, b, s, t, c, m ORDER BY s.synapseId "
        + _COLUMNS.collect(),
        _COLUMNS,
        limit=first + 1,
        **params,
    )
    return [_synapse(r) for r in rows[:first]], len(rows) > first


async def count_synapses(reader: Reader, dataset: str, where_: SynapseFilter | None = None) -> int:
    """How many synaptic connections pass the filter."""
    conditions, params = _conditions(where_, None)
    rows = await reader.rows(
        f"MATCH {_pattern(dataset)} {where(conditions)}RETURN count(s) AS c", **params
    )
    return int(rows[0]["c"])


async def synapses_of(
    reader: Reader,
    dataset: str,
    body_ids: list[int],
    direction: str,
    first: int,
    after: int | None = None,
    where_: SynapseFilter | None = None,
    *,
    partner: bool = True,
) -> dict[int, tuple[list[dict[str, Any]], bool]]:
    """A page of each body's synapses (as ``output``: the pre side, ``input``: the post side,
    or ``both``) in one query, with whether more follow for that body.

    ``partner=False`` on an unfiltered ``output`` page leaves out the walk to the partner:
    ``post``, ``postSite`` and ``postLocation`` come back null, every other column is the same.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    conditions, params = _conditions(where_, after)
    if where_ is None or not where_.conditions()[0]:
        union = _own_sites_first(dataset, direction, after is not None, partner)
    else:
        branches = []
        if direction in ("output", "both"):
            branches.append(where([*conditions, "a.bodyId = id"]))
        if direction in ("input", "both"):
            branches.append(where([*conditions, "b.bodyId = id"]))
        union = " UNION ".join(f"MATCH {_pattern(dataset)} {w}RETURN a, b, s, t" for w in branches)
    columns = _COLUMNS + Columns((("owner", "id"),))
    rows = await reader.packed(
        "UNWIND $ids AS id CALL (id) { "
        f"CALL (id) {{ {union} }} "
        "WITH a, b, s, t ORDER BY s.synapseId LIMIT $limit RETURN a, b, s, t } "
        + _CLOSEST
        + "WITH id, a, b, s, t, c, m ORDER BY id, s.synapseId "
        + columns.collect(),
        columns,
        ids=[to_neo4j(b) for b in body_ids],
        limit=first + 1,
        **params,
    )
    grouped: dict[int, list[dict[str, Any]]] = {b: [] for b in body_ids}
    for r in rows:
        grouped.setdefault(from_neo4j(r.pop("owner")), []).append(_synapse(r))
    return {b: (found[:first], len(found) > first) for b, found in grouped.items()}


def _own_sites_first(dataset: str, direction: str, paged: bool, partner: bool = True) -> str:
    """Union branches (over ``id``) for an unfiltered page of a body's synapses: the body's own
    sites are ordered and cut to the page first (``$limit``), and only those are followed to
    the partner, so the work is bounded by the page, not by the body's synapse count. Without
    ``partner`` an output page is not followed to the partner at all (``b`` and ``t`` null)."""
    seg, sset, syn = (label(dataset, k) for k in ("Segment", "SynapseSet", "Synapse"))
    after = "WHERE own.synapseId > $after " if paged else ""

    def own(side: str, body: str = "") -> str:
        """The body's own ``side`` sites cut to the page (``body``: a name to keep it by)."""
        kept = f"{body}, own" if body else "own"
        return (f"MATCH ({body}:{seg} {{bodyId: id}})-[:Contains]->(:{sset})-[:Contains]->"
                f"(own:{syn} {{type: '{side}'}}) {after}"
                f"WITH {kept} ORDER BY own.synapseId LIMIT $limit ")  # fmt: skip

    if direction == "output" and not partner:
        return own("pre", "a") + "RETURN a, null AS b, own AS s, null AS t"
    branches = []
    if direction in ("output", "both"):
        branches.append(
            own("pre") + f"MATCH (a:{seg})-[:Contains]->(:{sset})-[:Contains]->(own)"
            f"-[:SynapsesTo]->(t:{syn})<-[:Contains]-(:{sset})<-[:Contains]-(b:{seg}) "
            "RETURN a, b, own AS s, t"
        )
    if direction in ("input", "both"):
        branches.append(
            own("post") + f"MATCH (a:{seg})-[:Contains]->(:{sset})-[:Contains]->(s:{syn})"
            f"-[:SynapsesTo]->(own)<-[:Contains]-(:{sset})<-[:Contains]-(b:{seg}) "
            "RETURN a, b, s, own AS t"
        )
    return " UNION ".join(branches)


def _mito_conditions(
    min_type_confidence: float, post_compartment: str | None
) -> tuple[list[str], list[str]]:
    cells = ["a.type IN $types"]
    if min_type_confidence > 0:
        cells.append("a.typeConfidence >= $minTypeConfidence")
    synapses = ["coalesce(s.confidence, 0.0) >= $minConfidence"]
    if post_compartment is not None:
        synapses.append("(t.postCompartment = $compartment OR t.compartment = $compartment)")
    return cells, synapses


async def mito_synapse_rows(
    reader: Reader,
    dataset: str,
    cell_types: list[str],
    min_confidence: float,
    min_type_confidence: float,
    post_compartment: str | None,
) -> list[dict[str, Any]]:
    """Every synapse made by neurons of ``cell_types`` (type confidence ≥
    ``min_type_confidence``) with confidence ≥ ``min_confidence`` and, when given, onto that
    compartment or site, with its cleft area and the pre cell's nearest mitochondrion."""
    cells, conditions = _mito_conditions(min_type_confidence, post_compartment)
    rows = await reader.rows(
        f"MATCH (a:{label(dataset, 'Neuron')}) {where(cells)}"
        f"MATCH {_pattern(dataset)} {where(conditions)}"
        "OPTIONAL MATCH (s)-[c:CloseTo]->(:Element {type: 'mitochondrion'}) "
        "RETURN s.synapseId AS synapseId, a.bodyId AS pre, b.bodyId AS post, "
        "a.type AS cellType, s.area AS areaNm2, s.confidence AS confidence, "
        "s.preCompartment AS preCompartment, t.postCompartment AS postCompartment, "
        "c.euclideanNm AS euclideanNm, c.distance AS distance ORDER BY synapseId",
        types=list(cell_types),
        minConfidence=min_confidence,
        minTypeConfidence=min_type_confidence,
        compartment=post_compartment,
    )
    return [_synapse(r) for r in rows]


async def mito_synapse_samples(
    reader: Reader,
    dataset: str,
    cell_types: list[str],
    min_confidence: float,
    min_type_confidence: float,
    post_compartment: str | None,
) -> dict[str, list[list[float | None]]]:
    """The synapses of :func:`mito_synapse_rows` as ``[cleft area, distance]`` pairs per cell
    type (``None`` where unknown), aggregated in Neo4j: one record per type. Only the pre
    side is walked unless a postsynaptic compartment is asked for."""
    cells, conditions = _mito_conditions(min_type_confidence, post_compartment)
    sset, syn = label(dataset, "SynapseSet"), label(dataset, "Synapse")
    if post_compartment is None:
        pattern = f"(a)-[:Contains]->(:{sset})-[:Contains]->(s:{syn} {{type: 'pre'}})"
    else:
        pattern = _pattern(dataset)
    rows = await reader.rows(
        f"MATCH (a:{label(dataset, 'Neuron')}) {where(cells)}"
        f"MATCH {pattern} {where(conditions)}"
        "OPTIONAL MATCH (s)-[c:CloseTo]->(:Element {type: 'mitochondrion'}) "
        "RETURN a.type AS cellType, collect([s.area, c.euclideanNm]) AS pairs",
        types=list(cell_types),
        minConfidence=min_confidence,
        minTypeConfidence=min_type_confidence,
        compartment=post_compartment,
    )
    return {r["cellType"]: r["pairs"] for r in rows}


async def control_point_samples(
    reader: Reader,
    dataset: str,
    cell_types: list[str],
    min_type_confidence: float,
    body_ids: list[int] | None = None,
) -> dict[str, list[float]]:
    """SyConn2's random control per cell type: the distances from the points on the axon
    surfaces of neurons of ``cell_types`` to that cell's nearest mitochondrion; only of the
    neurons ``body_ids`` when given (those other filters kept)."""
    conditions = ["a.type IN $types"]
    if min_type_confidence > 0:
        conditions.append("a.typeConfidence >= $minTypeConfidence")
    if body_ids is not None:
        conditions.append("a.bodyId IN $bodies")
    rows = await reader.rows(
        f"MATCH (a:{label(dataset, 'Neuron')}) {where(conditions)}"
        f"MATCH (p:{label(dataset, 'ControlPoint')} {{bodyId: a.bodyId}}) "
        "OPTIONAL MATCH (p)-[c:CloseTo]->() "
        "RETURN a.type AS cellType, collect(c.euclideanNm) AS distances",
        types=list(cell_types),
        minTypeConfidence=min_type_confidence,
        bodies=[to_neo4j(b) for b in body_ids or []],
    )
    return {r["cellType"]: r["distances"] for r in rows}
