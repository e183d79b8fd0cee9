"""Trainers of the point models and the synapse forest (``connectome train NAME``).

- ``compartments`` -> ``models/weights/compartments.pt``: the point model's segmentation head
  on local contexts of phantom cells, every point labelled from the phantom's
  ``truth/compartments`` array (soma, axon, dendrite) refined by its planted boutons and
  spine heads;
- ``celltypes`` -> ``models/weights/celltypes.pt``: the classification head on large contexts,
  labelled with each phantom cell's planted type;
- ``synapse_rf`` -> ``models/weights/synapse_rf.pkl``: the random forest on SyConn2's ten
  features of junction patches on cell contacts: the phantom's synapses (positives) against
  junction-like decoys, discs of the same sizes laid on contacts without a synapse
  (negatives).

Training phantoms (:data:`TRAIN_SEEDS`) are distinct from the evaluation phantoms
(:data:`EVAL_SEEDS`, used by ``benchmarks/point_models.py``); each is made with
:func:`ingest.phantom.make_phantom` and ingested (baseline compartments) once into a cache
folder (:func:`phantom_tables`), so meshes, skeletons and synapse tables come from the real
stages.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from connectome.train import Trainer, default_out

TRAIN_SEEDS = tuple(range(1000, 1012))
EVAL_SEEDS = (2000, 2001, 2002)
QUICK_SEEDS = (1000,)
SHAPE_ZYX = (64, 256, 256)
QUICK_SHAPE_ZYX = (32, 160, 160)  # --quick: one small phantom


def cache_root() -> Path:
    """Where ingested training phantoms are kept (``$CONNECTOME_CACHE`` or
    ``~/.cache/connectome``, then ``point-phantoms``)."""
    base = os.environ.get("CONNECTOME_CACHE") or Path.home() / ".cache" / "connectome"
    return Path(base) / "point-phantoms"


@dataclass
class PhantomData:
    """An ingested phantom: its container, tables folder, truth and truth arrays."""

    seed: int
    zarr: Path
    tables: Path
    truth: dict[str, Any]

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The ``cells`` labels and the ``truth/compartments`` array, ``[z, y, x]``."""
        import zarr

        root = zarr.open_group(str(self.zarr), mode="r")
        return np.asarray(root["labels/cells/0"]), np.asarray(root["truth/compartments/0"])

    @property
    def voxel_size_nm_zyx(self) -> np.ndarray:
        return np.asarray(self.truth["voxel_size_nm_zyx"], float)


