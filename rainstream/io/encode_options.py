"""Output encoding choices (codec, quality, preset, pixel format): the ``encode`` section of the run config."""
from __future__ import annotations

from dataclasses import dataclass

import av

from rainstream.errors import RainstreamError

CODECS = ("libx264", "libx265", "libvpx-vp9", "mpeg4", "ffv1", "gif", "h264_nvenc", "hevc_nvenc")
_ALIASES = {"h264": "libx264", "x264": "libx264", "hevc": "libx265", "h265": "libx265",
            "x265": "libx265", "nvenc": "h264_nvenc", "vp9": "libvpx-vp9"}
DEFAULT_CODEC = "libx264"


@dataclass(frozen=True)
class EncodeOptions:
    codec: str | None = None  # None: chosen from the output's container and the input's bit depth
    crf: int = 18  # visually lossless for x264/x265; maps to -cq for NVENC
    preset: str | None = None  # None: medium for files, veryfast for live streams (latency)
    pix_fmt: str | None = None  # None: chosen with the codec (see rainstream.io.output_plan)
    segment_frames: int = 300  # resume granularity: frames per on-disk segment

    def resolved_codec(self, default: str = DEFAULT_CODEC) -> str:
        """The FFmpeg encoder name (aliases resolved), ``default`` when none is set; it must exist."""
        given = self.codec or default
        name = _ALIASES.get(given, given)
        try:
            av.codec.Codec(name, "w")
        except Exception:
            raise RainstreamError(f"video encoder {given!r} is not available in this FFmpeg "
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
        if codec == "libvpx-vp9":  # constant quality: crf with no bitrate cap; row threads for speed
            return {"crf": str(self.crf), "b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"}
        if codec == "mpeg4":  # quantiser bound instead of FFmpeg's 200 kb/s default bitrate
            return {"qmin": "1", "qmax": str(max(2, min(31, self.crf // 4)))}
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
