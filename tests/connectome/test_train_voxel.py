"""`connectome train unet3d|unet2d`: registered, and --quick writes a loadable checkpoint."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from connectome import train_voxel
from connectome.train import default_out, trainers
from models.inference import predict_array
from models.unet import CLASSES, UNet3d, load_checkpoint
from tests.conftest import train_quick


def test_the_voxel_trainers_join_the_registry():
    assert {"unet3d", "unet2d"} <= set(trainers())
    assert train_voxel.NETS["unet3d"].dims == 3 and train_voxel.NETS["unet2d"].dims == 2


def test_no_evaluation_phantom_is_a_training_phantom():
    from benchmarks.models import EVAL_SEEDS

    used = {*train_voxel.TRAIN_SEEDS, train_voxel.VALIDATION_SEED}
    assert not used & set(EVAL_SEEDS)


def test_connectome_train_unet3d_quick_writes_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "net" / "unet3d.pt"
    train_quick("unet3d", out)
    model, config, meta = load_checkpoint(out)
    assert isinstance(model, UNet3d) and config.classes == CLASSES
    assert meta["data"]["train_seeds"] == [train_voxel.TRAIN_SEEDS[0]]
    assert meta["data"]["quick"] is True and meta["data"]["classes"] == list(CLASSES)
    assert set(meta["metrics"]["f1"]) == set(CLASSES)
    assert out.stat().st_size < 2_000_000
    torch.set_num_threads(1)
    prob = predict_array(model, np.full((4, 20, 20), 128, np.uint8))
    assert prob.shape == (5, 4, 20, 20)


def test_the_shipped_weights_are_small_and_describe_their_data():
    for name in ("unet3d", "unet2d"):
        path = default_out(name)
        assert path.stat().st_size < 2_000_000
        _, config, meta = load_checkpoint(path)
        assert meta["data"]["quick"] is False
        assert meta["data"]["train_seeds"] == list(train_voxel.TRAIN_SEEDS)
        assert config == train_voxel.NETS[name]


def _tiny_volume():
    from models.voxel_training import voxel_targets

    cells = np.repeat(np.arange(1, 9), 2)[None, None, :].repeat(4, 0).repeat(16, 1)
    none = np.zeros(cells.shape, np.uint8)
    target = voxel_targets(cells, none, none, none)
    return np.where(target[1] > 0, 45, 165).astype(np.uint8), target


def test_a_training_phase_starts_from_the_weights_of_the_phase_before():
    from models.unet import UNetConfig
    from models.voxel_training import TrainConfig

    torch.set_num_threads(1)
    config = UNetConfig(dims=3, levels=2, base_features=2)
    volume = _tiny_volume()
    first = TrainConfig(iterations=3, batch_size=1, crop_zyx=(2, 8, 8), seed=0)
    still = TrainConfig(iterations=1, batch_size=1, crop_zyx=(2, 8, 8), lr=1e-12, seed=1)
    alone, _ = train_voxel.train_phases(config, [volume], volume, [first], "t", False)
    both, metrics = train_voxel.train_phases(config, [volume], volume, [first, still], "t", False)
    fresh, _ = train_voxel.train_phases(config, [volume], volume, [still], "t", False)
    weights = [dict(net.named_parameters()) for net in (alone, both, fresh)]
    body = [k for k in weights[0] if not k.startswith("head.")]  # a phase resets head biases
    assert body and all(torch.allclose(weights[0][k], weights[1][k], atol=1e-9) for k in body)
    assert not all(torch.equal(weights[0][k], weights[2][k]) for k in body)
    assert metrics["iterations"] == 4 and [p["iterations"] for p in metrics["phases"]] == [3, 1]
    assert set(metrics["f1"]) == set(config.classes)


def test_the_models_benchmark_names_the_classes_that_miss_their_goal():
    from benchmarks.models import GOALS, goals_met

    at_goal = dict(GOALS, vesicle_cloud=0.0)  # vesicle clouds have no goal
    assert goals_met(at_goal) == {"met": True, "missed": {}}
    below = dict(at_goal, membrane=0.9482, synaptic_junction=0.8499)
    assert goals_met(below) == {
        "met": False,
        "missed": {"membrane": 0.9482, "synaptic_junction": 0.8499},
    }


@pytest.mark.parametrize("name", ["unet3d", "unet2d"])
def test_the_shipped_weights_record_the_net_and_phases_their_trainer_runs(name):
    """So ``connectome train NAME`` (seed 0) makes the shipped file again."""
    _, config, meta = load_checkpoint(default_out(name))
    assert config == train_voxel.NETS[name]
    phases = [replace(run, seed=k).to_dict() for k, run in enumerate(train_voxel.RUNS[name])]
    as_json = lambda value: json.loads(json.dumps(value))  # noqa: E731 (tuples become lists)
    assert as_json(meta["data"]["training"]) == as_json(phases)
    assert meta["metrics"]["iterations"] == sum(run.iterations for run in train_voxel.RUNS[name])
