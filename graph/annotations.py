"""Neuron annotations from a table: cell type, type confidence, instance, status.

A CSV (or Parquet) file with a ``bodyId`` column and any of ``type``, ``typeConfidence``,
``typeSource`` (``annotation``, the default, or ``model``), ``instance``, ``status`` sets
those properties of the named neurons in one write transaction
(:func:`graph.queries.annotate_neurons`); empty cells leave a property as it is.
This is how a scientist's proofread types reach the graph, and how the demo gives its phantom
cells their planted types. ``connectome ingest`` keeps them across a reload
(:func:`saved_annotations` before, :func:`annotate` after), except the types a model set
(``typeSource: 'model'``, as the ingest's cell-type stage writes them): those it predicts
afresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from graph.ids import parse_body_id
from graph.queries import (
    ANNOTATION_FIELDS,
    TYPE_SOURCES,
    Reader,
    annotate_neurons,
    async_driver,
    neuron_annotations,
)
from graph.settings import Neo4jSettings

T = TypeVar("T")


class AnnotationTableError(ValueError):
    """An annotation table that cannot be read; the message names the file and the fault."""


def read_annotations(path: str | Path) -> list[dict[str, Any]]:
    """The rows of an annotation table (CSV, or Parquet by its suffix), checked.

    Examples
    --------
    >>> import tempfile, os
    >>> f = os.path.join(tempfile.mkdtemp(), "types.csv")
    >>> _ = open(f, "w").write("bodyId,type,typeConfidence\\n18446744073709551615,KC,0.9\\n12,,\\n")
    >>> read_annotations(f)
    [{'bodyId': 18446744073709551615, 'type': 'KC', 'typeConfidence': 0.9}, {'bodyId': 12}]
    """
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype={"bodyId": str, "type": str, "instance": str,
                                             "status": str})  # fmt: skip
    except (OSError, ValueError) as err:
        raise AnnotationTableError(f"cannot read the annotation table {path}: {err}") from None
    if "bodyId" not in frame:
        raise AnnotationTableError(
            f"{path} has no bodyId column; expected bodyId and any of {list(ANNOTATION_FIELDS)}"
        )
    unknown = [c for c in frame.columns if c != "bodyId" and c not in ANNOTATION_FIELDS]
    if unknown:
        raise AnnotationTableError(
            f"{path} has columns {unknown} that are not annotations; "
            f"expected any of {list(ANNOTATION_FIELDS)}"
        )
    rows = []
    for i, record in enumerate(frame.to_dict("records")):
        try:
            row: dict[str, Any] = {"bodyId": parse_body_id(record["bodyId"])}
        except ValueError as err:
            raise AnnotationTableError(f"{path}, row {i + 2}: {err}") from None
        for key in ANNOTATION_FIELDS:
            value = record.get(key)
            if value is not None and not (isinstance(value, float) and pd.isna(value)):
                row[key] = float(value) if key == "typeConfidence" else value
        if row.get("typeSource", TYPE_SOURCES[0]) not in TYPE_SOURCES:
            raise AnnotationTableError(f"{path}, row {i + 2}: typeSource {row['typeSource']!r} "
                                       f"is not one of {list(TYPE_SOURCES)}")  # fmt: skip
        rows.append(row)
    return rows


def _with_reader(settings: Neo4jSettings, work: Callable[[Reader], Awaitable[T]]) -> T:
    async def run() -> T:
        driver = async_driver(settings)
        try:
            return await work(Reader(driver, settings.database))
        finally:
            await driver.close()

    return asyncio.run(run())


def annotate(settings: Neo4jSettings, dataset: str, rows: list[dict[str, Any]]) -> int:
    """Write the annotation rows to ``dataset``; return how many neurons were updated."""
    return _with_reader(settings, lambda reader: annotate_neurons(reader, dataset, rows))


def saved_annotations(settings: Neo4jSettings, dataset: str) -> list[dict[str, Any]]:
    """The annotations set on ``dataset``'s segments now (none when it is not loaded), to
    write back after a reload (:func:`annotate`): a re-ingest keeps what scientists named."""
    return _with_reader(settings, lambda reader: neuron_annotations(reader, dataset))
