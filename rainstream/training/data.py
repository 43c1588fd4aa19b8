"""Training and validation pairs: paired folders, SPA-Data list files, synthetic rain on clean photos.

Every item is ``{"rainy": (3,H,W) float32, "clean": (3,H,W) float32, "path": str}`` in [0, 1].
Training items are random crops with flips/rotations; the randomness of item ``i`` in epoch ``e``
comes from its own generator seeded with (seed, e, i), so the data a step sees depends only on the
step -- not on worker count or process count -- which is what makes ``--resume`` and DDP reproducible.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset
from torch.utils.data.distributed import DistributedSampler

from rainstream.errors import RainstreamError
from rainstream.io.images import is_image_path, read_image, to_float

# Sub-folder names of paired layouts, in the order they are tried: the reference repository's
# input/target, SPA-Data's test folders rain/gt, and two other common spellings.
PAIRED_LAYOUTS = (("input", "target"), ("rain", "gt"), ("rainy", "clean"), ("rain", "norain"))


@dataclass(frozen=True)
class Pair:
    rainy: Path
    clean: Path


def is_image(path: Path) -> bool:
    return is_image_path(path)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """HxWx3 float32 RGB in [0, 1] from an 8- or 16-bit image file (grey and alpha handled)."""
    return to_float(read_image(path))


# ---------------------------------------------------------------- finding pairs

def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image(p))


def paired_folder_pairs(root: str | os.PathLike, input_dir: str | None = None,
                        target_dir: str | None = None) -> list[Pair]:
    """Pairs of ``root/<input>/X`` and ``root/<target>/X`` (same relative path).

    The sub-folder names are detected (input/target, rain/gt, ...) unless given. SPA-Data's test
    set names its ground truth ``*gt.png`` next to ``*rain.png``-style inputs in some releases, so
    a name that has no exact match is also looked up with ``rain`` replaced by ``gt``.
    """
    root = Path(root)
    if not root.is_dir():
        raise RainstreamError(f"data folder {root} does not exist")
    if input_dir is None or target_dir is None:
        found = [(i, t) for i, t in PAIRED_LAYOUTS if (root / i).is_dir() and (root / t).is_dir()]
        if not found:
            layouts = ", ".join(f"{i}/+{t}/" for i, t in PAIRED_LAYOUTS)
            raise RainstreamError(f"{root} has no paired sub-folders (expected one of {layouts})")
        input_dir, target_dir = found[0]
    rainy_root, clean_root = root / input_dir, root / target_dir
    pairs, missing = [], []
    for rainy in _images_in(rainy_root):
        rel = rainy.relative_to(rainy_root)
        candidates = [clean_root / rel, clean_root / rel.with_name(rel.name.replace("rain", "gt"))]
        clean = next((c for c in candidates if c.is_file()), None)
        if clean is None:
            missing.append(str(rel))
        else:
            pairs.append(Pair(rainy, clean))
    if missing:
        raise RainstreamError(f"{len(missing)} image(s) in {rainy_root} have no counterpart in {clean_root}, "
                              f"e.g. {missing[0]}")
    if not pairs:
        raise RainstreamError(f"no images found in {rainy_root}")
    return pairs


def _resolve_listed(entry: str, base: Path) -> Path:
    """A list-file path: absolute if it exists, else relative to the list's folder.

    SPA-Data lists write ``/real_world/...`` or ``./real_world/...`` meaning "under the dataset root".
    """
    path = Path(entry)
    if path.is_absolute() and path.exists():
        return path
    return base / entry.lstrip("/")


def spa_list_pairs(list_file: str | os.PathLike, root: str | os.PathLike | None = None) -> list[Pair]:
    """Pairs from a SPA-Data list file: one ``rainy clean`` path pair per line."""
    list_file = Path(list_file)
    if not list_file.is_file():
        raise RainstreamError(f"SPA list file {list_file} does not exist")
    base = Path(root) if root else list_file.parent
    pairs = []
    for number, line in enumerate(list_file.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2:
            raise RainstreamError(f"{list_file}:{number}: expected 'rainy clean', got {line.strip()!r}")
        pair = Pair(_resolve_listed(parts[0], base), _resolve_listed(parts[1], base))
        for path in (pair.rainy, pair.clean):
            if not path.is_file():
                raise RainstreamError(f"{list_file}:{number}: {path} does not exist")
        pairs.append(pair)
    if not pairs:
        raise RainstreamError(f"SPA list file {list_file} lists no pairs")
    return pairs


def find_pairs(source: str | os.PathLike, root: str | os.PathLike | None = None) -> list[Pair]:
    """A list file (SPA-Data) or a folder with paired sub-folders."""
    source = Path(source)
    return spa_list_pairs(source, root) if source.is_file() else paired_folder_pairs(source)


def clean_images(folder: str | os.PathLike) -> list[Path]:
    """All images under a folder of clean photos (for synthetic rain)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise RainstreamError(f"clean image folder {folder} does not exist")
    images = _images_in(folder)
    if not images:
        raise RainstreamError(f"no images found in {folder}")
    return images


# ---------------------------------------------------------------- crops and augmentation (pure)

