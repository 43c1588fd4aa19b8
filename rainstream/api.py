"""The Python face of ``rainstream run``: ``derain(input, output, **settings)``, and ``stream`` for detectors.

    import rainstream
    rainstream.derain("rainy.mp4", "derained.mp4", tile=256, precision="bf16", crf=20)
    rainstream.derain("shots/", "shots_derained/", model="nerd_rain_s", weights="spa.safetensors")

Settings are the run config's keys (``rainstream/configs/nerd_rain_s.yaml``), bare (``tile``) or
dotted (``engine.tile``); ``config`` is a YAML file or bundled config name they are applied on.
"""
from __future__ import annotations

import os
from typing import Any

from rainstream.pipeline.batch import BatchSummary
from rainstream.pipeline.config import RunConfig
from rainstream.pipeline.dispatch import open_job
from rainstream.pipeline.runner import RunSummary
from rainstream.pipeline.stream import DerainedFrame, Stream, stream

__all__ = ["DerainedFrame", "RunConfig", "Stream", "derain", "stream"]


def derain(input: Any, output: str | os.PathLike, *, config: Any = None, overrides: list[str] | None = None,
           derainer: Any = None, **settings: Any) -> RunSummary | BatchSummary:
    """Derain a video file, an image, a folder of images or a live stream into ``output``; or many
    inputs (a list of paths, a folder of videos, a glob, a .txt file of inputs) into the folder
    ``output``, in this process or over Ray workers (``ray="local"`` or a cluster address).

    The input is classified and validated (and the output checked) before the model loads, so bad
    paths fail at once with a ``RainstreamError``. ``derainer``: an existing ``Derainer`` (or any
    object with ``submit`` or ``derain_images``) instead of loading the configured model. Raises
    ``rainstream.pipeline.Interrupted`` after Ctrl-C/SIGTERM (the output then holds what was done).
    Many inputs return a ``BatchSummary``; if some files failed (the others are written)
    ``rainstream.errors.SomeFailed`` is raised, its ``summary`` lists them.
    """
    cfg = RunConfig.load(config, overrides, **settings)
    with open_job(input, output, cfg) as job:
        if derainer is None and not job.loads_model:
            from rainstream.pipeline.loading import build_derainer

            derainer = build_derainer(cfg)
        return job.run(derainer)
