"""The Derainer on CPU: tiled output equals the untiled model for pointwise models, integer frames round-trip,
out-of-memory and non-finite outputs are recovered from, and the real tiny model shows no seams."""
import numpy as np
import pytest
import torch
from loguru import logger
from torch import nn

from rainstream.engine import Derainer, EngineConfig
from rainstream.engine.tiling import plan_tiles
from rainstream.errors import RainstreamError

CUDA = torch.cuda.is_available()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Square(nn.Module):
    def forward(self, x):
        return x * x


class Pointwise(nn.Module):
    """A 1x1 convolution: every output pixel depends on its own input pixel only."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return torch.sigmoid(self.conv(x))


class OutOfMemoryAbove(nn.Module):
    """Raises the real CUDA out-of-memory exception type when given more than ``limit`` tiles."""

    def __init__(self, limit):
        super().__init__()
        self.limit = limit
        self.calls = []

    def forward(self, x):
        self.calls.append(x.shape[0])
        if x.shape[0] > self.limit:
            raise torch.cuda.OutOfMemoryError(f"CUDA out of memory: {x.shape[0]} tiles")
        return x * x


class NaNUnderAutocast(nn.Module):
    """Non-finite output whenever it runs in reduced precision, like an fp16 overflow."""

    def forward(self, x):
        if torch.is_autocast_enabled(x.device.type):
            return torch.full_like(x, float("nan"))
        return x * x


class Recording(nn.Module):
    """The identity, noting how many tiles each call got."""

    def __init__(self):
        super().__init__()
        self.seen: list[int] = []

    def forward(self, x):
        self.seen.append(x.shape[0])
        return x


def cpu(**kw):
    return EngineConfig(device="cpu", **kw)


@pytest.mark.parametrize("size", [(1, 1), (37, 53), (256, 256), (257, 513)])
@pytest.mark.parametrize("model", [nn.Identity(), Square(), Pointwise()], ids=["identity", "square", "conv1x1"])
def test_tiling_reproduces_the_untiled_result_for_pointwise_models(model, size):
    x = torch.rand(2, 3, *size)
    derainer = Derainer(model, cpu(tile=256, overlap=32, max_tiles=5))
    with torch.inference_mode():
        expected = model(x).clamp(0, 1)
    torch.testing.assert_close(derainer.derain_tensor(x), expected, rtol=0, atol=1e-6)


def test_1080p_identity_is_exact_with_max_tiles_bounding_each_call():
    recording = Recording()
    x = torch.rand(1, 3, 1080, 1920)
    out = Derainer(recording, cpu(max_tiles=16)).derain_tensor(x)
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)
    assert recording.seen == [16, 16, 13]  # 45 tiles per 1080p frame, never more than max_tiles per call


def test_unset_max_tiles_runs_one_tile_per_call_on_the_cpu():
    recording = Recording()
    x = torch.rand(1, 3, 100, 100)
    out = Derainer(recording, cpu(tile=64, overlap=16)).derain_tensor(x)
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)
    assert recording.seen == [1, 1, 1, 1]
    assert EngineConfig().tiles_per_call(torch.device("cuda")) == 16
    assert EngineConfig(max_tiles=3).tiles_per_call(torch.device("cpu")) == 3


def test_tiles_of_all_frames_in_a_batch_are_pooled():
    recording = Recording()
    Derainer(recording, cpu(tile=64, overlap=16, max_tiles=32)).derain_tensor(torch.rand(3, 3, 100, 100))
    assert recording.seen == [12]  # 3 frames x 4 tiles in one call, not one call per frame


@pytest.mark.parametrize("dtype,scale", [(np.uint8, 255), (np.uint16, 65535)])
def test_integer_frames_round_trip_with_the_same_dtype(dtype, scale):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, scale + 1, (h, w, 3)).astype(dtype) for h, w in [(70, 90), (70, 90), (33, 41)]]
    frames[0][0, 0] = scale  # extremes survive the float trip
    frames[0][0, 1] = 0
    derainer = Derainer(nn.Identity(), cpu(tile=64, overlap=16))
    outs = derainer.derain_images(frames)
    for frame, out in zip(frames, outs):
        assert out.dtype == frame.dtype and out.shape == frame.shape
        np.testing.assert_array_equal(out, frame)
    np.testing.assert_array_equal(derainer(frames[2]), frames[2])


def test_integer_output_is_the_rounded_clamped_model_output():
    frame = np.array([[[0, 100, 200]]], dtype=np.uint8)
    out = Derainer(Square(), cpu())(frame)
    expected = np.round((frame / 255.0) ** 2 * 255).astype(np.uint8)
    np.testing.assert_array_equal(out, expected)


def test_out_of_memory_reruns_the_chunk_with_fewer_tiles():
    model = OutOfMemoryAbove(limit=3)
    derainer = Derainer(model, cpu(tile=64, overlap=16, max_tiles=16))
    x = torch.rand(2, 3, 150, 200)  # 12 tiles per frame
    torch.testing.assert_close(derainer.derain_tensor(x), x * x, rtol=0, atol=1e-6)
    assert model.calls[:4] == [16, 8, 4, 2]  # halved until it fits
    assert {s for s in model.calls if s <= 3} == {2}
    assert derainer._max_tiles == 2  # later batches start at the size that fits
    model.calls.clear()
    derainer.derain_tensor(x)
    assert max(model.calls) <= 3


def test_out_of_memory_on_a_single_tile_is_a_one_line_error():
    derainer = Derainer(OutOfMemoryAbove(limit=0), cpu(tile=64, overlap=16))
    with pytest.raises(RainstreamError, match="out of device memory on a single 64x64 tile"):
        derainer.derain_tensor(torch.rand(1, 3, 64, 64))


def test_non_finite_reduced_precision_chunks_are_rerun_wider_with_one_warning():
    warnings = []
    sink = logger.add(lambda m: warnings.append(m.record["message"]), level="WARNING")
    try:
        derainer = Derainer(NaNUnderAutocast(), cpu(tile=64, overlap=16, max_tiles=4, precision="bf16"))
        x = torch.rand(2, 3, 100, 120)
        torch.testing.assert_close(derainer.derain_tensor(x), x * x, rtol=0, atol=1e-6)
        frame = (np.random.default_rng(1).random((50, 60, 3)) * 255).astype(np.uint8)
        expected = np.round((frame / 255.0) ** 2 * 255).astype(np.uint8)
        np.testing.assert_array_equal(derainer(frame), expected)
    finally:
        logger.remove(sink)
    assert len([w for w in warnings if "inf/NaN" in w]) == 1


def test_bf16_autocast_on_cpu_stays_close_to_fp32():
    model = Pointwise()
    x = torch.rand(1, 3, 80, 80)
    fp32 = Derainer(model, cpu(tile=64, overlap=16)).derain_tensor(x)
    bf16 = Derainer(model, cpu(tile=64, overlap=16, precision="bf16")).derain_tensor(x)
    assert (bf16 - fp32).abs().max() < 2e-2 and not torch.equal(bf16, fp32)  # bf16 really ran


@pytest.mark.slow
def test_compile_backend_pads_short_chunks_and_matches_eager():
    # 2 frames x 6 tiles with max_tiles 5: chunks of 5, 5 and 2 (padded to 5 for one static graph)
    model = Pointwise()
    x = torch.rand(2, 3, 100, 120)
    with torch.inference_mode():
        expected = model(x)
    compiled = Derainer(model, cpu(tile=64, overlap=16, max_tiles=5, backend="compile"))
    torch.testing.assert_close(compiled.derain_tensor(x), expected, rtol=0, atol=1e-5)


def test_channels_last_gives_the_same_result():
    model = Pointwise()
    x = torch.rand(1, 3, 90, 70)
    plain = Derainer(model, cpu(tile=64, overlap=16)).derain_tensor(x)
    torch.testing.assert_close(Derainer(model, cpu(tile=64, overlap=16, channels_last=True)).derain_tensor(x), plain)


@pytest.mark.parametrize("kw,match", [
    (dict(precision="fp8"), "`precision`"), (dict(backend="onnx"), "`backend`"),
    (dict(overlap=200), "`overlap`"), (dict(max_tiles=0), "`max_tiles`"), (dict(tile=8), "`tile`"),
])
def test_bad_settings_are_one_line_errors(kw, match):
    with pytest.raises(RainstreamError, match=match):
        EngineConfig(**kw)


def test_unknown_yaml_keys_are_rejected():
    with pytest.raises(RainstreamError, match="unknown engine setting"):
        EngineConfig.from_dict({"tile": 128, "tiles": 4})
    assert EngineConfig.from_dict({"tile": 128}).tile == 128


@pytest.mark.skipif(CUDA, reason="checks the error when no GPU is present")
def test_cuda_or_fp16_without_a_gpu_is_a_one_line_error():
    with pytest.raises(RainstreamError, match="no CUDA GPU"):
        Derainer(nn.Identity(), EngineConfig(device="cuda"))
    with pytest.raises(RainstreamError, match="fp16 needs a CUDA GPU"):
        Derainer(nn.Identity(), cpu(precision="fp16"))


def test_tensorrt_missing_is_a_one_line_install_hint():
    try:
        import torch_tensorrt  # noqa: F401
        pytest.skip("torch-tensorrt is installed")
    except ImportError:
        pass
    with pytest.raises(RainstreamError) as info:
        Derainer(nn.Identity(), EngineConfig(backend="tensorrt"))
    message = str(info.value)
    assert "\n" not in message and "pip install 'rainstream[tensorrt]'" in message


def test_bad_images_are_one_line_errors():
    derainer = Derainer(nn.Identity(), cpu())
    with pytest.raises(RainstreamError, match="HxWx3"):
        derainer(np.zeros((10, 10), np.uint8))
    with pytest.raises(RainstreamError, match="uint8 or uint16"):
        derainer(np.zeros((10, 10, 3), np.float32))


# ------------------------------------------------------------------ the real model (dim 8)

def _scene(h, w):
    """A smooth scene with edges and bright streaks (texture for the model to act on)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    img = torch.stack([0.5 + 0.3 * torch.sin(6 * xx + 3 * yy), 0.4 + 0.4 * yy * xx, 0.3 + 0.2 * (xx > 0.5)])
    streaks = ((torch.arange(w)[None, :] * 3 + torch.arange(h)[:, None]) % 17 == 0).float()
    return (img + 0.3 * streaks).clamp(0, 1)[None]


