"""Export the model for one fixed tile shape: ONNX (for onnxruntime / TensorRT's own tools) or a
torch.export ExportedProgram (for AOTInductor and friends).

The graph is captured once with ``torch.export.export`` and both formats are written from that same
ExportedProgram, so they describe exactly the same computation. Capture is non-strict by default (several
times faster); ``strict=True`` traces with TorchDynamo and fails on any graph break, which the tests use to
prove the model compiles as one graph. The ONNX graph is not run through onnxscript's optimiser: on
NeRD-Rain it takes minutes, and onnxruntime applies its own graph optimisations when it loads the file.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch
from loguru import logger
from torch import nn

from rainstream.errors import RainstreamError

FORMATS = ("onnx", "exported-program")
INPUT_NAME, OUTPUT_NAME = "rainy", "derained"


class ClampedOutput(nn.Module):
    """The network followed by the engine's clamp to [0, 1]: an exported graph gives what ``Derainer``
    gives, while the network itself stays as published (unclamped, so training sees the overshoot)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x).clamp(0.0, 1.0)


def capture(model: nn.Module, tile: int = 256, batch: int = 1, strict: bool = False) -> torch.export.ExportedProgram:
    """The model's forward, clamped to [0, 1], for a (batch, 3, tile, tile) float32 input as one full
    graph, on the CPU."""
    if tile < 16 or batch < 1:
        raise RainstreamError(f"`tile` must be >= 16 and `batch` >= 1 (got {tile}, {batch})")
    model = ClampedOutput(model.to("cpu").eval()).eval()
    example = torch.rand(batch, 3, tile, tile)
    try:
        return torch.export.export(model, (example,), strict=strict)
    except Exception as exc:  # a failure here is a model bug, but the user needs one line, not a trace
        raise RainstreamError(f"could not capture the model as one graph: {type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}") from exc


def export_model(model: nn.Module, output: str | Path, fmt: str = "onnx", tile: int = 256, batch: int = 1,
                 opset: int | None = None) -> Path:
    """Write ``model`` for a fixed (batch, 3, tile, tile) input to ``output``; temp name, then rename."""
    check_target(output, fmt)
    return write_program(capture(model, tile, batch), output, fmt, opset)


def write_program(program: torch.export.ExportedProgram, output: str | Path, fmt: str = "onnx",
                  opset: int | None = None) -> Path:
    """Write a captured program as ``fmt`` to ``output`` (temp name, then rename, so no half file remains)."""
    check_target(output, fmt)
    output = Path(output)
    partial = output.with_name(f".{output.stem}.partial{output.suffix}")
    try:
        if fmt == "exported-program":
            torch.export.save(program, partial)
        else:
            _write_onnx(program, partial, opset)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    shape = tuple(program.example_inputs[0][0].shape) if program.example_inputs else "?"
    logger.info(f"wrote {fmt} for input {shape} to {output}")
    return output


def check_target(output: str | Path, fmt: str) -> None:
    if fmt not in FORMATS:
        raise RainstreamError(f"`format` must be one of {', '.join(FORMATS)}, not {fmt!r}")
    if not Path(output).parent.is_dir():
        raise RainstreamError(f"output folder {Path(output).parent} does not exist")


def _write_onnx(program: torch.export.ExportedProgram, path: Path, opset: int | None) -> None:
    try:
        import onnxscript  # noqa: F401  (the dynamo ONNX exporter is built on it)
    except ImportError:
        raise RainstreamError("ONNX export needs onnx and onnxscript; install the extra: "
                              "pip install 'rainstream[onnx]'") from None
    # The exporter's own chatter (progress lines, torchvision registrations, deprecation warnings of
    # its dependencies) is pages long and says nothing about this model; failures still raise.
    quiet = logging.getLogger("torch.onnx")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx_program = torch.onnx.export(program, dynamo=True, input_names=[INPUT_NAME],
                                             output_names=[OUTPUT_NAME], opset_version=opset, external_data=False,
                                             optimize=False, verbose=False)
            onnx_program.save(str(path), external_data=False)
    finally:
        quiet.setLevel(level)
