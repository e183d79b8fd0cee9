"""Scores of voxel predictions and segmentations against a ground truth (numpy, scipy and
``fastremap``).

- :func:`binary_scores` and :func:`class_f1`: voxel-wise precision, recall and F1 of one mask
  or of every channel of a multilabel prediction, laid out ``(channel, z, y, x)`` (or
  ``(channel, y, x)``; any trailing shape works).
- :func:`contingency`: the sparse table of voxel counts of each (segment, ground-truth body)
  pair, from which the segmentation scores are computed in a few vectorised sums.
- :func:`variation_of_information`: split and merge parts of the variation of information
  (Meila 2007) in bits, as in CREMI: ``split = H(seg | gt)`` (over-segmentation: a body cut
  into pieces), ``merge = H(gt | seg)`` (under-segmentation: bodies fused).
- :func:`adapted_rand_error`: 1 - the F-score of the Rand precision and recall as defined by
  SNEMI3D and used by CREMI.

Background: voxels whose ground truth is in ``ignore_gt`` (default: 0, unlabelled) are left
out of every segmentation score, as in CREMI. The segmentation's label 0 is an ordinary
segment for the variation of information; for the adapted Rand error it means "unassigned"
and each such voxel counts as a segment of its own (the SNEMI3D rule).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import fastremap
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import sparse


def binary_scores(pred: ArrayLike, truth: ArrayLike) -> dict[str, float]:
    """Voxel-wise precision, recall and F1 of a predicted mask against a true one.

    Parameters
    ----------
    pred, truth : array_like of bool
        Masks of the same shape (non-zero is in the class).

    Returns
    -------
    dict
        ``precision``, ``recall`` and ``f1``. With no true and no predicted voxels the
        prediction is perfect (all three 1.0); otherwise an empty denominator gives 0.0.

    Examples
    --------
    >>> binary_scores([1, 1, 0, 0], [1, 0, 1, 0])
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5}
    >>> binary_scores([0, 0], [0, 0])
    {'precision': 1.0, 'recall': 1.0, 'f1': 1.0}
    """
    p = np.asarray(pred).astype(bool, copy=False)
    t = np.asarray(truth).astype(bool, copy=False)
    if p.shape != t.shape:
        raise ValueError(f"prediction has shape {p.shape} but truth has {t.shape}; expected equal")
    tp = int(np.count_nonzero(p & t))
    return _scores(tp, int(np.count_nonzero(p)), int(np.count_nonzero(t)))


def _scores(tp: int, predicted: int, true: int) -> dict[str, float]:
    if predicted == 0 and true == 0:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    precision = tp / predicted if predicted else 0.0
    recall = tp / true if true else 0.0
    f1 = 2 * tp / (predicted + true)
    return {"precision": precision, "recall": recall, "f1": f1}


def class_f1(
    pred: ArrayLike, truth: ArrayLike, classes: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Precision, recall and F1 of every channel of a multilabel prediction.

    Parameters
    ----------
    pred, truth : array_like of bool, shape ``(channel, ...)``
        One mask per class, channel first (a voxel may be in several classes).
    classes : sequence of str
        The channel names, in channel order.

    Returns
    -------
    dict
        ``{class: {"precision", "recall", "f1"}}`` (see :func:`binary_scores`).

    Examples
    --------
    >>> t = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], bool)
    >>> p = np.array([[1, 1, 1, 0], [0, 0, 0, 1]], bool)
    >>> {k: round(v["f1"], 3) for k, v in class_f1(p, t, ["cytosol", "membrane"]).items()}
    {'cytosol': 0.8, 'membrane': 0.667}
    """
    p = np.asarray(pred).astype(bool, copy=False)
    t = np.asarray(truth).astype(bool, copy=False)
    if p.shape != t.shape or p.shape[0] != len(classes):
        raise ValueError(f"prediction {p.shape} and truth {t.shape} must have the same shape, "
                         f"channel first, with one channel per class ({len(classes)})")  # fmt: skip
    axes = tuple(range(1, p.ndim))
    tp = np.count_nonzero(p & t, axis=axes)
    npred = np.count_nonzero(p, axis=axes)
    ntrue = np.count_nonzero(t, axis=axes)
    return {
        name: _scores(int(tp[c]), int(npred[c]), int(ntrue[c])) for c, name in enumerate(classes)
    }


