"""The DRSformer re-implementation is the published function: outputs, names, sizes, loading, precision."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import reference_file

from rainstream.errors import CheckpointError
from rainstream.model import build_model, load_model
from rainstream.model.drsformer import KEYMAP

VARIANTS = {"mefc": "drsformer", "no_mefc": "drsformer_no_mefc"}  # reference variant -> our published name


@pytest.fixture(scope="module")
def reference():
    return torch.load(reference_file("drsformer_equivalence_dim8.pt"), weights_only=True)


@pytest.fixture(scope="module")
def official_keys():
    return json.loads(reference_file("drsformer_official_state_dict_keys.json").read_text())


def official_file(path: Path, state: dict, wrapper: str = "params") -> Path:
    """An official BasicSR checkpoint as DataParallel training saves it."""
    torch.save({wrapper: {"module." + k: v for k, v in state.items()}}, path)
    return path


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request):
    return request.param


@pytest.fixture(scope="module")
def tiny(reference, variant, tmp_path_factory):
    path = official_file(tmp_path_factory.mktemp("w") / "official.pth", reference["variants"][variant]["state_dict"])
    return load_model(weights=path)


@pytest.mark.parametrize("name", [None, "drsformer", "drsformer_tiny", "published"])
def test_official_file_reproduces_the_reference_by_name_and_by_detection(reference, variant, name, tmp_path):
    theirs = reference["variants"][variant]
    path = official_file(tmp_path / "official.pth", theirs["state_dict"])
    model = load_model(VARIANTS[variant] if name == "published" else name, weights=path)
    assert model.config.mefc == (variant == "mefc") and model.config.dim == 8 and not model.training
    assert model.config.num_blocks == (1, 1, 1, 2) and model.config.heads == (1, 2, 2, 4)
    with torch.no_grad():
        torch.testing.assert_close(model(reference["input"]), theirs["output"], rtol=0, atol=1e-5)


def test_params_ema_is_preferred_to_params(reference, tmp_path):
    theirs = reference["variants"]["no_mefc"]
    shifted = {k: v + 1 for k, v in theirs["state_dict"].items()}
    path = tmp_path / "ema.pth"
    torch.save({"params": shifted, "params_ema": theirs["state_dict"]}, path)
    with torch.no_grad():
        torch.testing.assert_close(load_model(weights=path)(reference["input"]), theirs["output"], rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", ["drsformer", "drsformer_no_mefc"])
def test_state_dict_maps_onto_the_official_names_and_shapes(name, official_keys):
    with torch.device("meta"):
        model = build_model(name)
    mapped = {KEYMAP.to_official(k): list(v.shape) for k, v in model.state_dict().items()}
    assert mapped == official_keys[name]["keys"]
    assert len(mapped) == official_keys[name]["entries"]
    assert all(KEYMAP.to_ours(KEYMAP.to_official(k)) == k for k in model.state_dict())
    assert KEYMAP.convert(model.state_dict()).keys() == model.state_dict().keys()  # our names pass through


@pytest.mark.parametrize("name, count", [("drsformer", 33_655_424), ("drsformer_no_mefc", 32_610_304)])
def test_parameter_counts_match_the_published_models(name, count):
    with torch.device("meta"):
        assert sum(p.numel() for p in build_model(name).parameters()) == count


def test_odd_sizes_are_reflect_padded_like_the_reference_test_script(tiny):
    x = torch.rand(1, 3, 37, 53)
    padded = torch.nn.functional.pad(x, (0, 3, 0, 3), mode="reflect")  # test.py: multiple of 8, 'reflect'
    with torch.no_grad():
        torch.testing.assert_close(tiny(x), tiny.restore(padded)[..., :37, :53], rtol=0, atol=1e-6)


def test_not_clamped_inside_the_model(reference, variant, tiny):
    out = reference["variants"][variant]["output"]
    assert out.min() < 0 or out.max() > 1  # the noisy reference weights overshoot [0, 1] ...
    with torch.no_grad():
        torch.testing.assert_close(tiny(reference["input"]), out, rtol=0, atol=1e-5)  # ... and so do we


def test_top_k_scores_and_softmax_stay_float32_under_autocast(tiny):
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        full = tiny(x)
    seen = []
    attention = tiny.encoders[0][0].attn
    original = attention.sparse_attention
    attention.sparse_attention = lambda scores: (seen.append(scores.dtype), original(scores))[1]
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            low = tiny(x)
    finally:
        del attention.sparse_attention
    assert seen == [torch.float32]
    assert torch.isfinite(low).all()
    psnr = 10 * torch.log10(1 / (low.float() - full).pow(2).mean())
    assert psnr > 25, psnr  # bf16 has 8 bits of mantissa; the point is that nothing overflows


def test_huge_temperature_does_not_overflow_in_half_precision():
    from rainstream.model.drsformer.blocks import TopKChannelAttention

    torch.manual_seed(0)
    attention = TopKChannelAttention(16, 2, bias=False).eval()
    with torch.no_grad():
        attention.temperature.fill_(1e6)  # scores up to 1e6: inf in fp16, fine in float32
    x = torch.randn(1, 16, 8, 8) * 100
    with torch.no_grad():
        full = attention(x)
        with torch.autocast("cpu", dtype=torch.float16):
            half = attention(x)
    assert torch.isfinite(half).all()
    torch.testing.assert_close(half.float(), full, rtol=0.05, atol=0.05 * full.abs().max().item())


def test_a_nerd_rain_file_given_as_drsformer_fails_in_one_line(tmp_path):
    path = tmp_path / "nerd.pth"
    torch.save({"state_dict": build_model("nerd_rain_tiny").state_dict()}, path)
    with pytest.raises(CheckpointError) as err:
        load_model("drsformer", weights=path)
    message = str(err.value)
    assert "\n" not in message and "NeRD-Rain" in message and "DRSformer" in message


def test_a_drsformer_file_given_as_nerd_rain_fails_in_one_line(reference, tmp_path):
    path = official_file(tmp_path / "drs.pth", reference["variants"]["mefc"]["state_dict"])
    with pytest.raises(CheckpointError) as err:
        load_model("nerd_rain_s", weights=path)
    message = str(err.value)
    assert "\n" not in message and "NeRD-Rain" in message and "DRSformer" in message


def test_checkpoint_that_does_not_fit_names_the_official_keys(reference, tmp_path):
    state = dict(reference["variants"]["mefc"]["state_dict"])
    state.pop("latent.1.ffn.dwconv5x5_1.weight")
    path = tmp_path / "broken.pth"
    torch.save({"params": state}, path)
    with pytest.raises(CheckpointError, match=r"1 missing keys: latent\.1\.ffn\.dwconv5x5_1\.weight"):
        load_model(weights=path)
