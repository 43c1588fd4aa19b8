"""Trainer, datasets and configs on tiny real files: the loss drops, --resume is exact, CLI works."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from rainstream.cli.main import main
from rainstream.errors import RainstreamError
from rainstream.synth import preset
from rainstream.training import load_config
from rainstream.training.config import DataConfig, config_from_dict
from rainstream.training.data import (CropSettings, PairedImageDataset, ResumableDistributedSampler,
                                      SyntheticRainDataset, paired_folder_pairs, random_crop, spa_list_pairs)
from rainstream.training.schedule import warmup_cosine_factor

torch.set_num_threads(1)


def rain_pair(rng: np.random.Generator, height: int = 40, width: int = 44) -> tuple[np.ndarray, np.ndarray]:
    """A smooth clean image and the same with bright slanted streaks (uint8 RGB)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = rng.uniform(0, 6, size=3)
    clean = np.stack([0.45 + 0.3 * np.sin(x / 7 + phase[0]), 0.45 + 0.3 * np.cos(y / 5 + phase[1]),
                      0.45 + 0.3 * np.sin((x + y) / 9 + phase[2])], axis=-1)
    streaks = ((x + 0.3 * y + rng.uniform(0, 6)) % 6 < 1).astype(np.float32)[..., None] * 0.4
    rainy = np.clip(clean + streaks, 0, 1)
    return np.round(rainy * 255).astype(np.uint8), np.round(clean * 255).astype(np.uint8)


