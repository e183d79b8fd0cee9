"""The parameterised Cypher query library (async): neurons, partners, organelles,
compartments, connectivity, paths and annotations. Only ``graph/`` talks to the driver.

Every value is a parameter. The only spliced text is a data-set label from
:func:`graph.schema.label` (an allow-listed name), a condition chosen from this module's own
constant fragments (so the planner sees only the filters in use), and a validated integer
bound of a variable-length path. Reads run in read transactions with a timeout. Body ids
come back as uint64 Python ints; synapse and element ids as ints.

Synapses have their own module, :mod:`graph.synapse_queries`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from neo4j import AsyncDriver, AsyncGraphDatabase, Query, Record, RoutingControl
from neo4j.exceptions import ClientError

from graph.ids import from_neo4j, to_neo4j
from graph.schema import label
from graph.settings import Neo4jSettings


def async_driver(settings: Neo4jSettings) -> AsyncDriver:
    """An async driver for ``settings`` (the caller closes it). The server's notifications
    (e.g. "property key does not exist" for a property no node has yet) are switched off:
    absent properties are nulls by design here, and each would be a log line per query."""
    return AsyncGraphDatabase.driver(
        settings.uri,
        auth=(settings.username, settings.password or ""),
        notifications_min_severity="OFF",
    )


class QueryTimeout(Exception):
    """A read ran past its time box; the message says which and what to narrow."""


class Reader:
    """Runs queries against one database with a per-query timeout.

    ``round_trips`` counts the queries sent, so tests can check that the number of queries
    per API request does not grow with the size of the answer.
    """

    def __init__(self, driver: AsyncDriver, database: str = "neo4j", timeout_s: float = 30.0):
        self.driver, self.database, self.timeout_s = driver, database, timeout_s
        self.round_trips = 0

    async def rows(
        self, cypher: str, timeout_s: float | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        """The records of a read query (a read transaction, time-boxed) as dicts."""
        keys, records = await self._run(cypher, RoutingControl.READ, timeout_s, params)
        return records_as_dicts(keys, records)

    async def packed(
        self, cypher: str, columns: Columns, timeout_s: float | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        """The rows of a read query that ends in ``columns.collect()``: sent back as one
        record holding one list, which the driver decodes in one go instead of one Bolt
        message per row (3x faster for a page of 1,000 synapses)."""
        _, records = await self._run(cypher, RoutingControl.READ, timeout_s, params)
        return columns.unpack(records[0][0]) if records else []

    async def write(self, cypher: str, **params: Any) -> list[dict[str, Any]]:
        """The records of a write query (a write transaction, time-boxed)."""
        keys, records = await self._run(cypher, RoutingControl.WRITE, None, params)
        return records_as_dicts(keys, records)

    async def _run(
        self, cypher: str, routing: RoutingControl, timeout_s: float | None, params: Any
    ) -> tuple[list[str], list[Record]]:
        self.round_trips += 1
        timeout = timeout_s or self.timeout_s
        try:
            result = await self.driver.execute_query(
                Query(cypher, timeout=timeout),  # type: ignore[arg-type]
                params,
                database_=self.database,
                routing_=routing,
            )
        except ClientError as err:
            if "TransactionTimedOut" in (err.code or "") or "terminated" in str(err.message):
                raise QueryTimeout(f"the query ran longer than {timeout:g} s") from None
            raise
        return result.keys, result.records


@dataclass(frozen=True)
class Columns:
    """Named Cypher expressions collected into one list of rows
    (``RETURN collect([e, …]) AS rows``) for :meth:`Reader.packed`, and unpacked into dicts.

    Examples
    --------
    >>> c = Columns((("id", "s.synapseId"), ("pre", "a.bodyId")))
    >>> c.collect()
    'RETURN collect([s.synapseId, a.bodyId]) AS rows'
    >>> c.unpack([[7, 1], [8, 2]])
    [{'id': 7, 'pre': 1}, {'id': 8, 'pre': 2}]
    """

    exprs: tuple[tuple[str, str], ...]

    def __add__(self, other: Columns) -> Columns:
        return Columns(self.exprs + other.exprs)

    def collect(self) -> str:
        """The aggregation; rows keep the order of a preceding ``WITH … ORDER BY``."""
        return "RETURN collect([" + ", ".join(e for _, e in self.exprs) + "]) AS rows"

    def unpack(self, rows: list[list[Any]]) -> list[dict[str, Any]]:
        names = [name for name, _ in self.exprs]
        return [dict(zip(names, r, strict=True)) for r in rows]


_PLAIN = frozenset({int, float, str, bool, type(None)})
_PLAIN_OR_LIST = _PLAIN | {list}


def records_as_dicts(keys: list[str], records: list[Record]) -> list[dict[str, Any]]:
    """Records as dicts, as ``Record.data()`` makes them; records of plain values (numbers,
    strings, nulls and lists of them, what the query library returns) are zipped with the
    keys directly, several times faster than ``data()``, which checks every value against
    the graph types and the abstract collection types.

    Examples
    --------
    >>> from neo4j import Record
    >>> records_as_dicts(["a", "b"], [Record({"a": 1, "b": [1.5, None]})])
    [{'a': 1, 'b': [1.5, None]}]
    """
    out = []
    for r in records:
        types = set(map(type, r))
        if types <= _PLAIN or (
            types <= _PLAIN_OR_LIST
            and all(set(map(type, v)) <= _PLAIN for v in r if type(v) is list)
        ):
            out.append(dict(zip(keys, r, strict=True)))
        else:  # nodes, maps, nested lists: the driver's own conversion
            out.append(r.data())
    return out


def where(conditions: Iterable[str]) -> str:
    """``WHERE a AND b`` from condition fragments (``""`` when there are none).

    Examples
    --------
    >>> where(["n.pre >= $minPre", "n.type IN $types"])
    'WHERE n.pre >= $minPre AND n.type IN $types '
    >>> where([])
    ''
    """
    conditions = list(conditions)
    return f"WHERE {' AND '.join(conditions)} " if conditions else ""


def xyz(var: str) -> str:
    """Cypher for a point property as ``[x, y, z]`` (null when absent).

    Examples
    --------
    >>> xyz("n.location")
    'CASE WHEN n.location IS NULL THEN null ELSE [n.location.x, n.location.y, n.location.z] END'
    """
    return f"CASE WHEN {var} IS NULL THEN null ELSE [{var}.x, {var}.y, {var}.z] END"


# -- neurons ----------------------------------------------------------------------------------
NEURON_FIELDS = (
    "n.bodyId AS bodyId, n.size AS size, n.pre AS pre, n.post AS post, "
    "n.type AS type, n.typeConfidence AS typeConfidence, n.instance AS instance, "
    "n.status AS status, n.hasSoma AS hasSoma, n.cableLengthNm AS cableLengthNm, "
    "n.meshVolumeNm3 AS meshVolumeNm3, n.meshAreaNm2 AS meshAreaNm2, "
    "n.axonPathLengthNm AS axonPathLengthNm, n.dendritePathLengthNm AS dendritePathLengthNm, "
    "n.somaPathLengthNm AS somaPathLengthNm, n.boutons AS boutons, n.spines AS spines, "
    f"{xyz('n.location')} AS location"
)


@dataclass(frozen=True)
class NeuronFilter:
    """What a neuron must have to be listed; ``None`` leaves a criterion out.

    ``type_regex`` is a Java regular expression matched against the whole type (Cypher's
    ``=~``); path lengths are in nm.
    """

    body_ids: tuple[int, ...] | None = None
    types: tuple[str, ...] | None = None
    type_regex: str | None = None
    min_pre: int | None = None
    min_post: int | None = None
    has_soma: bool | None = None
    min_type_confidence: float | None = None
    min_axon_path_length_nm: float | None = None
    min_dendrite_path_length_nm: float | None = None
    min_soma_path_length_nm: float | None = None

    def conditions(self, var: str = "n") -> tuple[list[str], dict[str, Any]]:
        """Cypher condition fragments on ``var`` and their parameters.

        Examples
        --------
        >>> NeuronFilter(min_pre=2, types=("KC",)).conditions()
        (['n.type IN $f_types', 'n.pre >= $f_min_pre'], {'f_types': ['KC'], 'f_min_pre': 2})
        """
        fragments = {
            "body_ids": f"{var}.bodyId IN $f_body_ids",
            "types": f"{var}.type IN $f_types",
            "type_regex": f"{var}.type =~ $f_type_regex",
            "min_pre": f"{var}.pre >= $f_min_pre",
            "min_post": f"{var}.post >= $f_min_post",
            "has_soma": f"coalesce({var}.hasSoma, false) = $f_has_soma",
            "min_type_confidence": f"{var}.typeConfidence >= $f_min_type_confidence",
            "min_axon_path_length_nm": f"{var}.axonPathLengthNm >= $f_min_axon_path_length_nm",
            "min_dendrite_path_length_nm": (
                f"{var}.dendritePathLengthNm >= $f_min_dendrite_path_length_nm"
            ),
            "min_soma_path_length_nm": f"{var}.somaPathLengthNm >= $f_min_soma_path_length_nm",
        }
        return filter_conditions(self, fragments, "f_")


def filter_conditions(
    criteria: Any, fragments: Mapping[str, str], prefix: str
) -> tuple[list[str], dict[str, Any]]:
    """The condition fragments of the criteria that are set (not ``None``) and their
    parameters, named ``<prefix><criterion>``; body ids (criteria ending in ``body_ids``) go
    as stored (int64), tuples as lists.

    Examples
    --------
    >>> filter_conditions(NeuronFilter(min_pre=1), {"min_pre": "n.pre >= $x_min_pre"}, "x_")
    (['n.pre >= $x_min_pre'], {'x_min_pre': 1})
    """
    conditions, params = [], {}
    for name, fragment in fragments.items():
        value = getattr(criteria, name)
        if value is None:
            continue
        if name.endswith("body_ids"):
            value = [to_neo4j(b) for b in value]
        elif isinstance(value, tuple):
            value = list(value)
        conditions.append(fragment)
        params[f"{prefix}{name}"] = value
    return conditions, params


def neuron_record(rec: Mapping[str, Any]) -> dict[str, Any]:
    """A neuron row with its body id as uint64."""
    out = dict(rec)
    out["bodyId"] = from_neo4j(out["bodyId"])
    return out


async def datasets(reader: Reader) -> list[dict[str, Any]]:
    """Every completely loaded data set (one ``:Meta`` node each)."""
    return await reader.rows(
        "MATCH (m:Meta) RETURN m.dataset AS dataset, m.voxelSize AS voxelSize, "
        "m.voxelUnits AS voxelUnits, m.totalPreCount AS synapses, "
        "m.lastDatabaseEdit AS lastDatabaseEdit ORDER BY dataset"
    )


async def dataset_meta(reader: Reader, dataset: str) -> dict[str, Any] | None:
    """The data set's ``:Meta`` essentials, or ``None`` when it is not (completely) loaded."""
    rows = await reader.rows(
        f"MATCH (m:{label(dataset, 'Meta')}) RETURN m.dataset AS dataset, "
        "m.voxelSize AS voxelSize, m.voxelUnits AS voxelUnits, m.shapeZyx AS shapeZyx LIMIT 1"
    )
    return rows[0] if rows else None


