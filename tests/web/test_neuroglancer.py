"""The embedded Neuroglancer, in a real headless Chromium (WebGL in software): it draws the
selected neuron's mesh, a segment double-clicked in the viewer opens that neuron's page, and
the page URL carries the view so that opening it again restores it."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
from PIL import Image
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from tests.conftest import PHANTOM_DATASET as DS
from tests.web.conftest import DESELECT, SLICES_OFF, coloured, graphql, open_page, wait_for

READY = "return !!window.viewer && viewer.display.isReady()"


@pytest.fixture(scope="module")
def site(web_url, neuroglancer_client, exported) -> dict:
    return {"url": web_url, "truth": exported}


def in_viewer(driver: Any, script: str, *args: Any) -> Any:
    """Run ``script`` inside the Neuroglancer frame (where ``viewer`` is the viewer)."""
    driver.switch_to.frame("ng")
    try:
        return driver.execute_script(script, *args)
    finally:
        driver.switch_to.default_content()


def open_viewer(driver: Any, url: str, body: str) -> None:
    open_page(driver, f"{url}/#/neuron/{DS}/{body}")
    driver.find_element(By.ID, "open-neuroglancer").click()
    wait_for(lambda: in_viewer(driver, READY),
             timeout=30, what="Neuroglancer to start")  # fmt: skip


def segments(driver: Any) -> list[str]:
    state = in_viewer(driver, "return viewer.state.toJSON()")
    (seg,) = [layer for layer in state["layers"] if layer["type"] == "segmentation"]
    return list(seg.get("segments", []))


def panel_pixels(driver: Any, index: int) -> np.ndarray:
    """The pixels of one of the viewer's panels (4-panel layout: xy, xz, 3D, yz), RGB."""
    rect = in_viewer(driver, """const p = document.querySelectorAll(
        '.neuroglancer-rendered-data-panel')[arguments[0]].getBoundingClientRect();
        return [p.left, p.top, p.width, p.height];""", index)  # fmt: skip
    frame = driver.find_element(By.ID, "ng")
    shot = Image.open(io.BytesIO(frame.screenshot_as_png)).convert("RGB")
    scale = shot.width / frame.size["width"]
    left, top, width, height = (round(v * scale) for v in rect)
    return np.asarray(shot)[top : top + height, left : left + width]


def settled(driver: Any, index: int) -> np.ndarray:
    """The panel once two screenshots a moment apart agree (chunks and meshes loaded)."""
    before = panel_pixels(driver, index)

    def same() -> list[np.ndarray]:
        nonlocal before
        now = panel_pixels(driver, index)
        stable = now.shape == before.shape and np.abs(now.astype(int) - before).mean() < 0.5
        before = now
        return [now] if stable else []

    (pixels,) = wait_for(same, timeout=30, what="the viewer to settle")
    return pixels


def test_the_viewer_draws_the_selected_neurons_mesh_in_3d(browser, site):
    body = str(site["truth"]["cells"][0]["id"])
    open_viewer(browser, site["url"], body)
    assert segments(browser) == [body]
    in_viewer(browser, "const v = viewer; " + SLICES_OFF)
    with_mesh = settled(browser, 2)
    in_viewer(browser, "const v = viewer; " + DESELECT)
    wait_for(lambda: segments(browser) == [], what="the segment to be deselected")
    without = settled(browser, 2)
    # the 3D panel shows the annotations' points either way; the mesh covers far more
    assert coloured(with_mesh) > 1500 + 3 * coloured(without), (
        coloured(with_mesh),
        coloured(without),
    )
    assert len(np.unique(with_mesh.reshape(-1, 3), axis=0)) > 50  # shaded, not a flat fill


