"""Per-request DataLoaders: resolvers ask for one neuron, one partner list, one neuron's
synapses; the loaders send one Cypher query per batch of keys that share their parameters,
so the number of round trips does not grow with the length of the answer.

Every key is ``(dataset, body_id, *parameters)``; a batch is split by ``(dataset,
*parameters)`` and each group answered by one query over all its body ids.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from strawberry.dataloader import DataLoader

from graph import queries, synapse_queries

Key = tuple[Any, ...]  # (dataset, body id, *parameters), all hashable
Fetch = Callable[..., Awaitable[dict[int, Any]]]  # (dataset, body ids, *parameters) -> by body


def grouped_loader(fetch: Fetch, missing: Callable[[], Any]) -> DataLoader[Key, Any]:
    """A DataLoader that answers each group of keys sharing ``(dataset, *parameters)`` with
    one ``fetch(dataset, body_ids, *parameters)``; bodies it does not return get
    ``missing()``."""

    async def load(keys: list[Key]) -> list[Any]:
        groups: dict[tuple[Hashable, ...], list[int]] = {}
        for ds, body, *params in keys:
            groups.setdefault((ds, *params), []).append(body)
        found: dict[Key, Any] = {}
        for (ds, *params), bodies in groups.items():
            unique = list(dict.fromkeys(bodies))
            for body, value in (await fetch(ds, unique, *params)).items():
                found[(ds, body, *params)] = value
        return [found[k] if k in found else missing() for k in keys]

    return DataLoader(load_fn=load)


@dataclass
class Loaders:
    neuron: DataLoader[Key, dict[str, Any] | None]
    organelle_counts: DataLoader[Key, dict[str, Any] | None]
    upstream: DataLoader[Key, list[dict[str, Any]]]
    downstream: DataLoader[Key, list[dict[str, Any]]]
    compartments: DataLoader[Key, list[dict[str, Any]]]
    organelles: DataLoader[Key, list[dict[str, Any]]]
    synapses_of: DataLoader[Key, tuple[list[dict[str, Any]], bool]]
    meta: DataLoader[str, dict[str, Any] | None]


def make_loaders(reader: queries.Reader) -> Loaders:
    """The loaders of one request, all reading through ``reader``."""

    def partners(direction: str) -> Fetch:
        async def fetch(ds: str, bodies: list[int], min_weight: int) -> dict[int, Any]:
            return await queries.partners(reader, ds, bodies, direction, min_weight)

        return fetch

    async def neurons(ds: str, bodies: list[int]) -> dict[int, Any]:
        return await queries.neurons_by_id(reader, ds, bodies)

    async def counts(ds: str, bodies: list[int]) -> dict[int, Any]:
        return await queries.organelle_counts(reader, ds, bodies)

    async def compartments(ds: str, bodies: list[int]) -> dict[int, Any]:
        return await queries.compartments(reader, ds, bodies)

    async def organelles(ds: str, bodies: list[int], kind: str) -> dict[int, Any]:
        return await queries.organelles(reader, ds, bodies, kind)

    async def synapses_of(
        ds: str,
        bodies: list[int],
        direction: str,
        where_: synapse_queries.SynapseFilter | None,
        first: int,
        after: int | None,
        partner: bool,
    ) -> dict[int, Any]:
        return await synapse_queries.synapses_of(
            reader, ds, bodies, direction, first, after, where_, partner=partner
        )

    async def metas(datasets: list[str]) -> list[dict[str, Any] | None]:
        return [await queries.dataset_meta(reader, ds) for ds in datasets]

    return Loaders(
        neuron=grouped_loader(neurons, lambda: None),
        organelle_counts=grouped_loader(counts, lambda: None),
        upstream=grouped_loader(partners("upstream"), list),
        downstream=grouped_loader(partners("downstream"), list),
        compartments=grouped_loader(compartments, list),
        organelles=grouped_loader(organelles, list),
        synapses_of=grouped_loader(synapses_of, lambda: ([], False)),
        meta=DataLoader(load_fn=metas),
    )
