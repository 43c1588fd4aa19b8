"""PSNR/SSIM of a deraining function over rainy/clean pairs (``rainstream eval`` and validation).

Images are scored as saved files would be: the restored image is quantised to the input's bit
depth before the Y-channel metrics, as the papers' MATLAB scripts read PNGs back.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from loguru import logger
from tqdm import tqdm

from rainstream.errors import RainstreamError
from rainstream.io.images import read_image
from rainstream.metrics import psnr_y, ssim_y
from rainstream.training.data import Pair, find_pairs

DerainFn = Callable[[list[np.ndarray]], list[np.ndarray]]


@dataclass(frozen=True)
class ImageScore:
    """Scores of the derained image, and of the rainy input itself (the baseline a gain is over)."""

    name: str
    psnr: float
    ssim: float
    input_psnr: float
    input_ssim: float


@dataclass(frozen=True)
class EvalReport:
    scores: tuple[ImageScore, ...]

    @property
    def psnr(self) -> float:
        return float(np.mean([s.psnr for s in self.scores]))

    @property
    def ssim(self) -> float:
        return float(np.mean([s.ssim for s in self.scores]))

    @property
    def input_psnr(self) -> float:
        return float(np.mean([s.input_psnr for s in self.scores]))

    @property
    def input_ssim(self) -> float:
        return float(np.mean([s.input_ssim for s in self.scores]))

    def to_dict(self) -> dict:
        return {"images": len(self.scores), "psnr": self.psnr, "ssim": self.ssim,
                "input_psnr": self.input_psnr, "input_ssim": self.input_ssim,
                "per_image": [asdict(s) for s in self.scores]}


def evaluate_pairs(derain: DerainFn, pairs: Sequence[Pair], limit: int = 0, progress: bool = False) -> EvalReport:
    """Derain each rainy image and score it against its clean image (Y channel, MATLAB convention)."""
    pairs = list(pairs)[:limit] if limit else list(pairs)
    scores = []
    for pair in tqdm(pairs, desc="eval", unit="img", disable=not progress):
        rainy, clean = read_image(pair.rainy), read_image(pair.clean)
        if rainy.shape != clean.shape:
            raise RainstreamError(f"{pair.rainy} and {pair.clean} differ in size")
        restored = derain([rainy])[0]
        scores.append(ImageScore(pair.rainy.name, psnr_y(restored, clean), ssim_y(restored, clean),
                                 psnr_y(rainy, clean), ssim_y(rainy, clean)))
        logger.debug(f"{pair.rainy.name}: PSNR {scores[-1].psnr:.2f} dB, SSIM {scores[-1].ssim:.4f}")
    return EvalReport(tuple(scores))


def evaluate(data: str | Path, weights: str | Path | None, model: str | None = None, engine=None,
             root: str | Path | None = None, limit: int = 0, progress: bool = True) -> EvalReport:
    """Score a model on a paired folder or SPA-Data list, running the tiled inference engine.

    ``model``: a model name, or None to read the architecture from ``weights`` (``load_model``)."""
    from rainstream.engine import Derainer, EngineConfig
    from rainstream.model import load_model

    engine = engine or EngineConfig()
    pairs = find_pairs(data, root)
    derainer = Derainer(load_model(model, weights=weights, device=engine.device), engine)
    return evaluate_pairs(derainer.derain_images, pairs, limit=limit, progress=progress)
