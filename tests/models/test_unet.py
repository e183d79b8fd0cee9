"""The voxel U-Nets: shape contracts, anisotropy-aware kernels, checkpoints."""

from __future__ import annotations

import pytest
import torch

from models.unet import (
    CLASSES,
    UNet2d,
    UNet3d,
    UNetConfig,
    build_unet,
    load_checkpoint,
    save_checkpoint,
)

torch.set_num_threads(1)


def test_unet3d_maps_a_volume_to_one_logit_per_class_and_voxel():
    net = UNet3d(UNetConfig(dims=3, base_features=4)).eval()
    with torch.no_grad():
        assert net(torch.zeros(1, 1, 16, 64, 64)).shape == (1, 5, 16, 64, 64)
        assert net(torch.zeros(2, 1, 8, 32, 48)).shape == (2, 5, 8, 32, 48)


def test_unet2d_maps_each_slice_to_one_logit_per_class_and_pixel():
    net = UNet2d(UNetConfig(dims=2, base_features=4)).eval()
    with torch.no_grad():
        assert net(torch.zeros(16, 1, 64, 64)).shape == (16, 5, 64, 64)


def test_a_2d_net_with_context_takes_each_slice_between_its_neighbours_as_channels():
    net = UNet2d(UNetConfig(dims=2, base_features=4, context_slices=2)).eval()
    with torch.no_grad():
        assert net(torch.zeros(16, 5, 64, 64)).shape == (16, 5, 64, 64)
    with pytest.raises(ValueError, match="0 for a 3D net"):
        UNetConfig(dims=3, context_slices=1)
    with pytest.raises(ValueError, match="context_slices must be >= 0"):
        UNetConfig(dims=2, context_slices=-1)


def test_the_3d_net_convolves_in_xy_only_until_its_voxels_are_near_isotropic():
    net = UNet3d(UNetConfig(dims=3, levels=4, base_features=2, anisotropy=4.0))
    first_convs = [block[0].kernel_size for block in net.down]
    assert first_convs == [(1, 3, 3), (1, 3, 3), (3, 3, 3), (3, 3, 3)]
    assert [p.kernel_size for p in net.pool] == [(1, 2, 2), (1, 2, 2), (2, 2, 2)]
    iso = UNet3d(UNetConfig(dims=3, levels=3, base_features=2, anisotropy=1.0))
    assert [block[0].kernel_size for block in iso.down] == [(3, 3, 3)] * 3


def test_an_input_the_pooling_cannot_divide_is_refused_in_one_sentence():
    net = UNet3d(UNetConfig(dims=3, base_features=2)).eval()
    with pytest.raises(ValueError, match=r"divisible by \(2, 4, 4\)"):
        net(torch.zeros(1, 1, 15, 64, 64))


def test_a_config_names_the_classes_in_channel_order():
    assert (
        UNetConfig().classes
        == CLASSES
        == (
            "cytosol",
            "membrane",
            "mitochondria",
            "vesicle_cloud",
            "synaptic_junction",
        )
    )
    with pytest.raises(ValueError, match="dims must be 2 or 3"):
        UNetConfig(dims=4)


@pytest.mark.parametrize("dims", [2, 3])
def test_a_checkpoint_reloads_the_same_net_with_its_config_and_data(tmp_path, dims):
    cfg = UNetConfig(dims=dims, levels=2, base_features=3)
    torch.manual_seed(1)
    net = build_unet(cfg).eval()
    x = torch.rand(2, 1, 4, 16, 16) if dims == 3 else torch.rand(2, 1, 16, 16)
    path = tmp_path / "w" / "net.pt"
    save_checkpoint(path, net, cfg, {"seeds": [3, 4]}, {"f1": {"membrane": 0.9}})
    assert [p.name for p in path.parent.iterdir()] == ["net.pt"]  # no temporary file left
    model, config, meta = load_checkpoint(path)
    assert config == cfg
    assert meta == {"data": {"seeds": [3, 4]}, "metrics": {"f1": {"membrane": 0.9}}}
    assert not model.training
    with torch.no_grad():
        torch.testing.assert_close(model(x), net(x))


def test_loading_something_that_is_not_a_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no U-Net checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"weights": 1}, bad)
    with pytest.raises(ValueError, match="is not a U-Net checkpoint"):
        load_checkpoint(bad)
