"""Cell morphology of the phantom: somata, dendrites with spines, boutons and axons.

Also carves the extracellular gaps that erode some cell boundaries (but never the contacts).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from .geometry import (
    CROSS,
    FloatArray,
    Mask,
    Slices,
    box_shape,
    ellipsoid_ray_nm,
    face_pairs,
    perp_unit,
    random_unit,
    unit,
)
from .scene import AXON, DENDRITE, SOMA, Cell, Contact, Dendrite, Scene

# Geometry in nm.  Neurites are scaled so that the organelles they must contain fit inside
# them with a one-voxel margin at the default (20, 10, 10) nm voxel size.
_CELL_VOLUME_UM3 = 1.1  # one cell per ~0.55 Mvoxel at the default voxel size
_SOMA_RADIUS_NM = (300.0, 480.0)
_DENDRITE_RADIUS_NM = (70.0, 110.0)
_SPINE_NECK_RADIUS_NM = (20.0, 30.0)
_SPINE_HEAD_RADIUS_NM = (55.0, 90.0)
_AXON_RADIUS_NM = (20.0, 35.0)
_BOUTON_RADIUS_NM = (130.0, 190.0)
_CONTACT_SPACING_NM = 320.0


# --------------------------------------------------------------------------------------------
# planning


def plan_cells(scene: Scene) -> None:
    """Draw the cells (type, id, soma, axon radius) and plan their dendrites."""
    rng, g = scene.rng, scene.g
    ext = g.extent_nm
    volume_um3 = float(np.prod(g.shape * g.v)) / 1e9
    n = max(4, int(round(volume_um3 / _CELL_VOLUME_UM3)))
    types = (["TypeA", "TypeB"] * n)[:n]
    rng.shuffle(types)
    ids = _draw_ids(rng, n)
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
            score = min(
                (
                    float(np.linalg.norm((c - o) * [1.5, 1, 1])) - ro - r_base
                    for o, ro in zip(centres, mean_r, strict=True)
                ),
                default=np.inf,
            )
            if score > best_score:
                best, best_score = c, score
        assert best is not None
        centres.append(best)
        mean_r.append(r_base)
        scene.cells.append(
            Cell(
                label=k + 1,
                id=ids[k],
                type=types[k],
                soma_center_nm=best,
                soma_radii_nm=radii,
                axon_radius_nm=float(rng.uniform(*_AXON_RADIUS_NM)),
            )
        )
    for cell in scene.cells:
        _plan_dendrites(scene, cell)


def _draw_ids(rng: np.random.Generator, n: int) -> list[int]:
    """``n`` distinct uint64 ids: one ``2**53 + 12345 + k``, the rest spread over 3 ranges."""
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


def _in_other_soma(scene: Scene, p: FloatArray, cell: Cell, pad_nm: float) -> bool:
    if len(scene.soma_c) != len(scene.cells):
        scene.soma_c = np.array([o.soma_center_nm for o in scene.cells])
        scene.soma_r = np.array([o.soma_radii_nm for o in scene.cells])
    q = np.sum(((p - scene.soma_c) / (scene.soma_r + pad_nm)) ** 2, axis=1)
    q[cell.label - 1] = np.inf
    return bool(np.min(q) < 1.0)


def _plan_dendrites(scene: Scene, cell: Cell) -> None:
    rng, g = scene.rng, scene.g
    toward = (0.5 * g.extent_nm - cell.soma_center_nm) * np.array([0.35, 1.0, 1.0])
    toward = unit(toward) if np.linalg.norm(toward) > 1e-6 else np.array([0.0, 1.0, 0.0])
    for _ in range(int(rng.integers(5, 8))):
        d = unit(random_unit(rng, 0.35) + 0.8 * toward)
        p = cell.soma_center_nm + d * 0.85 * ellipsoid_ray_nm(cell.soma_radii_nm, d)
        r0 = float(rng.uniform(*_DENDRITE_RADIUS_NM))
        den = _grow(scene, cell, p, d, r0, 0.7 * r0, float(rng.uniform(1000.0, 2400.0)))
        if den is None:
            continue
        cell.dendrites.append(den)
        for _ in range(int(rng.integers(1, 4))):  # side branches
            n = len(den.points_nm)
            if n < 8:
                break
            i = int(rng.integers(2, n - 3))
            tangent = unit(den.points_nm[i + 1] - den.points_nm[i - 1])
            bd = unit(tangent + 1.2 * perp_unit(rng, tangent, 0.35))
            rb = max(0.75 * float(den.radii_nm[i]), _DENDRITE_RADIUS_NM[0])
            branch = _grow(
                scene, cell, den.points_nm[i], bd, rb, 0.8 * rb, float(rng.uniform(500.0, 1400.0))
            )
            if branch is not None:
                branch.from_soma = False
                cell.dendrites.append(branch)


def _grow(
    scene: Scene,
    cell: Cell,
    p: FloatArray,
    d: FloatArray,
    r0: float,
    r1: float,
    length_nm: float,
    step_nm: float = 50.0,
) -> Dendrite | None:
    """Smooth random polyline from ``p``; stops outside the volume or in another soma."""
    rng, ext = scene.rng, scene.g.extent_nm
    zfac = np.array([0.35, 1.0, 1.0])
    pts = [p.copy()]
    for _ in range(int(length_nm / step_nm)):
        d = unit(d + rng.normal(0.0, 0.12, size=3) * zfac)
        if (p[0] < 0.15 * ext[0] and d[0] < 0) or (p[0] > 0.85 * ext[0] and d[0] > 0):
            d[0] = -d[0]
        p = p + d * step_nm
        if np.any(p < -200.0) or np.any(p > ext + 200.0):
            break
        if _in_other_soma(scene, p, cell, 0.6 * r0):
            break
        pts.append(p.copy())
    if len(pts) < 3:
        return None
    pts_a = np.array(pts)
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts_a, axis=0), axis=1))])
    return Dendrite(pts_a, r0 + (r1 - r0) * s / max(length_nm, 1.0))


# --------------------------------------------------------------------------------------------
# somata, dendrites and spines


def rasterise_cells(scene: Scene) -> None:
    """Paint the somata, then the dendrites, then the spines (each on still empty voxels)."""
    g = scene.g
    for cell in scene.cells:
        r = cell.soma_radii_nm
        sl = g.box(cell.soma_center_nm, float(r.max()))
        if sl is not None:
            dz, dy, dx = g.rel(sl, cell.soma_center_nm)
            mask = (dz / r[0]) ** 2 + (dy / r[1]) ** 2 + (dx / r[2]) ** 2 <= 1.0
            scene.paint(sl, mask, cell.label, SOMA)
    for cell in scene.cells:
        for den in cell.dendrites:
            for i in range(len(den.points_nm) - 1):
                sl, m = g.capsule(
                    den.points_nm[i],
                    den.points_nm[i + 1],
                    float(den.radii_nm[i]),
                    float(den.radii_nm[i + 1]),
                )
                scene.paint(sl, m, cell.label, DENDRITE)
    for cell in scene.cells:
        for den in cell.dendrites:
            _add_spines(scene, cell, den)


def _add_spines(scene: Scene, cell: Cell, den: Dendrite) -> None:
    """Spines (neck and head) every 200-380 nm along a dendrite."""
    g, rng = scene.g, scene.rng
    pts, radii = den.points_nm, den.radii_nm
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    pos = float(rng.uniform(150.0, 300.0))
    while pos < s[-1] - 50.0:
        i = int(np.searchsorted(s, pos))
        i = min(max(i, 1), len(pts) - 1)
        tangent = unit(pts[i] - pts[i - 1])
        u = perp_unit(rng, tangent, 0.5)
        neck_len = float(rng.uniform(60.0, 150.0))
        neck_r = float(rng.uniform(*_SPINE_NECK_RADIUS_NM))
        head_r = float(rng.uniform(*_SPINE_HEAD_RADIUS_NM))
        base = pts[i] + u * 0.7 * radii[i]
        tip = pts[i] + u * (radii[i] + neck_len)
        head_c = tip + u * 0.7 * head_r
        sl, m = g.capsule(base, tip, neck_r, neck_r)
        scene.paint(sl, m, cell.label, DENDRITE)
        sl, m = g.sphere(head_c, head_r)
        scene.paint(sl, m, cell.label, DENDRITE)
        cell.spine_heads.append((head_c, head_r, u))
        cell.spine_roots_nm.append(pts[i])
        cell.spine_necks.append((pts[i] + u * radii[i], tip, neck_r))  # shaft surface to tip
        pos += float(rng.uniform(200.0, 380.0))


# --------------------------------------------------------------------------------------------
# boutons


def _free_surface(scene: Scene, p: FloatArray, n: FloatArray, label: int) -> bool:
    """Whether ``p`` is on the surface of cell ``label`` with free space outside along ``n``."""
    g = scene.g
    inner = g.voxel(p - n * float(g.v.min()))
    outer = g.voxel(p + n * 1.5 * float(g.v.max()))
    if inner is None or outer is None:
        return False
    return bool(scene.lab[inner] == label and scene.lab[outer] == 0)


def _candidates(scene: Scene) -> tuple[FloatArray, FloatArray, NDArray[np.int64], NDArray[Any]]:
    """Surface points of dendrite shafts, spine heads and somata that boutons may touch."""
    rng, g = scene.rng, scene.g
    pts, normals, cells, kinds = [], [], [], []

    def add(make: Callable[[], tuple[FloatArray, FloatArray]], cell: Cell, kind: str) -> None:
        """Keep the first of a few drawn sites that is a free surface point of ``cell``."""
        for _ in range(4):
            p, n = make()
            if not g.inside(p, margin_vx=3.0) or not _free_surface(scene, p, n, cell.label):
                continue
            pts.append(p)
            normals.append(n)
            cells.append(cell.label)
            kinds.append(kind)
            return

    for cell in scene.cells:
        for den in cell.dendrites:
            for i in range(2, len(den.points_nm) - 1):
                t = unit(den.points_nm[i + 1] - den.points_nm[i - 1])

                def shaft(i: int = i, t: FloatArray = t, den: Dendrite = den):
                    u = perp_unit(rng, t, 0.5)
                    return den.points_nm[i] + u * den.radii_nm[i], u

                add(shaft, cell, "dendrite")
        for head_c, head_r, direction in cell.spine_heads:

            def head(c: FloatArray = head_c, r: float = head_r, d: FloatArray = direction):
                u = unit(d + 0.5 * random_unit(rng))
                return c + u * r, u

            add(head, cell, "spine")

        def soma(cell: Cell = cell):
            u = random_unit(rng, 0.5)
            p = cell.soma_center_nm + u * ellipsoid_ray_nm(cell.soma_radii_nm, u)
            return p, unit((p - cell.soma_center_nm) / cell.soma_radii_nm**2)

        for _ in range(32):
            add(soma, cell, "soma")
    if not pts:
        return (
            np.zeros((0, 3)),
            np.zeros((0, 3)),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=object),
        )
    return (
        np.array(pts),
        np.array(normals),
        np.array(cells, dtype=np.int64),
        np.array(kinds, dtype=object),
    )


def _try_bouton(
    scene: Scene, pre: Cell, post: int, p: FloatArray, n: FloatArray, kind: str, synaptic: bool
) -> Contact | None:
    """Paint a bouton of ``pre`` pressed against ``post`` at ``p``, if there is room."""
    rng, g = scene.rng, scene.g
    r_b = float(rng.uniform(*_BOUTON_RADIUS_NM))
    overlap = float(rng.uniform(0.2, 0.35)) * r_b
    centre = p + n * (r_b - overlap)
    if not g.inside(centre) or not _free_surface(scene, p, n, post):
        return None
    sl, sph = g.sphere(centre, r_b)
    if sl is None or sph is None:
        return None
    region = scene.lab[sl]
    inside = region[sph]
    n_post = np.count_nonzero(inside == post)
    if n_post == 0 or n_post > 0.35 * inside.size:  # pressed against, not swallowed by
        return None
    foreign = (region != 0) & (region != post) & sph
    if np.count_nonzero(foreign) > 0.12 * inside.size:
        return None
    if foreign.any():  # keep the contact region itself free of third parties
        if np.any(foreign & (g.dist2(sl, p) <= (0.6 * r_b) ** 2)):
            return None
    scene.paint(sl, sph, pre.label, AXON)
    return Contact(
        pre=pre.label,
        post=post,
        point_nm=p,
        normal=n,
        bouton_center_nm=centre,
        bouton_radius_nm=r_b,
        post_kind=kind,
        synaptic=synaptic,
        junction_radius_nm=0.0,
    )


def place_boutons(scene: Scene) -> None:
    """Walk each axon from its soma from bouton to bouton, each on another cell's surface."""
    rng = scene.rng
    cand_p, cand_n, cand_cell, cand_kind = _candidates(scene)
    used = np.zeros(len(cand_p), dtype=bool)
    labels = [c.label for c in scene.cells]
    plans: dict[int, list[bool]] = {}
    favourites: dict[int, NDArray[np.int64]] = {}
    position: dict[int, FloatArray] = {}
    fails: dict[int, int] = {}
    for cell in scene.cells:
        flags = [True] * int(rng.integers(6, 13)) + [False] * int(rng.integers(1, 3))
        rng.shuffle(flags)
        plans[cell.label] = flags
        others = [lab for lab in labels if lab != cell.label]
        favourites[cell.label] = rng.choice(others, size=min(2, len(others)), replace=False)
        position[cell.label] = cell.soma_center_nm.copy()
        fails[cell.label] = 0
    kinds = np.array(["dendrite", "spine", "soma"], dtype=object)
    active = [c for c in scene.cells]
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
            c = _try_bouton(
                scene, cell, int(cand_cell[j]), cand_p[j], cand_n[j], str(cand_kind[j]), synaptic
            )
            if c is None:
                fails[cell.label] += 1
                continue
            plans[cell.label].pop()
            used |= np.linalg.norm(cand_p - c.point_nm, axis=1) < _CONTACT_SPACING_NM
            scene.contacts.append(c)
            cell.bouton_centers_nm.append(c.bouton_center_nm)
            position[cell.label] = c.bouton_center_nm
        active = still


