"""What a report reads before it analyses: the data set (loaded or not), its neurons and cell
types, each check failing with one sentence (:class:`ReportError`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graph import queries
from graph.queries import NeuronFilter, Reader
from graph.schema import check_dataset

PAGE = 1000  # neurons per query while reading a data set's neurons


class ReportError(ValueError):
    """Input a report cannot work on (unknown data set or cell type, nothing left after the
    filters); the message is one sentence naming the input."""


async def check_loaded(reader: Reader, dataset: str) -> dict[str, Any]:
    """The data set's ``:Meta`` essentials; one sentence naming the loaded data sets when it
    is not loaded."""
    check_dataset(dataset)
    meta = await queries.dataset_meta(reader, dataset)
    if meta is None:
        loaded = [d["dataset"] for d in await queries.datasets(reader)]
        raise ReportError(
            f"no data set is named {dataset!r}; loaded: {', '.join(loaded) or 'none'}"
        )
    return meta


async def neurons(
    reader: Reader, dataset: str, where_: NeuronFilter | None = None
) -> list[dict[str, Any]]:
    """Every neuron passing ``where_`` (all when ``None``), a page of :data:`PAGE` per query."""
    out: list[dict[str, Any]] = []
    after = None
    while True:
        page, more = await queries.neurons_page(reader, dataset, PAGE, after, where_)
        out += page
        if not more or not page:
            return out
        after = page[-1]["bodyId"]


def chosen_types(dataset: str, asked: Iterable[str] | None, known: list[str]) -> list[str]:
    """The cell types a report covers: ``asked`` (each must be one of the data set's types
    ``known``, as :func:`graph.queries.cell_types` lists them) or, when ``None``, all of them.

    Examples
    --------
    >>> known = ["KC", "MBON"]
    >>> chosen_types("fib", None, known), chosen_types("fib", ["MBON"], known)
    (['KC', 'MBON'], ['MBON'])
    >>> chosen_types("fib", ["PN"], known)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    reports.inputs.ReportError: no neuron of data set 'fib' has cell type 'PN'; its types: KC, MBON
    """
    if not known:
        raise ReportError(
            f"no neuron of data set {dataset!r} has a cell type; set them with "
            "`connectome annotate` or let the cell-type model predict them at ingest"
        )
    if asked is None:
        return list(known)
    asked = list(dict.fromkeys(asked))
    unknown = [t for t in asked if t not in known]
    if unknown:
        which = ", ".join(repr(t) for t in unknown)
        plural = "types" if len(unknown) > 1 else "type"
        raise ReportError(
            f"no neuron of data set {dataset!r} has cell {plural} {which}; "
            f"its types: {', '.join(known)}"
        )
    return asked
