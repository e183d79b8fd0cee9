"""Deterministic synthetic EM volume ("phantom") with exact ground truth.

:func:`make_phantom` draws a small block of neuropil made of neuron-like cells, places synapses,
mitochondria, vesicle clouds and a few junction-like decoys, renders an EM-like raw image and
writes everything as an OME-NGFF 0.4 (zarr v2) container together with ``ground_truth.json``.

Conventions: arrays are indexed ``[z, y, x]``; geometry is planned in nanometres (``*_nm``) in
``(z, y, x)`` order and converted per axis with the voxel size, so shapes are round in physical
space; positions in the ground truth are voxel coordinates in ``(x, y, z)`` order.  A voxel with
index ``i`` has its centre at ``i * voxel_size_nm``.

What is drawn (sizes in nm):

- about one cell per 1.1 um^3 (8 cells at 64x256x256 of 20x10x10 nm voxels), at least four
  (two ``TypeA``, two ``TypeB``); ids are random uint64 values, some above 2**32, one
  ``2**53 + 12345 + k``;
- soma: ellipsoid, radius 300-480 (smaller in very small volumes), may leave the volume;
  5-7 dendrites (radius 70-110, tapering, with side branches) carrying spines (neck radius
  20-30, head radius 55-90); one axon (radius 20-35) through its boutons (radius 130-190),
  each pressed against a dendrite shaft, spine head or soma of another cell;
- synapse: a flat junction disc (radius 60-250, +-2 voxels about the contact plane, clipped to
  the two cells' voxels and to one connected patch) and a vesicle cloud (radius 45-80) inside
  the bouton; a few boutons touch their target without a junction;
- mitochondria: elongated ellipsoids in somata (radius 60-100, length 250-600), dendrites and
  boutons (radius 30-45, length 140-400), at least one voxel inside their cell and at least
  two voxels from each other;
- planted finding: a TypeA bouton holds a mitochondrion 60-200 nm from its junction exactly
  when the junction is larger than the TypeA median, and the mitochondria of a TypeA cell are
  kept >= 550 nm from that cell's small synapses (where geometry allows); TypeB boutons get
  one with probability 1/2 regardless of size (balanced within pairs of similar size).

The neurites are thicker than real ones at this scale so that the organelles (whose sizes are
realistic) fit inside them with a one-voxel margin.

Ground truth (``connectome-phantom-truth/1``) is computed from the final label arrays:
``cells[].voxels`` / ``compartment_voxels`` count voxels (spines count as dendrite, boutons as
axon); a synapse's ``position_xyz_vx`` and ``junction_voxels`` are the centroid and size of its
junction patch, ``area_nm2`` is the planted disc area, ``mito_distance_nm`` the distance (nm)
from that centroid to the nearest voxel centre of any mitochondrion of the presynaptic cell (or
``None``); ``contacts_without_synapse`` counts planted bouton contacts that carry no junction
and share at least one voxel face with their target in the final volume.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cc3d
import numpy as np
import zarr
from numcodecs import Blosc, blosc
from numpy.typing import NDArray
from scipy import ndimage
from scipy.spatial import cKDTree
from tqdm import tqdm

__all__ = ["LABEL_NAMES", "SCHEMA", "make_phantom"]

SCHEMA = "connectome-phantom-truth/1"
LABEL_NAMES = ("cells", "mitochondria", "vesicle_clouds", "synaptic_junctions", "synapse_type")
CHUNKS_ZYX = (32, 128, 128)

_SOMA, _DENDRITE, _AXON = 1, 2, 3
_COMPARTMENT_NAMES = {_SOMA: "soma", _DENDRITE: "dendrite", _AXON: "axon"}
_SYNAPSE_TYPE = {"TypeA": 1, "TypeB": 2}

# Geometry in nm.  Neurites are scaled so that the organelles they must contain fit inside
# them with a one-voxel margin at the default (20, 10, 10) nm voxel size.
_CELL_VOLUME_UM3 = 1.1  # one cell per ~0.55 Mvoxel at the default voxel size
_SOMA_RADIUS_NM = (300.0, 480.0)
_DENDRITE_RADIUS_NM = (70.0, 110.0)
_SPINE_NECK_RADIUS_NM = (20.0, 30.0)
_SPINE_HEAD_RADIUS_NM = (55.0, 90.0)
_AXON_RADIUS_NM = (20.0, 35.0)
_BOUTON_RADIUS_NM = (130.0, 190.0)
_JUNCTION_RADIUS_NM = (60.0, 250.0)
_VESICLE_RADIUS_NM = (45.0, 80.0)
_NEAR_MITO_NM = (60.0, 200.0)
_FAR_MITO_NM = 550.0  # TypeA small synapses keep every own mitochondrion at least this far
_CONTACT_SPACING_NM = 320.0

_CUBE3 = np.ones((3, 3, 3), dtype=bool)
_CROSS = ndimage.generate_binary_structure(3, 1)

FloatArray = NDArray[np.float64]
Slices = tuple[slice, slice, slice]


# --------------------------------------------------------------------------------------------
# small geometry helpers


def _unit(v: FloatArray) -> FloatArray:
    return v / np.linalg.norm(v)


def _random_unit(rng: np.random.Generator, z_scale: float = 1.0) -> FloatArray:
    d = rng.normal(size=3)
    d[0] *= z_scale
    n = np.linalg.norm(d)
    return d / n if n > 1e-9 else np.array([0.0, 1.0, 0.0])


def _perp_unit(rng: np.random.Generator, axis: FloatArray, z_scale: float = 1.0) -> FloatArray:
    for _ in range(16):
        d = _random_unit(rng, z_scale)
        d = d - axis * float(d @ axis)
        n = np.linalg.norm(d)
        if n > 1e-3:
            return d / n
    d = np.cross(axis, [1.0, 0.0, 0.0])
    if np.linalg.norm(d) < 1e-3:
        d = np.cross(axis, [0.0, 1.0, 0.0])
    return _unit(d)


def _ellipsoid_ray_nm(radii_nm: FloatArray, direction: FloatArray) -> float:
    """Distance from an axis-aligned ellipsoid's centre to its surface along a unit vector."""
    return float(1.0 / np.sqrt(np.sum((direction / radii_nm) ** 2)))


