"""`connectome export precomputed`: Neuroglancer files read back by cloud-volume, from disk and
over the API's /data/ route."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from cloudvolume import CloudVolume

from ingest.pipeline import run_stages
from ingest.settings import IngestSettings
from ingest.volume import open_volume
from tests.volumes import two_cells_with_synapse, write_volume

A, B = 2**53 + 7, 12


@pytest.fixture(scope="module")
def exported(cli_env, connectome_bin, tmp_path_factory) -> Path:
    labels = two_cells_with_synapse()
    raw = (np.arange(np.prod(labels["cells"].shape)) % 251).astype(np.uint8)
    path = write_volume(tmp_path_factory.mktemp("export") / "v.zarr",
                        raw.reshape(labels["cells"].shape), labels)  # fmt: skip
    data = Path(cli_env["CONNECTOME_DATA_DIR"])
    settings = IngestSettings(data_dir=data, morphology_min_voxels=1000)
    run_stages(open_volume(path), "exported", settings, progress=False, echo=lambda *_: None)
    proc = subprocess.run([connectome_bin, "export", "precomputed", "exported"], env=cli_env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return data / "precomputed" / "exported"


def test_cloudvolume_reads_back_the_image_and_the_segmentation(exported):
    labels = two_cells_with_synapse()
    seg = CloudVolume(f"file://{exported}/segmentation", progress=False)
    assert list(seg.resolution) == [10, 10, 20]
    cells = np.asarray(seg[:, :, :])[..., 0].transpose(2, 1, 0)  # x y z -> z y x
    np.testing.assert_array_equal(cells, labels["cells"])
    img = CloudVolume(f"file://{exported}/image", progress=False)
    assert np.asarray(img[:, :, :]).shape[:3] == labels["cells"].shape[::-1]


def test_synapse_annotations_relate_pre_and_post_cells_over_http(exported, api_url):
    from cloudvolume import from_cloudpath

    layer = from_cloudpath(f"precomputed://{api_url}/data/exported/synapses")
    found = layer.get_by_relationship("pre_synaptic_cell", A)
    assert len(found) == 1
    seg = CloudVolume(f"precomputed://{api_url}/data/exported/segmentation", progress=False)
    assert int(np.asarray(seg[20, 16, 4])[0, 0, 0, 0]) == B


def test_meshes_and_skeletons_are_read_by_cloudvolume_and_navis(exported):
    import navis

    seg = CloudVolume(f"file://{exported}/segmentation", progress=False)
    mesh = seg.mesh.get(A)
    mesh = mesh[A] if isinstance(mesh, dict) else mesh
    lo, hi = mesh.vertices.min(axis=0), mesh.vertices.max(axis=0)
    # cell A fills x 1..15, y 0..31, z 0..7 voxels of 10 x 10 x 20 nm
    assert lo[0] >= 0 and hi[0] <= 16 * 10 and hi[2] <= 8 * 20 + 1
    skeleton = seg.skeleton.get(A)
    assert len(skeleton.vertices) > 1 and len(skeleton.edges) > 0
    assert hasattr(skeleton, "radius") and hasattr(skeleton, "compartment")
    # A holds the presynaptic site, B the postsynaptic one: axon (2, or a bouton 18/19) and
    # dendrite (3, or a spine 16/17), as the compartments stage labelled their nodes
    assert set(np.unique(skeleton.compartment)) <= {2, 18, 19}
    assert set(np.unique(seg.skeleton.get(B).compartment)) <= {3, 16, 17}
    neuron = navis.read_precomputed(exported / "segmentation" / "skeletons", datatype="skeleton")
    neurons = neuron if isinstance(neuron, navis.NeuronList) else navis.NeuronList([neuron])
    assert {int(n.id) for n in neurons} == {A, B}


def test_cells_read_one_at_a_time_are_those_load_morphology_reads(exported):
    from ingest.morphology import SavedMeshes, SavedSkeletons, load_morphology

    folder = IngestSettings(data_dir=exported.parents[1]).tables_dir("exported") / "morphology"
    meshes, skeletons = load_morphology(folder)
    assert set(SavedMeshes(folder)) == set(meshes) == {A, B}
    assert set(SavedSkeletons(folder)) == set(skeletons)
    for body, (vertices, faces) in SavedMeshes(folder).items():
        np.testing.assert_array_equal(vertices, meshes[body][0])
        np.testing.assert_array_equal(faces, meshes[body][1])
    for body, (vertices, edges, attributes) in SavedSkeletons(folder).items():
        np.testing.assert_array_equal(vertices, skeletons[body][0])
        np.testing.assert_array_equal(edges, skeletons[body][1])
        assert attributes.keys() == skeletons[body][2].keys()
        for name, values in attributes.items():
            np.testing.assert_array_equal(values, skeletons[body][2][name])
