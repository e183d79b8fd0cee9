"""Ground truth of the phantom, measured on the final label volumes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from .geometry import FloatArray, Grid, face_pairs
from .scene import AXON, COMPARTMENT_NAMES, DENDRITE, SOMA, Cell, Contact, Scene

SCHEMA = "connectome-phantom-truth/1"
SYNAPSE_TYPE = {"TypeA": 1, "TypeB": 2}

IntArray = NDArray[np.int64]


def ground_truth(scene: Scene) -> tuple[dict[str, Any], NDArray[np.uint8]]:
    """The ground truth dictionary and the synapse type (1 or 2) of each junction label."""
    g, lab = scene.g, scene.lab
    n_cells = len(scene.cells)
    counts = np.zeros((n_cells + 1, 4), dtype=np.int64)
    for z0 in range(0, lab.shape[0], 16):
        key = lab[z0 : z0 + 16].astype(np.int64) * 4 + scene.comp[z0 : z0 + 16]
        counts += np.bincount(key.ravel(), minlength=(n_cells + 1) * 4).reshape(-1, 4)
    _show_large_ids(scene, counts.sum(axis=1))
    cells_out = []
    for cell in scene.cells:
        row = counts[cell.label]
        if row.sum() == 0:
            continue
        cells_out.append(
            {
                "id": str(cell.id),
                "type": cell.type,
                "soma_center_xyz_vx": [float(x) for x in (cell.soma_center_nm / g.v)[::-1]],
                "voxels": int(row.sum()),
                "compartment_voxels": {
                    "soma": int(row[SOMA]),
                    "dendrite": int(row[DENDRITE]),
                    "axon": int(row[AXON]),
                },
                "cable_length_nm": cable_length_nm(cell, g),
                "cable_length_in_cell_nm": cable_length_in_cell_nm(cell, g, lab),
                "cable_length_in_cell_nm_by_compartment": {
                    kind: cable_length_in_cell_nm(cell, g, lab, kinds=(kind,))
                    for kind in ("soma", "dendrite", "axon")
                },
                "spine_heads": [
                    {
                        "center_xyz_vx": _xyz_vx(c, g),
                        "radius_nm": float(r),
                        "neck_start_xyz_vx": _xyz_vx(start, g),
                        "neck_tip_xyz_vx": _xyz_vx(tip, g),
                        "neck_radius_nm": float(neck_r),
                    }
                    for (c, r, _), (start, tip, neck_r) in zip(
                        cell.spine_heads, cell.spine_necks, strict=True
                    )
                ],
                "bouton_centers_xyz_vx": [_xyz_vx(c, g) for c in cell.bouton_centers_nm],
            }
        )

    # junctions and mitochondria: centroids and counts from the final arrays
    n_j = scene.n_synapse_labels
    _, _, _, _, j_count, j_sum = _label_sums(scene.jid, n_j)
    mz, my, mx, mv, m_count, m_sum = _label_sums(scene.mid, scene.n_mito)
    m_cell = lab[mz, my, mx]
    m_comp = np.bincount(mv * 4 + scene.comp[mz, my, mx], minlength=(scene.n_mito + 1) * 4)
    m_comp = m_comp.reshape(-1, 4)
    trees: dict[int, cKDTree] = {}
    for label in np.unique(m_cell):
        sel = m_cell == label
        pts = np.stack([mz[sel] * g.v[0], my[sel] * g.v[1], mx[sel] * g.v[2]], axis=1)
        trees[int(label)] = cKDTree(pts)

    syn_type_of_jid = np.zeros(n_j + 1, dtype=np.uint8)
    synapses: list[dict[str, Any]] = []
    without = 0
    for c in scene.contacts:
        if not c.jid or j_count[c.jid] == 0:
            without += int(_touching(scene, c))
            continue
        pre, post = scene.cell(c.pre), scene.cell(c.post)
        syn_type_of_jid[c.jid] = SYNAPSE_TYPE[pre.type]
        pos_xyz = j_sum[c.jid] / j_count[c.jid]
        tree = trees.get(c.pre)
        dist = None
        if tree is not None:
            dist = float(tree.query(pos_xyz[::-1] * g.v)[0])
        head_volume = None
        if c.post_kind == "spine" and post.spine_heads:  # the head the bouton was pressed on
            centres = np.array([h[0] for h in post.spine_heads])
            k = int(np.argmin(np.linalg.norm(centres - c.point_nm, axis=1)))
            head_volume = 4.0 / 3.0 * math.pi * post.spine_heads[k][1] ** 3
        synapses.append(
            {
                "id": len(synapses) + 1,
                "pre": str(pre.id),
                "post": str(post.id),
                "position_xyz_vx": [float(x) for x in pos_xyz],
                "junction_voxels": int(j_count[c.jid]),
                "area_nm2": float(math.pi * c.junction_radius_nm**2),
                "type": SYNAPSE_TYPE[pre.type],
                "post_compartment": c.post_kind,
                "spine_head_volume_nm3": head_volume,
                "mito_distance_nm": dist,
            }
        )
    n_syn_labels = n_j - len(scene.orphan_cells)
    orphans = []
    for k, label in enumerate(scene.orphan_cells):
        j = n_syn_labels + 1 + k
        if j_count[j]:
            orphans.append(
                {
                    "cell": str(scene.cell(label).id),
                    "position_xyz_vx": [float(x) for x in j_sum[j] / j_count[j]],
                }
            )
    mitos: list[dict[str, Any]] = []
    order = np.argsort(mv, kind="stable")
    first = np.searchsorted(mv[order], np.arange(1, scene.n_mito + 1))
    for k in range(1, scene.n_mito + 1):
        if m_count[k] == 0:
            continue
        i = order[first[k - 1]]
        mitos.append(
            {
                "id": len(mitos) + 1,
                "cell": str(scene.cell(int(m_cell[i])).id),
                "compartment": COMPARTMENT_NAMES[int(np.argmax(m_comp[k, 1:]) + 1)],
                "centroid_xyz_vx": [float(x) for x in m_sum[k] / m_count[k]],
                "voxels": int(m_count[k]),
            }
        )
    truth = {
        "schema": SCHEMA,
        "seed": int(scene.seed),
        "shape_zyx": [int(s) for s in scene.shape],
        "voxel_size_nm_zyx": [float(v) for v in scene.voxel],
        "cells": cells_out,
        "synapses": synapses,
        "orphan_junctions": orphans,
        "contacts_without_synapse": int(without),
        "mitochondria": mitos,
    }
    return truth, syn_type_of_jid


def _xyz_vx(point_nm: FloatArray, g: Grid) -> list[float]:
    """A ``(z, y, x)`` point in nm as ``[x, y, z]`` in voxels."""
    return [float(x) for x in (np.asarray(point_nm) / g.v)[::-1]]


def centre_lines_nm(cell: Cell, g: Grid) -> list[FloatArray]:
    """The planted centre lines of a cell (see :func:`labelled_centre_lines_nm`)."""
    return [line for _, line in labelled_centre_lines_nm(cell, g)]


def labelled_centre_lines_nm(cell: Cell, g: Grid) -> list[tuple[str, FloatArray]]:
    """The planted centre lines of a cell: ``(n, 3)`` polylines in nm, ``(z, y, x)`` order.

    Each dendrite and side branch as grown; each spine from its root on the dendrite's axis
    through its neck to the centre of its head; the axon as painted (from inside the soma
    through its boutons and on past the last one).  The soma's share is a straight line from
    the soma's root to the first point of each primary dendrite and of the axon (0.85 and 0.9
    of the way to the soma surface, where the neurite's own tube begins), so that the lines
    form one tree, as a skeleton through the soma would.  The root is the soma centre, or,
    when the centre lies outside the volume, the point of the volume nearest to it: a soma cut
    by the border still joins its neurites inside the volume.  Each line comes with its
    compartment: ``"soma"`` for the soma's share, ``"dendrite"`` for dendrites, branches and
    spines, ``"axon"`` for the axon.
    """
    root = np.clip(cell.soma_center_nm, 0.0, g.extent_nm)
    lines: list[tuple[str, FloatArray]] = []
    for den in cell.dendrites:
        if den.from_soma:
            lines.append(("soma", np.stack([root, den.points_nm[0]])))
        lines.append(("dendrite", den.points_nm))
    for spine_root, (head_c, _, _) in zip(cell.spine_roots_nm, cell.spine_heads, strict=True):
        lines.append(("dendrite", np.stack([spine_root, head_c])))
    if len(cell.axon_points_nm):
        lines.append(("soma", np.stack([root, cell.axon_points_nm[0]])))
        lines.append(("axon", cell.axon_points_nm))
    return lines


def clipped_length_nm(points_nm: FloatArray, lo_nm: FloatArray, hi_nm: FloatArray) -> float:
    """Length of the part of a polyline (``(n, 3)`` points) inside the box ``[lo, hi]``.

    Each segment is clipped to the box (Liang-Barsky) and the lengths inside are summed.

    Examples
    --------
    >>> line = np.array([[0.0, 0.0, -5.0], [0.0, 0.0, 2.0], [0.0, 10.0, 2.0]])
    >>> clipped_length_nm(line, np.zeros(3), np.full(3, 4.0))  # 2 along x, then 4 along y
    6.0
    """
    p = np.asarray(points_nm, dtype=np.float64)
    if len(p) < 2:
        return 0.0
    a, d = p[:-1], np.diff(p, axis=0)
    t0, t1 = np.zeros(len(d)), np.ones(len(d))
    for axis in range(3):
        da, aa = d[:, axis], a[:, axis]
        moving = da != 0
        safe = np.where(moving, da, 1.0)
        ta, tb = (lo_nm[axis] - aa) / safe, (hi_nm[axis] - aa) / safe
        enter = np.where(moving, np.minimum(ta, tb), -np.inf)
        leave = np.where(moving, np.maximum(ta, tb), np.inf)
        outside = ~moving & ((aa < lo_nm[axis]) | (aa > hi_nm[axis]))
        t0 = np.maximum(t0, enter)
        t1 = np.where(outside, -np.inf, np.minimum(t1, leave))
    inside = np.clip(t1 - t0, 0.0, None)
    return float(np.sum(inside * np.linalg.norm(d, axis=1)))


def cable_length_nm(cell: Cell, g: Grid) -> float:
    """Total length (nm) of a cell's :func:`centre_lines_nm` between the first and the last
    voxel centres of the volume (``[0, (shape - 1) * voxel_size_nm]`` on each axis)."""
    lo = np.zeros(3)
    return float(sum(clipped_length_nm(line, lo, g.extent_nm) for line in centre_lines_nm(cell, g)))


def cable_length_in_cell_nm(
    cell: Cell,
    g: Grid,
    lab: NDArray[Any],
    step_nm: float = 2.5,
    kinds: tuple[str, ...] = ("soma", "dendrite", "axon"),
) -> float:
    """Length (nm) of a cell's :func:`centre_lines_nm` where they run through its own voxels.

    The lines are cut into pieces of at most ``step_nm``; a piece counts when the voxel
    nearest its midpoint or one of that voxel's 26 neighbours belongs to the cell in the final
    label volume ``lab`` (one voxel of slack, so that a thin neurite whose centre voxels a
    carved gap took away on one side still counts).  This leaves out what later stages took
    away: stretches under other cells drawn first (a neurite crossing another cell, a spine
    head inside a neighbour), gaps carved right through a neurite, and the parts outside the
    volume, except for the last voxel or so next to the cell: the slack also counts up to
    about one voxel diagonal (37 nm at 20 x 10 x 10 nm) past each place where another cell
    cuts the line.  It is about what a skeleton of the cell's voxels can recover; per cell,
    the choice of slack alone moves it by a median of 8 % on the dense benchmark phantom
    (``benchmarks/skeleton_errors.py``).  ``kinds`` limits the sum to lines of those
    compartments.
    """
    total = 0.0
    for kind, line in labelled_centre_lines_nm(cell, g):
        if kind not in kinds:
            continue
        mid, length = line_pieces_nm(line, step_nm)
        own = near_cell(lab, cell.label, mid, g.v)[1]
        total += float(np.sum(length[own]))
    return total


_NEIGHBOURS = np.stack(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing="ij"), -1)
_NEIGHBOURS = _NEIGHBOURS.reshape(-1, 3)


def line_pieces_nm(line: FloatArray, step_nm: float) -> tuple[FloatArray, FloatArray]:
    """A polyline (``(n, 3)`` points) cut into pieces of at most ``step_nm``: their midpoints
    ``(m, 3)`` and lengths ``(m,)``, each segment in equal pieces.

    Examples
    --------
    >>> mid, length = line_pieces_nm(np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 5.0]]), 2.0)
    >>> mid[:, 2].round(2).tolist(), length.round(2).tolist()
    ([0.83, 2.5, 4.17], [1.67, 1.67, 1.67])
    """
    a, b = line[:-1], line[1:]
    length = np.linalg.norm(b - a, axis=1)
    n = np.maximum(1, np.ceil(length / step_nm)).astype(np.int64)
    seg = np.repeat(np.arange(len(a)), n)
    frac = (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n) + 0.5) / n[seg]
    return a[seg] + (b - a)[seg] * frac[:, None], (length / n)[seg]


def near_cell(
    lab: NDArray[Any], label: int, points_nm: FloatArray, voxel_nm: FloatArray
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Per point (nm, ``z, y, x``): whether its nearest voxel is inside the volume, and whether
    that voxel or one of its 26 neighbours is ``label``'s (the slack of
    :func:`cable_length_in_cell_nm`)."""
    idx = np.rint(points_nm / voxel_nm).astype(np.int64)
    inside = np.all((idx >= 0) & (idx < lab.shape), axis=1)
    own = np.zeros(len(points_nm), dtype=bool)
    near = np.clip(idx[inside][:, None, :] + _NEIGHBOURS, 0, np.array(lab.shape) - 1)
    own[inside] = np.any(lab[near[..., 0], near[..., 1], near[..., 2]] == label, axis=1)
    return inside, own