# --------------------------------------------------------------------------------------------
# axons


def rasterise_axons(scene: Scene) -> None:
    """Paint each axon from its soma through its boutons and on past the last one."""
    rng, g = scene.rng, scene.g
    for cell in scene.cells:
        r = cell.axon_radius_nm
        path = list(cell.bouton_centers_nm)
        if path:
            d = path[0] - cell.soma_center_nm
            d = unit(d) if np.linalg.norm(d) > 1e-6 else random_unit(rng, 0.35)
        else:
            d = random_unit(rng, 0.35)
            tail = cell.soma_center_nm + d * ellipsoid_ray_nm(cell.soma_radii_nm, d)
            for _ in range(int(rng.integers(10, 30))):
                d = unit(d + rng.normal(0.0, 0.15, size=3) * [0.35, 1, 1])
                tail = tail + d * 60.0
                path.append(tail.copy())
            d = unit(path[0] - cell.soma_center_nm)
        if cell.bouton_centers_nm:  # the axon runs on past its last bouton
            tail_dir = random_unit(rng, 0.35)
            if len(path) > 1:
                tail_dir = unit(path[-1] - path[-2] + 200.0 * tail_dir)
            extra = _grow(
                scene,
                cell,
                path[-1],
                tail_dir,
                r,
                r,
                float(rng.uniform(300.0, 1200.0)),
                step_nm=60.0,
            )
            if extra is not None:
                path.extend(list(extra.points_nm[1:]))
        start = cell.soma_center_nm + d * 0.9 * ellipsoid_ray_nm(cell.soma_radii_nm, d)
        pts = [start]
        for b in path:
            a = pts[-1]
            seg = b - a
            length = float(np.linalg.norm(seg))
            if length > 1e-6:
                bend = perp_unit(rng, seg / length, 0.35)
                pts.append(0.5 * (a + b) + bend * rng.uniform(-0.15, 0.15) * length)
            pts.append(b)
        cell.axon_points_nm = np.array(pts)
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            sl, m = g.capsule(a, b, r, r)
            scene.paint(sl, m, cell.label, AXON)


