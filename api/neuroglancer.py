"""Neuroglancer links: a viewer state with the data set's precomputed layers, centred on an
object, encoded into a URL of the Neuroglancer client.

The client is Neuroglancer's standalone build from the npm package
``@janelia-flyem/neuroglancer`` (``dist/min``), fetched once by ``python -m api.neuroglancer
install`` into ``~/.cache/connectome/neuroglancer/<version>/`` and served by this API under
``/neuroglancer/`` (:func:`client_dir`); it reads its viewer state from the URL fragment and
writes every change back there, which is how the web client follows it. (The PyPI
``neuroglancer`` wheel's ``static/client`` is the fallback: it serves, but it only runs under
Neuroglancer's own Python server, at ``/v/<token>/``.) The layers are those the export wrote
(``<data_dir>/precomputed/<dataset>/layers.json``, see ``ingest/precomputed/dataset.py``),
served by this API under ``/data/<dataset>/``: the EM
``image``, the ``segmentation`` of cells (its meshes and skeletons come with it) with the
given cells selected and their skeletons coloured by the ``compartment`` vertex attribute,
and the annotation layers (synapses, mitochondria) filtered to the selected cells through
their segment relationships.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
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


NPM_PACKAGE = "@janelia-flyem/neuroglancer"
NPM_VERSION = "2.37.5"
NPM_INTEGRITY = (  # the registry's dist.integrity of that version
    "sha512-pLLhJBcoXXpQMmpRfyl1QFTHdS6jGDqiMuaW0SQiF8s1daVMa8R5qzOZnMw9afHeqFjp+sLRYUYTnxmqCgTN"
    "oA=="
)


def npm_client_dir(cache_dir: Path | None = None) -> Path:
    """Where :func:`install_client` puts the standalone client (``cache_dir`` defaults to
    ``~/.cache/connectome``).

    Examples
    --------
    >>> npm_client_dir(Path("/c")).as_posix()
    '/c/neuroglancer/2.37.5'
    """
    return (cache_dir or Path.home() / ".cache" / "connectome") / "neuroglancer" / NPM_VERSION


def client_dir(cache_dir: Path | None = None) -> Path | None:
    """The Neuroglancer client to serve: the standalone npm build when installed
    (:func:`install_client`), else the PyPI ``neuroglancer`` package's
    ``neuroglancer/static/client`` (found without importing the package); ``None`` when
    neither is there."""
    npm = npm_client_dir(cache_dir)
    if (npm / "index.html").exists():
        return npm
    spec = importlib.util.find_spec("neuroglancer")
    for root in (spec.submodule_search_locations or []) if spec else []:
        client = Path(root) / "static" / "client"
        if (client / "index.html").exists():
            return client
    return None


def install_client(cache_dir: Path | None = None, tarball: Path | None = None) -> Path:
    """Put the standalone Neuroglancer client (``dist/min`` of the npm package
    :data:`NPM_PACKAGE` at :data:`NPM_VERSION`, without source maps, and its licence) into
    :func:`npm_client_dir`, once. The package comes from ``npm pack`` (the npm registry's own
    client) unless ``tarball`` is given; either way its sha512 must be the registry's."""
    target = npm_client_dir(cache_dir)
    if (target / "index.html").exists():
        return target
    with tempfile.TemporaryDirectory() as tmp:
        if tarball is None:
            tarball = _npm_pack(Path(tmp))
        digest = hashlib.sha512(Path(tarball).read_bytes()).digest()
        if "sha512-" + base64.b64encode(digest).decode() != NPM_INTEGRITY:
            raise RuntimeError(
                f"{tarball} is not {NPM_PACKAGE} {NPM_VERSION}: its sha512 differs from the "
                "registry's"
            )
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with tarfile.open(tarball) as tar:
            for member in tar.getmembers():
                wanted = member.name == "package/LICENSE" or (
                    member.name.startswith("package/dist/min/") and not member.name.endswith(".map")
                )
                source = tar.extractfile(member) if wanted and member.isfile() else None
                if source is not None:
                    (partial / Path(member.name).name).write_bytes(source.read())
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return target


