"""``rainstream models``: the registered models, their size and where their weights come from."""
from __future__ import annotations

import argparse

EXAMPLES = """examples:
  rainstream models
  rainstream models --details     # also where official weights are published and their licence

A model name goes to --model (run, eval, export, bench) and to model.name in training configs; an
architecture name (nerd_rain, drsformer) means its default variant. With --weights and no --model the
architecture and size are read from the file.
"""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "models", help="list the registered models",
        description="List the models rainstream can build and load.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--details", action="store_true", help="also print weights sources and licences")
    p.set_defaults(func=handle)


def handle(args: argparse.Namespace) -> int:
    from rainstream.model import list_models

    models = list_models()
    rows = [("model", "architecture", "parameters", "pad to", "tile/overlap", "bundled weights")]
    rows += [(m.name + (" *" if m.is_default else ""), m.title, f"{m.parameters:,}", str(m.size_multiple),
              f"{m.default_tile}/{m.default_overlap}", "yes" if m.bundled_weights else "-") for m in models]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print("* the architecture's default variant")
    if args.details:
        for title in dict.fromkeys(m.title for m in models):
            first = next(m for m in models if m.title == title)
            print(f"\n{title}\n  weights: {first.weights}\n  licence: {first.licence}")
    return 0
