"""PSNR/SSIM on the Y channel agree with scikit-image and with values worked out by hand."""
import math

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from rainstream.metrics import psnr, psnr_y, rgb_to_y, ssim, ssim_y


def _pair(seed: int = 0, shape=(48, 64, 3)):
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, size=shape, dtype=np.uint8)
    noisy = np.clip(clean.astype(np.int16) + rng.integers(-20, 21, size=shape), 0, 255).astype(np.uint8)
    return noisy, clean


def test_rgb_to_y_matlab_convention():
    pixels = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    # MATLAB rgb2ycbcr: black -> 16, white -> 235, pure R/G/B -> round(16 + 65.481) etc.
    assert rgb_to_y(pixels).tolist() == [[16.0, 235.0, 81.0, 145.0, 41.0]]
    unrounded = rgb_to_y(pixels, round_8bit=False)
    assert unrounded[0, 2] == pytest.approx(16 + 65.481)
    # uint16 and float inputs of the same colours give the same unrounded Y.
    assert np.allclose(rgb_to_y(pixels.astype(np.uint16) * 257), unrounded)
    assert np.allclose(rgb_to_y(pixels / 255.0), unrounded)


def test_psnr_hand_computed():
    a = np.zeros((4, 4))
    b = np.zeros((4, 4))
    b[0, 0] = 16.0  # MSE = 256 / 16 = 16 -> PSNR = 10 log10(255^2 / 16)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 16), abs=1e-12)
    assert psnr(a, b) == pytest.approx(36.0896, abs=1e-4)
    assert psnr(a, a) == math.inf


def test_psnr_y_matches_skimage():
    noisy, clean = _pair()
    ours = psnr_y(noisy, clean)
    theirs = peak_signal_noise_ratio(rgb_to_y(clean), rgb_to_y(noisy), data_range=255)
    assert ours == pytest.approx(theirs, abs=1e-9)
    assert 20 < ours < 40


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_y_matches_skimage(seed):
    noisy, clean = _pair(seed)
    ours = ssim_y(noisy, clean)
    theirs = structural_similarity(rgb_to_y(clean), rgb_to_y(noisy), data_range=255, gaussian_weights=True,
                                   sigma=1.5, use_sample_covariance=False)
    assert ours == pytest.approx(theirs, abs=1e-9)
    assert 0 < ours < 1


def test_ssim_of_identical_images_is_one_and_drops_with_noise():
    noisy, clean = _pair()
    y = rgb_to_y(clean)
    assert ssim(y, y) == pytest.approx(1.0)
    assert ssim_y(noisy, clean) < 0.99


def test_ssim_rejects_tiny_images():
    with pytest.raises(ValueError):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))
