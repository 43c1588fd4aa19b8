"""PSNR and SSIM as deraining papers report them: on the Y channel of YCbCr, 8-bit range.

The papers' evaluation scripts run MATLAB: ``rgb2ycbcr`` (BT.601 studio range, Y in [16, 235];
for 8-bit images MATLAB rounds Y to integers) and Wang et al.'s SSIM (11x11 Gaussian window,
sigma 1.5, K1 .01, K2 .03, L 255, 'valid' filtering). Any other convention gives numbers that
cannot be compared with the published tables, so this module reproduces that one.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["rgb_to_y", "psnr", "ssim", "psnr_y", "ssim_y"]

# MATLAB rgb2ycbcr, luma row: Y = 16 + 65.481 R + 128.553 G + 24.966 B, with R, G, B in [0, 1].
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966])


def _to_unit_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    if image.dtype == np.uint16:
        return image.astype(np.float64) / 65535.0
    if np.issubdtype(image.dtype, np.floating):
        return image.astype(np.float64)
    raise TypeError(f"unsupported image dtype {image.dtype}")


def rgb_to_y(image: np.ndarray, *, round_8bit: bool = True) -> np.ndarray:
    """Y of an HxWx3 RGB image (uint8, uint16 or float in [0, 1]) on the 0..255 scale, float64.

    With ``round_8bit`` (the MATLAB behaviour the papers rely on) Y of a uint8 image is rounded to
    integers, as MATLAB's ``rgb2ycbcr`` returns uint8 for uint8 input.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {image.shape}")
    y = 16.0 + _to_unit_float(image) @ _Y_WEIGHTS
    if round_8bit and image.dtype == np.uint8:
        y = np.round(y)
    return y


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB of two same-shape arrays (inf when identical)."""
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch {a.shape} vs {b.shape}")
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def _gaussian_taps(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    taps = np.exp(-(x**2) / (2 * sigma**2))
    return taps / taps.sum()  # MATLAB fspecial('gaussian', 11, 1.5) is this outer product


def _filter_valid(image: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation (no border handling: only fully covered pixels)."""
    k = len(taps)
    h, w = image.shape
    rows = sum(taps[i] * image[i:h - k + 1 + i, :] for i in range(k))
    return sum(taps[i] * rows[:, i:w - k + 1 + i] for i in range(k))


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, *, window: int = 11,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> float:
    """Mean SSIM of two single-channel images (Wang et al. 2004, Gaussian window, 'valid' region)."""
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"expected two same-shape 2-D images, got {a.shape} and {b.shape}")
    if min(a.shape) < window:
        raise ValueError(f"SSIM needs images of at least {window}x{window} pixels, got {a.shape}")
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    taps = _gaussian_taps(window, sigma)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_a, mu_b = _filter_valid(a, taps), _filter_valid(b, taps)
    var_a = _filter_valid(a * a, taps) - mu_a**2
    var_b = _filter_valid(b * b, taps) - mu_b**2
    cov = _filter_valid(a * b, taps) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def psnr_y(restored: np.ndarray, reference: np.ndarray) -> float:
    """PSNR on the Y channel of two RGB images, the deraining papers' headline number."""
    return psnr(rgb_to_y(restored), rgb_to_y(reference))


def ssim_y(restored: np.ndarray, reference: np.ndarray) -> float:
    """SSIM on the Y channel of two RGB images (MATLAB convention)."""
    return ssim(rgb_to_y(restored), rgb_to_y(reference))
