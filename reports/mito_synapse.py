"""The mitochondria–synapse report: SyConn2's analysis (Schubert et al., thesis fig. 5.6).

Per cell type, the straight-line distance from each synapse its neurons make to the
presynaptic cell's nearest mitochondrion, the synapses split at the type's median cleft area
into small (≤ median) and large (> median), against SyConn2's random control (points on the
type's axon surfaces, each with its nearest mitochondrion): cumulative distributions and
two-sided Kolmogorov–Smirnov tests (small vs large, each vs the control), computed by
:func:`graph.analysis.summarise` exactly as GraphQL's ``mitoSynapseDistances``. Then the
synapses per µm of axon of each neuron, per cell type as a box plot, with two-sided
Mann–Whitney U tests between the types.

The filters are the thesis's: neurons by type confidence and by minimum path length of axon,
dendrite and soma; synapses by confidence and, optionally, by the postsynaptic compartment.
The random control covers the same neurons: those of each type that pass the filters.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from graph import queries
from graph.analysis import (
    CellTypeSummary,
    DistanceStats,
    KsTest,
    floats,
    median_split,
    summarise,
)
from graph.queries import NeuronFilter, Reader
from graph.synapse_queries import control_point_samples, mito_synapse_rows
from reports.document import Report, Table, filters_table, number
from reports.inputs import ReportError, check_loaded, chosen_types, neurons
from reports.options import MitoSynapseOptions

KIND = "mito-synapse"  # its name in reports.options.KINDS
COLOURS = {"small": "#1f77b4", "large": "#d62728", "control": "#7f7f7f"}


def neuron_filter(options: MitoSynapseOptions, cell_types: list[str]) -> NeuronFilter:
    """The neurons whose synapses count; a path length of 0 leaves that criterion out
    (a neuron without that compartment passes).

    Examples
    --------
    >>> f = neuron_filter(MitoSynapseOptions(min_axon_path_um=2), ["A"])
    >>> f.min_axon_path_length_nm, f.min_dendrite_path_length_nm, f.min_soma_path_length_nm
    (2000.0, 1000.0, None)
    """

    def nm(um: float) -> float | None:
        return um * 1000.0 if um > 0 else None

    return NeuronFilter(
        types=tuple(cell_types),
        min_type_confidence=options.min_type_confidence or None,
        min_axon_path_length_nm=nm(options.min_axon_path_um),
        min_dendrite_path_length_nm=nm(options.min_dendrite_path_um),
        min_soma_path_length_nm=nm(options.min_soma_path_um),
    )


@dataclass
class TypeResult:
    """One cell type's numbers: the summary of :func:`graph.analysis.summarise`, the distance
    samples behind it and each kept neuron's synapses per µm of axon."""

    summary: CellTypeSummary
    samples_nm: dict[str, np.ndarray]
    neurons: int
    density: list[dict[str, Any]]


async def gather(
    reader: Reader, dataset: str, options: MitoSynapseOptions, step: Callable[[str], None]
) -> dict[str, TypeResult]:
    """Read the graph and compute each cell type's numbers; ``step`` names each stage."""
    step("data set")
    await check_loaded(reader, dataset)
    types = chosen_types(dataset, options.cell_types, await queries.cell_types(reader, dataset))
    step("neurons")
    kept = await neurons(reader, dataset, neuron_filter(options, types))
    step("synapses")
    bodies = {n["bodyId"] for n in kept}
    rows = await mito_synapse_rows(
        reader, dataset, types, options.min_synapse_confidence, options.min_type_confidence,
        options.compartment,
    )  # fmt: skip
    rows = [r for r in rows if r["pre"] in bodies]
    if not rows:
        raise ReportError(
            f"no synapse made by cell types {', '.join(types)} of data set {dataset!r} passes "
            f"the filters ({options.describe()}); relax them"
        )
    step("control points")
    controls = await control_point_samples(
        reader, dataset, types, options.min_type_confidence, sorted(bodies)
    )
    step("statistics")
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_type[r["cellType"]].append(r)
    out = {}
    for t in types:
        mine = by_type[t]
        areas = floats([r["areaNm2"] for r in mine])
        dist = floats([r["euclideanNm"] for r in mine])
        control = floats(controls.get(t, []))
        summary = summarise(t, areas, dist, control)
        _, small, large = median_split(areas, dist)  # the samples behind the summary
        samples = {"small": np.sort(small), "large": np.sort(large),
                   "control": np.sort(control[~np.isnan(control)])}  # fmt: skip
        made = Counter(r["pre"] for r in mine)
        density = [
            {"bodyId": str(n["bodyId"]), "synapses": made[n["bodyId"]],
             "axon_um": n["axonPathLengthNm"] / 1000.0,
             "per_um": made[n["bodyId"]] / (n["axonPathLengthNm"] / 1000.0)}
            for n in kept
            if n["type"] == t and (n["axonPathLengthNm"] or 0) > 0
        ]  # fmt: skip
        out[t] = TypeResult(
            summary=summary,
            samples_nm=samples,
            neurons=sum(n["type"] == t for n in kept),
            density=density,
        )
    return out


