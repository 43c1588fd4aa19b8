"""Photos come back as they went in, derained: upright (EXIF orientation), alpha, grey, ICC profile.

Inputs are real files written with Pillow (a phone's EXIF orientation, an sRGB ICC profile, RGBA and
greyscale); outputs are read back with Pillow, which honours what viewers honour.
"""
from __future__ import annotations

import io

import numpy as np
import pytest
from conftest import InvertEngine, pattern, run_cli

import rainstream
from rainstream.io.images import read_image

Image = pytest.importorskip("PIL.Image", reason="Pillow (a dev dependency) writes the EXIF/ICC test photos")
from PIL import ImageCms, ImageOps  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def save(path, array, orientation=None, icc=None, **kw) -> str:
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x010F] = "RainPhone"  # Make: must survive
    if orientation:
        exif[0x0112] = orientation
    image.save(path, exif=exif.tobytes(), icc_profile=icc, **kw)
    return str(path)


def marked(h=24, w=40) -> np.ndarray:
    """A picture whose every turn and mirror differs: a red block top left, a green one top right."""
    img = pattern(0, h, w)
    img[:6, :8] = (255, 0, 0)
    img[:4, -6:] = (0, 255, 0)
    return img


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_like_viewers_do(tmp_path, orientation):
    path = save(tmp_path / "p.png", marked(), orientation)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    assert np.array_equal(read_image(path), expected)


def test_phone_jpeg_comes_back_upright_with_its_exif_and_icc(tmp_path):
    icc = srgb_profile()
    src = save(tmp_path / "phone.jpg", marked(), orientation=6, icc=icc, quality=98)
    out = tmp_path / "out.jpg"
    rainstream.derain(src, out, derainer=InvertEngine(), progress=False)
    got = Image.open(out)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(src)).convert("RGB")).astype(int)
    assert got.size == (24, 40)  # turned: 24 wide, 40 high
    assert got.getexif().get(0x0112, 1) == 1  # never turned twice
    assert got.getexif().get(0x010F) == "RainPhone"
    assert got.info.get("icc_profile") == icc
    assert np.abs(np.asarray(got.convert("RGB")).astype(int) - (255 - upright)).mean() < 3


def test_rgba_png_keeps_its_alpha_untouched(tmp_path):
    rgb = pattern(1, 20, 30)
    alpha = np.tile(np.linspace(0, 255, 30).astype(np.uint8), (20, 1))
    src = tmp_path / "logo.png"
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(src)
    out = tmp_path / "out.png"
    rainstream.derain(str(src), out, derainer=InvertEngine(), progress=False)
    got = np.asarray(Image.open(out))
    assert got.shape == (20, 30, 4)
    assert np.array_equal(got[..., 3], alpha)
    assert np.array_equal(got[..., :3], 255 - rgb)


def test_greyscale_in_greyscale_out_without_tints(tmp_path, tiny_weights, capsys):
    grey = pattern(2, 24, 32)[..., 1]
    src = tmp_path / "grey.jpg"
    Image.fromarray(grey, "L").save(src, quality=95)
    out = tmp_path / "out.jpg"
    code, err = run_cli(capsys, "run", src, "-o", out, "--model", "nerd_rain_tiny", "--weights", tiny_weights,
                        "--device", "cpu", "--no-progress")
    assert code == 0, err
    got = Image.open(out)
    assert got.mode == "L"  # one channel: no colour tint can appear


def test_icc_profile_of_a_png_is_kept(tmp_path):
    icc = srgb_profile()
    src = tmp_path / "in.png"
    Image.fromarray(pattern(3, 16, 16)).save(src, icc_profile=icc)
    out = tmp_path / "out.png"
    rainstream.derain(str(src), out, derainer=InvertEngine(), progress=False)
    assert Image.open(out).info.get("icc_profile") == icc


def test_garbage_with_an_image_name_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 4)
    code, err = run_cli(capsys, "run", bad, "-o", tmp_path / "o.png", "--model", "nerd_rain_tiny",
                        "--allow-untrained", "--no-progress")
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in err
