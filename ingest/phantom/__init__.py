"""Deterministic synthetic EM volume ("phantom") with exact ground truth.

:func:`make_phantom` draws a small block of neuropil made of neuron-like cells, places synapses,
mitochondria, vesicle clouds and a few junction-like decoys, renders an EM-like raw image and
writes everything as an OME-NGFF 0.4 (zarr v2) container together with ``ground_truth.json``.

Conventions: arrays are indexed ``[z, y, x]``; geometry is planned in nanometres (``*_nm``) in
``(z, y, x)`` order and converted per axis with the voxel size, so shapes are round in physical
space; positions in the ground truth are voxel coordinates in ``(x, y, z)`` order.  A voxel with
index ``i`` has its centre at ``i * voxel_size_nm``.

What is drawn (sizes in nm):

- about one cell per 1.1 um^3 (8 cells at 64x256x256 of 20x10x10 nm voxels), at least four
  (two ``TypeA``, two ``TypeB``); ids are random uint64 values, some above 2**32, one
  ``2**53 + 12345 + k``;
- soma: ellipsoid, radius 300-480 (smaller in very small volumes), may leave the volume;
  5-7 dendrites (radius 70-110, tapering, with side branches) carrying spines (neck radius
  20-30, head radius 55-90); one axon (radius 20-35) through its boutons (radius 130-190),
  each pressed against a dendrite shaft, spine head or soma of another cell;
- synapse: a flat junction disc (radius 60-250, +-2 voxels about the contact plane, clipped to
  the two cells' voxels and to one connected patch) and a vesicle cloud (radius 45-80) inside
  the bouton; a few boutons touch their target without a junction;
- mitochondria: elongated ellipsoids in somata (radius 60-100, length 250-600), dendrites and
  boutons (radius 30-45, length 140-400), at least one voxel inside their cell and at least
  two voxels from each other;
- planted finding: a TypeA bouton holds a mitochondrion 60-200 nm from its junction exactly
  when the junction is larger than the TypeA median, and the mitochondria of a TypeA cell are
  kept >= 550 nm from that cell's small synapses (where geometry allows); TypeB boutons get
  one with probability 1/2 regardless of size (balanced within pairs of similar size).

The neurites are thicker than real ones at this scale so that the organelles (whose sizes are
realistic) fit inside them with a one-voxel margin.

Ground truth (``connectome-phantom-truth/1``) is computed from the final label arrays:
``cells[].voxels`` / ``compartment_voxels`` count voxels (spines count as dendrite, boutons as
axon); a synapse's ``position_xyz_vx`` and ``junction_voxels`` are the centroid and size of its
junction patch, ``area_nm2`` is the planted disc area, ``mito_distance_nm`` the distance (nm)
from that centroid to the nearest voxel centre of any mitochondrion of the presynaptic cell (or
``None``); ``contacts_without_synapse`` counts planted bouton contacts that carry no junction
and share at least one voxel face with their target in the final volume.

Cable length: ``cells[].cable_length_nm`` is the length of the cell's planted centre lines
(:func:`.truth.centre_lines_nm`: dendrites and branches, spines from the dendrite's axis to
the head centre, the axon through its boutons, and for the soma a line from its centre, or the
volume's point nearest to it, to where each neurite starts) between the first and last voxel
centres of the volume; ``cable_length_in_cell_nm`` counts them only where they run through the
cell's own voxels (within one voxel), leaving out stretches that other cells or carved gaps
took over: what a skeleton of the final labels can recover;
``cable_length_in_cell_nm_by_compartment`` splits it into soma, dendrite (with spines) and
axon.  ``cells[].spine_heads`` (centre and radius, and the neck's axis from where it leaves
the shaft's surface to its tip, with its radius) and ``cells[].bouton_centers_xyz_vx`` list the
planted spines and boutons, and a synapse on a spine carries the planted volume of
that head (``spine_head_volume_nm3``).  The compartment of every voxel (1 soma, 2 dendrite, 3
axon; spines count as dendrite, boutons as axon) is the array ``truth/compartments`` of the
container, beside (not among) the input layers.

Modules: :mod:`.geometry` (vectors, voxel grid, shape masks), :mod:`.scene` (plan records and
label volumes), :mod:`.morphology` (cells, boutons, axons, gaps), :mod:`.synapses`
(junctions, decoys, the planted effect, vesicle clouds), :mod:`.organelles` (mitochondria),
:mod:`.truth` (ground truth), :mod:`.raw` (raw image), :mod:`.build` (stage order) and
:mod:`.container` (OME-Zarr and JSON output).
"""

