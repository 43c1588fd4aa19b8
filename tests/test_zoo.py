"""The model zoo: the registry, loading by name or by detection, and everything above the model (engine,
convert, run, train, bench, eval) working with every registered architecture."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_clip, read_video
from safetensors import safe_open

from rainstream.cli.main import main
from rainstream.engine import Derainer, EngineConfig
from rainstream.errors import RainstreamError
from rainstream.model import (ARCHITECTURES, architecture_of, build_model, list_models, load_model, resolve,
                              variant_config)
from rainstream.model.registry import UnknownModelError

TINY = [name for arch in ARCHITECTURES.values() for name in arch.variants if name.endswith("_tiny")]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def official_layout(model: torch.nn.Module, path) -> str:
    """Save ``model`` the way its authors' training code does (official names, wrapper, ``module.``).

    MSPFN's authors publish a TensorFlow checkpoint, which only ``rainstream convert`` reads (never the
    models at run time): its file here is that checkpoint, converted."""
    arch = architecture_of(model)
    if arch.name == "mspfn":
        from rainstream.model.conversion import convert_checkpoint
        from tf_bundle_writer import tf_variables, write_bundle

        prefix = write_bundle(Path(path).with_suffix(""), tf_variables(model.state_dict(), arch.to_official))
        convert_checkpoint(prefix, Path(path).with_suffix(".safetensors"))
        return str(Path(path).with_suffix(".safetensors"))
    state = {"module." + arch.to_official(k): v for k, v in model.state_dict().items()}
    torch.save({"params": state} if arch.name == "drsformer" else {"state_dict": state, "epoch": 1}, path)
    return str(path)


@pytest.fixture(scope="module", params=TINY)
def tiny_file(request, tmp_path_factory):
    """(model name, untrained tiny model, its weights in the official layout)."""
    torch.manual_seed(0)
    model = build_model(request.param).eval()
    return request.param, model, official_layout(model, tmp_path_factory.mktemp("w") / "official.pth")


# ---------------------------------------------------------------- registry

def test_every_architecture_has_a_tiny_registered_variant():
    assert {name.removesuffix("_tiny") for name in TINY} == set(ARCHITECTURES)


def test_list_models_gives_typed_records():
    models = {m.name: m for m in list_models()}
    assert list(models) == ["nerd_rain_s", "nerd_rain", "nerd_rain_tiny", "drsformer", "drsformer_no_mefc",
                            "drsformer_tiny", "mspfn", "mspfn_tiny"]
    assert models["drsformer"].parameters == 33_655_424 and models["drsformer_no_mefc"].parameters == 32_610_304
    assert models["nerd_rain_s"].parameters == 10_530_314 and models["nerd_rain_s"].bundled_weights
    assert not models["drsformer"].bundled_weights and models["drsformer"].is_default
    assert models["drsformer"].size_multiple == 8 and models["nerd_rain"].size_multiple == 16
    assert models["mspfn"].parameters == 15_823_424 and models["mspfn"].size_multiple == 4
    assert all(m.weights and m.licence for m in models.values())
    import rainstream

    assert rainstream.list_models() == list(models.values()) and rainstream.load_model is load_model


def test_names_resolve_to_variants_and_an_architecture_to_its_default():
    assert resolve("drsformer")[2] == variant_config("drsformer") and resolve("drsformer")[2].mefc
    assert resolve("nerd_rain")[2].dim == 48  # the variant named like its architecture wins
    assert resolve("drsformer_no_mefc")[0] is ARCHITECTURES["drsformer"]
    with pytest.raises(UnknownModelError, match="unknown model 'mspfn_xl'; choose one of nerd_rain_s"):
        resolve("mspfn_xl")
    assert issubclass(UnknownModelError, ValueError) and issubclass(UnknownModelError, RainstreamError)


def test_models_cli_lists_every_model(capsys):
    assert main(["models", "--details"]) == 0
    out = capsys.readouterr().out
    for m in list_models():
        assert m.name in out and f"{m.parameters:,}" in out
    assert "licence" in out and "SPA-Data" in out


@pytest.mark.parametrize("name", TINY)
def test_no_weights_and_none_bundled_gives_an_untrained_model_and_says_so(name):
    from loguru import logger

    sink = []
    handle = logger.add(sink.append, level="WARNING")
    try:
        model = load_model(name)
    finally:
        logger.remove(handle)
    assert model.config == variant_config(name) and not model.training
    assert any("UNTRAINED" in str(m) for m in sink)


def test_a_file_of_no_known_architecture_is_one_line(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"params": {"conv1.weight": torch.zeros(4, 3, 3, 3)}}, path)
    with pytest.raises(RainstreamError) as err:
        load_model(weights=path)
    assert "not a checkpoint of a known architecture" in str(err.value) and "\n" not in str(err.value)


# ---------------------------------------------------------------- every architecture

def test_official_layout_loads_by_detection_and_by_name(tiny_file):
    name, model, path = tiny_file
    x = torch.rand(2, 3, 40, 48)
    with torch.no_grad():
        expected = model(x)
        for loaded in (load_model(weights=path), load_model(name, weights=path)):
            assert loaded.config == model.config
            torch.testing.assert_close(loaded(x), expected, rtol=0, atol=0)


@pytest.mark.parametrize("shape", [(1, 3, 37, 53), (1, 3, 1, 1), (2, 3, 16, 200), (1, 3, 70, 9)])
def test_any_size_comes_back_the_same_size(tiny_file, shape):
    _, model, _ = tiny_file
    x = torch.rand(shape)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_batch_results_equal_single_image_results(tiny_file):
    _, model, _ = tiny_file
    x = torch.rand(3, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        batched = model(x)
        single = torch.cat([model(x[i:i + 1]) for i in range(3)])
    torch.testing.assert_close(batched, single, rtol=0, atol=1e-5)


def test_convert_cli_writes_safetensors_with_the_architecture_and_loads_identically(tiny_file, tmp_path):
    name, model, path = tiny_file
    dst = tmp_path / "converted.safetensors"
    assert main(["convert", path, "-o", str(dst)]) == 0
    with safe_open(str(dst), "pt") as f:
        metadata = f.metadata()
    arch = architecture_of(model)
    assert metadata["architecture"] == arch.name and json.loads(metadata["config"]) == model.config.to_dict()
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        torch.testing.assert_close(load_model(weights=dst)(x), model(x), rtol=0, atol=0)


def test_convert_cli_refuses_another_architecture_in_one_line(tiny_file, tmp_path, capsys):
    name, _, path = tiny_file
    other = next(a.default_variant for a in ARCHITECTURES.values() if name not in a.variants)
    dst = tmp_path / "x.safetensors"
    assert main(["convert", path, "--model", other, "-o", str(dst)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "not" in err
    assert not dst.exists()


def test_engine_tile_and_overlap_default_to_the_architecture(tiny_file):
    _, model, _ = tiny_file
    arch = architecture_of(model)
    resolved = Derainer(model, EngineConfig(device="cpu")).config
    assert (resolved.tile, resolved.overlap) == (arch.default_tile, arch.default_overlap)
    assert Derainer(model, EngineConfig(device="cpu", tile=64)).config.overlap == 31  # default clamped below tile/2
    assert Derainer(model, EngineConfig(device="cpu", tile=64, overlap=8)).config.overlap == 8
    with pytest.raises(RainstreamError, match="`overlap`"):
        Derainer(model, EngineConfig(device="cpu", tile=32, overlap=20))


def test_engine_single_tile_equals_the_model(tiny_file):
    _, model, _ = tiny_file
    x = torch.rand(2, 3, 37, 53)
    with torch.inference_mode():
        expected = model(x).clamp(0, 1)
    torch.testing.assert_close(Derainer(model, EngineConfig(device="cpu")).derain_tensor(x), expected,
                               rtol=0, atol=1e-6)


def test_engine_bf16_autocast_stays_close_to_fp32(tiny_file):
    _, model, _ = tiny_file
    x = torch.rand(1, 3, 64, 64)
    fp32 = Derainer(model, EngineConfig(device="cpu", tile=32, overlap=8)).derain_tensor(x)
    bf16 = Derainer(model, EngineConfig(device="cpu", tile=32, overlap=8, precision="bf16")).derain_tensor(x)
    assert 10 * torch.log10(1 / (bf16 - fp32).pow(2).mean()) > 25


def test_bench_rows_name_the_architecture(tiny_file):
    from rainstream.bench.model import format_markdown, run_bench

    name, _, path = tiny_file
    results = run_bench(variants=[None], tiles=(32,), device="cpu", overlap=8, iters=1, warmup=0, weights=path)
    assert [r.case.variant for r in results] == [name] and results[0].status == "ok"
    arch = ARCHITECTURES[name.removesuffix("_tiny")]
    assert results[0].architecture == arch.title and results[0].gmacs_per_tile > 0
    table = format_markdown(results)
    assert f"- {name} ({arch.title}, {results[0].parameters:,} parameters)" in table


# ---------------------------------------------------------------- run, eval, train with DRSformer

def luma_psnr(a: np.ndarray, b: np.ndarray) -> float:
    y = lambda x: x.astype(np.float64) @ np.array([0.299, 0.587, 0.114]) / 255  # noqa: E731
    return float(10 * np.log10(1 / max(np.mean((y(a) - y(b)) ** 2), 1e-12)))


@pytest.fixture(scope="module")
def drsformer_official(tmp_path_factory):
    """A tiny DRSformer without MEFC (the SPA-Data architecture) in the official layout, moved off its
    initial weights so it visibly changes the picture."""
    torch.manual_seed(1)
    no_mefc = build_model(replace(variant_config("drsformer_tiny"), mefc=False))
    with torch.no_grad():
        for p in no_mefc.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return no_mefc.eval(), official_layout(no_mefc, tmp_path_factory.mktemp("drs") / "DRSformer_SPA_tiny.pth")


@pytest.mark.slow
def test_cli_run_with_an_official_drsformer_file_gives_the_models_own_output(drsformer_official, tmp_path,
                                                                             capsys):
    model, weights = drsformer_official
    src = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=4, audio=True)
    out = tmp_path / "out.mp4"
    # no model name: the architecture (DRSformer, no MEFC) and its size come from the file
    assert main(["run", src, "-o", str(out), "--weights", weights, "--device", "cpu", "--no-progress",
                 "--crf", "0", "--pix-fmt", "yuv444p"]) == 0
    got, ref = read_video(out), read_video(src)
    assert got["pts"] == ref["pts"] and got["audio"] == ref["audio"]
    for frame, derained in zip(ref["frames"], got["frames"]):
        with torch.no_grad():
            x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255
            direct = (model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        assert luma_psnr(direct, derained) >= 45  # ~57 dB: what lossless 4:4:4 H.264's RGB<->YUV rounding leaves
        assert luma_psnr(direct, frame) < 35  # the model does change the picture


def test_cli_run_refuses_a_nerd_rain_file_named_as_drsformer(tmp_path, capsys):
    from rainstream.io.images import write_image

    nerd = tmp_path / "nerd.pth"
    official_layout(build_model("nerd_rain_tiny"), nerd)
    write_image(str(tmp_path / "a.png"), np.zeros((16, 16, 3), np.uint8))
    assert main(["run", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"), "--variant", "drsformer",
                 "--weights", str(nerd)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "NeRD-Rain" in err and "DRSformer" in err
    assert not (tmp_path / "b.png").exists()


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    from test_train import make_paired_folder

    return make_paired_folder(tmp_path_factory.mktemp("pairs"), count=6)


def drsformer_config(data, out, **overrides):
    from rainstream.training import load_config

    values = {"output_dir": str(out), "steps": 4, "seed": 7, "device": "cpu", "log_every": 1, "checkpoint_every": 2,
              "data.kind": "paired", "data.train": str(data), "data.patch_size": 32, "data.batch_size": 2,
              "data.num_workers": 0, "model.name": "drsformer_tiny", **overrides}
    return load_config("train_drsformer", [f"{k}={v!r}" for k, v in values.items()])


def test_drsformer_trains_with_its_recipe_and_resumes_exactly(pairs_dir, tmp_path):
    from safetensors.torch import load_file

    from rainstream.training import PixelL1Loss, Trainer

    straight = Trainer(drsformer_config(pairs_dir, tmp_path / "straight"))
    assert isinstance(straight.optimizer, torch.optim.AdamW) and isinstance(straight.loss_fn, PixelL1Loss)
    group = straight.optimizer.param_groups[0]
    assert (group["lr"], group["weight_decay"], group["betas"]) == (3e-4, 1e-4, (0.9, 0.999))
    assert straight.config.optim.grad_clip == 0.01
    straight.fit()
    interrupted = drsformer_config(pairs_dir, tmp_path / "resumed")
    assert Trainer(interrupted).fit(stop_at=2) is None
    final = Trainer(interrupted, resume=True).fit()
    a, b = load_file(tmp_path / "straight" / "final.safetensors"), load_file(final)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=0, atol=1e-6, msg=key)
    records = [json.loads(line) for line in (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()]
    assert {"total", "l1", "grad_norm"} <= set(records[0]) and "fft" not in records[0]
    # the final weights know what they are: eval loads them without a model name
    with safe_open(str(final), "pt") as f:
        assert f.metadata()["architecture"] == "drsformer"
    assert main(["eval", "--data", str(pairs_dir), "--weights", str(final), "--device", "cpu", "--limit", "1"]) == 0


def test_nerd_rain_loss_options_are_refused_for_drsformer(pairs_dir, tmp_path):
    from rainstream.training import Trainer

    with pytest.raises(RainstreamError, match="loss.fft_weight do not apply to DRSformer"):
        Trainer(drsformer_config(pairs_dir, tmp_path, **{"loss.fft_weight": 0.1}))
