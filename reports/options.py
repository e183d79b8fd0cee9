"""The options of each report kind (dataclasses: the filters, their defaults and help), the
registry of kinds, and the command-line arguments made from the options, so that
``connectome report`` and ``python -m reports`` offer the same ones. Light on purpose: building
the ``connectome`` parser imports this, not the graph driver or matplotlib."""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MitoSynapseOptions:
    """The filters (``connectome report mito-synapse --help`` shows each)."""

    cell_types: tuple[str, ...] | None = field(
        default=None, metadata={"help": "cell types to compare (default: every type there is)"}
    )
    min_synapse_confidence: float = field(
        default=0.5,
        metadata={"help": "keep synapses with at least this confidence (default 0.5, the "
                  "graph's high-accuracy threshold, Meta.postHighAccuracyThreshold)"},
    )  # fmt: skip
    min_type_confidence: float = field(
        default=0.0,
        metadata={"help": "keep neurons whose type has at least this confidence (default 0: "
                  "every typed neuron, also those typed by hand without a confidence)"},
    )  # fmt: skip
    min_axon_path_um: float = field(
        default=1.0, metadata={"help": "keep neurons with at least this much axon (µm)"}
    )
    min_dendrite_path_um: float = field(
        default=1.0, metadata={"help": "keep neurons with at least this much dendrite (µm)"}
    )
    min_soma_path_um: float = field(
        default=0.0,
        metadata={"help": "keep neurons with at least this much soma skeleton (µm; 0: any, "
                  "also none)"},
    )  # fmt: skip
    compartment: str | None = field(
        default=None,
        metadata={"help": "keep synapses onto this postsynaptic compartment or site "
                  "(dendrite, soma, axon, spine_head, shaft; default: all)"},
    )  # fmt: skip

    def describe(self) -> str:
        """The filters in one sentence.

        Examples
        --------
        >>> MitoSynapseOptions().describe()  # doctest: +NORMALIZE_WHITESPACE
        'synapse confidence ≥ 0.5, type confidence ≥ 0, axon ≥ 1 µm, dendrite ≥ 1 µm,
        soma ≥ 0 µm, onto any compartment'
        """
        return (
            f"synapse confidence ≥ {self.min_synapse_confidence:g}, type confidence ≥ "
            f"{self.min_type_confidence:g}, axon ≥ {self.min_axon_path_um:g} µm, dendrite ≥ "
            f"{self.min_dendrite_path_um:g} µm, soma ≥ {self.min_soma_path_um:g} µm, onto "
            f"{self.compartment or 'any compartment'}"
        )


@dataclass(frozen=True)
class ConnectivityOptions:
    """The filters (``connectome report connectivity --help`` shows each)."""

    cell_types: tuple[str, ...] | None = field(
        default=None, metadata={"help": "cell types of the matrix (default: every type there is)"}
    )
    min_weight: int = field(
        default=1,
        metadata={"help": "count only neuron pairs connected by at least this many synapses"},
    )


@dataclass(frozen=True)
class Kind:
    """One kind of report: what it is, its options, the module whose ``build`` coroutine
    makes it, and how many steps it reports progress for (writing the files is one more)."""

    help: str
    options: type
    module: str
    steps: int


KINDS: dict[str, Kind] = {
    "mito-synapse": Kind(
        "SyConn2's synapse–mitochondrion distances per cell type (KS tests, synapses per µm "
        "of axon)",
        MitoSynapseOptions,
        "reports.mito_synapse",
        6,
    ),
    "connectivity": Kind(
        "the cell-type connectivity matrix as heatmaps",
        ConnectivityOptions,
        "reports.connectivity",
        3,
    ),
}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_option_arguments(parser: argparse.ArgumentParser, options: type) -> None:
    """One ``--flag`` per field of the ``options`` dataclass: tuples take one or more values,
    the rest one value of the field's type; the default and help come from the field.

    Examples
    --------
    >>> p = argparse.ArgumentParser()
    >>> add_option_arguments(p, ConnectivityOptions)
    >>> p.parse_args(["--cell-types", "A", "B", "--min-weight", "3"])
    Namespace(cell_types=['A', 'B'], min_weight=3)
    """
    hints = typing.get_type_hints(options)
    for f in dataclasses.fields(options):
        (kind,) = set(typing.get_args(hints[f.name])) - {type(None)} or {hints[f.name]}
        help_ = f.metadata.get("help", "")
        if typing.get_origin(kind) is tuple:
            parser.add_argument(_flag(f.name), nargs="+", metavar="NAME", help=help_)
            continue
        if "default" not in help_:
            help_ += f" (default: {f.default})"
        parser.add_argument(_flag(f.name), type=kind, default=f.default, help=help_)


def options_from(args: argparse.Namespace, options: type) -> Any:
    """The ``options`` dataclass filled from parsed arguments (lists become tuples).

    Examples
    --------
    >>> options_from(argparse.Namespace(cell_types=["A"], min_weight=2), ConnectivityOptions)
    ConnectivityOptions(cell_types=('A',), min_weight=2)
    """
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(options)}
    return options(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def add_parsers(sub: Any) -> None:
    """A subcommand per report kind under ``sub`` (an ``add_subparsers`` action); each sets
    ``report_kind``."""
    for name, kind in KINDS.items():
        p = sub.add_parser(name, help=kind.help, description=kind.help)
        p.add_argument("--dataset", required=True, help="a loaded data set")
        p.add_argument("--out", required=True, type=Path,
                       help="folder for report.html, report.pdf and report.json")  # fmt: skip
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        add_option_arguments(p, kind.options)
        p.set_defaults(report_kind=name)
