"""``rainstream run``: derain a video, an image or a folder of images (parsing only; see pipeline)."""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from rainstream.errors import RainstreamError

EXAMPLES = """examples:
  rainstream run rainy.mp4 -o derained.mp4 --weights models/nerd_rain_s.safetensors
  rainstream run rainy.mov -o derained.mkv --codec libx265 --crf 22 --preset slow
  rainstream run rainy.mp4 -o derained.mp4 --device cuda --precision fp16 --batch 4
  rainstream run rainy.mp4 -o derained.mp4 --resume      # continue an interrupted job
  rainstream run photo.jpg -o photo_derained.png
  rainstream run shots/ -o shots_derained/                # every image in a folder
  rainstream run in.mp4 -o out.mp4 --config configs/run.yaml
  rainstream run rtsp://user:pass@10.0.0.5/stream -o cam.mkv    # live: record, reconnect, bounded latency
  rainstream run --source webcam:0 -o webcam.mkv --duration 60
  rainstream run rtsp://10.0.0.5/stream -o rtmp://127.0.0.1/live/derained   # re-publish

--config YAML sections (command-line flags win):
  model:   {variant: nerd_rain_s, weights: models/x.safetensors}
  engine:  {tile: 256, overlap: 32, max_tiles: 16, precision: fp32, backend: eager, device: auto}
  encode:  {codec: libx264, crf: 18, preset: medium, pix_fmt: yuv420p, segment_frames: 300}
  pipeline: {batch: 1, queue_frames: 8}
"""

# flag name -> (YAML section, key); every flag here defaults to None so the YAML can fill it.
_FLAG_SECTIONS = {
    "variant": ("model", "variant"), "weights": ("model", "weights"),
    "device": ("engine", "device"), "tile": ("engine", "tile"), "overlap": ("engine", "overlap"),
    "max_tiles": ("engine", "max_tiles"), "backend": ("engine", "backend"),
    "precision": ("engine", "precision"),
    "codec": ("encode", "codec"), "crf": ("encode", "crf"), "preset": ("encode", "preset"),
    "pix_fmt": ("encode", "pix_fmt"), "segment_frames": ("encode", "segment_frames"),
    "batch": ("pipeline", "batch"), "queue_frames": ("pipeline", "queue_frames"),
}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="derain a video, image or folder of images",
        description="Derain INPUT into OUTPUT. A video keeps its timing, audio, subtitles, colour "
                    "tags and rotation; an image gives an image; a folder gives a folder.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="INPUT", nargs="?",
                   help="video file, image, folder of images, stream URL (rtsp://, http(s)://) or webcam:N")
    p.add_argument("--source", metavar="SPEC", help="same as INPUT, e.g. --source webcam:0")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="output file (container/format from its extension) or folder")
    p.add_argument("--config", metavar="YAML", help="settings file (see below); flags override it")
    m = p.add_argument_group("model")
    m.add_argument("--weights", metavar="FILE", help="official .pth or project .safetensors")
    m.add_argument("--variant", help="nerd_rain_s (default), nerd_rain, nerd_rain_tiny (tests)")
    e = p.add_argument_group("engine")
    e.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    e.add_argument("--tile", type=int, help="tile size in pixels (default 256)")
    e.add_argument("--overlap", type=int, help="tile overlap in pixels (default 32)")
    e.add_argument("--max-tiles", type=int, dest="max_tiles", help="tiles per model call (memory bound)")
    e.add_argument("--backend", choices=["eager", "compile", "tensorrt"], help="default eager")
    e.add_argument("--precision", choices=["fp32", "fp16", "bf16"], help="default fp32")
    e.add_argument("--batch", type=int, help="frames per engine call (default 1)")
    o = p.add_argument_group("output video")
    o.add_argument("--codec", help="libx264 (default), libx265/hevc, h264_nvenc, hevc_nvenc")
    o.add_argument("--crf", type=int, help="quality, lower is better (default 18)")
    o.add_argument("--preset", help="encoder preset (default medium)")
    o.add_argument("--pix-fmt", dest="pix_fmt",
                   help="default yuv420p for 8-bit input, yuv420p10le for 10-bit")
    o.add_argument("--segment-frames", type=int, dest="segment_frames",
                   help="frames per resumable segment (default 300)")
    j = p.add_argument_group("job")
    j.add_argument("--resume", action="store_true", help="continue an interrupted job for OUTPUT")
    j.add_argument("--live", action="store_true",
                   help="live mode: drop the oldest frames when behind (automatic for stream URLs)")
    j.add_argument("--allow-missing-frames", action="store_true",
                   help="write the output even if some input frames cannot be decoded")
    j.add_argument("--no-progress", action="store_true", help="no progress bar")
    from rainstream.io.live import add_live_arguments

    add_live_arguments(p)
    p.set_defaults(func=handle, queue_frames=None)


