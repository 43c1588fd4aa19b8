"""Overlapping tiles with seamless blending, as pure functions.

Why tiles at all: NeRD-Rain was trained on 256x256 patches and its implicit decoder normalises pixel
coordinates to the input size, so its output depends on the window it sees; running 256 windows keeps
it in the regime it was trained for and bounds memory for 4K frames.

Why blending instead of cropping: a tile's content near its border is restored with less context than
in its middle, so a hard cut shows as a seam. Each tile is weighted by a raised-cosine (Hann) ramp across
the overlap it shares with its neighbour, and the weights are normalised so that they sum to exactly 1 at
every pixel; pixels on the frame border get full weight (there is no neighbour to hand over to).

Edge tiles are shifted inward (the last tile ends at the frame border and overlaps its neighbour more)
rather than padded, so the model never sees synthetic padding; a frame smaller than the tile in some
dimension goes whole in that dimension (the model pads internally to its stride).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def tile_starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Start offsets of tiles of size ``min(tile, length)`` covering ``[0, length)``.

    Consecutive tiles share at least ``overlap`` pixels; the last one is shifted inward to end exactly at
    ``length``. A length not larger than ``tile`` gives the single start 0.
    """
    _check_sizes(tile, overlap)
    if length <= 0:
        raise ValueError(f"length must be positive, not {length}")
    if length <= tile:
        return (0,)
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return tuple(starts)


def blend_windows(length: int, starts: tuple[int, ...], size: int, overlap: int) -> torch.Tensor:
    """Normalised 1-D weights, one row per tile: ``(len(starts), size)`` float64 summing to 1 per pixel.

    Each tile ramps up over the first ``overlap`` pixels where it follows a neighbour and down over the last
    ``overlap`` pixels where one follows it (a Hann half-window, strictly positive so the normalisation is
    defined); sides on the frame border stay flat at 1. With equal overlaps the two ramps already sum to 1;
    the shifted-inward last tile overlaps more, which the normalisation absorbs.
    """
    n = len(starts)
    raw = torch.ones(n, size, dtype=torch.float64)
    ramp_len = min(overlap, size)
    if ramp_len > 0 and n > 1:
        t = (torch.arange(ramp_len, dtype=torch.float64) + 0.5) / ramp_len
        ramp_up = 0.5 - 0.5 * torch.cos(math.pi * t)  # (0, 1), symmetric: up[i] + up[-1-i] == 1
        for i in range(n):
            if i > 0:
                raw[i, :ramp_len] *= ramp_up
            if i < n - 1:
                raw[i, size - ramp_len:] *= ramp_up.flip(0)
    total = torch.zeros(length, dtype=torch.float64)
    for i, s in enumerate(starts):
        total[s:s + size] += raw[i]
    if bool((total <= 0).any()):
        raise ValueError("tiles do not cover the frame")  # unreachable for plans from tile_starts
    return torch.stack([raw[i] / total[s:s + size] for i, s in enumerate(starts)])


