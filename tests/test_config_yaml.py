"""The YAML config's model.architecture section becomes the NeRDRainConfig the CLI builds."""
from __future__ import annotations

import numpy as np
import yaml

from rainstream.cli.main import main
from rainstream.configs import bundled_config


def _image(path, h=24, w=40):
    import cv2

    cv2.imwrite(str(path), (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8))
    return str(path)


def test_architecture_section_builds_that_network(tmp_path, capsys):
    shipped = yaml.safe_load(bundled_config("nerd_rain_s").read_text())
    # same file layout, a test-sized network that is none of the named variants
    shipped["model"]["architecture"].update(dim=8, num_blocks=[1, 1, 2])
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(shipped))
    out = tmp_path / "out.png"
    assert main(["run", _image(tmp_path / "in.png"), "-o", str(out), "--config", str(cfg), "--allow-untrained"]) == 0
    assert out.is_file()
    # the untrained-model warning names the config it built
    assert "dim=8, num_blocks=(1, 1, 2)" in capsys.readouterr().err


def test_unknown_architecture_key_is_one_line(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"model": {"architecture": {"dim": 8, "depth": 3}}}))
    code = main(["run", _image(tmp_path / "in.png"), "-o", str(tmp_path / "o.png"), "--config", str(cfg)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "depth" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o.png").exists()