from __future__ import annotations

import os
from pathlib import Path

from .build import build
from .container import LABEL_NAMES, write_phantom
from .truth import SCHEMA

__all__ = ["LABEL_NAMES", "SCHEMA", "make_phantom"]


def make_phantom(
    out: str | os.PathLike,
    seed: int = 0,
    shape_zyx: tuple[int, int, int] = (64, 256, 256),
    voxel_size_nm_zyx: tuple[float, float, float] = (20.0, 10.0, 10.0),
    progress: bool = False,
) -> dict:
    """Write a deterministic synthetic EM volume with ground truth as OME-Zarr.

    The container at ``out`` holds the raw image (array ``0``, uint8) and the label groups
    ``labels/cells`` (uint64 ids), ``labels/mitochondria``, ``labels/vesicle_clouds``,
    ``labels/synaptic_junctions`` (uint8 0/1 masks) and ``labels/synapse_type`` (uint8, 1
    asymmetric / 2 symmetric), all in OME-NGFF 0.4 layout (zarr v2, Blosc zstd, chunks
    ``(32, 128, 128)`` clipped to the shape).  The ground truth is written to
    ``out/ground_truth.json`` and returned.  The container is built next to ``out`` in
    ``<out>.partial-<pid>`` and moved into place with :func:`os.replace`, so a failure never
    leaves a half-written ``out``.

    Parameters
    ----------
    out : str or os.PathLike
        Output directory; must not exist or be empty.
    seed : int
        Seed of the random generator; same seed and shape give byte-identical arrays and JSON.
    shape_zyx : tuple of int
        Volume shape in voxels, ``(z, y, x)``.
    voxel_size_nm_zyx : tuple of float
        Voxel size in nm, ``(z, y, x)``; geometry is planned in nm, so shapes stay round.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict
        Ground truth (schema ``connectome-phantom-truth/1``): ``cells``, ``synapses``,
        ``orphan_junctions``, ``contacts_without_synapse`` and ``mitochondria``; ids are
        decimal strings, positions voxel coordinates in ``(x, y, z)`` order.

    Raises
    ------
    FileExistsError
        If ``out`` exists and is not an empty directory.

    Examples
    --------
    >>> import os, tempfile
    >>> out = os.path.join(tempfile.mkdtemp(), "phantom.zarr")
    >>> truth = make_phantom(out, seed=1, shape_zyx=(16, 64, 64))
    >>> truth["schema"], truth["shape_zyx"]
    ('connectome-phantom-truth/1', [16, 64, 64])
    >>> sorted(os.listdir(os.path.join(out, "labels")))[:2]
    ['.zattrs', '.zgroup']
    """
    out_path = Path(out)
    if out_path.exists() and (not out_path.is_dir() or any(out_path.iterdir())):
        raise FileExistsError(f"{out} already exists; choose a new output path")
    shape = tuple(int(s) for s in shape_zyx)
    voxel = tuple(float(v) for v in voxel_size_nm_zyx)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"shape_zyx must be three positive ints, got {shape_zyx!r}")
    if len(voxel) != 3 or min(voxel) <= 0:
        raise ValueError(
            f"voxel_size_nm_zyx must be three positive floats, got {voxel_size_nm_zyx!r}"
        )
    volumes, truth = build(int(seed), shape, voxel, progress)  # type: ignore[arg-type]
    write_phantom(out_path, volumes, truth, voxel)  # type: ignore[arg-type]
    return truth
