"""A small point-cloud network for compartments and cell types (pure torch).

SyConn2 (Schubert et al., thesis chapter 4) classifies cell surfaces as point clouds: points
sampled from a cell's mesh and from its organelles' meshes, each with a one-hot feature saying
what it came from (cell surface, mitochondrion, vesicle cloud, synaptic junction), in local
contexts around skeleton nodes for compartments and in large contexts for cell types. It used
LightConvPoint; this is the same idea in PointNet++ / DGCNN form: two geometry layers
(:class:`PointConv`) see each point's ``k`` nearest neighbours and a wider, dilated
neighbourhood (every ``dilation``-th of the ``k * dilation`` nearest) as offsets scaled to
order one, with their features; EdgeConv layers (Wang et al. 2019, :class:`EdgeConv`) then
mix the features of neighbours, alternately near and wide. The layers' outputs are
concatenated, pooled over the cloud (maximum and mean) into one vector, and two heads read
them:

- the **segmentation head**: per point, its features and the cloud's vector ->
  ``(batch, n_points, n_seg_classes)`` logits;
- the **classification head**: the cloud's vector -> ``(batch, n_cls_classes)`` logits.

Tensor layouts: coordinates ``(batch, n_points, 3)`` (x, y, z, already centred on the context
and divided by a fixed scale, see :func:`normalise`: a fixed scale keeps absolute sizes, which
tell a soma from a spine); features ``(batch, n_points, n_features)`` one-hot floats.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class PointNetConfig:
    """Shape of the network.

    Examples
    --------
    >>> PointNetConfig(n_features=4, n_seg_classes=5).k
    12
    """

    n_features: int = 4
    n_seg_classes: int = 5
    n_cls_classes: int = 2
    k: int = 12  # neighbours of every point in each layer
    dilation: int = 3  # the wide neighbourhood: every 3rd of the k * 3 nearest points
    geometry_width: int = 32  # output width of each of the two geometry layers
    rel_scales: tuple[float, float] = (10.0, 3.0)  # neighbour offsets are multiplied by these
    widths: tuple[int, ...] = (64, 64)  # EdgeConv output widths
    embedding: int = 128  # per-point width before pooling
    dropout: float = 0.2
    feature_names: tuple[str, ...] = field(default_factory=tuple)  # one name per feature column
    seg_names: tuple[str, ...] = field(default_factory=tuple)  # one name per segmentation class
    cls_names: tuple[str, ...] = field(default_factory=tuple)  # one name per cloud class

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PointNetConfig:
        tuples = {k: tuple(v) for k, v in d.items() if isinstance(v, list | tuple)}
        return cls(**{**d, **tuples})


def knn(coords: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``(batch, n_points, k)`` of each point's ``k`` nearest points (itself first).

    Examples
    --------
    >>> knn(torch.tensor([[[0.0, 0, 0], [1, 0, 0], [5, 0, 0]]]), 2)[0].tolist()
    [[0, 1], [1, 0], [2, 1]]
    """
    d = torch.cdist(coords, coords)
    return d.topk(min(k, coords.shape[1]), dim=-1, largest=False).indices