def _load_yaml(path: str) -> dict:
    import yaml

    try:
        with open(path) as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise RainstreamError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise RainstreamError(f"config {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise RainstreamError(f"config {path} must be a mapping of sections")
    known = {"model": {"architecture"}}  # YAML-only: the NeRDRainConfig numbers (configs/nerd_rain*.yaml)
    for section, key in _FLAG_SECTIONS.values():
        known.setdefault(section, set()).add(key)
    for section, values in data.items():
        if section not in known or not isinstance(values, dict):
            raise RainstreamError(f"config {path}: unknown section {section!r} (use {', '.join(known)})")
        bad = sorted(set(values) - known[section])
        if bad:
            raise RainstreamError(f"config {path}: unknown {section} setting(s) {', '.join(bad)}")
    return data


def settings_from(args: argparse.Namespace) -> dict:
    """Flag values, falling back to the YAML file, falling back to the API defaults (None)."""
    data = _load_yaml(args.config) if args.config else {}
    merged = {}
    for flag, (section, key) in _FLAG_SECTIONS.items():
        value = getattr(args, flag, None)
        merged[flag] = value if value is not None else data.get(section, {}).get(key)
    # An explicit --variant wins over the YAML's architecture numbers.
    merged["architecture"] = None if args.variant else data.get("model", {}).get("architecture")
    return merged


def handle(args: argparse.Namespace) -> int:
    from rainstream.engine import Derainer, EngineConfig
    from rainstream.io import EncodeOptions, is_live_spec
    from rainstream.model import NeRDRainConfig, load_model
    from rainstream.pipeline import Interrupted, PipelineOptions, check_job, derain_path

    args.input = args.source or args.input
    if not args.input:
        raise RainstreamError("no input: give INPUT or --source")
    s = settings_from(args)
    pick = lambda *names: {n: s[n] for n in names if s[n] is not None}  # noqa: E731
    engine_cfg = EngineConfig(**pick("tile", "overlap", "max_tiles", "precision", "backend", "device"))
    encode = EncodeOptions(**pick("codec", "crf", "preset", "pix_fmt", "segment_frames"))
    options = PipelineOptions(
        **pick("batch", "queue_frames"), resume=args.resume, live=args.live,
        progress=not args.no_progress, allow_missing_frames=args.allow_missing_frames,
        encode=encode, engine_signature=_engine_signature(s, engine_cfg))
    check_job(args.input, args.output, options)  # fail on bad paths before loading the model
    variant = s["variant"]  # None: load_model reads the architecture from --weights (else nerd_rain_s)
    try:
        if s["architecture"]:
            variant = NeRDRainConfig.from_dict(s["architecture"])
        model = load_model(variant, weights=s["weights"], device="cpu")
    except ValueError as exc:  # unknown variant
        raise RainstreamError(str(exc)) from None
    derainer = Derainer(model, engine_cfg)
    if is_live_spec(args.input):
        from rainstream.io.live import live_options_from_args
        from rainstream.io.live_run import derain_live

        live_encode = dataclasses.replace(encode, preset=s["preset"] or "veryfast")
        derain_live(args.input, args.output, derainer, live_options_from_args(args),
                    encode=live_encode, duration=args.duration)
        return 0
    try:
        derain_path(args.input, args.output, derainer, options)
    except Interrupted as exc:
        print(str(exc), file=sys.stderr)
        return exc.exit_code
    return 0


def _engine_signature(s: dict, engine_cfg) -> dict:
    """What decides the derained pixels; a resumed job must use the same."""
    weights = s["weights"]
    ident = None
    if weights and os.path.exists(weights):
        st = os.stat(weights)
        ident = {"path": os.path.abspath(weights), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
    return {"variant": s["variant"] or "nerd_rain_s", "weights": ident, "tile": engine_cfg.tile,
            "overlap": engine_cfg.overlap, "precision": engine_cfg.precision}
