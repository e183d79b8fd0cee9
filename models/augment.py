"""Training augmentation for the voxel U-Nets (numpy only, one seeded generator per run).

:func:`augment` takes a raw crop ``(z, y, x)`` and its targets ``(classes, z, y, x)`` and
returns both transformed consistently:

- geometry, applied to raw and targets alike: flips along z, y and x; rotations by multiples
  of 90 degrees in the ``y, x`` plane (by 90 or 270 only when the crop is square in ``y, x``,
  so its shape is kept); a **misalignment** (all sections from a random z on shifted by a few
  pixels in ``y, x``, as when a section was registered badly);
- intensity, applied to the raw image only: **gamma** (``255 * (raw / 255) ** g``), Gaussian
  **noise**, Gaussian **blur** in ``y, x``, and **missing sections** (a slice replaced by its
  mean grey, or by black: the targets stay, the net must fill in from the neighbours).

The raw result is float32 in grey levels (0-255, not rounded), ready for
:func:`models.unet.normalise_raw`; targets keep their dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage


@dataclass(frozen=True)
class AugmentConfig:
    """What :func:`augment` may do, each with its probability per crop.

    Examples
    --------
    >>> AugmentConfig(missing_section_p=0.0).missing_section_p
    0.0
    """

    flip: bool = True
    rotate90: bool = True
    gamma_p: float = 0.5
    gamma_range: tuple[float, float] = (0.7, 1.4)
    noise_p: float = 0.5
    noise_std_max: float = 8.0
    blur_p: float = 0.3
    blur_sigma_max: float = 1.2
    missing_section_p: float = 0.15
    misalign_p: float = 0.15
    misalign_max_px: int = 4


def augment(
    raw: NDArray,
    target: NDArray,
    rng: np.random.Generator,
    config: AugmentConfig = AugmentConfig(),
) -> tuple[NDArray[np.float32], NDArray]:
    """Augment one crop: ``raw (z, y, x)`` and ``target (classes, z, y, x)``.

    Parameters
    ----------
    raw : ndarray
        Grey levels ``(z, y, x)`` (uint8 or float).
    target : ndarray
        Per-class masks ``(classes, z, y, x)``, aligned with ``raw``.
    rng : numpy.random.Generator
        The run's generator (the only source of randomness, so a seed repeats a run).
    config : AugmentConfig
        Which augmentations, how often and how strong.

    Returns
    -------
    raw : ndarray of float32
        Transformed grey levels, same shape.
    target : ndarray
        Transformed targets, same shape and dtype (contiguous).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> raw = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    >>> r, t = augment(raw, raw[None] > 20, rng)
    >>> r.shape, t.shape, r.dtype.name
    ((2, 4, 4), (1, 2, 4, 4), 'float32')
    """
    raw = np.asarray(raw, dtype=np.float32)
    target = np.asarray(target)
    if raw.ndim != 3 or target.ndim != 4 or target.shape[1:] != raw.shape:
        raise ValueError(
            f"augment needs raw (z, y, x) and target (classes, z, y, x) of the same "
            f"z, y, x shape; got {raw.shape} and {target.shape}"
        )
    raw, target = _geometry(raw, target, rng, config)
    raw = _intensity(raw, rng, config)
    return np.ascontiguousarray(raw, dtype=np.float32), np.ascontiguousarray(target)


def _geometry(
    raw: NDArray[np.float32], target: NDArray, rng: np.random.Generator, config: AugmentConfig
) -> tuple[NDArray[np.float32], NDArray]:
    if config.flip:
        for axis in range(3):
            if rng.random() < 0.5:
                raw = np.flip(raw, axis)
                target = np.flip(target, axis + 1)
    if config.rotate90:
        square = raw.shape[1] == raw.shape[2]
        k = int(rng.integers(4)) if square else 2 * int(rng.integers(2))
        raw = np.rot90(raw, k, axes=(1, 2))
        target = np.rot90(target, k, axes=(2, 3))
    if raw.shape[0] > 1 and rng.random() < config.misalign_p:
        z0 = int(rng.integers(1, raw.shape[0]))
        m = config.misalign_max_px
        dy, dx = (int(v) for v in rng.integers(-m, m + 1, size=2))
        raw = raw.copy()
        target = target.copy()
        raw[z0:] = np.roll(raw[z0:], (dy, dx), axis=(1, 2))
        target[:, z0:] = np.roll(target[:, z0:], (dy, dx), axis=(2, 3))
    return raw, target


def _intensity(
    raw: NDArray[np.float32], rng: np.random.Generator, config: AugmentConfig
) -> NDArray[np.float32]:
    raw = np.array(raw, dtype=np.float32)  # a copy: the caller's crop stays as it was
    if rng.random() < config.gamma_p:
        lo, hi = config.gamma_range
        g = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        raw = np.float32(255.0) * (np.clip(raw, 0, 255) / np.float32(255.0)) ** np.float32(g)
    if rng.random() < config.blur_p:
        sigma = float(rng.uniform(0.3, config.blur_sigma_max))
        raw = ndimage.gaussian_filter(raw, (0.0, sigma, sigma))
    if rng.random() < config.noise_p:
        std = float(rng.uniform(0.0, config.noise_std_max))
        raw = raw + rng.normal(0.0, std, raw.shape).astype(np.float32)
    if rng.random() < config.missing_section_p:
        z = int(rng.integers(raw.shape[0]))
        raw[z] = 0.0 if rng.random() < 0.5 else float(raw[z].mean())
    return np.clip(raw, 0.0, 255.0).astype(np.float32, copy=False)
