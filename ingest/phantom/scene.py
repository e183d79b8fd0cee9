"""The phantom scene under construction: plan records and the label volumes the stages fill."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from .geometry import CUBE3, FloatArray, Grid, Mask, Slices

SOMA, DENDRITE, AXON = 1, 2, 3  # compartment codes of ``Scene.comp``
COMPARTMENT_NAMES = {SOMA: "soma", DENDRITE: "dendrite", AXON: "axon"}


@dataclass
class Dendrite:
    """A planned neurite: a polyline with a radius per point."""

    points_nm: FloatArray  # (n, 3) zyx
    radii_nm: FloatArray  # (n,)
    from_soma: bool = True  # a primary dendrite (else a side branch starting on its parent)


@dataclass
class Cell:
    """A planned cell: soma, dendrites, spine heads and the boutons of its axon."""

    label: int  # 1-based index in the internal label volume
    id: int
    type: str
    soma_center_nm: FloatArray
    soma_radii_nm: FloatArray
    axon_radius_nm: float
    dendrites: list[Dendrite] = field(default_factory=list)
    spine_heads: list[tuple[FloatArray, float, FloatArray]] = field(default_factory=list)
    bouton_centers_nm: list[FloatArray] = field(default_factory=list)
    spine_roots_nm: list[FloatArray] = field(default_factory=list)  # on the dendrite's axis
    # each spine's neck: where it leaves the shaft's surface, its tip, its radius
    spine_necks: list[tuple[FloatArray, FloatArray, float]] = field(default_factory=list)
    axon_points_nm: FloatArray = field(default_factory=lambda: np.zeros((0, 3)))  # as painted


@dataclass
class Contact:
    """A bouton pressed against another cell, with or without a synaptic junction."""

    pre: int
    post: int
    point_nm: FloatArray  # on the postsynaptic surface
    normal: FloatArray  # unit, from the postsynaptic cell into the bouton
    bouton_center_nm: FloatArray
    bouton_radius_nm: float
    post_kind: str  # dendrite | spine | soma
    synaptic: bool
    junction_radius_nm: float
    jid: int = 0  # label in the junction volume once rasterised
    near_mito: bool = False
    mito_direction: FloatArray | None = None


class Scene:
    """Random generators, the plan and the label volumes shared by the build stages.

    ``rng`` draws all geometry, ``tex_rng`` only the raw image's texture and noise.  Label
    volumes: ``lab`` (cell label, 1-based index into ``cells``), ``comp`` (compartment code),
    ``jid`` (junction label), ``mid`` (mitochondrion label) and ``ves`` (vesicle clouds).
    """

    def __init__(
        self,
        seed: int,
        shape_zyx: tuple[int, int, int],
        voxel_size_nm_zyx: tuple[float, float, float],
    ):
        self.seed = seed
        self.shape = shape_zyx
        self.voxel = voxel_size_nm_zyx
        self.g = Grid(shape_zyx, np.asarray(voxel_size_nm_zyx))
        geo, tex = np.random.SeedSequence(seed).spawn(2)
        self.rng = np.random.default_rng(geo)
        self.tex_rng = np.random.default_rng(tex)
        self.lab = np.zeros(shape_zyx, dtype=np.uint16)
        self.comp = np.zeros(shape_zyx, dtype=np.uint8)
        self.jid = np.zeros(shape_zyx, dtype=np.uint32)
        self.mid = np.zeros(shape_zyx, dtype=np.uint32)
        self.ves = np.zeros(shape_zyx, dtype=bool)
        self.cells: list[Cell] = []
        self.contacts: list[Contact] = []
        self.n_mito = 0
        self.mito_cell: list[int] = []
        self.orphan_cells: list[int] = []  # junction label -> cell, for orphans
        self.n_synapse_labels = 0
        self.soma_c: FloatArray = np.zeros((0, 3))  # soma centres / radii of ``cells``, cached
        self.soma_r: FloatArray = np.ones((0, 3))

    def cell(self, label: int) -> Cell:
        """The cell with internal label ``label``."""
        return self.cells[label - 1]

    def paint(self, sl: Slices | None, mask: Mask | None, label: int, compartment: int) -> None:
        """Give the still empty voxels of ``mask`` (in box ``sl``) to a cell's compartment."""
        if sl is None or mask is None:
            return
        region = self.lab[sl]
        m = mask & (region == 0)
        region[m] = label
        self.comp[sl][m] = compartment

    def inner(self, sl: Slices, label: int, margin: int = 1) -> Mask:
        """Voxels of ``label`` whose (2*margin+1)^3 neighbourhood is the same cell."""
        own = self.lab[sl] == label
        if margin == 0:
            return own
        return ndimage.binary_erosion(own, structure=CUBE3, iterations=margin, border_value=0)