def _seam_ratio(img, rows, cols):
    """Mean |gradient| across the given tile borders / mean |gradient| everywhere else."""
    gx = (img[..., :, 1:] - img[..., :, :-1]).abs().mean(dim=(0, 1, 2))  # gx[c-1]: between column c-1 and c
    gy = (img[..., 1:, :] - img[..., :-1, :]).abs().mean(dim=(0, 1, 3))
    cmask = torch.zeros_like(gx, dtype=torch.bool)
    rmask = torch.zeros_like(gy, dtype=torch.bool)
    cmask[[c - 1 for c in cols]] = True
    rmask[[r - 1 for r in rows]] = True
    seam = torch.cat([gx[cmask], gy[rmask]]).mean()
    rest = torch.cat([gx[~cmask], gy[~rmask]]).mean()
    return (seam / rest).item()


def _borders(starts, size, length):
    return sorted({s for s in starts if s > 0} | {s + size for s in starts if s + size < length})


def test_real_model_tiled_output_has_no_seams(tiny):
    x = _scene(128, 128)
    with torch.inference_mode():
        untiled = tiny(x).clamp(0, 1)
    blended = Derainer(tiny, cpu(tile=64, overlap=16, max_tiles=16)).derain_tensor(x)
    plan = plan_tiles(128, 128, 64, 16)
    rows, cols = _borders(plan.ys, plan.tile_h, 128), _borders(plan.xs, plan.tile_w, 128)
    ratio_blended = _seam_ratio(blended, rows, cols)
    ratio_untiled = _seam_ratio(untiled, rows, cols)
    assert ratio_blended <= ratio_untiled * 1.05, (ratio_blended, ratio_untiled)

    # The measure does see seams: plain non-overlapping 64 tiles (what the reference does) show one at 64.
    hard = torch.zeros_like(x)
    with torch.inference_mode():
        for y in (0, 64):
            for x0 in (0, 64):
                hard[..., y:y + 64, x0:x0 + 64] = tiny(x[..., y:y + 64, x0:x0 + 64]).clamp(0, 1)
    assert _seam_ratio(hard, [64], [64]) > 1.2 * _seam_ratio(untiled, [64], [64])


