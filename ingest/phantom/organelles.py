"""Mitochondria of the phantom.

The placement test every mitochondrion passes, and the mitochondria of somata, dendrites and
boutons without a synapse (those next to junctions are planted by :mod:`.synapses`).
"""

from __future__ import annotations

import cc3d
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .geometry import CUBE3, FloatArray, frame, perp_unit, random_unit, unit
from .scene import Scene

FAR_MITO_NM = 550.0  # TypeA small synapses keep every own mitochondrion at least this far


def try_mito(
    scene: Scene,
    cell: int,
    centre: FloatArray,
    axes: FloatArray,
    radii: FloatArray,
    avoid_nm: FloatArray | None,
) -> bool:
    """Label an ellipsoidal mitochondrion if it fits.

    It must lie one voxel inside ``cell``, touch no junction, vesicle cloud or (within two
    voxels) other mitochondrion, be one connected piece and stay :data:`FAR_MITO_NM` from the
    points ``avoid_nm``.  Returns whether it was placed.
    """
    g = scene.g
    radii = np.maximum(radii, 0.6 * g.v.max())
    if avoid_nm is not None and avoid_nm.size:
        if np.min(np.linalg.norm(avoid_nm - centre, axis=1)) + radii.max() < FAR_MITO_NM:
            return False
    v = g.voxel(centre)
    if v is None or scene.lab[v] != cell:
        return False
    sl, m = g.ellipsoid(centre, axes, radii, pad=3)
    if sl is None or m is None or not m.any():
        return False
    if not np.all(scene.lab[sl][m] == cell):
        return False
    if np.any(scene.jid[sl][m]) or np.any(scene.ves[sl][m]):
        return False
    if not np.all(scene.inner(sl, cell, 1)[m]):
        return False
    others = scene.mid[sl] > 0
    if others.any() and np.any(others & ndimage.binary_dilation(m, CUBE3, iterations=2)):
        return False
    if cc3d.connected_components(m, connectivity=26).max() != 1:
        return False
    if (
        avoid_nm is not None
        and avoid_nm.size
        and (np.min(np.linalg.norm(avoid_nm - centre, axis=1)) - radii.max() < FAR_MITO_NM)
    ):
        d = cKDTree(g.coords_nm(sl, m)).query(avoid_nm)[0]
        if np.min(d) < FAR_MITO_NM:
            return False
    scene.n_mito += 1
    scene.mid[sl][m] = scene.n_mito
    scene.mito_cell.append(cell)
    return True


def avoid_points(scene: Scene) -> dict[int, FloatArray]:
    """Per cell, the contact points of its TypeA synapses that must stay far from its mitos."""
    out: dict[int, list[FloatArray]] = {}
    for c in scene.contacts:
        if c.jid and not c.near_mito and scene.cell(c.pre).type == "TypeA":
            out.setdefault(c.pre, []).append(c.point_nm)
    return {k: np.array(v) for k, v in out.items()}


def _random_shape(
    rng: np.random.Generator, half_length_nm: tuple[float, float], radius_nm: tuple[float, float]
) -> tuple[FloatArray, FloatArray]:
    """Principal axes (long axis flattened towards yx) and radii of a random ellipsoid."""
    long_axis = random_unit(rng, 0.35)
    axes = frame(long_axis, perp_unit(rng, long_axis))
    radii = np.array(
        [rng.uniform(*half_length_nm), rng.uniform(*radius_nm), rng.uniform(*radius_nm)]
    )
    return axes, radii


def place_other_mitos(scene: Scene) -> None:
    """Mitochondria in somata, dendrites and half of the boutons without a synapse."""
    rng = scene.rng
    avoid = avoid_points(scene)
    for cell in scene.cells:
        cell_avoid = avoid.get(cell.label)
        # somata (sample centres in the part of the soma inside the volume)
        lo = np.maximum(cell.soma_center_nm - 0.6 * cell.soma_radii_nm, 0.0)
        hi = np.minimum(cell.soma_center_nm + 0.6 * cell.soma_radii_nm, scene.g.extent_nm)
        for _ in range(int(rng.integers(1, 5)) if np.all(hi > lo) else 0):
            for _ in range(20):
                centre = lo + rng.random(3) * (hi - lo)
                axes, radii = _random_shape(rng, (125.0, 300.0), (60.0, 100.0))
                if try_mito(scene, cell.label, centre, axes, radii, cell_avoid):
                    break
        for den in cell.dendrites:
            for _ in range(int(rng.integers(0, 3))):
                for _ in range(6):
                    i = int(rng.integers(1, len(den.points_nm) - 1))
                    tangent = unit(den.points_nm[i + 1] - den.points_nm[i - 1])
                    axes = frame(tangent, perp_unit(rng, tangent))
                    r = min(45.0, float(den.radii_nm[i]) - 35.0)
                    radii = np.array([rng.uniform(100.0, 200.0), r, r])
                    if try_mito(scene, cell.label, den.points_nm[i], axes, radii, cell_avoid):
                        break
    for c in scene.contacts:  # boutons without a synapse
        if c.jid or rng.random() < 0.5:
            continue
        for _ in range(6):
            centre = c.bouton_center_nm + random_unit(rng) * 0.3 * c.bouton_radius_nm
            axes, radii = _random_shape(rng, (70.0, 120.0), (30.0, 45.0))
            if try_mito(scene, c.pre, centre, axes, radii, avoid.get(c.pre)):
                break
