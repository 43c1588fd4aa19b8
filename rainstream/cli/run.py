"""``rainstream run``: parse flags into the run config and call ``rainstream.derain`` (no logic of its own)."""
from __future__ import annotations

import argparse
import re

from rainstream.errors import RainstreamError

EXAMPLES = """examples:
  rainstream run rainy.mp4 -o derained.mp4 --weights NeRD-Rain-S_SPA.pth
  rainstream run rainy.mov -o derained.mkv --codec libx265 --crf 22 --preset slow
  rainstream run rainy.mp4 -o derained.mp4 --device cuda --precision fp16 --batch 4
  rainstream run rainy.mp4 -o derained.mp4 --resume      # continue an interrupted job
  rainstream run rainy.mp4 -o preview.mp4 -t 2           # only the first 2 seconds (or --frames N)
  rainstream run rainy.mp4 -o derained.webm               # VP9; .gif, .avi work too
  rainstream run rainy.mp4 -o frames/derained_%05d.png    # numbered stills
  rainstream run photo.jpg -o photo_derained.png
  rainstream run shots/ -o shots_derained/ --recursive    # every image in a folder and its sub-folders
  rainstream run a.mp4 b.mov clips/ 'cam*/*.mkv' -o derained/ --report summary.json   # many files
  rainstream run list.txt -o derained/ --format mkv       # one input per line of a text file
  rainstream run archive/ -o derained/ --ray --workers 2  # spread over local Ray workers
  rainstream run archive/ -o derained/ --ray 10.0.0.1:6379 --gpus-per-worker 0.5   # a Ray cluster
  rainstream run in.mp4 -o out.mp4 --config my_run.yaml engine.tile=384 encode.crf=20
  rainstream run rtsp://user:pass@10.0.0.5/stream -o cam.mkv    # live: record, reconnect, bounded latency
  rainstream run --source webcam:0 -o webcam.mkv --duration 60
  rainstream run rtsp://10.0.0.5/stream -o rtmp://127.0.0.1/live/derained   # re-publish

--config YAML (a file, or a bundled config: nerd_rain_s, nerd_rain) has these sections; KEY=VALUE
arguments (dotted keys, Python literals) override it, and flags override both:
  model:    {name: nerd_rain_s, weights: my.safetensors}
  engine:   {tile: 256, overlap: 32, max_tiles: null, precision: fp32, backend: eager, device: auto}
  encode:   {codec: null, crf: 18, preset: medium, pix_fmt: null, segment_frames: 300}   # null: by OUTPUT
  pipeline: {batch: 1, queue_frames: 8, frames: null, duration: null, allow_missing_frames: false,
             recursive: false, format: null, report: null}
  live:     {transport: tcp, max_retries: 20, stall_timeout: 5.0, video_size: 1280x720}
  ray:      {address: null, workers: null, gpus_per_worker: null, part_frames: 1800}

Many inputs: a file that fails is reported and the others are written; the exit code is then 3.
"""

