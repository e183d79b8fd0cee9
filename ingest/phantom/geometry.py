"""Geometry of the phantom: vector helpers and the voxel grid that rasterises primitives.

Shapes are planned in nanometres in ``(z, y, x)`` order; :class:`Grid` turns them into index
boxes and boolean masks.  A voxel with index ``i`` has its centre at ``i * voxel_size_nm``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

FloatArray = NDArray[np.float64]
Mask = NDArray[np.bool_]
Slices = tuple[slice, slice, slice]
Raster = tuple[Slices | None, Mask | None]  # a shape's box and its mask inside it (or None)

CUBE3 = np.ones((3, 3, 3), dtype=bool)
CROSS = ndimage.generate_binary_structure(3, 1)


def unit(v: FloatArray) -> FloatArray:
    """``v`` scaled to length one."""
    return v / np.linalg.norm(v)


def random_unit(rng: np.random.Generator, z_scale: float = 1.0) -> FloatArray:
    """Random unit vector; ``z_scale < 1`` flattens the distribution towards the yx plane."""
    d = rng.normal(size=3)
    d[0] *= z_scale
    n = np.linalg.norm(d)
    return d / n if n > 1e-9 else np.array([0.0, 1.0, 0.0])


def perp_unit(rng: np.random.Generator, axis: FloatArray, z_scale: float = 1.0) -> FloatArray:
    """Random unit vector perpendicular to the unit vector ``axis``."""
    for _ in range(16):
        d = random_unit(rng, z_scale)
        d = d - axis * float(d @ axis)
        n = np.linalg.norm(d)
        if n > 1e-3:
            return d / n
    d = np.cross(axis, [1.0, 0.0, 0.0])
    if np.linalg.norm(d) < 1e-3:
        d = np.cross(axis, [0.0, 1.0, 0.0])
    return unit(d)


def frame(a: FloatArray, b: FloatArray) -> FloatArray:
    """Rows ``a``, ``b`` and ``a x b``: principal axes for :meth:`Grid.ellipsoid`."""
    return np.stack([a, b, np.cross(a, b)])


def ellipsoid_ray_nm(radii_nm: FloatArray, direction: FloatArray) -> float:
    """Distance from an axis-aligned ellipsoid's centre to its surface along a unit vector."""
    return float(1.0 / np.sqrt(np.sum((direction / radii_nm) ** 2)))


def box_shape(sl: Slices) -> tuple[int, int, int]:
    """Shape of the array region ``sl``."""
    return sl[0].stop - sl[0].start, sl[1].stop - sl[1].start, sl[2].stop - sl[2].start


def face_pairs() -> Iterator[tuple[tuple[slice, ...], tuple[slice, ...]]]:
    """Per axis, index tuples ``(lo, hi)`` such that ``a[lo]`` and ``a[hi]`` share a face."""
    for a in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[a] = slice(None, -1)
        hi[a] = slice(1, None)
        yield tuple(lo), tuple(hi)


