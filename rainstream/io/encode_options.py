"""Output encoding choices (codec, quality, preset, pixel format): the ``encode`` section of the run config."""
from __future__ import annotations

from dataclasses import dataclass

import av

from rainstream.errors import RainstreamError

CODECS = ("libx264", "libx265", "h264_nvenc", "hevc_nvenc")
_ALIASES = {"h264": "libx264", "x264": "libx264", "hevc": "libx265", "h265": "libx265",
            "x265": "libx265", "nvenc": "h264_nvenc"}


@dataclass(frozen=True)
class EncodeOptions:
    codec: str = "libx264"
    crf: int = 18  # visually lossless for x264/x265; maps to -cq for NVENC
    preset: str | None = None  # None: medium for files, veryfast for live streams (latency)
    pix_fmt: str | None = None  # None: yuv420p for 8-bit input, yuv420p10le for 10-bit
    segment_frames: int = 300  # resume granularity: frames per on-disk segment

    def resolved_codec(self) -> str:
        name = _ALIASES.get(self.codec, self.codec)
        try:
            av.codec.Codec(name, "w")
        except Exception:
            raise RainstreamError(f"video encoder {self.codec!r} is not available in this FFmpeg "
                                  f"build (`codec` choices: {', '.join(CODECS)})") from None
        return name

    def resolved_pix_fmt(self, high_bit_depth: bool) -> str:
        if self.pix_fmt:
            return self.pix_fmt
        return "yuv420p10le" if high_bit_depth else "yuv420p"

    def resolved_preset(self, live: bool) -> str:
        return self.preset or ("veryfast" if live else "medium")

    def codec_options(self, codec: str, live: bool = False) -> dict[str, str]:
        preset = self.resolved_preset(live)
        if codec in ("libx264", "libx265"):
            opts = {"crf": str(self.crf), "preset": preset}
            if codec == "libx265":
                opts["x265-params"] = "log-level=error"
            return opts
        if codec.endswith("_nvenc"):
            preset = preset if preset.startswith("p") else "p5"
            return {"rc": "vbr", "cq": str(self.crf), "preset": preset}
        return {}

    def validate(self) -> None:
        if self.segment_frames < 1:
            raise RainstreamError(f"`segment_frames` must be >= 1, not {self.segment_frames}")
        if not 0 <= self.crf <= 63:
            raise RainstreamError(f"`crf` must be in 0..51 (x264) / 0..63, not {self.crf}")
        if self.pix_fmt:
            try:
                av.VideoFormat(self.pix_fmt)
            except Exception:
                raise RainstreamError(f"unknown `pix_fmt` {self.pix_fmt!r}") from None
        self.resolved_codec()
