"""Analyses over the query library, shared by the API and the reports.

:func:`mito_synapse_distances` is SyConn2's mitochondria–synapse analysis (Schubert et al.,
thesis fig. 5.6) as one call: for the synapses made by neurons of some cell types, the
straight-line distance from each synapse to the presynaptic cell's nearest mitochondrion;
per cell type, the synapses split at that type's median cleft area into small (≤ median) and
large (> median), with medians, quartiles and two-sided Kolmogorov–Smirnov tests of small vs
large and of each against the random control (points on the type's axon surfaces, each with
its nearest mitochondrion).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from graph.queries import Reader
from graph.synapse_queries import control_point_samples, mito_synapse_rows, mito_synapse_samples


@dataclass(frozen=True)
class DistanceStats:
    """Count, median and quartiles (nm) of a sample of distances (``None`` when empty)."""

    n: int
    median_nm: float | None
    q1_nm: float | None
    q3_nm: float | None

    @classmethod
    def of(cls, values: np.ndarray) -> DistanceStats:
        """
        Examples
        --------
        >>> DistanceStats.of(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
        DistanceStats(n=5, median_nm=3.0, q1_nm=2.0, q3_nm=4.0)
        >>> DistanceStats.of(np.array([])).median_nm is None
        True
        """
        if len(values) == 0:
            return cls(0, None, None, None)
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        return cls(len(values), float(median), float(q1), float(q3))


@dataclass(frozen=True)
class KsTest:
    """A two-sided two-sample Kolmogorov–Smirnov test."""

    statistic: float
    pvalue: float

    @classmethod
    def of(cls, a: np.ndarray, b: np.ndarray) -> KsTest | None:
        """The test of ``a`` against ``b``, or ``None`` when either is empty.

        Examples
        --------
        >>> KsTest.of(np.arange(50.0), np.arange(50.0) + 100).pvalue < 1e-6
        True
        """
        if len(a) == 0 or len(b) == 0:
            return None
        result = stats.ks_2samp(a, b, alternative="two-sided")
        return cls(float(result.statistic), float(result.pvalue))


@dataclass(frozen=True)
class CellTypeSummary:
    """One cell type's synapses split at the median cleft area, and the control."""

    cell_type: str
    synapses: int
    median_area_nm2: float | None
    small: DistanceStats
    large: DistanceStats
    control: DistanceStats
    ks_small_vs_large: KsTest | None
    ks_small_vs_control: KsTest | None
    ks_large_vs_control: KsTest | None


@dataclass
class MitoSynapseAnalysis:
    """Per-synapse rows (with ``large``: area above the type's median), the summaries and
    the control distances behind them per cell type."""

    synapses: list[dict[str, Any]] = field(default_factory=list)
    summary: list[CellTypeSummary] = field(default_factory=list)
    controls: dict[str, list[float]] = field(default_factory=dict)


def median_split(
    areas_nm2: np.ndarray, distances_nm: np.ndarray
) -> tuple[float | None, np.ndarray, np.ndarray]:
    """The median cleft area and the distances of the small (area ≤ median) and the large
    synapses; a synapse without an area or a distance is in neither.

    Examples
    --------
    >>> median_split(np.array([1.0, 2, 3, np.nan]), np.array([10.0, np.nan, 30, 40]))
    (2.0, array([10.]), array([30.]))
    """
    areas = np.asarray(areas_nm2, float)
    dist = np.asarray(distances_nm, float)
    has_area = ~np.isnan(areas)
    median = float(np.median(areas[has_area])) if has_area.any() else None
    large = has_area & (areas > (median if median is not None else np.inf))
    small = has_area & ~large
    measured = ~np.isnan(dist)
    return median, dist[small & measured], dist[large & measured]


def summarise(
    cell_type: str, areas_nm2: np.ndarray, distances_nm: np.ndarray, control_nm: np.ndarray
) -> CellTypeSummary:
    """Split one type's synapses at their median cleft area and test the distances.

    ``areas_nm2`` and ``distances_nm`` are per synapse, NaN where unknown: a synapse without
    an area counts in neither half, one without a distance (its cell has no mitochondrion)
    counts in ``synapses`` but in no distance sample.

    Examples
    --------
    >>> s = summarise("A", np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 300, 400]),
    ...               np.array([100.0, 200.0]))
    >>> s.median_area_nm2, s.small.median_nm, s.large.median_nm, s.control.n
    (2.5, 15.0, 350.0, 2)
    """
    median, small_nm, large_nm = median_split(areas_nm2, distances_nm)
    control_nm = np.asarray(control_nm, float)
    control_nm = control_nm[~np.isnan(control_nm)]
    return CellTypeSummary(
        cell_type=cell_type,
        synapses=len(areas_nm2),
        median_area_nm2=median,
        small=DistanceStats.of(small_nm),
        large=DistanceStats.of(large_nm),
        control=DistanceStats.of(control_nm),
        ks_small_vs_large=KsTest.of(small_nm, large_nm),
        ks_small_vs_control=KsTest.of(small_nm, control_nm),
        ks_large_vs_control=KsTest.of(large_nm, control_nm),
    )


def floats(values: list[Any]) -> np.ndarray:
    """Values as a float array, ``None`` as NaN.

    Examples
    --------
    >>> floats([1, None, 2.5]).tolist()
    [1.0, nan, 2.5]
    """
    return np.array([np.nan if v is None else v for v in values], float)


def type_matrices(
    types: list[str], rows: list[dict[str, Any]]
) -> tuple[list[list[int]], list[list[int]]]:
    """The synapse and neuron-pair matrices (pre type × post type, as lists) from the rows
    of :func:`graph.queries.cell_type_connectivity`; rows of other types are left out.

    Examples
    --------
    >>> type_matrices(["A", "B"], [{"pre": "A", "post": "B", "weight": 5, "pairs": 2}])
    ([[0, 5], [0, 0]], [[0, 2], [0, 0]])
    """
    index = {t: i for i, t in enumerate(types)}
    weights = np.zeros((len(types), len(types)), int)
    pairs = np.zeros_like(weights)
    for r in rows:
        if r["pre"] in index and r["post"] in index:
            weights[index[r["pre"]], index[r["post"]]] = r["weight"]
            pairs[index[r["pre"]], index[r["post"]]] = r["pairs"]
    return weights.tolist(), pairs.tolist()


async def mito_synapse_distances(
    reader: Reader,
    dataset: str,
    cell_types: list[str],
    min_confidence: float = 0.0,
    min_type_confidence: float = 0.0,
    compartment: str | None = None,
    with_rows: bool = True,
) -> MitoSynapseAnalysis:
    """SyConn2's analysis for the synapses made by neurons of ``cell_types`` (see the
    module); ``compartment`` keeps the synapses onto that postsynaptic compartment or site
    (e.g. ``dendrite``, ``soma``, ``spine_head``). The summaries come from two aggregating
    queries (one record per cell type); ``with_rows`` adds a third for the per-synapse rows,
    each marked ``large`` (cleft area above its type's median) or not."""
    samples = await mito_synapse_samples(
        reader, dataset, cell_types, min_confidence, min_type_confidence, compartment
    )
    controls = await control_point_samples(reader, dataset, cell_types, min_type_confidence)
    out = MitoSynapseAnalysis(controls=controls)
    for cell_type in cell_types:
        pairs = samples.get(cell_type, [])
        out.summary.append(
            summarise(
                cell_type,
                floats([p[0] for p in pairs]),
                floats([p[1] for p in pairs]),
                floats(controls.get(cell_type, [])),
            )
        )
    if with_rows:
        medians = {s.cell_type: s.median_area_nm2 for s in out.summary}
        out.synapses = await mito_synapse_rows(
            reader, dataset, cell_types, min_confidence, min_type_confidence, compartment
        )
        for r in out.synapses:
            median = medians.get(r["cellType"])
            known = r["areaNm2"] is not None and median is not None
            r["large"] = bool(r["areaNm2"] > median) if known else None
    return out
