"""Tile planning and blending: coverage, weights summing to one, exact round trips."""
import pytest
import torch

from rainstream.engine.tiling import (accumulate_tiles, blend_windows, extract_tiles, merge_tiles, plan_tiles,
                                      split_tiles, tile_starts, tiles_per_frame)


def test_starts_cover_the_length_with_inward_shifted_last_tile():
    assert tile_starts(1080, 256, 32) == (0, 224, 448, 672, 824)
    assert tile_starts(512, 256, 32) == (0, 224, 256)
    assert tile_starts(256, 256, 32) == (0,)
    assert tile_starts(100, 256, 32) == (0,)
    for length in (257, 300, 481, 1920, 3840):
        starts = tile_starts(length, 256, 32)
        assert starts[0] == 0 and starts[-1] + 256 == length  # no padding: last tile ends on the border
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        assert all(0 < g <= 256 - 32 for g in gaps)  # consecutive tiles overlap by at least `overlap`


def test_small_frames_go_whole():
    plan = plan_tiles(37, 53, tile=256, overlap=32)
    assert (plan.tile_h, plan.tile_w, plan.n_tiles) == (37, 53, 1)
    plan = plan_tiles(100, 600, tile=256, overlap=32)
    assert plan.tile_h == 100 and plan.tile_w == 256 and len(plan.ys) == 1


@pytest.mark.parametrize("size", [(1, 1), (37, 53), (256, 256), (257, 513), (720, 1280), (1080, 1920)])
def test_blend_weights_sum_to_one_everywhere(size):
    h, w = size
    plan = plan_tiles(h, w, 256, 32)
    total = torch.zeros(h, w, dtype=torch.float64)
    for t in range(plan.n_tiles):
        y, x = plan.origin(t)
        weight = plan.weight(t, dtype=torch.float64)
        assert (weight > 0).all()
        total[y:y + plan.tile_h, x:x + plan.tile_w] += weight
    torch.testing.assert_close(total, torch.ones_like(total), rtol=0, atol=1e-12)


def test_weights_are_flat_inside_and_on_the_frame_border_and_ramp_across_overlaps():
    starts = tile_starts(480, 256, 32)  # (0, 224): one overlap of exactly 32
    win = blend_windows(480, starts, 256, 32)
    assert torch.all(win[0, :224] == 1) and torch.all(win[1, 32:] == 1)  # frame borders get full weight
    ramp = win[1, :32]
    assert torch.all(ramp[1:] > ramp[:-1])  # smooth monotone hand-over, no step
    torch.testing.assert_close(win[0, 224:] + ramp, torch.ones(32, dtype=torch.float64))


def test_tiles_per_frame_matches_the_plan():
    assert tiles_per_frame(1080, 1920) == plan_tiles(1080, 1920).n_tiles == 45
    assert tiles_per_frame(720, 1280) == 24


@pytest.mark.parametrize("size", [(1, 1), (37, 53), (256, 256), (257, 513)])
def test_split_then_merge_reproduces_the_frames(size):
    frames = torch.rand(2, 3, *size)
    plan = plan_tiles(*size, tile=64, overlap=16)
    tiles = split_tiles(frames, plan)
    assert tiles.shape == (2 * plan.n_tiles, 3, plan.tile_h, plan.tile_w)
    torch.testing.assert_close(merge_tiles(tiles, plan, 2), frames, rtol=0, atol=1e-6)


def test_accumulating_in_any_chunking_equals_merging_all():
    frames = torch.rand(3, 3, 150, 200)
    plan = plan_tiles(150, 200, tile=64, overlap=16)
    total = 3 * plan.n_tiles
    out = torch.zeros_like(frames)
    for start in range(0, total, 7):  # chunks that straddle frame boundaries
        indices = range(start, min(start + 7, total))
        accumulate_tiles(out, extract_tiles(frames, plan, indices) ** 2, plan, indices)
    torch.testing.assert_close(out, frames ** 2, rtol=0, atol=1e-6)


def test_bad_sizes_are_rejected():
    with pytest.raises(ValueError):
        plan_tiles(100, 100, tile=64, overlap=64)
    with pytest.raises(ValueError):
        plan_tiles(0, 100)
    with pytest.raises(ValueError):
        merge_tiles(torch.zeros(1, 3, 64, 64), plan_tiles(100, 100, 64, 16), 1)
