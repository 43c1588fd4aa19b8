"""What a video stream is, besides its pixels: size, timing, colour tags, orientation.

The sink needs all of it to write an output that differs from the input only in the picture.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class VideoInfo:
    """Description of a video source. Colour fields use FFmpeg's AVCOL_* integer codes (0/2 = unset)."""

    width: int
    height: int
    time_base: Fraction
    rate: Fraction | None = None  # average frame rate; None when unknown (some live sources)
    pix_fmt: str = "yuv420p"
    high_bit_depth: bool = False  # frames are uint16 RGB (10/12-bit sources)
    color_range: int = 0
    colorspace: int = 2
    color_primaries: int = 2
    color_trc: int = 2
    display_matrix: tuple[int, ...] | None = None  # 9 int32, FFmpeg layout; rotation/flip for players
    frame_count: int | None = None  # from the container header; an estimate, used for progress only
    duration: float | None = None  # seconds
    start_time: float | None = None  # seconds: presentation time of the first frame
    codec: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def rotation(self) -> int:
        """Counter-clockwise rotation in degrees implied by the display matrix (0 when none)."""
        if not self.display_matrix:
            return 0
        import math

        a, b = self.display_matrix[0], self.display_matrix[1]
        # FFmpeg's matrix stores the clockwise angle; we report counter-clockwise like PyAV.
        return -int(round(math.degrees(math.atan2(b, a)))) if (a or b) else 0