def contingency(
    seg: ArrayLike, gt: ArrayLike, ignore_gt: Sequence[int] = (0,), ignore_seg: Sequence[int] = ()
) -> tuple[sparse.csr_matrix, NDArray[Any], NDArray[Any]]:
    """Voxel counts of every (segment, body) pair, as a sparse matrix.

    Parameters
    ----------
    seg, gt : array_like of int
        Segmentation and ground truth of the same shape.
    ignore_gt, ignore_seg : sequence of int
        Voxels with these labels are left out.

    Returns
    -------
    table : scipy.sparse.csr_matrix of int64, shape ``(n_segments, n_bodies)``
        ``table[i, j]`` is the number of voxels in segment ``seg_ids[i]`` and body ``gt_ids[j]``.
    seg_ids, gt_ids : ndarray
        The labels of the rows and columns, in order of first appearance.

    Examples
    --------
    >>> table, s, g = contingency([[1, 1, 2, 0]], [[5, 5, 5, 0]])
    >>> table.toarray().tolist(), s.tolist(), g.tolist()
    ([[2], [1]], [1, 2], [5])
    """
    s = np.asarray(seg).ravel()
    g = np.asarray(gt).ravel()
    if s.shape != g.shape:
        raise ValueError(f"segmentation has {s.size} voxels but ground truth has {g.size}")
    keep = np.ones(s.shape, bool)
    for v in ignore_gt:
        keep &= g != v
    for v in ignore_seg:
        keep &= s != v
    if not keep.all():
        s, g = s[keep], g[keep]
    si, seg_ids = _dense(s)
    gi, gt_ids = _dense(g)
    pairs, counts = fastremap.unique(si * np.uint64(gt_ids.size) + gi, return_counts=True)
    rows, cols = np.divmod(pairs, np.uint64(max(gt_ids.size, 1)))
    table = sparse.csr_matrix(
        (counts.astype(np.int64), (rows.astype(np.intp), cols.astype(np.intp))),
        shape=(seg_ids.size, gt_ids.size),
    )
    return table, seg_ids, gt_ids


def _dense(labels: NDArray[Any]) -> tuple[NDArray[np.uint64], NDArray[Any]]:
    """Labels renumbered ``0..k-1`` (hash-based: ``np.unique`` sorts and is far slower) and
    the original label of each new number."""
    dense, mapping = fastremap.renumber(labels, start=0, preserve_zero=False)
    ids = np.empty(len(mapping), dtype=labels.dtype)
    ids[np.fromiter(mapping.values(), np.int64, len(mapping))] = np.fromiter(
        mapping.keys(), labels.dtype, len(mapping)
    )
    return dense.astype(np.uint64, copy=False), ids


