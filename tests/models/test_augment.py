"""Augmentation: geometry moves raw and targets together, intensity touches only the raw."""

from __future__ import annotations

import numpy as np
import pytest

from models.augment import AugmentConfig, augment

GEOMETRY_ONLY = AugmentConfig(gamma_p=0.0, noise_p=0.0, blur_p=0.0, missing_section_p=0.0)
INTENSITY_ONLY = AugmentConfig(flip=False, rotate90=False, misalign_p=0.0)


def _crop(shape=(6, 16, 16), seed=0):
    """Targets of random blobs and a raw image drawn from them (raw = f(targets))."""
    rng = np.random.default_rng(seed)
    target = (rng.random((2, *shape)) < 0.3).astype(np.uint8)
    raw = (40 + 100 * target[0] + 60 * target[1]).astype(np.uint8)
    return raw, target


@pytest.mark.parametrize("seed", range(8))
def test_flips_rotations_and_misalignment_move_raw_and_targets_together(seed):
    raw, target = _crop(seed=seed)
    cfg = AugmentConfig(gamma_p=0.0, noise_p=0.0, blur_p=0.0, missing_section_p=0.0,
                        misalign_p=1.0)  # fmt: skip
    r, t = augment(raw, target, np.random.default_rng(seed), cfg)
    assert r.shape == raw.shape and t.shape == target.shape and t.dtype == target.dtype
    np.testing.assert_array_equal(r, 40 + 100 * t[0] + 60 * t[1])
    assert t.sum() == target.sum()  # moved, never made or lost


def test_the_geometric_transforms_really_change_the_crop():
    raw, target = _crop()
    changed = [
        not np.array_equal(augment(raw, target, np.random.default_rng(s), GEOMETRY_ONLY)[0], raw)
        for s in range(10)
    ]
    assert sum(changed) >= 8


def test_a_crop_that_is_not_square_in_xy_keeps_its_shape_under_rotation():
    raw, target = _crop(shape=(4, 8, 12))
    for s in range(10):
        r, t = augment(raw, target, np.random.default_rng(s), GEOMETRY_ONLY)
        assert r.shape == (4, 8, 12) and t.shape == (2, 4, 8, 12)


def test_gamma_noise_and_blur_change_the_raw_image_only():
    raw, target = _crop()
    cfg = AugmentConfig(flip=False, rotate90=False, misalign_p=0.0, gamma_p=1.0, noise_p=1.0,
                        blur_p=1.0, missing_section_p=0.0)  # fmt: skip
    r, t = augment(raw, target, np.random.default_rng(3), cfg)
    np.testing.assert_array_equal(t, target)
    assert r.dtype == np.float32 and 0.0 <= r.min() and r.max() <= 255.0
    assert np.abs(r - raw).mean() > 3.0


def test_a_missing_section_is_one_flat_slice_with_its_targets_kept():
    raw, target = _crop()
    cfg = AugmentConfig(flip=False, rotate90=False, misalign_p=0.0, gamma_p=0.0, noise_p=0.0,
                        blur_p=0.0, missing_section_p=1.0)  # fmt: skip
    r, t = augment(raw, target, np.random.default_rng(5), cfg)
    flat = [z for z in range(r.shape[0]) if np.ptp(r[z]) == 0]
    assert len(flat) == 1
    others = [z for z in range(r.shape[0]) if z != flat[0]]
    np.testing.assert_array_equal(r[others], raw[others])
    np.testing.assert_array_equal(t, target)


def test_the_same_seed_gives_the_same_crop_and_another_seed_another():
    raw, target = _crop()
    a = augment(raw, target, np.random.default_rng(11))
    b = augment(raw, target, np.random.default_rng(11))
    c = augment(raw, target, np.random.default_rng(12))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_raw_and_targets_of_different_shapes_are_refused_in_one_sentence():
    raw, target = _crop()
    with pytest.raises(ValueError, match="same z, y, x shape"):
        augment(raw[:-1], target, np.random.default_rng(0), INTENSITY_ONLY)
