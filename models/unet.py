"""Voxel U-Nets: a 3D U-Net with anisotropy-aware kernels and a 2D U-Net applied slice by slice.

Both predict one logit per class (multilabel: a voxel may be membrane and synaptic junction at
once; apply a sigmoid per channel, not a softmax). Tensor layouts:

- :class:`UNet3d`: input ``(batch, channel, z, y, x)``, output ``(batch, classes, z, y, x)``;
- :class:`UNet2d`: input ``(batch, channel, y, x)``, output ``(batch, classes, y, x)``; a
  volume goes through it as a batch of z slices (:mod:`models.inference`). With
  ``context_slices = c`` each slice comes with its ``c`` neighbours on either side as
  channels (:func:`slice_index`: ``2c + 1`` channels, the slice itself in the middle), so a
  2D net can still look across sections while convolving in 2D only.

Anisotropy: EM volumes are often cut thicker than their pixel size (the phantom: 20 nm
sections, 10 nm pixels, ``anisotropy = 2``). While a level's voxels are still more than
about 1.5 times as deep as wide, the 3D net uses ``(1, 3, 3)`` kernels there and pools only in
``y, x`` (``(1, 2, 2)``); once they are near isotropic it uses ``(3, 3, 3)`` and pools
``(2, 2, 2)``. So a 3-level net on the phantom convolves in 2D at 20x10x10 nm, then in 3D at
20x20x20 and 40x40x40 nm.

Every convolution pads ("same"), so the output has the input's shape as long as each spatial
size is divisible by the product of that axis's pooling factors (:meth:`UNetConfig.divisor`).
Normalisation is BatchNorm, which in ``eval()`` mode is a fixed per-channel affine map: the
prediction of a voxel then does not depend on which patch it was predicted in (beyond the
padding), so chunked inference can reproduce a whole-volume prediction.

Checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`) are ``torch.save`` dicts with
``state_dict``, ``config`` (the :class:`UNetConfig` as a dict), ``data`` (what the model was
trained on) and ``metrics``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import nn

CLASSES = ("cytosol", "membrane", "mitochondria", "vesicle_cloud", "synaptic_junction")
"""The voxel classes of the shipped models, in channel order."""


def default_device() -> torch.device:
    """CUDA when ``torch.cuda.is_available()``, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def normalise_raw(raw: ArrayLike) -> NDArray[np.float32]:
    """The net's input from a uint8 EM image: ``(raw - 128) / 64`` as float32, same shape.

    Training and inference both go through here, so a model sees the same scale in both.

    Examples
    --------
    >>> normalise_raw(np.array([0, 128, 255], dtype=np.uint8)).tolist()
    [-2.0, 0.0, 1.984375]
    """
    return (np.asarray(raw, dtype=np.float32) - np.float32(128.0)) / np.float32(64.0)


def slice_index(z: int, context: int) -> NDArray[np.intp]:
    """Which slices make up each slice's stack: ``(z, 2 * context + 1)`` indices, slice ``k``
    with ``k - context ... k + context``, repeating the first and last slice past the ends.

    Examples
    --------
    >>> slice_index(3, 1).tolist()
    [[0, 0, 1], [0, 1, 2], [1, 2, 2]]
    """
    idx = np.arange(z)[:, None] + np.arange(-context, context + 1)[None, :]
    return np.clip(idx, 0, max(z - 1, 0))


