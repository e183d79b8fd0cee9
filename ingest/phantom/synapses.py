"""Synapses of the phantom.

Junction sizes, junction discs, orphan (junction-like) decoys, the planted size/distance
effect (a mitochondrion next to each large TypeA junction) and vesicle clouds.
"""

from __future__ import annotations

import math

import cc3d
import numpy as np
from scipy import ndimage

from .geometry import CROSS, CUBE3, Mask, Slices, box_shape, perp_unit, random_unit, unit
from .organelles import avoid_points, try_mito
from .scene import Scene

_JUNCTION_RADIUS_NM = (60.0, 250.0)
_VESICLE_RADIUS_NM = (45.0, 80.0)
_NEAR_MITO_NM = (60.0, 200.0)


def assign_junction_sizes(scene: Scene) -> None:
    """Draw junction radii (log-uniform over ``_JUNCTION_RADIUS_NM``).

    TypeB: independent draws.  TypeA: along each axon one contiguous run of
    ``floor(k / 2)`` synapses draws from the upper half of the range and the rest from the
    lower half, the run chosen to keep large and small synapses far apart; so the large
    synapses (which get a mitochondrion in their bouton) do not sit next to small ones
    (which must be far from every mitochondrion of their cell).
    """
    rng = scene.rng
    lo, hi = np.log(_JUNCTION_RADIUS_NM[0]), np.log(_JUNCTION_RADIUS_NM[1])
    mid = 0.5 * (lo + hi)
    for c in scene.contacts:
        c.junction_radius_nm = float(np.exp(rng.uniform(lo, hi)))
    for cell in scene.cells:
        if cell.type != "TypeA":
            continue
        syn = [c for c in scene.contacts if c.pre == cell.label and c.synaptic]
        k = len(syn)
        n_large = k // 2
        best, best_gap = 0, -1.0
        pts = np.array([c.point_nm for c in syn]).reshape(-1, 3)
        for start in range(k - n_large + 1):
            inside = np.zeros(k, dtype=bool)
            inside[start : start + n_large] = True
            if n_large == 0 or inside.all():
                gap = np.inf
            else:
                diff = pts[inside][:, None, :] - pts[~inside][None, :, :]
                gap = float(np.min(np.linalg.norm(diff, axis=2)))
            if gap > best_gap:
                best, best_gap = start, gap
        for i, c in enumerate(syn):
            large = best <= i < best + n_large
            c.junction_radius_nm = float(
                np.exp(rng.uniform(mid, hi) if large else rng.uniform(lo, mid))
            )


def rasterise_junctions(scene: Scene) -> None:
    """Label each synaptic contact's junction: one connected patch of the disc on both cells."""
    g = scene.g
    next_jid = 1
    for c in scene.contacts:
        if not c.synaptic:
            continue
        half = g.half_thickness_nm(c.normal, 2.0)
        sl, disc = g.disc(c.point_nm, c.normal, c.junction_radius_nm, half, pad=1)
        if sl is None or disc is None:
            continue
        region = scene.lab[sl]
        jreg = scene.jid[sl]
        forbid = ndimage.binary_dilation(jreg > 0, structure=CUBE3)
        pair = (region == c.pre) | (region == c.post)
        # no junction voxel shares a face with a third cell (or another junction)
        third = ndimage.binary_dilation((region != 0) & ~pair, structure=CROSS)
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
    scene.n_synapse_labels = next_jid - 1


def place_orphans(scene: Scene) -> None:
    """A few junction-like decoy discs inside single cells, away from every contact."""
    rng, g = scene.rng, scene.g
    want = int(rng.integers(2, 5))
    contact_pts = np.array([c.point_nm for c in scene.contacts]).reshape(-1, 3)
    placed = 0
    for attempt in range(4000):
        relaxed = attempt >= 1500  # crowded volumes: smaller blobs, closer to contacts
        if placed >= want:
            break
        if attempt % 2:  # somata have the most room; otherwise anywhere
            cell = scene.cells[int(rng.integers(len(scene.cells)))]
            p = cell.soma_center_nm + rng.uniform(-0.7, 0.7, 3) * cell.soma_radii_nm
            v = g.voxel(p)
            if v is None:
                continue
        else:
            r3 = (rng.random(3) * g.shape).astype(np.int64)
            v = (int(r3[0]), int(r3[1]), int(r3[2]))
        label = int(scene.lab[v])
        if label == 0:
            continue
        centre = np.array(v) * g.v
        away_nm = 250.0 if relaxed else 350.0
        if contact_pts.size and np.min(np.linalg.norm(contact_pts - centre, axis=1)) < away_nm:
            continue
        n = random_unit(rng)
        radius = float(rng.uniform(30.0, 50.0) if relaxed else rng.uniform(40.0, 70.0))
        half = g.half_thickness_nm(n, 1.0)
        sl, disc = g.disc(centre, n, radius, half, pad=3)
        if sl is None or disc is None or not disc.any():
            continue
        inner = scene.inner(sl, label, margin=2)
        if not np.all(inner[disc]):
            continue
        near = ndimage.binary_dilation(disc, structure=CUBE3, iterations=2)
        if np.any(scene.jid[sl][near]) or np.any(scene.mid[sl][near]):
            continue
        if cc3d.connected_components(disc, connectivity=26).max() != 1:
            continue
        scene.n_synapse_labels += 1
        scene.jid[sl][disc] = scene.n_synapse_labels
        scene.orphan_cells.append(label)
        placed += 1