def write_rgb(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def make_paired_folder(root: Path, count: int = 6, seed: int = 0, **size) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(count):
        rainy, clean = rain_pair(rng, **size)
        write_rgb(root / "input" / f"{i:03d}.png", rainy)
        write_rgb(root / "target" / f"{i:03d}.png", clean)
    return root


def tiny_config(data: Path, out: Path, **overrides):
    values = {"output_dir": str(out), "steps": 4, "seed": 7, "device": "cpu", "log_every": 1,
              "checkpoint_every": 2,
              "data": {"kind": "paired", "train": str(data), "patch_size": 32, "batch_size": 2, "num_workers": 0},
              "model": {"variant": "nerd_rain_tiny"},
              "optim": {"lr": 1e-3, "min_lr": 1e-5, "warmup_steps": 1}}
    return config_from_dict(values, [f"{k}={v!r}" for k, v in overrides.items()])


# ---------------------------------------------------------------- data

def test_paired_folder_items_are_matching_crops(tmp_path):
    make_paired_folder(tmp_path, count=2)
    pairs = paired_folder_pairs(tmp_path)
    assert [p.rainy.name for p in pairs] == ["000.png", "001.png"]
    ds = PairedImageDataset(pairs, train=True, crop=CropSettings(patch_size=32), seed=3)
    item = ds[1]
    assert item["rainy"].shape == item["clean"].shape == (3, 32, 32)
    assert item["path"].endswith("001.png")
    # Rain only brightens, so the same crop/flip was applied to both images.
    assert torch.all(item["rainy"] >= item["clean"] - 1 / 255)
    assert torch.equal(ds[1]["rainy"], item["rainy"])  # deterministic per (seed, epoch, index)
    ds.set_epoch(1)
    assert not torch.equal(ds[1]["rainy"], item["rainy"])  # a new crop next epoch
    full = PairedImageDataset(pairs, train=False)[0]
    assert full["rainy"].shape == (3, 40, 44)  # validation: whole image, no augmentation


def test_small_images_are_reflect_padded():
    image = np.arange(20 * 10 * 3, dtype=np.float32).reshape(20, 10, 3)
    (crop,) = random_crop([image], 16, np.random.default_rng(0))
    assert crop.shape == (16, 16, 3)
    # Width 10 -> 16: columns 10..15 mirror 8..3 (reflect without repeating the edge).
    assert np.array_equal(crop[:, 10:], crop[:, 8:2:-1])
    assert np.array_equal(crop[:, :10], image[: 16, :10]) or np.isin(crop[:, 0, 0], image[:, 0, 0]).all()


def test_spa_list_file(tmp_path):
    make_paired_folder(tmp_path / "data", count=2)
    listing = tmp_path / "data" / "real_world.txt"
    listing.write_text("/input/000.png /target/000.png\n./input/001.png ./target/001.png\n")
    pairs = spa_list_pairs(listing)
    assert [(p.rainy.parent.name, p.clean.parent.name) for p in pairs] == [("input", "target")] * 2
    listing.write_text("input/000.png target/missing.png\n")
    with pytest.raises(RainstreamError, match="missing.png"):
        spa_list_pairs(listing)


def test_mismatched_folders_are_one_clear_error(tmp_path):
    make_paired_folder(tmp_path, count=2)
    (tmp_path / "target" / "001.png").unlink()
    with pytest.raises(RainstreamError, match="no counterpart"):
        paired_folder_pairs(tmp_path)
    with pytest.raises(RainstreamError, match="paired sub-folders"):
        paired_folder_pairs(tmp_path / "input")


def test_synthetic_rain_dataset(tmp_path):
    rng = np.random.default_rng(1)
    write_rgb(tmp_path / "clean" / "a.png", rain_pair(rng, 96, 96)[1])
    images = sorted((tmp_path / "clean").iterdir())
    ds = SyntheticRainDataset(images, crop=CropSettings(patch_size=64), seed=2, settings=preset("heavy"))
    item = ds[0]
    assert item["rainy"].shape == item["clean"].shape == (3, 64, 64)
    assert (item["rainy"] - item["clean"]).abs().mean() > 1e-3  # rain was drawn
    assert torch.equal(ds[0]["rainy"], item["rainy"])
    # Without fixed settings each item samples its own rain condition (still reproducible).
    randomised = SyntheticRainDataset(images, crop=CropSettings(patch_size=64), seed=2)
    assert torch.equal(randomised[0]["rainy"], randomised[0]["rainy"])


def test_synthetic_rain_dataset_clean_fraction(tmp_path):
    rng = np.random.default_rng(3)
    for i in range(16):
        write_rgb(tmp_path / "clean" / f"{i:02d}.png", rain_pair(rng, 64, 64)[1])
    images = sorted((tmp_path / "clean").iterdir())

    def rain_free(fraction):
        ds = SyntheticRainDataset(images, crop=CropSettings(patch_size=32), seed=4, settings=preset("heavy"),
                                  clean_fraction=fraction)
        return [torch.equal(ds[i]["rainy"], ds[i]["clean"]) for i in range(len(ds))]

    assert not any(rain_free(0.0))
    some = rain_free(0.5)
    assert 2 <= sum(some) <= 14  # P(outside) < 0.5%: the draw is per item, not all-or-nothing
    with pytest.raises(RainstreamError, match="clean_fraction"):
        DataConfig(kind="synthetic", train="x", clean_fraction=1.0)


def test_sampler_resumes_mid_epoch():
    data = list(range(10))
    sampler = ResumableDistributedSampler(data, seed=5)
    sampler.set_epoch(3)
    full = list(sampler)
    sampler.set_start(4)
    assert list(sampler) == full[4:] and len(sampler) == 6
    sampler.set_start(0)
    sampler.set_epoch(4)
    assert sorted(sampler) == data and list(sampler) != full


# ---------------------------------------------------------------- config and schedule

def test_overrides_are_typed_and_checked(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("steps: 10\ndata:\n  train: /x\n")
    cfg = load_config(path, ["optim.lr=2e-4", "data.batch_size=3", "data.val=/data/my test", "optim.betas=[0.8, 0.9]"])
    assert (cfg.steps, cfg.optim.lr, cfg.data.batch_size, cfg.data.val) == (10, 2e-4, 3, "/data/my test")
    assert cfg.optim.betas == (0.8, 0.9)
    with pytest.raises(RainstreamError, match="did you mean optim.lr"):
        load_config(path, ["optim.lrr=1"])
    with pytest.raises(RainstreamError, match="did you mean steps"):
        load_config(path, ["step=1"])
    with pytest.raises(RainstreamError, match="expects int"):
        load_config(path, ["steps=1.5"])
    path.write_text("data:\n  batch: 2\n")
    with pytest.raises(RainstreamError, match="data.batch_size"):
        load_config(path)


def test_warmup_then_cosine():
    factors = [warmup_cosine_factor(s, 100, 10, 0.01) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0)
    assert factors[55] == pytest.approx(0.01 + 0.99 * 0.5)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert warmup_cosine_factor(100, 100, 10, 0.01) == pytest.approx(0.01)


def test_hold_then_cosine_is_drsformers_cyclic_schedule():
    # CosineAnnealingRestartCyclicLR, periods [92k, 208k], eta_mins [3e-4, 1e-6], base 3e-4, scaled down 1000x
    ratio = 1e-6 / 3e-4
    assert [warmup_cosine_factor(s, 300, 0, ratio, hold_steps=92) for s in (0, 50, 92)] == [1.0, 1.0, 1.0]
    assert warmup_cosine_factor(92 + 104, 300, 0, ratio, hold_steps=92) == pytest.approx(ratio + (1 - ratio) / 2)
    assert warmup_cosine_factor(300, 300, 0, ratio, hold_steps=92) == pytest.approx(ratio)


# ---------------------------------------------------------------- training

@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    return make_paired_folder(tmp_path_factory.mktemp("pairs"), count=6)


def _fixed_batch(pairs_dir):
    ds = PairedImageDataset(paired_folder_pairs(pairs_dir), train=True, crop=CropSettings(patch_size=32), seed=99)
    items = [ds[i] for i in range(4)]
    return torch.stack([i["rainy"] for i in items]), torch.stack([i["clean"] for i in items])


def test_a_few_steps_lower_the_loss(pairs_dir, tmp_path):
    from rainstream.training import Trainer

    trainer = Trainer(tiny_config(pairs_dir, tmp_path, steps=6, **{"optim.warmup_steps": 0}))
    rainy, clean = _fixed_batch(pairs_dir)

    def loss_now():
        with torch.no_grad():
            return trainer.loss_fn(trainer.model.forward_all(rainy), clean)["total"].item()

    before = loss_now()
    trainer.fit()
    after = loss_now()
    assert after < 0.9 * before, (before, after)
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 7))
    assert {"total", "char", "fft", "edge", "inr_l1", "lr", "grad_norm"} <= set(records[0])