class _Grid:
    """Voxel grid of a volume: bounding boxes and voxel-centre coordinates in nm."""

    def __init__(self, shape_zyx: tuple[int, int, int], voxel_size_nm_zyx: FloatArray):
        self.shape = np.asarray(shape_zyx, dtype=np.int64)
        self.v = np.asarray(voxel_size_nm_zyx, dtype=np.float64)
        self.extent_nm = (self.shape - 1) * self.v  # centre of the last voxel
        self.min_tube_nm = 0.87 * float(self.v.max())  # thinner tubes may break apart

    def box(self, center_nm: FloatArray, radius_nm: float, pad: int = 0) -> Slices | None:
        lo = np.floor((center_nm - radius_nm) / self.v).astype(np.int64) - pad
        hi = np.ceil((center_nm + radius_nm) / self.v).astype(np.int64) + 1 + pad
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, self.shape)
        if np.any(hi <= lo):
            return None
        return (slice(int(lo[0]), int(hi[0])), slice(int(lo[1]), int(hi[1])),
                slice(int(lo[2]), int(hi[2])))

    def rel(self, sl: Slices, center_nm: FloatArray) -> list[FloatArray]:
        """Broadcastable z, y, x voxel-centre offsets (nm) from ``center_nm`` inside ``sl``."""
        out = []
        for a in range(3):
            c = np.arange(sl[a].start, sl[a].stop, dtype=np.float64) * self.v[a] - center_nm[a]
            shape = [1, 1, 1]
            shape[a] = c.size
            out.append(c.reshape(shape))
        return out

    def coords_nm(self, sl: Slices, mask: NDArray[np.bool_]) -> FloatArray:
        idx = np.nonzero(mask)
        return np.stack([(idx[a] + sl[a].start) * self.v[a] for a in range(3)], axis=1)

    def inside(self, p_nm: FloatArray, margin_vx: float = 0.0) -> bool:
        m = margin_vx * self.v
        return bool(np.all(p_nm >= m) and np.all(p_nm <= self.extent_nm - m))

    def voxel(self, p_nm: FloatArray) -> tuple[int, int, int] | None:
        i = np.round(p_nm / self.v).astype(np.int64)
        if np.any(i < 0) or np.any(i >= self.shape):
            return None
        return int(i[0]), int(i[1]), int(i[2])

    # shape masks ------------------------------------------------------------------------
    def sphere(self, center_nm: FloatArray, r_nm: float, pad: int = 0):
        sl = self.box(center_nm, r_nm, pad)
        if sl is None:
            return None, None
        dz, dy, dx = self.rel(sl, center_nm)
        return sl, dz * dz + dy * dy + dx * dx <= r_nm * r_nm

    def ellipsoid(self, center_nm: FloatArray, axes: FloatArray, radii_nm: FloatArray,
                  pad: int = 0):
        """Oriented ellipsoid; ``axes`` rows are unit principal axes (z, y, x components)."""
        sl = self.box(center_nm, float(np.max(radii_nm)), pad)
        if sl is None:
            return None, None
        dz, dy, dx = self.rel(sl, center_nm)
        q = np.zeros(tuple(s.stop - s.start for s in sl))
        for i in range(3):
            q += ((axes[i, 0] * dz + axes[i, 1] * dy + axes[i, 2] * dx) / radii_nm[i]) ** 2
        return sl, q <= 1.0

    def capsule(self, p0: FloatArray, p1: FloatArray, r0: float, r1: float):
        r0, r1 = max(r0, self.min_tube_nm), max(r1, self.min_tube_nm)
        mid = 0.5 * (p0 + p1)
        sl = self.box(mid, 0.5 * float(np.linalg.norm(p1 - p0)) + max(r0, r1))
        if sl is None:
            return None, None
        dz, dy, dx = self.rel(sl, p0)
        d = p1 - p0
        l2 = float(d @ d)
        if l2 < 1e-9:
            return sl, dz * dz + dy * dy + dx * dx <= r0 * r0
        t = np.clip((dz * d[0] + dy * d[1] + dx * d[2]) / l2, 0.0, 1.0)
        ez, ey, ex = dz - t * d[0], dy - t * d[1], dx - t * d[2]
        r = r0 + t * (r1 - r0)
        return sl, ez * ez + ey * ey + ex * ex <= r * r

    def half_thickness_nm(self, normal: FloatArray, voxels: float) -> float:
        """``voxels`` voxel steps measured along ``normal`` (anisotropy aware)."""
        return voxels * float(np.sqrt(np.sum((normal * self.v) ** 2))) + 1e-6

    def disc(self, center_nm: FloatArray, normal: FloatArray, r_nm: float, half_nm: float,
             pad: int = 0):
        sl = self.box(center_nm, r_nm + half_nm, pad)
        if sl is None:
            return None, None
        dz, dy, dx = self.rel(sl, center_nm)
        w = normal[0] * dz + normal[1] * dy + normal[2] * dx
        rad2 = dz * dz + dy * dy + dx * dx - w * w
        return sl, (np.abs(w) <= half_nm) & (rad2 <= r_nm * r_nm)


# --------------------------------------------------------------------------------------------
# plan records


@dataclass
class _Dendrite:
    points_nm: FloatArray  # (n, 3) zyx
    radii_nm: FloatArray  # (n,)


@dataclass
class _Cell:
    label: int  # 1-based index in the internal label volume
    id: int
    type: str
    soma_center_nm: FloatArray
    soma_radii_nm: FloatArray
    axon_radius_nm: float
    dendrites: list[_Dendrite] = field(default_factory=list)
    spine_heads: list[tuple[FloatArray, float, FloatArray]] = field(default_factory=list)
    bouton_centers_nm: list[FloatArray] = field(default_factory=list)


@dataclass
class _Contact:
    pre: int
    post: int
    point_nm: FloatArray  # on the postsynaptic surface
    normal: FloatArray  # unit, from the postsynaptic cell into the bouton
    bouton_center_nm: FloatArray
    bouton_radius_nm: float
    post_kind: str  # dendrite | spine | soma
    synaptic: bool
    junction_radius_nm: float
    jid: int = 0  # label in the junction volume once rasterised
    near_mito: bool = False
    mito_direction: FloatArray | None = None


# --------------------------------------------------------------------------------------------
# builder