NEURON_ORDER = ("bodyId", "pre", "post", "size")
"""Properties a page of neurons can be ordered by (all set on every neuron)."""


async def neurons_page(
    reader: Reader,
    dataset: str,
    first: int,
    after: int | tuple[int, int] | None = None,
    where_: NeuronFilter | None = None,
    order: str = "bodyId",
    descending: bool = False,
) -> tuple[list[dict[str, Any]], bool]:
    """A page of neurons ordered by ``order`` (one of :data:`NEURON_ORDER`), then by body id
    (as stored), and whether more follow. ``after`` is the last row of the previous page: its
    body id, or ``(value, body id)`` when ordered by another property (keyset paging)."""
    if order not in NEURON_ORDER:
        raise ValueError(f"neurons cannot be ordered by {order!r}; one of {list(NEURON_ORDER)}")
    conditions, params = (where_ or NeuronFilter()).conditions()
    past, way = ("<", " DESC") if descending else (">", "")
    if after is not None and order == "bodyId":
        conditions.append(f"n.bodyId {past} $after")
        params["after"] = to_neo4j(after if isinstance(after, int) else after[1])
    elif after is not None:
        if not isinstance(after, tuple):
            raise ValueError(f"a page ordered by {order} continues after (value, body id)")
        value, body = after
        conditions.append(f"(n.{order} {past} $value OR "
                          f"(n.{order} = $value AND n.bodyId {past} $after))")  # fmt: skip
        params["value"], params["after"] = value, to_neo4j(body)
    by = "" if order == "bodyId" else f"n.{order}{way}, "
    rows = await reader.rows(
        f"MATCH (n:{label(dataset, 'Neuron')}) {where(conditions)}"
        f"RETURN {NEURON_FIELDS} ORDER BY {by}n.bodyId{way} LIMIT $limit",
        limit=first + 1,
        **params,
    )
    return [neuron_record(r) for r in rows[:first]], len(rows) > first