def test_resume_reproduces_an_uninterrupted_run(pairs_dir, tmp_path):
    from rainstream.training import Trainer

    # 6 pairs, batch 2: 3 batches per epoch, so 4 steps cross an epoch boundary; stop mid-epoch at 2.
    Trainer(tiny_config(pairs_dir, tmp_path / "straight", steps=4)).fit()
    interrupted = tiny_config(pairs_dir, tmp_path / "resumed", steps=4, **{"data.num_workers": 1})
    assert Trainer(interrupted).fit(stop_at=2) is None
    checkpoints = sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir())
    assert checkpoints == ["step_00000002.pt"]  # written atomically: no temp file left
    final = Trainer(interrupted, resume=True).fit()
    assert final == tmp_path / "resumed" / "final.safetensors"

    straight = load_file(tmp_path / "straight" / "final.safetensors")
    resumed = load_file(final)
    assert straight.keys() == resumed.keys()
    for key in straight:
        torch.testing.assert_close(resumed[key], straight[key], rtol=0, atol=1e-6, msg=key)
    # The checkpoint itself records the exact position and loads without pickle.
    state = torch.load(tmp_path / "resumed" / "checkpoints" / "step_00000004.pt", weights_only=True)
    assert state["step"] == 4 and state["data"] == {"epoch": 1, "batches_in_epoch": 1}


