"""Chunked inference: blocks agree with the whole volume, blending hides patch edges, the 2D
net's slices are linked in z, and the shipped weights segment a held-out phantom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from ingest.phantom import make_phantom
from models.inference import (
    link_slices,
    predict_array,
    predict_block,
    predict_volume,
    views_of,
)
from models.metrics import class_f1
from models.unet import UNetConfig, build_unet, load_checkpoint
from models.voxel_training import voxel_targets

torch.set_num_threads(1)
WEIGHTS = Path(__file__).resolve().parents[2] / "models" / "weights"


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> tuple[np.ndarray, np.ndarray]:
    """A small phantom whose seed no trainer uses: raw and five-class target."""
    path = tmp_path_factory.mktemp("inference") / "held_out.zarr"
    make_phantom(path, seed=3999, shape_zyx=(16, 128, 128))
    root = zarr.open_group(str(path), mode="r")
    labels = [root[f"labels/{n}/0"][...] for n in
              ("cells", "mitochondria", "vesicle_clouds", "synaptic_junctions")]  # fmt: skip
    return root["0"][...], voxel_targets(*labels)


@pytest.fixture(scope="module", params=["unet3d", "unet2d"])
def shipped(request):
    model, config, meta = load_checkpoint(WEIGHTS / f"{request.param}.pt")
    return request.param, model


def test_blocks_with_a_halo_predict_what_the_whole_volume_predicts(shipped, held_out):
    name, model = shipped
    raw = held_out[0][:, :96, :96]
    whole = np.zeros((5, *raw.shape), np.uint8)
    predict_volume(model, raw, whole, chunk_zyx=raw.shape, scheduler="sync", progress=False)
    out = zarr.zeros((5, *raw.shape), chunks=(5, 8, 48, 48), dtype="u1")
    predict_volume(model, zarr.array(raw, chunks=(8, 32, 32)), out, scheduler="threads",
                   num_workers=1, progress=False)  # fmt: skip
    diff = np.abs(out[...].astype(np.int16) - whole)
    assert diff.max() <= 2, f"{name}: blocks disagree with the whole volume"
    # and the halo is what makes them agree: without it the block faces show
    bare = np.zeros_like(whole)
    predict_volume(model, raw, bare, chunk_zyx=(8, 48, 48), overlap_zyx=(0, 0, 0),
                   scheduler="sync", progress=False)  # fmt: skip
    assert np.abs(bare.astype(np.int16) - whole).max() > 10 * diff.max()


def test_blended_patches_leave_no_seam_where_patches_meet(shipped, held_out):
    name, model = shipped
    raw = held_out[0][:, :96, :96]
    one = predict_block(model, raw, patch_zyx=(16, 96, 96), batch_size=4)
    small = (8, 48, 48)
    blended = predict_block(model, raw, patch_zyx=small, overlap_zyx=(4, 16, 16), batch_size=4)
    hard = predict_block(model, raw, patch_zyx=small, overlap_zyx=(0, 0, 0), batch_size=4)
    # patch edges of the hard tiling are at y, x = 48 (and z = 8 for the 3D net)
    seam = np.zeros(raw.shape, bool)
    seam[:, 44:52] = True
    seam[:, :, 44:52] = True
    err_blended = np.abs(blended - one)[:, seam].mean()
    err_hard = np.abs(hard - one)[:, seam].mean()
    assert err_blended < 0.5 * err_hard, f"{name}: {err_blended:.4f} vs {err_hard:.4f}"
    assert err_blended < 0.01


def test_linking_removes_objects_of_one_slice_and_bridges_a_missing_one():
    p = np.zeros((7, 20, 20), np.float32)
    p[3, 2:5, 2:5] = 0.9  # one slice only: slice noise
    for z in (0, 1, 3, 4, 5):  # an oblique object, absent in slice 2
        p[z, 10 + z : 14 + z, 10:14] = 0.8
    q = link_slices(p, radius=2)
    assert q[3, 2:5, 2:5].max() == 0.0
    assert q[2, 13:15, 10:14].min() == pytest.approx(0.8)  # bridged where both neighbours hold it
    assert q[2, 11:13].max() == 0.0  # and only there
    for z in (0, 1, 3, 4, 5):  # the object itself keeps every slice
        assert q[z, 10 + z : 14 + z, 10:14].min() == pytest.approx(0.8)


def test_the_2d_nets_blocks_link_exactly_as_the_whole_volume(held_out):
    model, _, _ = load_checkpoint(WEIGHTS / "unet2d.pt")
    raw = held_out[0][:, :64, :64]
    whole = predict_array(model, raw, batch_size=16)
    blocks = np.zeros((5, *raw.shape), np.uint8)
    predict_volume(model, raw, blocks, chunk_zyx=(4, 64, 64), scheduler="sync", progress=False)
    np.testing.assert_array_equal(blocks, np.rint(whole * 255).astype(np.uint8))


def _context_net(context: int) -> torch.nn.Module:
    torch.manual_seed(0)
    config = UNetConfig(dims=2, levels=2, base_features=4, context_slices=context)
    return build_unet(config).eval()


def test_a_2d_net_with_context_sees_the_neighbouring_slices_and_no_further(held_out):
    raw = held_out[0][:8, :32, :32]
    changed = raw.copy()
    changed[5] = 255 - changed[5]
    for context in (0, 1):
        net = _context_net(context)
        before, after = predict_block(net, raw), predict_block(net, changed)
        moved = [float(np.abs(after[:, z] - before[:, z]).max()) for z in range(8)]
        sees = {4, 5, 6} if context else {5}
        assert [z for z in range(8) if moved[z] > 1e-4] == sorted(sees), (context, moved)


def test_a_2d_net_with_context_predicts_in_blocks_as_the_whole_volume(held_out):
    net = _context_net(1)
    raw = held_out[0][:, :64, :64]
    whole = np.rint(predict_array(net, raw, batch_size=16) * 255)
    blocks = np.zeros((5, *raw.shape), np.uint8)
    predict_volume(net, raw, blocks, chunk_zyx=(4, 64, 64), scheduler="sync", progress=False)
    # equal but for float rounding (batches of other sizes); without a z halo, the block
    # faces would see repeated slices in place of their neighbours
    assert np.abs(blocks - whole).max() <= 1
    bare = np.zeros_like(blocks)
    predict_volume(net, raw, bare, chunk_zyx=(4, 64, 64), overlap_zyx=(0, 24, 24),
                   scheduler="sync", link_classes=(), progress=False)  # fmt: skip
    unlinked = np.rint(predict_array(net, raw, batch_size=16, link_classes=()) * 255)
    assert np.abs(bare - unlinked).max() > 1


def test_a_dask_distributed_client_writes_the_same_output(held_out, tmp_path):
    from distributed import Client, LocalCluster

    model, _, _ = load_checkpoint(WEIGHTS / "unet2d.pt")
    raw = held_out[0][:8, :64, :64]
    local = np.zeros((5, *raw.shape), np.uint8)
    predict_volume(model, raw, local, chunk_zyx=(4, 64, 64), scheduler="sync", progress=False)
    out = zarr.open(str(tmp_path / "prob.zarr"), mode="w", shape=(5, *raw.shape),
                    chunks=(5, 4, 64, 64), dtype="u1")  # fmt: skip
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        with Client(cluster) as client:
            with pytest.raises(ValueError, match="lives in this process's memory"):
                predict_volume(model, raw, local.copy(), scheduler=client, progress=False)
            predict_volume(model, raw, out, scheduler=client, progress=False)
    np.testing.assert_array_equal(out[...], local)


def test_an_output_of_the_wrong_shape_or_chunks_is_refused_in_one_sentence(held_out):
    model, _, _ = load_checkpoint(WEIGHTS / "unet2d.pt")
    raw = held_out[0]
    with pytest.raises(ValueError, match=r"out must be a uint8 array of shape \(5, 16, 128, 128\)"):
        predict_volume(model, raw, np.zeros((4, *raw.shape), np.uint8), progress=False)
    out = zarr.zeros((5, *raw.shape), chunks=(5, 8, 64, 64), dtype="u1")
    with pytest.raises(ValueError, match="must be a multiple of out's chunks"):
        predict_volume(model, raw, out, chunk_zyx=(8, 48, 48), progress=False)


def _symmetric_net(dims: int) -> torch.nn.Module:
    """A one-level net whose kernels are constant, so it commutes with every flip and
    transpose: its views must all map back onto the plain prediction."""
    torch.manual_seed(0)
    net = build_unet(UNetConfig(dims=dims, levels=1, base_features=3)).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv3d | torch.nn.Conv2d):
                m.weight.copy_(m.weight.mean(dim=tuple(range(2, m.weight.ndim)), keepdim=True)
                               .expand_as(m.weight))  # fmt: skip
    return net


@pytest.mark.parametrize("dims", [3, 2])
def test_every_test_time_view_is_mapped_back_onto_the_voxels_it_came_from(dims):
    net = _symmetric_net(dims)
    raw = np.random.default_rng(1).integers(0, 255, (6, 12, 20), dtype=np.uint8)
    plain = predict_block(net, raw)
    views = len(views_of(net.config))
    averaged = predict_block(net, raw, views=views)
    np.testing.assert_allclose(averaged, plain, atol=1e-5)
    # the input is lopsided, so a view left unmapped would not match
    unmapped = predict_block(net, np.ascontiguousarray(raw.transpose(0, 2, 1)[:, ::-1]))
    assert np.abs(unmapped - plain.transpose(0, 1, 3, 2)[:, :, ::-1]).max() < 1e-5
    assert np.abs(unmapped.transpose(0, 1, 3, 2) - plain).max() > 0.01


def test_test_time_views_raise_the_shipped_3d_nets_membrane_f1(held_out):
    model, config, _ = load_checkpoint(WEIGHTS / "unet3d.pt")
    raw, target = held_out
    f1 = {
        views: class_f1(predict_array(model, raw, views=views) >= 0.5, target > 0,
                        config.classes)["membrane"]["f1"]
        for views in (1, 4)
    }  # fmt: skip
    assert f1[4] > f1[1] + 0.001, f1


def test_a_number_of_views_the_net_does_not_have_is_refused_in_one_sentence(held_out):
    alone = _context_net(0)  # a 2D net that sees each slice alone has no z flips
    raw = held_out[0][:4, :32, :32]
    with pytest.raises(ValueError, match="views must be a whole number from 1 to 8 for a 2D net"):
        predict_block(alone, raw, views=16)
    model, _, _ = load_checkpoint(WEIGHTS / "unet2d.pt")
    with pytest.raises(ValueError, match="from 1 to 16"):
        predict_volume(model, raw, np.zeros((5, *raw.shape), np.uint8), views=0, progress=False)


FLOORS = {"cytosol": 0.95, "membrane": 0.85, "mitochondria": 0.9, "synaptic_junction": 0.7}


def test_the_shipped_weights_segment_a_held_out_phantom(shipped, held_out):
    name, model = shipped
    raw, target = held_out
    scores = class_f1(predict_array(model, raw) >= 0.5, target > 0, model.config.classes)
    low = {c: round(scores[c]["f1"], 3) for c, floor in FLOORS.items() if scores[c]["f1"] < floor}
    assert not low, f"{name} below its floor: {low}"