@dataclass(frozen=True)
class TilePlan:
    """Where the tiles of one frame size go and how each is weighted when merged back.

    Tiles are numbered row-major (``t = row * len(xs) + col``); within a batch of N frames tile ``g`` is
    tile ``g % n_tiles`` of frame ``g // n_tiles``. Weights are separable: ``weight_y[row] (x) weight_x[col]``.
    """

    height: int
    width: int
    tile_h: int
    tile_w: int
    ys: tuple[int, ...]
    xs: tuple[int, ...]
    weight_y: torch.Tensor  # (len(ys), tile_h) float64
    weight_x: torch.Tensor  # (len(xs), tile_w) float64

    @property
    def n_tiles(self) -> int:
        return len(self.ys) * len(self.xs)

    def origin(self, t: int) -> tuple[int, int]:
        """Top-left corner (y, x) of tile ``t`` of a frame."""
        return self.ys[t // len(self.xs)], self.xs[t % len(self.xs)]

    def weight(self, t: int, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
        """The (tile_h, tile_w) blending weight of tile ``t``."""
        wy = self.weight_y[t // len(self.xs)]
        wx = self.weight_x[t % len(self.xs)]
        return torch.outer(wy, wx).to(dtype=dtype, device=device)

    def weights(self, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
        """All tile weights as one (n_tiles, tile_h, tile_w) tensor, built on the host and moved once."""
        grid = self.weight_y[:, None, :, None] * self.weight_x[None, :, None, :]
        return grid.reshape(self.n_tiles, self.tile_h, self.tile_w).to(dtype=dtype, device=device)


def plan_tiles(height: int, width: int, tile: int = 256, overlap: int = 32) -> TilePlan:
    """The tile plan for an ``height x width`` frame (see the module docstring for the rules)."""
    _check_sizes(tile, overlap)
    if height <= 0 or width <= 0:
        raise ValueError(f"frame size must be positive, not {height}x{width}")
    tile_h, tile_w = min(tile, height), min(tile, width)
    ys = tile_starts(height, tile, overlap)
    xs = tile_starts(width, tile, overlap)
    return TilePlan(
        height=height,
        width=width,
        tile_h=tile_h,
        tile_w=tile_w,
        ys=ys,
        xs=xs,
        weight_y=blend_windows(height, ys, tile_h, overlap),
        weight_x=blend_windows(width, xs, tile_w, overlap),
    )


def tiles_per_frame(height: int, width: int, tile: int = 256, overlap: int = 32) -> int:
    """How many model inputs one frame of this size costs (for throughput in frames/s)."""
    return len(tile_starts(height, tile, overlap)) * len(tile_starts(width, tile, overlap))


def extract_tiles(frames: torch.Tensor, plan: TilePlan, indices: range | list[int]) -> torch.Tensor:
    """Crop tiles ``indices`` (batch-global numbering) out of ``frames`` (N, C, H, W) -> (k, C, th, tw)."""
    _check_frames(frames, plan)
    crops = []
    for g in indices:
        n, t = divmod(g, plan.n_tiles)
        y, x = plan.origin(t)
        crops.append(frames[n, :, y:y + plan.tile_h, x:x + plan.tile_w])
    return torch.stack(crops)


def accumulate_tiles(out: torch.Tensor, tiles: torch.Tensor, plan: TilePlan, indices: range | list[int],
                     weights: torch.Tensor | None = None) -> None:
    """Add the blended contribution of ``tiles`` (k, C, th, tw) into ``out`` (N, C, H, W) in place.

    After every tile of a frame has been accumulated into zeros, ``out`` holds the blended frame.
    ``weights`` is ``plan.weights()`` already on ``out``'s device and dtype (pass it when calling often:
    building it is a host-to-device copy).
    """
    _check_frames(out, plan)
    if tiles.shape[0] != len(indices):
        raise ValueError(f"{tiles.shape[0]} tiles for {len(indices)} indices")
    if weights is None:
        weights = plan.weights(dtype=out.dtype, device=out.device)
    for tile, g in zip(tiles, indices):
        n, t = divmod(g, plan.n_tiles)
        y, x = plan.origin(t)
        # in place, no tile-sized temporary per tile
        out[n, :, y:y + plan.tile_h, x:x + plan.tile_w].addcmul_(tile.to(out.dtype), weights[t])


def split_tiles(frames: torch.Tensor, plan: TilePlan) -> torch.Tensor:
    """All tiles of a batch of frames: (N, C, H, W) -> (N * n_tiles, C, th, tw)."""
    return extract_tiles(frames, plan, range(frames.shape[0] * plan.n_tiles))


def merge_tiles(tiles: torch.Tensor, plan: TilePlan, batch: int) -> torch.Tensor:
    """Inverse of :func:`split_tiles` with blending: (N * n_tiles, C, th, tw) -> (N, C, H, W) float32."""
    dtype = tiles.dtype if tiles.dtype in (torch.float32, torch.float64) else torch.float32
    out = torch.zeros(batch, tiles.shape[1], plan.height, plan.width, dtype=dtype, device=tiles.device)
    accumulate_tiles(out, tiles, plan, range(batch * plan.n_tiles))
    return out


def _check_sizes(tile: int, overlap: int) -> None:
    if tile <= 0:
        raise ValueError(f"tile must be positive, not {tile}")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), not {overlap} for tile {tile}")


def _check_frames(frames: torch.Tensor, plan: TilePlan) -> None:
    if frames.dim() != 4 or frames.shape[2:] != (plan.height, plan.width):
        raise ValueError(f"frames of shape {tuple(frames.shape)} do not match a {plan.height}x{plan.width} plan")
