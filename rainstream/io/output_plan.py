"""What a video job's output becomes, decided once from its name and the input, and tried before any
frame is derained.

``plan_output`` picks the kind of output (a video through resumable segments, a one-pass GIF, or
numbered stills), the encoder and the pixel format; ``try_output`` runs one black frame through
exactly the code that will write the real file (encoder, segment, remux into the final container),
so a combination FFmpeg refuses fails in a second with one line, not after the last frame.

Defaults, when ``codec`` / ``pix_fmt`` are unset:
- the encoder follows the container: VP9 for .webm, MPEG-4 Part 2 for .avi, GIF for .gif, else
  H.264; 10-bit input gets HEVC Main 10 (yuv420p10le) instead of H.264, because 10-bit H.264
  (High 10) plays almost nowhere while HEVC Main 10 plays in browsers and hardware decoders.
  ``ffv1`` (lossless, in .mkv/.avi/.mp4) stores RGB planes, so the derained pixels come back exactly.
- odd sizes: H.264/HEVC cannot code 4:2:0 at an odd width or height (chroma is subsampled by two, and
  the bitstream's crop is in two-pixel steps), so they get 4:4:4. That keeps the size and every
  pixel; padding would change the size (players ignore container crop tags) and scaling would touch
  every pixel. 4:4:4 plays in FFmpeg-based players (VLC, mpv); for browsers, VP9 (.webm) takes odd
  sizes in 4:2:0.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from rainstream.errors import RainstreamError
from rainstream.frames import Frame
from rainstream.io.encode_options import EncodeOptions
from rainstream.io.images import IMAGE_EXTENSIONS
from rainstream.io.video_info import VideoInfo

VIDEO = "video"  # encoded segments joined by remux: resumable
GIF = "gif"  # one pass with a palette per frame
IMAGES = "images"  # one still per frame, by a %d pattern

# extension -> encoder for 8-bit input, for 10-bit input
_CONTAINER_CODECS = {".webm": ("libvpx-vp9", "libvpx-vp9"), ".avi": ("mpeg4", "mpeg4"), ".gif": ("gif", "gif")}
_DEFAULT_CODECS = ("libx264", "libx265")
_EVEN_SIZE_CODECS = ("libx264", "libx265", "h264_nvenc", "hevc_nvenc")  # 4:2:0 needs even sizes
_HIGH_BIT_DEPTH_CODECS = ("libx265", "libvpx-vp9", "hevc_nvenc")  # 10-bit by default
_SEQUENCE = re.compile(r"%0?\d*d")


@dataclass(frozen=True)
class OutputPlan:
    """``kind``: VIDEO, GIF or IMAGES; ``path``: the output (for IMAGES a pattern with one ``%d``,
    numbered from 1); ``codec``/``pix_fmt``: the encoder and its pixel format (VIDEO, GIF)."""

    kind: str
    path: str
    codec: str | None = None
    pix_fmt: str | None = None
    note: str = ""  # why a default differs from the usual one, for the log

    def describe(self) -> str:
        if self.kind == IMAGES:
            return f"numbered {os.path.splitext(self.path)[1]} images"
        return f"{self.codec} {self.pix_fmt}"


def is_sequence_pattern(output: str) -> bool:
    """``out_%05d.png``: an image extension and one printf number in the name."""
    name = os.path.basename(output)
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS and len(_SEQUENCE.findall(name)) == 1


def plan_output(output: str, info: VideoInfo, options: EncodeOptions) -> OutputPlan:
    """The output kind, encoder and pixel format for a video of ``info`` written to ``output``."""
    ext = os.path.splitext(output)[1].lower()
    if is_sequence_pattern(output):
        try:
            output % 1
        except (TypeError, ValueError):
            raise RainstreamError(f"{output}: a numbered output takes one %d (or %05d) and no other %; "
                                  "write a literal % as %%") from None
        return OutputPlan(IMAGES, output)
    if ext in IMAGE_EXTENSIONS:
        stem = os.path.splitext(output)[0]
        raise RainstreamError(f"a video gives many pictures: name the output as a numbered sequence, "
                              f"e.g. {stem}_%05d{ext}, or a video file (.mp4, .mkv, .webm, .gif)")
    eight, ten = _CONTAINER_CODECS.get(ext, _DEFAULT_CODECS)
    codec = options.resolved_codec(default=ten if info.high_bit_depth else eight)
    kind = GIF if ext == ".gif" or codec == "gif" else VIDEO
    if kind == GIF and (ext != ".gif" or codec != "gif"):
        raise RainstreamError(f"GIF is its own container: write GIF to a .gif file and a .gif file as "
                              f"GIF, not {codec} into {ext or 'a file without extension'}")
    pix_fmt = options.pix_fmt or default_pix_fmt(codec, info)
    return OutputPlan(kind, output, codec, pix_fmt, "" if options.pix_fmt else _note(codec, pix_fmt, info))


def _note(codec: str, pix_fmt: str, info: VideoInfo) -> str:
    if "444" in pix_fmt and codec in _EVEN_SIZE_CODECS:
        return (f"the size {info.width}x{info.height} is odd, so {codec} writes 4:4:4 ({pix_fmt}) to keep every "
                "pixel: VLC and mpv play it, browsers do not (a .webm output plays there)")
    if info.high_bit_depth and not any(d in pix_fmt for d in ("10", "12", "16")) and codec != "gif":
        return f"10-bit input written as 8-bit {codec} ({pix_fmt}); set `pix_fmt` to keep 10 bits"
    return ""


def default_pix_fmt(codec: str, info: VideoInfo) -> str:
    """The pixel format ``codec`` gets for ``info`` when none is set (see the module docstring)."""
    high = info.high_bit_depth
    if codec == "gif":
        return "pal8"
    if codec == "ffv1":
        return "gbrp16le" if high else "bgr0"  # RGB: lossless after the RGB derain
    if codec == "mpeg4":
        return "yuv420p"  # 8-bit only
    pix_fmt = "yuv420p10le" if high and codec in _HIGH_BIT_DEPTH_CODECS else "yuv420p"
    if codec in _EVEN_SIZE_CODECS and (info.width % 2 or info.height % 2):
        pix_fmt = pix_fmt.replace("420", "444")
    return pix_fmt


def try_output(plan: OutputPlan, info: VideoInfo, options: EncodeOptions) -> None:
    """Write one black frame the way the job will write them all, in a hidden folder next to the
    output that is removed afterwards; a refusal is one ``RainstreamError`` naming the combination."""
    folder, name = os.path.split(os.path.abspath(plan.path))
    ext = os.path.splitext(name)[1]
    black = np.zeros((info.height, info.width, 3), np.uint16 if info.high_bit_depth else np.uint8)
    frame = Frame(image=black, pts=0, time_base=info.time_base or Fraction(1, 25), index=0)
    try:
        trial_dir = tempfile.mkdtemp(prefix=f".{name.replace('%', '')}.rainstream-trial-", dir=folder)
    except OSError as exc:
        raise RainstreamError(f"cannot write to the output folder {folder}: {exc.strerror or exc}") from None
    try:
        trial_out = os.path.join(trial_dir, "trial" + ext)
        if plan.kind == IMAGES:
            from rainstream.io.images import write_image

            write_image(os.path.join(trial_dir, "trial" + ext), black)
        elif plan.kind == GIF:
            from rainstream.io.gif_sink import GifSink

            with GifSink(trial_out, info) as sink:
                sink.write(frame)
        else:
            _try_video(plan, info, options, frame, trial_dir, trial_out)
    except RainstreamError as exc:
        raise RainstreamError(f"cannot write {plan.path} as {plan.describe()}: {_reason(exc)}") from None
    except Exception as exc:  # noqa: BLE001 - FFmpeg's refusal, in one line
        raise RainstreamError(f"cannot write {plan.path} as {plan.describe()}"
                              f"{_size_hint(plan, info)}: {_reason(exc)}") from None
    finally:
        shutil.rmtree(trial_dir, ignore_errors=True)


def _try_video(plan, info, options, frame, trial_dir, trial_out) -> None:
    from rainstream.io.assemble import assemble
    from rainstream.io.journal import Journal
    from rainstream.io.segment_sink import SegmentSink

    journal = Journal(input_signature={}, options={})
    with SegmentSink(trial_dir, info, options, journal, plan=plan) as sink:
        sink.write(frame)
    segments = [(os.path.join(trial_dir, s.file), s.offset_seconds) for s in journal.segments]
    assemble(segments, trial_out)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.replace("cannot write the output file: ", "").strip()


def _size_hint(plan: OutputPlan, info: VideoInfo) -> str:
    if (info.width % 2 or info.height % 2) and "420" in (plan.pix_fmt or "") and plan.codec in _EVEN_SIZE_CODECS:
        return (f" (the size {info.width}x{info.height} is odd and 4:2:0 needs even sizes; "
                "leave `pix_fmt` unset for 4:4:4)")
    return ""
