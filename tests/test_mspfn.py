"""The MSPFN port is the released TensorFlow graph: outputs and intermediates, names, sizes, conversion."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import reference_file, run_cli
from tf_bundle_writer import tf_variables, write_bundle

from rainstream.errors import CheckpointError
from rainstream.model import architecture_of, load_model
from rainstream.model.loading import model_from_state
from rainstream.model.mspfn import MSPFN, VARIANTS
from rainstream.model.mspfn.blocks import ConvLSTMCell, TransposedConv, same_padding
from rainstream.model.mspfn.checkpoint import config_from_state, detect, official_names, to_official, to_ours
from rainstream.model.mspfn.loss import MSPFNLoss
from rainstream.model.tf_checkpoint import read_tf_state_dict

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# README of the fixture, section 6: max|ours - ref| / max|ref|.
EARLY, LATE, LARGE = 1e-5, 1e-4, 5e-4

# npz key (after the config prefix) -> (our module whose output it is, index into a tuple output).
TAPS = {
    "down_4": ("pyramid", 0), "down_2": ("pyramid", 1),
    "rain4": ("stem.coarse", None), "rain2": ("stem.middle", None), "rain1": ("stem.fine", None),
    "rmm/res4_lstmin": ("memory.branches.coarse.to_cell", None),
    "rmm/y4": ("memory.branches.coarse.cell", 0), "rmm/y2": ("memory.branches.middle.cell", 0),
    "rmm/y1": ("memory.branches.fine.cell", 0),
    "rmm/rain4to2": ("memory.up.coarse_to_middle", None), "rmm/rain4to1": ("memory.up.coarse_to_fine", None),
    "rmm/rain2to1": ("memory.up.middle_to_fine", None),
    "rmm/res4_lstmout": ("memory", 0), "rmm/res2_lstmout": ("memory", 1), "rmm/res_lstmout": ("memory", 2),
    **{f"bcm/iter{n:02d}/{name}": (f"fusion.{n}", i) for n in (0, 1, 16)
       for i, name in enumerate(("res4_in", "res2_in", "res_in"))},
    "recon/rnn_recon4": ("reconstruction.merge.coarse", None),
    "recon/rnn_recon2": ("reconstruction.merge.middle", None),
    "recon/rnn_recon": ("reconstruction.merge.fine", None), "recon/up4_2": ("reconstruction.coarse_to_middle", None),
    "recon/up2_1": ("reconstruction.middle_to_fine", None), "recon/rnn5": ("reconstruction.fuse", None),
    "rain_res": ("reconstruction", None),
}
LATE_TAPS = {"bcm/iter16", "recon/", "rain_res"}


def nchw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(0, 3, 1, 2)


def relative_error(ours: torch.Tensor, ref: np.ndarray) -> float:
    return float((ours - nchw(ref)).abs().max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def reference():
    """Inputs, outputs and intermediates of the official graph at four sizes (README in the folder)."""
    with np.load(reference_file("mspfn/mspfn_reference.npz"), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture(scope="module")
def checkpoint() -> Path:
    """The seeded TensorFlow checkpoint the reference was computed with (its prefix)."""
    # the data file only lives in ../shared (the index also has a small copy in tests/fixtures): take
    # the prefix where the data is, so both halves come from one checkpoint
    data = reference_file("mspfn/mspfn_m17n1_ref.data-00000-of-00001")
    return data.parent / "mspfn_m17n1_ref"


def load_tf_checkpoint(prefix) -> torch.nn.Module:
    """What ``rainstream convert`` builds from a TensorFlow checkpoint, before writing it."""
    return model_from_state(read_tf_state_dict(prefix), str(prefix)).eval()


@pytest.fixture(scope="module")
def released(checkpoint):
    return load_tf_checkpoint(checkpoint)


def run_with_taps(model: MSPFN, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The graph's output and every tapped intermediate (forward hooks, nothing changed in the model)."""
    modules, taps, handles = dict(model.named_modules()), {}, []
    for key, (path, index) in TAPS.items():
        def hook(_module, _inputs, out, key=key, index=index):
            taps[key] = out if index is None else out[index]
        handles.append(modules[path].register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = model.forward_reference(x)
    finally:
        for handle in handles:
            handle.remove()
    return out, taps


@pytest.mark.parametrize("config", ["A", "B", "C"])
def test_outputs_and_intermediates_match_the_tensorflow_graph(released, reference, config):
    out, taps = run_with_taps(released, nchw(reference[f"{config}/input"]))
    compared = [key for key in TAPS if f"{config}/{key}" in reference]
    assert len(compared) >= 10
    # Early tensors first, in graph order, so a wrong port fails where it goes wrong.
    for key in compared:
        tolerance = LATE if any(key.startswith(t) for t in LATE_TAPS) else EARLY
        error = relative_error(taps[key], reference[f"{config}/{key}"])
        assert error <= tolerance, f"{config}/{key}: relative error {error:.2e} > {tolerance:.0e}"
    assert relative_error(out, reference[f"{config}/output"]) <= LATE


@pytest.mark.slow
def test_official_test_size_320x480_matches(released, reference):
    out, taps = run_with_taps(released, nchw(reference["D/input"]))
    assert relative_error(taps["rain_res"], reference["D/rain_res"]) <= LARGE
    assert relative_error(out, reference["D/output"]) <= LARGE


def test_every_fusion_iteration_matches_the_reference_statistics(released, reference):
    stats = reference["A/bcm/stats_mean_std_absmean_absmax"]  # [iteration, scale, (mean, std, mean|x|, max|x|)]
    features = []
    hooks = [it.register_forward_hook(lambda _m, _i, out: features.append(out)) for it in released.fusion]
    try:
        with torch.no_grad():
            released.forward_reference(nchw(reference["A/input"]))
    finally:
        for hook in hooks:
            hook.remove()
    for n, scales in enumerate(features):
        for s, x in enumerate(scales):
            ours = np.array([x.mean(), x.std(unbiased=False), x.abs().mean(), x.abs().max()], dtype=np.float64)
            np.testing.assert_allclose(ours, stats[n, s], rtol=LATE, atol=LATE * stats[n, s, 3],
                                       err_msg=f"iteration {n}, scale {s}")


def test_rgb_forward_is_the_bgr_graph_on_the_unit_range(released, reference):
    bgr = nchw(reference["A/input"])
    rgb = (bgr.flip(1) + 1) / 2
    with torch.no_grad():
        out = released(rgb)
    expected = (nchw(reference["A/output"]).flip(1) + 1) / 2
    assert float((out - expected).abs().max() / expected.abs().max()) <= LATE


def test_state_dict_maps_onto_every_tensorflow_variable_and_shape():
    expected = json.loads(reference_file("mspfn/mspfn_variables.json").read_text())
    model = MSPFN(VARIANTS["mspfn"])
    tf_layout = {to_official(k): tuple(v.permute(2, 3, 1, 0).shape) if v.dim() == 4 else tuple(v.shape)
                 for k, v in model.state_dict().items()}
    assert tf_layout == {v["name"]: tuple(v["shape"]) for v in expected["variables"]}


def test_released_variant_has_the_papers_parameter_count():
    assert sum(p.numel() for p in MSPFN(VARIANTS["mspfn"]).parameters()) == 15_823_424
    assert len(official_names(17)) == 859


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_names_round_trip_and_the_size_is_read_back(variant):
    model = MSPFN(VARIANTS[variant])
    ours = model.state_dict()
    official = {to_official(k): v.permute(2, 3, 1, 0) if v.dim() == 4 else v for k, v in ours.items()}
    assert all(k.startswith("generator/") for k in official)
    back = to_ours(official)
    assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)
    assert to_ours(ours).keys() == ours.keys()  # our names pass through
    assert detect(official) and detect(ours) and not detect({"patch_embed_max.proj.weight": torch.zeros(1)})
    assert config_from_state(ours) == VARIANTS[variant]


