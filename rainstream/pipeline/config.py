"""The typed configuration of ``rainstream run`` / ``rainstream.derain``: one path from YAML, overrides and flags.

A ``RunConfig`` has one frozen dataclass per section (``model``, ``engine``, ``encode``, ``pipeline``,
``live``). It is filled, later sources winning, from a YAML file (a path or a bundled config name),
``key=value`` overrides (``engine.tile=512``) and settings (CLI flags, ``derain(**settings)``), which
may be dotted keys or bare names that are unique across sections (``tile``, ``crf``, ``batch``).
Every value is type-checked, unknown keys name the closest valid ones (``rainstream.typed_config``,
shared with training). Errors name settings in backticks (`tile`); the CLI shows them as flags.
"""
from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from rainstream import typed_config
from rainstream.configs import bundled_config
from rainstream.engine.config import EngineConfig
from rainstream.errors import RainstreamError
from rainstream.io.encode_options import EncodeOptions
from rainstream.io.live_source import LiveOptions

@dataclass(frozen=True)
class ModelSettings:
    """Which network and weights. ``name``: a registered model (``rainstream.list_models()``);
    ``weights``: an official checkpoint or one of ours (None: the model's bundled default weights);
    ``architecture``: the network's numbers instead of a name (``rainstream/configs/nerd_rain*.yaml``).
    ``allow_untrained``: derain with random weights when there are none (tests, speed benchmarks);
    otherwise such a run is refused. ``variant`` is the old spelling of ``name`` and still read."""

    name: str | None = None
    weights: str | None = None
    architecture: dict | None = None
    allow_untrained: bool = False
    variant: str | None = None

    def __post_init__(self) -> None:
        if self.variant is not None:
            logger.warning("the model setting `variant` is now called `name`; reading it as `name`")
            object.__setattr__(self, "name", self.name or self.variant)
            object.__setattr__(self, "variant", None)


@dataclass(frozen=True)
class PipelineSettings:
    """How the job runs. ``queue_frames`` None: 8 for files, 2 for live (latency). ``live`` None:
    automatic (on for stream URLs and webcams; True plays a file as a camera). ``frames`` /
    ``duration`` end the input early: the first N frames / seconds of a file, or N frames / seconds
    of wall-clock time of a live run. ``report_every``: seconds between progress lines when stderr is
    not a terminal (a log file, a pipe), and between a live run's latency lines.
    ``recursive``: walk sub-folders of a folder input (outputs
    mirror them). Many inputs: ``format`` is the extension of each output (None: the input's own;
    an image extension applies to images, any other to videos); ``report`` writes the summary
    as JSON to that path."""

    batch: int = 1
    queue_frames: int | None = None
    resume: bool = False
    live: bool | None = None
    progress: bool = True
    allow_missing_frames: bool = False
    overwrite: bool = False  # live recordings: replace an existing output file
    frames: int | None = None
    duration: float | None = None
    report_every: float = 10.0
    recursive: bool = False
    format: str | None = None
    report: str | None = None

    def __post_init__(self) -> None:
        if self.format is not None:
            object.__setattr__(self, "format", self.format.lower().lstrip("."))
        if self.batch < 1:
            raise RainstreamError(f"`batch` must be >= 1, not {self.batch}")
        if self.queue_frames is not None and self.queue_frames < 1:
            raise RainstreamError(f"`queue_frames` must be >= 1, not {self.queue_frames}")
        if self.frames is not None and self.frames < 1:
            raise RainstreamError(f"`frames` must be >= 1, not {self.frames}")
        if self.duration is not None and self.duration <= 0:
            raise RainstreamError(f"`duration` must be > 0 seconds, not {self.duration}")
        if self.report_every <= 0:
            raise RainstreamError(f"`report_every` must be > 0 seconds, not {self.report_every}")

    def queue_for(self, live: bool) -> int:
        return self.queue_frames or (2 if live else 8)


