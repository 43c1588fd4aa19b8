"""Model-only throughput: backend x precision x tile x batch, in tiles/s, frames/s and TFLOP/s.

"Model-only" means tile batches already on the device go through ``Derainer.run_tiles`` (the same
backend / precision / padding code the pipeline uses) with no decode, tiling or encode; frames/s is
derived from the tile plan of a 720p / 1080p frame. The eager-fp32 one-tile-at-a-time run (how the
reference repository runs) is always measured in the same process, so speed-ups are side-by-side ratios.
"""
from __future__ import annotations

import platform
import time
from dataclasses import dataclass

import torch
from loguru import logger

from rainstream.engine.config import EngineConfig
from rainstream.engine.derainer import Derainer
from rainstream.engine.tiling import tiles_per_frame
from rainstream.errors import RainstreamError

# Table 2 of the NeRD-Rain paper, GMACs for one 256x256 input. (DRSformer's paper gives none we could check.)
PAPER_GMACS_256 = {"nerd_rain_s": 79.2, "nerd_rain": 156.3}
RESOLUTIONS = {"720p": (720, 1280), "1080p": (1080, 1920)}


@dataclass(frozen=True)
class BenchCase:
    variant: str
    backend: str
    precision: str
    tile: int
    batch: int
    baseline: bool = False


@dataclass
class BenchResult:
    case: BenchCase
    status: str = "ok"  # or "skipped: <why>"
    tiles_per_s: float = 0.0
    ms_per_call: float = 0.0
    gmacs_per_tile: float = 0.0
    overlap: int = 32
    architecture: str = ""  # the registered architecture's title, when the model is one
    parameters: int = 0

    def frames_per_s(self, resolution: str) -> float:
        h, w = RESOLUTIONS[resolution]
        return self.tiles_per_s / tiles_per_frame(h, w, self.case.tile, self.overlap)

    @property
    def tflops(self) -> float:
        """Achieved TFLOP/s (1 MAC = 2 FLOP), counting convolutions and matrix products."""
        return self.tiles_per_s * self.gmacs_per_tile * 2 / 1e3


