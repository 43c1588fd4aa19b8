"""The Derainer: batches of frames in, derained frames out, through overlapping blended tiles.

Data flow of one batch: host frames -> (pinned buffer, upload stream) -> device float frames ->
tiles of all frames pooled and run ``max_tiles`` per model call (compute stream) -> blended back ->
integer frames -> (download stream) -> pinned host buffer -> numpy. On CUDA the three streams are
ordered by events only, so the host never waits on the GPU until it asks for a result; with one batch
in flight (:meth:`Derainer.submit` before collecting the previous result) the copies of one batch
overlap the compute of the next. On the CPU the same path runs without streams.

Precision is autocast rather than converted weights: the places where fp16 overflows in Restormer-style
blocks stay in fp32 (the channel LayerNorm statistics and DRSformer's top-k scores, masks and softmaxes
take float32 explicitly; autocast keeps the other softmaxes and the L2 normalisations in fp32), it needs
no second copy of the weights, and a chunk that went non-finite can be re-run in another precision
without reconverting the model. Tile and overlap left unset come from the model's architecture.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from loguru import logger
from torch import nn

from rainstream.engine.backends import STATIC_SHAPE_BACKENDS, build_backend
from rainstream.engine.config import (AUTOCAST_DTYPES, EngineConfig, check_precision, fallback_precision,
                                      resolve_device)
from rainstream.engine.tiling import TilePlan, accumulate_tiles, extract_tiles, plan_tiles
from rainstream.errors import RainstreamError

__all__ = ["Derainer", "EngineConfig", "PendingBatch"]

_SCALES = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


@dataclass
class _Chunk:
    """Tiles run in one model call, and a device flag: all outputs finite (None once checked)."""

    indices: range
    finite: torch.Tensor | None = None


@dataclass
class _Work:
    """A batch in progress on the device: the input, the blended output and what may need a re-run."""

    x: torch.Tensor
    out: torch.Tensor
    plan: TilePlan
    weights: torch.Tensor  # plan.weights() on the device
    chunks: list[_Chunk] = field(default_factory=list)


class PendingBatch:
    """A submitted batch of images; :meth:`result` waits for its download and returns the frames."""

    def __init__(self, derainer: "Derainer", work: _Work, host_out: torch.Tensor, done: torch.cuda.Event | None,
                 dtype: np.dtype):
        self._derainer = derainer
        self._work: _Work | None = work
        self._host_out = host_out
        self._done = done
        self._dtype = dtype
        self._result: list[np.ndarray] | None = None

    def done(self) -> bool:
        """True when :meth:`result` would not wait (always on the CPU, where ``submit`` did the work)."""
        return self._result is not None or self._done is None or self._done.query()

    def result(self) -> list[np.ndarray]:
        if self._result is None:
            if self._done is not None:
                self._done.synchronize()
            if self._derainer._repair(self._work):
                # rare: some chunk went non-finite and was re-run; fetch the repaired frames synchronously
                with self._derainer._compute_context():
                    self._host_out = self._derainer._to_integer(self._work.out, self._dtype).cpu()
            host = self._host_out.numpy()
            if self._dtype == np.uint16:
                host = host.view(np.uint16)
            self._result = [host[i].copy() for i in range(host.shape[0])]
            self._work = self._host_out = None
        return self._result


class Derainer:
    """Runs a deraining model over frames of any size with overlapping, seamlessly blended tiles.

    ``derain_images`` for numpy frames (uint8/uint16 RGB), ``derain_tensor`` for float tensors,
    ``derainer(image)`` for one frame, ``submit``/``PendingBatch.result`` to keep a batch in flight.
    """

    def __init__(self, model: nn.Module, config: EngineConfig | None = None):
        self.config = config = (config or EngineConfig()).for_model(model)  # tile/overlap: the architecture's
        self.device = resolve_device(config.device)
        check_precision(config.precision, self.device)
        model = model.to(self.device).eval()
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._run = build_backend(model, config, self.device)
        self._max_tiles = config.tiles_per_call(self.device)  # lowered for good after an out-of-memory error
        self._warned_nonfinite = False
        self._plans: dict[tuple[int, int], tuple[TilePlan, torch.Tensor]] = {}
        cuda = self.device.type == "cuda"
        self._streams = (tuple(torch.cuda.Stream(self.device) for _ in range(3)) if cuda else None)

    # ----------------------------------------------------------------------------------------- public

    def plan(self, height: int, width: int) -> TilePlan:
        """The (cached) tile plan for frames of this size."""
        return self._plan_and_weights(height, width)[0]

    def _plan_and_weights(self, height: int, width: int) -> tuple[TilePlan, torch.Tensor]:
        """Plan and its blending weights on the device, cached: the hot path makes no host-to-device copies."""
        key = (height, width)
        if key not in self._plans:
            if len(self._plans) > 16:
                self._plans.clear()
            plan = plan_tiles(height, width, self.config.tile, self.config.overlap)
            self._plans[key] = (plan, plan.weights(torch.float32, self.device))
        return self._plans[key]

    def derain_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float in [0, 1] on any device -> derained, same shape, dtype and device."""
        if x.dim() != 4 or x.shape[1] != 3 or not x.is_floating_point():
            raise RainstreamError(f"expected a float (N, 3, H, W) tensor, got {x.dtype} {tuple(x.shape)}")
        work = self._start(x.to(self.device, torch.float32))
        self._repair(work)
        return work.out.clamp_(0.0, 1.0).to(device=x.device, dtype=x.dtype)

    def derain_images(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """HxWx3 RGB uint8/uint16 frames -> derained frames of the same dtype and shape.

        Frames of different sizes or dtypes are run as separate batches (tiles only pool within a size).
        """
        groups: dict[tuple, list[int]] = {}
        for i, image in enumerate(images):
            _check_image(image)
            groups.setdefault((image.shape, image.dtype), []).append(i)
        results: list[np.ndarray | None] = [None] * len(images)
        for members in groups.values():
            for i, out in zip(members, self.submit([images[i] for i in members]).result()):
                results[i] = out
        return results  # type: ignore[return-value]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.derain_images([image])[0]

    def submit(self, images: list[np.ndarray]) -> PendingBatch:
        """Queue a batch of same-size, same-dtype frames; returns at once on CUDA (work runs on streams)."""
        if not images:
            raise RainstreamError("no images to derain")
        for image in images:
            _check_image(image)
        shape, dtype = images[0].shape, images[0].dtype
        if any(im.shape != shape or im.dtype != dtype for im in images):
            raise RainstreamError("submit() takes frames of one size and dtype; use derain_images for mixed ones")
        raw_dtype = torch.uint8 if dtype == np.uint8 else torch.int16  # uint16 travels as its int16 bits
        cuda = self._streams is not None
        host_in = torch.empty((len(images), *shape), dtype=raw_dtype, pin_memory=cuda)
        host_view = host_in.numpy() if dtype == np.uint8 else host_in.numpy().view(np.uint16)
        for i, image in enumerate(images):
            host_view[i] = image
        if not cuda:
            work = self._start(self._to_float(host_in, dtype))
            host_out = self._to_integer(work.out, dtype)
            return PendingBatch(self, work, host_out, None, dtype)

        upload, compute, download = self._streams
        with torch.cuda.stream(upload):
            dev_in = host_in.to(self.device, non_blocking=True)
            uploaded = torch.cuda.Event()
            uploaded.record(upload)
        with torch.cuda.stream(compute):
            compute.wait_event(uploaded)
            dev_in.record_stream(compute)
            work = self._start(self._to_float(dev_in, dtype))
            dev_out = self._to_integer(work.out, dtype)
            computed = torch.cuda.Event()
            computed.record(compute)
        with torch.cuda.stream(download):
            download.wait_event(computed)
            dev_out.record_stream(download)
            host_out = torch.empty(dev_out.shape, dtype=dev_out.dtype, pin_memory=True)
            host_out.copy_(dev_out, non_blocking=True)
            done = torch.cuda.Event()
            done.record(download)
        return PendingBatch(self, work, host_out, done, dtype)

    def run_tiles(self, tiles: torch.Tensor, precision: str | None = None) -> torch.Tensor:
        """One batch of tiles through the backend (for benchmarks): float32 out, on the engine's device."""
        return self._infer_bounded(tiles.to(self.device, torch.float32), precision or self.config.precision,
                                   tiles.shape[0])

    # ----------------------------------------------------------------------------------------- internals

    def _start(self, x: torch.Tensor) -> _Work:
        """Run every tile of the batch ``x`` (device float32) and blend them; no host synchronisation."""
        plan, weights = self._plan_and_weights(x.shape[2], x.shape[3])
        work = _Work(x=x, out=torch.zeros_like(x), plan=plan, weights=weights)
        total = x.shape[0] * plan.n_tiles
        reduced = self.config.precision != "fp32"
        start = 0
        while start < total:
            chunk = min(self._max_tiles, total)  # static shape for compiled backends: short chunks are padded
            indices = range(start, min(start + chunk, total))
            y = self._infer_bounded(extract_tiles(x, plan, indices), self.config.precision, chunk)
            # Every precision records whether the chunk is finite (a device flag: checking it here would
            # stall the host on the GPU for every chunk); _repair reads the flags once per batch.
            entry = _Chunk(indices, finite=torch.isfinite(y).all())
            if reduced:
                # A non-finite chunk contributes nothing now and is re-run in _repair in a wider precision.
                y = torch.where(entry.finite, y, torch.zeros((), dtype=y.dtype, device=y.device))
            accumulate_tiles(work.out, y, plan, indices, weights)
            work.chunks.append(entry)
            start = indices.stop
        return work

    def _repair(self, work: _Work | None) -> bool:
        """Re-run in a wider precision the chunks whose reduced-precision output was not finite."""
        if work is None or not any(c.finite is not None for c in work.chunks):
            return False
        with self._compute_context():
            finite = torch.stack([c.finite for c in work.chunks if c.finite is not None]).cpu()
            bad = [c for c, ok in zip((c for c in work.chunks if c.finite is not None), finite.tolist()) if not ok]
            for c in work.chunks:
                c.finite = None
            if not bad:
                return False
            if self.config.precision == "fp32":
                raise self._nonfinite_error("fp32")
            wider = fallback_precision(self.config.precision, self.device)
            if not self._warned_nonfinite:
                logger.warning(f"{self.config.precision} gave inf/NaN on some tiles; re-running them in {wider} "
                               "(warned once)")
                self._warned_nonfinite = True
            for c in bad:
                y = self._infer_bounded(extract_tiles(work.x, work.plan, c.indices), wider, len(c.indices), eager=True)
                if not bool(torch.isfinite(y).all()):
                    raise self._nonfinite_error(f"{self.config.precision} and again in {wider}")
                accumulate_tiles(work.out, y, work.plan, c.indices, work.weights)
        return True

    def _nonfinite_error(self, where: str) -> RainstreamError:
        """A model whose output is inf/NaN in full precision: never written out as black frames."""
        source = getattr(self.model, "weights_source", None)
        weights = f"the weights {source}" if source else "the model's weights"
        return RainstreamError(f"the model gave inf/NaN output in {where}: {weights} are damaged or do not suit "
                               "this model; stopped rather than write black frames")

    def _compute_context(self):
        """Work outside submit() that touches a submitted batch must queue behind it on the compute stream."""
        return torch.cuda.stream(self._streams[1]) if self._streams else contextlib.nullcontext()

    def _infer_bounded(self, tiles: torch.Tensor, precision: str, static: int, eager: bool = False) -> torch.Tensor:
        """Run tiles; on device out-of-memory re-run them in halves (down to one tile) rather than fail."""
        try:
            return self._infer(tiles, precision, static, eager)
        except torch.cuda.OutOfMemoryError:
            pass  # leave the except block first so the failed attempt's tensors can be freed
        k = tiles.shape[0]
        if k == 1:
            raise RainstreamError(f"out of device memory on a single {tiles.shape[2]}x{tiles.shape[3]} tile; "
                                  "use a smaller `tile` or another `device`")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        half = (k + 1) // 2
        if half < self._max_tiles:
            logger.warning(f"out of device memory with {k} tiles per call; continuing with {half}")
            self._max_tiles = half
        static = min(static, half)
        return torch.cat([self._infer_bounded(tiles[:half], precision, static, eager),
                          self._infer_bounded(tiles[half:], precision, static, eager)])

    def _infer(self, tiles: torch.Tensor, precision: str, static: int, eager: bool) -> torch.Tensor:
        k = tiles.shape[0]
        run = self.model if eager else self._run
        if not eager and self.config.backend in STATIC_SHAPE_BACKENDS and k < static:
            tiles = torch.cat([tiles, tiles[-1:].expand(static - k, -1, -1, -1)])
        if self.config.channels_last:
            tiles = tiles.contiguous(memory_format=torch.channels_last)
        use_autocast = precision in AUTOCAST_DTYPES and (eager or self.config.backend != "tensorrt")
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=AUTOCAST_DTYPES.get(precision),
                                                    enabled=use_autocast):
            y = run(tiles)
        return y[:k].float()

    @staticmethod
    def _to_float(raw: torch.Tensor, dtype: np.dtype) -> torch.Tensor:
        """(N, H, W, 3) uint8 / int16-bits-of-uint16 -> (N, 3, H, W) float32 in [0, 1].

        One frame-sized float allocation (the permuted copy goes straight into it): on 4K frames each
        extra one is ~100 MB of fresh pages for the kernel to fault in and zero."""
        n, h, w, c = raw.shape
        out = torch.empty((n, c, h, w), dtype=torch.float32, device=raw.device)
        if dtype == np.uint16:
            out.copy_(raw.permute(0, 3, 1, 2))
            out.add_(65536).remainder_(65536)  # int16 bits -> 0..65535, exact in float32
        else:
            out.copy_(raw.permute(0, 3, 1, 2))
        return out.div_(_SCALES[np.dtype(dtype)])

    @staticmethod
    def _to_integer(x: torch.Tensor, dtype: np.dtype) -> torch.Tensor:
        """(N, 3, H, W) float -> (N, H, W, 3) uint8 / int16 bits of uint16, clamped to [0, 1] and rounded.
        One float and one integer allocation (``x`` itself is left as it is)."""
        scale = _SCALES[np.dtype(dtype)]
        values = x.mul(scale).clamp_(0.0, scale).round_()
        n, c, h, w = values.shape
        if dtype == np.uint8:
            out = torch.empty((n, h, w, c), dtype=torch.uint8, device=values.device)
            return out.copy_(values.permute(0, 2, 3, 1))
        values = torch.where(values > 32767, values - 65536, values)
        out = torch.empty((n, h, w, c), dtype=torch.int16, device=values.device)
        return out.copy_(values.permute(0, 2, 3, 1))


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise RainstreamError(f"expected an HxWx3 RGB image, got {type(image).__name__} of shape {shape}")
    if np.dtype(image.dtype) not in _SCALES:
        raise RainstreamError(f"images must be uint8 or uint16, not {image.dtype}")
