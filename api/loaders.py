"""Per-request DataLoaders: resolvers ask for one neuron or one partner list, the loaders send
one Cypher query per batch (so the number of round trips does not grow with the answer)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strawberry.dataloader import DataLoader

from graph import queries

Key = tuple[str, int]  # (dataset, body id)


def _by_dataset(keys: list[Key]) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for ds, body in keys:
        grouped.setdefault(ds, []).append(body)
    return grouped


@dataclass
class Loaders:
    neuron: DataLoader[Key, dict[str, Any] | None]
    upstream: DataLoader[Key, list[dict[str, Any]]]
    downstream: DataLoader[Key, list[dict[str, Any]]]


def make_loaders(reader: queries.Reader) -> Loaders:
    async def load_neurons(keys: list[Key]) -> list[dict[str, Any] | None]:
        found: dict[Key, dict[str, Any]] = {}
        for ds, bodies in _by_dataset(keys).items():
            for body, rec in (await queries.neurons_by_id(reader, ds, bodies)).items():
                found[(ds, body)] = rec
        return [found.get(k) for k in keys]

    def partner_loader(direction: str) -> DataLoader[Key, list[dict[str, Any]]]:
        async def load(keys: list[Key]) -> list[list[dict[str, Any]]]:
            found: dict[Key, list[dict[str, Any]]] = {}
            for ds, bodies in _by_dataset(keys).items():
                for body, rows in (await queries.partners(reader, ds, bodies, direction)).items():
                    found[(ds, body)] = rows
            return [found.get(k, []) for k in keys]

        return DataLoader(load_fn=load)

    return Loaders(
        neuron=DataLoader(load_fn=load_neurons),
        upstream=partner_loader("upstream"),
        downstream=partner_loader("downstream"),
    )