def test_real_model_single_tile_equals_the_model(tiny):
    x = torch.rand(2, 3, 48, 64)
    with torch.inference_mode():
        expected = tiny(x).clamp(0, 1)
    torch.testing.assert_close(Derainer(tiny, cpu(tile=64, overlap=16)).derain_tensor(x), expected,
                               rtol=0, atol=1e-6)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_reduced_precision_on_cuda_is_within_45_db_of_fp32(tiny, precision):
    x = torch.rand(1, 3, 200, 300)
    fp32 = Derainer(tiny, EngineConfig(device="cuda", tile=64, overlap=16)).derain_tensor(x)
    low = Derainer(tiny, EngineConfig(device="cuda", tile=64, overlap=16, precision=precision)).derain_tensor(x)
    psnr = 10 * torch.log10(1 / (low - fp32).pow(2).mean())
    assert psnr >= 45


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_streams_path_matches_cpu(tiny):
    frames = [(np.random.default_rng(i).random((120, 160, 3)) * 255).astype(np.uint8) for i in range(3)]
    on_cpu = Derainer(tiny, cpu(tile=64, overlap=16)).derain_images(frames)
    gpu = Derainer(tiny, EngineConfig(device="cuda", tile=64, overlap=16))
    pending = [gpu.submit(frames[:2]), gpu.submit(frames[2:])]  # two batches in flight
    on_gpu = [im for p in pending for im in p.result()]
    for a, b in zip(on_cpu, on_gpu):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


