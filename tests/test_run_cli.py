"""`rainstream run` end to end with the real (tiny, dim 8) model: video, image, folder, config."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_clip, pattern, read_video

from rainstream.cli.main import main
from rainstream.engine import Derainer, EngineConfig
from rainstream.io.images import read_image, write_image
from rainstream.model import build_model, load_model
from rainstream.model.checkpoint import write_safetensors


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    write_safetensors(build_model("nerd_rain_tiny").state_dict(), path)
    return str(path)


def direct(weights: str, images: list) -> list:
    return Derainer(load_model("nerd_rain_tiny", weights), EngineConfig(device="cpu")).derain_images(images)


def psnr(a, b) -> float:
    a = a.astype(np.float64) / np.iinfo(a.dtype).max
    b = b.astype(np.float64) / np.iinfo(b.dtype).max
    y = lambda x: 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]  # noqa: E731
    return float(10 * np.log10(1 / max(np.mean((y(a) - y(b)) ** 2), 1e-12)))


def test_video_with_the_real_tiny_model(tmp_path, tiny_weights, capsys):
    src = make_clip(tmp_path / "in.mp4", width=64, height=48, frames=5, audio=True)
    out = tmp_path / "out.mp4"
    code = main(["run", src, "-o", str(out), "--variant", "nerd_rain_tiny", "--weights", tiny_weights,
                 "--device", "cpu", "--batch", "2", "--no-progress"])
    assert code == 0
    assert "5 frames in" in capsys.readouterr().err  # the summary line
    got, ref = read_video(out), read_video(src)
    assert got["pts"] == ref["pts"] and got["audio"] == ref["audio"]
    expected = direct(tiny_weights, ref["frames"])
    for x, e, y in zip(ref["frames"], expected, got["frames"]):
        assert psnr(e, y) >= 30.0
        assert np.abs(e.astype(int) - x).mean() > 1.0  # the model does change the picture
        assert psnr(e, y) > psnr(x, y) + 3  # output follows the model, not the input


def test_image_and_16bit_image(tmp_path, tiny_weights):
    img8 = pattern(0, 40, 52)
    write_image(str(tmp_path / "a.png"), img8)
    assert main(["run", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
                 "--variant", "nerd_rain_tiny", "--weights", tiny_weights]) == 0
    out = read_image(str(tmp_path / "b.png"))
    assert np.array_equal(out, direct(tiny_weights, [img8])[0])
    img16 = pattern(1, 40, 52, high_bit_depth=True)
    write_image(str(tmp_path / "c.png"), img16)
    assert main(["run", str(tmp_path / "c.png"), "-o", str(tmp_path / "d.png"),
                 "--variant", "nerd_rain_tiny", "--weights", tiny_weights]) == 0
    out16 = read_image(str(tmp_path / "d.png"))
    assert out16.dtype == np.uint16 and np.array_equal(out16, direct(tiny_weights, [img16])[0])


def test_folder_to_folder(tmp_path, tiny_weights):
    (tmp_path / "in").mkdir()
    for i in range(3):
        write_image(str(tmp_path / "in" / f"f{i}.png"), pattern(i, 24, 20))
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    assert main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                 "--variant", "nerd_rain_tiny", "--weights", tiny_weights]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["f0.png", "f1.png", "f2.png"]
    assert np.array_equal(read_image(str(tmp_path / "out" / "f2.png")),
                          direct(tiny_weights, [pattern(2, 24, 20)])[0])


def test_config_file_sets_options_and_flags_win(tmp_path, tiny_weights):
    src = make_clip(tmp_path / "in.mp4", frames=3)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(f"model: {{variant: nerd_rain_tiny, weights: {tiny_weights}}}\n"
                   "encode: {codec: libx265, crf: 30}\nengine: {device: cpu}\n")
    assert main(["run", src, "-o", str(tmp_path / "a.mkv"), "--config", str(cfg)]) == 0
    assert read_video(tmp_path / "a.mkv")["info"].codec == "hevc"
    assert main(["run", src, "-o", str(tmp_path / "b.mkv"), "--config", str(cfg), "--codec", "libx264"]) == 0
    assert read_video(tmp_path / "b.mkv")["info"].codec == "h264"


def test_bad_config_and_bad_flags_are_one_line(tmp_path, capsys):
    src = make_clip(tmp_path / "in.mp4", frames=3)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("encode: {quality: 3}\n")
    assert main(["run", src, "-o", str(tmp_path / "o.mp4"), "--config", str(cfg)]) == 2
    assert capsys.readouterr().err.strip() == f"error: config {cfg}: unknown encode setting(s) quality"
    assert main(["run", src, "-o", str(tmp_path / "o.mp4"), "--codec", "nonsense"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: video encoder 'nonsense' is not available") and "\n" not in err
    assert not (tmp_path / "o.mp4").exists()


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = capsys.readouterr().out
    assert "rainstream run rainy.mp4 -o derained.mp4" in text and "--resume" in text
