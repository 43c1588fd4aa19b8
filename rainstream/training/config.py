"""Training configuration: typed, frozen dataclasses filled from YAML plus ``key=value`` overrides.

Overrides use dotted names (``optim.lr=2e-4``, ``data.batch_size=4``, ``steps=1000``); the parsing,
type checks and closest-name errors are ``rainstream.typed_config``'s, shared with ``rainstream run``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rainstream import typed_config
from rainstream.configs import bundled_config
from rainstream.errors import RainstreamError

DATA_KINDS = ("paired", "spa", "synthetic")
PRECISIONS = ("fp32", "bf16", "fp16")
OPTIMIZERS = ("adam", "adamw")


@dataclass(frozen=True)
class DataConfig:
    """Where pairs come from and how they are cut.

    ``kind``: ``paired`` (a folder with input/ + target/), ``spa`` (an SPA-Data list file of
    "rainy clean" lines; ``root`` is the folder its paths are relative to, default the list's
    folder) or ``synthetic`` (a folder of clean photos; rain is rendered per item).
    ``val``: a paired folder or list file for validation PSNR/SSIM (optional).
    ``clean_fraction`` (synthetic only): share of items left without rain, so the model learns to
    leave rain-free texture alone instead of smoothing every frame.
    ``rain`` (synthetic only): the rain drawn per item, as ``--rain`` takes it (``random``: every style
    mixed, with JPEG/H.264 storage; a style; a weighted mix of styles, ``storm:2,dark:1``; a preset;
    a YAML settings file). ``haze``: probability of an extra veil on a rainy item.
    ``exclude`` (synthetic only): a file naming photos of ``train`` to keep out (held-out photos).
    ``batch_size`` is per process: the global batch is batch_size x number of processes.
    """

    kind: str = "paired"
    train: str = ""
    val: str | None = None
    root: str | None = None
    patch_size: int = 256
    batch_size: int = 1
    num_workers: int = 4
    pin_memory: bool = True
    flip: bool = True
    rot90: bool = True
    haze: float = 0.0
    clean_fraction: float = 0.0
    rain: str = "random"
    exclude: str | None = None
    val_limit: int = 0

    def __post_init__(self) -> None:
        if self.kind not in DATA_KINDS:
            raise RainstreamError(f"data.kind must be one of {', '.join(DATA_KINDS)}, not {self.kind!r}")
        if self.patch_size < 16 or self.patch_size % 16:
            raise RainstreamError(f"data.patch_size must be a multiple of 16 (>= 16), not {self.patch_size}")
        if self.batch_size < 1 or self.num_workers < 0:
            raise RainstreamError("data.batch_size must be >= 1 and data.num_workers >= 0")
        if not 0.0 <= self.haze <= 1.0:
            raise RainstreamError(f"data.haze is a probability in [0, 1], not {self.haze}")
        if not 0.0 <= self.clean_fraction < 1.0:
            raise RainstreamError(f"data.clean_fraction must be in [0, 1), not {self.clean_fraction}")


@dataclass(frozen=True)
class ModelConfig:
    """``name``: a registered model (``rainstream models``: nerd_rain_s, drsformer, ...; an architecture
    name means its default variant); ``variant`` is its older spelling, still accepted. ``dim``
    overrides the width (None keeps the model's)."""

    name: str | None = None
    variant: str | None = None
    dim: int | None = None

    def __post_init__(self) -> None:
        if self.name and self.variant and self.name != self.variant:
            raise RainstreamError(f"model.name {self.name!r} and model.variant {self.variant!r} disagree; "
                                  "set only model.name")

    @property
    def model(self) -> str:
        """The model to build: ``name``, else ``variant``, else NeRD-Rain-S."""
        return self.name or self.variant or "nerd_rain_s"


@dataclass(frozen=True)
class OptimConfig:
    """Adam (NeRD-Rain's) or AdamW (``name: adamw``, DRSformer's: decoupled weight decay) with linear
    warmup, ``hold_steps`` at ``lr``, then cosine decay to ``min_lr`` (NeRD-Rain: 1e-4 -> 1e-6, no hold;
    DRSformer: 3e-4 held for 92k of 300k iterations, then cosine to 1e-6)."""

    name: str = "adam"
    lr: float = 1e-4
    min_lr: float = 1e-6
    warmup_steps: int = 1000
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip: float = 1.0  # max gradient L2 norm; 0 disables clipping (the norm is still logged)
    hold_steps: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "betas", tuple(self.betas))
        if self.name not in OPTIMIZERS:
            raise RainstreamError(f"optim.name must be one of {', '.join(OPTIMIZERS)}, not {self.name!r}")
        if self.hold_steps < 0:
            raise RainstreamError("optim.hold_steps must be >= 0")
        if not (self.lr > 0 and 0 <= self.min_lr <= self.lr):
            raise RainstreamError("optim.lr must be > 0 and 0 <= optim.min_lr <= optim.lr")
        if self.warmup_steps < 0 or self.grad_clip < 0:
            raise RainstreamError("optim.warmup_steps and optim.grad_clip must be >= 0")


@dataclass(frozen=True)
class LossConfig:
    """Options of the architecture's own training loss; unset (None) keeps the paper's value.

    NeRD-Rain: total = char + fft_weight * fft + edge_weight * edge + inr_weight * inr_l1 (0.01, 0.05,
    0.1; Charbonnier ``eps`` 1e-3). DRSformer's L1 loss takes none of them: setting one is an error.
    """

    fft_weight: float | None = None
    edge_weight: float | None = None
    inr_weight: float | None = None
    eps: float | None = None

    def options(self) -> dict[str, float]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``output_dir`` receives checkpoints/, config.yaml, metrics.jsonl, train.log
    and the final weights ``final.safetensors``. ``init_weights`` fine-tunes from a checkpoint
    (official .pth or ours). Steps count optimizer steps of the global batch."""

    output_dir: str = "runs/train"
    steps: int = 100_000
    seed: int = 1234
    device: str = "auto"
    precision: str = "fp32"
    init_weights: str | None = None
    log_every: int = 50
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    val_every: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise RainstreamError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.steps < 1 or self.log_every < 1 or self.checkpoint_every < 1 or self.keep_checkpoints < 1:
            raise RainstreamError("steps, log_every, checkpoint_every and keep_checkpoints must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return typed_config.to_plain(self)


# ---------------------------------------------------------------- building from dicts / overrides

def config_from_dict(values: dict[str, Any], overrides: list[str] | None = None) -> TrainConfig:
    return typed_config.build(TrainConfig, typed_config.apply_overrides(values or {}, overrides or [], TrainConfig))


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML training config (a path, or the name of a bundled one) and apply ``key=value`` overrides."""
    values = typed_config.read_yaml(bundled_config(path)) if path is not None else {}
    return config_from_dict(values, overrides)


def save_config(config: TrainConfig, path: str | Path) -> None:
    """Write the resolved config (atomically) so a run can be reproduced from its output folder."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    tmp.replace(path)
