"""`connectome train fib25_unet3d|fib25_unet2d`: registered, trained on FIB-25 below z = 150
only, and --quick writes a loadable one-class boundary checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from connectome import train_fib25
from connectome.train import default_out, trainers
from models.inference import predict_array
from models.unet import UNet2d, load_checkpoint
from tests.conftest import train_quick


def test_the_fib25_trainers_join_the_registry():
    assert {"fib25_unet3d", "fib25_unet2d"} <= set(trainers())
    assert train_fib25.NETS["fib25_unet3d"].dims == 3 and train_fib25.NETS["fib25_unet2d"].dims == 2
    assert all(net.classes == ("boundary",) for net in train_fib25.NETS.values())


def test_the_boundary_is_both_sides_of_every_contact_between_bodies():
    bodies = np.ones((3, 6, 6), np.uint64)
    bodies[:, :, 3:] = 2**60  # two bodies meeting between x = 2 and x = 3
    bodies[1, 0, 0] = 0  # unlabelled voxels are never boundary
    target = train_fib25.boundary_target(bodies)
    assert target.shape == (1, 3, 6, 6) and target.dtype == np.uint8
    expected = np.zeros((3, 6, 6), np.uint8)
    expected[:, :, 2:4] = 1
    expected[0, 0, 0] = expected[2, 0, 0] = expected[1, 1, 0] = expected[1, 0, 1] = 1
    assert np.array_equal(target[0], expected)


@pytest.mark.skipif(not train_fib25.SAMPLE.exists(), reason="the FIB-25 sample is not here")
def test_connectome_train_fib25_quick_writes_a_checkpoint_that_never_saw_the_test_block(tmp_path):
    out = tmp_path / "net" / "fib25_unet2d.pt"
    train_quick("fib25_unet2d", out)
    model, config, meta = load_checkpoint(out)
    assert isinstance(model, UNet2d) and config.classes == ("boundary",)
    data = meta["data"]
    assert data["quick"] is True and data["classes"] == ["boundary"]
    assert data["train_zyx"][0][1] <= train_fib25.TEST_Z_FROM
    assert data["validation_zyx"][0][1] <= train_fib25.TEST_Z_FROM
    assert set(meta["metrics"]["f1"]) == {"boundary"}
    torch.set_num_threads(1)
    assert predict_array(model, np.full((4, 20, 20), 128, np.uint8)).shape == (1, 4, 20, 20)


@pytest.mark.parametrize("name", sorted(train_fib25.NETS))
def test_the_shipped_fib25_weights_are_small_and_were_trained_below_z_150(name):
    path = default_out(name)
    assert path.stat().st_size < 2_000_000
    _, config, meta = load_checkpoint(path)
    assert config == train_fib25.NETS[name]
    assert meta["data"]["quick"] is False
    assert meta["data"]["train_zyx"][0][1] <= train_fib25.TEST_Z_FROM
    assert meta["metrics"]["f1"]["boundary"] > 0.6
