"""The model zoo's one table: every architecture, its variants and everything code above the model needs.

Registration is this explicit table (no import-time side effects): adding an architecture is one
subpackage under ``rainstream/model/`` and one :class:`Architecture` entry in ``ARCHITECTURES``.

Users name models by variant (``nerd_rain_s``, ``drsformer_no_mefc``, ``drsformer_tiny``...); an
architecture's own name means its first (default) variant unless a variant has that name (``nerd_rain``
is the dim-48 variant, as in the paper, while the architecture's default is ``nerd_rain_s``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch
from torch import nn

from rainstream.errors import RainstreamError
from rainstream.model import drsformer, mspfn, nerd_rain


class UnknownModelError(RainstreamError, ValueError):
    """A model name that is not registered: one ``error:`` line in the CLI, a ValueError to Python callers."""


def _same_name(key: str) -> str:
    return key


@dataclass(frozen=True)
class Architecture:
    """What the loader, engine, trainer, exporter and benchmark need to know about one architecture.

    ``to_ours`` takes an official state dict (wrappers and ``module.`` stripped) and returns our names;
    our own names pass through. ``detect`` says whether a state dict, in either naming, is this
    architecture's. ``config_from_state`` reads the size (dim, blocks, heads, optional parts) from an
    our-named state dict, filling the rest from the given base config. The network pads inputs to
    ``size_multiple`` and crops back inside ``forward``. ``train_outputs`` is what the loss sees;
    ``make_loss(**options)`` builds the training loss (a module returning a dict with ``total`` and its
    terms) from the ``loss:`` options a training config sets. ``to_official`` names our keys the
    official way (error messages, the name tests).

    Contract for a new architecture: configs are frozen dataclasses with the ``NetworkConfig`` mixin
    (``rainstream.model.config``: from_dict / to_dict for YAML and safetensors metadata), and the built
    network keeps its config as ``.config``; that is how the engine and trainer find the architecture
    of a model they are handed (``architecture_of``).
    """

    name: str
    title: str
    variants: Mapping[str, Any]
    build: Callable[[Any], nn.Module]
    to_ours: Callable[[dict], dict]
    detect: Callable[[dict], bool]
    config_from_state: Callable[[dict, Any], Any]
    size_multiple: int
    default_tile: int
    default_overlap: int
    train_outputs: Callable[[nn.Module, torch.Tensor], Any]
    make_loss: Callable[..., nn.Module]
    licence: str
    weights: str
    to_official: Callable[[str], str] = _same_name
    input_convention: str = "RGB, float (N, 3, H, W) in [0, 1]; output the same, not clamped"

    @property
    def default_variant(self) -> str:
        return next(iter(self.variants))

    @property
    def config_type(self) -> type:
        return type(next(iter(self.variants.values())))


def _nerd_rain_loss(**options) -> nn.Module:
    from rainstream.training.losses import NeRDRainLoss

    return NeRDRainLoss(**options)


def _l1_loss(**options) -> nn.Module:
    from rainstream.training.losses import PixelL1Loss

    return PixelL1Loss(**options)


def _mspfn_loss(**options) -> nn.Module:
    from rainstream.model.mspfn.loss import MSPFNLoss

    return MSPFNLoss(**options)


ARCHITECTURES: dict[str, Architecture] = {arch.name: arch for arch in (
    Architecture(
        name="nerd_rain",
        title="NeRD-Rain (CVPR 2024)",
        variants=nerd_rain.VARIANTS,
        build=nerd_rain.NeRDRain,
        to_ours=nerd_rain.KEYMAP.convert,
        detect=nerd_rain.is_nerd_rain,
        config_from_state=nerd_rain.config_from_state,
        size_multiple=nerd_rain.SIZE_MULTIPLE,
        # The training patch; the INR normalises coordinates to the input, so output depends on the tile.
        default_tile=256, default_overlap=32,
        train_outputs=lambda model, x: model.forward_all(x),  # 7 outputs: the multi-scale loss needs them all
        make_loss=_nerd_rain_loss,
        licence="reference code and weights published without a licence file (all rights reserved by "
                "default; research use); bundled nerd_rain_s preview weights: this project's own",
        weights="official NeRD-Rain and NeRD-Rain-S checkpoints for Rain200L, Rain200H, DID-Data, DDN-Data "
                "and SPA-Data (Google Drive / Baidu links in cschenxiang/NeRD-Rain's README); bundled: "
                "nerd_rain_s preview trained here on synthetic rain (rainstream/weights/nerd_rain_s.md)",
        to_official=nerd_rain.KEYMAP.to_official,
    ),
    Architecture(
        name="drsformer",
        title="DRSformer (CVPR 2023)",
        variants=drsformer.VARIANTS,
        build=drsformer.DRSformer,
        to_ours=drsformer.KEYMAP.convert,
        detect=drsformer.is_drsformer,
        config_from_state=drsformer.config_from_state,
        size_multiple=drsformer.SIZE_MULTIPLE,
        # Trained on 128 patches, evaluated by the authors on whole ~481x321 images; the top-k attention pools
        # over the whole tile, so 256 sits between the two. A 512 tile needs ~4.4 GB of activations
        # (CPU, measured) against ~1.3 GB at 256: with max_tiles 16 per call 256 is the safe default.
        default_tile=256, default_overlap=32,
        train_outputs=lambda model, x: model(x),
        make_loss=_l1_loss,
        licence="reference code and weights published without a licence file (all rights reserved by "
                "default; research use)",
        weights="official checkpoints linked from cschenxiang/DRSformer's README: drsformer (MEFC) for "
                "Rain200H, DID-Data, DDN-Data; drsformer_no_mefc for Rain200L and SPA-Data (real rain)",
        to_official=drsformer.KEYMAP.to_official,
    ),
    Architecture(
        name="mspfn",
        title="MSPFN (CVPR 2020)",
        variants=mspfn.VARIANTS,
        build=mspfn.MSPFN,
        to_ours=mspfn.to_ours,  # TensorFlow names and filter layouts -> ours (rainstream convert reads the TF files)
        detect=mspfn.detect,
        config_from_state=mspfn.config_from_state,
        size_multiple=mspfn.SIZE_MULTIPLE,
        # Fully convolutional, no coordinates, but the RCAB channel attention pools over the whole tile,
        # so larger tiles come closer to the authors' whole-image outputs (320x480 and up). One 256 tile
        # takes ~0.56 GB of activations (CPU, measured), a 512 tile ~4x that: 256 keeps max_tiles
        # batches affordable.
        default_tile=256, default_overlap=32,
        train_outputs=lambda model, x: model(x),  # the reference's loss sees only the full-size output
        make_loss=_mspfn_loss,
        licence="reference code and weights published without a licence file (all rights reserved by "
                "default; research use); the converted file inherits the checkpoint's terms",
        weights="one TensorFlow 1 checkpoint of the released M17N1 graph (epoch50), on Baidu Cloud, "
                "linked from kuijiang94/MSPFN's README; convert it once with `rainstream convert PREFIX -o "
                "mspfn.safetensors` (no TensorFlow needed)",
        to_official=mspfn.to_official,
        input_convention="RGB, float (N, 3, H, W) in [0, 1]; output the same, not clamped (the graph's BGR "
                         "[-1, 1] lives inside the module)",
    ),
)}

DEFAULT_MODEL = "nerd_rain_s"  # the one variant with bundled weights


def all_variants() -> dict[str, tuple[Architecture, Any]]:
    """Every registered model name -> (its architecture, its config)."""
    return {name: (arch, cfg) for arch in ARCHITECTURES.values() for name, cfg in arch.variants.items()}


def model_names() -> list[str]:
    return list(all_variants())


def resolve(model: str | Any) -> tuple[Architecture, str | None, Any]:
    """A model name, architecture name or config dataclass -> (architecture, variant name or None, config).

    Unknown names raise :class:`UnknownModelError` (a ``ValueError``) naming the valid ones.
    """
    if not isinstance(model, str):
        arch = architecture_of_config(model)
        if arch is None:
            raise UnknownModelError(f"{type(model).__name__} is not the config of a registered architecture")
        name = next((n for n, cfg in arch.variants.items() if cfg == model), None)
        return arch, name, model
    variants = all_variants()
    if model not in variants and model in ARCHITECTURES:  # a variant of the same name wins: nerd_rain
        model = ARCHITECTURES[model].default_variant
    if model not in variants:
        raise UnknownModelError(f"unknown model {model!r}; choose one of {', '.join(variants)}")
    arch, cfg = variants[model]
    return arch, model, cfg


def detect(state: dict) -> list[Architecture]:
    """The architectures that recognise this state dict (in official or our naming)."""
    return [arch for arch in ARCHITECTURES.values() if arch.detect(state)]


def architecture_of_config(config: Any) -> Architecture | None:
    return next((a for a in ARCHITECTURES.values() if type(config) is a.config_type), None)


def architecture_of(model: nn.Module) -> Architecture | None:
    """The registered architecture a network was built from (None for any other module)."""
    return architecture_of_config(getattr(model, "config", None))