def place_synaptic_mitos(scene: Scene) -> None:
    """Plant the SyConn2 finding: TypeA large synapses get a mitochondrion in the bouton."""
    rng = scene.rng
    syn = [c for c in scene.contacts if c.jid]
    type_a = [c for c in syn if scene.cell(c.pre).type == "TypeA"]
    median = float(np.median([c.junction_radius_nm for c in type_a])) if type_a else 0.0
    for c in type_a:
        c.near_mito = c.junction_radius_nm > median
    # TypeB: a fair coin per synapse, balanced within pairs of similar size, so that
    # small and large synapses get the same mixture of near and far mitochondria
    type_b = sorted(
        (c for c in syn if scene.cell(c.pre).type != "TypeA"), key=lambda c: c.junction_radius_nm
    )
    for i in range(0, len(type_b), 2):
        pair = type_b[i : i + 2]
        first_near = bool(rng.random() < 0.5)
        pair[0].near_mito = first_near
        if len(pair) == 2:
            pair[1].near_mito = not first_near
    avoid = avoid_points(scene)
    for c in syn:
        if not c.near_mito:
            continue
        cell_avoid = avoid.get(c.pre)
        for attempt in range(100):
            shrink = 1.0 if attempt < 50 else 0.8
            d = float(rng.uniform(*_NEAR_MITO_NM))
            theta = float(rng.uniform(0.0, 1.3))
            t = perp_unit(rng, c.normal)
            u = unit(c.normal * math.cos(theta) + t * math.sin(theta))
            r = float(rng.uniform(30.0, 45.0)) * shrink
            half_len = float(rng.uniform(70.0, 130.0)) * shrink
            long_axis = perp_unit(rng, u)
            axes = np.stack([long_axis, np.cross(u, long_axis), u])
            centre = c.point_nm + u * (d + r)
            use_avoid = cell_avoid if attempt < 80 else None
            if try_mito(scene, c.pre, centre, axes, np.array([half_len, r, r]), use_avoid):
                c.mito_direction = u
                break


def place_vesicle_clouds(scene: Scene) -> None:
    """A speckled blob inside each synaptic bouton, next to (not on) its junction."""
    rng, g = scene.rng, scene.g
    for c in scene.contacts:
        if not c.jid:
            continue
        r_v = float(rng.uniform(*_VESICLE_RADIUS_NM))
        best: tuple[int, Slices | None, Mask | None] = (0, None, None)
        for attempt in range(8):
            direction = c.normal
            if attempt:  # tilt away from a cramped spot and shrink a little
                direction = unit(c.normal + 0.6 * perp_unit(rng, c.normal))
                r_v *= 0.9
            gap = g.half_thickness_nm(direction, 3.0)
            centre = c.point_nm + direction * (r_v + gap)
            if c.mito_direction is not None:
                lateral = c.mito_direction - c.normal * float(c.mito_direction @ c.normal)
                if np.linalg.norm(lateral) > 1e-6:
                    centre = centre - unit(lateral) * rng.uniform(0.2, 0.5) * r_v
            sl = g.box(centre, 1.6 * r_v, pad=2)
            if sl is None:
                continue
            blob = np.zeros(box_shape(sl), dtype=bool)
            for _ in range(4):
                sub = centre + rng.normal(0.0, 0.3 * r_v, size=3)
                rr = float(rng.uniform(0.55, 0.8)) * r_v
                blob |= g.dist2(sl, sub) <= rr * rr
            # strictly inside the bouton's cell: never touches the partner or another cell
            near_mito = ndimage.binary_dilation(scene.mid[sl] > 0, structure=CUBE3)
            blob &= scene.inner(sl, c.pre, 1) & ~near_mito & (scene.jid[sl] == 0)
            n = int(np.count_nonzero(blob))
            if n > best[0]:
                best = (n, sl, blob)
            full = 4.0 / 3.0 * math.pi * r_v**3 / float(np.prod(g.v))
            if n >= max(8.0, 0.3 * full):
                break
        if best[1] is not None and best[2] is not None:
            scene.ves[best[1]] |= best[2]