def _npm_pack(folder: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            "npm is needed to fetch the Neuroglancer client (Debian: apt-get install npm); "
            "or pass the package's tarball with --tarball"
        )
    spec = f"{NPM_PACKAGE}@{NPM_VERSION}"
    proc = subprocess.run([npm, "pack", spec, "--pack-destination", str(folder), "--silent"],
                          capture_output=True, text=True, timeout=900)  # fmt: skip
    packed = sorted(folder.glob("*.tgz"))
    if proc.returncode != 0 or not packed:
        raise RuntimeError(f"npm pack {spec} failed: {proc.stderr.strip()[-300:]}")
    return packed[0]


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
    extent_nm: float | None = None,
) -> dict[str, Any]:
    """A Neuroglancer viewer state (JSON-able) over the exported ``layers`` served at
    ``data_url`` (``…/data/<dataset>``), ``segments`` selected, centred on ``position_vx``;
    the 3D view frames the whole volume when its largest side ``extent_nm`` is known (a
    quarter of it with ``zoom``).

    Examples
    --------
    >>> s = state("http://h/data/ds", [8, 8, 40], [{"name": "image", "type": "image",
    ...           "path": "image"}, {"name": "cells", "type": "segmentation",
    ...           "path": "segmentation"}], [2**60], [1, 2, 3])
    >>> [layer["name"] for layer in s["layers"]], s["layers"][1]["segments"], s["position"]
    (['image', 'cells'], ['1152921504606846976'], [1, 2, 3])
    >>> s["dimensions"]["z"]
    [4e-08, 'm']
    >>> state("http://h/data/ds", [8, 8, 40], [], [], None, extent_nm=2560)["projectionScale"]
    480.0
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
                        "lineWidth3d": 2,
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
        "projectionScale": _projection_scale(voxel_size_nm_xyz, extent_nm, zoom),
    }
    if segmentation is not None:
        result["selectedLayer"] = {"layer": segmentation, "visible": True}
    if position_vx is not None:
        result["position"] = [float(v) if isinstance(v, float) else v for v in position_vx]
    return result


def _projection_scale(voxel_size_nm_xyz: list[float], extent_nm: float | None, zoom: bool) -> float:
    """The 3D view's height in voxels of the finest axis: 1.5 times the volume's largest
    side (a quarter of that with ``zoom``); 8192 (1024) when the extent is unknown."""
    if not extent_nm:
        return 1024 if zoom else 8192
    scale = 1.5 * extent_nm / min(float(v) for v in voxel_size_nm_xyz)
    return round(scale / 4 if zoom else scale, 1)


def exported_extent_nm(precomputed: Path, dataset: str) -> float | None:
    """The largest side in nm of the exported volume (``layers.json``), if it was exported."""
    meta = _json(precomputed / dataset / "layers.json")
    size, voxel = meta.get("size_xyz"), meta.get("voxel_size_nm_xyz")
    if not size or not voxel:
        return None
    return max(float(n) * float(v) for n, v in zip(size, voxel, strict=True))


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
    precomputed = Path(settings.data_dir) / "precomputed"
    layers = exported_layers(precomputed, dataset)
    viewer = state(
        urljoin(base, f"data/{dataset}"), voxel, layers, segments, position_vx, zoom,
        exported_extent_nm(precomputed, dataset),
    )  # fmt: skip
    return url(urljoin(base, settings.neuroglancer_url), viewer)


def main(argv: list[str] | None = None) -> int:
    """``python -m api.neuroglancer install [--tarball T] [--cache-dir D]``."""
    parser = argparse.ArgumentParser(prog="python -m api.neuroglancer")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("install", help="fetch the standalone Neuroglancer client once")
    p.add_argument("--tarball", type=Path, help=f"a local {NPM_PACKAGE} {NPM_VERSION} .tgz")
    p.add_argument("--cache-dir", type=Path, help="instead of ~/.cache/connectome")
    args = parser.parse_args(argv)
    try:
        path = install_client(args.cache_dir, args.tarball)
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 1
    print(f"Neuroglancer client ({NPM_PACKAGE} {NPM_VERSION}) in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