@dataclass(frozen=True)
class UNetConfig:
    """One U-Net experiment: shape of the net and what its channels mean.

    Parameters
    ----------
    dims : int
        3 for :class:`UNet3d` (volumes), 2 for :class:`UNet2d` (slices).
    in_channels : int
        Input channels (1: the raw EM image).
    levels : int
        Resolution levels, including the bottom one (3: two poolings).
    base_features : int
        Feature maps at the first level; doubled at each level down.
    anisotropy : float
        Voxel depth over voxel width (z size / xy size; 2.0 for 20x10x10 nm). Only used by
        the 3D net.
    classes : tuple of str
        Output channel names (one sigmoid each).
    context_slices : int
        2D net only: neighbouring slices on each side that come with every slice as extra
        input channels (0: the slice alone).

    Examples
    --------
    >>> cfg = UNetConfig(dims=3, levels=3, anisotropy=2.0)
    >>> cfg.kernels()
    [(1, 3, 3), (3, 3, 3), (3, 3, 3)]
    >>> cfg.pools()
    [(1, 2, 2), (2, 2, 2)]
    >>> cfg.divisor()
    (2, 4, 4)
    >>> UNetConfig(dims=2, levels=3).divisor()
    (1, 4, 4)
    """

    dims: int = 3
    in_channels: int = 1
    levels: int = 3
    base_features: int = 16
    anisotropy: float = 2.0
    classes: tuple[str, ...] = field(default=CLASSES)
    context_slices: int = 0

    def __post_init__(self) -> None:
        if self.dims not in (2, 3):
            raise ValueError(f"UNetConfig.dims must be 2 or 3, got {self.dims!r}")
        if self.levels < 1 or self.base_features < 1 or self.in_channels < 1:
            raise ValueError("UNetConfig.levels, base_features and in_channels must be >= 1")
        if self.anisotropy <= 0:
            raise ValueError(f"UNetConfig.anisotropy must be > 0, got {self.anisotropy!r}")
        if not self.classes:
            raise ValueError("UNetConfig.classes must name at least one class")
        if self.context_slices < 0 or (self.dims == 3 and self.context_slices):
            raise ValueError(
                "UNetConfig.context_slices must be >= 0, and 0 for a 3D net (which sees its "
                f"neighbouring slices anyway), got {self.context_slices!r}"
            )
        object.__setattr__(self, "classes", tuple(self.classes))

    @property
    def n_classes(self) -> int:
        """Number of output channels."""
        return len(self.classes)

    @property
    def net_channels(self) -> int:
        """Input channels of the net itself: ``in_channels`` per slice, for the slice and its
        ``context_slices`` neighbours on each side."""
        return self.in_channels * (2 * self.context_slices + 1)

    def _plan(self) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """Kernels per level and pooling factors between levels, as ``(z, y, x)``."""
        kernels, pools = [], []
        ratio = self.anisotropy if self.dims == 3 else 1.0
        for level in range(self.levels):
            flat = self.dims == 2 or ratio >= 1.5
            kernels.append((1, 3, 3) if flat else (3, 3, 3))
            if level < self.levels - 1:
                pools.append((1, 2, 2) if flat else (2, 2, 2))
                ratio = ratio / 2 if flat else ratio
        return kernels, pools

    def kernels(self) -> list[tuple[int, int, int]]:
        """Convolution kernel of each level, ``(z, y, x)`` (``z == 1`` for the 2D net)."""
        return self._plan()[0]

    def pools(self) -> list[tuple[int, int, int]]:
        """Pooling factor below each level but the last, ``(z, y, x)``."""
        return self._plan()[1]

    def divisor(self) -> tuple[int, int, int]:
        """What every input size ``(z, y, x)`` must be divisible by (z: 1 for the 2D net)."""
        out = [1, 1, 1]
        for pool in self.pools():
            out = [o * p for o, p in zip(out, pool, strict=True)]
        return (out[0], out[1], out[2])

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for checkpoints and JSON)."""
        d = dataclasses.asdict(self)
        d["classes"] = list(self.classes)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UNetConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown UNetConfig fields {sorted(unknown)}")
        kwargs: dict[str, Any] = {k: tuple(v) if k == "classes" else v for k, v in d.items()}
        return cls(**kwargs)


def _block(dims: int, c_in: int, c_out: int, kernel: tuple[int, int, int]) -> nn.Sequential:
    """Two (conv, BatchNorm, ReLU) with "same" padding."""
    if dims == 3:
        conv: type[nn.Module] = nn.Conv3d
        norm: type[nn.Module] = nn.BatchNorm3d
        k: tuple[int, ...] = kernel
    else:
        conv, norm, k = nn.Conv2d, nn.BatchNorm2d, kernel[1:]
    pad = tuple(s // 2 for s in k)
    return nn.Sequential(
        conv(c_in, c_out, k, padding=pad, bias=False),
        norm(c_out),
        nn.ReLU(inplace=True),
        conv(c_out, c_out, k, padding=pad, bias=False),
        norm(c_out),
        nn.ReLU(inplace=True),
    )


class _UNet(nn.Module):
    """The U-Net shared by both dimensionalities (``config.dims`` picks 2D or 3D layers)."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        dims = config.dims
        feats = [config.base_features * 2**i for i in range(config.levels)]
        kernels, pools = config._plan()
        pool_cls = nn.MaxPool3d if dims == 3 else nn.MaxPool2d
        up_cls = nn.ConvTranspose3d if dims == 3 else nn.ConvTranspose2d

        def sp(t: tuple[int, int, int]) -> Any:  # the kernel/stride for this dimensionality
            return t if dims == 3 else t[1:]

        self.down = nn.ModuleList()
        c_in = config.net_channels
        for f, k in zip(feats, kernels, strict=True):
            self.down.append(_block(dims, c_in, f, k))
            c_in = f
        self.pool = nn.ModuleList(pool_cls(sp(p), stride=sp(p)) for p in pools)
        self.up = nn.ModuleList(
            up_cls(feats[i + 1], feats[i], sp(p), stride=sp(p)) for i, p in enumerate(pools)
        )
        self.dec = nn.ModuleList(
            _block(dims, 2 * feats[i], feats[i], kernels[i]) for i in range(len(pools))
        )
        head = nn.Conv3d if dims == 3 else nn.Conv2d
        self.head = head(feats[0], config.n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        div = self.config.divisor()
        spatial = tuple(x.shape[2:])
        need = div if self.config.dims == 3 else div[1:]
        if len(spatial) != len(need) or any(s % d for s, d in zip(spatial, need, strict=True)):
            raise ValueError(
                f"input of shape {tuple(x.shape)} does not fit this U-Net: expected "
                f"{self.config.dims} spatial axes, each divisible by {need}"
            )
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.pool):
                skips.append(x)
                x = self.pool[i](x)
        for i in reversed(range(len(self.dec))):
            x = self.dec[i](torch.cat([skips[i], self.up[i](x)], dim=1))
        return self.head(x)


