"""Settings of the ingest stages, prefix ``CONNECTOME_INGEST_``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IngestSettings(BaseSettings):
    """Parameters of the processing stages.

    Examples
    --------
    >>> IngestSettings(data_dir="/tmp/d").tables_dir("fib25")
    PosixPath('/tmp/d/tables/fib25')
    """

    model_config = SettingsConfigDict(env_prefix="CONNECTOME_INGEST_")

    data_dir: Path = Field(default_factory=lambda: Path.cwd() / "data")
    vesicle_search_radius_nm: float = Field(
        default=500.0,
        description="vesicle-cloud voxels this close to a synapse decide its pre side",
    )
    min_contact_faces: int = Field(
        default=4,
        description="a cell pair needs this many touching voxel faces inside a junction patch",
    )
    secondary_pair_fraction: float = Field(
        default=0.5,
        description="a junction patch yields a second synapse only for a pair with at least "
        "this fraction of the dominant pair's contact faces",
    )
    compartment_window_nm: float = Field(
        default=10_000.0,
        description="the baseline's compartment evidence is smoothed over this much path "
        "(SyConn2: 10 µm)",
    )
    compartment_model_window_nm: float = Field(
        default=500.0,
        description="a compartment model's votes (one per skeleton node) are smoothed over "
        "this much path",
    )
    soma_min_radius_nm: float = Field(
        default=250.0, description="a soma's thickest skeleton node has at least this radius"
    )
    spine_max_length_nm: float = Field(
        default=2_500.0, description="spines carry at most this much skeleton cable"
    )
    control_points_per_um: float = Field(
        default=1.0, description="random control points per µm of axon (SyConn2's control)"
    )
    compartment_predictor: str = Field(
        default="pointnet",
        description="how skeleton nodes get soma/axon/dendrite votes (ingest.compartments): "
        "pointnet (the point model; the baseline where models/weights/compartments.pt or "
        "the cell's mesh is absent), or baseline (synapse evidence only)",
    )
    min_neuron_voxels: int = Field(
        default=10_000, description="segments this large (or with synapses) are also :Neuron"
    )
    chunk_zyx: tuple[int, int, int] = Field(
        default=(64, 512, 512),
        description="chunk shape (z, y, x) of the scan; memory per "
        "worker grows with it (about 30 bytes per voxel)",
    )
    workers: int | None = Field(
        default=None, description="local worker processes (default: the usable cores)"
    )
    inner_point_step_nm: float = Field(
        default=40.0, description="grid step of the search for each cell's deepest voxel"
    )
    split_min_voxels: int = Field(
        default=64, description="mitochondria this large are checked for touching parts"
    )
    split_core_fraction: float = Field(
        default=0.6, description="a core is deeper than this fraction of the deepest voxel"
    )
    split_min_core_depth_nm: float = Field(
        default=50.0,
        description="cores shallower than this do not split a mitochondrion; keep it at two "
        "to three voxels or more, since thinner objects have too coarse a distance transform",
    )
    meshes: bool = Field(default=True, description="mesh every cell (zmesh)")
    cell_types: bool = Field(
        default=True,
        description="predict cell types with the point model when its weights are present "
        "(network inference: off in the throughput benchmark)",
    )
    skeletons: bool = Field(default=True, description="skeletonise every cell")
    skeletonizer: Literal["thinning", "teasar"] = Field(
        default="thinning",
        description="how: 3D curve thinning (ingest.thinning) or kimimaro's TEASAR "
        "(ingest.skeletons)",
    )
    xy_step: int = Field(
        default=2, description="meshes and skeletons sample every n-th voxel in x and y"
    )
    morphology_min_voxels: int = Field(
        default=10_000, description="cells this large get a mesh and a skeleton"
    )
    morphology_chunk_zyx: tuple[int, int, int] = Field(
        default=(64, 512, 512),
        description="chunk shape (z, y, x) of meshing and skeletonisation, apart from the "
        "scan's so that meshes and skeletons do not change with it; y and x multiples of "
        "xy_step; memory per worker grows with it (about 5 bytes per voxel at xy_step 2)",
    )
    fresh: bool = Field(
        default=False, description="ignore finished chunks of an earlier, interrupted run"
    )
    scheduler: str | None = Field(
        default=None, description="a dask.distributed address (tcp://host:port); local if unset"
    )

    def tables_dir(self, dataset: str) -> Path:
        return self.data_dir / "tables" / dataset
