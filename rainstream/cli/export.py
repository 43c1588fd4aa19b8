"""``rainstream export``: write the model for a fixed tile shape as ONNX or an ExportedProgram."""
from __future__ import annotations

import argparse

EXAMPLES = """examples:
  rainstream export --format onnx --weights my_weights.safetensors -o nerd_rain_s_256.onnx
  rainstream export --format exported-program --tile 256 --batch 16 -o nerd_rain_s_b16.pt2
  rainstream export --format onnx --weights NeRD-Rain_SPA.pth -o nerd_rain.onnx
  rainstream export --format onnx --weights DRSformer_SPA.pth -o drsformer_spa_256.onnx   # architecture detected
  rainstream export --format exported-program --model drsformer_tiny -o tiny.pt2          # untrained, for tests

The input is (batch, 3, tile, tile) float32 RGB in [0, 1], named "rainy"; the output "derained" has the
same shape, clamped to [0, 1] like the engine's output. Keep the default tile unless you know why: the
model's output depends on the tile size.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export the model as ONNX or a torch.export program (fixed tile shape)",
        description="Export the deraining model for one fixed input shape.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--format", required=True, choices=["onnx", "exported-program"], help="output format")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write (.onnx / .pt2)")
    p.add_argument("--model", "--variant", dest="model", metavar="NAME",
                   help="model name (rainstream models); default: read from --weights, else nerd_rain_s")
    p.add_argument("--weights", metavar="FILE", help="official .pth or project .safetensors")
    p.add_argument("--tile", type=int, help="tile side in pixels (default: the model's engine tile, 256)")
    p.add_argument("--batch", type=int, default=1, help="tiles per call baked into the graph (default 1)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's)")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from rainstream.engine.export import check_target, export_model
    from rainstream.model import load_model
    from rainstream.model.registry import architecture_of

    check_target(args.output, args.format)  # before the slow model load
    model = load_model(args.model, weights=args.weights, device="cpu")
    tile = args.tile or architecture_of(model).default_tile
    export_model(model, args.output, fmt=args.format, tile=tile, batch=args.batch, opset=args.opset)
    return 0
