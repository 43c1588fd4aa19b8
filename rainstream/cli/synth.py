"""``rainstream synth``: render synthetic rain into training pairs or rainy clips (parsing only)."""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

PAIRS_EXAMPLES = """examples:
  rainstream synth pairs ../shared/data/clean -o data/train --count-per-image 8 --seed 1
  rainstream synth pairs photos/ -o data/hazy --size 384 --haze --rain heavy
  rainstream synth pairs ../shared/data/clean --only ../shared/data/clean_val.txt -o heldout --rain storm
"""

VIDEO_EXAMPLES = """examples:
  rainstream synth video street.jpg -o rainy.mp4 --clean-out clean.mp4 --seconds 4 --size 640x360
  rainstream synth video dashcam.mp4 -o dashcam_rainy.mp4 --rain heavy --seed 7
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth", help="render synthetic rain (training pairs, rainy clips)",
        description="Render synthetic rain streaks (O = B + S, several depth layers, optional haze).")
    sub = parser.add_subparsers(dest="synth_command", metavar="WHAT", required=True)

    pairs = sub.add_parser(
        "pairs", help="rainy/clean PNG pairs for training",
        description="Write OUT_DIR/input/*.png (rainy) and OUT_DIR/target/*.png (clean), same names.",
        epilog=PAIRS_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    pairs.add_argument("clean_dir", metavar="CLEAN_DIR", help="folder of clean photos")
    pairs.add_argument("-o", "--output", metavar="OUT_DIR", required=True, help="output folder")
    pairs.add_argument("--count-per-image", type=int, default=1, metavar="N",
                       help="rainy versions per photo (default 1)")
    pairs.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    pairs.add_argument("--size", type=int, default=256,
                       help="square crop size in pixels, 0 = whole photo (default 256)")
    pairs.add_argument("--haze", action="store_true", help="add a haze veil (0.1-0.4) to every pair")
    pairs.add_argument("--rain", default="random", metavar="KIND",
                       help="rain: random (default: a mix of every style and of JPEG/H.264 storage), a style "
                            "name, a weighted mix of styles (storm:2,dark:1), a preset (light, medium, heavy), or a "
                            "YAML file of RainSettings fields")
    pairs.add_argument("--only", metavar="LIST", help="use only the photos named in this file (one per line)")
    pairs.add_argument("--exclude", metavar="LIST", help="leave out the photos named in this file")
    pairs.set_defaults(func=run_pairs)

    video = sub.add_parser(
        "video", help="rainy clip from a photo (with camera motion) or a video",
        description="Add temporally coherent rain to a video, or to a still photo with a slow "
                    "synthetic pan/zoom. Encodes H.264 (yuv420p) with PyAV.",
        epilog=VIDEO_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    video.add_argument("source", metavar="IMAGE_OR_VIDEO")
    video.add_argument("-o", "--output", required=True, help="rainy clip to write (.mp4, .mkv)")
    video.add_argument("--clean-out", metavar="PATH", help="also write the clean frames here")
    video.add_argument("--seconds", type=float, help="length (photo default 4; video default all)")
    video.add_argument("--fps", type=float, help="frame rate (photo default 25; video default its own)")
    video.add_argument("--size", metavar="WxH", help="output size, e.g. 640x360 (photo default 640x360)")
    video.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    video.add_argument("--rain", default="medium", metavar="PRESET",
                       help="rain condition: light, medium (default) or heavy")
    video.add_argument("--angle", type=float, help="fall direction, degrees from vertical")
    video.add_argument("--haze", type=float, default=0.0, metavar="STRENGTH",
                       help="veil strength 0..0.9 (default 0)")
    video.add_argument("--crf", type=int, default=23, help="x264 quality, lower = better (default 23)")
    video.add_argument("--preset", default="medium", help="x264 speed preset (default medium)")
    video.add_argument("--codec", default="libx264", help="video encoder (default libx264)")
    video.set_defaults(func=run_video)


def run_pairs(args) -> int:
    from rainstream.synth.pairs import make_pairs

    make_pairs(Path(args.clean_dir), Path(args.output), count_per_image=args.count_per_image,
               seed=args.seed, size=args.size, haze=args.haze, rain=args.rain,
               only=args.only and Path(args.only), exclude=args.exclude and Path(args.exclude))
    return 0


def run_video(args) -> int:
    from rainstream.synth.clip import ClipSpec, make_clip, parse_size
    from rainstream.synth.settings import preset

    settings = preset(args.rain)
    if args.angle is not None:
        settings = replace(settings, angle=args.angle)
    if args.haze:
        settings = replace(settings, haze=args.haze)
    spec = ClipSpec(size=parse_size(args.size) if args.size else None, seconds=args.seconds,
                    fps=args.fps, seed=args.seed, settings=settings, crf=args.crf,
                    preset=args.preset, codec=args.codec)
    make_clip(Path(args.source), Path(args.output),
              Path(args.clean_out) if args.clean_out else None, spec)
    return 0
