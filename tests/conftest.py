"""Shared fixtures: small real video clips written with PyAV, and cheap deterministic engines."""
from __future__ import annotations

import os
import signal
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

# A suite started in the background (`pytest &`, `nohup`) inherits SIGINT as ignored, and so would
# every CLI process the tests start: Python then installs no KeyboardInterrupt handler, and the tests
# that press Ctrl-C on a run would wait for nothing. Children of a handled SIGINT start with the default.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

FIXTURES = Path(__file__).resolve().parent / "fixtures"  # small ground truth, carried by the project
REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"  # the large rest, next to the checkout


def reference_file(name: str) -> Path:
    """A ground-truth file: from tests/fixtures (the NeRD-Rain and DRSformer equivalence data, a few
    MB), else ../shared/reference next to the checkout (the ~100 MB MSPFN checkpoint and outputs);
    skips, saying so, when neither has it (a bare clone)."""
    for folder in (FIXTURES, REFERENCE):
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"ground truth {name} is absent: it lives in ../shared/reference next to the checkout "
                "(large files, not in the repository)")


def pattern(index: int, height: int, width: int, high_bit_depth: bool = False) -> np.ndarray:
    """A smooth moving RGB pattern: compresses well, so encoder noise stays small and PSNR high."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 0.5 + 0.4 * np.sin((x + 3 * index) / 9.0)
    g = 0.5 + 0.4 * np.cos((y - 2 * index) / 7.0)
    b = 0.5 + 0.4 * np.sin((x + y + 5 * index) / 13.0)
    img = np.stack([r, g, b], axis=-1)
    if high_bit_depth:
        return np.round(img * 65535).astype(np.uint16)
    return np.round(img * 255).astype(np.uint8)


def make_clip(path, *, width=64, height=48, frames=12, rate=Fraction(25), pts=None,
              time_base=None, pix_fmt="yuv420p", codec="libx264", audio=False,
              color_range=None, colorspace=None, color_primaries=None, color_trc=None,
              rotation=None, gop=None) -> str:
    """Write a clip with PyAV; returns its path.

    ``pts`` (list of ints in ``time_base``) makes a variable-frame-rate clip. ``audio`` adds a
    48 kHz mono AAC track as long as the video. Colour arguments are AVCOL_* codes.
    """
    path = os.fspath(path)
    high = pix_fmt.endswith("10le")
    with av.open(path, "w") as out:
        st = out.add_stream(codec, rate=rate, options={"crf": "12", "preset": "veryfast"})
        st.width, st.height, st.pix_fmt = width, height, pix_fmt
        tb = time_base  # required with ``pts``; otherwise the encoder's 1/rate
        if tb is not None:
            st.time_base = tb
            st.codec_context.time_base = tb
        cc = st.codec_context
        if gop:
            cc.gop_size = gop
        for name, value in (("color_range", color_range), ("colorspace", colorspace),
                            ("color_primaries", color_primaries), ("color_trc", color_trc)):
            if value is not None:
                setattr(cc, name, value)
        if rotation is not None:
            st.set_display_rotation(rotation)
        a_st = out.add_stream("aac", rate=48000, layout="mono") if audio else None
        from av.video.reformatter import ColorRange, Colorspace

        matrix = {1: Colorspace.ITU709, 9: Colorspace.BT2020}.get(colorspace, Colorspace.ITU601)
        rng = ColorRange.JPEG if color_range == 2 else ColorRange.MPEG
        for i in range(frames):
            img = pattern(i, height, width, high)
            vf = av.VideoFrame.from_ndarray(img, format="rgb48le" if high else "rgb24")
            vf = vf.reformat(format=pix_fmt, dst_colorspace=matrix, dst_color_range=rng)
            if pts is not None:
                vf.pts, vf.time_base = pts[i], tb
            else:
                vf.pts, vf.time_base = i, Fraction(1, 1) / Fraction(rate)
            for p in st.encode(vf):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
        if a_st is not None:
            duration = (pts[-1] * tb if pts is not None else Fraction(frames) / Fraction(rate))
            samples = int(duration * 48000)
            t = np.arange(samples, dtype=np.float32) / 48000
            wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = wave[start:start + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
                af.sample_rate, af.pts = 48000, start
                for p in a_st.encode(af):
                    out.mux(p)
            for p in a_st.encode(None):
                out.mux(p)
    return path


def read_video(path) -> dict:
    """Decode a file: frames (RGB via the stream's own matrix/range), pts, tags, audio packets."""
    from rainstream.io.file_source import FileSource

    with FileSource(path) as src:
        frames = list(src)
        info = src.info
    with av.open(os.fspath(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size] if c.streams.audio else []
        v = c.streams.video[0]
        duration = float(v.duration * v.time_base) if v.duration else None
    return {"frames": [f.image for f in frames], "pts": [f.pts for f in frames],
            "times": [f.time for f in frames], "info": info, "audio": audio, "duration": duration}


class InvertEngine:
    """Deterministic pointwise stand-in engine: visibly changes every frame, keeps dtype/shape."""

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = delay_s
        self.calls = 0

    def derain_images(self, images):
        import time

        self.calls += 1
        if self.delay_s:
            time.sleep(self.delay_s * len(images))
        return [np.iinfo(im.dtype).max - im for im in images]


class FailingEngine(InvertEngine):
    """Derains the first two batches, then raises ``error`` (as bad weights or a full disk would)."""

    def __init__(self, error: Exception):
        super().__init__()
        self.error = error

    def derain_images(self, images):
        if self.calls >= 2:
            raise self.error
        return super().derain_images(images)


@pytest.fixture
def clip_factory(tmp_path):
    counter = iter(range(1000))

    def factory(name=None, **kwargs):
        return make_clip(tmp_path / (name or f"clip{next(counter)}.mp4"), **kwargs)

    return factory


def luma_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR of the BT.601 luma of two RGB images (uint8 or uint16, each at its full scale)."""
    def luma(x):
        x = x.astype(np.float64) / np.iinfo(x.dtype).max
        return 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]

    return float(10 * np.log10(1.0 / max(np.mean((luma(a) - luma(b)) ** 2), 1e-12)))


def run_cli(capsys, *argv) -> tuple[int, str]:
    """``rainstream ARGV...`` in this process: (exit code, stderr)."""
    from rainstream.cli.main import main

    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def one_torch_thread():
    """The CI box is small and shared; one intra-op thread avoids OpenMP spin contention."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny():
    """The registered test-sized NeRD-Rain (dim 8), seeded, in eval mode."""
    import torch

    from rainstream.model import build_model

    torch.manual_seed(0)
    return build_model("nerd_rain_tiny").eval()


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory) -> str:
    """A safetensors file of a seeded tiny model, for ``--weights``."""
    import torch

    from rainstream.model import build_model
    from rainstream.model.checkpoint import write_safetensors

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    write_safetensors(build_model("nerd_rain_tiny").state_dict(), path)
    return str(path)