class _PhantomBuilder:
    def __init__(self, seed: int, shape_zyx: tuple[int, int, int],
                 voxel_size_nm_zyx: tuple[float, float, float], progress: bool):
        self.seed = seed
        self.shape = shape_zyx
        self.voxel = voxel_size_nm_zyx
        self.g = _Grid(shape_zyx, np.asarray(voxel_size_nm_zyx))
        geo, tex = np.random.SeedSequence(seed).spawn(2)
        self.rng = np.random.default_rng(geo)
        self.tex_rng = np.random.default_rng(tex)
        self.progress = progress
        self.lab = np.zeros(shape_zyx, dtype=np.uint16)
        self.comp = np.zeros(shape_zyx, dtype=np.uint8)
        self.jid = np.zeros(shape_zyx, dtype=np.uint32)
        self.mid = np.zeros(shape_zyx, dtype=np.uint32)
        self.ves = np.zeros(shape_zyx, dtype=bool)
        self.cells: list[_Cell] = []
        self.contacts: list[_Contact] = []
        self.n_mito = 0
        self.mito_cell: list[int] = []
        self.orphan_cells: list[int] = []  # junction label -> cell, for orphans
        self.n_synapse_labels = 0
        self._soma_c: FloatArray = np.zeros((0, 3))
        self._soma_r: FloatArray = np.ones((0, 3))

    # ---------------------------------------------------------------------------------------
    def build(self) -> tuple[dict[str, NDArray[Any]], dict[str, Any]]:
        stages: list[tuple[str, Callable[[], None]]] = [
            ("plan cells", self._plan_cells),
            ("rasterise cells", self._rasterise_cells),
            ("place boutons", self._place_boutons),
            ("rasterise axons", self._rasterise_axons),
            ("carve gaps", self._carve_gaps),
            ("synaptic junctions", self._rasterise_junctions),
            ("orphan junctions", self._place_orphans),
            ("mitochondria near synapses", self._place_synaptic_mitos),
            ("vesicle clouds", self._place_vesicle_clouds),
            ("other mitochondria", self._place_other_mitos),
        ]
        bar = tqdm(total=len(stages) + 2, disable=not self.progress, desc="phantom")
        for name, fn in stages:
            bar.set_postfix_str(name)
            fn()
            bar.update()
        bar.set_postfix_str("ground truth")
        truth, syn_type_of_jid = self._ground_truth()
        bar.update()
        bar.set_postfix_str("raw image")
        raw = self._render_raw()
        bar.update()
        bar.close()
        jmask = self.jid > 0
        synapse_type = syn_type_of_jid[self.jid]
        ids = np.array([0] + [c.id for c in self.cells], dtype=np.uint64)
        volumes: dict[str, NDArray[Any]] = {
            "raw": raw,
            "cells_lut": ids,
            "cells_index": self.lab,
            "mitochondria": (self.mid > 0).astype(np.uint8),
            "vesicle_clouds": self.ves.astype(np.uint8),
            "synaptic_junctions": jmask.astype(np.uint8),
            "synapse_type": synapse_type,
        }
        return volumes, truth

    # ---------------------------------------------------------------------------------------
    def _draw_ids(self, n: int) -> list[int]:
        rng = self.rng
        ids: list[int] = [2**53 + 12345 + int(rng.integers(0, 1000))]
        ranges = [(1_000, 2**32), (2**32, 2**53), (2**53, 2**63)]
        i = 0
        while len(ids) < n:
            lo, hi = ranges[i % 3]
            v = int(rng.integers(lo, hi, dtype=np.uint64))
            if v not in ids:
                ids.append(v)
                i += 1
        order = rng.permutation(n)
        return [ids[k] for k in order]

    def _plan_cells(self) -> None:
        rng, g = self.rng, self.g
        ext = g.extent_nm
        volume_um3 = float(np.prod(g.shape * g.v)) / 1e9
        n = max(4, int(round(volume_um3 / _CELL_VOLUME_UM3)))
        types = (["TypeA", "TypeB"] * n)[:n]
        rng.shuffle(types)
        ids = self._draw_ids(n)
        soma_scale = min(1.0, 0.3 * float(min(ext[1], ext[2])) / _SOMA_RADIUS_NM[1])
        centres: list[FloatArray] = []
        mean_r: list[float] = []
        for k in range(n):
            r_base = rng.uniform(*_SOMA_RADIUS_NM) * soma_scale
            radii = r_base * rng.uniform(0.85, 1.15, size=3)
            best, best_score = None, -np.inf
            for _ in range(16):
                c = rng.uniform(-0.1, 1.1, size=3) * ext
                c[0] = rng.uniform(0.2, 0.8) * ext[0]
                score = min((float(np.linalg.norm((c - o) * [1.5, 1, 1])) - ro - r_base
                             for o, ro in zip(centres, mean_r, strict=True)), default=np.inf)
                if score > best_score:
                    best, best_score = c, score
            assert best is not None
            centres.append(best)
            mean_r.append(r_base)
            self.cells.append(_Cell(label=k + 1, id=ids[k], type=types[k],
                                    soma_center_nm=best, soma_radii_nm=radii,
                                    axon_radius_nm=float(rng.uniform(*_AXON_RADIUS_NM))))
        for cell in self.cells:
            self._plan_dendrites(cell)

    def _in_other_soma(self, p: FloatArray, cell: _Cell, pad_nm: float) -> bool:
        if len(self._soma_c) != len(self.cells):
            self._soma_c = np.array([o.soma_center_nm for o in self.cells])
            self._soma_r = np.array([o.soma_radii_nm for o in self.cells])
        q = np.sum(((p - self._soma_c) / (self._soma_r + pad_nm)) ** 2, axis=1)
        q[cell.label - 1] = np.inf
        return bool(np.min(q) < 1.0)

    def _plan_dendrites(self, cell: _Cell) -> None:
        rng, g = self.rng, self.g
        toward = (0.5 * g.extent_nm - cell.soma_center_nm) * np.array([0.35, 1.0, 1.0])
        toward = _unit(toward) if np.linalg.norm(toward) > 1e-6 else np.array([0.0, 1.0, 0.0])
        for _ in range(int(rng.integers(5, 8))):
            d = _unit(_random_unit(rng, 0.35) + 0.8 * toward)
            p = cell.soma_center_nm + d * 0.85 * _ellipsoid_ray_nm(cell.soma_radii_nm, d)
            r0 = float(rng.uniform(*_DENDRITE_RADIUS_NM))
            den = self._grow(cell, p, d, r0, 0.7 * r0, float(rng.uniform(1000.0, 2400.0)))
            if den is None:
                continue
            cell.dendrites.append(den)
            for _ in range(int(rng.integers(1, 4))):  # side branches
                n = len(den.points_nm)
                if n < 8:
                    break
                i = int(rng.integers(2, n - 3))
                tangent = _unit(den.points_nm[i + 1] - den.points_nm[i - 1])
                bd = _unit(tangent + 1.2 * _perp_unit(rng, tangent, 0.35))
                rb = max(0.75 * float(den.radii_nm[i]), _DENDRITE_RADIUS_NM[0])
                branch = self._grow(cell, den.points_nm[i], bd, rb, 0.8 * rb,
                                    float(rng.uniform(500.0, 1400.0)))
                if branch is not None:
                    cell.dendrites.append(branch)

    def _grow(self, cell: _Cell, p: FloatArray, d: FloatArray, r0: float, r1: float,
              length_nm: float, step_nm: float = 50.0) -> _Dendrite | None:
        """Smooth random polyline from ``p``; stops outside the volume or in another soma."""
        rng, ext = self.rng, self.g.extent_nm
        zfac = np.array([0.35, 1.0, 1.0])
        pts = [p.copy()]
        for _ in range(int(length_nm / step_nm)):
            d = _unit(d + rng.normal(0.0, 0.12, size=3) * zfac)
            if (p[0] < 0.15 * ext[0] and d[0] < 0) or (p[0] > 0.85 * ext[0] and d[0] > 0):
                d[0] = -d[0]
            p = p + d * step_nm
            if np.any(p < -200.0) or np.any(p > ext + 200.0):
                break
            if self._in_other_soma(p, cell, 0.6 * r0):
                break
            pts.append(p.copy())
        if len(pts) < 3:
            return None
        pts_a = np.array(pts)
        s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts_a, axis=0), axis=1))])
        return _Dendrite(pts_a, r0 + (r1 - r0) * s / max(length_nm, 1.0))

    # ---------------------------------------------------------------------------------------
    def _paint(self, sl: Slices | None, mask: NDArray[np.bool_] | None, label: int,
               compartment: int) -> None:
        if sl is None or mask is None:
            return
        region = self.lab[sl]
        m = mask & (region == 0)
        region[m] = label
        self.comp[sl][m] = compartment

    def _rasterise_cells(self) -> None:
        g, rng = self.g, self.rng
        for cell in self.cells:
            r = cell.soma_radii_nm
            sl = g.box(cell.soma_center_nm, float(r.max()))
            if sl is not None:
                dz, dy, dx = g.rel(sl, cell.soma_center_nm)
                mask = (dz / r[0]) ** 2 + (dy / r[1]) ** 2 + (dx / r[2]) ** 2 <= 1.0
                self._paint(sl, mask, cell.label, _SOMA)
        for cell in self.cells:
            for den in cell.dendrites:
                for i in range(len(den.points_nm) - 1):
                    sl, m = g.capsule(den.points_nm[i], den.points_nm[i + 1],
                                      float(den.radii_nm[i]), float(den.radii_nm[i + 1]))
                    self._paint(sl, m, cell.label, _DENDRITE)
        for cell in self.cells:
            for den in cell.dendrites:
                pts, radii = den.points_nm, den.radii_nm
                s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0),
                                                                    axis=1))])
                pos = float(rng.uniform(150.0, 300.0))
                while pos < s[-1] - 50.0:
                    i = int(np.searchsorted(s, pos))
                    i = min(max(i, 1), len(pts) - 1)
                    tangent = _unit(pts[i] - pts[i - 1])
                    u = _perp_unit(rng, tangent, 0.5)
                    neck_len = float(rng.uniform(60.0, 150.0))
                    neck_r = float(rng.uniform(*_SPINE_NECK_RADIUS_NM))
                    head_r = float(rng.uniform(*_SPINE_HEAD_RADIUS_NM))
                    base = pts[i] + u * 0.7 * radii[i]
                    tip = pts[i] + u * (radii[i] + neck_len)
                    head_c = tip + u * 0.7 * head_r
                    sl, m = g.capsule(base, tip, neck_r, neck_r)
                    self._paint(sl, m, cell.label, _DENDRITE)
                    sl, m = g.sphere(head_c, head_r)
                    self._paint(sl, m, cell.label, _DENDRITE)
                    cell.spine_heads.append((head_c, head_r, u))
                    pos += float(rng.uniform(200.0, 380.0))

    # ---------------------------------------------------------------------------------------
    def _candidates(self) -> tuple[FloatArray, FloatArray, NDArray[np.int64], NDArray[Any]]:
        """Surface points of dendrite shafts, spine heads and somata that boutons may touch."""
        rng, g = self.rng, self.g
        pts, normals, cells, kinds = [], [], [], []

        def add(make: Callable[[], tuple[FloatArray, FloatArray]], cell: _Cell,
                kind: str) -> None:
            """Keep the first of a few drawn sites that is a free surface point of ``cell``."""
            for _ in range(4):
                p, n = make()
                if not g.inside(p, margin_vx=3.0):
                    continue
                inner = g.voxel(p - n * float(g.v.min()))
                outer = g.voxel(p + n * 1.5 * float(g.v.max()))
                if inner is None or outer is None:
                    continue
                if self.lab[inner] != cell.label or self.lab[outer] != 0:
                    continue
                pts.append(p)
                normals.append(n)
                cells.append(cell.label)
                kinds.append(kind)
                return

        for cell in self.cells:
            for den in cell.dendrites:
                for i in range(2, len(den.points_nm) - 1):
                    t = _unit(den.points_nm[i + 1] - den.points_nm[i - 1])

                    def shaft(i: int = i, t: FloatArray = t, den: _Dendrite = den):
                        u = _perp_unit(rng, t, 0.5)
                        return den.points_nm[i] + u * den.radii_nm[i], u

                    add(shaft, cell, "dendrite")
            for head_c, head_r, direction in cell.spine_heads:

                def head(c: FloatArray = head_c, r: float = head_r, d: FloatArray = direction):
                    u = _unit(d + 0.5 * _random_unit(rng))
                    return c + u * r, u

                add(head, cell, "spine")

            def soma(cell: _Cell = cell):
                u = _random_unit(rng, 0.5)
                p = cell.soma_center_nm + u * _ellipsoid_ray_nm(cell.soma_radii_nm, u)
                return p, _unit((p - cell.soma_center_nm) / cell.soma_radii_nm**2)

            for _ in range(32):
                add(soma, cell, "soma")
        if not pts:
            return (np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0, dtype=np.int64),
                    np.zeros(0, dtype=object))
        return (np.array(pts), np.array(normals), np.array(cells, dtype=np.int64),
                np.array(kinds, dtype=object))

    def _try_bouton(self, pre: _Cell, post: int, p: FloatArray, n: FloatArray, kind: str,
                    synaptic: bool) -> _Contact | None:
        rng, g = self.rng, self.g
        r_b = float(rng.uniform(*_BOUTON_RADIUS_NM))
        overlap = float(rng.uniform(0.2, 0.35)) * r_b
        centre = p + n * (r_b - overlap)
        if not g.inside(centre):
            return None
        inner = g.voxel(p - n * float(g.v.min()))
        outer = g.voxel(p + n * 1.5 * float(g.v.max()))
        if inner is None or outer is None or self.lab[inner] != post or self.lab[outer] != 0:
            return None
        sl, sph = g.sphere(centre, r_b)
        if sl is None or sph is None:
            return None
        region = self.lab[sl]
        inside = region[sph]
        n_post = np.count_nonzero(inside == post)
        if n_post == 0 or n_post > 0.35 * inside.size:  # pressed against, not swallowed by
            return None
        foreign = (region != 0) & (region != post) & sph
        if np.count_nonzero(foreign) > 0.12 * inside.size:
            return None
        if foreign.any():  # keep the contact region itself free of third parties
            dz, dy, dx = g.rel(sl, p)
            if np.any(foreign & (dz * dz + dy * dy + dx * dx <= (0.6 * r_b) ** 2)):
                return None
        self._paint(sl, sph, pre.label, _AXON)
        return _Contact(pre=pre.label, post=post, point_nm=p, normal=n,
                        bouton_center_nm=centre, bouton_radius_nm=r_b, post_kind=kind,
                        synaptic=synaptic, junction_radius_nm=0.0)

    def _place_boutons(self) -> None:
        rng = self.rng
        cand_p, cand_n, cand_cell, cand_kind = self._candidates()
        used = np.zeros(len(cand_p), dtype=bool)
        labels = [c.label for c in self.cells]
        plans: dict[int, list[bool]] = {}
        favourites: dict[int, NDArray[np.int64]] = {}
        position: dict[int, FloatArray] = {}
        fails: dict[int, int] = {}
        for cell in self.cells:
            flags = [True] * int(rng.integers(6, 13)) + [False] * int(rng.integers(1, 3))
            rng.shuffle(flags)
            plans[cell.label] = flags
            others = [lab for lab in labels if lab != cell.label]
            favourites[cell.label] = rng.choice(others, size=min(2, len(others)), replace=False)
            position[cell.label] = cell.soma_center_nm.copy()
            fails[cell.label] = 0
        kinds = np.array(["dendrite", "spine", "soma"], dtype=object)
        active = [c for c in self.cells]
        while active:
            still = []
            for cell in active:
                if not plans[cell.label] or fails[cell.label] > 80 or len(cand_p) == 0:
                    continue
                still.append(cell)
                x = position[cell.label]
                first = not cell.bouton_centers_nm
                lo = 0.0 if first else 150.0
                hi = (float(cell.soma_radii_nm.mean()) + 900.0) if first else 900.0
                dist = np.linalg.norm(cand_p - x, axis=1)
                ok = (~used) & (cand_cell != cell.label)
                sel = ok & (dist >= lo) & (dist <= hi)
                if not sel.any():
                    sel = ok & (dist <= 2.5 * hi)
                if not sel.any():
                    fails[cell.label] += 10
                    continue
                if rng.random() < 0.45:
                    fav = sel & np.isin(cand_cell, favourites[cell.label])
                    if fav.any():
                        sel = fav
                kind = rng.choice(kinds, p=[0.55, 0.37, 0.08])
                if (sel & (cand_kind == kind)).any():
                    sel = sel & (cand_kind == kind)
                j = int(rng.choice(np.flatnonzero(sel)))
                used[j] = True
                synaptic = plans[cell.label][-1]
                c = self._try_bouton(cell, int(cand_cell[j]), cand_p[j], cand_n[j],
                                     str(cand_kind[j]), synaptic)
                if c is None:
                    fails[cell.label] += 1
                    continue
                plans[cell.label].pop()
                used |= np.linalg.norm(cand_p - c.point_nm, axis=1) < _CONTACT_SPACING_NM
                self.contacts.append(c)
                cell.bouton_centers_nm.append(c.bouton_center_nm)
                position[cell.label] = c.bouton_center_nm
            active = still
        self._assign_junction_sizes()

    def _assign_junction_sizes(self) -> None:
        """Draw junction radii (log-uniform over ``_JUNCTION_RADIUS_NM``).

        TypeB: independent draws.  TypeA: along each axon one contiguous run of
        ``floor(k / 2)`` synapses draws from the upper half of the range and the rest from the
        lower half, the run chosen to keep large and small synapses far apart; so the large
        synapses (which get a mitochondrion in their bouton) do not sit next to small ones
        (which must be far from every mitochondrion of their cell).
        """
        rng = self.rng
        lo, hi = np.log(_JUNCTION_RADIUS_NM[0]), np.log(_JUNCTION_RADIUS_NM[1])
        mid = 0.5 * (lo + hi)
        for c in self.contacts:
            c.junction_radius_nm = float(np.exp(rng.uniform(lo, hi)))
        for cell in self.cells:
            if cell.type != "TypeA":
                continue
            syn = [c for c in self.contacts if c.pre == cell.label and c.synaptic]
            k = len(syn)
            n_large = k // 2
            best, best_gap = 0, -1.0
            pts = np.array([c.point_nm for c in syn]).reshape(-1, 3)
            for start in range(k - n_large + 1):
                inside = np.zeros(k, dtype=bool)
                inside[start:start + n_large] = True
                if n_large == 0 or inside.all():
                    gap = np.inf
                else:
                    diff = pts[inside][:, None, :] - pts[~inside][None, :, :]
                    gap = float(np.min(np.linalg.norm(diff, axis=2)))
                if gap > best_gap:
                    best, best_gap = start, gap
            for i, c in enumerate(syn):
                large = best <= i < best + n_large
                c.junction_radius_nm = float(np.exp(rng.uniform(mid, hi) if large
                                                     else rng.uniform(lo, mid)))

    def _rasterise_axons(self) -> None:
        rng, g = self.rng, self.g
        for cell in self.cells:
            r = cell.axon_radius_nm
            path = list(cell.bouton_centers_nm)
            if path:
                d = path[0] - cell.soma_center_nm
                d = _unit(d) if np.linalg.norm(d) > 1e-6 else _random_unit(rng, 0.35)
            else:
                d = _random_unit(rng, 0.35)
                tail = cell.soma_center_nm + d * _ellipsoid_ray_nm(cell.soma_radii_nm, d)
                for _ in range(int(rng.integers(10, 30))):
                    d = _unit(d + rng.normal(0.0, 0.15, size=3) * [0.35, 1, 1])
                    tail = tail + d * 60.0
                    path.append(tail.copy())
                d = _unit(path[0] - cell.soma_center_nm)
            if cell.bouton_centers_nm:  # the axon runs on past its last bouton
                tail_dir = _random_unit(rng, 0.35)
                if len(path) > 1:
                    tail_dir = _unit(path[-1] - path[-2] + 200.0 * tail_dir)
                extra = self._grow(cell, path[-1], tail_dir, r, r,
                                   float(rng.uniform(300.0, 1200.0)), step_nm=60.0)
                if extra is not None:
                    path.extend(list(extra.points_nm[1:]))
            start = cell.soma_center_nm + d * 0.9 * _ellipsoid_ray_nm(cell.soma_radii_nm, d)
            pts = [start]
            for b in path:
                a = pts[-1]
                seg = b - a
                length = float(np.linalg.norm(seg))
                if length > 1e-6:
                    bend = _perp_unit(rng, seg / length, 0.35)
                    pts.append(0.5 * (a + b) + bend * rng.uniform(-0.15, 0.15) * length)
                pts.append(b)
            for a, b in zip(pts[:-1], pts[1:], strict=True):
                sl, m = g.capsule(a, b, r, r)
                self._paint(sl, m, cell.label, _AXON)

    # ---------------------------------------------------------------------------------------
    def _protected(self, sl: Slices) -> NDArray[np.bool_]:
        """Voxels near bouton contacts (never eroded, so contacts stay face to face)."""
        g = self.g
        shape = tuple(s.stop - s.start for s in sl)
        prot = np.zeros(shape, dtype=bool)
        lo = np.array([s.start for s in sl]) * g.v
        hi = np.array([s.stop - 1 for s in sl]) * g.v
        for c in self.contacts:
            rad = max(c.junction_radius_nm, 2.0 * c.bouton_radius_nm) + 4.0 * float(g.v.max())
            nearest = np.clip(c.point_nm, lo, hi)
            if np.linalg.norm(nearest - c.point_nm) > rad:
                continue
            dz, dy, dx = g.rel(sl, c.point_nm)
            prot |= dz * dz + dy * dy + dx * dx <= rad * rad
        return prot

    def _carve_gaps(self) -> None:
        """Erode the boundary of some cells facing other cells by 1-3 voxels in some regions."""
        rng, g, lab = self.rng, self.g, self.lab
        touch = np.zeros(lab.shape, dtype=bool)
        for a in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[a] = slice(None, -1)
            hi[a] = slice(1, None)
            x, y = lab[tuple(lo)], lab[tuple(hi)]
            diff = (x != y) & (x != 0) & (y != 0)
            touch[tuple(lo)] |= diff
            touch[tuple(hi)] |= diff
        idx = np.flatnonzero(touch)
        del touch
        owner = lab.ravel()[idx]
        n_erode = int(math.ceil(0.5 * len(self.cells)))
        chosen = rng.choice([c.label for c in self.cells], size=n_erode, replace=False)
        for label in sorted(int(x) for x in chosen):
            mine = idx[owner == label]
            if mine.size == 0:
                continue
            for _ in range(int(rng.integers(2, 6))):
                v = np.array(np.unravel_index(int(mine[rng.integers(mine.size)]), lab.shape))
                centre = v * g.v
                radius = float(rng.uniform(150.0, 400.0))
                depth = int(rng.integers(1, 4))
                sl = g.box(centre, radius, pad=depth + 1)
                if sl is None:
                    continue
                region = lab[sl]
                other = (region != 0) & (region != label)
                near = ndimage.binary_dilation(other, structure=_CROSS, iterations=depth)
                dz, dy, dx = g.rel(sl, centre)
                ball = dz * dz + dy * dy + dx * dx <= radius * radius
                remove = ball & near & (region == label)
                if remove.any():
                    remove &= ~self._protected(sl)
                region[remove] = 0
                self.comp[sl][remove] = 0

    # ---------------------------------------------------------------------------------------
    def _rasterise_junctions(self) -> None:
        g = self.g
        next_jid = 1
        for c in self.contacts:
            if not c.synaptic:
                continue
            half = g.half_thickness_nm(c.normal, 2.0)
            sl, disc = g.disc(c.point_nm, c.normal, c.junction_radius_nm, half, pad=1)
            if sl is None or disc is None:
                continue
            region = self.lab[sl]
            jreg = self.jid[sl]
            forbid = ndimage.binary_dilation(jreg > 0, structure=_CUBE3)
            pair = (region == c.pre) | (region == c.post)
            # no junction voxel shares a face with a third cell (or another junction)
            third = ndimage.binary_dilation((region != 0) & ~pair, structure=_CROSS)
            cand = disc & pair & ~forbid & ~third
            if not cand.any():
                continue
            cc = cc3d.connected_components(cand, connectivity=26)
            coords = g.coords_nm(sl, cand)
            nearest = int(np.argmin(np.sum((coords - c.point_nm) ** 2, axis=1)))
            k = np.nonzero(cand)
            pick = cc == cc[k[0][nearest], k[1][nearest], k[2][nearest]]
            owners = region[pick]
            if not (np.any(owners == c.pre) and np.any(owners == c.post)):
                continue
            jreg[pick] = next_jid
            c.jid = next_jid
            next_jid += 1
        self.n_synapse_labels = next_jid - 1

    def _inner(self, sl: Slices, label: int, margin: int = 1) -> NDArray[np.bool_]:
        """Voxels of ``label`` whose (2*margin+1)^3 neighbourhood is the same cell."""
        own = self.lab[sl] == label
        if margin == 0:
            return own
        return ndimage.binary_erosion(own, structure=_CUBE3, iterations=margin, border_value=0)

    def _place_orphans(self) -> None:
        rng, g = self.rng, self.g
        want = int(rng.integers(2, 5))
        contact_pts = np.array([c.point_nm for c in self.contacts]).reshape(-1, 3)
        placed = 0
        for attempt in range(4000):
            relaxed = attempt >= 1500  # crowded volumes: smaller blobs, closer to contacts
            if placed >= want:
                break
            if attempt % 2:  # somata have the most room; otherwise anywhere
                cell = self.cells[int(rng.integers(len(self.cells)))]
                p = cell.soma_center_nm + rng.uniform(-0.7, 0.7, 3) * cell.soma_radii_nm
                v = g.voxel(p)
                if v is None:
                    continue
            else:
                r3 = (rng.random(3) * g.shape).astype(np.int64)
                v = (int(r3[0]), int(r3[1]), int(r3[2]))
            label = int(self.lab[v])
            if label == 0:
                continue
            centre = np.array(v) * g.v
            away_nm = 250.0 if relaxed else 350.0
            if contact_pts.size and np.min(np.linalg.norm(contact_pts - centre, axis=1)) < away_nm:
                continue
            n = _random_unit(rng)
            radius = float(rng.uniform(30.0, 50.0) if relaxed else rng.uniform(40.0, 70.0))
            half = g.half_thickness_nm(n, 1.0)
            sl, disc = g.disc(centre, n, radius, half, pad=3)
            if sl is None or disc is None or not disc.any():
                continue
            inner = self._inner(sl, label, margin=2)
            if not np.all(inner[disc]):
                continue
            near = ndimage.binary_dilation(disc, structure=_CUBE3, iterations=2)
            if np.any(self.jid[sl][near]) or np.any(self.mid[sl][near]):
                continue
            if cc3d.connected_components(disc, connectivity=26).max() != 1:
                continue
            self.n_synapse_labels += 1
            self.jid[sl][disc] = self.n_synapse_labels
            self.orphan_cells.append(label)
            placed += 1

    # ---------------------------------------------------------------------------------------
    def _try_mito(self, cell: int, centre: FloatArray, axes: FloatArray, radii: FloatArray,
                  avoid_nm: FloatArray | None) -> bool:
        g = self.g
        radii = np.maximum(radii, 0.6 * g.v.max())
        if avoid_nm is not None and avoid_nm.size:
            if np.min(np.linalg.norm(avoid_nm - centre, axis=1)) + radii.max() < _FAR_MITO_NM:
                return False
        v = g.voxel(centre)
        if v is None or self.lab[v] != cell:
            return False
        sl, m = g.ellipsoid(centre, axes, radii, pad=3)
        if sl is None or m is None or not m.any():
            return False
        if not np.all(self.lab[sl][m] == cell):
            return False
        if np.any(self.jid[sl][m]) or np.any(self.ves[sl][m]):
            return False
        if not np.all(self._inner(sl, cell, 1)[m]):
            return False
        others = self.mid[sl] > 0
        if others.any() and np.any(others & ndimage.binary_dilation(m, _CUBE3, iterations=2)):
            return False
        if cc3d.connected_components(m, connectivity=26).max() != 1:
            return False
        if avoid_nm is not None and avoid_nm.size and (
                np.min(np.linalg.norm(avoid_nm - centre, axis=1)) - radii.max() < _FAR_MITO_NM):
            d = cKDTree(g.coords_nm(sl, m)).query(avoid_nm)[0]
            if np.min(d) < _FAR_MITO_NM:
                return False
        self.n_mito += 1
        self.mid[sl][m] = self.n_mito
        self.mito_cell.append(cell)
        return True

    def _cell(self, label: int) -> _Cell:
        return self.cells[label - 1]

    def _small_synapse_points(self) -> dict[int, FloatArray]:
        """Contact points of TypeA synapses that must stay far from own mitochondria."""
        out: dict[int, list[FloatArray]] = {}
        for c in self.contacts:
            if c.jid and not c.near_mito and self._cell(c.pre).type == "TypeA":
                out.setdefault(c.pre, []).append(c.point_nm)
        return {k: np.array(v) for k, v in out.items()}

    def _place_synaptic_mitos(self) -> None:
        """Plant the SyConn2 finding: TypeA large synapses get a mitochondrion in the bouton."""
        rng = self.rng
        syn = [c for c in self.contacts if c.jid]
        type_a = [c for c in syn if self._cell(c.pre).type == "TypeA"]
        median = float(np.median([c.junction_radius_nm for c in type_a])) if type_a else 0.0
        for c in type_a:
            c.near_mito = c.junction_radius_nm > median
        # TypeB: a fair coin per synapse, balanced within pairs of similar size, so that
        # small and large synapses get the same mixture of near and far mitochondria
        type_b = sorted((c for c in syn if self._cell(c.pre).type != "TypeA"),
                        key=lambda c: c.junction_radius_nm)
        for i in range(0, len(type_b), 2):
            pair = type_b[i:i + 2]
            first_near = bool(rng.random() < 0.5)
            pair[0].near_mito = first_near
            if len(pair) == 2:
                pair[1].near_mito = not first_near
        avoid = self._small_synapse_points()
        for c in syn:
            if not c.near_mito:
                continue
            cell_avoid = avoid.get(c.pre)
            for attempt in range(100):
                shrink = 1.0 if attempt < 50 else 0.8
                d = float(rng.uniform(*_NEAR_MITO_NM))
                theta = float(rng.uniform(0.0, 1.3))
                t = _perp_unit(rng, c.normal)
                u = _unit(c.normal * math.cos(theta) + t * math.sin(theta))
                r = float(rng.uniform(30.0, 45.0)) * shrink
                half_len = float(rng.uniform(70.0, 130.0)) * shrink
                long_axis = _perp_unit(rng, u)
                axes = np.stack([long_axis, np.cross(u, long_axis), u])
                centre = c.point_nm + u * (d + r)
                use_avoid = cell_avoid if attempt < 80 else None
                if self._try_mito(c.pre, centre, axes, np.array([half_len, r, r]), use_avoid):
                    c.mito_direction = u
                    break

    def _place_vesicle_clouds(self) -> None:
        """A speckled blob inside each synaptic bouton, next to (not on) its junction."""
        rng, g = self.rng, self.g
        for c in self.contacts:
            if not c.jid:
                continue
            r_v = float(rng.uniform(*_VESICLE_RADIUS_NM))
            best: tuple[int, Slices | None, NDArray[np.bool_] | None] = (0, None, None)
            for attempt in range(8):
                direction = c.normal
                if attempt:  # tilt away from a cramped spot and shrink a little
                    direction = _unit(c.normal + 0.6 * _perp_unit(rng, c.normal))
                    r_v *= 0.9
                gap = g.half_thickness_nm(direction, 3.0)
                centre = c.point_nm + direction * (r_v + gap)
                if c.mito_direction is not None:
                    lateral = c.mito_direction - c.normal * float(c.mito_direction @ c.normal)
                    if np.linalg.norm(lateral) > 1e-6:
                        centre = centre - _unit(lateral) * rng.uniform(0.2, 0.5) * r_v
                sl = g.box(centre, 1.6 * r_v, pad=2)
                if sl is None:
                    continue
                blob = np.zeros(tuple(s.stop - s.start for s in sl), dtype=bool)
                for _ in range(4):
                    sub = centre + rng.normal(0.0, 0.3 * r_v, size=3)
                    rr = float(rng.uniform(0.55, 0.8)) * r_v
                    dz, dy, dx = g.rel(sl, sub)
                    blob |= dz * dz + dy * dy + dx * dx <= rr * rr
                # strictly inside the bouton's cell: never touches the partner or another cell
                near_mito = ndimage.binary_dilation(self.mid[sl] > 0, structure=_CUBE3)
                blob &= self._inner(sl, c.pre, 1) & ~near_mito & (self.jid[sl] == 0)
                n = int(np.count_nonzero(blob))
                if n > best[0]:
                    best = (n, sl, blob)
                full = 4.0 / 3.0 * math.pi * r_v**3 / float(np.prod(g.v))
                if n >= max(8.0, 0.3 * full):
                    break
            if best[1] is not None and best[2] is not None:
                self.ves[best[1]] |= best[2]

    def _place_other_mitos(self) -> None:
        rng = self.rng
        avoid = self._small_synapse_points()
        for cell in self.cells:
            cell_avoid = avoid.get(cell.label)
            # somata (sample centres in the part of the soma inside the volume)
            lo = np.maximum(cell.soma_center_nm - 0.6 * cell.soma_radii_nm, 0.0)
            hi = np.minimum(cell.soma_center_nm + 0.6 * cell.soma_radii_nm, self.g.extent_nm)
            for _ in range(int(rng.integers(1, 5)) if np.all(hi > lo) else 0):
                for _ in range(20):
                    centre = lo + rng.random(3) * (hi - lo)
                    long_axis = _random_unit(rng, 0.35)
                    axes = np.stack([long_axis, _perp_unit(rng, long_axis), np.zeros(3)])
                    axes[2] = np.cross(axes[0], axes[1])
                    radii = np.array([rng.uniform(125.0, 300.0), rng.uniform(60.0, 100.0),
                                      rng.uniform(60.0, 100.0)])
                    if self._try_mito(cell.label, centre, axes, radii, cell_avoid):
                        break
            for den in cell.dendrites:
                for _ in range(int(rng.integers(0, 3))):
                    for _ in range(6):
                        i = int(rng.integers(1, len(den.points_nm) - 1))
                        tangent = _unit(den.points_nm[i + 1] - den.points_nm[i - 1])
                        side = _perp_unit(rng, tangent)
                        axes = np.stack([tangent, side, np.cross(tangent, side)])
                        r = min(45.0, float(den.radii_nm[i]) - 35.0)
                        radii = np.array([rng.uniform(100.0, 200.0), r, r])
                        if self._try_mito(cell.label, den.points_nm[i], axes, radii, cell_avoid):
                            break
        for c in self.contacts:  # boutons without a synapse
            if c.jid or rng.random() < 0.5:
                continue
            for _ in range(6):
                centre = c.bouton_center_nm + _random_unit(rng) * 0.3 * c.bouton_radius_nm
                long_axis = _random_unit(rng, 0.35)
                axes = np.stack([long_axis, _perp_unit(rng, long_axis), np.zeros(3)])
                axes[2] = np.cross(axes[0], axes[1])
                radii = np.array([rng.uniform(70.0, 120.0), rng.uniform(30.0, 45.0),
                                  rng.uniform(30.0, 45.0)])
                if self._try_mito(c.pre, centre, axes, radii, avoid.get(c.pre)):
                    break

    # ---------------------------------------------------------------------------------------
    def _ground_truth(self) -> tuple[dict[str, Any], NDArray[np.uint8]]:
        g, lab = self.g, self.lab
        n_cells = len(self.cells)
        counts = np.zeros((n_cells + 1, 4), dtype=np.int64)
        for z0 in range(0, lab.shape[0], 16):
            key = lab[z0:z0 + 16].astype(np.int64) * 4 + self.comp[z0:z0 + 16]
            counts += np.bincount(key.ravel(), minlength=(n_cells + 1) * 4).reshape(-1, 4)
        self._show_large_ids(counts.sum(axis=1))
        cells_out = []
        for cell in self.cells:
            row = counts[cell.label]
            if row.sum() == 0:
                continue
            cells_out.append({
                "id": str(cell.id),
                "type": cell.type,
                "soma_center_xyz_vx": [float(x) for x in (cell.soma_center_nm / g.v)[::-1]],
                "voxels": int(row.sum()),
                "compartment_voxels": {"soma": int(row[_SOMA]), "dendrite": int(row[_DENDRITE]),
                                       "axon": int(row[_AXON])},
            })

        # junctions and mitochondria: centroids and counts from the final arrays
        n_j = self.n_synapse_labels
        jz, jy, jx = np.nonzero(self.jid)
        jv = self.jid[jz, jy, jx].astype(np.int64)
        j_count = np.bincount(jv, minlength=n_j + 1)
        j_sum = np.stack([np.bincount(jv, weights=w, minlength=n_j + 1) for w in (jx, jy, jz)],
                         axis=1)
        mz, my, mx = np.nonzero(self.mid)
        mv = self.mid[mz, my, mx].astype(np.int64)
        m_count = np.bincount(mv, minlength=self.n_mito + 1)
        m_sum = np.stack([np.bincount(mv, weights=w, minlength=self.n_mito + 1)
                          for w in (mx, my, mz)], axis=1)
        m_cell = lab[mz, my, mx]
        m_comp = np.bincount(mv * 4 + self.comp[mz, my, mx], minlength=(self.n_mito + 1) * 4)
        m_comp = m_comp.reshape(-1, 4)
        trees: dict[int, cKDTree] = {}
        for label in np.unique(m_cell):
            sel = m_cell == label
            pts = np.stack([mz[sel] * g.v[0], my[sel] * g.v[1], mx[sel] * g.v[2]], axis=1)
            trees[int(label)] = cKDTree(pts)

        syn_type_of_jid = np.zeros(n_j + 1, dtype=np.uint8)
        synapses: list[dict[str, Any]] = []
        without = 0
        for c in self.contacts:
            if not c.jid or j_count[c.jid] == 0:
                without += int(self._touching(c))
                continue
            pre, post = self._cell(c.pre), self._cell(c.post)
            syn_type_of_jid[c.jid] = _SYNAPSE_TYPE[pre.type]
            pos_xyz = j_sum[c.jid] / j_count[c.jid]
            tree = trees.get(c.pre)
            dist = None
            if tree is not None:
                dist = float(tree.query(pos_xyz[::-1] * g.v)[0])
            synapses.append({
                "id": len(synapses) + 1,
                "pre": str(pre.id),
                "post": str(post.id),
                "position_xyz_vx": [float(x) for x in pos_xyz],
                "junction_voxels": int(j_count[c.jid]),
                "area_nm2": float(math.pi * c.junction_radius_nm**2),
                "type": _SYNAPSE_TYPE[pre.type],
                "post_compartment": c.post_kind,
                "mito_distance_nm": dist,
            })
        n_syn_labels = n_j - len(self.orphan_cells)
        orphans = []
        for k, label in enumerate(self.orphan_cells):
            j = n_syn_labels + 1 + k
            if j_count[j]:
                orphans.append({"cell": str(self._cell(label).id),
                                "position_xyz_vx": [float(x) for x in j_sum[j] / j_count[j]]})
        mitos: list[dict[str, Any]] = []
        order = np.argsort(mv, kind="stable")
        first = np.searchsorted(mv[order], np.arange(1, self.n_mito + 1))
        for k in range(1, self.n_mito + 1):
            if m_count[k] == 0:
                continue
            i = order[first[k - 1]]
            mitos.append({
                "id": len(mitos) + 1,
                "cell": str(self._cell(int(m_cell[i])).id),
                "compartment": _COMPARTMENT_NAMES[int(np.argmax(m_comp[k, 1:]) + 1)],
                "centroid_xyz_vx": [float(x) for x in m_sum[k] / m_count[k]],
                "voxels": int(m_count[k]),
            })
        truth = {
            "schema": SCHEMA,
            "seed": int(self.seed),
            "shape_zyx": [int(s) for s in self.shape],
            "voxel_size_nm_zyx": [float(v) for v in self.voxel],
            "cells": cells_out,
            "synapses": synapses,
            "orphan_junctions": orphans,
            "contacts_without_synapse": int(without),
            "mitochondria": mitos,
        }
        return truth, syn_type_of_jid

    def _show_large_ids(self, voxels: NDArray[np.int64]) -> None:
        """Swap ids so that cells present in the volume carry ids above 2**53 and 2**32."""
        for limit in (2**53, 2**32):
            shown = [c for c in self.cells if voxels[c.label] > 0]
            if not shown or any(c.id > limit for c in shown):
                continue
            hidden = [c for c in self.cells if voxels[c.label] == 0 and c.id > limit]
            if hidden:
                target = min(shown, key=lambda c: c.id)
                target.id, hidden[0].id = hidden[0].id, target.id

    def _touching(self, c: _Contact) -> bool:
        """Whether the bouton's cell shares a voxel face with the target cell near the contact."""
        sl = self.g.box(c.point_nm, 2.0 * c.bouton_radius_nm)
        if sl is None:
            return False
        region = self.lab[sl]
        for a in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[a] = slice(None, -1)
            hi[a] = slice(1, None)
            x, y = region[tuple(lo)], region[tuple(hi)]
            if np.any(((x == c.pre) & (y == c.post)) | ((x == c.post) & (y == c.pre))):
                return True
        return False

    # ---------------------------------------------------------------------------------------
    def _render_raw(self) -> NDArray[np.uint8]:
        rng, g, lab = self.tex_rng, self.g, self.lab
        shape = lab.shape
        vmin = float(g.v.min())
        sigma_tex = tuple(float(1.0 * vmin / v) for v in g.v)
        texture = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32),
                                          sigma_tex)
        texture *= np.float32(1.0 / max(float(texture.std()), 1e-6))
        raw = np.where(lab > 0, np.float32(165.0), np.float32(112.0))
        raw += 5.0 * texture
        mito = self.mid > 0
        raw[mito] = 100.0 + 9.0 * texture[mito]
        ves = self.ves  # vesicles: dark dots (bright texture peaks) on a light lumen
        raw[ves] = np.where(texture[ves] > 0.6, np.float32(60.0), np.float32(185.0))
        del texture
        membrane = np.zeros(shape, dtype=bool)
        mito_edge = np.zeros(shape, dtype=bool)
        for a in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[a] = slice(None, -1)
            hi[a] = slice(1, None)
            x, y = lab[tuple(lo)], lab[tuple(hi)]
            diff = x != y
            membrane[tuple(lo)] |= diff & (x != 0)
            membrane[tuple(hi)] |= diff & (y != 0)
            mx, my = mito[tuple(lo)], mito[tuple(hi)]
            mdiff = mx != my
            mito_edge[tuple(lo)] |= mdiff & mx
            mito_edge[tuple(hi)] |= mdiff & my
        raw[membrane] = 45.0
        raw[mito_edge] = 60.0
        raw[self.jid > 0] = 30.0
        del membrane, mito_edge
        sigma_blur = tuple(float(0.8 * vmin / v) for v in g.v)
        raw = ndimage.gaussian_filter(raw, sigma_blur)
        raw += 8.0 * rng.standard_normal(shape, dtype=np.float32)
        return np.clip(np.rint(raw), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# writing


def _multiscales(name: str, voxel_size_nm_zyx: tuple[float, float, float]) -> list[dict]:
    return [{
        "version": "0.4",
        "name": name,
        "axes": [{"name": a, "type": "space", "unit": "nanometer"} for a in "zyx"],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [float(v) for v in voxel_size_nm_zyx]}]}],
    }]


