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

from rainstream.errors import RainstreamError
from rainstream.io.images import read_image
from rainstream.metrics import psnr_y, ssim_y
from rainstream.progress import progress_iter
from rainstream.training.data import Pair, find_pairs

DerainFn = Callable[[list[np.ndarray]], list[np.ndarray]]


PSNR_CAP = 100.0  # dB: an output identical to its reference scores this, not infinity (means stay finite)
NO_HARM_DB = 38.0  # a rain-free crop must come back at least this close to itself


@dataclass(frozen=True)
class ImageScore:
    """Scores of one derained image, of its rainy input (the baseline a gain is over) and, when asked,
    of the model's output on the rain-free image scored against itself ("does no harm")."""

    name: str
    psnr: float
    ssim: float
    input_psnr: float
    input_ssim: float
    clean_psnr: float | None = None
    rain: str = ""  # the style that drew a rendered pair's rain

    @property
    def gain(self) -> float:
        return self.psnr - self.input_psnr


@dataclass(frozen=True)
class EvalReport:
    scores: tuple[ImageScore, ...]

    def _mean(self, name: str) -> float:
        return float(np.mean([getattr(s, name) for s in self.scores]))

    @property
    def psnr(self) -> float:
        return self._mean("psnr")

    @property
    def ssim(self) -> float:
        return self._mean("ssim")

    @property
    def input_psnr(self) -> float:
        return self._mean("input_psnr")

    @property
    def input_ssim(self) -> float:
        return self._mean("input_ssim")

    @property
    def gain(self) -> float:
        return self._mean("gain")

    @property
    def below_input(self) -> list[ImageScore]:
        """Images the model made worse than its rainy input."""
        return [s for s in self.scores if s.gain < 0]

    @property
    def clean_scores(self) -> list[float]:
        return [s.clean_psnr for s in self.scores if s.clean_psnr is not None]

    def harmed(self, threshold: float = NO_HARM_DB) -> list[ImageScore]:
        """Rain-free images the model moved further than ``threshold`` dB from themselves."""
        return [s for s in self.scores if s.clean_psnr is not None and s.clean_psnr < threshold]

    def worst_first(self) -> list[ImageScore]:
        return sorted(self.scores, key=lambda s: (s.gain, s.clean_psnr if s.clean_psnr is not None else 0.0))

    def summary(self) -> str:
        gains = [s.gain for s in self.scores]
        line = (f"{len(self.scores)} images: PSNR {self.input_psnr:.2f} -> {self.psnr:.2f} dB, gain "
                f"{self.gain:+.2f} dB (min {min(gains):+.2f}, max {max(gains):+.2f}), "
                f"{len(self.below_input)} below their rainy input")
        clean = self.clean_scores
        if clean:
            line += (f"; rain-free output vs itself: min {min(clean):.2f} dB, mean {np.mean(clean):.2f} dB, "
                     f"{len(self.harmed())} below {NO_HARM_DB:.0f} dB")
        return line

    def to_dict(self) -> dict:
        clean = self.clean_scores
        return {"images": len(self.scores), "psnr": self.psnr, "ssim": self.ssim,
                "input_psnr": self.input_psnr, "input_ssim": self.input_ssim, "gain": self.gain,
                "below_input": len(self.below_input),
                "clean_min_psnr": min(clean) if clean else None,
                "clean_mean_psnr": float(np.mean(clean)) if clean else None,
                "harmed": len(self.harmed()) if clean else None, "no_harm_threshold_db": NO_HARM_DB,
                "per_image": [{**asdict(s), "gain": s.gain} for s in self.scores]}


def _capped_psnr(restored: np.ndarray, reference: np.ndarray) -> float:
    return min(psnr_y(restored, reference), PSNR_CAP)


def _load(pair) -> tuple[str, np.ndarray, np.ndarray, str]:
    """(name, rainy, clean, rain style) of a file pair or of a pair rendered in memory."""
    if isinstance(pair, Pair):
        rainy, clean = read_image(pair.rainy), read_image(pair.clean)
        if rainy.shape != clean.shape:
            raise RainstreamError(f"{pair.rainy} and {pair.clean} differ in size")
        return pair.rainy.name, rainy, clean, ""
    return pair.name, pair.rainy, pair.clean, pair.settings.style


def evaluate_pairs(derain: DerainFn, pairs: Sequence, limit: int = 0, progress: bool = False,
                   clean_check: bool = False) -> EvalReport:
    """Derain each rainy image and score it against its clean image (Y channel, MATLAB convention).

    ``pairs`` are file ``Pair``s or ``RenderedPair``s. ``clean_check`` also derains each clean image
    and scores the result against itself: a model must leave a rain-free picture alone.
    """
    pairs = list(pairs)[:limit] if limit else list(pairs)
    scores = []
    for pair in progress_iter(pairs, desc="eval", unit="img", enabled=progress):
        name, rainy, clean, rain = _load(pair)
        restored = derain([rainy])[0]
        untouched = _capped_psnr(derain([clean])[0], clean) if clean_check else None
        scores.append(ImageScore(name, _capped_psnr(restored, clean), ssim_y(restored, clean),
                                 _capped_psnr(rainy, clean), ssim_y(rainy, clean), untouched, rain))
        logger.debug(f"{name}: PSNR {scores[-1].psnr:.2f} dB, SSIM {scores[-1].ssim:.4f}")
    return EvalReport(tuple(scores))


def _derainer(weights, model: str | None, engine):
    """The tiled engine around ``model`` (a name, or None: the architecture ``weights`` holds)."""
    from rainstream.engine import Derainer, EngineConfig
    from rainstream.model import load_model

    engine = engine or EngineConfig()
    return Derainer(load_model(model, weights=weights, device=engine.device), engine)


def evaluate(data: str | Path, weights: str | Path | None, model: str | None = None, engine=None,
             root: str | Path | None = None, limit: int = 0, progress: bool = True,
             clean_check: bool = True) -> EvalReport:
    """Score a model on a paired folder or SPA-Data list, running the tiled inference engine."""
    pairs = find_pairs(data, root)
    derainer = _derainer(weights, model, engine)
    return evaluate_pairs(derainer.derain_images, pairs, limit=limit, progress=progress, clean_check=clean_check)


def evaluate_photos(photos: str | Path, weights: str | Path | None, model: str | None = None, engine=None,
                    rain: str = "random", crops: int = 2, size: int = 256, seed: int = 0,
                    only: str | Path | None = None, exclude: str | Path | None = None, progress: bool = True,
                    clean_check: bool = True) -> EvalReport:
    """Score a model on fresh rain rendered over ``crops`` crops of each photo (``rainstream synth``'s
    rain for ``rain`` and ``seed``): the same command always gives the same pairs."""
    from rainstream.synth.pairs import list_images, render_pairs, select_images
    from rainstream.synth.styles import rain_sampler

    images = select_images(list_images(Path(photos)), only and Path(only), exclude and Path(exclude))
    pairs = list(render_pairs(images, crops, seed, size, rain_sampler(rain)))
    derainer = _derainer(weights, model, engine)
    return evaluate_pairs(derainer.derain_images, pairs, progress=progress, clean_check=clean_check)
