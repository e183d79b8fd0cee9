"""The ingest pipeline: a registry of stages with declared inputs, run as a Dask graph.

Each stage names the stages whose outputs it takes and the optional label layers it needs;
a stage whose layer is missing is skipped with one line saying so, and its output is ``None``.
The last stage writes the Parquet tables of :mod:`graph.tables` (into a temporary folder that
replaces the old one only when complete).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import dask.threaded
import numpy as np
import pandas as pd
from dask.callbacks import Callback

from graph import tables as table_contract
from ingest import cells as cells_stage
from ingest import distances as distances_stage
from ingest import organelles as organelles_stage
from ingest import synapses as synapses_stage
from ingest.settings import IngestSettings
from ingest.volume import Volume


@dataclass(frozen=True)
class Stage:
    name: str
    func: Callable[..., Any]
    inputs: tuple[str, ...] = ()
    layers: tuple[str, ...] = ()  # optional label layers this stage needs
    description: str = ""


STAGES: dict[str, Stage] = {}


def stage(
    name: str, inputs: tuple[str, ...] = (), layers: tuple[str, ...] = (), description: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a stage function ``f(ctx, *input_outputs)`` under ``name``."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        STAGES[name] = Stage(name, func, inputs, layers, description)
        return func

    return wrap


@dataclass
class Context:
    volume: Volume
    dataset: str
    settings: IngestSettings
    out_dir: Path
    timings: dict[str, float] = field(default_factory=dict)


def _read(layer: Any) -> np.ndarray:
    return np.asarray(layer[...])


@stage("cell_labels", description="read and renumber the cell segmentation")
def _cell_labels(ctx: Context) -> cells_stage.CellLabels:
    return cells_stage.relabel(_read(ctx.volume.labels["cells"]))


@stage("cells", ("cell_labels",), description="voxel counts, bounding boxes, inner points")
def _cells(ctx: Context, labels: cells_stage.CellLabels) -> pd.DataFrame:
    return cells_stage.cell_table(labels, ctx.volume.voxel_size_nm_zyx)


def _organelle_stage(layer: str, kind: str) -> Callable[..., organelles_stage.Organelles]:
    def run(ctx: Context, labels: cells_stage.CellLabels) -> organelles_stage.Organelles:
        mask = organelles_stage.binarize(_read(ctx.volume.labels[layer]))
        return organelles_stage.find_organelles(mask, labels.compact, labels.ids, kind)

    return run


for _layer, _kind in (("mitochondria", "mitochondrion"), ("vesicle_clouds", "vesicle_cloud")):
    stage(_layer, ("cell_labels",), (_layer,), f"{_kind} instances assigned to cells")(
        _organelle_stage(_layer, _kind)
    )


@stage(
    "synapses",
    ("cell_labels", "vesicle_clouds"),
    ("synaptic_junctions",),
    description="contact sites intersected with junction patches, pre/post by vesicles",
)
def _synapses(
    ctx: Context, labels: cells_stage.CellLabels, vesicles: organelles_stage.Organelles | None
) -> pd.DataFrame:
    junctions = organelles_stage.binarize(_read(ctx.volume.labels["synaptic_junctions"]))
    stype = _read(ctx.volume.labels["synapse_type"]) if ctx.volume.has("synapse_type") else None
    s = ctx.settings
    return synapses_stage.find_synapses(
        labels.compact,
        labels.ids,
        junctions,
        vesicles.instances > 0 if vesicles is not None else None,
        stype,
        ctx.volume.voxel_size_nm_zyx,
        vesicle_search_radius_nm=s.vesicle_search_radius_nm,
        min_contact_faces=s.min_contact_faces,
        secondary_pair_fraction=s.secondary_pair_fraction,
    )


@stage(
    "distances",
    ("synapses", "mitochondria"),
    description="distance from each synapse to the pre cell's nearest mitochondrion",
)
def _distances(
    ctx: Context, synapses: pd.DataFrame | None, mito: organelles_stage.Organelles | None
) -> pd.DataFrame | None:
    if synapses is None or mito is None:
        return None
    return distances_stage.nearest_mitochondria(
        synapses, mito.instances, mito.table, ctx.volume.voxel_size_nm_zyx
    )


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            f.name: pd.Series([], dtype=f.type.to_pandas_dtype())
            for f in table_contract.SCHEMAS[name]
        }
    )


@stage(
    "tables",
    ("cells", "synapses", "mitochondria", "vesicle_clouds", "distances"),
    description="write the Parquet tables",
)
def _tables(
    ctx: Context,
    cells: pd.DataFrame,
    synapses: pd.DataFrame | None,
    mito: organelles_stage.Organelles | None,
    vesicles: organelles_stage.Organelles | None,
    distances: pd.DataFrame | None,
) -> Path:
    elements = []
    if mito is not None:
        elements.append(mito.table)
    if vesicles is not None:
        offset = len(mito.table) if mito is not None else 0
        elements.append(vesicles.table.assign(element_id=vesicles.table["element_id"] + offset))
    element_table = pd.concat(elements, ignore_index=True) if elements else _empty("elements")
    out = ctx.out_dir
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    table_contract.write_table(partial, "neurons", cells)
    table_contract.write_table(
        partial, "synapses", synapses if synapses is not None else _empty("synapses")
    )
    table_contract.write_table(partial, "elements", element_table)
    table_contract.write_table(
        partial, "close_to", distances if distances is not None else _empty("close_to")
    )
    v = ctx.volume
    table_contract.write_meta(
        partial,
        {
            "dataset": ctx.dataset,
            "source": str(v.path),
            "format": v.format,
            "voxel_size_nm_xyz": list(v.voxel_size_nm_xyz),
            "shape_zyx": list(v.shape_zyx),
            "layers": sorted(v.labels),
            "min_neuron_voxels": ctx.settings.min_neuron_voxels,
            "timings_s": {k: round(t, 3) for k, t in ctx.timings.items()},
        },
    )
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        os.replace(out, old)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(partial, out)
    shutil.rmtree(old, ignore_errors=True)
    return out


class _Progress(Callback):
    def __init__(self, bar: Any, ctx: Context):
        super().__init__()
        self.bar, self.ctx = bar, ctx
        self.started: dict[Any, float] = {}

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        self.started[key] = time.perf_counter()
        self.bar.set_postfix_str(str(key))

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        start = self.started.pop(key, time.perf_counter())
        self.ctx.timings[str(key)] = time.perf_counter() - start
        self.bar.update(1)


def run_stages(
    volume: Volume,
    dataset: str,
    settings: IngestSettings,
    out_dir: Path | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run every registered stage on ``volume`` and write its tables; return their folder."""
    from tqdm.auto import tqdm

    ctx = Context(volume, dataset, settings, out_dir or settings.tables_dir(dataset))
    graph: dict[str, Any] = {}
    for st in STAGES.values():
        missing = [layer for layer in st.layers if not volume.has(layer)]
        if missing:
            echo(f"skipping stage {st.name!r}: the volume has no labels/{missing[0]} layer")
            graph[st.name] = None
        else:
            graph[st.name] = (st.func, ctx, *st.inputs)
    with tqdm(total=len(graph), desc="ingest", unit="stage", disable=not progress) as bar:
        with _Progress(bar, ctx):
            if settings.scheduler is None:
                result = dask.threaded.get(graph, "tables", num_workers=2)
            else:
                result = _distributed(graph, settings.scheduler)
    return Path(result)


def _distributed(graph: dict[str, Any], address: str) -> Any:
    from dask.distributed import Client  # optional: only for a cluster

    with Client(address) as client:
        return client.get(graph, "tables")
