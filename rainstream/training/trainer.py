"""The training loop for any registered architecture: its own loss on its own training outputs (NeRD-Rain:
the multi-scale loss on ``forward_all``; DRSformer: L1 on the image), Adam/AdamW + warmup/hold/cosine,
AMP, DDP, resumable.

Data flows one way: sampler -> DataLoader -> step -> (log, checkpoint). Everything that decides what
the next step does (weights, optimizer/scheduler/scaler state, RNGs, epoch and position in it) is
in the checkpoint, so a resumed run ends with the same weights as an uninterrupted one.
"""
from __future__ import annotations

import json
import math
import random
import re
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from loguru import logger
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from rainstream.errors import RainstreamError
from rainstream.model.registry import architecture_of
from rainstream.progress import progress_bar
from rainstream.training import checkpoint as ckpt
from rainstream.training.config import DataConfig, TrainConfig, save_config
from rainstream.training.data import (CropSettings, PairedImageDataset, ResumableDistributedSampler,
                                      SyntheticRainDataset, clean_images, find_pairs, paired_folder_pairs,
                                      spa_list_pairs)
from rainstream.training.distributed import DistInfo, all_mean, device_for, env_info, init_distributed
from rainstream.training.schedule import warmup_cosine

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def build_dataset(cfg: DataConfig, train: bool, seed: int):
    """The dataset a data config describes (``train=False`` gives full images from ``cfg.val``)."""
    source = cfg.train if train else cfg.val
    if not source:
        raise RainstreamError("data.train is not set (a folder, an SPA list file or clean images)" if train
                              else "data.val is not set")
    if not Path(source).exists():
        raise RainstreamError(f"data.{'train' if train else 'val'}: {source} does not exist")
    crop = CropSettings(cfg.patch_size, cfg.flip, cfg.rot90)
    if cfg.kind == "synthetic" and train:
        from rainstream.synth.pairs import select_images

        if cfg.exclude and not Path(cfg.exclude).is_file():
            raise RainstreamError(f"data.exclude: {cfg.exclude} does not exist")
        images = select_images(clean_images(source), exclude=cfg.exclude and Path(cfg.exclude))
        return SyntheticRainDataset(images, True, crop, seed, rain=cfg.rain, haze=cfg.haze,
                                    clean_fraction=cfg.clean_fraction)
    if cfg.kind == "spa" and Path(source).is_file():
        pairs = spa_list_pairs(source, cfg.root)
    elif cfg.kind == "paired" or (cfg.kind == "spa" and Path(source).is_dir()):
        pairs = paired_folder_pairs(source)  # SPA-Data's test folders are paired folders too
    else:
        pairs = find_pairs(source, cfg.root)
    return PairedImageDataset(pairs, train, crop, seed)


class _TrainOutputs(nn.Module):
    """Makes the architecture's training outputs the forward, so DistributedDataParallel's hooks see the call."""

    def __init__(self, model: nn.Module, train_outputs) -> None:
        super().__init__()
        self.model = model
        self.train_outputs = train_outputs

    def forward(self, x: torch.Tensor):
        return self.train_outputs(self.model, x)


def _as_list(outputs) -> list[torch.Tensor]:
    return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def freeze_unused_parameters(model: nn.Module, device: torch.device, train_outputs) -> list[str]:
    """Turn off gradients of parameters the training forward never uses (the NeRD-Rain reference keeps
    one such layer in its checkpoints); DDP would otherwise wait for their gradients forever or fail."""
    probe = torch.zeros(1, 3, 16, 16, device=device)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(sum(o.sum() for o in _as_list(train_outputs(model, probe))),
                                [p for _, p in params], allow_unused=True)
    unused = [n for (n, p), g in zip(params, grads) if g is None]
    for name, param in params:
        if name in unused:
            param.requires_grad_(False)
    return unused


