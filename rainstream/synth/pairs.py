"""Paired training data: OUT/input/NAME.png (rainy) and OUT/target/NAME.png (clean), same names.

This is the layout the NeRD-Rain reference scripts and our training code read. Each pair's rain
comes from a generator seeded by (seed, photo name, copy index), so re-running reproduces the
same files and adding a photo does not change the others.
"""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
from loguru import logger

from rainstream.errors import RainstreamError
from rainstream.synth.images import is_image_path, read_image, to_uint8, write_png
from rainstream.synth.render import render_rain
from rainstream.synth.settings import RainSettings
from rainstream.synth.styles import rain_sampler, sample_rain


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


def read_name_list(path: Path) -> set[str]:
    """File names listed one per line (``#`` comments and blank lines ignored), e.g. clean_val.txt."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise RainstreamError(f"cannot read the list {path}: {exc.strerror or exc}") from None
    return {line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")}


def select_images(images: list[Path], only: Path | None = None, exclude: Path | None = None) -> list[Path]:
    """``images`` restricted to the names in ``only`` and without those in ``exclude``.

    This is how held-out photos stay out of training (``exclude=clean_val.txt``) and how held-out
    scores use only them (``only=clean_val.txt``). A listed name that is not among the images is an
    error: a typo must not silently put a held-out photo into training.
    """
    names = {p.name for p in images}
    for listed, what in ((only, "only"), (exclude, "exclude")):
        if listed is None:
            continue
        missing = sorted(read_name_list(listed) - names)
        if missing:
            raise RainstreamError(f"{listed} ({what}) names photos that are not there: {', '.join(missing[:3])}")
    if only is not None:
        keep = read_name_list(only)
        images = [p for p in images if p.name in keep]
    if exclude is not None:
        drop = read_name_list(exclude)
        images = [p for p in images if p.name not in drop]
    if not images:
        raise RainstreamError("no photos are left after the only/exclude lists")
    return images


@dataclass(frozen=True)
class RenderedPair:
    """One rainy/clean pair in memory, both quantised to 8 bits as if read back from PNG files."""

    name: str
    source: str
    settings: RainSettings
    rainy: np.ndarray  # H x W x 3 uint8
    clean: np.ndarray  # H x W x 3 uint8


def render_pairs(images: list[Path], count_per_image: int = 1, seed: int = 0, size: int = 256,
                 sampler: Callable[[np.random.Generator], RainSettings] = sample_rain,
                 haze: bool = False) -> Iterator[RenderedPair]:
    """``count_per_image`` pairs per photo, each from its own generator (seed, photo name, copy).

    ``sampler`` draws each pair's rain (``rain_sampler(kind)``); ``haze`` adds a veil of 0.1-0.4 to
    every pair (fixed settings) or to half of them (the ``layered`` sampler's own way).
    """
    if count_per_image < 1:
        raise RainstreamError("--count-per-image must be at least 1")
    if size < 0:
        raise RainstreamError("--size must be >= 0 (0 keeps whole images)")
    for path in images:
        clean_full = read_image(path)
        for copy in range(count_per_image):
            rng = pair_rng(seed, path.name, copy)
            clean = random_crop(clean_full, size, rng)
            # quantise first so the target is exactly the background the rain was drawn on
            clean = to_uint8(clean)
            rain = sampler(rng)
            if haze:
                rain = rain.with_haze(float(rng.uniform(0.1, 0.4)))
            rainy = render_rain(clean.astype(np.float32) / np.float32(255.0), rng, rain)
            yield RenderedPair(f"{path.stem}_{copy:03d}.png", path.name, rain, to_uint8(rainy), clean)


def make_pairs(clean_dir: Path, out_dir: Path, count_per_image: int = 1, seed: int = 0,
               size: int = 256, haze: bool = False, rain: str = "random", only: Path | None = None,
               exclude: Path | None = None) -> int:
    """Write ``count_per_image`` rainy/clean pairs per photo; returns the number of pairs.

    ``rain`` is what ``--rain`` takes (``random``: the mix of every style, a style, a preset or a
    settings file). The settings of every pair go to OUT/rain_settings.jsonl for the model card.
    """
    images = select_images(list_images(Path(clean_dir)), only, exclude)
    sampler = rain_sampler(rain)
    out_dir = Path(out_dir)
    try:
        (out_dir / "input").mkdir(parents=True, exist_ok=True)
        (out_dir / "target").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RainstreamError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    records = []
    for pair in render_pairs(images, count_per_image, seed, size, sampler, haze):
        write_png(out_dir / "input" / pair.name, pair.rainy)
        write_png(out_dir / "target" / pair.name, pair.clean)
        records.append({"name": pair.name, "source": pair.source, **asdict(pair.settings)})
    manifest = out_dir / "rain_settings.jsonl"
    tmp = manifest.with_name(".rain_settings.partial.jsonl")
    try:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
        os.replace(tmp, manifest)
    except OSError as exc:
        raise RainstreamError(f"cannot write {manifest}: {exc.strerror or exc}") from None
    logger.info(f"wrote {len(records)} pairs from {len(images)} images to {out_dir}")
    return len(records)
