"""YUV <-> RGB conversion that honours the stream's own colour matrix and range.

Decoders hand out YUV; the model wants RGB. Converting with a guessed matrix (FFmpeg's default is
BT.601, limited range) shifts colours on HD/HDR/full-range footage, so every conversion here is
told the source's matrix and range explicitly, and the encoder side uses the same pair in reverse.
"""
from __future__ import annotations

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace, Interpolation

# AVColorSpace (what streams/frames carry) -> swscale's matrix constant.
_MATRIX_FROM_AVCOL = {
    1: Colorspace.ITU709,  # BT709
    4: Colorspace.FCC,
    5: Colorspace.ITU601,  # BT470BG
    6: Colorspace.SMPTE170M,  # BT.601 (NTSC)
    7: Colorspace.SMPTE240M,
    9: Colorspace.BT2020,  # BT2020 NCL
    10: Colorspace.BT2020,  # BT2020 CL (swscale only has the NCL matrix)
}
AVCOL_RANGE_MPEG = 1  # limited ("tv") range
AVCOL_RANGE_JPEG = 2  # full ("pc") range

# Accurate rounding and full chroma interpolation: the default fast path loses ~1 code value
# and smears chroma, which would show up as a colour shift after a derain round trip.
_INTERP = Interpolation.BICUBIC | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT


def matrix_for(colorspace: int, height: int) -> Colorspace:
    """swscale matrix for an AVColorSpace; untagged video follows FFmpeg players' rule (HD -> 709)."""
    if colorspace in _MATRIX_FROM_AVCOL:
        return _MATRIX_FROM_AVCOL[colorspace]
    return Colorspace.ITU709 if height >= 720 else Colorspace.ITU601


def range_for(color_range: int, pix_fmt: str) -> ColorRange:
    """Untagged range is limited, except the legacy yuvj* formats, which are full by definition."""
    if color_range == AVCOL_RANGE_JPEG or pix_fmt.startswith("yuvj"):
        return ColorRange.JPEG
    return ColorRange.MPEG


def is_high_bit_depth(pix_fmt: str) -> bool:
    fmt = av.VideoFormat(pix_fmt)
    return max(c.bits for c in fmt.components) > 8


def frame_to_rgb(frame: av.VideoFrame, matrix: Colorspace, color_range: ColorRange,
                 high_bit_depth: bool) -> np.ndarray:
    """Decoded frame -> H x W x 3 RGB (uint8, or uint16 full scale for >8-bit sources)."""
    fmt = "rgb48le" if high_bit_depth else "rgb24"
    if frame.format.name.startswith(("rgb", "bgr", "gbr")):
        return frame.to_ndarray(format=fmt)
    return frame.to_ndarray(format=fmt, src_colorspace=matrix, src_color_range=color_range,
                            dst_color_range=ColorRange.JPEG, interpolation=_INTERP)


def rgb_to_frame(image: np.ndarray, pix_fmt: str, matrix: Colorspace,
                 color_range: ColorRange) -> av.VideoFrame:
    """RGB array -> frame in the encoder's pixel format, with the output's matrix and range."""
    rgb_fmt = "rgb48le" if image.dtype == np.uint16 else "rgb24"
    rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=rgb_fmt)
    if pix_fmt.startswith(("rgb", "bgr", "gbr")):
        return rgb.reformat(format=pix_fmt)
    return rgb.reformat(format=pix_fmt, src_colorspace=matrix, dst_colorspace=matrix,
                        src_color_range=ColorRange.JPEG, dst_color_range=color_range,
                        interpolation=_INTERP)