def variation_of_information(
    seg: ArrayLike, gt: ArrayLike, ignore_gt: Sequence[int] = (0,), ignore_seg: Sequence[int] = ()
) -> dict[str, float]:
    """Split and merge variation of information, in bits.

    ``split = H(seg | gt)`` grows when a true body is cut into several segments;
    ``merge = H(gt | seg)`` grows when a segment spans several bodies. Voxels whose label is
    in ``ignore_gt`` (default 0) or ``ignore_seg`` are left out (CREMI's convention).

    Parameters
    ----------
    seg, gt : array_like of int
        Segmentation and ground truth of the same shape.
    ignore_gt, ignore_seg : sequence of int
        Labels whose voxels do not count.

    Returns
    -------
    dict
        ``voi_split``, ``voi_merge`` and their sum ``voi`` (bits); all 0.0 when nothing counts.

    Examples
    --------
    Two equal bodies fused into one segment cost one bit of merge; cutting one body into two
    equal halves costs one bit of split:

    >>> variation_of_information([1, 1, 1, 1], [1, 1, 2, 2])
    {'voi_split': 0.0, 'voi_merge': 1.0, 'voi': 1.0}
    >>> variation_of_information([1, 1, 2, 2], [7, 7, 7, 7])
    {'voi_split': 1.0, 'voi_merge': 0.0, 'voi': 1.0}
    >>> variation_of_information([3, 3, 4, 9], [1, 1, 2, 0])  # gt 0 ignored: a relabelling
    {'voi_split': 0.0, 'voi_merge': 0.0, 'voi': 0.0}
    """
    table, _, _ = contingency(seg, gt, ignore_gt, ignore_seg)
    n = table.sum()
    if n == 0:
        return {"voi_split": 0.0, "voi_merge": 0.0, "voi": 0.0}
    coo = table.tocoo()
    p_ij = coo.data / n
    p_seg = np.asarray(table.sum(axis=1)).ravel() / n
    p_gt = np.asarray(table.sum(axis=0)).ravel() / n
    split = float(-np.sum(p_ij * np.log2(p_ij / p_gt[coo.col])))
    merge = float(-np.sum(p_ij * np.log2(p_ij / p_seg[coo.row])))
    split = split if split > 0 else 0.0  # -0.0 and rounding below zero
    merge = merge if merge > 0 else 0.0
    return {"voi_split": split, "voi_merge": merge, "voi": split + merge}


def adapted_rand_error(
    seg: ArrayLike, gt: ArrayLike, ignore_gt: Sequence[int] = (0,)
) -> dict[str, float]:
    """Adapted Rand error (SNEMI3D, CREMI): 1 - F-score of Rand precision and recall.

    With ``n_ij`` the voxels of segment ``i`` in body ``j``, ``a_j`` the body sizes and
    ``b_i`` the segment sizes (voxels of ``ignore_gt`` bodies left out), precision is
    ``sum n_ij² / sum b_i²`` (pairs in one segment that are also in one body) and recall
    ``sum n_ij² / sum a_j²``. Segment label 0 means unassigned: each such voxel is a segment
    of its own (SNEMI3D's rule; CREMI's Python port adds ``count / n`` where this adds
    ``count``, which only differs when the segmentation leaves voxels at 0).

    Parameters
    ----------
    seg, gt : array_like of int
        Segmentation and ground truth of the same shape.
    ignore_gt : sequence of int
        Ground-truth labels whose voxels do not count (default: 0).

    Returns
    -------
    dict
        ``arand`` (0 is perfect, 1 the worst), ``precision`` and ``recall``.

    Examples
    --------
    Fusing two equal bodies halves the precision (F = 2/3):

    >>> r = adapted_rand_error([1, 1, 1, 1], [1, 1, 2, 2])
    >>> round(r["arand"], 4), r["precision"], r["recall"]
    (0.3333, 0.5, 1.0)
    >>> adapted_rand_error([4, 4, 5, 5], [1, 1, 2, 2])["arand"]
    0.0
    """
    table, seg_ids, _ = contingency(seg, gt, ignore_gt, ())
    if table.nnz == 0:
        return {"arand": 0.0, "precision": 1.0, "recall": 1.0}
    unassigned = seg_ids == 0
    gt_sizes = np.asarray(table.sum(axis=0), dtype=np.float64).ravel()
    seg_sizes = np.asarray(table.sum(axis=1), dtype=np.float64).ravel()
    coo = table.tocoo()
    counts = coo.data.astype(np.float64)
    singles = float(seg_sizes[unassigned].sum())
    sum_a = float(gt_sizes @ gt_sizes)
    sum_b = float(seg_sizes[~unassigned] @ seg_sizes[~unassigned]) + singles
    assigned = ~unassigned[coo.row]
    sum_ab = float(counts[assigned] @ counts[assigned]) + singles
    precision, recall = sum_ab / sum_b, sum_ab / sum_a
    f = 2.0 * precision * recall / (precision + recall)
    return {"arand": max(0.0, 1.0 - f), "precision": precision, "recall": recall}
