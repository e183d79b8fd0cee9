"""Neuroglancer links: a viewer state with the data set's precomputed layers, centred on an
object, encoded into a URL of the Neuroglancer client.

The client is the one built into the PyPI ``neuroglancer`` package, served by this API under
``/neuroglancer/`` (:func:`client_dir`). The layers are those the export wrote
(``<data_dir>/precomputed/<dataset>/layers.json``, see ``ingest/precomputed/dataset.py``),
served by this API under ``/data/<dataset>/``: the EM
``image``, the ``segmentation`` of cells (its meshes and skeletons come with it) with the
given cells selected and their skeletons coloured by the ``compartment`` vertex attribute,
and the annotation layers (synapses, mitochondria) filtered to the selected cells through
their segment relationships.
"""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

# Skeleton colours by the ``compartment`` vertex attribute, whose codes the precomputed
# skeleton format fixes (ingest/precomputed/skeleton.py): 1 soma, 2 axon, 3 and 4 dendrite,
# 16 spine head, 17 spine neck, 18 and 19 boutons.
SKELETON_SHADER = """void main() {
  float c = compartment;
  vec3 colour = vec3(0.7, 0.7, 0.7);
  if (c == 1.0) colour = vec3(1.0, 0.85, 0.2);
  else if (c == 2.0) colour = vec3(0.25, 0.55, 1.0);
  else if (c == 3.0 || c == 4.0 || c == 17.0) colour = vec3(0.95, 0.3, 0.3);
  else if (c == 16.0) colour = vec3(1.0, 0.35, 1.0);
  else if (c == 18.0 || c == 19.0) colour = vec3(0.2, 0.9, 0.9);
  emitRGB(colour);
}
"""
ANNOTATION_COLOURS = {"synapse": "#ffff00", "mitochondrion": "#00ff66"}


def client_dir() -> Path | None:
    """The built Neuroglancer client of the PyPI ``neuroglancer`` package
    (``neuroglancer/static/client``), found without importing the package; ``None`` when it
    is not installed."""
    spec = importlib.util.find_spec("neuroglancer")
    for root in (spec.submodule_search_locations or []) if spec else []:
        client = Path(root) / "static" / "client"
        if (client / "index.html").exists():
            return client
    return None


@lru_cache(maxsize=256)
def _read_json(path: Path, mtime: float) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


def _json(path: Path) -> dict[str, Any]:
    try:
        return _read_json(path, path.stat().st_mtime)
    except (OSError, ValueError):
        return {}


def exported_layers(precomputed: Path, dataset: str) -> list[dict[str, Any]]:
    """The layers the export wrote for ``dataset`` (none when it was not exported), each
    annotation layer with the ids of its segment ``relationships`` (from its ``info``)."""
    layers = [
        dict(layer) for layer in _json(precomputed / dataset / "layers.json").get("layers", [])
    ]
    for layer in layers:
        if layer.get("type") == "annotation":
            info = _json(precomputed / dataset / layer["path"] / "info")
            layer["relationships"] = [r["id"] for r in info.get("relationships", [])]
    return layers


def state(
    data_url: str,
    voxel_size_nm_xyz: list[float],
    layers: list[dict[str, Any]],
    segments: list[int],
    position_vx: list[float] | None,
    zoom: bool = False,
) -> dict[str, Any]:
    """A Neuroglancer viewer state (JSON-able) over the exported ``layers`` served at
    ``data_url`` (``…/data/<dataset>``), ``segments`` selected, centred on ``position_vx``.

    Examples
    --------
    >>> s = state("http://h/data/ds", [8, 8, 40], [{"name": "image", "type": "image",
    ...           "path": "image"}, {"name": "cells", "type": "segmentation",
    ...           "path": "segmentation"}], [2**60], [1, 2, 3])
    >>> [layer["name"] for layer in s["layers"]], s["layers"][1]["segments"], s["position"]
    (['image', 'cells'], ['1152921504606846976'], [1, 2, 3])
    >>> s["dimensions"]["z"]
    [4e-08, 'm']
    """
    ids = [str(int(b)) for b in segments]
    out: list[dict[str, Any]] = []
    segmentation = None
    for layer in layers:
        source = f"precomputed://{data_url}/{layer['path']}"
        kind = layer.get("type")
        if kind == "image":
            out.append({"type": "image", "source": source, "name": layer["name"]})
        elif kind == "segmentation":
            segmentation = layer["name"]
            out.append(
                {
                    "type": "segmentation",
                    "source": source,
                    "name": layer["name"],
                    "segments": ids,
                    "skeletonRendering": {
                        "mode2d": "lines_and_points",
                        "mode3d": "lines",
                        "shader": SKELETON_SHADER,
                    },
                }  # fmt: skip
            )
    for layer in layers:
        if layer.get("type") != "annotation":
            continue
        entry: dict[str, Any] = {
            "type": "annotation",
            "source": f"precomputed://{data_url}/{layer['path']}",
            "name": layer["name"],
            "annotationColor": ANNOTATION_COLOURS.get(layer.get("kind", ""), "#ffffff"),
        }
        if segmentation is not None and ids:
            relationships = layer.get("relationships") or []
            if relationships:
                entry["linkedSegmentationLayer"] = dict.fromkeys(relationships, segmentation)
                entry["filterBySegmentation"] = list(relationships)
        out.append(entry)
    metres = [float(v) * 1e-9 for v in voxel_size_nm_xyz]
    result: dict[str, Any] = {
        "dimensions": {axis: [m, "m"] for axis, m in zip("xyz", metres, strict=True)},
        "layers": out,
        "layout": "4panel",
        "crossSectionScale": 0.5 if zoom else 2.0,
        "projectionScale": 1024 if zoom else 8192,
    }
    if segmentation is not None:
        result["selectedLayer"] = {"layer": segmentation, "visible": True}
    if position_vx is not None:
        result["position"] = [float(v) if isinstance(v, float) else v for v in position_vx]
    return result


def url(client_url: str, viewer_state: dict[str, Any]) -> str:
    """The client URL with the state in its fragment (``#!`` + JSON), as Neuroglancer reads it.

    Examples
    --------
    >>> url("http://h/neuroglancer/", {"layers": []})
    'http://h/neuroglancer/#!%7B%22layers%22%3A%5B%5D%7D'
    """
    text = json.dumps(viewer_state, separators=(",", ":"))
    return f"{client_url}#!{quote(text, safe='')}"


async def link(
    info: Any,
    dataset: str,
    segments: list[int],
    position_vx: list[float] | None,
    zoom: bool = False,
) -> str:
    """The Neuroglancer link of a GraphQL field: this server's data and client URLs."""
    settings = info.context.settings
    base = str(info.context.request.base_url)
    meta = await info.context.loaders.meta.load(dataset)
    voxel = meta["voxelSize"] if meta else [1.0, 1.0, 1.0]
    layers = exported_layers(Path(settings.data_dir) / "precomputed", dataset)
    viewer = state(urljoin(base, f"data/{dataset}"), voxel, layers, segments, position_vx, zoom)
    return url(urljoin(base, settings.neuroglancer_url), viewer)
