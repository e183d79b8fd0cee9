"""The parameterised Cypher query library (async). Only ``graph/`` talks to the driver.

Every value is a parameter; the only spliced text is a data-set label from
:func:`graph.schema.label` (an allow-listed name). Reads run in read transactions with a
timeout. Body ids come back as uint64 Python ints.
"""

from __future__ import annotations

from typing import Any

from neo4j import AsyncDriver, Query, RoutingControl

from graph.ids import from_neo4j, to_neo4j
from graph.schema import label


class Reader:
    """Runs read queries against one database with a per-query timeout.

    ``round_trips`` counts the queries sent, so tests can check that the number of queries
    per API request does not grow with the size of the answer.
    """

    def __init__(self, driver: AsyncDriver, database: str = "neo4j", timeout_s: float = 30.0):
        self.driver, self.database, self.timeout_s = driver, database, timeout_s
        self.round_trips = 0

    async def rows(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        self.round_trips += 1
        result = await self.driver.execute_query(
            Query(cypher, timeout=self.timeout_s),
            params,
            database_=self.database,
            routing_=RoutingControl.READ,
        )
        return [r.data() for r in result.records]


def _neuron(rec: dict[str, Any]) -> dict[str, Any]:
    rec = dict(rec)
    rec["bodyId"] = from_neo4j(rec["bodyId"])
    return rec


_NEURON_FIELDS = (
    "n.bodyId AS bodyId, n.size AS size, n.pre AS pre, n.post AS post, "
    "n.type AS type, n.instance AS instance, n.status AS status, "
    "[n.location.x, n.location.y, n.location.z] AS location"
)


async def datasets(reader: Reader) -> list[dict[str, Any]]:
    """Every completely loaded data set (one ``:Meta`` node each)."""
    return await reader.rows(
        "MATCH (m:Meta) RETURN m.dataset AS dataset, m.voxelSize AS voxelSize, "
        "m.voxelUnits AS voxelUnits, m.totalPreCount AS synapses, "
        "m.lastDatabaseEdit AS lastDatabaseEdit ORDER BY dataset"
    )


async def dataset_meta(reader: Reader, dataset: str) -> dict[str, Any] | None:
    rows = await reader.rows(
        f"MATCH (m:{label(dataset, 'Meta')}) RETURN m.dataset AS dataset, "
        "m.voxelSize AS voxelSize, m.voxelUnits AS voxelUnits LIMIT 1"
    )
    return rows[0] if rows else None


async def neurons_page(
    reader: Reader, dataset: str, first: int, after: int | None = None
) -> tuple[list[dict[str, Any]], bool, int]:
    """A page of neurons ordered by body id (as stored), the has-next flag and the total."""
    after_key = to_neo4j(after) if after is not None else None
    rows = await reader.rows(
        f"MATCH (n:{label(dataset, 'Neuron')}) "
        "WHERE $after IS NULL OR n.bodyId > $after "
        f"RETURN {_NEURON_FIELDS} ORDER BY n.bodyId LIMIT $limit",
        after=after_key,
        limit=first + 1,
    )
    total = (await reader.rows(f"MATCH (n:{label(dataset, 'Neuron')}) RETURN count(n) AS c"))[0][
        "c"
    ]
    return [_neuron(r) for r in rows[:first]], len(rows) > first, total


async def neurons_by_id(
    reader: Reader, dataset: str, body_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """Segments by uint64 body id (one query for any number of ids)."""
    rows = await reader.rows(
        f"MATCH (n:{label(dataset, 'Segment')}) WHERE n.bodyId IN $ids "
        f"RETURN {_NEURON_FIELDS}, "
        "COUNT { (n)-[:Contains]->(:ElementSet)-[:Contains]->"
        "(:Element {type: 'mitochondrion'}) } AS mitochondria, "
        "COUNT { (n)-[:Contains]->(:ElementSet)-[:Contains]->"
        "(:Element {type: 'vesicle_cloud'}) } AS vesicleClouds",
        ids=[to_neo4j(b) for b in body_ids],
    )
    return {r["bodyId"]: r for r in map(_neuron, rows)}


async def partners(
    reader: Reader, dataset: str, body_ids: list[int], direction: str
) -> dict[int, list[dict[str, Any]]]:
    """Up- or downstream partners with weights for many bodies in one query."""
    seg = label(dataset, "Segment")
    if direction == "upstream":
        pattern = f"(p:{seg})-[c:ConnectsTo]->(n:{seg})"
    elif direction == "downstream":
        pattern = f"(n:{seg})-[c:ConnectsTo]->(p:{seg})"
    else:
        raise ValueError(f"direction must be 'upstream' or 'downstream', not {direction!r}")
    rows = await reader.rows(
        f"MATCH {pattern} WHERE n.bodyId IN $ids "
        "RETURN n.bodyId AS bodyId, p.bodyId AS partner, c.weight AS weight "
        "ORDER BY weight DESC, partner",
        ids=[to_neo4j(b) for b in body_ids],
    )
    out: dict[int, list[dict[str, Any]]] = {b: [] for b in body_ids}
    for r in rows:
        out.setdefault(from_neo4j(r["bodyId"]), []).append(
            {"bodyId": from_neo4j(r["partner"]), "weight": r["weight"]}
        )
    return out


async def synapses(
    reader: Reader,
    dataset: str,
    pre: int | None,
    post: int | None,
    first: int,
    after: int | None = None,
) -> list[dict[str, Any]]:
    """Synaptic connections (pre site → post site), optionally between given bodies, with the
    presynaptic cell's nearest mitochondrion, ordered by synapse id."""
    seg, sset, syn = (label(dataset, k) for k in ("Segment", "SynapseSet", "Synapse"))
    if pre is not None:
        head = (
            f"MATCH (a:{seg} {{bodyId: $pre}})-[:Contains]->(ss:{sset})-[:Contains]->"
            f"(s:{syn} {{type: 'pre'}})-[:SynapsesTo]->(t:{syn})<-[:Contains]-(ts:{sset})"
            f"<-[:Contains]-(b:{seg}) WHERE (ss)-[:ConnectsTo]->(ts) "
            "AND ($post IS NULL OR b.bodyId = $post) "
        )
    elif post is not None:
        head = (
            f"MATCH (b:{seg} {{bodyId: $post}})-[:Contains]->(ts:{sset})-[:Contains]->"
            f"(t:{syn} {{type: 'post'}})<-[:SynapsesTo]-(s:{syn})<-[:Contains]-(ss:{sset})"
            f"<-[:Contains]-(a:{seg}) WHERE (ss)-[:ConnectsTo]->(ts) "
        )
    else:
        head = (
            f"MATCH (a:{seg})-[:Contains]->(ss:{sset})-[:Contains]->"
            f"(s:{syn} {{type: 'pre'}})-[:SynapsesTo]->(t:{syn})<-[:Contains]-(ts:{sset})"
            f"<-[:Contains]-(b:{seg}) WHERE (ss)-[:ConnectsTo]->(ts) "
        )
    rows = await reader.rows(
        head + "AND ($after IS NULL OR s.synapseId > $after) "
        "WITH DISTINCT a, b, s, t ORDER BY s.synapseId LIMIT $limit "
        "OPTIONAL MATCH (s)-[c:CloseTo]->(m:Element {type: 'mitochondrion'}) "
        "RETURN s.synapseId AS id, a.bodyId AS pre, b.bodyId AS post, "
        "s.confidence AS confidence, s.synapseType AS synapseType, s.areaNm2 AS areaNm2, "
        "s.size AS size, [s.location.x, s.location.y, s.location.z] AS preLocation, "
        "[t.location.x, t.location.y, t.location.z] AS postLocation, "
        "m.elementId AS mitoId, c.euclideanNm AS euclideanNm, c.distance AS distance, "
        "CASE WHEN m IS NULL THEN null ELSE [m.location.x, m.location.y, m.location.z] END "
        "AS mitoLocation ORDER BY id",
        pre=to_neo4j(pre) if pre is not None else None,
        post=to_neo4j(post) if post is not None else None,
        after=after,
        limit=first,
    )
    for r in rows:
        r["pre"], r["post"] = from_neo4j(r["pre"]), from_neo4j(r["post"])
    return rows
