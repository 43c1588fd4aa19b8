"""The NeRD-Rain re-implementation is the published function: outputs, names, sizes, loading."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from conftest import reference_file, run_cli

from rainstream.errors import CheckpointError
from rainstream.model import VARIANTS, build_model, load_model, load_state, variant_config
from rainstream.model.nerd_rain.checkpoint import official_to_ours, ours_to_official, to_our_names

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reference():
    return torch.load(reference_file("equivalence_dim8.pt"), weights_only=True)


@pytest.fixture(scope="module")
def official_keys():
    return json.loads(reference_file("official_state_dict_keys.json").read_text())


@pytest.fixture(scope="module")
def tiny(reference):
    model = build_model("nerd_rain_tiny")
    load_state(model, to_our_names(reference["state_dict"]))
    return model.eval()


def test_all_seven_outputs_match_the_reference(tiny, reference):
    with torch.no_grad():
        outputs = tiny.forward_all(reference["input"])
    assert len(outputs) == len(reference["outputs"]) == 7
    for ours, theirs in zip(outputs, reference["outputs"]):
        assert ours.shape == theirs.shape
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("variant", ["nerd_rain_s", "nerd_rain"])
def test_state_dict_maps_onto_the_official_names_and_shapes(variant, official_keys):
    model = build_model(variant)
    mapped = {ours_to_official(k): list(v.shape) for k, v in model.state_dict().items()}
    assert mapped == official_keys[variant]["state_dict"]
    assert model.config.dim == official_keys[variant]["dim"]
    assert all(official_to_ours(ours_to_official(k)) == k for k in model.state_dict())


@pytest.mark.parametrize("variant, count", [("nerd_rain_s", 10_530_314), ("nerd_rain", 22_893_146)])
def test_parameter_counts_match_the_paper(variant, count):
    assert sum(p.numel() for p in build_model(variant).parameters()) == count


def test_padding_does_not_change_a_multiple_of_16(tiny, reference):
    with torch.no_grad():
        torch.testing.assert_close(tiny(reference["input"]), tiny.forward_all(reference["input"])[0])


def test_official_file_with_wrapper_and_module_prefix_loads(tmp_path, reference):
    path = tmp_path / "official.pth"
    wrapped = {"module." + k: v for k, v in reference["state_dict"].items()}
    torch.save({"epoch": 3, "state_dict": wrapped, "optimizer": {}}, path)
    # the width is read from the file, so the variant name does not have to match
    model = load_model("nerd_rain_s", weights=path)
    assert model.config.dim == 8 and not model.training
    with torch.no_grad():
        torch.testing.assert_close(model.forward_all(reference["input"])[0], reference["outputs"][0],
                                   rtol=0, atol=1e-5)


def test_checkpoint_that_does_not_fit_names_the_keys(tmp_path, reference):
    state = dict(reference["state_dict"])
    state.pop("BF3.gamma1.weight")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as err:
        load_model("nerd_rain_s", weights=path)
    message = str(err.value)
    assert "\n" not in message
    assert "BF3.gamma1.weight" in message and "extra.weight" in message


def test_convert_cli_writes_safetensors_that_load_identically(tmp_path, reference, capsys):
    src, dst = tmp_path / "official.pth", tmp_path / "converted.safetensors"
    torch.save({"state_dict": reference["state_dict"]}, src)
    code, err = run_cli(capsys, "convert", src, "-o", dst)
    assert code == 0, err
    assert dst.stat().st_mode & 0o777 == 0o644  # readable by other users, like any shared weights file
    model = load_model("nerd_rain_tiny", weights=dst)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_all(reference["input"])[0], reference["outputs"][0],
                                   rtol=0, atol=1e-5)


def test_convert_cli_on_garbage_prints_one_error_line(tmp_path, capsys):
    src = tmp_path / "garbage.pth"
    src.write_bytes(b"\x00not a checkpoint" * 10)
    code, err = run_cli(capsys, "convert", src, "-o", tmp_path / "x.safetensors")
    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error:")
    assert not (tmp_path / "x.safetensors").exists()


def _seeded_weights(path, name, seed):
    from rainstream.model.checkpoint import write_safetensors

    torch.manual_seed(seed)
    state = build_model(name).state_dict()
    write_safetensors(state, path)
    return state


def test_convert_cli_averages_files_of_one_network(tmp_path, capsys):
    a = _seeded_weights(tmp_path / "a.safetensors", "nerd_rain_tiny", 1)
    b = _seeded_weights(tmp_path / "b.safetensors", "nerd_rain_tiny", 2)
    mean = tmp_path / "mean.safetensors"
    code, err = run_cli(capsys, "convert", tmp_path / "a.safetensors", tmp_path / "b.safetensors", "-o", mean)
    assert code == 0, err
    got = load_model("nerd_rain_tiny", weights=mean).state_dict()
    assert got.keys() == a.keys()
    for key, value in got.items():
        torch.testing.assert_close(value, (a[key] + b[key]) / 2, rtol=0, atol=1e-7)
    assert not torch.equal(got["scales.0.patch_embed.weight"], a["scales.0.patch_embed.weight"])

    _seeded_weights(tmp_path / "other.safetensors", "drsformer_tiny", 3)
    bad = tmp_path / "bad.safetensors"
    code, err = run_cli(capsys, "convert", tmp_path / "a.safetensors", tmp_path / "other.safetensors", "-o", bad)
    assert code != 0 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "not the same network" in err
    assert not bad.exists()


@pytest.mark.parametrize("name", ["nerd_rain_s", "nerd_rain"])
def test_yaml_configs_describe_the_registered_variants(name):
    data = yaml.safe_load((REPO / "rainstream" / "configs" / f"{name}.yaml").read_text())
    assert data["model"]["name"] == name
    assert variant_config(name).to_dict() == {**VARIANTS[name].to_dict(), **data["model"]["architecture"]}