def near(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> int:
    """How many pixels lie within ``tolerance`` of the colour ``rgb`` on every channel."""
    return int((np.abs(pixels.astype(int) - np.array(rgb)).max(axis=2) <= tolerance).sum())


def test_the_viewer_draws_the_skeleton_coloured_by_compartment(browser, site):
    body = str(site["truth"]["cells"][0]["id"])
    open_viewer(browser, site["url"], body)
    # meshes and slices off, so that only the skeleton is drawn in the 3D panel
    in_viewer(browser, """const v = viewer; const s = v.state.toJSON(); s.showSlices = false;
        const seg = s.layers.find(l => l.type === 'segmentation');
        const url = typeof seg.source === 'string' ? seg.source : seg.source.url;
        seg.source = {url, subsources: {default: true, skeletons: true, mesh: false}};
        v.state.restoreState(s);""")  # fmt: skip
    wait_for(lambda: in_viewer(browser, READY), timeout=30)
    pixels = settled(browser, 2)
    # the shader's colours (api/neuroglancer.py SKELETON_SHADER): axon blue, dendrite red
    axon, dendrite = near(pixels, (64, 140, 255)), near(pixels, (242, 77, 77))
    assert axon > 20 and dendrite > 20, (axon, dendrite)


def test_double_clicking_a_cell_in_the_viewer_opens_its_page(browser, site):
    body = str(site["truth"]["cells"][0]["id"])
    up = graphql(site["url"], """query($ds: String!, $id: BodyId!) { neuron(dataset: $ds,
        bodyId: $id) { upstream { bodyId neuron { location { x y z } } } } }""",
        ds=DS, id=body)["neuron"]["upstream"][0]  # fmt: skip
    open_viewer(browser, site["url"], body)
    where = [up["neuron"]["location"][k] for k in "xyz"]  # a voxel inside the partner
    in_viewer(browser, """const s = viewer.state.toJSON(); s.position = arguments[0];
        viewer.state.restoreState(s);""", where)  # fmt: skip
    settled(browser, 0)  # the partner's voxels drawn, so that a click can pick them
    browser.switch_to.frame("ng")
    try:  # the xy panel is centred on the position: double-click its centre
        panel = browser.find_elements(By.CSS_SELECTOR, ".neuroglancer-rendered-data-panel")[0]
        ActionChains(browser).move_to_element(panel).pause(0.3).move_by_offset(1, 1).pause(
            0.3).double_click().perform()  # fmt: skip
    finally:
        browser.switch_to.default_content()
    wait_for(lambda: up["bodyId"] in browser.find_element(By.ID, "neuron-title").text,
             what="the partner's page")  # fmt: skip
    assert f"/#/neuron/{DS}/{up['bodyId']}?" in browser.current_url
    assert set(segments(browser)) == {body, up["bodyId"]}  # the viewer stayed as it was


def test_a_shared_url_restores_the_same_view(browser, site):
    body = str(site["truth"]["cells"][2]["id"])
    open_viewer(browser, site["url"], body)
    in_viewer(
        browser,
        """const s = viewer.state.toJSON(); s.position = [40, 50, 30];
        s.projectionScale = 777; s.layout = 'xy-3d'; viewer.state.restoreState(s);""",
    )
    wait_for(lambda: "777" in browser.current_url, what="the page URL to follow the viewer")
    shared = browser.current_url
    before = in_viewer(browser, "return viewer.state.toJSON()")
    browser.get("about:blank")
    open_page(browser, shared)  # as someone who was sent the link
    wait_for(lambda: in_viewer(browser, READY), timeout=30)
    after = in_viewer(browser, "return viewer.state.toJSON()")
    assert body in browser.find_element(By.ID, "neuron-title").text
    for key in ("position", "projectionScale", "layout", "layers"):
        assert json.dumps(after[key], sort_keys=True) == json.dumps(before[key], sort_keys=True)


def test_a_synapses_view_button_centres_the_viewer_on_it_with_both_cells(browser, site):
    body = str(site["truth"]["cells"][1]["id"])
    open_page(browser, f"{site['url']}/#/neuron/{DS}/{body}")
    row = browser.find_element(By.CSS_SELECTOR, "#synapse-table tbody tr")
    synapse, partner = row.find_elements(By.TAG_NAME, "td")[0].text, row.find_elements(
        By.TAG_NAME, "td")[2].text  # fmt: skip
    row.find_element(By.CSS_SELECTOR, "button.view-synapse").click()
    wait_for(lambda: in_viewer(browser, READY), timeout=30, what="Neuroglancer to start")
    (s,) = [n for n in graphql(site["url"], """query($ds: String!, $id: BodyId!) {
        neuron(dataset: $ds, bodyId: $id) { synapses(first: 1000) { nodes { id
        preLocation { x y z } } } } }""", ds=DS, id=body)["neuron"]["synapses"]["nodes"]
        if n["id"] == synapse]  # fmt: skip
    state = in_viewer(browser, "return viewer.state.toJSON()")
    assert state["position"] == pytest.approx([s["preLocation"][k] for k in "xyz"])
    assert set(segments(browser)) == {body, partner}
    assert f"/#/neuron/{DS}/{body}?" in browser.current_url  # the page stays the neuron's