def count_gmacs(model: torch.nn.Module, tile: int) -> float:
    """GMACs of one (1, 3, tile, tile) forward, counted on the meta device (no compute, no memory).

    FlopCounterMode counts convolutions and matrix products; element-wise ops, norms and softmax are
    not included, which is why this lands somewhat below the paper's figures.
    """
    from torch.utils.flop_counter import FlopCounterMode

    import copy

    meta = copy.deepcopy(model).to("meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        meta(torch.empty(1, 3, tile, tile, device="meta"))
    return counter.get_total_flops() / 2e9


def bench_cases(variants, backends, precisions, tiles, batches) -> list[BenchCase]:
    """Every combination, plus the eager-fp32 batch-1 baseline for each variant and tile size, first."""
    cases = []
    for variant in variants:
        for tile in tiles:
            cases.append(BenchCase(variant, "eager", "fp32", tile, 1, baseline=True))
            for backend in backends:
                for precision in precisions:
                    for batch in batches:
                        if (backend, precision, batch) != ("eager", "fp32", 1):
                            cases.append(BenchCase(variant, backend, precision, tile, batch))
    return cases


def run_case(model: torch.nn.Module, case: BenchCase, device: str, overlap: int, iters: int, warmup: int,
             gmacs: float) -> BenchResult:
    """Time ``iters`` calls of one tile batch after ``warmup`` calls; unsupported combos come back skipped."""
    from rainstream.model.registry import architecture_of

    arch = architecture_of(model)
    result = BenchResult(case, gmacs_per_tile=gmacs, overlap=overlap, architecture=arch.title if arch else "",
                         parameters=sum(p.numel() for p in model.parameters()))
    try:
        derainer = Derainer(model, EngineConfig(tile=case.tile, overlap=overlap, max_tiles=case.batch,
                                                precision=case.precision, backend=case.backend, device=device))
        tiles = torch.rand(case.batch, 3, case.tile, case.tile, device=derainer.device)
        for _ in range(warmup):
            derainer.run_tiles(tiles)
        _sync(derainer.device)
        start = time.perf_counter()
        for _ in range(iters):
            derainer.run_tiles(tiles)
        _sync(derainer.device)
        elapsed = time.perf_counter() - start
    except RainstreamError as exc:
        result.status = f"skipped: {exc}"
        return result
    except Exception as exc:  # a backend that fails to build must not end the whole benchmark
        logger.warning(f"{case}: {type(exc).__name__}: {exc}")
        result.status = f"skipped: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        return result
    result.tiles_per_s = case.batch * iters / elapsed
    result.ms_per_call = 1e3 * elapsed / iters
    return result


def run_bench(variants=("nerd_rain_s",), backends=("eager",), precisions=("fp32",), tiles=(256,), batches=(1,),
              device="auto", overlap=32, iters=5, warmup=2, weights=None) -> list[BenchResult]:
    """Benchmark each model name (None: the architecture ``weights`` holds, else the default model)."""
    from rainstream.model import load_model
    from rainstream.model.registry import architecture_of, resolve

    results = []
    for variant in variants:
        model = load_model(variant, weights=weights, device="cpu")
        variant = variant or resolve(model.config)[1] or architecture_of(model).name
        gmacs = {tile: count_gmacs(model, tile) for tile in tiles}
        for case in bench_cases([variant], backends, precisions, tiles, batches):
            result = run_case(model, case, device, overlap, iters, warmup, gmacs[case.tile])
            logger.info(f"{case.variant} {case.backend} {case.precision} tile {case.tile} batch {case.batch}: "
                        + (f"{result.tiles_per_s:.2f} tiles/s" if result.status == "ok" else result.status))
            results.append(result)
    return results


def machine_description(device: str = "auto") -> str:
    from rainstream.engine.config import resolve_device

    dev = resolve_device(device)
    if dev.type == "cuda":
        what = f"{torch.cuda.get_device_name(dev)} (CUDA {torch.version.cuda})"
    else:
        what = f"CPU {_cpu_name()}, {torch.get_num_threads()} torch thread(s)"
    return f"{what}; torch {torch.__version__}; Python {platform.python_version()}"


def format_markdown(results: list[BenchResult], command: str = "", machine: str = "") -> str:
    """A table to paste into docs/BENCHMARKS.md, with the command and machine above it."""
    lines = []
    if command:
        lines.append(f"Command: `{command}`  ")
    if machine:
        lines.append(f"Machine: {machine}")
    for variant in dict.fromkeys(r.case.variant for r in results):
        first = next(r for r in results if r.case.variant == variant)
        gmacs = first.gmacs_per_tile
        paper = PAPER_GMACS_256.get(variant)
        note = f" (paper: {paper} at 256x256)" if paper else ""
        about = f" ({first.architecture}, {first.parameters:,} parameters)" if first.architecture else ""
        lines.append(f"- {variant}{about}: {gmacs:.1f} GMACs per 256x256 tile counted (convolutions + matmuls){note}"
                     if any(r.case.tile == 256 for r in results if r.case.variant == variant)
                     else f"- {variant}{about}: {gmacs:.1f} GMACs per tile")
    lines += ["", "| variant | backend | precision | tile | batch | ms/call | tiles/s | 720p fps | 1080p fps "
              "| TFLOP/s | vs baseline |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    baselines = {(r.case.variant, r.case.tile): r for r in results if r.case.baseline and r.status == "ok"}
    for r in results:
        c = r.case
        name = f"{c.backend}{' (baseline)' if c.baseline else ''}"
        if r.status != "ok":
            lines.append(f"| {c.variant} | {name} | {c.precision} | {c.tile} | {c.batch} | {r.status} ||||||")
            continue
        base = baselines.get((c.variant, c.tile))
        ratio = f"{r.tiles_per_s / base.tiles_per_s:.2f}x" if base else "-"
        lines.append(f"| {c.variant} | {name} | {c.precision} | {c.tile} | {c.batch} | {r.ms_per_call:.1f} "
                     f"| {r.tiles_per_s:.3g} | {r.frames_per_s('720p'):.3g} | {r.frames_per_s('1080p'):.3g} "
                     f"| {r.tflops:.3g} | {ratio} |")
    return "\n".join(lines) + "\n"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # timing only: the engine itself never synchronises per frame


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"