class UNet3d(_UNet):
    """Multilabel 3D U-Net, ``(batch, channel, z, y, x) -> (batch, classes, z, y, x)`` logits.

    Examples
    --------
    >>> net = UNet3d(UNetConfig(dims=3, levels=3, base_features=4)).eval()
    >>> net(torch.zeros(1, 1, 16, 64, 64)).shape
    torch.Size([1, 5, 16, 64, 64])
    """

    def __init__(self, config: UNetConfig):
        if config.dims != 3:
            raise ValueError(f"UNet3d needs a config with dims=3, got dims={config.dims}")
        super().__init__(config)


class UNet2d(_UNet):
    """Multilabel 2D U-Net, ``(batch, channel, y, x) -> (batch, classes, y, x)`` logits.

    A volume is segmented slice by slice: its z slices form the batch. With
    ``context_slices = c`` the channels are the slice and its neighbours, ``2c + 1`` of them.

    Examples
    --------
    >>> net = UNet2d(UNetConfig(dims=2, levels=3, base_features=4)).eval()
    >>> net(torch.zeros(16, 1, 64, 64)).shape
    torch.Size([16, 5, 64, 64])
    >>> UNet2d(UNetConfig(dims=2, base_features=4, context_slices=1))(
    ...     torch.zeros(16, 3, 64, 64)).shape
    torch.Size([16, 5, 64, 64])
    """

    def __init__(self, config: UNetConfig):
        if config.dims != 2:
            raise ValueError(f"UNet2d needs a config with dims=2, got dims={config.dims}")
        super().__init__(config)


def build_unet(config: UNetConfig) -> UNet3d | UNet2d:
    """The U-Net a config describes (:class:`UNet3d` or :class:`UNet2d`).

    Examples
    --------
    >>> type(build_unet(UNetConfig(dims=2))).__name__
    'UNet2d'
    """
    return UNet3d(config) if config.dims == 3 else UNet2d(config)


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    config: UNetConfig,
    data: Mapping[str, Any],
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (a temporary file next to ``path``, then ``os.replace``).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.pt`` file to write; its folder is created.
    model : torch.nn.Module
        The trained net; its weights are stored on the CPU.
    config : UNetConfig
        The net's config.
    data : mapping
        What it was trained on (seeds, shapes, classes, ...), plain JSON-like values.
    metrics : mapping, optional
        What was measured (e.g. F1 per class on held-out volumes).

    Returns
    -------
    pathlib.Path
        The path written.

    Examples
    --------
    >>> import tempfile, os
    >>> cfg = UNetConfig(dims=2, levels=2, base_features=2)
    >>> p = save_checkpoint(os.path.join(tempfile.mkdtemp(), "m.pt"), build_unet(cfg), cfg,
    ...                     {"seeds": [1]})
    >>> model, config, meta = load_checkpoint(p)
    >>> config == cfg, meta["data"]
    (True, {'seeds': [1]})
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    blob = {
        "state_dict": state,
        "config": config.to_dict(),
        "data": dict(data),
        "metrics": dict(metrics or {}),
    }
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        torch.save(blob, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_checkpoint(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[UNet3d | UNet2d, UNetConfig, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Returns the model (in ``eval()`` mode, on ``device``), its config and ``meta``, a dict
    with the checkpoint's ``data`` and ``metrics``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a U-Net checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no U-Net checkpoint at {path}")
    try:
        blob = torch.load(path, map_location=device, weights_only=True)
        config = UNetConfig.from_dict(blob["config"])
        model = build_unet(config)
        model.load_state_dict(blob["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise ValueError(f"{path} is not a U-Net checkpoint of this version ({err})") from err
    model.to(device).eval()
    meta = {"data": blob.get("data", {}), "metrics": blob.get("metrics", {})}
    return model, config, meta