def _gather(h: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``h[b, idx[b, i, j]]`` -> ``(batch, n_points, k, channels)``."""
    b, n, k = idx.shape
    flat = idx.reshape(b, n * k, 1).expand(-1, -1, h.shape[-1])
    return torch.gather(h, 1, flat).reshape(b, n, k, h.shape[-1])


def _mlp(*widths: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU()]
    return nn.Sequential(*layers)


class EdgeConv(nn.Module):
    """``act(norm(A h_i + max_j B h_j))`` over the neighbours ``j`` of every point ``i``, then
    a per-point layer.

    This is EdgeConv with a one-layer edge function ``A' h_i + B (h_j - h_i)`` (``A = A' - B``)
    and the maximum taken before the (monotonic) activation: the same maximum as DGCNN's for
    one layer, computed per point and gathered, so no ``(n, k, channels)`` product is formed.
    """

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.own = nn.Linear(c_in, c_out)
        self.neighbour = nn.Linear(c_in, c_out, bias=False)
        self.norm = nn.LayerNorm(c_out)
        self.post = _mlp(c_out, c_out)

    def forward(self, h: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        nb = _gather(self.neighbour(h), idx).amax(dim=2)
        return self.post(nn.functional.gelu(self.norm(self.own(h) + nb)))


class PointConv(nn.Module):
    """PointNet++'s local feature: ``max_j mlp(scale * (x_j - x_i), f_j)`` over neighbours."""

    def __init__(self, n_features: int, c_out: int, scale: float):
        super().__init__()
        self.scale = scale
        self.mlp = nn.Sequential(_mlp(4 + n_features, c_out), nn.Linear(c_out, c_out))

    def forward(self, coords: torch.Tensor, feats: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        rel = (_gather(coords, idx) - coords.unsqueeze(2)) * self.scale
        edge = torch.cat([rel, rel.norm(dim=-1, keepdim=True), _gather(feats, idx)], dim=-1)
        return nn.functional.gelu(self.mlp(edge).amax(dim=2))


class PointNet(nn.Module):
    """EdgeConv layers on ``(coords, features)`` with a per-point and a per-cloud head.

    Examples
    --------
    >>> net = PointNet(PointNetConfig(n_features=4, n_seg_classes=5, n_cls_classes=2))
    >>> seg, cls = net(torch.zeros(2, 64, 3), torch.zeros(2, 64, 4))
    >>> tuple(seg.shape), tuple(cls.shape)
    ((2, 64, 5), (2, 2))
    """

    def __init__(self, config: PointNetConfig):
        super().__init__()
        self.config = config
        self.local = PointConv(config.n_features, config.geometry_width, config.rel_scales[0])
        self.wide = PointConv(config.n_features, config.geometry_width, config.rel_scales[1])
        c = 3 + config.n_features + 2 * config.geometry_width
        self.convs = nn.ModuleList()
        for w in config.widths:
            self.convs.append(EdgeConv(c, w))
            c = w
        total = 2 * config.geometry_width + sum(config.widths)
        self.embed = _mlp(total, config.embedding)
        self.seg = nn.Sequential(
            _mlp(total + 2 * config.embedding, 128, 64),
            nn.Dropout(config.dropout),
            nn.Linear(64, config.n_seg_classes),
        )
        self.cls = nn.Sequential(
            _mlp(2 * config.embedding, 128),
            nn.Dropout(config.dropout),
            nn.Linear(128, config.n_cls_classes),
        )

    def forward(
        self, coords: torch.Tensor, features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits ``(batch, n_points, n_seg_classes)`` and ``(batch, n_cls_classes)``."""
        n_feat = self.config.n_features
        if coords.ndim != 3 or coords.shape[-1] != 3 or features.shape != (*coords.shape[:2],
                                                                            n_feat):  # fmt: skip
            raise ValueError(
                f"expected coordinates (batch, n_points, 3) and features (batch, n_points, "
                f"{n_feat}); got {tuple(coords.shape)} and {tuple(features.shape)}"
            )
        k, dilation = self.config.k, self.config.dilation
        idx = knn(coords, k * dilation)
        near, wide = idx[..., :k], idx[..., ::dilation]
        outs = [self.local(coords, features, near), self.wide(coords, features, wide)]
        h = torch.cat([coords, features, *outs], dim=-1)
        for i, conv in enumerate(self.convs):
            h = conv(h, near if i % 2 == 0 else wide)
            outs.append(h)
        point = torch.cat(outs, dim=-1)
        emb = self.embed(point)
        pooled = torch.cat([emb.amax(dim=1), emb.mean(dim=1)], dim=-1)
        seg_in = torch.cat([point, pooled.unsqueeze(1).expand(-1, point.shape[1], -1)], dim=-1)
        return self.seg(seg_in), self.cls(pooled)


def normalise(points_nm_xyz: np.ndarray, centre_nm_xyz: np.ndarray, scale_nm: float) -> np.ndarray:
    """Coordinates as the network takes them: centred on the context, divided by a scale.

    Examples
    --------
    >>> normalise(np.array([[1000.0, 0, 500]]), np.array([500.0, 0, 0]), 1000.0).tolist()
    [[0.5, 0.0, 0.5]]
    """
    return ((np.asarray(points_nm_xyz, float) - centre_nm_xyz) / scale_nm).astype(np.float32)


def device() -> torch.device:
    """CUDA when present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def save_checkpoint(
    path: str | os.PathLike,
    net: PointNet,
    data: dict[str, Any],
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write ``{state_dict, config, data, metrics}`` atomically (temp file + os.replace).

    Examples
    --------
    >>> import tempfile
    >>> net = PointNet(PointNetConfig(n_features=4))
    >>> p = save_checkpoint(Path(tempfile.mkdtemp()) / "w.pt", net, {"seeds": [1]})
    >>> again, data = load_checkpoint(p)
    >>> again.config == net.config, data["seeds"]
    (True, [1])
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    torch.save(
        {"state_dict": state, "config": asdict(net.config), "data": data,
         "metrics": metrics or {}},
        tmp,
    )  # fmt: skip
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[PointNet, dict[str, Any]]:
    """The network of a checkpoint (in eval mode, on the CPU) and its data description."""
    saved = torch.load(Path(path), map_location="cpu", weights_only=True)
    net = PointNet(PointNetConfig.from_dict(saved["config"]))
    net.load_state_dict(saved["state_dict"])
    net.eval()
    return net, {**saved["data"], "metrics": saved.get("metrics", {})}