@dataclass(frozen=True)
class RaySettings:
    """Many inputs spread over Ray workers (``pip install 'rainstream[ray]'``). ``address``: None runs
    in this process; "local" starts Ray on this machine; anything else is an existing cluster
    (``ray start --head`` prints it; "auto" finds the local one). ``workers``: actors, each loading
    the model once (None: one per GPU, else one per CPU). ``gpus_per_worker``: a fraction lets small
    models share a GPU (None: 1 when the cluster has GPUs, else CPU workers). A video longer than
    ``part_frames`` frames is cut at keyframes into parts of about that many frames, derained by
    different workers and joined."""

    address: str | None = None
    workers: int | None = None
    gpus_per_worker: float | None = None
    part_frames: int = 1800

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise RainstreamError(f"`workers` must be >= 1, not {self.workers}")
        if self.gpus_per_worker is not None and self.gpus_per_worker < 0:
            raise RainstreamError(f"`gpus_per_worker` must be >= 0, not {self.gpus_per_worker}")
        if self.part_frames < 1:
            raise RainstreamError(f"`part_frames` must be >= 1, not {self.part_frames}")


@dataclass(frozen=True)
class RunConfig:
    model: ModelSettings = field(default_factory=ModelSettings)
    engine: EngineConfig = field(default_factory=EngineConfig)
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    live: LiveOptions = field(default_factory=LiveOptions)
    ray: RaySettings = field(default_factory=RaySettings)

    @classmethod
    def load(cls, config: "RunConfig | dict | str | os.PathLike | None" = None, overrides: list[str] | None = None,
             **settings: Any) -> "RunConfig":
        """A config (``RunConfig``, mapping, YAML path or bundled config name), then ``key=value``
        overrides, then settings (dotted keys or bare names; None means unset). A model name given
        by an override or setting replaces the YAML's ``architecture`` numbers."""
        values: dict[str, Any] = {}
        where = ""
        if isinstance(config, RunConfig):
            values = config.to_dict()
        elif isinstance(config, dict):
            values = typed_config.deep_copy(config)
        elif config is not None:
            values = typed_config.read_yaml(bundled_config(config))
            where = f"config {config}: "
        try:
            given = [typed_config.parse_override(text) for text in overrides or []]
            given += [(key, value) for key, value in settings.items() if value is not None]
            keys = []
            for key, value in given:
                keys.append(setting_key(key))
                typed_config.set_dotted(values, keys[-1], value)
            if {"model.name", "model.variant"} & set(keys) and isinstance(values.get("model"), dict):
                values["model"].pop("architecture", None)
            return typed_config.build(cls, values)
        except RainstreamError as exc:
            if where and str(exc).startswith(("unknown config key", "unknown setting", "config key",
                                              "config section")):
                raise RainstreamError(where + str(exc)) from None
            raise

    def validate(self) -> None:
        """Checks that need more than a field's own type (the codec exists in this FFmpeg build...)."""
        self.encode.validate()

    def to_dict(self) -> dict[str, Any]:
        return typed_config.to_plain(self)


# Bare names that are not a unique field name, or the friendlier face of one.
ALIASES = {"model": "model.name", "variant": "model.name", "name": "model.name", "ray": "ray.address"}


def setting_key(key: str) -> str:
    """The dotted key of a setting given dotted, aliased or as a bare field name unique across sections."""
    dotted = typed_config.valid_keys(RunConfig)
    if key in dotted:
        return key
    if key in ALIASES:
        return ALIASES[key]
    matches = [k for k in dotted if k.rpartition(".")[2] == key]
    if len(matches) == 1:
        return matches[0]
    if "." in key:
        raise typed_config.unknown_key_error(key, RunConfig)
    names = setting_names()
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else f"; valid: {', '.join(names)}"
    raise RainstreamError(f"unknown setting {key!r}{hint}")


def setting_names() -> list[str]:
    """Every name ``derain(**settings)`` accepts besides dotted keys."""
    leaves = [k.rpartition(".")[2] for k in typed_config.valid_keys(RunConfig)]
    return sorted({leaf for leaf in leaves if leaves.count(leaf) == 1} | set(ALIASES))


def resume_identity(config: RunConfig) -> dict[str, Any]:
    """What decides the output's pixels and encoding: a resumed job must match it exactly."""
    weights = config.model.weights
    ident: Any = None
    if weights:
        path = Path(weights)
        if path.exists():
            st = path.stat()
            ident = {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        else:
            ident = str(weights)
    engine = config.engine
    return typed_config.to_plain({
        "encode": dataclasses.asdict(config.encode),
        "engine": {"model": config.model.name,  # None: read from the weights (else the default model)
                   "architecture": config.model.architecture, "weights": ident, "tile": engine.tile,
                   "overlap": engine.overlap, "precision": engine.precision},
    })
