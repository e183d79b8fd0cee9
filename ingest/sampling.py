"""The sampled grid of meshes and skeletons: every ``xy_step``-th voxel in y and x.

Samples sit on voxels ``0, s, 2s, ...`` of the volume, so that chunks whose y and x starts
are multiples of ``s`` sample the same grid and their pieces meet.
"""

from __future__ import annotations

import numpy as np


def sampled_labels(
    compact_labels: np.ndarray,
    offset_zyx: tuple[int, int, int],
    xy_step: int,
    presampled: bool = False,
) -> tuple[np.ndarray, tuple[int, int, int]]:
    """Check a label array (the volume or a chunk at ``offset_zyx``) and return its samples
    and its offset as Python ints.

    With ``presampled`` the array already holds only the samples (a strided read).

    Examples
    --------
    >>> s, offset = sampled_labels(np.zeros((2, 4, 6), np.uint32), (0, 8, 2), 2)
    >>> s.shape, offset
    ((2, 2, 3), (0, 8, 2))
    >>> sampled_labels(np.zeros((2, 4, 6), np.uint32), (0, 3, 0), 2)
    Traceback (most recent call last):
    ...
    ValueError: offset_zyx (0, 3, 0) must have y and x multiples of xy_step 2
    """
    labels = np.asarray(compact_labels)
    if labels.ndim != 3 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"compact_labels must be a 3-D integer array [z, y, x], got {labels.dtype} "
            f"with shape {labels.shape}"
        )
    if xy_step < 1:
        raise ValueError(f"xy_step must be a positive integer, got {xy_step}")
    z0, y0, x0 = (int(o) for o in offset_zyx)
    if y0 % xy_step or x0 % xy_step:
        raise ValueError(
            f"offset_zyx {tuple(offset_zyx)} must have y and x multiples of xy_step {xy_step}"
        )
    return (labels if presampled else labels[:, ::xy_step, ::xy_step]), (z0, y0, x0)
