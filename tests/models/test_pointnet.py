"""Shape contracts and checkpoints of the point-cloud network (models.pointnet)."""

from __future__ import annotations

import pytest
import torch

from models.pointnet import PointNet, PointNetConfig, knn, load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def net() -> PointNet:
    torch.manual_seed(0)
    return PointNet(PointNetConfig(n_features=5, n_seg_classes=5, n_cls_classes=3, k=8)).eval()


def test_heads_give_a_label_per_point_and_one_per_cloud(net):
    seg, cls = net(torch.randn(2, 96, 3), torch.zeros(2, 96, 5))
    assert seg.shape == (2, 96, 5) and cls.shape == (2, 3)


def test_fewer_points_than_neighbours_still_works(net):
    seg, cls = net(torch.randn(1, 4, 3), torch.zeros(1, 4, 5))
    assert seg.shape == (1, 4, 5) and cls.shape == (1, 3)


def test_wrong_feature_count_is_one_clear_sentence(net):
    with pytest.raises(ValueError, match=r"expected coordinates \(batch, n_points, 3\)"):
        net(torch.randn(1, 10, 3), torch.zeros(1, 10, 4))


def test_point_labels_follow_the_points_when_they_are_reordered(net):
    coords, feats = torch.randn(1, 64, 3), torch.eye(5)[torch.randint(0, 5, (1, 64))]
    order = torch.randperm(64)
    with torch.no_grad():
        seg, cls = net(coords, feats)
        seg2, cls2 = net(coords[:, order], feats[:, order])
    assert torch.allclose(seg[:, order], seg2, atol=1e-5)
    assert torch.allclose(cls, cls2, atol=1e-5)


def test_neighbours_are_the_nearest_points():
    coords = torch.tensor([[[0.0, 0, 0], [10, 0, 0], [1, 0, 0], [11, 0, 0]]])
    assert knn(coords, 2)[0].tolist() == [[0, 2], [1, 3], [2, 0], [3, 1]]


def test_a_checkpoint_gives_back_the_same_network_and_its_data(net, tmp_path):
    path = save_checkpoint(tmp_path / "w.pt", net, {"seeds": [1, 2]}, {"f1": 0.5})
    again, data = load_checkpoint(path)
    coords, feats = torch.randn(1, 32, 3), torch.zeros(1, 32, 5)
    with torch.no_grad():
        assert torch.equal(net(coords, feats)[0], again(coords, feats)[0])
    assert again.config == net.config
    assert data == {"seeds": [1, 2], "metrics": {"f1": 0.5}}
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]  # no temporary file left


def test_the_network_learns_to_tell_clouds_apart():
    """A cloud of one feature vs. another: a few steps must separate them."""
    torch.manual_seed(1)
    net = PointNet(PointNetConfig(n_features=2, n_seg_classes=2, n_cls_classes=2, k=4))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    labels = torch.tensor([0, 1] * 4)
    feats = torch.eye(2)[labels][:, None, :].expand(-1, 32, -1).contiguous()
    for _ in range(30):
        _, cls = net(torch.randn(8, 32, 3), feats)
        loss = torch.nn.functional.cross_entropy(cls, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(8, 32, 3), feats)[1].argmax(1).tolist() == labels.tolist()