def _write_container(path: Path, volumes: dict[str, NDArray[Any]],
                     voxel_size_nm_zyx: tuple[float, float, float]) -> None:
    # Threaded Blosc stores blocks in completion order; compress in the calling thread so
    # the same arrays always give the same bytes.
    previous = blosc.use_threads
    blosc.use_threads = False
    try:
        _write_arrays(path, volumes, voxel_size_nm_zyx)
    finally:
        blosc.use_threads = previous


def _write_arrays(path: Path, volumes: dict[str, NDArray[Any]],
                  voxel_size_nm_zyx: tuple[float, float, float]) -> None:
    raw = volumes["raw"]
    shape = raw.shape
    chunks = tuple(min(c, s) for c, s in zip(CHUNKS_ZYX, shape, strict=True))
    compressor = Blosc(cname="zstd", clevel=5, shuffle=Blosc.SHUFFLE)

    def create(group: zarr.Group, dtype: Any) -> zarr.Array:
        return group.create_dataset("0", shape=shape, chunks=chunks, dtype=dtype,
                                    compressor=compressor, fill_value=0,
                                    dimension_separator="/")

    root = zarr.open_group(str(path), mode="w")
    root.attrs["multiscales"] = _multiscales("raw", voxel_size_nm_zyx)
    create(root, np.uint8)[...] = raw
    labels = root.create_group("labels")
    labels.attrs["labels"] = list(LABEL_NAMES)
    for name in LABEL_NAMES:
        grp = labels.create_group(name)
        grp.attrs.update({
            "multiscales": _multiscales(name, voxel_size_nm_zyx),
            "image-label": {"version": "0.4", "source": {"image": "../../"}},
        })
        if name == "cells":
            arr = create(grp, np.uint64)
            lut, index = volumes["cells_lut"], volumes["cells_index"]
            for z0 in range(0, shape[0], chunks[0]):  # uint64 ids straight from the table
                arr[z0:z0 + chunks[0]] = lut[index[z0:z0 + chunks[0]]]
        else:
            create(grp, np.uint8)[...] = volumes[name]


