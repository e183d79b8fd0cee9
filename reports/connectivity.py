"""The cell-type connectivity report: synapses from each cell type (rows, presynaptic) onto
each cell type (columns, postsynaptic) and the connected neuron pairs behind them, as
:func:`graph.queries.cell_type_connectivity` (GraphQL's ``cellTypeConnectivity``) counts them,
drawn as heatmaps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from graph import queries
from graph.analysis import type_matrices
from graph.queries import Reader
from reports.document import Report, Table, filters_table
from reports.inputs import ReportError, check_loaded, chosen_types
from reports.options import ConnectivityOptions

KIND = "connectivity"


def heatmap(ax: Any, types: list[str], values: list[list[int]], title: str) -> None:
    """One annotated matrix, presynaptic types as rows."""
    data = np.asarray(values, float)
    image = ax.imshow(data, cmap="viridis", vmin=0)
    ax.figure.colorbar(image, ax=ax, shrink=0.8)
    ax.set_xticks(range(len(types)), types, rotation=45, ha="right")
    ax.set_yticks(range(len(types)), types)
    ax.set_xlabel("postsynaptic cell type")
    ax.set_ylabel("presynaptic cell type")
    ax.set_title(title)
    if len(types) <= 20:
        top = data.max() or 1.0
        for (i, j), v in np.ndenumerate(data):
            ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=8,
                    color="k" if v > 0.6 * top else "w")  # fmt: skip


async def build(
    reader: Reader, dataset: str, options: ConnectivityOptions, step: Callable[[str], None]
) -> Report:
    """The whole report (numbers, tables, figures) for ``dataset``."""
    step("data set")
    await check_loaded(reader, dataset)
    types = chosen_types(dataset, options.cell_types, await queries.cell_types(reader, dataset))
    step("connections")
    rows = await queries.cell_type_connectivity(reader, dataset, types, options.min_weight)
    if not rows:
        raise ReportError(
            f"no neurons of cell types {', '.join(types)} of data set {dataset!r} are "
            f"connected by at least {options.min_weight} synapses; lower --min-weight"
        )
    step("figures")
    weights, pairs = type_matrices(types, rows)
    filters = {**asdict(options), "cell_types": types}
    size = max(4.5, 0.45 * len(types) + 3)
    fig = Figure(figsize=(2 * size, size), layout="constrained")
    left, right = fig.subplots(1, 2)
    heatmap(left, types, weights, "synapses")
    heatmap(right, types, pairs, "connected neuron pairs")
    total = sum(map(sum, weights))
    return Report(
        kind=KIND,
        title="Cell-type connectivity",
        dataset=dataset,
        numbers={
            "filters": filters,
            "cell_types": types,
            "synapses": weights,
            "neuron_pairs": pairs,
            "total_synapses": total,
        },  # fmt: skip
        tables=[
            filters_table(filters),
            Table(
                "Synapses from type (rows) onto type (columns)",
                ["pre \\ post", *types],
                [[t, *map(str, row)] for t, row in zip(types, weights, strict=True)],
            ),
            Table(
                "Connected neuron pairs from type (rows) onto type (columns)",
                ["pre \\ post", *types],
                [[t, *map(str, row)] for t, row in zip(types, pairs, strict=True)],
            ),
        ],  # fmt: skip
        figures=[
            (
                f"Cell-type connectivity: {total} synapses between typed neurons, and the "
                f"connected neuron pairs (pairs with at least {options.min_weight} synapses).",
                fig,
            )
        ],  # fmt: skip
        notes=[
            f"Neuron pairs count when connected by at least {options.min_weight} "
            f"synapse{'' if options.min_weight == 1 else 's'}."
        ],
    )
