"""Export of the real (tiny) models of every architecture: one graph with no breaks, ONNX in onnxruntime and
the saved ExportedProgram both match eager. Capturing takes tens of seconds on CPU, so it is done once each."""
import numpy as np
import pytest
import torch

from rainstream.cli.main import main
from rainstream.engine.export import INPUT_NAME, capture, write_program

TILE = 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def build_tiny(name):
    from rainstream.model import build_model

    torch.manual_seed(0)
    return build_model(name).eval()


@pytest.fixture(scope="module")
def program(tiny):
    # strict=True traces with TorchDynamo and raises on any graph break: success means the model compiles
    # as one graph (what the compile backend's fullgraph=True needs).
    return capture(tiny, tile=TILE, batch=1, strict=True)


@pytest.mark.slow
def test_exported_program_saved_and_reloaded_matches_eager(program, tiny, tmp_path):
    path = write_program(program, tmp_path / "tiny.pt2", fmt="exported-program")
    assert not list(tmp_path.glob(".*partial*"))
    x = torch.rand(1, 3, TILE, TILE)
    with torch.inference_mode():
        expected = tiny(x).clamp(0, 1)
    torch.testing.assert_close(torch.export.load(path).module()(x), expected, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_onnx_in_onnxruntime_matches_eager(program, tiny, tmp_path, capfd):
    ort = pytest.importorskip("onnxruntime")
    capfd.readouterr()
    path = write_program(program, tmp_path / "tiny.onnx", fmt="onnx")
    printed = "".join(capfd.readouterr())
    assert "[torch.onnx]" not in printed and "Warning" not in printed and "torchvision" not in printed
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(1, 3, TILE, TILE)
    got = session.run(None, {INPUT_NAME: x.numpy()})[0]
    with torch.inference_mode():
        free = tiny(x)
    assert free.min() < 0 and free.max() > 1  # the seeded network overshoots; the graph clamps like the engine
    assert np.abs(got - free.clamp(0, 1).numpy()).max() < 1e-4 and got.min() >= 0 and got.max() <= 1


@pytest.mark.slow
def test_drsformer_is_one_graph_and_its_onnx_matches_eager(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = build_tiny("drsformer_tiny")
    program = capture(model, tile=TILE, batch=2, strict=True)  # top-k, scatter and the MEFC loop: no graph break
    path = write_program(program, tmp_path / "drs.onnx", fmt="onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = torch.rand(2, 3, TILE, TILE)
    with torch.inference_mode():
        expected = model(x).clamp(0, 1).numpy()
    got = session.run(None, {INPUT_NAME: x.numpy()})[0]
    assert np.abs(got - expected).max() < 1e-4 and got.min() >= 0 and got.max() <= 1


@pytest.mark.slow
def test_cli_export_reads_the_architecture_from_the_weights(tmp_path):
    from rainstream.model import build_model
    from rainstream.model.checkpoint import write_safetensors

    weights = tmp_path / "drs.safetensors"
    write_safetensors(build_model("drsformer_tiny").state_dict(), weights)
    assert main(["export", "--format", "exported-program", "--weights", str(weights), "--tile", "32",
                 "-o", str(tmp_path / "drs.pt2")]) == 0
    program = torch.export.load(tmp_path / "drs.pt2")
    assert tuple(program.example_inputs[0][0].shape) == (1, 3, 32, 32)
    assert any("topk" in str(node.target) for node in program.graph.nodes)  # DRSformer's sparse attention


def test_cli_export_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert main(["export", "--format", "onnx", "--model", "nerd_rain_tiny",
                 "-o", str(tmp_path / "missing" / "x.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: output folder") and "Traceback" not in "".join(err)
    assert main(["export", "--format", "onnx", "--weights", str(tmp_path / "none.pth"),
                 "-o", str(tmp_path / "x.onnx")]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error:")
    assert not list(tmp_path.iterdir())
