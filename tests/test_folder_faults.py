"""Folder runs keep going: an unreadable image is reported and skipped, the rest are written, the
exit code says some failed; sub-folders are walked with --recursive, counted in one line without."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import pattern, run_cli

from rainstream.io.images import read_image, write_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def folder(tmp_path):
    src = tmp_path / "in"
    (src / "sub" / "deeper").mkdir(parents=True)
    (src / ".hidden").mkdir()
    for i in range(3):
        write_image(str(src / f"f{i}.png"), pattern(i, 24, 20))
    (src / "broken.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    write_image(str(src / "sub" / "s.png"), pattern(5, 24, 20))
    write_image(str(src / "sub" / "deeper" / "d.png"), pattern(6, 24, 20))
    return src


def run(capsys, src, out, weights, *extra):
    return run_cli(capsys, "run", src, "-o", out, "--model", "nerd_rain_tiny", "--weights", weights,
                   "--device", "cpu", "--no-progress", *extra)


def test_bad_image_is_reported_and_the_rest_written(folder, tmp_path, tiny_weights, capsys):
    out = tmp_path / "out"
    code, err = run(capsys, folder, out, tiny_weights)
    assert code == 3, err
    assert sorted(p.name for p in out.iterdir()) == ["f0.png", "f1.png", "f2.png"]
    assert "error: 1 of 4 images failed, 3 written" in err
    assert f"{folder / 'broken.jpg'}: cannot read" in err
    assert "Traceback" not in err
    # one line says the sub-folder was not entered (the hidden one is not counted)
    assert f"1 sub-folder(s) of {folder} not entered (set --recursive to walk them)" in err
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no temp files left


def test_recursive_mirrors_subfolders(folder, tmp_path, tiny_weights, capsys):
    out = tmp_path / "out"
    code, err = run(capsys, folder, out, tiny_weights, "--recursive")
    assert code == 3, err
    assert "1 of 6 images failed, 5 written" in err
    assert "not entered" not in err
    assert (out / "sub" / "s.png").is_file() and (out / "sub" / "deeper" / "d.png").is_file()
    assert not (out / ".hidden").exists()
    assert not np.array_equal(read_image(str(out / "sub" / "deeper" / "d.png")), pattern(6, 24, 20))


def test_folder_with_images_only_in_subfolders_names_them(tmp_path, tiny_weights, capsys):
    (tmp_path / "in" / "a").mkdir(parents=True)
    write_image(str(tmp_path / "in" / "a" / "x.png"), pattern(0, 24, 20))
    code, err = run(capsys, tmp_path / "in", tmp_path / "out", tiny_weights)
    assert code == 2
    assert err.strip().splitlines()[-1] == (f"error: no images in folder {tmp_path / 'in'} (1 sub-folder(s) of "
                                            f"{tmp_path / 'in'} not entered (set --recursive to walk them))")