_OVERRIDE = re.compile(r"^[A-Za-z_][\w.]*=")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "run", help="derain a video, image, folder of images or live stream",
        description="Derain INPUT into OUTPUT. A video keeps its timing, audio, subtitles, colour "
                    "tags and rotation; an image gives an image; a folder gives a folder; a stream "
                    "gives a recording or a re-published stream.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("args", metavar="INPUT [KEY=VALUE ...]", nargs="*",
                   help="video file, image, folder, stream URL (rtsp://, http(s)://) or webcam:N; several "
                        "inputs, a glob or a .txt file with one input per line make OUTPUT a folder; "
                        "then config overrides such as engine.tile=384")
    p.add_argument("--source", metavar="SPEC", help="same as INPUT, e.g. --source webcam:0")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                   help="output file (container/format from its extension), folder, or rtsp:// / rtmp:// URL")
    p.add_argument("--config", metavar="YAML", help="settings file or bundled config name; flags override it")
    m = p.add_argument_group("model")
    m.add_argument("--model", metavar="NAME", help="nerd_rain_s (default), nerd_rain, nerd_rain_tiny (tests)")
    m.add_argument("--variant", dest="model", help=argparse.SUPPRESS)  # the old name of --model
    m.add_argument("--weights", metavar="FILE", help="official .pth or project .safetensors (default: the "
                                                     "model's bundled weights; a model without any is refused)")
    m.add_argument("--allow-untrained", action="store_true", default=None, dest="allow_untrained",
                   help="derain with random weights when there are none (tests, speed benchmarks)")
    e = p.add_argument_group("engine")
    e.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    e.add_argument("--tile", type=int, help="tile size in pixels (default 256)")
    e.add_argument("--overlap", type=int, help="tile overlap in pixels (default 32)")
    e.add_argument("--max-tiles", type=int, dest="max_tiles", help="tiles per model call (memory bound; default 1 on the CPU, 16 on a GPU)")
    e.add_argument("--backend", choices=["eager", "compile", "tensorrt"], help="default eager")
    e.add_argument("--precision", choices=["fp32", "fp16", "bf16"], help="default fp32")
    e.add_argument("--batch", type=int, help="frames per engine call (default 1)")
    e.add_argument("--threads", type=int, metavar="N", help="CPU threads for torch (default: torch's, fewer when the load average says the cores are busy)")
    o = p.add_argument_group("output video")
    o.add_argument("--codec", help="default by OUTPUT: libx264 (H.264 8-bit) for 8-bit input and libx265 "
                                   "(HEVC Main 10) for 10-bit input in .mp4/.mkv/.mov, libvpx-vp9 for .webm, "
                                   "mpeg4 for .avi, gif for .gif; also ffv1 (lossless, .mkv/.avi), "
                                   "h264_nvenc, hevc_nvenc")
    o.add_argument("--crf", type=int, help="quality, lower is better (default 18)")
    o.add_argument("--preset", help="encoder preset (default medium; veryfast for live streams)")
    o.add_argument("--pix-fmt", dest="pix_fmt", help="default yuv420p (yuv420p10le for 10-bit input and a "
                                                     "10-bit codec; yuv444p at odd sizes for H.264/HEVC)")
    o.add_argument("--segment-frames", type=int, dest="segment_frames",
                   help="frames per resumable segment (default 300)")
    j = p.add_argument_group("job")
    j.add_argument("--resume", action="store_true", default=None, help="continue an interrupted job for OUTPUT")
    j.add_argument("--live", action="store_true", default=None,
                   help="live mode: drop the oldest frames when behind (automatic for stream URLs; "
                        "a file is then played as a camera)")
    j.add_argument("--allow-missing-frames", action="store_true", default=None, dest="allow_missing_frames",
                   help="write the output even if some input frames cannot be decoded")
    j.add_argument("-y", "--overwrite", action="store_true", default=None,
                   help="live recording: replace an existing OUTPUT (never done without it)")
    j.add_argument("--frames", type=int, metavar="N", help="stop after N frames (a preview of a file)")
    j.add_argument("-t", "--duration", type=float, metavar="SECONDS",
                   help="stop after this many seconds: of a file's timeline, or of a live recording")
    j.add_argument("--no-progress", action="store_false", default=None, dest="progress", help="no progress bar")
    j.add_argument("--recursive", action="store_true", default=None,
                   help="walk the sub-folders of a folder input; outputs mirror them")
    b = p.add_argument_group("many files (several inputs, a folder of videos, a glob, a .txt list)")
    b.add_argument("--format", metavar="EXT", help="extension of every output, e.g. mkv (default: the input's)")
    b.add_argument("--report", metavar="JSON", help="write the summary (file, frames, fps, status) as JSON")
    b.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="spread the files over Ray workers: alone, a local Ray on this machine; with "
                        "ADDRESS, an existing cluster (inputs and OUTPUT on a filesystem every node shares)")
    b.add_argument("--workers", type=int, help="Ray workers, each loading the model once "
                                                "(default: one per GPU, else one per CPU)")
    b.add_argument("--gpus-per-worker", type=float, dest="gpus_per_worker",
                   help="GPU share of a worker, fractions allowed (0.5: two per GPU); 0: CPU workers")
    b.add_argument("--part-frames", type=int, dest="part_frames",
                   help="with --ray, videos longer than this are cut at keyframes into parts of about "
                        "this many frames for different workers (default 1800)")
    g = p.add_argument_group("live streams (rtsp://, http(s)://, webcam:N, --live)")
    g.add_argument("--transport", choices=["tcp", "udp"], help="RTSP transport (default tcp)")
    g.add_argument("--max-retries", type=int, dest="max_retries",
                   help="reconnect tries before giving up (default 20, -1 = forever)")
    g.add_argument("--stall-timeout", type=float, dest="stall_timeout",
                   help="seconds without a frame before reconnecting (default 5)")
    g.add_argument("--video-size", dest="video_size", help="webcam capture size, e.g. 1280x720")
    g.add_argument("--credentials", metavar="FILE",
                   help="file whose first line is user:password, for a URL without them (or set "
                        "RAINSTREAM_CREDENTIALS=user:password), so no password sits on the command line")
    p.set_defaults(func=handle, extra_positionals="args")


# flag destinations that are run settings (same names as the config keys)
SETTINGS = ("model", "weights", "allow_untrained", "device", "tile", "overlap", "max_tiles", "backend", "precision",
            "batch", "codec", "crf", "preset", "pix_fmt", "segment_frames", "resume", "live",
            "allow_missing_frames", "overwrite", "frames", "duration", "progress", "transport", "max_retries",
            "stall_timeout", "video_size", "credentials",
            "recursive", "format", "report", "ray", "workers", "gpus_per_worker", "part_frames")


def split_arguments(values: list[str]) -> tuple[list[str], list[str]]:
    """Positional arguments -> (inputs, KEY=VALUE overrides); a URL's ``?a=b`` is not an override."""
    inputs, overrides = [], []
    for value in values:
        (overrides if _OVERRIDE.match(value) else inputs).append(value)
    return inputs, overrides


def handle(args: argparse.Namespace) -> int:
    from rainstream.api import derain
    from rainstream.pipeline import RunConfig

    inputs, overrides = split_arguments(args.args)
    if args.source:
        inputs.insert(0, args.source)
    if not inputs:
        raise RainstreamError("no input: give INPUT or --source")
    config = RunConfig.load(args.config, overrides, **{name: getattr(args, name) for name in SETTINGS})
    from rainstream.threads import set_threads

    set_threads(args.threads)
    # several inputs are one job (a folder out); Interrupted (exit 130) is reported by main
    derain(inputs if len(inputs) > 1 else inputs[0], args.output, config=config)
    return 0