def _write_truth(path: Path, truth: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(truth, fh, indent=1)
        fh.write("\n")


def make_phantom(out: str | os.PathLike, seed: int = 0,
                 shape_zyx: tuple[int, int, int] = (64, 256, 256),
                 voxel_size_nm_zyx: tuple[float, float, float] = (20.0, 10.0, 10.0),
                 progress: bool = False) -> dict:
    """Write a deterministic synthetic EM volume with ground truth as OME-Zarr.

    The container at ``out`` holds the raw image (array ``0``, uint8) and the label groups
    ``labels/cells`` (uint64 ids), ``labels/mitochondria``, ``labels/vesicle_clouds``,
    ``labels/synaptic_junctions`` (uint8 0/1 masks) and ``labels/synapse_type`` (uint8, 1
    asymmetric / 2 symmetric), all in OME-NGFF 0.4 layout (zarr v2, Blosc zstd, chunks
    ``(32, 128, 128)`` clipped to the shape).  The ground truth is written to
    ``out/ground_truth.json`` and returned.  The container is built next to ``out`` in
    ``<out>.partial-<pid>`` and moved into place with :func:`os.replace`, so a failure never
    leaves a half-written ``out``.

    Parameters
    ----------
    out : str or os.PathLike
        Output directory; must not exist or be empty.
    seed : int
        Seed of the random generator; same seed and shape give byte-identical arrays and JSON.
    shape_zyx : tuple of int
        Volume shape in voxels, ``(z, y, x)``.
    voxel_size_nm_zyx : tuple of float
        Voxel size in nm, ``(z, y, x)``; geometry is planned in nm, so shapes stay round.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict
        Ground truth (schema ``connectome-phantom-truth/1``): ``cells``, ``synapses``,
        ``orphan_junctions``, ``contacts_without_synapse`` and ``mitochondria``; ids are
        decimal strings, positions voxel coordinates in ``(x, y, z)`` order.

    Raises
    ------
    FileExistsError
        If ``out`` exists and is not an empty directory.

    Examples
    --------
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "phantom.zarr")
    >>> truth = make_phantom(out, seed=1, shape_zyx=(16, 64, 64))
    >>> truth["schema"], truth["shape_zyx"]
    ('connectome-phantom-truth/1', [16, 64, 64])
    >>> sorted(os.listdir(os.path.join(out, "labels")))[:2]
    ['.zattrs', '.zgroup']
    """
    out_path = Path(out)
    if out_path.exists() and (not out_path.is_dir() or any(out_path.iterdir())):
        raise FileExistsError(f"{out} already exists; choose a new output path")
    shape = tuple(int(s) for s in shape_zyx)
    voxel = tuple(float(v) for v in voxel_size_nm_zyx)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape_zyx must be three positive ints, got {shape_zyx!r}")
    if len(voxel) != 3 or min(voxel) <= 0:
        raise ValueError(f"voxel_size_nm_zyx must be three positive floats, got "
                         f"{voxel_size_nm_zyx!r}")
    builder = _PhantomBuilder(int(seed), shape, voxel, progress)  # type: ignore[arg-type]
    volumes, truth = builder.build()
    del builder
    tmp = out_path.parent / f"{out_path.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        _write_container(tmp, volumes, voxel)  # type: ignore[arg-type]
        _write_truth(tmp / "ground_truth.json", truth)
        os.replace(tmp, out_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return truth