# --------------------------------------------------------------------------------------------
# extracellular gaps


def _protected(scene: Scene, sl: Slices) -> Mask:
    """Voxels near bouton contacts (never eroded, so contacts stay face to face)."""
    g = scene.g
    prot = np.zeros(box_shape(sl), dtype=bool)
    lo = np.array([s.start for s in sl]) * g.v
    hi = np.array([s.stop - 1 for s in sl]) * g.v
    for c in scene.contacts:
        rad = max(c.junction_radius_nm, 2.0 * c.bouton_radius_nm) + 4.0 * float(g.v.max())
        nearest = np.clip(c.point_nm, lo, hi)
        if np.linalg.norm(nearest - c.point_nm) > rad:
            continue
        prot |= g.dist2(sl, c.point_nm) <= rad * rad
    return prot


def carve_gaps(scene: Scene) -> None:
    """Erode the boundary of some cells facing other cells by 1-3 voxels in some regions."""
    rng, g, lab = scene.rng, scene.g, scene.lab
    touch = np.zeros(lab.shape, dtype=bool)
    for lo, hi in face_pairs():
        x, y = lab[lo], lab[hi]
        diff = (x != y) & (x != 0) & (y != 0)
        touch[lo] |= diff
        touch[hi] |= diff
    idx = np.flatnonzero(touch)
    del touch
    owner = lab.ravel()[idx]
    n_erode = int(math.ceil(0.5 * len(scene.cells)))
    chosen = rng.choice([c.label for c in scene.cells], size=n_erode, replace=False)
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
            near = ndimage.binary_dilation(other, structure=CROSS, iterations=depth)
            ball = g.dist2(sl, centre) <= radius * radius
            remove = ball & near & (region == label)
            if remove.any():
                remove &= ~_protected(scene, sl)
            region[remove] = 0
            scene.comp[sl][remove] = 0
