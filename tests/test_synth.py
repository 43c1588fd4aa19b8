"""Rain renderer, coherent video rain, and the ``rainstream synth`` CLI, on small real images/files."""
from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from rainstream.errors import RainstreamError
from rainstream.synth import PRESETS, RainSettings, RainVideoRenderer, render_rain
from rainstream.synth.clip import ClipSpec, make_clip

RAINSTREAM = str(Path(sys.executable).with_name("rainstream"))


def textured(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth colourful background (like a photo), float32 RGB in [0.1, 0.6]."""
    rng = np.random.default_rng(seed)
    small = rng.uniform(0.1, 0.6, (max(2, height // 16), max(2, width // 16), 3)).astype(np.float32)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC).clip(0.1, 0.6)


def streak_angle(rain: np.ndarray) -> float:
    """Dominant streak direction (degrees from vertical, + leans right going down) from the
    image-gradient structure tensor: gradients of a line are perpendicular to it."""
    smooth = cv2.GaussianBlur(rain.astype(np.float64), (0, 0), 1.5)  # thin lines bias raw differences
    gx = cv2.Scharr(smooth, cv2.CV_64F, 1, 0)
    gy = cv2.Scharr(smooth, cv2.CV_64F, 0, 1)
    jxx, jyy, jxy = (gx * gx).sum(), (gy * gy).sum(), (gx * gy).sum()
    gradient_dir = 0.5 * math.atan2(2 * jxy, jxx - jyy)  # radians from +x axis
    # the streak runs perpendicular to the gradient; as (dx, dy) = (sin a, cos a)
    dx, dy = -math.sin(gradient_dir), math.cos(gradient_dir)
    if dy < 0:
        dx, dy = -dx, -dy
    return math.degrees(math.atan2(dx, dy))


# ---------------------------------------------------------------- still images


def test_same_seed_is_bit_identical_and_other_seed_differs():
    clean = textured(96, 128)
    settings = RainSettings.random(np.random.default_rng(5), haze=True)
    a = render_rain(clean, np.random.default_rng(42), settings)
    b = render_rain(clean, np.random.default_rng(42), settings)
    c = render_rain(clean, np.random.default_rng(43), settings)
    assert np.array_equal(a, b)
    assert np.abs(a - c).mean() > 1e-3


@pytest.mark.parametrize("settings", [None, *PRESETS.values(),
                                      RainSettings(blend="add", haze=0.4, layers=1)])
def test_shape_dtype_range(settings):
    clean = textured(70, 90)  # odd-ish sizes on purpose
    rainy = render_rain(clean, np.random.default_rng(0), settings)
    assert rainy.shape == clean.shape and rainy.dtype == np.float32
    assert rainy.min() >= 0.0 and rainy.max() <= 1.0


def test_random_settings_span_light_to_heavy_and_are_valid():
    rng = np.random.default_rng(0)
    samples = [RainSettings.random(rng, haze=0.5) for _ in range(200)]
    densities = [s.density for s in samples]
    assert min(densities) < 1.0 and max(densities) > 5.0
    hazy = sum(s.haze > 0 for s in samples)
    assert 60 < hazy < 140
    assert all(s.haze == 0 for s in (RainSettings.random(rng) for _ in range(50)))


def test_rain_adds_bright_streaks_not_noise():
    clean = textured(128, 128)
    rainy = render_rain(clean, np.random.default_rng(1), PRESETS["medium"])
    diff = (rainy - clean).mean(axis=2)
    changed = np.abs(diff) > 1 / 255
    assert 0.02 < changed.mean() < 0.6  # streaks cover part of the frame, not all of it
    assert (diff[changed] > 0).mean() > 0.99  # rain brightens
    # streaks are elongated: the rain layer is far smoother along the fall direction than across
    along = np.abs(np.diff(diff, axis=0)).mean()
    across = np.abs(np.diff(diff, axis=1)).mean()
    assert across > 2 * along


def test_haze_lifts_a_dark_scene_towards_the_atmospheric_light():
    dark = np.full((64, 64, 3), 0.05, np.float32)
    veiled = render_rain(dark, np.random.default_rng(0),
                         RainSettings(density=0.0, haze=0.5, haze_light=0.8))
    assert 0.3 < veiled.mean() < 0.55
    assert veiled[:8].mean() > veiled[-8:].mean()  # denser veil at the top (farther away)


@pytest.mark.parametrize("angle", [-30.0, 0.0, 20.0])
def test_streak_orientation_follows_the_angle(angle):
    black = np.zeros((160, 160, 3), np.float32)
    settings = RainSettings(angle=angle, angle_jitter=0.0, density=1.5, length=40.0)
    rain = render_rain(black, np.random.default_rng(3), settings).mean(axis=2)
    assert abs(streak_angle(rain) - angle) < 4.0


def test_bad_settings_are_one_line_user_errors():
    with pytest.raises(RainstreamError, match="density"):
        RainSettings(density=-1)
    with pytest.raises(RainstreamError, match="blend"):
        RainSettings(blend="multiply")
    with pytest.raises(RainstreamError, match="H x W x 3"):
        render_rain(np.zeros((8, 8), np.float32), np.random.default_rng(0))


# ---------------------------------------------------------------- video


def best_vertical_shift(previous: np.ndarray, current: np.ndarray, max_shift: int) -> tuple[int, float]:
    """Shift dy (rows down) maximising the correlation of previous moved by dy with current."""
    scores = []
    for dy in range(max_shift + 1):
        a, b = previous[: previous.shape[0] - dy], current[dy:]
        scores.append(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    return int(np.argmax(scores)), float(np.max(scores))


def test_video_rain_falls_coherently_between_frames():
    # one layer, no jitter: every drop falls length / exposure = 12 / 0.5 = 24 px per frame
    settings = RainSettings(layers=1, angle=0.0, angle_jitter=0.0, length=12.0, length_jitter=0.0,
                            exposure=0.5, density=2.0)
    renderer = RainVideoRenderer(120, 100, settings, seed=7)
    s0, s1 = renderer.rain_layer(0), renderer.rain_layer(1)
    shift, coherent = best_vertical_shift(s0, s1, 40)
    assert shift == 24
    fresh = RainVideoRenderer(120, 100, settings, seed=8).rain_layer(1)
    a, b = s0[: 120 - 24], fresh[24:]
    independent = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert coherent > 0.8 and abs(independent) < 0.2
    # rain keeps falling: after many frames (drops wrapped around) the screen is still rainy
    assert renderer.rain_layer(500).mean() > 0.3 * s0.mean()


def test_video_frames_depend_only_on_t_and_seed():
    clean = textured(48, 64)
    one = RainVideoRenderer(48, 64, PRESETS["heavy"], seed=3)
    two = RainVideoRenderer(48, 64, PRESETS["heavy"], seed=3)
    forward = [one.render(clean, t) for t in range(3)]
    assert np.array_equal(two.render(clean, 2), forward[2])  # random access, same result
    assert not np.array_equal(forward[0], forward[1])
    with pytest.raises(RainstreamError, match="renderer was made for"):
        one.render(textured(40, 64), 0)


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_clip_from_photo_has_camera_motion_and_rain(tmp_path):
    photo = tmp_path / "street.png"
    cv2.imwrite(str(photo), (textured(120, 200, seed=2) * 255).astype(np.uint8))
    spec = ClipSpec(size=(96, 64), seconds=0.4, fps=10, seed=1)
    result = make_clip(photo, tmp_path / "rainy.mp4", tmp_path / "clean.mp4", spec)
    rainy, clean = decode(tmp_path / "rainy.mp4"), decode(tmp_path / "clean.mp4")
    assert result.frames == len(rainy) == len(clean) == 4
    assert rainy[0].shape == clean[0].shape == (64, 96, 3)
    assert np.mean([r.astype(float).mean() - c.mean() for r, c in zip(rainy, clean)]) > 2.0
    assert np.abs(clean[0].astype(float) - clean[-1]).mean() > 2.0  # the camera moved
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clean.mp4", "rainy.mp4", "street.png"]


def test_clip_from_video_keeps_its_frames(tmp_path):
    photo = tmp_path / "p.png"
    cv2.imwrite(str(photo), (textured(64, 96, seed=4) * 255).astype(np.uint8))
    make_clip(photo, tmp_path / "src.mp4", spec=ClipSpec(size=(64, 48), seconds=0.3, fps=10))
    make_clip(tmp_path / "src.mp4", tmp_path / "out.mkv", tmp_path / "out_clean.mp4",
              ClipSpec(seed=5, settings=PRESETS["heavy"]))
    source, rainy, clean = (decode(tmp_path / n) for n in ("src.mp4", "out.mkv", "out_clean.mp4"))
    assert len(rainy) == len(clean) == len(source) == 3
    assert rainy[0].shape == (48, 64, 3)
    assert np.abs(clean[1].astype(float) - source[1]).mean() < 3.0  # re-encode only
    assert rainy[1].astype(float).mean() > clean[1].mean() + 3.0


# ---------------------------------------------------------------- CLI


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([RAINSTREAM, "synth", *args], capture_output=True, text=True, timeout=60)


def test_pairs_cli_writes_matching_input_and_target(tmp_path):
    photos = tmp_path / "clean"
    photos.mkdir()
    sources = {}
    for i, (h, w) in enumerate([(80, 100), (40, 50)]):  # the second is smaller than the crop
        image = (textured(h, w, seed=10 + i) * 255).astype(np.uint8)
        cv2.imwrite(str(photos / f"photo{i}.png"), image)
        sources[f"photo{i}"] = image
    (photos / "notes.txt").write_text("not an image")
    out = tmp_path / "pairs"
    args = ["--count-per-image", "2", "--size", "64", "--seed", "3", "--rain", "heavy"]
    done = run_cli("pairs", str(photos), "-o", str(out), *args)
    assert done.returncode == 0, done.stderr
    inputs = sorted(p.name for p in (out / "input").iterdir())
    assert inputs == sorted(p.name for p in (out / "target").iterdir())
    assert inputs == ["photo0_000.png", "photo0_001.png", "photo1_000.png", "photo1_001.png"]
    for name in inputs:
        rainy = cv2.imread(str(out / "input" / name))
        clean = cv2.imread(str(out / "target" / name))
        assert rainy.shape == clean.shape == (64, 64, 3)
        assert (rainy.astype(int) - clean).mean() > 0.5
    # a target of the big photo is an exact crop of it
    target = cv2.imread(str(out / "target" / "photo0_000.png"))
    scores = cv2.matchTemplate(sources["photo0"], target, cv2.TM_SQDIFF)
    top, left = np.unravel_index(np.argmin(scores), scores.shape)
    assert np.array_equal(sources["photo0"][top:top + 64, left:left + 64], target)
    assert len((out / "rain_settings.jsonl").read_text().splitlines()) == 4
    again = tmp_path / "again"
    assert run_cli("pairs", str(photos), "-o", str(again), *args).returncode == 0
    for name in inputs:
        assert (again / "input" / name).read_bytes() == (out / "input" / name).read_bytes()


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_bad_input_gives_one_error_line(tmp_path):
    """Through the installed console script: exit status, stderr, no traceback."""
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    assert "not a folder" in one_line_error(run_cli("pairs", str(tmp_path / "missing"), "-o", "x"))
    assert "cannot read video" in one_line_error(run_cli("video", str(a_file), "-o",
                                                         str(tmp_path / "v.mp4")))
    assert not (tmp_path / "v.mp4").exists()


@pytest.mark.parametrize("case", ["no images", "cannot create", "size", "haze"])
def test_more_bad_input_in_process(tmp_path, capsys, case):
    """Same CLI entry point in-process (fast): each user error is one ``error:`` line, exit 2."""
    from rainstream.cli.main import main

    empty, photos = tmp_path / "empty", tmp_path / "photos"
    empty.mkdir()
    photos.mkdir()
    cv2.imwrite(str(photos / "a.png"), np.zeros((8, 8, 3), np.uint8))
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    argv = {
        "no images": ["pairs", str(empty), "-o", str(tmp_path / "o")],
        "cannot create": ["pairs", str(photos), "-o", str(a_file / "sub")],  # a file holds no folder
        "size": ["video", str(photos / "a.png"), "-o", str(tmp_path / "v.mp4"), "--size", "wide"],
        "haze": ["video", str(photos / "a.png"), "-o", str(tmp_path / "v.mp4"), "--haze", "3"],
    }[case]
    assert main(["synth", *argv]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and case in lines[0]
    assert not (tmp_path / "v.mp4").exists()


# ---------------------------------------------------------------- styles, lens drops, storage


@pytest.mark.parametrize("style", ["classic", "layered", "storm", "gusts", "dark", "drops"])
def test_every_style_renders_reproducibly_and_is_named(style):
    from rainstream.synth.styles import sample_rain

    clean = textured(80, 96)
    first = sample_rain(np.random.default_rng(11), style)
    assert first.style == style and first == sample_rain(np.random.default_rng(11), style)
    a = render_rain(clean, np.random.default_rng(12), first)
    b = render_rain(clean, np.random.default_rng(12), first)
    assert np.array_equal(a, b) and a.shape == clean.shape and a.dtype == np.float32
    assert np.abs(a - clean).mean() > 1e-3


def test_random_mix_draws_every_style_and_every_storage():
    from rainstream.synth.styles import STYLE_WEIGHTS, sample_rain

    rng = np.random.default_rng(0)
    drawn = [sample_rain(rng) for _ in range(400)]
    styles = {s.style for s in drawn}
    assert styles == set(STYLE_WEIGHTS)
    storage = [s.compression for s in drawn]
    assert 150 < storage.count("none") < 250 and storage.count("jpeg") > 80 and storage.count("h264") > 40
    assert any(s.haze > 0.3 for s in drawn)  # storms bring a dense veil
    assert any(s.blend == "darken" for s in drawn) and any(s.drops > 0 for s in drawn)


def test_a_weighted_mix_draws_its_styles_by_weight_and_bad_mixes_are_one_line():
    from rainstream.synth.styles import rain_sampler

    sampler = rain_sampler("storm:3,dark:1,classic:0")
    drawn = [sampler(np.random.default_rng([4, i])).style for i in range(400)]
    assert set(drawn) == {"storm", "dark"} and 250 < drawn.count("storm") < 350
    assert sampler(np.random.default_rng(9)) == sampler(np.random.default_rng(9))
    for bad, says in (("storm:2,drizzle:1", "unknown rain"), ("storm:x", "not a number"),
                      ("storm:-1", ">= 0"), ("storm:0,dark:0", "above 0"), ("storm:1,storm:2", "twice")):
        with pytest.raises(RainstreamError, match=says):
            rain_sampler(bad)


def test_dark_streaks_darken_a_bright_sky():
    sky = np.full((96, 96, 3), 0.85, np.float32)
    rainy = render_rain(sky, np.random.default_rng(2), RainSettings(blend="darken", density=4.0, brightness=0.5))
    diff = (rainy - sky).mean(axis=2)
    changed = np.abs(diff) > 1 / 255
    assert changed.mean() > 0.02 and (diff[changed] < 0).mean() > 0.99


def test_gusts_tilt_each_layer_its_own_way():
    from rainstream.synth.streaks import plan_groups

    calm = plan_groups(RainSettings(layers=4, angle_jitter=0.0), 64, 64, np.random.default_rng(1))
    gusty = plan_groups(RainSettings(layers=4, angle_jitter=0.0, layer_angle_spread=30.0), 64, 64,
                        np.random.default_rng(1))
    assert {g.angle for g in calm} == {0.0}
    layer_angles = {round(g.angle, 6) for g in gusty}
    assert len(layer_angles) >= 3 and max(abs(a) for a in layer_angles) > 5.0


def test_lens_drops_refract_and_splashes_brighten():
    from rainstream.synth.lens import LensDrops, splash_layer

    h, w = 120, 160
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    gradient = np.stack([x / w, y / h, 0.5 * np.ones_like(x)], axis=-1).astype(np.float32)
    drops = LensDrops(h, w, RainSettings(drops=40.0, drop_radius=10.0), np.random.default_rng(3))
    assert len(drops) > 0
    before = gradient.copy()
    out = drops.apply(gradient)
    assert out.shape == gradient.shape and np.array_equal(gradient, before)  # input untouched
    changed = np.abs(out - gradient).max(axis=2) > 1 / 255
    assert 0.01 < changed.mean() < 0.9
    # one drop of known size in the middle: it shows the scene upside down and mirrored
    drop = LensDrops(h, w, RainSettings(), np.random.default_rng(0))
    drop.centres, drop.radii = np.array([[80.0, 60.0]]), np.array([20.0])
    drop.aspect, drop.zoom, drop.gain = np.ones(1), np.ones(1), np.ones(1)
    seen = drop.apply(gradient)
    assert seen[60, 70, 0] > gradient[60, 70, 0] and seen[60, 90, 0] < gradient[60, 90, 0]  # red ramp mirrored
    assert seen[50, 80, 1] > gradient[50, 80, 1] and seen[70, 80, 1] < gradient[70, 80, 1]  # green ramp flipped
    assert np.array_equal(seen[:, :55], gradient[:, :55])  # outside the drop nothing moves
    specks = splash_layer(h, w, RainSettings(splashes=2.0), np.random.default_rng(4))
    assert specks.max() > 0.25 and 0.005 < (specks > 0.05).mean() < 0.5


@pytest.mark.parametrize("kind,quality", [("jpeg", 40), ("h264", 32)])
def test_storage_leaves_compression_artefacts_only(kind, quality):
    from rainstream.synth.capture import compress

    clean = textured(67, 91)  # odd sides: the H.264 path pads and crops back
    rainy = render_rain(clean, np.random.default_rng(5), RainSettings(density=3.0))
    stored = compress(rainy, kind, quality)
    assert stored.shape == rainy.shape and stored.dtype == np.float32
    error = np.abs(stored - rainy)
    assert 1e-3 < error.mean() < 0.05  # visibly compressed, still the same picture
    stored_again = render_rain(clean, np.random.default_rng(5), RainSettings(density=3.0, compression=kind,
                                                                              quality=quality))
    assert np.array_equal(stored_again, stored)


def test_settings_file_and_unknown_rain_are_one_line(tmp_path):
    from rainstream.synth.styles import rain_sampler

    good = tmp_path / "squall.yaml"
    good.write_text("density: 6\nblend: add\ncompression: jpeg\nquality: 50\n")
    settings = rain_sampler(str(good))(np.random.default_rng(0))
    assert settings.density == 6 and settings.compression == "jpeg" and settings.style == "squall"
    bad = tmp_path / "bad.yaml"
    bad.write_text("density: 6\nwind: 3\n")
    with pytest.raises(RainstreamError, match="wind"):
        rain_sampler(str(bad))
    with pytest.raises(RainstreamError, match="unknown rain 'drizzle'"):
        rain_sampler("drizzle")


def test_only_and_exclude_lists_pick_photos(tmp_path):
    from rainstream.synth.pairs import select_images

    photos = [tmp_path / f"{n}.jpg" for n in ("a", "b", "c")]
    held = tmp_path / "val.txt"
    held.write_text("# held out\nb.jpg\n\n")
    assert select_images(photos, exclude=held) == [photos[0], photos[2]]
    assert select_images(photos, only=held) == [photos[1]]
    typo = tmp_path / "typo.txt"
    typo.write_text("bb.jpg\n")
    with pytest.raises(RainstreamError, match="bb.jpg"):
        select_images(photos, exclude=typo)  # a misspelt held-out photo must not slip into training