# ------------------------------------------------------------------ the model-only benchmark

def test_bench_measures_supported_cases_and_skips_the_rest():
    from rainstream.bench.model import BenchCase, count_gmacs, format_markdown, run_case

    model = Pointwise()
    gmacs = count_gmacs(model, 64)
    assert gmacs == pytest.approx(3 * 3 * 64 * 64 / 1e9)  # a 1x1 conv: 9 MACs per pixel
    base = run_case(model, BenchCase("m", "eager", "fp32", 64, 1, baseline=True), "cpu", 16, 2, 1, gmacs)
    batched = run_case(model, BenchCase("m", "eager", "bf16", 64, 4), "cpu", 16, 2, 1, gmacs)
    fp16 = run_case(model, BenchCase("m", "eager", "fp16", 64, 4), "cpu", 16, 2, 1, gmacs)
    assert base.status == batched.status == "ok" and base.tiles_per_s > 0
    assert fp16.status.startswith("skipped: `precision` fp16 needs a CUDA GPU")
    # frames/s follows the tile plan of a 1080p frame at this tile size and overlap
    assert base.frames_per_s("1080p") == pytest.approx(base.tiles_per_s / plan_tiles(1080, 1920, 64, 16).n_tiles)
    table = format_markdown([base, batched, fp16], command="rainstream bench", machine="test")
    assert "| m | eager (baseline) | fp32 | 64 | 1 |" in table and "1.00x |" in table
    assert "skipped: `precision` fp16" in table


def test_bench_pipeline_flag_with_a_missing_clip_is_one_line(tmp_path, capsys):
    from rainstream.cli.main import main

    assert main(["bench", "--pipeline", str(tmp_path / "none.mp4")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: --pipeline")
