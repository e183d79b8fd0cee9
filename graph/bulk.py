"""First load of a large data set with ``neo4j-admin database import`` (Neo4j's bulk
importer, 10⁵–10⁶ entities/s), writing the same graph as :func:`graph.load.load`.

The importer fills a whole database while the server is stopped, so it is for an empty
database (a first load); later data sets and reloads go through the batched loader. Both
write the :class:`graph.load.Model` of :func:`graph.load.prepare`, so they share one
definition of the graph. The import files are written column-wise, a chunk at a time, by
Arrow's CSV writer: a header file per node or relationship kind and one data file per chunk.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from graph.load import (
    KEYS,
    LABELS,
    LOCATION,
    Model,
    Nodes,
    Relationships,
    arrow_table,
    connect,
    prepare,
    write_meta_node,
)
from graph.local import LocalNeo4j, Neo4jSetupError
from graph.schema import constraint_statements
from graph.settings import Neo4jSettings

ARRAY_DELIMITER = ";"
_CSV = pcsv.WriteOptions(include_header=False)


def importer_type(kind: pa.DataType) -> str:
    """The ``neo4j-admin`` header type of an Arrow column (strings have none).

    Examples
    --------
    >>> importer_type(pa.int32()), importer_type(pa.list_(pa.float64())), importer_type(pa.null())
    (':long', ':double[]', '')
    """
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return importer_type(kind.value_type) + "[]"
    if pa.types.is_integer(kind):
        return ":long"
    if pa.types.is_floating(kind):
        return ":double"
    if pa.types.is_boolean(kind):
        return ":boolean"
    return ""  # strings, and a column that is null throughout (absent everywhere)


def _strings(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
        return pc.binary_join(pc.cast(column, pa.list_(pa.string())), ARRAY_DELIMITER)
    return pc.cast(column, pa.string())


def import_ids(kind: str, table: pa.Table, prefix: str = "") -> pa.ChunkedArray | pa.Array:
    """The importer's node ids of ``kind`` from its :data:`graph.load.KEYS` columns.

    A Synapse is ``2 * synapseId`` on its pre side and one more on its post side (numbers
    are cheaper to write than joined strings, and there are two per synapse); other kinds
    join their keys with ``:``.

    Examples
    --------
    >>> t = pa.table({"synapseId": [5, 5], "type": ["pre", "post"]})
    >>> import_ids("Synapse", t).to_pylist()
    [10, 11]
    >>> import_ids("Compartment", pa.table({"bodyId": [7], "type": ["axon"]})).to_pylist()
    ['7:axon']
    """
    columns = [table.column(prefix + key) for key in KEYS[kind]]
    if kind == "Synapse":
        post = pc.cast(pc.equal(columns[1], "post"), pa.int64())
        return pc.add(pc.multiply(columns[0], 2), post)
    if len(columns) == 1:
        return columns[0]
    return pc.binary_join_element_wise(*(_strings(c) for c in columns), ":")


def _point(table: pa.Table) -> pa.ChunkedArray:
    x, y, z = (_strings(table.column(c)) for c in LOCATION)
    return pc.binary_join_element_wise("{x:", x, ", y:", y, ", z:", z, "}", "")


@dataclass
class ImportFiles:
    """What :func:`write_import_files` wrote: the importer's arguments and row counts."""

    args: list[str] = field(default_factory=list)
    nodes: int = 0
    relationships: int = 0
    seconds: float = 0.0


class _Kind:
    """One node or relationship kind's header file and data files, a chunk at a time. Each
    chunk is written on the ``writer`` thread (Arrow's writer releases the GIL) while the next
    one is built; at most one waits."""

    def __init__(self, folder: Path, name: str, writer: ThreadPoolExecutor):
        self.folder, self.name, self.writer = folder, name, writer
        self.schema: pa.Schema | None = None
        self.files: list[Path] = []
        self.rows = 0
        self.pending: Future[None] | None = None

    def write(self, table: pa.Table, header: list[str]) -> None:
        if self.schema is None:
            self.schema = table.schema
            path = self.folder / f"{self.name}.header.csv"
            path.write_text(",".join(header) + "\n")
            self.files.append(path)
        path = self.folder / f"{self.name}.{len(self.files)}.csv"
        self.finish()
        self.pending = self.writer.submit(pcsv.write_csv, table, path, _CSV)
        self.files.append(path)
        self.rows += table.num_rows

    def finish(self) -> _Kind:
        if self.pending is not None:
            self.pending.result()
            self.pending = None
        return self

    def cast(self, table: pa.Table) -> pa.Table:
        """Later chunks take the first chunk's types (a column null in one chunk only)."""
        return table if self.schema is None else table.cast(self.schema)

    def argument(self, option: str) -> str:
        return f"--{option}={','.join(str(p) for p in self.files)}"