def pad_to_at_least(image: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad the bottom/right of an image smaller than ``size`` in either direction."""
    h, w = image.shape[:2]
    ph, pw = max(size - h, 0), max(size - w, 0)
    if ph == 0 and pw == 0:
        return image
    return np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect" if min(h, w) > 1 else "edge")


def random_crop(images: Sequence[np.ndarray], size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The same random ``size`` x ``size`` window of each image (small images reflect-padded first)."""
    images = [pad_to_at_least(im, size) for im in images]
    h, w = images[0].shape[:2]
    top = int(rng.integers(0, h - size + 1))
    left = int(rng.integers(0, w - size + 1))
    return [im[top:top + size, left:left + size] for im in images]


def random_flip_rotate(images: Sequence[np.ndarray], rng: np.random.Generator, flip: bool = True,
                       rot90: bool = True) -> list[np.ndarray]:
    """The same random horizontal/vertical flip and multiple-of-90 rotation of each image."""
    hflip, vflip = (bool(rng.integers(2)), bool(rng.integers(2))) if flip else (False, False)
    turns = int(rng.integers(4)) if rot90 else 0
    out = []
    for im in images:
        if hflip:
            im = im[:, ::-1]
        if vflip:
            im = im[::-1]
        out.append(np.rot90(im, turns) if turns else im)
    return out


def to_chw_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))


@dataclass(frozen=True)
class CropSettings:
    """How training items are cut: patch size and which augmentations apply."""

    patch_size: int = 256
    flip: bool = True
    rot90: bool = True


class _SeededItems(Dataset):
    """Base: per-item random generators keyed on (seed, epoch, index)."""

    def __init__(self, train: bool, crop: CropSettings, seed: int) -> None:
        self.train = train
        self.crop = crop
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch so crops differ between epochs."""
        self.epoch = epoch

    def item_rng(self, index: int) -> np.random.Generator:
        # Validation draws are fixed per item (epoch 0), so a validation set does not change.
        return np.random.default_rng([self.seed, self.epoch if self.train else 0, index])

    def _cut(self, rainy: np.ndarray, clean: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        rainy, clean = random_crop([rainy, clean], self.crop.patch_size, rng)
        rainy, clean = random_flip_rotate([rainy, clean], rng, self.crop.flip, self.crop.rot90)
        return rainy, clean


class PairedImageDataset(_SeededItems):
    """Real rainy/clean pairs (paired folders or an SPA-Data list). Full images when not training."""

    def __init__(self, pairs: Sequence[Pair], train: bool = True, crop: CropSettings = CropSettings(),
                 seed: int = 0) -> None:
        super().__init__(train, crop, seed)
        if not pairs:
            raise RainstreamError("the dataset has no image pairs")
        self.pairs = list(pairs)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        pair = self.pairs[index]
        rainy, clean = read_rgb(pair.rainy), read_rgb(pair.clean)
        if rainy.shape != clean.shape:
            raise RainstreamError(f"{pair.rainy} is {rainy.shape[1]}x{rainy.shape[0]} but {pair.clean} is "
                                  f"{clean.shape[1]}x{clean.shape[0]}")
        if self.train:
            rainy, clean = self._cut(rainy, clean, self.item_rng(index))
        return {"rainy": to_chw_tensor(rainy), "clean": to_chw_tensor(clean), "path": str(pair.rainy)}


class SyntheticRainDataset(_SeededItems):
    """Clean photos with rain rendered on the fly by ``rainstream.synth`` (a new rain each item).

    ``settings``: fixed ``RainSettings`` for every item, or None to draw them per item from ``rain``:
    what ``--rain`` takes (``random``: the mix of every style and of JPEG/H.264 storage, a
    style, a preset or a YAML settings file). ``haze``: probability of an extra veil (0.1-0.4) on a
    rainy item. ``clean_fraction``: probability that an item gets no rain at all (rainy == clean), so
    the model learns to leave rain-free detail alone.
    The crop is taken before rendering: cheaper, and streak sizes stay in native pixels.
    """

    def __init__(self, images: Sequence[Path], train: bool = True, crop: CropSettings = CropSettings(),
                 seed: int = 0, settings=None, rain: str = "random", haze: float = 0.0,
                 clean_fraction: float = 0.0) -> None:
        from rainstream.synth.styles import rain_sampler  # lazy: synthesis is optional here

        super().__init__(train, crop, seed)
        if not images:
            raise RainstreamError("the dataset has no clean images")
        self.images = list(images)
        self.sampler = (lambda rng: settings) if settings is not None else rain_sampler(rain)
        self.haze = haze
        self.clean_fraction = clean_fraction

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        from rainstream.synth import render_rain

        rng = self.item_rng(index)
        clean = read_rgb(self.images[index])
        if self.train:
            clean = random_flip_rotate(random_crop([clean], self.crop.patch_size, rng), rng,
                                       self.crop.flip, self.crop.rot90)[0]
        clean = np.ascontiguousarray(clean)
        if self.clean_fraction and rng.uniform() < self.clean_fraction:
            rainy = clean.astype(np.float32)
        else:
            settings = self.sampler(rng)
            if self.haze and rng.uniform() < self.haze:
                settings = settings.with_haze(float(rng.uniform(0.1, 0.4)))
            rainy = np.clip(render_rain(clean, rng, settings), 0.0, 1.0).astype(np.float32)
        return {"rainy": to_chw_tensor(rainy), "clean": to_chw_tensor(clean), "path": str(self.images[index])}


class ResumableDistributedSampler(DistributedSampler):
    """``DistributedSampler`` that can start part-way through an epoch (``--resume`` mid-epoch).

    With one replica it is an ordinary seeded shuffle, so single-process and DDP runs share one code path
    and the global batch of step ``k`` is the same set of items whatever the number of processes.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0,
                 shuffle: bool = True, drop_last: bool = True) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=drop_last)
        self.start = 0

    def set_start(self, start: int) -> None:
        """Skip the first ``start`` indices of this replica's share (reset it to 0 for the next epoch)."""
        self.start = start

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.start:])

    def __len__(self) -> int:
        return self.num_samples - self.start