def _stats(s: DistanceStats, values: np.ndarray) -> dict[str, Any]:
    return {**asdict(s), "distances_nm": [round(float(v), 2) for v in values]}


def ks_numbers(test: KsTest | None, a: str, b: str, sa: DistanceStats, sb: DistanceStats) -> Any:
    """One KS test as report.json holds it, with its samples' sizes and medians.

    Examples
    --------
    >>> ks_numbers(KsTest(0.5, 0.01), "small", "large", DistanceStats(3, 1.0, 0.5, 2.0),
    ...            DistanceStats(4, 9.0, 8.0, 10.0))  # doctest: +NORMALIZE_WHITESPACE
    {'statistic': 0.5, 'pvalue': 0.01, 'n_small': 3, 'n_large': 4, 'median_small_nm': 1.0,
     'median_large_nm': 9.0}
    """
    if test is None:
        return None
    return {"statistic": test.statistic, "pvalue": test.pvalue, f"n_{a}": sa.n, f"n_{b}": sb.n,
            f"median_{a}_nm": sa.median_nm, f"median_{b}_nm": sb.median_nm}  # fmt: skip


def mann_whitney(results: dict[str, TypeResult]) -> list[dict[str, Any]]:
    """Two-sided Mann–Whitney U tests of synapses per µm of axon, every pair of types with
    neurons on both sides."""
    out = []
    for a, b in itertools.combinations(results, 2):
        xa = [d["per_um"] for d in results[a].density]
        xb = [d["per_um"] for d in results[b].density]
        if not xa or not xb:
            continue
        test = stats.mannwhitneyu(xa, xb, alternative="two-sided")
        out.append({"a": a, "b": b, "statistic": float(test.statistic),
                    "pvalue": float(test.pvalue), "n_a": len(xa), "n_b": len(xb)})  # fmt: skip
    return out


def _quartiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "q1": None, "q3": None}
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3)}


def numbers(results: dict[str, TypeResult], options: MitoSynapseOptions) -> dict[str, Any]:
    """Everything report.json holds besides its head."""
    types: dict[str, Any] = {}
    for t, r in results.items():
        s = r.summary
        per_um = [d["per_um"] for d in r.density]
        types[t] = {
            "neurons": r.neurons,
            "synapses": s.synapses,
            "median_area_nm2": s.median_area_nm2,
            "small": _stats(s.small, r.samples_nm["small"]),
            "large": _stats(s.large, r.samples_nm["large"]),
            "control": _stats(s.control, r.samples_nm["control"]),
            "ks_small_vs_large": ks_numbers(s.ks_small_vs_large, "small", "large", s.small,
                                            s.large),
            "ks_small_vs_control": ks_numbers(s.ks_small_vs_control, "small", "control",
                                              s.small, s.control),
            "ks_large_vs_control": ks_numbers(s.ks_large_vs_control, "large", "control",
                                              s.large, s.control),
            "synapses_per_um_axon": {"n_neurons": len(per_um), **_quartiles(per_um),
                                     "per_neuron": r.density},
        }  # fmt: skip
    filters = asdict(options)
    filters["cell_types"] = list(results)
    return {
        "filters": filters,
        "cell_types": types,
        "mann_whitney_synapses_per_um_axon": mann_whitney(results),
    }


def _cdf(ax: Any, values: np.ndarray, label: str, colour: str, dashed: bool = False) -> None:
    if len(values) == 0:
        return
    y = np.arange(1, len(values) + 1) / len(values)
    ax.step(np.r_[0.0, values / 1000.0], np.r_[0.0, y], where="post", color=colour,
            label=f"{label} (n={len(values)})", linestyle="--" if dashed else "-")  # fmt: skip


def cdf_figure(results: dict[str, TypeResult]) -> Figure:
    """One panel per cell type: cumulative distributions of the synapse–mitochondrion
    distance of small and large synapses and of the control."""
    n = len(results)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.2 * cols, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (t, r) in zip(axes, results.items(), strict=False):
        _cdf(ax, r.samples_nm["small"], "small synapses", COLOURS["small"])
        _cdf(ax, r.samples_nm["large"], "large synapses", COLOURS["large"])
        _cdf(ax, r.samples_nm["control"], "control (axon surface)", COLOURS["control"], True)
        ks = r.summary.ks_small_vs_large
        ax.set_title(f"{t}: small vs large p = {number(ks.pvalue, 2) if ks else '–'}")
        ax.set_xlabel("distance to the nearest mitochondrion (µm)")
        ax.set_ylabel("cumulative fraction")
        ax.set_ylim(0, 1.02)
        ax.set_xlim(left=0)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes[n:]:
        ax.set_axis_off()
    return fig