async def cell_types(reader: Reader, dataset: str) -> list[str]:
    """The cell types the data set's neurons have, sorted."""
    rows = await reader.rows(
        f"MATCH (n:{label(dataset, 'Neuron')}) WHERE n.type IS NOT NULL "
        "RETURN DISTINCT n.type AS type ORDER BY type"
    )
    return [r["type"] for r in rows]


async def count_neurons(reader: Reader, dataset: str, where_: NeuronFilter | None = None) -> int:
    """How many neurons pass the filter."""
    conditions, params = (where_ or NeuronFilter()).conditions()
    rows = await reader.rows(
        f"MATCH (n:{label(dataset, 'Neuron')}) {where(conditions)}RETURN count(n) AS c", **params
    )
    return int(rows[0]["c"])


async def neurons_by_id(
    reader: Reader, dataset: str, body_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """Segments by uint64 body id (one query for any number of ids)."""
    rows = await reader.rows(
        f"MATCH (n:{label(dataset, 'Segment')}) WHERE n.bodyId IN $ids RETURN {NEURON_FIELDS}",
        ids=[to_neo4j(b) for b in body_ids],
    )
    return {r["bodyId"]: r for r in map(neuron_record, rows)}


async def organelle_counts(
    reader: Reader, dataset: str, body_ids: list[int]
) -> dict[int, dict[str, int]]:
    """How many mitochondria and vesicle clouds each body holds (one query)."""
    rows = await reader.rows(
        f"MATCH (n:{label(dataset, 'Segment')}) WHERE n.bodyId IN $ids "
        "RETURN n.bodyId AS bodyId, "
        "COUNT { (n)-[:Contains]->(:ElementSet)-[:Contains]->"
        "(:Element {type: 'mitochondrion'}) } AS mitochondrionCount, "
        "COUNT { (n)-[:Contains]->(:ElementSet)-[:Contains]->"
        "(:Element {type: 'vesicle_cloud'}) } AS vesicleCloudCount",
        ids=[to_neo4j(b) for b in body_ids],
    )
    return {r["bodyId"]: r for r in map(neuron_record, rows)}


def _grouped(
    rows: list[dict[str, Any]], body_ids: list[int], key: str = "bodyId"
) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {b: [] for b in body_ids}
    for r in rows:
        body = from_neo4j(r.pop(key))
        out.setdefault(body, []).append(r)
    return out


_PARTNER = Columns((("bodyId", "n.bodyId"), ("partner", "p.bodyId"), ("weight", "c.weight"),
                    ("weightHP", "c.weightHP")))  # fmt: skip


async def partners(
    reader: Reader, dataset: str, body_ids: list[int], direction: str, min_weight: int = 1
) -> dict[int, list[dict[str, Any]]]:
    """Up- or downstream partners with weights (heaviest first) for many bodies at once."""
    seg = label(dataset, "Segment")
    if direction == "upstream":
        pattern = f"(p:{seg})-[c:ConnectsTo]->(n:{seg})"
    elif direction == "downstream":
        pattern = f"(n:{seg})-[c:ConnectsTo]->(p:{seg})"
    else:
        raise ValueError(f"direction must be 'upstream' or 'downstream', not {direction!r}")
    rows = await reader.packed(
        f"MATCH {pattern} WHERE n.bodyId IN $ids AND c.weight >= $minWeight "
        "WITH n, p, c ORDER BY c.weight DESC, p.bodyId " + _PARTNER.collect(),
        _PARTNER,
        ids=[to_neo4j(b) for b in body_ids],
        minWeight=min_weight,
    )
    out = _grouped(rows, body_ids)
    for group in out.values():
        for r in group:
            r["bodyId"] = from_neo4j(r.pop("partner"))
    return out


async def compartments(
    reader: Reader, dataset: str, body_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """Each body's ``:Compartment`` nodes (soma, dendrite, axon order)."""
    rows = await reader.rows(
        f"MATCH (n:{label(dataset, 'Segment')})-[:HasCompartment]->(c) WHERE n.bodyId IN $ids "
        "RETURN n.bodyId AS bodyId, c.type AS type, c.pathLengthNm AS pathLengthNm, "
        "c.meshAreaNm2 AS meshAreaNm2, c.nodes AS nodes, c.boutons AS boutons, "
        f"c.spines AS spines, {xyz('c.location')} AS location "
        "ORDER BY bodyId, CASE c.type WHEN 'soma' THEN 0 WHEN 'dendrite' THEN 1 ELSE 2 END",
        ids=[to_neo4j(b) for b in body_ids],
    )
    return _grouped(rows, body_ids)


async def organelles(
    reader: Reader, dataset: str, body_ids: list[int], kind: str
) -> dict[int, list[dict[str, Any]]]:
    """Each body's organelles of one kind (``mitochondrion``, ``vesicle_cloud``) by id."""
    rows = await reader.rows(
        f"MATCH (n:{label(dataset, 'Segment')})-[:Contains]->(:ElementSet)-[:Contains]->"
        "(e:Element {type: $kind}) WHERE n.bodyId IN $ids "
        "RETURN n.bodyId AS bodyId, e.elementId AS elementId, e.type AS type, e.size AS size, "
        f"e.overlap AS overlap, e.compartment AS compartment, {xyz('e.location')} AS location "
        "ORDER BY bodyId, elementId",
        ids=[to_neo4j(b) for b in body_ids],
        kind=kind,
    )
    return _grouped(rows, body_ids)


# -- connectivity -------------------------------------------------------------------------------
_CONNECTION = Columns((("pre", "a.bodyId"), ("post", "b.bodyId"), ("weight", "c.weight"),
                       ("weightHP", "c.weightHP")))  # fmt: skip


async def adjacency(
    reader: Reader,
    dataset: str,
    sources: list[int] | None,
    targets: list[int] | None,
    min_weight: int,
    first: int,
    after: tuple[int, int] | None = None,
) -> tuple[list[dict[str, Any]], bool]:
    """A page of connections from ``sources`` to ``targets`` (``None`` = any neuron), ordered
    by (pre, post) as stored, and whether more follow. ``after`` is the last (pre, post)."""
    kinds = ("Segment" if sources is not None else "Neuron",
             "Segment" if targets is not None else "Neuron")  # fmt: skip
    conditions = ["c.weight >= $minWeight"]
    params: dict[str, Any] = {"minWeight": min_weight}
    if sources is not None:
        conditions.append("a.bodyId IN $sources")
        params["sources"] = [to_neo4j(b) for b in sources]
    if targets is not None:
        conditions.append("b.bodyId IN $targets")
        params["targets"] = [to_neo4j(b) for b in targets]
    if after is not None:
        conditions.append(
            "(a.bodyId > $afterPre OR (a.bodyId = $afterPre AND b.bodyId > $afterPost))"
        )
        params["afterPre"], params["afterPost"] = (to_neo4j(b) for b in after)
    rows = await reader.packed(
        f"MATCH (a:{label(dataset, kinds[0])})-[c:ConnectsTo]->(b:{label(dataset, kinds[1])}) "
        f"{where(conditions)}"
        "WITH a, b, c ORDER BY a.bodyId, b.bodyId LIMIT $limit " + _CONNECTION.collect(),
        _CONNECTION,
        limit=first + 1,
        **params,
    )
    for r in rows:
        r["pre"], r["post"] = from_neo4j(r["pre"]), from_neo4j(r["post"])
    return rows[:first], len(rows) > first


async def cell_type_connectivity(
    reader: Reader, dataset: str, cell_types: list[str] | None, min_weight: int
) -> list[dict[str, Any]]:
    """Synapses and connected neuron pairs between cell types (typed neurons only)."""
    conditions = ["a.type IS NOT NULL", "b.type IS NOT NULL", "c.weight >= $minWeight"]
    if cell_types is not None:
        conditions += ["a.type IN $types", "b.type IN $types"]
    neuron = label(dataset, "Neuron")
    return await reader.rows(
        f"MATCH (a:{neuron})-[c:ConnectsTo]->(b:{neuron}) {where(conditions)}"
        "RETURN a.type AS pre, b.type AS post, sum(c.weight) AS weight, count(*) AS pairs",
        minWeight=min_weight,
        types=cell_types,
    )


async def shortest_paths(
    reader: Reader,
    dataset: str,
    source: int,
    target: int,
    min_weight: int,
    max_length: int,
    timeout_s: float,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """All shortest paths along ``ConnectsTo`` (weight ≥ ``min_weight``, at most
    ``max_length`` hops) from ``source`` to ``target``; at most ``limit`` of them. Raises
    :class:`QueryTimeout` past ``timeout_s``."""
    if not 1 <= int(max_length) <= 10:
        raise ValueError(f"maxLength must be between 1 and 10, not {max_length}")
    seg = label(dataset, "Segment")
    rows = await reader.rows(
        f"MATCH (a:{seg} {{bodyId: $source}}), (b:{seg} {{bodyId: $target}}) "
        f"MATCH p = allShortestPaths((a)-[:ConnectsTo*..{int(max_length)}]->(b)) "
        "WHERE all(r IN relationships(p) WHERE r.weight >= $minWeight) "
        "RETURN [n IN nodes(p) | n.bodyId] AS bodyIds, "
        "[r IN relationships(p) | r.weight] AS weights LIMIT $limit",
        timeout_s=timeout_s,
        source=to_neo4j(source),
        target=to_neo4j(target),
        minWeight=min_weight,
        limit=limit,
    )
    for r in rows:
        r["bodyIds"] = [from_neo4j(b) for b in r["bodyIds"]]
    return rows


# -- annotations --------------------------------------------------------------------------------
ANNOTATION_FIELDS = ("type", "typeConfidence", "typeSource", "instance", "status")
TYPE_SOURCES = ("annotation", "model")  # who set a neuron's type: a person or a model


async def neuron_annotations(reader: Reader, dataset: str) -> list[dict[str, Any]]:
    """The annotation fields of every segment that someone annotated, as rows for
    :func:`annotate_neurons` (``status: 'Traced'`` alone is what every load writes). Types a
    model set (``typeSource: 'model'``) are left out: a re-ingest predicts them afresh."""
    rows = await reader.rows(
        f"MATCH (n:{label(dataset, 'Segment')}) "
        "WITH n, coalesce(n.typeSource, 'annotation') <> 'model' AS person "
        "WHERE (person AND (n.type IS NOT NULL OR n.typeConfidence IS NOT NULL)) "
        "OR n.instance IS NOT NULL OR n.status <> 'Traced' "
        "RETURN n.bodyId AS bodyId, CASE WHEN person THEN n.type END AS type, "
        "CASE WHEN person THEN n.typeConfidence END AS typeConfidence, "
        "CASE WHEN person THEN n.typeSource END AS typeSource, "
        "n.instance AS instance, n.status AS status"
    )
    return [
        {k: from_neo4j(v) if k == "bodyId" else v for k, v in r.items() if v is not None}
        for r in rows
    ]


async def annotate_neurons(reader: Reader, dataset: str, annotations: list[dict[str, Any]]) -> int:
    """Set the given annotation fields (``type``, ``typeConfidence``, ``typeSource``,
    ``instance``, ``status``; a field left out stays as it is) of neurons by body id, in one
    write transaction; return how many neurons were found and updated. A row that sets a type
    or its confidence without ``typeSource`` records ``'annotation'`` (a person's)."""
    rows = []
    for a in annotations:
        props = {k: a[k] for k in ANNOTATION_FIELDS if a.get(k) is not None}
        if ("type" in props or "typeConfidence" in props) and "typeSource" not in props:
            props["typeSource"] = "annotation"
        rows.append({"bodyId": to_neo4j(a["bodyId"]), "props": props})
    result = await reader.write(
        "UNWIND $rows AS r "
        f"MATCH (n:{label(dataset, 'Segment')} {{bodyId: r.bodyId}}) "
        "SET n += r.props RETURN count(n) AS updated",
        rows=rows,
    )
    return int(result[0]["updated"]) if result else 0
