"""The notebook client against the real server: DataFrames with exact uint64 body ids."""

from __future__ import annotations

import pytest

from connectome import Client
from connectome.client import QueryError

A, B = 2**53 + 7, 12


def test_client_returns_neurons_and_synapses_as_dataframes(api_url, tiny_dataset):
    client = Client(api_url)
    neurons = client.neurons("tiny", page_size=1)  # two pages
    assert sorted(neurons["bodyId"]) == [B, A]
    syn = client.synapses("tiny", pre=A)
    assert syn[["pre", "post"]].values.tolist() == [[A, B]]
    assert syn["mitoDistanceNm"].iloc[0] == pytest.approx((95**2 + 5**2 + 10**2) ** 0.5)


def test_client_raises_the_servers_message(api_url):
    with pytest.raises(QueryError, match="data set name 'x y' is not allowed"):
        Client(api_url).query('{ neurons(dataset: "x y") { totalCount } }')
