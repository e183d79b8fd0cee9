"""The neuron browser over a data set of 10,000 neurons (written straight into Neo4j with one
UNWIND): the first table shows within a second of navigation on loopback; sorted by body id,
pre, post or size the pages come from the server; a sort by another column is done in the
page, for up to 5,000 neurons passing the filter."""

from __future__ import annotations

import asyncio
import statistics

import pytest
from selenium.webdriver.common.by import By

from graph.schema import constraint_statements
from tests.conftest import with_reader
from tests.web.conftest import column, open_page, wait_for

DS, NEURONS = "web10k", 10_000
TYPES = ("KC", "MBON", "PN", "LN", "DAN")


@pytest.fixture(scope="module")
def big(neo4j_settings) -> str:
    """10,000 neurons with types, confidences and counts, and the data set's ``:Meta``."""
    rows = [
        {"bodyId": 10**15 + 7 * i, "type": TYPES[i % 5], "typeConfidence": (i % 100) / 100,
         "pre": i % 97, "post": (i * 7) % 89, "size": 1000 + i, "cableLengthNm": 10.0 * i,
         "status": "Traced"}
        for i in range(NEURONS)
    ]  # fmt: skip

    async def write(reader):
        for statement in constraint_statements(DS):
            await reader.write(statement)
        await reader.write(f"MATCH (n:`{DS}_Segment`) DETACH DELETE n")
        await reader.write(
            f"UNWIND $rows AS r CREATE (n:Segment:Neuron:`{DS}_Segment`:`{DS}_Neuron`) SET n = r",
            rows=rows,
        )
        await reader.write(
            f"MERGE (m:Meta:`{DS}_Meta` {{dataset: $ds}}) SET m.voxelSize = [8.0, 8.0, 8.0], "
            "m.voxelUnits = 'nanometers', m.totalPreCount = 0, m.totalPostCount = 0",
            ds=DS,
        )

    asyncio.run(with_reader(neo4j_settings, write))
    return DS


def first_table_ms(driver, url: str) -> float:
    """Milliseconds from the start of navigation to the first table in the page."""
    open_page(driver, url)
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#neuron-table tbody tr"))
    return float(driver.execute_script(
        "return performance.getEntriesByName('first-table')[0].startTime"))  # fmt: skip


def test_the_first_table_of_10000_neurons_shows_within_a_second(browser, web_url, big):
    url = f"{web_url}/#/neurons/{DS}"
    first_table_ms(browser, url)  # warm: Neo4j plans the queries, Chromium caches the scripts
    times = [first_table_ms(browser, url) for _ in range(3)]
    assert browser.find_element(By.ID, "neuron-count").text == f"{NEURONS:,} neurons"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#neuron-table tbody tr")) == 50
    print(f"first table of {NEURONS} neurons: {[round(t) for t in times]} ms")
    assert statistics.median(times) < 1000, times


def test_a_sort_by_pre_of_all_10000_neurons_comes_from_the_server_a_page_at_a_time(
    browser, web_url, big
):
    url = f"{web_url}/#/neurons/{DS}?sort=pre&dir=desc"
    first_table_ms(browser, url)
    times = [first_table_ms(browser, url) for _ in range(2)]
    print(f"10,000 neurons ordered by pre on the server: {[round(t) for t in times]} ms")
    assert statistics.median(times) < 1000, times
    every = sorted(((i % 97, 10**15 + 7 * i) for i in range(NEURONS)), reverse=True)
    assert [int(v) for v in column(browser, "neuron-table", 3)] == [p for p, _ in every[:50]]
    assert column(browser, "neuron-table", 0) == [str(b) for _, b in every[:50]]  # ties by body id
    browser.find_element(By.ID, "page-next").click()
    wait_for(lambda: browser.find_element(By.ID, "page-info").text == "51–100 of 10,000")
    assert column(browser, "neuron-table", 0) == [str(b) for _, b in every[50:100]]
    browser.find_element(By.ID, "page-prev").click()
    wait_for(lambda: browser.find_element(By.ID, "page-info").text == "1–50 of 10,000")


def test_a_sort_by_type_confidence_of_2000_filtered_neurons_is_done_in_the_page(
    browser, web_url, big
):
    url = f"{web_url}/#/neurons/{DS}?type=KC&sort=typeConfidence&dir=desc&page=1"
    first_table_ms(browser, url)
    times = [first_table_ms(browser, url) for _ in range(2)]
    print(
        f"2,000 KC neurons sorted by type confidence (all fetched): {[round(t) for t in times]} ms"
    )
    confidence = [float(v) for v in column(browser, "neuron-table", 2)]
    kc = sorted(((i % 100) / 100 for i in range(NEURONS) if TYPES[i % 5] == "KC"), reverse=True)
    assert confidence == pytest.approx(kc[50:100])
    assert browser.find_element(By.ID, "page-info").text == "51–100 of 2,000"


def test_a_sort_the_server_cannot_do_of_all_10000_asks_for_a_narrower_filter(browser, web_url, big):
    open_page(browser, f"{web_url}/#/neurons/{DS}?sort=typeConfidence&dir=desc")
    refused = browser.find_element(By.ID, "sort-refused").text
    assert refused.startswith(
        "Sorting by typeConfidence needs a narrower filter: 10,000 neurons match"
    )
