"""Organelle masks: the label layers that mark mitochondria, vesicle clouds and junctions."""

from __future__ import annotations

import numpy as np


def binarize(layer: np.ndarray) -> np.ndarray:
    """A 0/1 or 0/255 mask, or a uint8 probability map, as a boolean mask.

    Examples
    --------
    >>> binarize(np.array([0, 1, 1], np.uint8)).tolist()
    [False, True, True]
    >>> binarize(np.array([0, 100, 200, 255], np.uint8)).tolist()
    [False, False, True, True]
    """
    arr = np.asarray(layer)
    if arr.dtype == bool:
        return arr
    return arr >= 128 if arr.size and arr.max() > 1 else arr > 0
