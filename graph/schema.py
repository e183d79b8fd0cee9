"""The graph schema: neuPrint's labels and relationships, our additions, and the allow-list of
names that may be spliced into Cypher (everything else travels as a parameter)."""

from __future__ import annotations

import re

# Node kinds: neuPrint's, then ours (a cell's compartments and SyConn2's control points on
# axon surfaces); each node also carries the data-set-prefixed label "<ds>_<kind>".
NODE_KINDS = ("Segment", "Neuron", "SynapseSet", "Synapse", "ElementSet", "Element", "Meta",
              "Compartment", "ControlPoint")  # fmt: skip
RELATIONSHIPS = ("ConnectsTo", "Contains", "SynapsesTo", "CloseTo", "HasCompartment", "Includes")
DATA_MODEL_VERSION = 1.2
WHOLE_VOLUME_ROI = "whole_volume"  # the one ROI of a data set that brings none of its own

DATASET_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class DatasetNameError(ValueError):
    """A data set name that cannot become a Neo4j label prefix."""


def check_dataset(name: str) -> str:
    """Return ``name`` if it is a valid data set name, else raise one clear sentence.

    Data set names become label prefixes (``fib25_Neuron``), so they are restricted to a
    letter followed by letters, digits and underscores.

    Examples
    --------
    >>> check_dataset("fib25")
    'fib25'
    >>> check_dataset("my data")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graph.schema.DatasetNameError: data set name 'my data' is not allowed; use a letter ...
    """
    if not isinstance(name, str) or not DATASET_PATTERN.match(name):
        raise DatasetNameError(
            f"data set name {name!r} is not allowed; use a letter followed by letters, digits "
            "or underscores (at most 64)"
        )
    return name


def label(dataset: str, kind: str) -> str:
    """The backticked data-set label for ``kind``, safe to splice into Cypher.

    Examples
    --------
    >>> label("fib25", "Neuron")
    '`fib25_Neuron`'
    """
    if kind not in NODE_KINDS:
        raise ValueError(f"unknown node kind {kind!r}")
    return f"`{check_dataset(dataset)}_{kind}`"


def constraint_statements(dataset: str) -> list[str]:
    """Constraints and indexes of one data set (idempotent: ``IF NOT EXISTS``).

    Examples
    --------
    >>> print(constraint_statements("ds")[0])  # doctest: +NORMALIZE_WHITESPACE
    CREATE CONSTRAINT ds_Segment_bodyId IF NOT EXISTS FOR (n:`ds_Segment`)
    REQUIRE n.bodyId IS UNIQUE
    """
    ds = check_dataset(dataset)
    unique = [
        ("Segment", ("bodyId",)),
        ("SynapseSet", ("datasetBodyIds",)),
        ("Element", ("elementId",)),
        ("ElementSet", ("datasetBodyIdsType",)),
        ("Meta", ("dataset",)),
        ("Compartment", ("bodyId", "type")),
        ("ControlPoint", ("pointId",)),
    ]
    indexed = [
        ("Neuron", "bodyId"),
        ("Neuron", "type"),
        ("Synapse", "synapseId"),
        ("Synapse", "location"),
        ("Element", "location"),
        ("Compartment", "bodyId"),
        ("ControlPoint", "bodyId"),
        ("ControlPoint", "location"),
    ]
    out = []
    for kind, props in unique:
        key = ", ".join(f"n.{p}" for p in props)
        out.append(
            f"CREATE CONSTRAINT {ds}_{kind}_{'_'.join(props)} IF NOT EXISTS "
            f"FOR (n:{label(ds, kind)}) REQUIRE {key if len(props) == 1 else f'({key})'} IS UNIQUE"
        )
    for kind, prop in indexed:
        kind_of_index = "POINT INDEX" if prop == "location" else "INDEX"
        out.append(
            f"CREATE {kind_of_index} {ds}_{kind}_{prop} IF NOT EXISTS "
            f"FOR (n:{label(ds, kind)}) ON (n.{prop})"
        )
    # cross-data-set lookups as neuprint-python does them (MATCH (n:Neuron {bodyId: …}))
    out += [
        "CREATE INDEX Segment_bodyId IF NOT EXISTS FOR (n:Segment) ON (n.bodyId)",
        "CREATE INDEX Neuron_bodyId IF NOT EXISTS FOR (n:Neuron) ON (n.bodyId)",
        # neuprint-python selects neurons by type and instance (NeuronCriteria) on :Neuron;
        # without these its custom Cypher scans every neuron of every data set
        "CREATE INDEX Neuron_type IF NOT EXISTS FOR (n:Neuron) ON (n.type)",
        "CREATE INDEX Neuron_instance IF NOT EXISTS FOR (n:Neuron) ON (n.instance)",
        "CREATE INDEX Meta_dataset IF NOT EXISTS FOR (n:Meta) ON (n.dataset)",
    ]
    return out
