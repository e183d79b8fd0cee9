"""The web client in a real headless Chromium against the real API on loopback, over the typed
phantom: the neuron browser (search, filters, sorting), the neuron page (partners, synapses,
plots) and the analysis page."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.conftest import PHANTOM_DATASET as DS
from tests.web.conftest import column, graphql, open_page, table, wait_for


@pytest.fixture(scope="module")
def site(web_url, exported) -> dict:
    return {"url": web_url, "truth": exported}


def test_the_browser_page_lists_every_neuron_of_the_data_set(browser, site):
    open_page(browser, f"{site['url']}/#/neurons/{DS}")
    ids = column(browser, "neuron-table", 0)
    assert sorted(ids) == sorted(str(c["id"]) for c in site["truth"]["cells"])
    assert browser.find_element(By.ID, "neuron-count").text == f"{len(ids)} neurons"
    assert ids == sorted(ids, key=int)  # the server's order: by body id


def test_a_search_by_type_returns_exactly_the_neurons_of_that_type(browser, site):
    open_page(browser, f"{site['url']}/#/neurons/{DS}")
    box = browser.find_element(By.NAME, "q")
    box.send_keys("typea")  # part of a type, any case
    box.submit()
    wait_for(
        lambda: "q=typea" in browser.current_url and browser.find_element(By.ID, "neuron-table")
    )
    want = sorted(str(c["id"]) for c in site["truth"]["cells"] if c["type"] == "TypeA")
    wait_for(lambda: sorted(column(browser, "neuron-table", 0)) == want, what="the TypeA neurons")
    assert set(column(browser, "neuron-table", 1)) == {"TypeA"}


def test_a_search_by_body_id_and_a_minimum_pre_count_filter_the_table(browser, site):
    cells = [str(c["id"]) for c in site["truth"]["cells"]]
    open_page(browser, f"{site['url']}/#/neurons/{DS}?q={cells[0]},{cells[1]}")
    assert sorted(column(browser, "neuron-table", 0)) == sorted(cells[:2])
    pre = {n["bodyId"]: n["pre"] for n in graphql(
        site["url"], "query($ds: String!) { neurons(dataset: $ds) { nodes { bodyId pre } } }",
        ds=DS)["neurons"]["nodes"]}  # fmt: skip
    bar = sorted(pre.values())[len(pre) // 2]
    open_page(browser, f"{site['url']}/#/neurons/{DS}?minPre={bar}")
    assert sorted(column(browser, "neuron-table", 0)) == sorted(
        b for b, p in pre.items() if p >= bar
    )


def test_clicking_a_column_header_sorts_the_table_and_the_order_is_in_the_url(browser, site):
    open_page(browser, f"{site['url']}/#/neurons/{DS}")

    def header() -> Any:  # the table is drawn again after each click
        return wait_for(
            lambda: browser.find_element(By.CSS_SELECTOR, "#neuron-table th[data-key=pre]")
        )

    header().click()
    wait_for(lambda: header().get_attribute("aria-sort") == "ascending", what="the ascending sort")
    header().click()
    wait_for(
        lambda: header().get_attribute("aria-sort") == "descending", what="the descending sort"
    )
    assert "sort=pre" in browser.current_url and "dir=desc" in browser.current_url
    counts = [int(v) for v in column(browser, "neuron-table", 3)]
    assert counts == sorted(counts, reverse=True) and len(counts) == len(site["truth"]["cells"])
    url = browser.current_url
    open_page(browser, url)  # the same view from its URL
    assert [int(v) for v in column(browser, "neuron-table", 3)] == counts


def test_the_neuron_page_shows_its_partners_with_weights_as_links(browser, site):
    body = str(site["truth"]["cells"][0]["id"])
    answer = graphql(site["url"], """query($ds: String!, $id: BodyId!) { neuron(dataset: $ds,
        bodyId: $id) { upstream { bodyId weight } downstream { bodyId weight }
        compartments { type } mitochondrionCount } }""", ds=DS, id=body)["neuron"]  # fmt: skip
    open_page(browser, f"{site['url']}/#/neuron/{DS}/{body}")
    assert body in browser.find_element(By.ID, "neuron-title").text
    for side in ("upstream", "downstream"):
        shown = [(r[0], int(r[2])) for r in table(browser, side)]
        assert shown == [(p["bodyId"], p["weight"]) for p in answer[side]]
        assert shown, f"the phantom's cell has {side} partners"
    assert sorted(column(browser, "compartments", 0)) == sorted(
        c["type"] for c in answer["compartments"]
    )
    assert browser.find_element(By.ID, "mito-count").text == str(answer["mitochondrionCount"])
    # each partner is a link to its own page
    partner = answer["upstream"][0]["bodyId"]
    browser.find_element(By.CSS_SELECTOR, "#upstream a.partner").click()
    wait_for(lambda: partner in browser.find_element(By.ID, "neuron-title").text,
             what="the partner's page")  # fmt: skip


def test_the_neuron_page_lists_its_synapses_sortably_with_both_plots(browser, site):
    body = str(site["truth"]["cells"][1]["id"])
    truth = [s for s in site["truth"]["synapses"] if body in (str(s["pre"]), str(s["post"]))]
    open_page(browser, f"{site['url']}/#/neuron/{DS}/{body}?sort=areaNm2&dir=desc")
    areas = [float(v.replace(",", "")) for v in column(browser, "synapse-table", 5)]
    assert areas == sorted(areas, reverse=True)
    assert abs(len(areas) - len(truth)) <= max(2, len(truth) // 5)  # as ingest detected them
    for plot in ("plot-areas", "plot-mito"):
        assert browser.find_elements(By.CSS_SELECTOR, f"#{plot} svg rect.bar"), plot
    outputs = column(browser, "synapse-table", 1).count("out")
    caption = browser.find_element(By.CSS_SELECTOR, "#plot-mito figcaption").text
    assert caption.startswith(f"its {outputs} output synapses")


def test_the_analysis_page_plots_each_cell_type_with_its_tests(browser, site):
    open_page(browser, f"{site['url']}/#/analysis/{DS}?types=TypeA,TypeB")
    answer = graphql(site["url"], """query($ds: String!) { mitoSynapseDistances(dataset: $ds,
        cellTypes: ["TypeA", "TypeB"]) { summary { cellType ksSmallVsLarge { pvalue } } } }""",
        ds=DS)["mitoSynapseDistances"]["summary"]  # fmt: skip
    figures = browser.find_elements(By.CSS_SELECTOR, "#analysis-plots figure.analysis-type")
    assert [f.get_attribute("data-cell-type") for f in figures] == ["TypeA", "TypeB"]
    for f in figures:  # small, large and control curves
        assert len(f.find_elements(By.CSS_SELECTOR, "path.cdf")) == 3
    rows = table(browser, "analysis-table")
    shown = {r[0]: r[8] for r in rows if r[1] == "small"}
    for s in answer:
        p = s["ksSmallVsLarge"]["pvalue"]
        assert float(shown[s["cellType"]]) == pytest.approx(p, rel=0.06, abs=6e-4)
    # the planted effect: the recruiting type's small and large synapses differ
    assert min(s["ksSmallVsLarge"]["pvalue"] for s in answer) < 0.01
    # a control changes the query and lands in the URL
    browser.find_element(By.CSS_SELECTOR, "select[name=compartment] option[value=dendrite]").click()
    browser.find_element(By.CSS_SELECTOR, "#analysis-form button[type=submit]").click()
    wait_for(lambda: "compartment=dendrite" in browser.current_url)
