"""How the engine runs the model: tiles, batch, precision, backend, device (a frozen dataclass)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
from loguru import logger
from torch import nn

from rainstream.devices import resolve_device  # noqa: F401  (re-exported for the engine)
from rainstream.errors import RainstreamError

PRECISIONS = ("fp32", "fp16", "bf16")
BACKENDS = ("eager", "compile", "tensorrt")

AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
DEFAULT_TILE, DEFAULT_OVERLAP = 256, 32  # for modules that are not a registered architecture


@dataclass(frozen=True)
class EngineConfig:
    """Engine settings: the ``engine`` section of the run config (YAML, overrides, flags, API settings).

    ``tile`` / ``overlap``: None (the default) takes the model architecture's own (256 / 32 for NeRD-Rain,
    whose implicit decoder normalises coordinates to the input, so its output depends on the tile
    size; see ``rainstream models``), resolved by the ``Derainer``. ``max_tiles`` bounds device memory:
    tiles of all frames in a batch are pooled and run this many per model call; None takes the
    device's (``tiles_per_call``).
    """

    tile: int | None = None
    overlap: int | None = None
    max_tiles: int | None = None
    precision: str = "fp32"
    backend: str = "eager"
    device: str = "auto"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.tile is not None and self.tile < 16:
            raise RainstreamError(f"`tile` must be at least 16, not {self.tile}")
        if self.overlap is not None and self.overlap < 0:
            raise RainstreamError(f"`overlap` must be >= 0, not {self.overlap}")
        if self.overlap is not None:
            # Unset, the tile is the model's; an overlap no model's default tile can take fails here already.
            tile = self.tile if self.tile is not None else largest_default_tile()
            if not self.overlap < tile // 2:
                raise RainstreamError(f"`overlap` must be in [0, tile/2) = [0, {tile // 2}), not {self.overlap}")
        if self.max_tiles is not None and self.max_tiles < 1:
            raise RainstreamError(f"`max_tiles` must be at least 1, not {self.max_tiles}")
        if self.precision not in PRECISIONS:
            raise RainstreamError(f"`precision` must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.backend not in BACKENDS:
            raise RainstreamError(f"`backend` must be one of {', '.join(BACKENDS)}, not {self.backend!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "EngineConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise RainstreamError(f"unknown engine setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def for_model(self, model: nn.Module) -> "EngineConfig":
        """This config with the tile and overlap the user left unset taken from the model's architecture
        (256 / 32 for modules that are not a registered architecture)."""
        from rainstream.model.registry import architecture_of

        arch = architecture_of(model)
        tile = self.tile if self.tile is not None else (arch.default_tile if arch else DEFAULT_TILE)
        overlap = self.overlap if self.overlap is not None else (arch.default_overlap if arch else DEFAULT_OVERLAP)
        return replace(self, tile=tile, overlap=min(overlap, tile // 2 - 1) if self.overlap is None else overlap)

    def tiles_per_call(self, device: torch.device) -> int:
        """``max_tiles``, or when unset the device's: 16 on a GPU, where a batch of tiles fills the chip,
        and 1 on the CPU, where batching buys nothing and large activations cost page faults: per
        256x256 tile, NeRD-Rain-S took 4.9 s one at a time against 10.7 s four at a time (1 thread,
        docs/BENCHMARKS.md "Large frames")."""
        if self.max_tiles is not None:
            return self.max_tiles
        return 1 if device.type == "cpu" else 16


def largest_default_tile() -> int:
    from rainstream.model.registry import ARCHITECTURES

    return max(arch.default_tile for arch in ARCHITECTURES.values())


def cpu_has_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool | None:
    """Whether the CPU has bf16 instructions (x86 AVX-512 BF16 or AMX, Arm BF16); None when unknown.
    Without them bf16 is emulated: measured on AVX-512 BF16 here, NeRD-Rain-S at 128x128 takes 1.4 s
    in bf16 against 2.1 s in fp32, while emulated bf16 is slower than fp32."""
    try:
        with open(cpuinfo) as fh:
            text = fh.read()
    except OSError:
        return None
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    if not flags:
        return None
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def check_precision(precision: str, device: torch.device) -> None:
    """Reject precisions the device cannot run usefully (one line, before any work); warn when bf16
    on this CPU would be emulated."""
    if precision == "fp16" and device.type != "cuda":
        raise RainstreamError("`precision` fp16 needs a CUDA GPU; use bf16 or fp32 on the CPU")
    if precision == "bf16" and device.type == "cpu" and cpu_has_native_bf16() is False:
        logger.warning("this CPU has no bf16 instructions (AVX-512 BF16, AMX or Arm BF16): bf16 is emulated, "
                       "slower than fp32 and less precise; use `precision` fp32")
    if precision == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise RainstreamError(f"`precision` bf16 is not supported by {torch.cuda.get_device_name(device)}; use fp16")


def fallback_precision(precision: str, device: torch.device) -> str:
    """Where a reduced-precision chunk goes when it produced inf/NaN: fp16 -> bf16 (same range as fp32)
    when the device has it, otherwise fp32; bf16 -> fp32."""
    if precision == "fp16" and (device.type != "cuda" or torch.cuda.is_bf16_supported()):
        return "bf16"
    return "fp32"