class Grid:
    """Voxel grid of a volume: bounding boxes, voxel-centre coordinates in nm, shape masks."""

    def __init__(self, shape_zyx: tuple[int, int, int], voxel_size_nm_zyx: FloatArray):
        self.shape = np.asarray(shape_zyx, dtype=np.int64)
        self.v = np.asarray(voxel_size_nm_zyx, dtype=np.float64)
        self.extent_nm = (self.shape - 1) * self.v  # centre of the last voxel
        self.min_tube_nm = 0.87 * float(self.v.max())  # thinner tubes may break apart

    def box(self, center_nm: FloatArray, radius_nm: float, pad: int = 0) -> Slices | None:
        """Voxel box (clipped to the volume) around a ball, grown by ``pad`` voxels."""
        lo = np.floor((center_nm - radius_nm) / self.v).astype(np.int64) - pad
        hi = np.ceil((center_nm + radius_nm) / self.v).astype(np.int64) + 1 + pad
        lo = np.maximum(lo, 0)
        hi = np.minimum(hi, self.shape)
        if np.any(hi <= lo):
            return None
        return (
            slice(int(lo[0]), int(hi[0])),
            slice(int(lo[1]), int(hi[1])),
            slice(int(lo[2]), int(hi[2])),
        )

    def rel(self, sl: Slices, center_nm: FloatArray) -> list[FloatArray]:
        """Broadcastable z, y, x voxel-centre offsets (nm) from ``center_nm`` inside ``sl``."""
        out = []
        for a in range(3):
            c = np.arange(sl[a].start, sl[a].stop, dtype=np.float64) * self.v[a] - center_nm[a]
            shape = [1, 1, 1]
            shape[a] = c.size
            out.append(c.reshape(shape))
        return out

    def dist2(self, sl: Slices, center_nm: FloatArray) -> FloatArray:
        """Squared distance (nm^2) of each voxel centre in ``sl`` from ``center_nm``."""
        dz, dy, dx = self.rel(sl, center_nm)
        return dz * dz + dy * dy + dx * dx

    def coords_nm(self, sl: Slices, mask: Mask) -> FloatArray:
        """``(n, 3)`` zyx voxel-centre coordinates (nm) of the voxels of ``mask`` in ``sl``."""
        idx = np.nonzero(mask)
        return np.stack([(idx[a] + sl[a].start) * self.v[a] for a in range(3)], axis=1)

    def inside(self, p_nm: FloatArray, margin_vx: float = 0.0) -> bool:
        """Whether ``p_nm`` lies at least ``margin_vx`` voxels inside the volume."""
        m = margin_vx * self.v
        return bool(np.all(p_nm >= m) and np.all(p_nm <= self.extent_nm - m))

    def voxel(self, p_nm: FloatArray) -> tuple[int, int, int] | None:
        """Index of the voxel whose centre is nearest ``p_nm`` (None outside the volume)."""
        i = np.round(p_nm / self.v).astype(np.int64)
        if np.any(i < 0) or np.any(i >= self.shape):
            return None
        return int(i[0]), int(i[1]), int(i[2])

    # shape masks ------------------------------------------------------------------------
    def sphere(self, center_nm: FloatArray, r_nm: float, pad: int = 0) -> Raster:
        """Ball of radius ``r_nm``."""
        sl = self.box(center_nm, r_nm, pad)
        if sl is None:
            return None, None
        return sl, self.dist2(sl, center_nm) <= r_nm * r_nm

    def ellipsoid(
        self, center_nm: FloatArray, axes: FloatArray, radii_nm: FloatArray, pad: int = 0
    ) -> Raster:
        """Oriented ellipsoid; ``axes`` rows are unit principal axes (z, y, x components)."""
        sl = self.box(center_nm, float(np.max(radii_nm)), pad)
        if sl is None:
            return None, None
        dz, dy, dx = self.rel(sl, center_nm)
        q = np.zeros(box_shape(sl))
        for i in range(3):
            q += ((axes[i, 0] * dz + axes[i, 1] * dy + axes[i, 2] * dx) / radii_nm[i]) ** 2
        return sl, q <= 1.0

    def capsule(self, p0: FloatArray, p1: FloatArray, r0: float, r1: float) -> Raster:
        """Tube from ``p0`` to ``p1`` whose radius goes linearly from ``r0`` to ``r1``."""
        r0, r1 = max(r0, self.min_tube_nm), max(r1, self.min_tube_nm)
        mid = 0.5 * (p0 + p1)
        sl = self.box(mid, 0.5 * float(np.linalg.norm(p1 - p0)) + max(r0, r1))
        if sl is None:
            return None, None
        d = p1 - p0
        l2 = float(d @ d)
        if l2 < 1e-9:
            return sl, self.dist2(sl, p0) <= r0 * r0
        dz, dy, dx = self.rel(sl, p0)
        t = np.clip((dz * d[0] + dy * d[1] + dx * d[2]) / l2, 0.0, 1.0)
        ez, ey, ex = dz - t * d[0], dy - t * d[1], dx - t * d[2]
        r = r0 + t * (r1 - r0)
        return sl, ez * ez + ey * ey + ex * ex <= r * r

    def half_thickness_nm(self, normal: FloatArray, voxels: float) -> float:
        """``voxels`` voxel steps measured along ``normal`` (anisotropy aware)."""
        return voxels * float(np.sqrt(np.sum((normal * self.v) ** 2))) + 1e-6

    def disc(
        self, center_nm: FloatArray, normal: FloatArray, r_nm: float, half_nm: float, pad: int = 0
    ) -> Raster:
        """Flat disc of radius ``r_nm``, ``half_nm`` thick on each side of its plane."""
        sl = self.box(center_nm, r_nm + half_nm, pad)
        if sl is None:
            return None, None
        dz, dy, dx = self.rel(sl, center_nm)
        w = normal[0] * dz + normal[1] * dy + normal[2] * dx
        rad2 = dz * dz + dy * dy + dx * dx - w * w
        return sl, (np.abs(w) <= half_nm) & (rad2 <= r_nm * r_nm)