def density_figure(results: dict[str, TypeResult], tests: list[dict[str, Any]]) -> Figure:
    """A box plot of synapses per µm of axon per cell type, each neuron a dot."""
    fig = Figure(figsize=(max(4.0, 1.3 * len(results) + 2), 4.0), layout="constrained")
    ax = fig.subplots()
    values = [[d["per_um"] for d in r.density] for r in results.values()]
    ax.boxplot(values, tick_labels=list(results), showfliers=False)
    rng = np.random.default_rng(0)
    for i, v in enumerate(values, 1):
        ax.plot(i + rng.uniform(-0.12, 0.12, len(v)), v, "o", color="k", ms=3, alpha=0.6)
    ax.set_ylabel("synapses per µm of axon")
    ax.set_ylim(bottom=0)
    if len(tests) == 1:
        t = tests[0]
        ax.set_title(f"Mann–Whitney U = {t['statistic']:g}, p = {number(t['pvalue'], 2)}")
    elif tests:
        ax.set_title("pairwise Mann–Whitney U tests in the table")
    return fig


def tables(doc: dict[str, Any]) -> list[Table]:
    """The tables of the report, from report.json's numbers."""
    types = doc["cell_types"]
    dist = Table(
        "Distance from synapse to the nearest presynaptic mitochondrion (nm): medians "
        "[quartiles]; small: cleft area ≤ the type's median",
        ["cell type", "neurons", "synapses", "median area (nm²)", "small n", "small",
         "large n", "large", "control n", "control"],
        [[t, str(v["neurons"]), str(v["synapses"]), number(v["median_area_nm2"])]
         + [c for k in ("small", "large", "control") for c in (str(v[k]["n"]), _iqr(v[k]))]
         for t, v in types.items()],
    )  # fmt: skip
    ks_rows = []
    for t, v in types.items():
        for key, name in (("ks_small_vs_large", "small vs large"),
                          ("ks_small_vs_control", "small vs control"),
                          ("ks_large_vs_control", "large vs control")):  # fmt: skip
            test = v[key]
            if test is None:
                ks_rows.append([t, name, "–", "–", "–", "–"])
                continue
            a, b = (k.removeprefix("n_") for k in test if k.startswith("n_"))
            ks_rows.append([t, name, number(test["statistic"]), number(test["pvalue"]),
                            str(test[f"n_{a}"]), str(test[f"n_{b}"])])  # fmt: skip
    ks = Table("Two-sided Kolmogorov–Smirnov tests", ["cell type", "comparison", "D", "p",
                                                      "n 1", "n 2"], ks_rows)  # fmt: skip
    density = Table(
        "Synapses per µm of axon per neuron",
        ["cell type", "neurons", "median", "q1", "q3"],
        [[t, str(v["synapses_per_um_axon"]["n_neurons"])]
         + [number(v["synapses_per_um_axon"][k]) for k in ("median", "q1", "q3")]
         for t, v in types.items()],
    )  # fmt: skip
    mw = Table(
        "Two-sided Mann–Whitney U tests of synapses per µm of axon",
        ["type 1", "type 2", "U", "p", "n 1", "n 2"],
        [[m["a"], m["b"], number(m["statistic"]), number(m["pvalue"]), str(m["n_a"]),
          str(m["n_b"])] for m in doc["mann_whitney_synapses_per_um_axon"]],
    )  # fmt: skip
    return [filters_table(doc["filters"]), dist, ks, density, mw]


def _iqr(s: dict[str, Any]) -> str:
    return f"{number(s['median_nm'])} [{number(s['q1_nm'])}–{number(s['q3_nm'])}]"


async def build(
    reader: Reader, dataset: str, options: MitoSynapseOptions, step: Callable[[str], None]
) -> Report:
    """The whole report (numbers, tables, figures) for ``dataset``."""
    results = await gather(reader, dataset, options, step)
    step("figures")
    doc = numbers(results, options)
    notes = [f"Filters: {options.describe()}."]
    return Report(
        kind=KIND,
        title="Synapse–mitochondrion distances per cell type (SyConn2, thesis fig. 5.6)",
        dataset=dataset,
        numbers=doc,
        tables=tables(doc),
        figures=[
            ("Cumulative distributions of the distance from each synapse to the nearest "
             "mitochondrion of the presynaptic cell: small (cleft area ≤ the type's median) "
             "and large synapses, and the random control on the type's axon surfaces.",
             cdf_figure(results)),
            ("Synapses per µm of axon, one dot per neuron.",
             density_figure(results, doc["mann_whitney_synapses_per_um_axon"])),
        ],
        notes=notes,
    )  # fmt: skip