def phantom_tables(seed: int, shape_zyx: Sequence[int] = SHAPE_ZYX,
                   root: Path | None = None) -> PhantomData:  # fmt: skip
    """Make phantom ``seed`` and ingest it (tables only, baseline compartments), once."""
    from ingest.phantom import make_phantom
    from ingest.pipeline import run_stages
    from ingest.settings import IngestSettings
    from ingest.volume import open_volume

    folder = (root or cache_root()) / f"phantom-{seed}-{'x'.join(map(str, shape_zyx))}"
    tables = folder / "data" / "tables" / "p"
    if not (tables / "meta.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        make_phantom(folder / "p.zarr", seed=seed, shape_zyx=tuple(shape_zyx))  # type: ignore[arg-type]
        settings = IngestSettings(data_dir=folder / "data", workers=1,
                                  compartment_predictor="baseline")  # fmt: skip
        run_stages(open_volume(folder / "p.zarr"), "p", settings, progress=False)
    truth = json.loads((folder / "p.zarr" / "ground_truth.json").read_text())
    return PhantomData(seed, folder / "p.zarr", tables, truth)


# -- labels from the phantom's truth --------------------------------------------------------
SOMA_C, AXON_C, DENDRITE_C, BOUTON_C, SPINE_HEAD_C = range(5)  # compartment_model.SEG_CLASSES
_TRUTH_TO_CLASS = np.array([-1, SOMA_C, DENDRITE_C, AXON_C])  # truth codes 1 soma 2 dend 3 axon
BOUTON_REACH_NM = 200.0  # planted bouton radii are 130-190 nm


def point_classes(
    points_nm_xyz: np.ndarray,
    body: int,
    cells: np.ndarray,
    compartments: np.ndarray,
    voxel_size_nm_zyx: np.ndarray,
    cell_truth: dict[str, Any] | None = None,
) -> np.ndarray:
    """The class of each point (:data:`ingest.compartment_model.SEG_CLASSES` index; -1 when
    no voxel of the cell lies within one voxel): the majority truth compartment of the
    cell's voxels around it; with ``cell_truth`` (the cell's ground-truth record) axon points
    within 200 nm of a planted bouton centre become bouton and dendrite points inside a
    planted spine head (plus 30 nm) spine head.

    Examples
    --------
    >>> cells = np.ones((3, 3, 3), np.uint64); comp = np.full((3, 3, 3), 3, np.uint8)
    >>> point_classes(np.array([[10.0, 10, 10]]), 1, cells, comp, np.array([10.0] * 3)).tolist()
    [1]
    """
    pts = np.asarray(points_nm_xyz, float).reshape(-1, 3)
    vox = np.asarray(voxel_size_nm_zyx, float)
    centre = np.rint(pts[:, ::-1] / vox).astype(np.int64)  # z, y, x
    counts = np.zeros((len(pts), 4), np.int64)
    shape = np.array(cells.shape)
    for dz in (-1, 0, 1):
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                at = centre + [dz, dy, dx]
                inside = np.all((at >= 0) & (at < shape), axis=1)
                z, y, x = at[inside].T
                mine = cells[z, y, x] == np.uint64(body)
                rows = np.flatnonzero(inside)[mine]
                np.add.at(counts, (rows, compartments[z, y, x][mine].astype(np.int64)), 1)
    counts[:, 0] = 0
    out = np.where(counts.max(axis=1) > 0, _TRUTH_TO_CLASS[counts.argmax(axis=1)], -1)
    if cell_truth is not None:
        vox_xyz = vox[::-1]
        boutons = np.asarray(cell_truth.get("bouton_centers_xyz_vx", []), float).reshape(-1, 3)
        if len(boutons):
            d = np.linalg.norm(pts[:, None] - boutons[None] * vox_xyz, axis=2).min(axis=1)
            out[(out == AXON_C) & (d <= BOUTON_REACH_NM)] = BOUTON_C
        for head in cell_truth.get("spine_heads", []):
            d = np.linalg.norm(pts - np.asarray(head["center_xyz_vx"]) * vox_xyz, axis=1)
            out[(out == DENDRITE_C) & (d <= head["radius_nm"] + 30.0)] = SPINE_HEAD_C
    return out


# -- point-model training --------------------------------------------------------------------
@dataclass
class LabelledCell:
    """A training cell: its cloud (with a tree), skeleton nodes, point classes, type."""

    body: int
    cloud: Any  # ingest.point_clouds.Cloud
    tree: Any  # cKDTree of the cloud's points
    nodes_nm_xyz: np.ndarray
    classes: np.ndarray
    cell_type: str | None


def labelled_cells(data: PhantomData, kinds: Sequence[str], params: Any,
                   seed: int = 0) -> list[LabelledCell]:  # fmt: skip
    """Every meshed and skeletonised cell of an ingested phantom, labelled from its truth."""
    from scipy.spatial import cKDTree

    from ingest.point_clouds import cell_cloud, cells_from_tables

    cells, comp = data.arrays()
    by_id = {int(c["id"]): c for c in data.truth["cells"]}
    rng = np.random.default_rng(seed)
    out = []
    for cell in cells_from_tables(data.tables):
        cloud = cell_cloud(cell.mesh, cell.organelles, kinds, rng, params)
        classes = point_classes(cloud.points_nm_xyz, cell.body_id, cells, comp,
                                data.voxel_size_nm_zyx, by_id.get(cell.body_id))  # fmt: skip
        truth = by_id.get(cell.body_id)
        out.append(LabelledCell(cell.body_id, cloud, cKDTree(cloud.points_nm_xyz),
                                cell.skeleton.vertices_nm_xyz, classes,
                                truth["type"] if truth else None))  # fmt: skip
    return out


def _batches(cells: list[LabelledCell], params: Any, rng: np.random.Generator,
             batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """A batch of random contexts: coords, features, point classes, cell index."""
    from ingest.point_clouds import draw_context, rotate_z

    coords: list[np.ndarray] = []
    feats: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    which: list[int] = []
    while len(coords) < batch:
        i = int(rng.integers(len(cells)))
        c = cells[i]
        centre = c.nodes_nm_xyz[int(rng.integers(len(c.nodes_nm_xyz)))]
        ctx = draw_context(c.cloud, centre + rng.normal(0, 100, 3), rng, params, c.tree)
        if ctx is None:
            continue
        coords.append(rotate_z(ctx.coords, rng))
        feats.append(ctx.features)
        labels.append(c.classes[ctx.index])
        which.append(i)
    return np.stack(coords), np.stack(feats), np.stack(labels), np.array(which)


def train_point_model(
    cells: list[LabelledCell],
    config: Any,
    params: Any,
    task: str,
    steps: int,
    seed: int,
    progress: bool,
    batch: int = 8,
    lr: float = 2e-3,
    type_names: Sequence[str] = (),
) -> Any:
    """Train ``models.pointnet.PointNet`` on random contexts of ``cells``: the segmentation
    head (``task="seg"``, class-balanced cross-entropy, unlabelled points ignored) or the
    classification head (``task="cls"``); returns the network in eval mode."""
    import torch
    from tqdm.auto import tqdm

    from models.pointnet import PointNet

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = PointNet(config)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(steps, 1))
    weight = None
    if task == "seg":
        every = np.concatenate([c.classes for c in cells])
        freq = np.bincount(every[every >= 0], minlength=config.n_seg_classes) + 1.0
        weight = torch.tensor((freq.sum() / freq) ** 0.5, dtype=torch.float32)
        weight = weight / weight.mean()
    seg_loss = torch.nn.CrossEntropyLoss(weight=weight, ignore_index=-1)
    cls_loss = torch.nn.CrossEntropyLoss()
    type_index = {t: i for i, t in enumerate(type_names)}
    usable = [c for c in cells if task == "seg" or c.cell_type in type_index]
    net.train()
    for _ in tqdm(range(steps), desc=f"train {task}", disable=not progress):
        coords, feats, labels, which = _batches(usable, params, rng, batch)
        seg, cls = net(torch.from_numpy(coords), torch.from_numpy(feats))
        if task == "seg":
            loss = seg_loss(seg.reshape(-1, seg.shape[-1]), torch.from_numpy(labels).reshape(-1))
        else:
            target = torch.tensor([type_index[usable[i].cell_type] for i in which])
            loss = cls_loss(cls, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    net.eval()
    return net


def _phantoms(quick: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The training seeds and phantom shape of a full or a quick run."""
    return (QUICK_SEEDS, QUICK_SHAPE_ZYX) if quick else (TRAIN_SEEDS, SHAPE_ZYX)


def _cells_of(quick: bool, kinds: Sequence[str], params: Any,
              progress: bool) -> list[LabelledCell]:  # fmt: skip
    from tqdm.auto import tqdm

    seeds, shape = _phantoms(quick)
    out: list[LabelledCell] = []
    for seed in tqdm(seeds, desc="phantoms", disable=not progress):
        out += labelled_cells(phantom_tables(seed, shape), kinds, params, seed)
    return out


def train_compartments(out: Path | None, *, seed: int, quick: bool, progress: bool) -> Path:
    """Train the compartment point model (see the module docstring)."""
    from ingest.compartment_model import SEG_CLASSES
    from ingest.point_clouds import COMPARTMENT_KINDS, CloudParams
    from models.pointnet import PointNetConfig, save_checkpoint

    start = time.perf_counter()
    seeds, shape = _phantoms(quick)
    params = CloudParams()
    config = PointNetConfig(n_features=len(COMPARTMENT_KINDS), n_seg_classes=len(SEG_CLASSES),
                            n_cls_classes=1, feature_names=COMPARTMENT_KINDS,
                            seg_names=SEG_CLASSES)  # fmt: skip
    cells = _cells_of(quick, COMPARTMENT_KINDS, params, progress)
    net = train_point_model(cells, config, params, "seg", 30 if quick else 1200, seed, progress)
    data = {"phantom_seeds": list(seeds), "shape_zyx": list(shape), "cells": len(cells),
            "classes": list(SEG_CLASSES), "kinds": list(COMPARTMENT_KINDS),
            "cloud": asdict(params), "train_seed": seed, "quick": quick,
            "train_seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    return save_checkpoint(out or default_out("compartments"), net, data)


CELLTYPE_PARAMS = {"radius_nm": 2_500.0, "n_points": 512, "cover_nm": 2_500.0}


def train_celltypes(out: Path | None, *, seed: int, quick: bool, progress: bool) -> Path:
    """Train the cell-type point model (see the module docstring)."""
    from ingest.celltypes import TYPE_NAMES
    from ingest.point_clouds import CELLTYPE_KINDS, CloudParams
    from models.pointnet import PointNetConfig, save_checkpoint

    start = time.perf_counter()
    seeds, shape = _phantoms(quick)
    params = CloudParams(**CELLTYPE_PARAMS)  # type: ignore[arg-type]
    config = PointNetConfig(n_features=len(CELLTYPE_KINDS), n_seg_classes=1,
                            n_cls_classes=len(TYPE_NAMES), feature_names=CELLTYPE_KINDS,
                            cls_names=TYPE_NAMES)  # fmt: skip
    cells = _cells_of(quick, CELLTYPE_KINDS, params, progress)
    net = train_point_model(cells, config, params, "cls", 30 if quick else 800, seed, progress,
                            type_names=TYPE_NAMES)  # fmt: skip
    data = {"phantom_seeds": list(seeds), "shape_zyx": list(shape), "cells": len(cells),
            "classes": list(TYPE_NAMES), "kinds": list(CELLTYPE_KINDS), "cloud": asdict(params),
            "train_seed": seed, "quick": quick,
            "train_seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    return save_checkpoint(out or default_out("celltypes"), net, data)


# -- the synapse forest ----------------------------------------------------------------------
def synapse_candidates(data: PhantomData, seed: int) -> pd.DataFrame:
    """Junction patches on cell contacts with SyConn2's features and a ``real`` label: the
    phantom's junctions (real) and as many decoys (not real): patches of the contact voxels
    of random cell pairs, away from every junction, nearest a random contact face, as many
    voxels as a randomly chosen real junction has (so sizes match; the phantom's own
    orphan junctions lie inside one cell, on no contact, so they never become candidates)."""
    import cc3d
    import zarr
    from scipy import ndimage

    from ingest.clefts import label_mesh_areas
    from ingest.synapses import OrganelleIndex, contact_faces, junction_records
    from ingest.synapses import synapses_from_records as from_records

    root = zarr.open_group(str(data.zarr), mode="r")
    cells = np.asarray(root["labels/cells/0"])
    junction = np.asarray(root["labels/synaptic_junctions/0"]) > 0
    vox = data.voxel_size_nm_zyx
    rng = np.random.default_rng(seed)
    real = cc3d.connected_components(junction, connectivity=26, out_dtype=np.uint32)
    n_real = int(real.max())
    patches = real.copy()
    # decoys: discs on random contact faces (z, y or x neighbours of different cells)
    near_real = ndimage.binary_dilation(junction, iterations=8)
    axis_pairs = []
    for axis in range(3):
        a = np.moveaxis(cells, axis, 0)
        touch = (a[:-1] != a[1:]) & (a[:-1] > 0) & (a[1:] > 0)
        idx = np.argwhere(touch)
        zyx = np.empty_like(idx)
        zyx[:, axis] = idx[:, 0]
        zyx[:, [d for d in range(3) if d != axis]] = idx[:, 1:]
        axis_pairs.append(zyx)
    faces = np.concatenate(axis_pairs)
    faces = faces[~near_real[tuple(faces.T)]]
    label = n_real
    sizes = np.bincount(real.ravel())[1:]
    sizes = sizes[sizes > 0] if n_real else np.array([200])
    reach_nm = 300.0  # a decoy takes the contact voxels nearest its centre within this
    for _ in range(max(n_real, 1) * 4):
        if label - n_real >= n_real or len(faces) == 0:
            break
        z, y, x = faces[int(rng.integers(len(faces)))]
        size = int(rng.choice(sizes))  # the size of a real junction: decoys match them
        rad = np.ceil(reach_nm / vox).astype(int) + 1
        sl = tuple(
            slice(max(c - r, 0), min(c + r + 1, n))
            for c, r, n in zip((z, y, x), rad, cells.shape, strict=True)
        )
        crop = cells[sl]
        zz, yy, xx = np.meshgrid(*[np.arange(s.start, s.stop) for s in sl], indexing="ij")
        dist = ((zz - z) * vox[0]) ** 2 + ((yy - y) * vox[1]) ** 2 + ((xx - x) * vox[2]) ** 2
        ball = dist <= reach_nm**2
        a_id = cells[z, y, x]
        others = np.unique(crop[ball & (crop != a_id) & (crop > 0)])
        if len(others) == 0:
            continue
        b_id = others[0]
        band = (ndimage.binary_dilation(crop == b_id, iterations=2) & (crop == a_id)) | (
            ndimage.binary_dilation(crop == a_id, iterations=2) & (crop == b_id))  # fmt: skip
        free = ball & band & (patches[sl] == 0) & ~near_real[sl]
        if free.sum() < 0.8 * size:
            continue
        inside = np.flatnonzero(free.ravel())
        keep = inside[np.argsort(dist.ravel()[inside], kind="stable")[:size]]
        disc = np.zeros(free.size, bool)
        disc[keep] = True
        label += 1
        patches[sl][disc.reshape(free.shape)] = label
    faces_tab = contact_faces(cells, patches, tuple(vox))  # type: ignore[arg-type]
    per_cell, per_type = junction_records(patches, cells)
    organelles = {}
    for name in ("mitochondria", "vesicle_clouds"):
        mask = np.asarray(root[f"labels/{name}/0"]) > 0
        inst = cc3d.connected_components(mask, connectivity=26)
        boundary = mask & ~ndimage.binary_erosion(mask)
        z, y, x = np.nonzero(boundary)
        organelles[name] = OrganelleIndex(
            pd.DataFrame({"element_id": inst[z, y, x], "body_id": cells[z, y, x],
                          "z": z, "y": y, "x": x}),
            pd.Series(np.bincount(inst.ravel())), vox)  # fmt: skip
    syn = from_records(faces_tab, per_cell, per_type, organelles["vesicle_clouds"], tuple(vox),  # type: ignore[arg-type]
                       mitochondria=organelles["mitochondria"],
                       mesh_areas=label_mesh_areas(patches, tuple(vox)))  # fmt: skip
    patch_of = faces_tab[faces_tab["faces"] >= 4]
    # synapses_from_records keeps candidate rows in (patch, lo, hi) order: recover each patch
    top = patch_of.groupby("patch")["faces"].transform("max")
    kept = patch_of[patch_of["faces"] >= 0.5 * top].sort_values(["patch", "lo", "hi"])
    syn["patch"] = kept["patch"].to_numpy()
    syn["real"] = syn["patch"] <= n_real
    syn["seed"] = data.seed
    return syn


def _synapse_table(seeds: Sequence[int], progress: bool,
                   shape_zyx: Sequence[int] = SHAPE_ZYX) -> pd.DataFrame:  # fmt: skip
    from tqdm.auto import tqdm

    parts = [synapse_candidates(phantom_tables(s, shape_zyx), s)
             for s in tqdm(seeds, desc="synapse candidates", disable=not progress)]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def train_synapse_rf(out: Path | None, *, seed: int, quick: bool, progress: bool) -> Path:
    """Fit the synapse forest (see the module docstring) and record its cross-validated F1."""
    from models.synapse_rf import FEATURES, SynapseForest, cross_validated_f1, feature_matrix

    start = time.perf_counter()
    seeds, shape = _phantoms(quick)
    table = _synapse_table(seeds, progress, shape)
    x, y = feature_matrix(table), table["real"].to_numpy(bool)
    f1 = cross_validated_f1(x, y, groups=table["seed"].tolist(), seed=seed)
    data = {"phantom_seeds": list(seeds), "shape_zyx": list(shape), "features": FEATURES,
            "candidates": int(len(y)), "real": int(y.sum()), "train_seed": seed, "quick": quick,
            "train_seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    forest = SynapseForest.fit(x, y, data, seed=seed)
    forest.metrics = {"cv_f1": round(f1, 4)}
    return forest.save(out or default_out("synapse_rf", ".pkl"))


TRAINERS: dict[str, Trainer] = {
    "compartments": train_compartments,
    "celltypes": train_celltypes,
    "synapse_rf": train_synapse_rf,
}