@pytest.mark.parametrize("size, stride, expected", [(64, 2, (0, 1)), (17, 2, (1, 1)), (9, 2, (1, 1)),
                                                     (16, 1, (1, 1))])
def test_same_padding_puts_the_odd_pixel_after(size, stride, expected):
    assert same_padding(size, 3, stride) == expected


@pytest.mark.parametrize("size", [16, 17])
def test_stride_2_transposed_conv_keeps_tensorflows_crop(size):
    layer = TransposedConv(1, 1, stride=2, activation=False)
    with torch.no_grad():
        layer.weight.copy_(torch.arange(9.0).view(1, 1, 3, 3))
        x = torch.zeros(1, 1, 1, (size + 1) // 2)
        x[..., 0] = 1  # an impulse at the first input pixel: the kernel lands on output pixels 0..2
        y = layer(x, (1, size))[0, 0, 0]  # one row high: 'SAME' keeps the kernel's middle row, 3 4 5
    start = same_padding(size, 3, 2)[0]  # 0 for an even size (PyTorch's padding=1 would drop 1), 1 for odd
    assert y.shape[-1] == size
    assert y[:3 - start].tolist() == list(range(3 + start, 6))


def test_zero_state_shortcut_equals_the_full_convlstm_step():
    torch.manual_seed(0)
    cell = ConvLSTMCell(4, 6)
    torch.nn.init.normal_(cell.conv.weight)
    torch.nn.init.normal_(cell.conv.bias)
    x = torch.randn(2, 4, 9, 11)
    zeros = torch.zeros(2, 6, 9, 11)
    with torch.no_grad():
        fast, (c_fast, _) = cell(x)
        full, (c_full, _) = cell(x, (zeros, zeros))
        later, _ = cell(x, (c_full, full))
    torch.testing.assert_close(fast, full, rtol=0, atol=1e-6)
    torch.testing.assert_close(c_fast, c_full, rtol=0, atol=1e-6)
    assert not torch.allclose(later, full)  # a non-zero state does reach the output


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return MSPFN(VARIANTS["mspfn_tiny"]).eval()


def test_graph_refuses_sides_not_divisible_by_4(tiny):
    with pytest.raises(ValueError, match="divisible by 4"):
        tiny.forward_reference(torch.zeros(1, 3, 18, 20))


def test_output_is_not_clamped(tiny):
    with torch.no_grad():
        for p in tiny.reconstruction.rain.parameters():
            p.fill_(-1.0)  # a large negative rain layer pushes the output above 1
        y = tiny(torch.full((1, 3, 8, 8), 0.9))
    assert y.max() > 1.0


def test_loss_is_the_reference_training_loss(reference):
    def to_rgb01(array):
        return (nchw(array).flip(1).double() + 1) / 2

    loss = MSPFNLoss()(to_rgb01(reference["A/output"]), to_rgb01(reference["A/loss/x_clean"]))
    assert float(loss["edge"]) == pytest.approx(float(reference["A/loss/edge_loss"]), rel=1e-5)
    assert float(loss["total"]) == pytest.approx(float(reference["A/loss/train_loss"]), rel=1e-5)


def test_loss_is_zero_only_for_a_perfect_output_and_has_gradients(tiny):
    target = torch.rand(1, 3, 16, 16)
    assert float(MSPFNLoss()(target, target)["total"]) == pytest.approx(1e-3 * 1.05, rel=1e-4)  # the eps floor
    out = tiny(torch.rand(1, 3, 16, 16))
    MSPFNLoss()(out, target)["total"].backward()
    assert tiny.stem.fine.weight.grad is not None and tiny.stem.fine.weight.grad.abs().sum() > 0


def test_convert_cli_then_load_by_detection_reproduces_the_graph(checkpoint, tmp_path, reference, capsys):
    dst = tmp_path / "mspfn.safetensors"
    code, err = run_cli(capsys, "convert", checkpoint, "-o", dst)
    assert code == 0, err
    model = load_model(weights=dst)  # no model name: the architecture and size come from the file
    assert architecture_of(model).name == "mspfn" and model.config == VARIANTS["mspfn"]
    out, _ = run_with_taps(model, nchw(reference["A/input"]))
    assert relative_error(out, reference["A/output"]) <= LATE


def test_tf_checkpoint_is_not_read_at_run_time(checkpoint):
    with pytest.raises(CheckpointError, match="is a TensorFlow checkpoint: convert it once") as err:
        load_model("mspfn", weights=checkpoint)
    assert "\n" not in str(err.value)


def test_convert_refuses_the_mspfn_checkpoint_as_another_model(checkpoint, tmp_path, capsys):
    code, err = run_cli(capsys, "convert", checkpoint, "--model", "nerd_rain_s", "-o", tmp_path / "x.safetensors")
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1
    assert "is a MSPFN (CVPR 2020) checkpoint, not NeRD-Rain" in lines[0]


def test_convert_cli_refuses_a_tf_checkpoint_of_another_network(tmp_path, capsys):
    prefix = write_bundle(tmp_path / "other" / "model.ckpt", {
        "model/URAB1/weight": np.zeros((3, 3, 3, 8), np.float32), "model/URAB1/alpha": np.zeros(8, np.float32),
        "model/URAB1/weight/Adam": np.zeros((3, 3, 3, 8), np.float32), "global_step": np.array(5, np.int64)})
    code, err = run_cli(capsys, "convert", prefix, "-o", tmp_path / "x.safetensors")
    assert code != 0 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:")
    assert "not a checkpoint of a known architecture" in lines[0] and "model/URAB1/" in lines[0]
    assert "Adam" not in lines[0] and "global_step" not in lines[0]  # optimiser state is not the network
    assert not (tmp_path / "x.safetensors").exists()


def test_convert_cli_names_what_an_incomplete_mspfn_checkpoint_lacks(tmp_path, capsys):
    model = MSPFN(VARIANTS["mspfn_tiny"])
    variables = tf_variables(model.state_dict(), to_official)
    variables.pop("generator/BCM2_1/group_2_RCAB1/conv2d_2/alpha")
    variables["generator/BCM2_1/up_2/weight/Adam"] = np.zeros(3, np.float32)  # ignored
    code, err = run_cli(capsys, "convert", write_bundle(tmp_path / "ck", variables), "-o", tmp_path / "x.safetensors")
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1
    assert "1 missing keys: generator/BCM2_1/group_2_RCAB1/conv2d_2/alpha" in lines[0]
    assert not (tmp_path / "x.safetensors").exists()


def test_converted_tiny_checkpoint_keeps_the_function(tmp_path, tiny):
    variables = tf_variables(tiny.state_dict(), to_official)
    variables.update({"beta1_power": np.float32(0.9) * np.ones((), np.float32), "global_step": np.array(3)})
    model = load_tf_checkpoint(write_bundle(tmp_path / "ck", variables))
    assert model.config == VARIANTS["mspfn_tiny"]
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        torch.testing.assert_close(model(x), tiny(x), rtol=0, atol=0)


def test_missing_checkpoint_is_one_error(tmp_path):
    with pytest.raises(CheckpointError, match="no TensorFlow checkpoint"):
        read_tf_state_dict(tmp_path / "none")


@pytest.mark.slow
def test_exports_as_one_graph_and_onnx_matches_eager(tiny, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from rainstream.engine.export import INPUT_NAME, capture, write_program

    # strict=True traces with TorchDynamo and fails on any graph break (what torch.compile fullgraph needs)
    program = capture(tiny, tile=32, batch=1, strict=True)
    path = write_program(program, tmp_path / "mspfn_tiny.onnx", fmt="onnx")
    x = torch.rand(1, 3, 32, 32)
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {INPUT_NAME: x.numpy()})[0]
    with torch.no_grad():
        expected = tiny(x).clamp(0, 1).numpy()  # the exported graph clamps like the engine
    assert np.abs(got - expected).max() < 1e-4


def test_tiled_engine_runs_mspfn_on_a_frame_of_any_size(tiny):
    from rainstream.engine import Derainer, EngineConfig

    frame = np.random.default_rng(0).integers(0, 256, (45, 70, 3), dtype=np.uint8)
    out = Derainer(tiny, EngineConfig(tile=32, overlap=8, device="cpu"))(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8


def test_registry_entry_trains_with_the_reference_loss():
    from rainstream.model.registry import ARCHITECTURES, resolve

    arch, variant, cfg = resolve("mspfn_tiny")
    assert arch is ARCHITECTURES["mspfn"] and resolve("mspfn")[2] == VARIANTS["mspfn"]
    torch.manual_seed(0)
    model, loss_fn = arch.build(cfg), arch.make_loss()
    x, target = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    totals = []
    for _ in range(5):
        losses = loss_fn(arch.train_outputs(model, x), target)
        optimiser.zero_grad()
        losses["total"].backward()
        optimiser.step()
        totals.append(losses["total"].item())
    assert set(losses) == {"total", "char", "edge"}
    assert totals[-1] < totals[0]


def test_trains_with_its_recipe_then_eval_reads_the_architecture_from_the_weights(tmp_path):
    from safetensors import safe_open

    from rainstream.cli.main import main
    from test_train import make_paired_folder

    data = make_paired_folder(tmp_path / "pairs", count=4)
    overrides = {"output_dir": str(tmp_path / "run"), "steps": 2, "device": "cpu", "log_every": 1,
                 "checkpoint_every": 2, "data.train": str(data), "data.patch_size": 32, "data.batch_size": 2,
                 "data.num_workers": 0, "model.name": "mspfn_tiny"}
    assert main(["train", "train_mspfn", *[f"{k}={v!r}" for k, v in overrides.items()]]) == 0
    final = tmp_path / "run" / "final.safetensors"
    with safe_open(str(final), "pt") as f:
        assert f.metadata()["architecture"] == "mspfn"
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert {"total", "char", "edge"} <= set(records[0]) and "fft" not in records[0]
    assert main(["eval", "--data", str(data), "--weights", str(final), "--device", "cpu", "--limit", "1"]) == 0
