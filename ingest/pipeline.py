"""The ingest pipeline: a registry of stages with declared inputs, fanned out over Dask.

Each stage names the stages whose outputs it takes and the optional label layers it needs;
a stage whose layer is missing is skipped with one line saying so, and its output is
``None``. Stages run in dependency order; the ``scan`` stage fans out over the chunk grid on
Dask — the local process pool by default, a ``dask.distributed`` cluster when
``settings.scheduler`` holds its address — and every later stage works on the chunk records
(tables whose size follows the number of objects, not of voxels), so memory stays bounded by
the chunk size. Finished chunks are kept in a work folder until the tables are written, so a
killed ingest resumes. The last stage writes the Parquet tables of :mod:`graph.tables` into a
temporary folder that replaces the old one only when complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from graph import tables as table_contract
from ingest import chunks as chunk_scan
from ingest import compartments as compartments_stage
from ingest import distances as distances_stage
from ingest import morphology as morphology_stage
from ingest import objects as objects_stage
from ingest import split as split_stage
from ingest import synapses as synapses_stage
from ingest.settings import IngestSettings
from ingest.volume import Volume

SCAN_VERSION = 1  # bump when the chunk records change, so old work folders are not reused


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
    """Register a stage function ``f(ctx, *outputs_of_inputs)`` under ``name``."""

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
    work_dir: Path
    progress: bool = True
    timings: dict[str, float] = field(default_factory=dict)


def work_dir_for(volume: Volume, dataset: str, settings: IngestSettings) -> Path:
    """The resumable work folder: named by what the chunk and morphology records depend on."""
    key = json.dumps({"path": str(Path(volume.path).resolve()), "shape": volume.shape_zyx,
                      "chunk": settings.chunk_zyx, "layers": volume.stamps(), "v": SCAN_VERSION,
                      "step": settings.inner_point_step_nm, "xy_step": settings.xy_step,
                      "morphology": [settings.meshes, settings.skeletons,
                                     settings.morphology_chunk_zyx, settings.skeletonizer]},
                     sort_keys=True)  # fmt: skip
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return settings.data_dir / "work" / dataset / digest


# -- the chunk scan, fanned out over Dask ---------------------------------------------------
@stage("scan", description="one pass over every chunk: cells, components, contact faces")
def _scan(ctx: Context) -> list[str]:
    boxes = chunk_scan.chunk_grid(ctx.volume.shape_zyx, tuple(ctx.settings.chunk_zyx))
    out = ctx.work_dir / "chunks"
    out.mkdir(parents=True, exist_ok=True)
    done = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    todo = [b for b in boxes if b.name not in done]
    path = str(ctx.volume.path)
    step = ctx.settings.inner_point_step_nm
    _fan_out(ctx, chunk_scan.scan_chunk, [(path, b, str(out), step) for b in todo],
             total=len(boxes), initial=len(boxes) - len(todo), desc="chunks")  # fmt: skip
    return [str(out / b.name) for b in boxes]


def _fan_out(ctx: Context, func: Callable[..., Any], args: list[tuple[Any, ...]], *,
             total: int, initial: int, desc: str) -> list[Any]:  # fmt: skip
    """Run ``func(*a)`` for every ``a`` on the configured Dask scheduler, with a progress bar."""
    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=initial, desc=desc, unit="task", leave=False,
               disable=not ctx.progress)  # fmt: skip
    try:
        if not args:
            return []
        if ctx.settings.scheduler:
            from dask.distributed import Client, as_completed

            with Client(ctx.settings.scheduler) as client:
                futures = [client.submit(func, *a, pure=False) for a in args]
                for _ in as_completed(futures):
                    bar.update(1)
                return client.gather(futures)
        import dask
        from dask.callbacks import Callback

        tasks = [dask.delayed(func, pure=False)(*a) for a in args]

        class _Tick(Callback):
            def _posttask(self, *_: Any) -> None:
                bar.update(1)

        workers = ctx.settings.workers or len(os.sched_getaffinity(0))
        scheduler = "processes" if workers > 1 and len(tasks) > 1 else "sync"
        with _Tick():
            return list(dask.compute(*tasks, scheduler=scheduler, num_workers=workers))
    finally:
        bar.close()


# -- totals over chunk records ---------------------------------------------------------------
@stage("cells", ("scan",), description="voxel counts, bounding boxes, inner points")
def _cells(ctx: Context, chunk_dirs: list[str]) -> pd.DataFrame:
    part = chunk_scan.read_records(chunk_dirs, "cells")
    columns = [f.name for f in table_contract.SCHEMAS["neurons"]
               if f.name not in morphology_stage.STATS[1:]]  # fmt: skip
    if part.empty:
        return pd.DataFrame(columns=columns)
    g = part.groupby("body_id", sort=True)
    out = g.agg(
        voxels=("voxels", "sum"),
        **{f"bbox_min_{a}": (f"bbox_min_{a}", "min") for a in "xyz"},
        **{f"bbox_max_{a}": (f"bbox_max_{a}", "max") for a in "xyz"},
    )

    deepest = part.loc[g["depth"].idxmax(), ["body_id", "x", "y", "z"]].set_index("body_id")
    out = out.join(deepest).reset_index()
    return out[columns]


@dataclass
class Morphology:
    """Per-cell mesh and skeleton files (``<body id>.npz``) and their summary numbers."""

    folder: Path
    stats: pd.DataFrame  # body_id, mesh_area_nm2, mesh_volume_nm3, cable_length_nm


@stage("morphology", ("cells",), description="a mesh and a skeleton per cell, chunk by chunk")
def _morphology(ctx: Context, cells: pd.DataFrame) -> Morphology | None:
    s = ctx.settings
    if not (s.meshes or s.skeletons):
        return None
    chunk = tuple(s.morphology_chunk_zyx)
    if chunk[1] % s.xy_step or chunk[2] % s.xy_step:
        raise ValueError(f"the morphology chunk {chunk} must be a multiple of xy_step "
                         f"{s.xy_step} in y and x, so that all chunks sample one grid")  # fmt: skip
    folder = ctx.work_dir / "morphology"  # <body>.npz per cell
    pieces = ctx.work_dir / "morphology_chunks" / "x".join(map(str, chunk))  # <chunk>.npz
    folder.mkdir(parents=True, exist_ok=True)
    big = cells[cells["voxels"] >= s.morphology_min_voxels]
    ids = big["body_id"].to_numpy(np.uint64)
    lo = big[["bbox_min_z", "bbox_min_y", "bbox_min_x"]].to_numpy(np.int64)
    hi = big[["bbox_max_z", "bbox_max_y", "bbox_max_x"]].to_numpy(np.int64)  # exclusive
    files, args = [], []
    for b in chunk_scan.chunk_grid(ctx.volume.shape_zyx, chunk):
        # a chunk reads one plane of samples beyond its upper faces (morphology.read_box)
        reach = np.array(b.stop) + (1, s.xy_step, s.xy_step)
        inside = np.all((lo < reach) & (hi > np.array(b.start)), axis=1)
        if not inside.any():
            continue
        f = pieces / f"{b.name}.npz"
        files.append(str(f))
        if not f.exists():
            args.append((str(ctx.volume.path), b.start, b.stop, ids[inside], str(f), s.xy_step,
                         s.meshes, s.skeletons, s.skeletonizer))  # fmt: skip
    _fan_out(ctx, morphology_stage.morphology_chunk, args, total=len(files),
             initial=len(files) - len(args), desc="morphology chunks")  # fmt: skip
    owners = morphology_stage.chunk_bodies(files)
    todo = [(int(b), owners.get(int(b), [])) for b in ids]
    n = min(len(todo), 4 * (s.workers or len(os.sched_getaffinity(0))))
    groups = [todo[i::n] for i in range(n)]  # interleaved, so that large cells spread out
    shape = tuple(int(n) for n in ctx.volume.shape_zyx)
    cell_args = [(g, str(folder), ctx.volume.voxel_size_nm_zyx, s.xy_step, s.meshes,
                  s.skeletons, shape) for g in groups]  # fmt: skip
    parts = _fan_out(ctx, morphology_stage.assemble_cells, cell_args, total=len(cell_args),
                     initial=0, desc="meshes and skeletons")  # fmt: skip
    found = [p for p in parts if len(p)]
    stats = (
        pd.concat(found, ignore_index=True)
        if found
        else pd.DataFrame(columns=morphology_stage.STATS)
    )
    return Morphology(folder, stats)


@dataclass
class Organelles:
    """Data-set-wide organelle instances: the element table and their boundary voxels."""

    table: pd.DataFrame
    surface: pd.DataFrame  # element_id, body_id, z, y, x


def _organelles(
    chunk_dirs: list[str],
    layer: str,
    kind: str,
    split: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> Organelles:
    rec = {n: chunk_scan.read_records(chunk_dirs, f"{layer}.{n}")
           for n in ("stats", "overlap", "halo", "low", "surface")}  # fmt: skip
    if rec["stats"].empty:
        empty = objects_stage.aggregate(rec["stats"], rec["overlap"], pd.Series(), kind)
        return Organelles(empty, pd.DataFrame(columns=["element_id", "body_id", "z", "y", "x"]))
    object_of = objects_stage.unify(rec["stats"]["object"].to_numpy(), rec["halo"], rec["low"])
    table = objects_stage.aggregate(rec["stats"], rec["overlap"], object_of, kind)
    # kept objects (inside a cell) are numbered 1..n in object order
    renumber = pd.Series(np.arange(1, len(table) + 1), index=table["element_id"].to_numpy())
    surface = rec["surface"]
    if not surface.empty:
        obj = object_of.reindex(surface["object"]).to_numpy()
        element = renumber.reindex(obj).to_numpy()
        keep = ~np.isnan(element)
        body = table.set_index("element_id")["body_id"].reindex(obj[keep]).to_numpy()
        surface = pd.DataFrame({"element_id": element[keep].astype(np.int64),
                                "body_id": body.astype(np.uint64),
                                "z": surface["z"].to_numpy()[keep],
                                "y": surface["y"].to_numpy()[keep],
                                "x": surface["x"].to_numpy()[keep]})  # fmt: skip
    table["element_id"] = np.arange(1, len(table) + 1, dtype=np.int64)
    if split is not None:
        table, surface = split_stage.apply_splits(table, surface, split(table))
    return Organelles(table, surface)


@stage("mitochondria", ("scan",), ("mitochondria",), "mitochondrion instances and cells")
def _mitochondria(ctx: Context, chunk_dirs: list[str]) -> Organelles:
    s = ctx.settings

    def split(table: pd.DataFrame) -> pd.DataFrame:
        # two cores of the minimum depth need at least two balls of that radius
        ball = 4 / 3 * np.pi * s.split_min_core_depth_nm**3 / np.prod(ctx.volume.voxel_size_nm_zyx)
        smallest = max(s.split_min_voxels, int(2 * ball))
        candidates = table[table["voxels"] >= smallest]
        work = split_stage.batches(candidates, split_stage.box_voxels(candidates))
        args = [(str(ctx.volume.path), "mitochondria", b, ctx.volume.voxel_size_nm_zyx,
                 s.split_core_fraction, s.split_min_core_depth_nm) for b in work]  # fmt: skip
        parts = _fan_out(ctx, split_stage.split_objects, args, total=len(args), initial=0,
                         desc="split mitochondria")  # fmt: skip
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    return _organelles(chunk_dirs, "mitochondria", "mitochondrion", split)


@stage("vesicle_clouds", ("scan",), ("vesicle_clouds",), "vesicle-cloud instances and cells")
def _vesicle_clouds(ctx: Context, chunk_dirs: list[str]) -> Organelles:
    return _organelles(chunk_dirs, "vesicle_clouds", "vesicle_cloud")


@stage(
    "synapses",
    ("scan", "vesicle_clouds", "mitochondria"),
    ("synaptic_junctions",),
    description="contact sites intersected with junction patches, pre/post by vesicles",
)
def _synapses(
    ctx: Context, chunk_dirs: list[str], vesicles: Organelles | None, mito: Organelles | None
) -> pd.DataFrame:
    layer = "synaptic_junctions"
    rec = {n: chunk_scan.read_records(chunk_dirs, n)
           for n in ("faces", "junction_cells", "junction_types")}  # fmt: skip
    stats = chunk_scan.read_records(chunk_dirs, f"{layer}.stats")
    if stats.empty or rec["faces"].empty:
        return pd.DataFrame(columns=synapses_stage.COLUMNS)
    patch_of = objects_stage.unify(
        stats["object"].to_numpy(),
        chunk_scan.read_records(chunk_dirs, f"{layer}.halo"),
        chunk_scan.read_records(chunk_dirs, f"{layer}.low"),
    )

    def totals(frame: pd.DataFrame, keys: list[str], values: list[str]) -> pd.DataFrame:
        """Chunk-wise rows re-keyed by the unified patch and summed."""
        if frame.empty:
            return frame
        frame = frame.assign(patch=patch_of.reindex(frame["patch"]).to_numpy())
        return frame.groupby(["patch", *keys], as_index=False)[values].sum()

    faces = totals(rec["faces"], ["lo", "hi"], ["faces", "area_nm2"])
    cells = totals(rec["junction_cells"], ["body_id"], ["n", "sz", "sy", "sx"])
    types = totals(rec["junction_types"], ["t"], ["n"])
    s = ctx.settings
    # a mesh per patch with a synapse candidate, on crops of the junction layer, in batches
    from ingest import clefts

    wanted = faces.loc[faces["faces"] >= s.min_contact_faces, "patch"].unique()
    boxes = clefts.patch_boxes(stats, patch_of, wanted)
    work = split_stage.batches(boxes, split_stage.box_voxels(boxes), voxels_per_batch=4_000_000)
    parts = _fan_out(ctx, clefts.mesh_areas, [(str(ctx.volume.path), b) for b in work],
                     total=len(work), initial=0, desc="junction meshes")  # fmt: skip
    meshed = [part for part in parts if len(part)]
    areas = pd.concat(meshed) if meshed else pd.DataFrame(columns=clefts.AREA_COLUMNS)
    vox = np.asarray(ctx.volume.voxel_size_nm_zyx, float)
    indexes = {
        name: synapses_stage.OrganelleIndex(
            org.surface, org.table.set_index("element_id")["voxels"], vox
        ) if org is not None else None
        for name, org in (("vesicles", vesicles), ("mitochondria", mito))
    }  # fmt: skip
    return synapses_stage.synapses_from_records(
        faces, cells, types, indexes["vesicles"], ctx.volume.voxel_size_nm_zyx,
        mitochondria=indexes["mitochondria"],
        mesh_areas=areas.set_index("patch")["mesh_area_nm2"].astype(float),
        vesicle_search_radius_nm=s.vesicle_search_radius_nm,
        min_contact_faces=s.min_contact_faces,
        secondary_pair_fraction=s.secondary_pair_fraction,
    )  # fmt: skip


@stage(
    "distances",
    ("synapses", "mitochondria"),
    description="distance from each synapse to the pre cell's nearest mitochondrion",
)
def _distances(
    ctx: Context, synapses: pd.DataFrame | None, mito: Organelles | None
) -> pd.DataFrame | None:
    if synapses is None or mito is None:
        return None
    return distances_stage.nearest_mitochondria(
        synapses, mito.surface, ctx.volume.voxel_size_nm_zyx
    )


@dataclass
class Compartments:
    """Per cell compartments and what they say of synapses, organelles and controls."""

    table: pd.DataFrame  # rows of the compartments table
    pre: pd.DataFrame  # synapse_id, pre_compartment, pre_site
    post: pd.DataFrame  # synapse_id, post_compartment, post_site, spine_head_volume_nm3
    elements: pd.DataFrame  # type, element_id, compartment
    close_to: pd.DataFrame  # synapse_id, distance_vx
    control_points: pd.DataFrame


@stage(
    "compartments",
    ("morphology", "synapses", "mitochondria", "vesicle_clouds", "distances"),
    description="axon, dendrite, soma, boutons and spines on skeletons; synapse sites; controls",
)
def _compartments(
    ctx: Context,
    morphology: Morphology | None,
    synapses: pd.DataFrame | None,
    mito: Organelles | None,
    vesicles: Organelles | None,
    distances: pd.DataFrame | None,
) -> Compartments | None:
    s = ctx.settings
    if morphology is None or not s.skeletons or morphology.stats.empty:
        return None
    columns = ["type", "element_id", "body_id", "x", "y", "z"]
    found = [o.table[columns] for o in (mito, vesicles) if o is not None and len(o.table)]
    elements = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)
    syn = synapses if synapses is not None else _empty("synapses")
    close = distances if distances is not None else _empty("close_to")
    surface = mito.surface if mito is not None else pd.DataFrame(columns=["body_id"])
    params = compartments_stage.CompartmentParams(
        window_nm=s.compartment_window_nm,
        model_window_nm=s.compartment_model_window_nm,
        soma_min_radius_nm=s.soma_min_radius_nm,
        spine_max_length_nm=s.spine_max_length_nm,
    )
    bodies = np.sort(morphology.stats["body_id"].to_numpy(np.uint64))
    groups = np.array_split(bodies, max(1, min(16, len(bodies) // 8)))
    args = []
    for group in groups:
        mine = pd.Index(group)
        args.append((
            str(morphology.folder), [int(b) for b in group],
            syn[syn["pre_body_id"].isin(mine) | syn["post_body_id"].isin(mine)],
            elements[elements["body_id"].isin(mine)],
            close[close["synapse_id"].isin(syn.loc[syn["pre_body_id"].isin(mine), "synapse_id"])],
            surface[surface["body_id"].isin(mine)],
            ctx.volume.voxel_size_nm_zyx, params, s.control_points_per_um,
            s.compartment_predictor,
        ))  # fmt: skip
    parts = _fan_out(ctx, compartments_stage.compartment_batch, args, total=len(args),
                     initial=0, desc="compartments")  # fmt: skip

    def gather(key: str, *columns: str) -> pd.DataFrame:
        frames = [p[key] for p in parts if len(p[key])]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    control = gather("control_points", *(f.name for f in table_contract.SCHEMAS["control_points"]))
    control = control.sort_values(["body_id", "x", "y", "z"], ignore_index=True)
    control["point_id"] = np.arange(1, len(control) + 1, dtype=np.int64)
    return Compartments(
        table=gather("compartments", *(f.name for f in table_contract.SCHEMAS["compartments"])),
        pre=gather("pre", "synapse_id"),
        post=gather("post", "synapse_id"),
        elements=gather("elements", "type", "element_id"),
        close_to=gather("close_to", "synapse_id"),
        control_points=control,
    )


def _empty(name: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            f.name: pd.Series([], dtype=f.type.to_pandas_dtype())
            for f in table_contract.SCHEMAS[name]
        }
    )


# columns that only the compartments stage fills: null when it did not run (no skeletons)
_FROM_COMPARTMENTS = {
    "synapses": ("pre_compartment", "post_compartment", "pre_site", "post_site",
                 "spine_head_volume_nm3"),
    "elements": ("compartment",),
    "close_to": ("distance_vx",),
}  # fmt: skip


def _pending(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    missing = [c for c in _FROM_COMPARTMENTS.get(name, ()) if c not in frame.columns]
    return frame.assign(**{c: None for c in missing}) if missing else frame


TABLE_INPUTS = ("cells", "synapses", "mitochondria", "vesicle_clouds", "distances",
                "morphology", "compartments")  # fmt: skip


@stage(
    "tables",
    TABLE_INPUTS,
    description="write the Parquet tables",
)
def _tables(
    ctx: Context,
    cells: pd.DataFrame,
    synapses: pd.DataFrame | None,
    mito: Organelles | None,
    vesicles: Organelles | None,
    distances: pd.DataFrame | None,
    morphology: Morphology | None,
    compartments: Compartments | None,
) -> Path:
    def joined(frame: pd.DataFrame, part: str, on: list[str]) -> pd.DataFrame:
        """``frame`` with the columns the compartments stage found for its rows."""
        if compartments is None:
            return frame
        return frame.merge(getattr(compartments, part), on=on, how="left")

    elements = []
    if mito is not None:
        elements.append(joined(mito.table, "elements", ["type", "element_id"]))
    if vesicles is not None:
        offset = len(mito.table) if mito is not None else 0
        table = joined(vesicles.table, "elements", ["type", "element_id"])
        elements.append(table.assign(element_id=table["element_id"] + offset))
    element_table = pd.concat(elements, ignore_index=True) if elements else _empty("elements")
    out = ctx.out_dir
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    stats = (
        morphology.stats if morphology is not None else pd.DataFrame(columns=morphology_stage.STATS)
    )
    stats = stats.astype({"body_id": np.uint64})
    cells = cells.merge(stats, on="body_id", how="left")
    table_contract.write_table(partial, "neurons", cells)
    if morphology is not None:
        shutil.copytree(morphology.folder, partial / "morphology")
    synapses = synapses if synapses is not None else _empty("synapses")
    synapses = joined(joined(synapses, "pre", ["synapse_id"]), "post", ["synapse_id"])
    synapses = _pending(synapses, "synapses")
    table_contract.write_table(partial, "synapses", synapses)
    table_contract.write_table(partial, "elements", _pending(element_table, "elements"))
    distances = distances if distances is not None else _empty("close_to")
    distances = joined(distances, "close_to", ["synapse_id"])
    table_contract.write_table(partial, "close_to", _pending(distances, "close_to"))
    if compartments is not None:
        table_contract.write_table(partial, "compartments", compartments.table)
        table_contract.write_table(partial, "control_points", compartments.control_points)
    else:
        table_contract.write_table(partial, "compartments", _empty("compartments"))
        table_contract.write_table(partial, "control_points", _empty("control_points"))
    v = ctx.volume
    table_contract.write_meta(
        partial,
        {
            "dataset": ctx.dataset,
            "source": str(v.path),
            "format": v.format,
            "voxel_size_nm_xyz": list(v.voxel_size_nm_xyz),
            "shape_zyx": list(v.shape_zyx),
            "chunk_zyx": list(ctx.settings.chunk_zyx),
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


@stage("celltypes", ("tables",), description="cell types from the point model, if trained")
def _celltypes(ctx: Context, tables: Path) -> Path | None:
    from ingest import celltypes

    if not ctx.settings.cell_types:
        return None
    return celltypes.write_predicted_types(tables)


def _order() -> list[Stage]:
    """Stages in dependency order (registration order, checked)."""
    seen: set[str] = set()
    for st in STAGES.values():
        missing = [i for i in st.inputs if i not in seen]
        if missing:
            raise RuntimeError(f"stage {st.name!r} is registered before its inputs {missing}")
        seen.add(st.name)
    return list(STAGES.values())


def run_stages(
    volume: Volume,
    dataset: str,
    settings: IngestSettings,
    out_dir: Path | None = None,
    progress: bool = True,
    echo: Callable[[str], None] = print,
) -> Path:
    """Run every registered stage on ``volume`` and write its tables; return their folder."""
    compartments_stage.check_predictor(settings.compartment_predictor)
    work = work_dir_for(volume, dataset, settings)
    if settings.fresh:
        shutil.rmtree(work, ignore_errors=True)
    ctx = Context(volume, dataset, settings, out_dir or settings.tables_dir(dataset), work,
                  progress)  # fmt: skip
    from tqdm.auto import tqdm

    results: dict[str, Any] = {}
    stages = _order()
    with tqdm(total=len(stages), desc="ingest", unit="stage", disable=not progress) as bar:
        for st in stages:
            bar.set_postfix_str(st.name)
            missing = [layer for layer in st.layers if not volume.has(layer)]
            if missing:
                say = bar.write if progress else echo  # keep the line clear of the bar
                say(f"skipping stage {st.name!r}: the volume has no labels/{missing[0]} layer")
                results[st.name] = None
            else:
                start = time.perf_counter()
                results[st.name] = st.func(ctx, *(results[i] for i in st.inputs))
                ctx.timings[st.name] = time.perf_counter() - start
            bar.update(1)
    shutil.rmtree(work, ignore_errors=True)  # the tables are complete: records not needed
    tables = Path(results["tables"])
    # the tables stage wrote meta.json before its own and the later stages' times were known
    meta = table_contract.read_meta(tables)
    meta["timings_s"] = {k: round(t, 3) for k, t in ctx.timings.items()}
    table_contract.write_meta(tables, {k: v for k, v in meta.items() if k != "schema_version"})
    return tables
