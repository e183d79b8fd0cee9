"""The Cypher behind neuPrint's HTTP API: the data set list (``/api/dbmeta/datasets``) and
custom Cypher as ``/api/custom/custom`` runs it: read-only, time-boxed, scoped to one data
set, answered as ``{"columns": [...], "data": [[...], ...]}``.

neuPrint serves one data set per Neo4j, so its clients write ``MATCH (n:Neuron)``; here several
data sets share one database and each node also carries its data set's label
(``phantom_Neuron``). :func:`scope_labels` therefore rewrites every neuPrint node label
(:data:`graph.schema.NODE_KINDS`) written after a ``:`` into the data set's label, leaving
strings, comments, relationship types and other labels alone. (A map value that is a bare
variable named like a label, ``{a: Neuron}``, would be rewritten too; neuPrint's clients write
none.)

The query then runs in a READ transaction with the server's query timeout. A query that
writes is refused by Neo4j itself; before that, :func:`check_read_only` refuses what a read
transaction would still let through to the server or the file system: ``LOAD CSV``, ``USE``,
``SHOW`` and ``TERMINATE`` commands, and procedure calls other than :data:`PROCEDURES`
(``CALL { … }`` subqueries are fine). Every refusal, write, timeout and syntax error is a
:class:`CustomCypherError` with one sentence.

Values are serialised as neuPrintHTTP's ``convertNeo4jValue`` does (``storage/neuprintbolt/
transaction.go``): nodes as their property maps, relationships as their properties plus
``id``, ``type``, ``startNodeId`` and ``endNodeId``, paths as ``{"nodes", "relationships"}``,
points as ``{"coordinates": [x, y, z], "crs": {…}, "type": "Point"}``, floats that are whole
numbers as integers (as Go's JSON writes them), other types as strings. Body ids come back as
they are stored: signed 64-bit (:mod:`graph.ids`), exactly as from neuPrint.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from neo4j import READ_ACCESS, AsyncDriver, AsyncManagedTransaction, Record, unit_of_work
from neo4j.exceptions import ClientError, CypherSyntaxError, Neo4jError
from neo4j.graph import Node, Path, Relationship
from neo4j.spatial import Point

from graph.schema import NODE_KINDS, label

# procedures a custom query may CALL (read-only, and none opens a transaction of its own)
PROCEDURES = frozenset(
    {"db.labels", "db.relationshiptypes", "db.propertykeys", "db.schema.nodetypeproperties",
     "db.schema.reltypeproperties", "db.schema.visualization"}
)  # fmt: skip
TIMEBOXED = "apoc.cypher.runtimeboxed"
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
REFUSED_WORDS = {
    "load": "LOAD CSV",
    "use": "USE",
    "show": "SHOW commands",
    "terminate": "TERMINATE",
}
_TOKEN = re.compile(
    r"""(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
      | (?P<string>'(?:[^'\\]|\\.)*(?:'|\Z)|"(?:[^"\\]|\\.)*(?:"|\Z))
      | (?P<quoted>`(?:[^`]|``)*(?:`|\Z))
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<number>[0-9][0-9A-Za-z_.]*)
      | (?P<space>\s+)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)


class CustomCypherError(ValueError):
    """A custom query that was refused or failed; ``kind`` is ``refused``, ``write``,
    ``timeout`` or ``invalid``."""

    def __init__(self, message: str, kind: str):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str


def _tokens(cypher: str) -> list[_Token]:
    out = []
    for m in _TOKEN.finditer(cypher):
        kind = m.lastgroup or "other"
        out.append(_Token(kind, m.group()))
    return out


def _unquote(token: _Token) -> str:
    return token.text[1:-1].replace("``", "`") if token.kind == "quoted" else token.text


def _next_solid(tokens: list[_Token], i: int) -> int:
    """Index of the first token at or after ``i`` that is not space or a comment."""
    while i < len(tokens) and tokens[i].kind in ("space", "comment"):
        i += 1
    return i


def scope_labels(cypher: str, dataset: str) -> str:
    """Rewrite neuPrint's node labels into ``dataset``'s own labels.

    Examples
    --------
    >>> scope_labels("MATCH (n :Neuron)-[:Contains]->(s:SynapseSet) RETURN n", "ds")
    'MATCH (n :`ds_Neuron`)-[:Contains]->(s:`ds_SynapseSet`) RETURN n'
    >>> scope_labels("MATCH (m:Meta) WHERE m.tag = ':Meta' AND m:Segment|Neuron RETURN m", "ds")
    "MATCH (m:`ds_Meta`) WHERE m.tag = ':Meta' AND m:`ds_Segment`|`ds_Neuron` RETURN m"
    >>> scope_labels("MATCH (n:Custom {type: 'pre'}) // :Neuron\\nRETURN n", "ds")
    "MATCH (n:Custom {type: 'pre'}) // :Neuron\\nRETURN n"
    """
    tokens = _tokens(cypher)
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        out.append(tok.text)
        i += 1
        if tok.kind != "other" or tok.text != ":":
            continue
        # a label expression: [!]Label ([|&] [!]Label)*
        j = _next_solid(tokens, i)
        out.extend(t.text for t in tokens[i:j])
        i = j
        while i < len(tokens):
            while i < len(tokens) and tokens[i].text == "!":
                out.append("!")
                i += 1
            if i < len(tokens) and tokens[i].kind in ("name", "quoted"):
                name = _unquote(tokens[i])
                out.append(label(dataset, name) if name in NODE_KINDS else tokens[i].text)
                i += 1
            if i < len(tokens) and tokens[i].text in ("|", "&"):
                out.append(tokens[i].text)
                i += 1
                continue
            break
    return "".join(out)


def _cypher_string(literal: str) -> str:
    r"""The value of a Cypher string literal (quotes included in ``literal``).

    Examples
    --------
    >>> _cypher_string(r'"say \"hi\"\n"')
    'say "hi"\n'
    """
    body = literal[1:-1]
    return re.sub(
        r"\\(u[0-9A-Fa-f]{4}|.)",
        lambda m: (
            chr(int(m.group(1)[1:], 16))
            if len(m.group(1)) == 5
            else _ESCAPES.get(m.group(1), m.group(1))
        ),
        body,
        flags=re.DOTALL,
    )


def _string_literal(value: str) -> str:
    r"""A double-quoted Cypher string literal for ``value``.

    Examples
    --------
    >>> _cypher_string(_string_literal('a "b"\\ c\n')) == 'a "b"\\ c\n'
    True
    """
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _refused(what: str) -> CustomCypherError:
    return CustomCypherError(f"custom Cypher may only read the graph: {what} is refused", "refused")


def prepare(cypher: str, dataset: str, timeout_s: float = 30.0) -> tuple[str, list[str]]:
    """Check a custom query and scope it to ``dataset`` (:func:`scope_labels`).

    Refuses what a read transaction would still let a query do (see the module docstring).
    ``CALL apoc.cypher.runTimeboxed("<query>", {…}, <ms>)``, which neuprint-python sends and
    which runs its query in a transaction of its own, is allowed when the inner query is a
    string literal: it is checked and scoped the same way, its time limit is cut to the
    server's, and it is returned in the list of inner queries, which the caller must prove
    read-only (:func:`run_custom` asks Neo4j to ``EXPLAIN`` them).

    Examples
    --------
    >>> prepare("MATCH (n:Neuron) CALL { WITH n RETURN 1 AS one } RETURN n.use, 'LOAD CSV'", "d")
    ("MATCH (n:`d_Neuron`) CALL { WITH n RETURN 1 AS one } RETURN n.use, 'LOAD CSV'", [])
    >>> prepare('CALL apoc.cypher.runTimeboxed("MATCH (n:Segment) RETURN count(n) AS c", {}, '
    ...         '120000) YIELD value RETURN value.c', "d", timeout_s=30)
    ... # doctest: +NORMALIZE_WHITESPACE
    ('CALL apoc.cypher.runTimeboxed("MATCH (n:`d_Segment`) RETURN count(n) AS c", {}, 30000)
      YIELD value RETURN value.c', ['MATCH (n:`d_Segment`) RETURN count(n) AS c'])
    >>> prepare("LOAD CSV FROM 'file:///etc/passwd' AS row RETURN row", "d")
    Traceback (most recent call last):
    ...
    graph.custom.CustomCypherError: custom Cypher may only read the graph: LOAD CSV is refused
    >>> prepare("CALL apoc.periodic.iterate('MATCH (n) RETURN n', 'DETACH DELETE n', {})", "d")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graph.custom.CustomCypherError: ... the procedure apoc.periodic.iterate is refused
    """
    return _prepare(cypher, dataset, timeout_s, nested=False)


def _prepare(cypher: str, dataset: str, timeout_s: float, nested: bool) -> tuple[str, list[str]]:
    tokens = _tokens(cypher)
    text = [t.text for t in tokens]
    solid = [i for i, t in enumerate(tokens) if t.kind not in ("space", "comment")]
    inner: list[str] = []
    for n, i in enumerate(solid):
        tok = tokens[i]
        if tok.kind != "name" or (n and tokens[solid[n - 1]].text in (".", "$")):
            continue
        word = tok.text.lower()
        if word in REFUSED_WORDS:
            raise _refused(REFUSED_WORDS[word])
        if word != "call" or n + 1 >= len(solid) or tokens[solid[n + 1]].text in ("{", "("):
            continue
        parts, m = [], n + 1
        while m < len(solid) and tokens[solid[m]].kind in ("name", "quoted"):
            parts.append(_unquote(tokens[solid[m]]))
            if m + 1 < len(solid) and tokens[solid[m + 1]].text == ".":
                m += 2
                continue
            break
        procedure = ".".join(parts)
        if procedure.lower() in PROCEDURES:
            continue
        if procedure.lower() != TIMEBOXED or nested:
            raise _refused(f"the procedure {procedure or '(unnamed)'}")
        args = [tokens[j] for j in solid[m + 1 :]]
        if len(args) < 3 or args[0].text != "(" or args[1].kind != "string" or args[2].text != ",":
            raise CustomCypherError(
                "apoc.cypher.runTimeboxed is allowed only as "
                'apoc.cypher.runTimeboxed("<query>", {...}, <milliseconds>)',
                "refused",
            )
        scoped, _ = _prepare(_cypher_string(args[1].text), dataset, timeout_s, nested=True)
        text[solid[m + 2]] = _string_literal(scoped)
        inner.append(scoped)
        depth, k = 0, 3  # the time limit follows the parameter map
        while k < len(args) and not (args[k].text == "," and depth == 0):
            depth += (args[k].text in ("{", "[", "(")) - (args[k].text in ("}", "]", ")"))
            k += 1
        if k + 1 >= len(args) or not args[k + 1].text.isdigit():
            raise CustomCypherError(
                "apoc.cypher.runTimeboxed needs its time limit as a whole number of milliseconds",
                "refused",
            )
        text[solid[m + 1 + k + 1]] = str(min(int(args[k + 1].text), int(timeout_s * 1000)))
    return scope_labels("".join(text), dataset), inner


def _number(value: float) -> int | float | None:
    if math.isnan(value) or math.isinf(value):
        return None  # neuPrint cannot send these either (Go's JSON refuses them)
    if value.is_integer() and abs(value) < 1e21:
        return int(value)
    return value


def _graph_id(element_id: str) -> int | str:
    tail = element_id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else element_id


def to_json(value: Any) -> Any:
    """A Neo4j value as neuPrintHTTP writes it into JSON.

    Examples
    --------
    >>> from neo4j.spatial import CartesianPoint
    >>> to_json(CartesianPoint((1.0, 2.5, 3.0)))["coordinates"]
    [1, 2.5, 3]
    >>> to_json([1.0, float("nan"), {"a": -7}])
    [1, None, {'a': -7}]
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, Point):
        return {
            "coordinates": [_number(float(c)) for c in value],
            "crs": {
                "name": "cartesian-3d" if len(value) == 3 else "cartesian",
                "properties": {
                    "href": f"http://spatialreference.org/ref/sr-org/{value.srid}/ogcwkt/",
                    "type": "ogcwkt",
                },
                "srid": value.srid,
                "type": "link",
            },
            "type": "Point",
        }
    if isinstance(value, Node):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, Relationship):
        return {
            "id": _graph_id(value.element_id),
            "type": value.type,
            "startNodeId": _graph_id(value.start_node.element_id)
            if value.start_node is not None
            else None,
            "endNodeId": _graph_id(value.end_node.element_id)
            if value.end_node is not None
            else None,
            **{k: to_json(v) for k, v in value.items()},
        }
    if isinstance(value, Path):
        return {
            "nodes": [to_json(n) for n in value.nodes],
            "relationships": [to_json(r) for r in value.relationships],
        }
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return str(value)


def _rows(records: Iterator[Any], width: int) -> list[list[Any]]:
    return [[to_json(record[k]) for k in range(width)] for record in records]


async def _read(
    driver: AsyncDriver, cypher: str, database: str, timeout_s: float
) -> tuple[list[str], list[Record]]:
    """Run one query in a READ transaction with a timeout; the server's notifications (such
    as "property key does not exist", common in clients' queries) stay off the log."""

    @unit_of_work(timeout=timeout_s)
    async def work(tx: AsyncManagedTransaction) -> tuple[list[str], list[Record]]:
        result = await tx.run(cypher)
        records = [r async for r in result]
        return list(result.keys()), records

    async with driver.session(
        database=database, default_access_mode=READ_ACCESS, notifications_min_severity="OFF"
    ) as session:
        return await session.execute_read(work)


async def _query_type(driver: AsyncDriver, cypher: str, database: str) -> str:
    """Neo4j's plan type of a query (``r`` read, ``rw``, ``w``, ``s`` schema), unexecuted."""
    async with driver.session(
        database=database, default_access_mode=READ_ACCESS, notifications_min_severity="OFF"
    ) as session:
        result = await session.run("EXPLAIN " + cypher)
        summary = await result.consume()
        return str(summary.query_type)


async def run_custom(
    driver: AsyncDriver,
    cypher: str,
    dataset: str,
    database: str = "neo4j",
    timeout_s: float = 30.0,
) -> dict[str, Any]:
    """Run a client's Cypher against ``dataset``, read-only and time-boxed.

    Returns ``{"columns": [...], "data": [[...], ...]}`` as neuPrint does; raises
    :class:`CustomCypherError` for a refused, writing, timed-out or invalid query.
    """
    if not cypher or not cypher.strip():
        raise CustomCypherError("the request has no Cypher ('cypher' is empty)", "invalid")
    scoped, inner = prepare(cypher, dataset, timeout_s)
    try:
        for query in inner:
            if await _query_type(driver, query, database) != "r":
                raise CustomCypherError(
                    "custom Cypher may only read the graph, and the query given to "
                    "apoc.cypher.runTimeboxed writes to it",
                    "write",
                )
        keys, records = await _read(driver, scoped, database, timeout_s)
    except CypherSyntaxError as err:
        first = (err.message or str(err)).strip().splitlines()[0]
        raise CustomCypherError(f"the Cypher is not valid: {first}", "invalid") from None
    except Neo4jError as err:
        code = err.code or ""
        if "AccessMode" in code or "ForbiddenDueToTransactionType" in code:
            raise CustomCypherError(
                "custom Cypher may only read the graph, and this query writes to it", "write"
            ) from None
        if "TransactionTimedOut" in code or "Terminated" in code:
            raise CustomCypherError(
                f"Timeout: the query ran longer than the server's {timeout_s:g} s limit; "
                "narrow it (fewer bodies, a LIMIT) or ask in smaller batches",
                "timeout",
            ) from None
        if isinstance(err, ClientError):
            first = (err.message or str(err)).strip().splitlines()[0]
            raise CustomCypherError(f"Neo4j refused the query: {first}", "invalid") from None
        raise
    return {"columns": keys, "data": _rows(iter(records), len(keys))}


async def datasets(
    driver: AsyncDriver, database: str = "neo4j", timeout_s: float = 30.0
) -> dict[str, Any]:
    """Every loaded data set (one ``:Meta`` node each) in neuPrint's ``/api/dbmeta/datasets``
    shape: ``{name: {"last-mod", "uuid", "ROIs", "superLevelROIs", "info", "hidden", "logo",
    "description"}}`` (``storage/neuprintbolt/neuprintbolt.go``, ``GetDatasets``).

    The name is ``Meta.dataset`` alone: neuPrint appends ``:<tag>``, but here a data set is
    asked for by the name it was ingested under.
    """
    _, records = await _read(
        driver, "MATCH (m:Meta) RETURN properties(m) AS m ORDER BY m.dataset", database, timeout_s
    )
    out: dict[str, Any] = {}
    for record in records:
        r = record["m"]
        try:
            rois = list(json.loads(r.get("roiInfo") or "{}"))
        except ValueError:
            rois = []
        out[r["dataset"]] = {
            "last-mod": r.get("lastDatabaseEdit") or "",
            "uuid": r.get("uuid", "latest"),
            "ROIs": rois,
            "superLevelROIs": list(r.get("superLevelRois") or []),
            "info": r.get("info", "N/A"),
            "hidden": bool(r.get("hideDataSet")),
            "logo": r.get("logo", ""),
            "description": r.get("description", ""),
        }
    return out
