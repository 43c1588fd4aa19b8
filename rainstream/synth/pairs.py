"""Paired training data: OUT/input/NAME.png (rainy) and OUT/target/NAME.png (clean), same names.

This is the layout the NeRD-Rain reference scripts and our training code read. Each pair's rain
comes from a generator seeded by (seed, photo name, copy index), so re-running reproduces the
same files and adding a photo does not change the others.
"""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.synth.images import is_image_path, read_image, write_png
from rainstream.synth.render import render_rain
from rainstream.synth.settings import RainSettings


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted; a one-line error if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RainstreamError(f"not a folder: {folder}")
    images = sorted(p for p in folder.iterdir() if p.is_file() and is_image_path(p))
    if not images:
        raise RainstreamError(f"no images (.jpg, .png, ...) in {folder}")
    return images


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size crop; images smaller than that are first enlarged to fit (0 = no crop)."""
    if size <= 0:
        return image
    height, width = image.shape[:2]
    if min(height, width) < size:
        scale = size / min(height, width)
        width, height = max(size, round(width * scale)), max(size, round(height * scale))
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC)
        image = np.clip(image, 0.0, 1.0)
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return image[top:top + size, left:left + size]


def pair_rng(seed: int, name: str, copy: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(name.encode()), copy])


def make_pairs(clean_dir: Path, out_dir: Path, count_per_image: int = 1, seed: int = 0,
               size: int = 256, haze: bool = False, settings: RainSettings | None = None) -> int:
    """Write ``count_per_image`` rainy/clean pairs per photo; returns the number of pairs.

    ``settings`` None samples a new rain condition per pair (drizzle to downpour, the training
    distribution); ``haze`` adds a veil to half of them (or to all, with fixed ``settings``).
    The settings of every pair go to OUT/rain_settings.jsonl for the model card.
    """
    if count_per_image < 1:
        raise RainstreamError("`count_per_image` must be at least 1")
    if size < 0:
        raise RainstreamError("`size` must be >= 0 (0 keeps whole images)")
    images = list_images(Path(clean_dir))
    out_dir = Path(out_dir)
    try:
        (out_dir / "input").mkdir(parents=True, exist_ok=True)
        (out_dir / "target").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RainstreamError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    records = []
    for path in images:
        clean_full = read_image(path)
        for copy in range(count_per_image):
            rng = pair_rng(seed, path.name, copy)
            clean = random_crop(clean_full, size, rng)
            # quantise first so the target PNG is exactly the background the rain was drawn on
            clean = np.round(clean * 255.0) / np.float32(255.0)
            rain = settings or RainSettings.random(rng, haze=haze)
            if settings is not None and haze:
                rain = rain.with_haze(float(rng.uniform(0.1, 0.4)))
            rainy = render_rain(clean.astype(np.float32), rng, rain)
            name = f"{path.stem}_{copy:03d}.png"
            write_png(out_dir / "input" / name, rainy)
            write_png(out_dir / "target" / name, clean)
            records.append({"name": name, "source": path.name, **asdict(rain)})
    manifest = out_dir / "rain_settings.jsonl"
    tmp = manifest.with_name(".rain_settings.partial.jsonl")
    try:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(tmp, manifest)
    except OSError as exc:
        raise RainstreamError(f"cannot write {manifest}: {exc.strerror or exc}") from None
    logger.info(f"wrote {len(records)} pairs from {len(images)} images to {out_dir}")
    return len(records)