def test_fine_tunes_from_given_weights(pairs_dir, tmp_path):
    from rainstream.model import build_model
    from rainstream.model.checkpoint import write_safetensors
    from rainstream.training import Trainer

    torch.manual_seed(123)
    start = build_model("nerd_rain_tiny").state_dict()
    write_safetensors(start, tmp_path / "start.safetensors")
    trainer = Trainer(tiny_config(pairs_dir, tmp_path / "run", init_weights=str(tmp_path / "start.safetensors")))
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, start[key]), key
    with pytest.raises(RainstreamError, match="weights file not found"):
        Trainer(tiny_config(pairs_dir, tmp_path / "run", init_weights=str(tmp_path / "nope.pth")))


def test_nan_guard_skips_the_update(pairs_dir, tmp_path):
    from rainstream.training import Trainer

    trainer = Trainer(tiny_config(pairs_dir, tmp_path, steps=2))
    batch = {"rainy": torch.full((2, 3, 32, 32), float("nan")), "clean": torch.rand(2, 3, 32, 32)}
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train_step(batch)
    assert trainer.skipped_steps == 1 and trainer.step == 1
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_cli_train_and_eval(pairs_dir, tmp_path, capsys):
    config = tmp_path / "train.yaml"
    config.write_text(f"""
output_dir: {tmp_path / 'run'}
steps: 1
device: cpu
data: {{kind: paired, train: {pairs_dir}, patch_size: 32, batch_size: 2, num_workers: 0}}
model: {{variant: nerd_rain_tiny}}
""")
    assert main(["train", str(config), "optim.warmup_steps=0"]) == 0
    assert "\r" not in capsys.readouterr().err  # stderr is no terminal here: plain lines, no bar
    run = tmp_path / "run"
    assert {"config.yaml", "metrics.jsonl", "train.log", "final.safetensors", "checkpoints"} <= {
        p.name for p in run.iterdir()}
    assert load_config(run / "config.yaml").optim.warmup_steps == 0  # resolved config saved

    assert main(["train", str(config), "optim.lrr=1"]) == 2
    assert "did you mean optim.lr" in capsys.readouterr().err

    # eval: the numbers are the Y-channel metrics of the tiled engine's output.
    from rainstream.engine import Derainer, EngineConfig
    from rainstream.metrics import psnr_y, ssim_y
    from rainstream.model import load_model
    from rainstream.io.images import read_image as read_rgb_native

    weights = run / "final.safetensors"
    scores = tmp_path / "scores.json"
    assert main(["eval", "--data", str(pairs_dir), "--weights", str(weights), "--variant", "nerd_rain_tiny",
                 "--device", "cpu", "--limit", "2", "--json", str(scores)]) == 0
    printed, err = capsys.readouterr()
    assert "000.png" in printed and "mean" in printed and "\r" not in err
    report = json.loads(scores.read_text())
    derainer = Derainer(load_model("nerd_rain_tiny", weights, "cpu"), EngineConfig(device="cpu"))
    rainy = read_rgb_native(pairs_dir / "input" / "000.png")
    clean = read_rgb_native(pairs_dir / "target" / "000.png")
    restored = derainer(rainy)
    assert report["images"] == 2
    assert report["per_image"][0]["psnr"] == pytest.approx(psnr_y(restored, clean), abs=1e-6)
    assert report["per_image"][0]["ssim"] == pytest.approx(ssim_y(restored, clean), abs=1e-6)
    assert report["psnr"] == pytest.approx(np.mean([r["psnr"] for r in report["per_image"]]))
    # and the rainy input's own scores, the baseline a gain is measured against
    assert report["per_image"][0]["input_psnr"] == pytest.approx(psnr_y(rainy, clean), abs=1e-6)
    assert "gain" in printed

    assert main(["eval", "--data", str(tmp_path / "nowhere"), "--weights", str(weights)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_sigterm_saves_a_checkpoint_and_resume_finishes(pairs_dir, tmp_path):
    """`docker stop` / systemd send SIGTERM: the step reached is saved and --resume carries on."""
    import os
    import signal
    import subprocess
    import sys
    import time

    run = tmp_path / "run"
    config = tmp_path / "train.yaml"
    config.write_text(f"""
output_dir: {run}
steps: 100000
device: cpu
log_every: 1
checkpoint_every: 100000
data: {{kind: paired, train: {pairs_dir}, patch_size: 32, batch_size: 2, num_workers: 0}}
model: {{variant: nerd_rain_tiny}}
""")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "rainstream.cli.main", "train", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run / "metrics.jsonl").exists():
        time.sleep(0.2)
    assert (run / "metrics.jsonl").exists(), "training never logged a step"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Traceback" not in out
    saved = sorted((run / "checkpoints").glob("step_*.pt"))
    assert saved, out
    reached = int(saved[-1].stem.split("_")[1])
    assert reached >= 1
    done = subprocess.run([sys.executable, "-m", "rainstream.cli.main", "train", str(config), f"steps={reached + 1}",
                           "--resume"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "resumed from" in done.stderr and (run / "final.safetensors").is_file()


def test_eval_on_rendered_photos_reports_gain_no_harm_and_worst_first(tmp_path, capsys):
    """`eval --photos` renders held-out rain in memory; its columns are the engine's real scores."""
    from rainstream.engine import Derainer, EngineConfig
    from rainstream.metrics import psnr_y
    from rainstream.model import build_model, load_model
    from rainstream.model.checkpoint import write_safetensors
    from rainstream.synth.pairs import render_pairs
    from rainstream.synth.styles import rain_sampler

    rng = np.random.default_rng(5)
    photos = tmp_path / "photos"
    for name in ("a", "b", "c"):
        write_rgb(photos / f"{name}.png", rain_pair(rng, 80, 96)[1])
    held_out = tmp_path / "val.txt"
    held_out.write_text("a.png\nc.png\n")
    torch.manual_seed(0)
    weights = tmp_path / "tiny.safetensors"
    write_safetensors(build_model("nerd_rain_tiny").state_dict(), weights)
    scores = tmp_path / "scores.json"
    args = ["eval", "--photos", str(photos), "--only", str(held_out), "--rain", "classic", "--crops", "2",
            "--size", "48", "--seed", "9", "--weights", str(weights), "--variant", "nerd_rain_tiny",
            "--device", "cpu", "--json", str(scores)]
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    report = json.loads(scores.read_text())
    names = [r["name"] for r in report["per_image"]]
    assert names == ["a_000.png", "a_001.png", "c_000.png", "c_001.png"]  # only the held-out photos
    # the same command renders the same pairs; every column is what the engine really does
    derainer = Derainer(load_model("nerd_rain_tiny", weights, "cpu"), EngineConfig(device="cpu"))
    pairs = list(render_pairs(sorted(photos.glob("[ac].png")), 2, 9, 48, rain_sampler("classic")))
    for pair, row in zip(pairs, report["per_image"]):
        assert row["rain"] == "classic"
        assert row["input_psnr"] == pytest.approx(psnr_y(pair.rainy, pair.clean), abs=1e-6)
        assert row["psnr"] == pytest.approx(psnr_y(derainer(pair.rainy), pair.clean), abs=1e-6)
        assert row["gain"] == pytest.approx(row["psnr"] - row["input_psnr"])
        assert row["clean_psnr"] == pytest.approx(psnr_y(derainer(pair.clean), pair.clean), abs=1e-6)
    assert report["below_input"] == sum(r["gain"] < 0 for r in report["per_image"])
    assert report["clean_min_psnr"] == pytest.approx(min(r["clean_psnr"] for r in report["per_image"]))
    assert report["harmed"] == sum(r["clean_psnr"] < 38 for r in report["per_image"])
    # the printed table: worst gain first, then the summary line
    rows = [line for line in printed if line.split()[0] in names]
    gains = [float(line.split()[4]) for line in rows]
    assert len(rows) == 4 and gains == sorted(gains)
    assert "rain-free" in printed[0] and "below their rainy input" in printed[-1]
    assert "below 38 dB" in printed[-1]