def _label_sums(labels: NDArray[Any], n: int) -> tuple[NDArray[Any], ...]:
    """Labelled voxels ``z, y, x``, their labels, the voxel count of each label ``0..n`` and
    the sum of the ``(x, y, z)`` indices of its voxels (``(n + 1, 3)``)."""
    z, y, x = np.nonzero(labels)
    v = labels[z, y, x].astype(np.int64)
    count = np.bincount(v, minlength=n + 1)
    sums = np.stack([np.bincount(v, weights=w, minlength=n + 1) for w in (x, y, z)], axis=1)
    return z, y, x, v, count, sums


def _show_large_ids(scene: Scene, voxels: IntArray) -> None:
    """Swap ids so that cells present in the volume carry ids above 2**53 and 2**32."""
    for limit in (2**53, 2**32):
        shown = [c for c in scene.cells if voxels[c.label] > 0]
        if not shown or any(c.id > limit for c in shown):
            continue
        hidden = [c for c in scene.cells if voxels[c.label] == 0 and c.id > limit]
        if hidden:
            target = min(shown, key=lambda c: c.id)
            target.id, hidden[0].id = hidden[0].id, target.id


def _touching(scene: Scene, c: Contact) -> bool:
    """Whether the bouton's cell shares a voxel face with the target cell near the contact."""
    sl = scene.g.box(c.point_nm, 2.0 * c.bouton_radius_nm)
    if sl is None:
        return False
    region = scene.lab[sl]
    for lo, hi in face_pairs():
        x, y = region[lo], region[hi]
        if np.any(((x == c.pre) & (y == c.post)) | ((x == c.post) & (y == c.pre))):
            return True
    return False
