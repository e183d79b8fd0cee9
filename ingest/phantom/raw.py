"""The phantom's EM-like raw image, rendered from the label volumes.

Light cytoplasm, dark membranes at every cell boundary, darker mitochondria with a dark rim,
vesicle clouds as dark dots on a light lumen and very dark junctions; smooth texture, a slight
blur and noise.  Drawn with the scene's texture generator only, so it does not disturb the
geometry.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from .geometry import face_pairs
from .scene import Scene


def render_raw(scene: Scene) -> NDArray[np.uint8]:
    """The uint8 raw image of the scene's final label volumes."""
    rng, g, lab = scene.tex_rng, scene.g, scene.lab
    shape = lab.shape
    vmin = float(g.v.min())
    sigma_tex = tuple(float(1.0 * vmin / v) for v in g.v)
    texture = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma_tex)
    texture *= np.float32(1.0 / max(float(texture.std()), 1e-6))
    raw = np.where(lab > 0, np.float32(165.0), np.float32(112.0))
    raw += 5.0 * texture
    mito = scene.mid > 0
    raw[mito] = 100.0 + 9.0 * texture[mito]
    ves = scene.ves  # vesicles: dark dots (bright texture peaks) on a light lumen
    raw[ves] = np.where(texture[ves] > 0.6, np.float32(60.0), np.float32(185.0))
    del texture
    membrane = np.zeros(shape, dtype=bool)
    mito_edge = np.zeros(shape, dtype=bool)
    for lo, hi in face_pairs():
        x, y = lab[lo], lab[hi]
        diff = x != y
        membrane[lo] |= diff & (x != 0)
        membrane[hi] |= diff & (y != 0)
        mx, my = mito[lo], mito[hi]
        mdiff = mx != my
        mito_edge[lo] |= mdiff & mx
        mito_edge[hi] |= mdiff & my
    raw[membrane] = 45.0
    raw[mito_edge] = 60.0
    raw[scene.jid > 0] = 30.0
    del membrane, mito_edge
    sigma_blur = tuple(float(0.8 * vmin / v) for v in g.v)
    raw = ndimage.gaussian_filter(raw, sigma_blur)
    raw += 8.0 * rng.standard_normal(shape, dtype=np.float32)
    return np.clip(np.rint(raw), 0, 255).astype(np.uint8)