def _write_nodes(nodes: Nodes, folder: Path, writer: ThreadPoolExecutor) -> _Kind:
    out = _Kind(folder, nodes.name, writer)
    for frame in nodes.chunks():
        if frame.empty:
            continue
        props = arrow_table(frame.drop(columns=[LABELS, *LOCATION], errors="ignore"))
        located = set(LOCATION) <= set(frame.columns)
        columns = {":ID": import_ids(nodes.kind, props)}
        header = [f":ID({nodes.kind})"]
        for name in props.column_names:
            columns[name] = _strings(props.column(name)) if "[]" in importer_type(
                props.schema.field(name).type) else props.column(name)  # fmt: skip
            header.append(name + importer_type(props.schema.field(name).type))
        if located:
            columns["location"] = _point(arrow_table(frame[list(LOCATION)]))
            header.append("location:point{crs:cartesian-3D}")
        columns[":LABEL"] = pa.array(frame[LABELS].to_numpy(), pa.string())
        header.append(":LABEL")
        out.write(out.cast(pa.table(columns)), header)
    return out.finish()


def _write_relationships(rels: Relationships, folder: Path, writer: ThreadPoolExecutor) -> _Kind:
    out = _Kind(folder, rels.name, writer)
    for frame in rels.chunks():
        if frame.empty:
            continue
        table = arrow_table(frame)
        ends = [c for c in table.column_names if c.startswith(("start_", "end_"))]
        columns = {
            ":START_ID": import_ids(rels.start, table, "start_"),
            ":END_ID": import_ids(rels.end, table, "end_"),
        }
        header = [f":START_ID({rels.start})", f":END_ID({rels.end})"]
        for name in table.column_names:
            if name not in ends:
                columns[name] = table.column(name)
                header.append(name + importer_type(table.schema.field(name).type))
        out.write(out.cast(pa.table(columns)), header)
    return out.finish()


def write_import_files(model: Model, folder: Path) -> ImportFiles:
    """CSV files for ``neo4j-admin database import`` and its ``--nodes``/``--relationships``
    arguments: per kind a header file, then a data file per chunk of the model."""
    start = time.perf_counter()
    out = ImportFiles()
    with ThreadPoolExecutor(1, thread_name_prefix="csv") as writer:
        for nodes in model.nodes:
            kind = _write_nodes(nodes, folder, writer)
            if kind.rows:
                out.args.append(kind.argument("nodes"))
                out.nodes += kind.rows
        for rels in model.relationships:
            kind = _write_relationships(rels, folder, writer)
            if kind.rows:
                out.args.append(kind.argument(f"relationships={rels.type}"))
                out.relationships += kind.rows
    out.seconds = time.perf_counter() - start
    return out


def bulk_import(
    folder: str | os.PathLike,
    server: LocalNeo4j,
    settings: Neo4jSettings,
    echo: Callable[[str], None] = print,
    overwrite: bool = False,
    workdir: str | os.PathLike | None = None,
) -> dict[str, int]:
    """Import the tables in ``folder`` into the managed server's (empty) database.

    The CSV files go to a temporary folder in ``workdir`` (default: the system's), removed
    afterwards. One line each reports the rows per second of writing and of importing.
    """
    model = prepare(folder)
    server.start(echo=echo)
    with connect(settings) as driver:
        count = driver.execute_query("MATCH (n) WHERE NOT n:DataModel RETURN count(n) AS c",
                                     database_=settings.database).records[0]["c"]  # fmt: skip
    if count and not overwrite:
        raise Neo4jSetupError(
            f"the database already holds {count} nodes; the bulk importer replaces a whole "
            "database, so use it for a first load only (or load without --bulk)"
        )
    work = Path(tempfile.mkdtemp(prefix=f"import-{model.dataset}-", dir=workdir))
    try:
        files = write_import_files(model, work)
        rows = files.nodes + files.relationships
        echo(f"wrote {files.nodes} nodes and {files.relationships} relationships as CSV in "
             f"{files.seconds:.1f} s ({rows / max(files.seconds, 1e-9):,.0f} rows/s)")  # fmt: skip
        server.stop(echo=echo)
        began = time.perf_counter()
        proc = server.admin("database", "import", "full", settings.database,
                            "--overwrite-destination", f"--array-delimiter={ARRAY_DELIMITER}",
            f"--report-file={work / 'import.report'}", *files.args)  # fmt: skip
        took = time.perf_counter() - began
        if proc.returncode != 0:
            lines = (proc.stdout + proc.stderr).strip().splitlines()
            cause = [ln for ln in lines if "Exception" in ln or "rror" in ln] or lines[-3:]
            raise Neo4jSetupError(f"neo4j-admin database import failed: {cause[0][:500]}")
        echo(f"neo4j-admin imported them in {took:.1f} s ({rows / took:,.0f} rows/s)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        server.start(echo=echo)
    with connect(settings) as driver:
        for stmt in constraint_statements(model.dataset):
            driver.execute_query(stmt, database_=settings.database)
        write_meta_node(driver, model, settings.database)
    return model.counts
