"""The frame type every source yields and every sink takes (file, RTSP, webcam, images alike)."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np


@dataclass
class Frame:
    """One picture and its timing.

    ``image`` is H x W x 3 RGB, uint8 (8-bit sources) or uint16 (10/12-bit sources, full 16-bit scale).
    ``pts`` is in ``time_base`` units of the source stream; ``index`` counts frames from the source's
    start; ``captured_at`` is ``time.monotonic()`` when the frame left the decoder, for latency.
    ``meta`` carries source-specific extras (e.g. colour tags) without widening this type.
    """

    image: np.ndarray
    pts: int | None = None
    time_base: Fraction | None = None
    index: int = 0
    captured_at: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, or None when the source has no timestamps."""
        if self.pts is None or self.time_base is None:
            return None
        return float(self.pts * self.time_base)