class Trainer:
    """One training run; ``fit()`` trains to ``config.steps`` (or stops early at ``stop_at``).

    ``resume``: True for the newest checkpoint in ``output_dir/checkpoints``, or a checkpoint path.
    """

    def __init__(self, config: TrainConfig, resume: bool | str | Path = False) -> None:
        self.config = config
        self.device = device_for(config.device, env_info())
        self.dist: DistInfo = init_distributed(self.device)
        self.out = Path(config.output_dir)
        self.ckpt_dir = self.out / "checkpoints"
        self.amp_dtype = AMP_DTYPES.get(config.precision)
        if self.device.type != "cuda" and self.amp_dtype is torch.float16:
            # CPU autocast runs bf16 well (oneDNN, ~1.3x faster here) but fp16 has no CPU kernels worth using.
            logger.warning(f"precision fp16 needs CUDA; training in fp32 on {self.device}")
            self.amp_dtype = None

        seed_everything(config.seed)
        self.model = self._build_model().to(self.device).train()
        self.architecture = architecture_of(self.model)
        self.loss_fn = self._build_loss()
        # Always (not only under DDP), so checkpoints resume with any number of processes.
        unused = freeze_unused_parameters(self.model, self.device, self.architecture.train_outputs)
        if unused:
            logger.debug(f"parameters unused by the forward (frozen): {unused}")
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        o = config.optim
        # foreach: one batched update for all ~950 tensors; the per-tensor loop cost ~15% of a CPU step.
        self.optimizer = OPTIMIZERS[o.name](self.params, lr=o.lr, betas=o.betas, eps=o.eps,
                                            weight_decay=o.weight_decay, foreach=True)
        self.scheduler = warmup_cosine(self.optimizer, config.steps, o.warmup_steps, o.lr, o.min_lr, o.hold_steps)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype is torch.float16)

        self.dataset = build_dataset(config.data, train=True, seed=config.seed)
        self.sampler = ResumableDistributedSampler(self.dataset, self.dist.world_size, self.dist.rank,
                                                   seed=config.seed, shuffle=True, drop_last=True)
        if self.sampler.num_samples < config.data.batch_size:
            raise RainstreamError(f"the training set has {len(self.dataset)} items, fewer than one global batch "
                                  f"({config.data.batch_size} x {self.dist.world_size} processes)")
        self.loader = DataLoader(self.dataset, batch_size=config.data.batch_size, sampler=self.sampler,
                                 num_workers=config.data.num_workers, drop_last=True,
                                 pin_memory=config.data.pin_memory and self.device.type == "cuda")

        self.step = 0
        self.epoch = 0
        self.batches_in_epoch = 0  # batches of the current epoch already trained on
        self.skipped_steps = 0
        if resume:
            self._restore(resume)
        self.net: nn.Module = _TrainOutputs(self.model, self.architecture.train_outputs)
        if self.dist.enabled:
            self.net = DistributedDataParallel(
                self.net, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    # ------------------------------------------------------------ setup

    def _build_model(self) -> nn.Module:
        from rainstream.model import build_model, load_model

        m = self.config.model
        try:
            if not self.config.init_weights:
                return build_model(m.model, dim=m.dim)
            # no model name: the architecture and size come from the file
            model = load_model(m.name or m.variant, weights=self.config.init_weights, device="cpu")
        except ValueError as exc:  # unknown model name
            raise RainstreamError(str(exc)) from None
        if m.dim and model.config.dim != m.dim:
            raise RainstreamError(f"init_weights {self.config.init_weights} is dim {model.config.dim}, "
                                  f"but model.dim is {m.dim}")
        logger.info(f"fine-tuning from {self.config.init_weights} ({model.config})")
        return model

    def _build_loss(self) -> nn.Module:
        """The architecture's own loss with the options the config's ``loss:`` section sets."""
        options = self.config.loss.options()
        try:
            return self.architecture.make_loss(**options)
        except TypeError:
            raise RainstreamError(f"loss option(s) {', '.join(f'loss.{k}' for k in options)} do not apply to "
                                  f"{self.architecture.title}'s training loss; remove them") from None

    def _restore(self, resume: bool | str | Path) -> None:
        path = ckpt.latest_checkpoint(self.ckpt_dir) if resume is True else Path(resume)
        if path is None:
            raise RainstreamError(f"`resume`: no checkpoint in {self.ckpt_dir}")
        state = ckpt.load_checkpoint(path)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise RainstreamError(f"{path} does not fit this model: {str(exc).splitlines()[0]}") from None
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.epoch = int(state["data"]["epoch"])
        self.batches_in_epoch = int(state["data"]["batches_in_epoch"])
        self.skipped_steps = int(state.get("skipped_steps", 0))
        rng = state["rng"]
        if state.get("world_size", 1) != self.dist.world_size:
            logger.warning(f"resuming a {state.get('world_size', 1)}-process run with {self.dist.world_size} "
                           "processes: the data order from here on differs from the original run")
        else:
            ckpt.set_rng_state(rng)
        logger.info(f"resumed from {path} at step {self.step} (epoch {self.epoch}, "
                    f"batch {self.batches_in_epoch})")

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "step": self.step,
            "data": {"epoch": self.epoch, "batches_in_epoch": self.batches_in_epoch},
            "skipped_steps": self.skipped_steps,
            "world_size": self.dist.world_size,
            "rng": ckpt.rng_state(),
            "config": self.config.to_dict(),
        }

    def save_checkpoint(self) -> Path | None:
        if not self.dist.is_main:
            return None
        path = ckpt.checkpoint_path(self.ckpt_dir, self.step)
        ckpt.save_atomic(self.state_dict(), path)
        ckpt.prune_checkpoints(self.ckpt_dir, self.config.keep_checkpoints)
        logger.info(f"checkpoint {path}")
        return path

    def export_weights(self) -> Path | None:
        """Final weights as safetensors, loadable by ``rainstream run --weights``."""
        if not self.dist.is_main:
            return None
        from rainstream.model.checkpoint import write_safetensors
        from rainstream.model.conversion import safetensors_metadata

        path = self.out / "final.safetensors"
        write_safetensors(self.model.state_dict(), path,
                          metadata=safetensors_metadata(self.model, f"rainstream train, step {self.step}"))
        logger.info(f"final weights {path}")
        return path

    # ------------------------------------------------------------ training

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One optimizer step on a batch; a non-finite loss or gradient skips the update."""
        rainy = batch["rainy"].to(self.device, non_blocking=True)
        clean = batch["clean"].to(self.device, non_blocking=True)
        autocast = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype else nullcontext())
        with autocast:
            outputs = self.net(rainy)
        terms = self.loss_fn(outputs, clean)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(terms["total"]).backward()
        self.scaler.unscale_(self.optimizer)
        # The norm is computed from all-reduced gradients, so every process takes the same decision.
        norm = torch.nn.utils.clip_grad_norm_(self.params, self.config.optim.grad_clip or math.inf)
        if torch.isfinite(norm):
            self.scaler.step(self.optimizer)
        elif self.scaler.is_enabled():
            logger.debug(f"step {self.step + 1}: fp16 gradient overflow, update skipped, loss scale lowered")
        else:
            self.skipped_steps += 1
            logger.warning(f"step {self.step + 1}: non-finite loss or gradient (loss {terms['total'].item():.4g}), "
                           f"update skipped ({self.skipped_steps} so far)")
        self.scaler.update()
        with warnings.catch_warnings():
            # A skipped update still advances the schedule (it stays tied to the step count);
            # torch warns about that order, which is intended here.
            warnings.filterwarnings("ignore", message=re.escape("Detected call of `lr_scheduler.step()`"))
            self.scheduler.step()
        self.step += 1
        return {**{k: v.detach() for k, v in terms.items()}, "grad_norm": norm.detach()}

    def fit(self, stop_at: int | None = None) -> Path | None:
        """Train until ``config.steps`` (returns the final weights path) or ``stop_at`` (returns None)."""
        cfg = self.config
        end = min(stop_at or cfg.steps, cfg.steps)
        if self.dist.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            save_config(cfg, self.out / "config.yaml")
        bar = progress_bar(cfg.steps, "train", "step", initial=self.step, enabled=self.dist.is_main)
        window: dict[str, torch.Tensor] = {}
        window_steps, window_start = 0, time.perf_counter()
        try:
            while self.step < end:
                self.dataset.set_epoch(self.epoch)
                self.sampler.set_epoch(self.epoch)
                self.sampler.set_start(self.batches_in_epoch * cfg.data.batch_size)
                for batch in self.loader:
                    result = self.train_step(batch)
                    self.batches_in_epoch += 1
                    bar.update(1)
                    for k, v in result.items():
                        window[k] = window.get(k, 0) + v.float()
                    window_steps += 1
                    if self.step % cfg.log_every == 0 or self.step == end:
                        self._log(window, window_steps, time.perf_counter() - window_start, bar)
                        window, window_steps, window_start = {}, 0, time.perf_counter()
                    if cfg.val_every and cfg.data.val and self.step % cfg.val_every == 0:
                        self.validate()
                    if self.step % cfg.checkpoint_every == 0 or self.step == end:
                        self.save_checkpoint()
                    if self.step >= end:
                        break
                else:
                    self.epoch += 1
                    self.batches_in_epoch = 0
        except KeyboardInterrupt:
            logger.warning(f"interrupted at step {self.step}; saving a checkpoint (continue with `resume`)")
            self.save_checkpoint()
            raise
        finally:
            bar.close()
        return self.export_weights() if self.step >= cfg.steps else None

    def _log(self, window: dict[str, torch.Tensor], steps: int, seconds: float, bar) -> None:
        names = list(window)
        means = all_mean(torch.stack([window[k] / steps for k in names]), self.dist).tolist()
        record = {"step": self.step, "epoch": self.epoch, "lr": self.scheduler.get_last_lr()[0],
                  **dict(zip(names, means)), "skipped_steps": self.skipped_steps,
                  "sec_per_step": seconds / steps}
        if not self.dist.is_main:
            return
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        bar.set_postfix(loss=f"{record['total']:.4f}", lr=f"{record['lr']:.2e}")
        terms = " ".join(f"{k} {record[k]:.4g}" for k in names if k not in ("total", "grad_norm"))
        logger.info(f"step {self.step} loss {record['total']:.4f} ({terms}) lr {record['lr']:.3e} "
                    f"|g| {record['grad_norm']:.3g} {record['sec_per_step']:.2f}s/step")

    @torch.no_grad()
    def validate(self) -> dict[str, float] | None:
        """PSNR/SSIM (Y channel) on the validation set, main process only; logged to metrics.jsonl."""
        if not self.dist.is_main:
            return None
        from rainstream.training.evaluate import evaluate_pairs

        dataset = build_dataset(self.config.data, train=False, seed=self.config.seed)
        self.model.eval()
        try:
            report = evaluate_pairs(self._derain_images, dataset.pairs, limit=self.config.data.val_limit)
        finally:
            self.model.train()
        record = {"step": self.step, "val_psnr": report.psnr, "val_ssim": report.ssim}
        with open(self.out / "metrics.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")
        logger.info(f"step {self.step} validation: PSNR {report.psnr:.2f} dB, SSIM {report.ssim:.4f} "
                    f"({len(report.scores)} images)")
        return record

    def _derain_images(self, images: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for image in images:
            peak = 65535.0 if image.dtype == np.uint16 else 255.0
            x = torch.from_numpy(image.astype(np.float32) / peak).permute(2, 0, 1)[None].to(self.device)
            y = self.model(x)[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy()
            out.append(np.round(y * peak).astype(image.dtype))
        return out


def train(config: TrainConfig, resume: bool | str | Path = False) -> Path | None:
    """Train per ``config`` (``torchrun`` for several processes); returns the final weights path."""
    from rainstream.training.distributed import shutdown

    log_id = None
    try:
        trainer = Trainer(config, resume=resume)
        if trainer.dist.is_main:
            trainer.out.mkdir(parents=True, exist_ok=True)
            log_id = logger.add(trainer.out / "train.log", level="INFO")
        return trainer.fit()
    finally:
        if log_id is not None:
            logger.remove(log_id)
        shutdown()
